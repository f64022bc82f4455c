//! Shared test setup: a moto server on loopback, per-test tables, API Gateway events, the
//! token function's handler as tests run it, and fakes on loopback (`fake_http`): a
//! fault-injecting DynamoDB endpoint (`fake_dynamodb`) and a Lambda Runtime API that runs
//! the real binaries (`runtime_api`).
#![allow(dead_code)]

pub mod fake_dynamodb;
pub mod fake_http;
pub mod runtime_api;

use aws_config::Region;
use aws_sdk_dynamodb::config::Credentials;
use oauth_token_service::http::App;
use oauth_token_service::keys::{JwtKeys, NotSealed, SigningKey};
use oauth_token_service::oauth::jwt::PublicKey;
use oauth_token_service::oauth::{
    IssuePolicy, Issuer, TokenFormat, secret, system_clock_ms, token,
};
use oauth_token_service::store::dynamodb::DynamoStore;
use oauth_token_service::store::tables::create_tables;
use oauth_token_service::store::{ClientRecord, GrantType};
use ring::rand::SystemRandom;
use serde_json::{Value, json};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// An SDK client of moto's, to read and write items as they are stored, behind the
/// service's back (aged or malformed items, stored state to assert on).
pub async fn raw_dynamodb() -> aws_sdk_dynamodb::Client {
    sdk_client(&moto_endpoint(), Duration::from_secs(5)).await
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A moto server for this test binary: the one named by `OAUTH_TEST_DYNAMODB_ENDPOINT`
/// (the test script starts one for the whole run), or one started here from the tools
/// virtualenv (`scripts/tools.sh` installs it). A server started here is a child of a
/// shell that waits on its stdin: when the test process exits, the pipe closes and the
/// shell stops the server by its PID.
pub fn moto_endpoint() -> String {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    static KEEP: OnceLock<Mutex<(Child, ChildStdin)>> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| {
            if let Ok(ep) = std::env::var("OAUTH_TEST_DYNAMODB_ENDPOINT") {
                return ep;
            }
            let python = root().join(".tools/venv/bin/python");
            assert!(
                root().join(".tools/venv/bin/moto_server").exists(),
                "moto is missing from .tools/venv: run scripts/tools.sh (or `make test`)"
            );
            let launcher = root().join("scripts/moto_server.py");
            let port = free_port();
            let script = format!(
                "{} {} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & pid=$!; read -r _; kill $pid; wait $pid",
                python.display(),
                launcher.display()
            );
            let mut child = Command::new("bash")
                .arg("-c")
                .arg(script)
                .stdin(Stdio::piped())
                .spawn()
                .expect("start moto_server");
            let stdin = child.stdin.take().expect("moto stdin");
            wait_for_port(port, Duration::from_secs(30));
            let _ = KEEP.set(Mutex::new((child, stdin)));
            format!("http://127.0.0.1:{port}")
        })
        .clone()
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

pub fn wait_for_port(port: u16, limit: Duration) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < limit, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A DynamoDB client for `endpoint` with dummy credentials and the service's timeouts.
pub async fn sdk_client(endpoint: &str, timeout: Duration) -> aws_sdk_dynamodb::Client {
    let config = oauth_token_service::aws::config_loader(timeout)
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&config)
}

/// A KMS client of moto's (moto serves every service on one port).
pub async fn kms_client() -> aws_sdk_kms::Client {
    let config = oauth_token_service::aws::config_loader(Duration::from_secs(5))
        .endpoint_url(moto_endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await;
    aws_sdk_kms::Client::new(&config)
}

/// Table names unique to one test, so tests share the server but not their data.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Every item of `table` on the moto server (one consistent scan page: test tables are
/// small).
pub async fn scan_items(
    table: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    raw_dynamodb()
        .await
        .scan()
        .table_name(table)
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
}

/// A store over fresh tables on the moto server.
pub async fn fresh_store() -> DynamoStore {
    let client = sdk_client(&moto_endpoint(), Duration::from_secs(5)).await;
    let store = DynamoStore::new(client, &unique("clients"), &unique("tokens"));
    create_tables(&store).await.expect("create tables");
    store
}

pub const TEST_POLICY: IssuePolicy = IssuePolicy {
    access_ttl: 604_800,
    refresh_ttl: 1_209_600,
    issue_refresh_tokens: true,
    reuse_grace_ms: 0,
    default_format: TokenFormat::Opaque,
    jwt_access_ttl: 3600,
    jwt_audience: Vec::new(),
};

/// Signing keys for a test's handler: the test key (`tests/data`), stored unsealed, since
/// no key service runs in these tests. One per handler, so that no cached keyring crosses
/// from one test's tables to another's.
pub fn test_jwt_keys() -> &'static JwtKeys {
    Box::leak(Box::new(JwtKeys::new(Some(Box::new(NotSealed)))))
}

