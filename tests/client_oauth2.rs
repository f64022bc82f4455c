//! The Rust `oauth2` crate (5.x, over reqwest) against the real token function served over
//! HTTP on loopback (`scripts/serve-function.sh`: `cargo lambda watch`), with moto behind
//! it: `exchange_client_credentials()` gets a bearer token with the right lifetime and
//! scopes, with the secret in Basic (the crate's default) or in the body; its error type
//! carries `invalid_client` and `invalid_scope`; a secret that needs URL-encoding works.
//! Every token received is checked against the tokens table.
//!
//! The function is served once for this test binary, by a shell that stops it when this
//! process exits (its stdin is a pipe from here), as `common::moto_endpoint` does for moto.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::*;
use oauth_token_service::oauth::{secret, token};
use oauth_token_service::store::ClientRecord;
use oauth_token_service::store::dynamodb::DynamoStore;
use oauth_token_service::store::tables::create_tables;
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenResponse, BasicTokenType};
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, RequestTokenError, Scope,
    TokenResponse, TokenUrl, reqwest,
};
use ring::rand::SystemRandom;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Needs URL-encoding in Basic (RFC 6749 §2.3.1) and in a form: `+`, `:`, `%`, a space,
/// `&`, `=` and a non-ASCII letter.
const ODD_SECRET: &str = "p+q:r%25s t&u=v é";
/// Only what a form encoder writes, `+` and `%41` among it: read unencoded, also "a bAc".
const PLUS_SECRET: &str = "a+b%41c";
const ACCESS_TTL: u64 = 604_800;
const REFRESH_TTL: u64 = 1_209_600;
/// For the function to answer once built: the first request compiles it again under
/// `cargo lambda watch`, so be generous to a fresh, slow machine. The build before it is
/// bounded only by this test's own backstop, twice as long.
const SERVE_TIMEOUT: Duration = Duration::from_secs(600);

struct Served {
    url: String,
    dynamodb: String,
    tokens_table: String,
    /// A client with a generated secret, scopes `quotes` (its default) and `profile`.
    generated: (String, String),
    /// Clients imported with [`ODD_SECRET`] and with [`PLUS_SECRET`], scope `quotes`.
    odd: [(String, String); 2],
}

/// The served function, set up by the first test that asks; a failed set-up fails every
/// test with its message (once, not once per test).
fn served() -> &'static Served {
    static SERVED: OnceLock<Result<Served, String>> = OnceLock::new();
    let result = SERVED.get_or_init(|| {
        // Its own runtime, on its own thread: the tests' runtimes come and go.
        std::thread::spawn(|| {
            let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            let (tables, generated, odd) = rt.block_on(create_clients());
            let url = serve(&tables)?;
            Ok(Served {
                url,
                dynamodb: moto_endpoint(),
                tokens_table: tables.tokens_table().to_owned(),
                generated,
                odd,
            })
        })
        .join()
        .unwrap_or_else(|_| Err("setting up the served function panicked (see above)".into()))
    });
    match result {
        Ok(served) => served,
        Err(e) => panic!("{e}"),
    }
}

/// Fresh tables on moto, with the three clients.
async fn create_clients() -> (DynamoStore, (String, String), [(String, String); 2]) {
    let client = sdk_client(&moto_endpoint(), Duration::from_secs(10)).await;
    let store = DynamoStore::new(client, &unique("clients-oauth2"), &unique("tokens-oauth2"));
    create_tables(&store).await.expect("create tables");
    let rng = SystemRandom::new();

    let generated = (unique("oauth2-generated"), new_secret());
    let hash = secret::hash_generated(&generated.1, &rng).expect("hash");
    let mut record = ClientRecord::new(&generated.0, "oauth2 crate tests", hash, now());
    record.scopes = vec!["quotes".into(), "profile".into()];
    record.default_scopes = vec!["quotes".into()];
    assert!(store.put_client(&record, true).await.expect("put client"));

    // Stored as the admin tool's import-client stores them.
    let odd = [ODD_SECRET, PLUS_SECRET].map(|s| (unique("oauth2-odd"), s.to_owned()));
    for (id, secret_text) in &odd {
        let hash = secret::hash_imported(secret_text, &rng).expect("hash");
        let mut record = ClientRecord::new(id, "oauth2 crate tests, odd secret", hash, now());
        record.scopes = vec!["quotes".into()];
        assert!(store.put_client(&record, true).await.expect("put client"));
    }

    (store, generated, odd)
}

/// Starts `scripts/serve-function.sh` over the tables and waits for its `ready URL` line.
fn serve(tables: &DynamoStore) -> Result<String, String> {
    static KEEP: OnceLock<Mutex<(Child, ChildStdin)>> = OnceLock::new();
    let script = root().join("scripts/serve-function.sh");
    let mut child = Command::new("bash")
        .arg(&script)
        .current_dir(root())
        .env("CLIENTS_TABLE", tables.clients_table())
        .env("TOKENS_TABLE", tables.tokens_table())
        .env("AWS_ENDPOINT_URL_DYNAMODB", moto_endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env("SERVE_TIMEOUT", SERVE_TIMEOUT.as_secs().to_string())
        .env("SERVE_LOG", root().join(".tools/serve-function-oauth2.log"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let stdin = child.stdin.take().expect("piped stdin");

    // Its messages, kept for a failure report.
    let messages = Arc::new(Mutex::new(String::new()));
    let mut stderr = child.stderr.take().expect("piped stderr");
    let sink = Arc::clone(&messages);
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        sink.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_str(&text);
    });
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });

    let ready = rx
        .recv_timeout(SERVE_TIMEOUT * 2)
        .ok()
        .and_then(|line| line.strip_prefix("ready ").map(str::to_owned));
    let Some(url) = ready else {
        drop(stdin); // stops the server, if it still runs
        let status = child
            .wait()
            .map_or_else(|e| e.to_string(), |s| s.to_string());
        std::thread::sleep(Duration::from_millis(200)); // let stderr drain
        let said = messages.lock().unwrap_or_else(|e| e.into_inner()).clone();
        return Err(format!(
            "scripts/serve-function.sh did not serve the function ({status}):\n{said}"
        ));
    };
    let _ = KEEP.set(Mutex::new((child, stdin)));
    Ok(url)
}

/// The client as the crate's documentation builds it; Basic authentication by default.
fn oauth_client(
    id: &str,
    secret_text: &str,
) -> BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet> {
    BasicClient::new(ClientId::new(id.to_owned()))
        .set_client_secret(ClientSecret::new(secret_text.to_owned()))
        .set_token_uri(TokenUrl::new(served().url.clone()).expect("token URL"))
}

fn http() -> reqwest::Client {
    reqwest::ClientBuilder::new()
        // As the oauth2 crate advises, against SSRF.
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("reqwest client")
}

fn epoch_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A token for (`id`, `secret`), with the window of seconds in which it was issued.
async fn exchange(
    id: &str,
    secret_text: &str,
    auth: AuthType,
    scope: Option<&str>,
) -> (BasicTokenResponse, u64, u64) {
    let client = oauth_client(id, secret_text).set_auth_type(auth);
    let mut request = client.exchange_client_credentials();
    if let Some(s) = scope {
        request = request.add_scope(Scope::new(s.to_owned()));
    }
    let before = epoch_seconds();
    let token = request
        .request_async(&http())
        .await
        .unwrap_or_else(|e| panic!("no token for {id}: {e:?}"));
    (token, before, epoch_seconds())
}