/// The test signing key as a keyring entry, named `kid`, signing from `active_from`.
pub fn test_signing_key(kid: &str, active_from: u64) -> SigningKey {
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(include_str!("../data/test-signing-key.pkcs8.b64").trim())
        .expect("test key base64");
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).expect("test key");
    SigningKey {
        public: PublicKey::of(kid, &pair),
        created_at: active_from,
        active_from,
        kms_key_id: "not-sealed".into(),
        sealed_private: der,
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A client with a generated-style secret (fast hash) and the given scopes.
pub fn client_with_secret(id: &str, secret_text: &str, scopes: &[&str]) -> ClientRecord {
    let rng = SystemRandom::new();
    let mut c = ClientRecord::new(
        id,
        "test client",
        secret::hash_generated(secret_text, &rng).expect("hash"),
        now(),
    );
    c.scopes = scopes.iter().map(|s| s.to_string()).collect();
    c.grants = GrantType::ALL.to_vec();
    c
}

/// A 40-character secret like the admin tool's.
pub fn new_secret() -> String {
    token::generate(&SystemRandom::new()).expect("rng")
}

/// An API Gateway HTTP API (payload 2.0) event as API Gateway sends it.
pub fn v2_event(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    base64: bool,
) -> Value {
    let mut h = serde_json::Map::new();
    h.insert(
        "host".into(),
        json!("abc123.execute-api.us-east-1.amazonaws.com"),
    );
    h.insert("user-agent".into(), json!("tests"));
    for (k, v) in headers {
        h.insert(k.to_ascii_lowercase(), json!(v));
    }
    let body = body.map(|b| {
        if base64 {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(b)
        } else {
            b.to_owned()
        }
    });
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": h,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "tests"},
            "requestId": "test-request",
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "time": "27/Nov/2026:21:00:00 +0000",
            "timeEpoch": 1_795_813_200_000u64
        },
        "body": body,
        "isBase64Encoded": base64
    })
}

/// A JSON POST to /oauth.
pub fn json_post(body: &Value) -> Value {
    v2_event(
        "POST",
        "/oauth",
        &[("content-type", "application/json")],
        Some(&body.to_string()),
        false,
    )
}

/// A form POST to /oauth, base64-encoded as API Gateway sends forms.
pub fn form_post(body: &str, headers: &[(&str, &str)]) -> Value {
    form_post_to("/oauth", body, headers)
}

/// A form POST to `path`, base64-encoded as API Gateway sends forms.
pub fn form_post_to(path: &str, body: &str, headers: &[(&str, &str)]) -> Value {
    let mut h = vec![("content-type", "application/x-www-form-urlencoded")];
    h.extend_from_slice(headers);
    v2_event("POST", path, &h, Some(body), true)
}

/// `Basic base64(urlencode(id):urlencode(secret))`.
pub fn basic(id: &str, secret_text: &str) -> String {
    use base64::Engine;
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            enc(id),
            enc(secret_text)
        ))
    )
}

/// The parts of a proxy response tests look at.
pub struct Answer {
    pub status: u64,
    pub headers: serde_json::Map<String, Value>,
    pub body: Value,
}