async fn token_item(hash: &str) -> HashMap<String, AttributeValue> {
    let s = served();
    sdk_client(&s.dynamodb, Duration::from_secs(10))
        .await
        .get_item()
        .table_name(&s.tokens_table)
        .key("token_hash", AttributeValue::S(hash.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
        .unwrap_or_else(|| panic!("no item under the token's SHA-256 {hash}"))
}

fn string(item: &HashMap<String, AttributeValue>, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .unwrap_or_else(|| panic!("no string {name} in {item:?}"))
        .clone()
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> u64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number {name} in {item:?}"))
}

/// The tokens as stored: under their SHA-256, for this client, with the granted scope,
/// expiring `expires_in` seconds after a moment within the request.
async fn assert_stored(token: &BasicTokenResponse, client_id: &str, window: (u64, u64)) {
    let access = token.access_token().secret();
    let item = token_item(&token::hash(access)).await;
    assert_eq!(string(&item, "kind"), "access");
    assert_eq!(string(&item, "client_id"), client_id);
    let expires_in = token.expires_in().expect("expires_in").as_secs();
    let issued = number(&item, "expires_at") - expires_in;
    assert!(
        window.0.saturating_sub(2) <= issued && issued <= window.1 + 2,
        "issued at {issued} by expires_at, but the request ran in {window:?}"
    );
    assert_eq!(number(&item, "issued_at"), issued);
    let stored_scope: Vec<String> = item
        .get("scope")
        .and_then(|v| v.as_l().ok())
        .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
        .unwrap_or_default();
    assert_eq!(stored_scope, scopes(token));
    assert!(!format!("{item:?}").contains(access.as_str()));

    let refresh = token.refresh_token().expect("a refresh token").secret();
    let r = token_item(&token::hash(refresh)).await;
    assert_eq!(string(&r, "kind"), "refresh");
    assert_eq!(string(&r, "client_id"), client_id);
    assert_eq!(number(&r, "expires_at"), issued + REFRESH_TTL);
    assert_eq!(string(&r, "family"), string(&item, "family"));
}

fn scopes(token: &BasicTokenResponse) -> Vec<String> {
    token
        .scopes()
        .map(|s| s.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn oauth2_gets_a_bearer_token_with_its_lifetime() {
    let (id, secret_text) = &served().generated;
    let (token, before, after) = exchange(id, secret_text, AuthType::BasicAuth, None).await;
    assert_eq!(*token.token_type(), BasicTokenType::Bearer);
    assert_eq!(token.expires_in(), Some(Duration::from_secs(ACCESS_TTL)));
    assert_eq!(token.access_token().secret().len(), 40);
    // No scope asked: the client's default.
    assert_eq!(scopes(&token), ["quotes"]);
    assert_stored(&token, id, (before, after)).await;
}

#[tokio::test]
async fn oauth2_gets_the_scope_it_asks_for() {
    let (id, secret_text) = &served().generated;
    let (token, before, after) =
        exchange(id, secret_text, AuthType::BasicAuth, Some("profile")).await;
    assert_eq!(scopes(&token), ["profile"]);
    assert_stored(&token, id, (before, after)).await;
}

#[tokio::test]
async fn oauth2_with_the_secret_in_the_body() {
    let (id, secret_text) = &served().generated;
    let (token, before, after) = exchange(id, secret_text, AuthType::RequestBody, None).await;
    assert_eq!(*token.token_type(), BasicTokenType::Bearer);
    assert_stored(&token, id, (before, after)).await;
}

#[tokio::test]
async fn oauth2_wrong_secret_is_invalid_client() {
    let (id, secret_text) = &served().generated;
    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        // The last character changed (to one it is not: a fixed replacement would equal it
        // once in 62 runs).
        let last = if secret_text.ends_with('x') { 'y' } else { 'x' };
        let wrong = format!("{}{last}", &secret_text[..secret_text.len() - 1]);
        let result = oauth_client(id, &wrong)
            .set_auth_type(auth.clone())
            .exchange_client_credentials()
            .request_async(&http())
            .await;
        match result {
            Err(RequestTokenError::ServerResponse(e)) => {
                assert_eq!(
                    *e.error(),
                    BasicErrorResponseType::InvalidClient,
                    "{auth:?}"
                );
                assert_eq!(
                    e.error_description().map(String::as_str),
                    Some(INVALID_CLIENT)
                );
            }
            other => panic!("{auth:?}: expected invalid_client, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn oauth2_scope_not_allowed_is_invalid_scope() {
    let (id, secret_text) = &served().generated;
    let result = oauth_client(id, secret_text)
        .exchange_client_credentials()
        .add_scope(Scope::new("admin".into()))
        .request_async(&http())
        .await;
    match result {
        Err(RequestTokenError::ServerResponse(e)) => {
            assert_eq!(*e.error(), BasicErrorResponseType::InvalidScope);
            assert_eq!(
                e.error_description().map(String::as_str),
                Some(invalid_scope("admin").as_str())
            );
        }
        other => panic!("expected invalid_scope, got {other:?}"),
    }
}

#[tokio::test]
async fn oauth2_secret_that_needs_url_encoding() {
    for (id, secret_text) in &served().odd {
        for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
            let (token, before, after) = exchange(id, secret_text, auth.clone(), None).await;
            assert_eq!(scopes(&token), ["quotes"]);
            assert_stored(&token, id, (before, after)).await;
        }
    }
}