impl Answer {
    pub fn from_event(v: &Value) -> Answer {
        Answer {
            status: v["statusCode"].as_u64().expect("statusCode"),
            headers: v["headers"].as_object().cloned().unwrap_or_default(),
            body: serde_json::from_str(v["body"].as_str().expect("body")).expect("JSON body"),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    }

    /// Asserts an error answer: status, key, exact description, and the no-store headers.
    pub fn assert_error(&self, status: u64, key: &str, description: &str) {
        assert_eq!(self.status, status, "status of {}", self.body);
        assert_eq!(self.body["error"], key, "{}", self.body);
        assert_eq!(self.body["error_description"], description);
        assert_eq!(
            self.body.as_object().map(|o| o.len()),
            Some(2),
            "only error and error_description"
        );
        self.assert_no_store();
        if status == 401 {
            assert_eq!(
                self.header("WWW-Authenticate"),
                Some("Basic realm=\"oauth\"")
            );
        }
    }

    pub fn assert_no_store(&self) {
        assert_eq!(self.header("Cache-Control"), Some("no-store"));
        assert_eq!(self.header("Pragma"), Some("no-cache"));
        assert_eq!(self.header("Content-Type"), Some("application/json"));
    }
}

/// The document's invalid_request text naming `param`.
pub fn invalid_request(param: &str) -> String {
    format!(
        "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed. Check the \"{param}\" parameter."
    )
}

pub const INVALID_CLIENT: &str = "Client authentication failed";
pub const INVALID_REFRESH: &str = "The refresh token is invalid.";
pub const UNAUTHORIZED_CLIENT: &str =
    "The client is not authorized to request an access token using this method.";
pub const TEMPORARILY_UNAVAILABLE: &str = "The authorization server is currently unable to handle the request due to a temporary overloading or maintenance of the server.";
pub const SERVER_ERROR: &str = "The authorization server encountered an unexpected condition which prevented it from fulfilling the request.";

pub fn invalid_scope(scope: &str) -> String {
    format!("The requested scope is invalid, unknown, or malformed. Check the \"{scope}\" scope.")
}

pub fn unsupported_grant_type(grant: &str) -> String {
    format!("The authorization grant type \"{grant}\" is not supported by the authorization server")
}

/// Writes to stderr without interleaving mid-line with other tests.
pub fn note(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

/// A REQUEST authorizer event (payload 2.0) for `GET /whoami`.
pub fn authorizer_event(authorization: Option<&str>) -> Value {
    let mut headers = serde_json::Map::new();
    headers.insert(
        "host".into(),
        json!("abc123.execute-api.us-east-1.amazonaws.com"),
    );
    if let Some(a) = authorization {
        headers.insert("authorization".into(), json!(a));
    }
    json!({
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": "arn:aws:execute-api:us-east-1:123456789012:abc123/$default/GET/whoami",
        "identitySource": authorization.map(|a| vec![a]),
        "routeKey": "GET /whoami",
        "rawPath": "/whoami",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123",
            "http": {"method": "GET", "path": "/whoami", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "tests"},
            "requestId": "authz-test", "routeKey": "GET /whoami", "stage": "$default"
        }
    })
}

/// The system clock in epoch milliseconds, made strictly increasing: two reads never give
/// the same millisecond. The service treats a use that began in the very millisecond its
/// token's rotation was answered as a race (it cannot tell which came first); against the
/// in-memory store a whole flow fits in one millisecond, so tests that mean "after" use
/// this clock to make it so.
pub fn test_clock_ms() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let mut last = LAST.load(Ordering::SeqCst);
    loop {
        let next = system_clock_ms().max(last + 1);
        match LAST.compare_exchange(last, next, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// The token function's handler over `store`, as the tests run it: `TEST_POLICY`, the
/// test clock, no configured public URL.
pub fn test_app<'a, S>(store: &'a S, rng: &'a SystemRandom) -> App<'a, S> {
    static POLICY: std::sync::LazyLock<IssuePolicy> = std::sync::LazyLock::new(|| TEST_POLICY);
    test_app_with(store, &POLICY, rng)
}

/// Stores the test signing key as `store`'s first keyring: `k1`, signing since ten
/// seconds ago.
pub async fn put_test_keyring(store: &impl oauth_token_service::store::PutKeyring) {
    let ring = oauth_token_service::keys::Keyring {
        version: 1,
        keys: vec![test_signing_key("k1", now() - 10)],
    };
    assert!(store.put_keyring(None, &ring).await.unwrap());
}

/// [`test_app`] with another issuing policy.
pub fn test_app_with<'a, S>(
    store: &'a S,
    policy: &'a IssuePolicy,
    rng: &'a SystemRandom,
) -> App<'a, S> {
    App {
        issuer: Issuer {
            store,
            policy,
            rng,
            clock: test_clock_ms,
            jwt: Some(test_jwt_keys()),
            clients: None,
        },
        public_url: None,
    }
}
