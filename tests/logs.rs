//! Nothing secret in the logs (PROTOCOL §8.4), at the most verbose level there is.
//!
//! The real `token` and `authorizer` binaries run with `RUST_LOG=trace` (the AWS SDK's and
//! the Lambda runtime's own events included) against moto, fed by a fake of the Lambda
//! Runtime API on loopback (`common::runtime_api`). One test per flow: client_credentials
//! (JSON, form, Basic, a PBKDF2 client), refresh, reuse of a consumed refresh token,
//! revoke, introspect, the authorizer, and each error. Every test's tables hold the same
//! clients; its whole output is searched for every client secret, every stored secret hash,
//! every token it was given and that token's hash, every request body and Authorization
//! value it sent, and the AWS secret key: none may appear. Every line is JSON, no payload
//! target logs at TRACE, and each request leaves exactly one line with its request id,
//! client id, grant, status, outcome and latency, exactly the audit events of its flow
//! (PROTOCOL §11.3) under its request id, and one Embedded Metric Format line with its
//! outcome and no client dimension (§11.2); each authorizer decision one metrics line.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::runtime_api::Function;
use common::*;
use oauth_token_service::logging::PAYLOAD_TARGETS;
use oauth_token_service::oauth::{secret, token};
use oauth_token_service::store::dynamodb::DynamoStore;
use serde_json::{Value, json};

const AWS_SECRET_KEY: &str = "FakeAwsSecretAccessKeyThatMustNotBeLogged0";
const CC: &str = "client_credentials";
/// The secret of the client whose stored `secret_hashes` is malformed.
const BROKEN_SECRET: &str = "broken secret value";
/// The imported (PBKDF2) client's secret.
const IMPORTED: &str = "an imported, weak-ish secret: p@ss w0rd!";

/// Everything that must not appear in a log, collected as a flow goes.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: &str, value: &str) {
        if value.len() >= 8 {
            self.0.push((what.to_owned(), value.to_owned()));
        }
    }

    /// A secret or stored hash, and the salt and digest parts of a hash alone.
    fn add_with_parts(&mut self, what: &str, value: &str) {
        self.add(what, value);
        for part in value.split('$').skip(1).filter(|p| p.len() >= 16) {
            self.add(what, part);
        }
    }

    /// Tokens from an answer, and their SHA-256 keys.
    fn tokens_of(&mut self, answer: &Value) {
        for key in ["access_token", "refresh_token"] {
            if let Some(t) = answer[key].as_str() {
                self.add(key, t);
                self.add("token hash", &token::hash(t));
            }
        }
    }

    /// A request's body and Authorization value as sent.
    fn request(&mut self, event: &Value) {
        if let Some(b) = event["body"].as_str() {
            self.add("request body", b);
        }
        if let Some(a) = event["headers"]["authorization"].as_str() {
            self.add("authorization header", a);
            if let Some(b64) = a.strip_prefix("Basic ") {
                self.add("authorization header", b64);
            }
        }
    }
}

/// The line a request must leave.
struct Expected {
    id: String,
    status: u64,
    outcome: &'static str,
    client: &'static str,
    grant: &'static str,
    /// The audit events (PROTOCOL §11.3) it must log, in order, and no others.
    events: Vec<&'static str>,
}

/// One flow through the real binaries at TRACE: tables holding the test clients, the token
/// function (and the authorizer once asked), what must not be logged and what must be.
struct Flow {
    store: DynamoStore,
    /// `app`'s generated secret; `app` may use every grant, scopes `read` and `write`.
    fast: String,
    /// `resource-server`'s generated secret.
    rs_secret: String,
    secrets: Secrets,
    token: Function,
    authorizer: Option<Function>,
    expected: Vec<Expected>,
    decisions: usize,
}

impl Flow {
    /// Fresh tables with four clients: `app` (a generated secret, fast hash), `legacy` (an
    /// imported secret, PBKDF2), `resource-server`, and `broken`, whose `secret_hashes` is
    /// malformed (a string: the hash itself). Then the token function, started.
    async fn start() -> Flow {
        let store = fresh_store().await;
        let rng = ring::rand::SystemRandom::new();
        let mut secrets = Secrets::default();
        secrets.add("AWS secret key", AWS_SECRET_KEY);

        let fast = new_secret();
        let rs_secret = new_secret();
        let app = client_with_secret("app", &fast, &["read", "write"]);
        let mut legacy = client_with_secret("legacy", "unused", &["read"]);
        legacy.secret_hashes = vec![secret::hash_pbkdf2(IMPORTED, &rng, 1000).unwrap()];
        let mut rs = client_with_secret("resource-server", &rs_secret, &[]);
        rs.resource_server = true;
        for c in [&app, &legacy, &rs] {
            assert!(store.put_client(c, true).await.unwrap());
        }
        let broken_hash = secret::hash_generated(BROKEN_SECRET, &rng).unwrap();
        raw_dynamodb()
            .await
            .put_item()
            .table_name(store.clients_table())
            .item(
                "client_id",
                aws_sdk_dynamodb::types::AttributeValue::S("broken".into()),
            )
            .item(
                "secret_hashes",
                aws_sdk_dynamodb::types::AttributeValue::S(broken_hash.clone()),
            )
            .send()
            .await
            .unwrap();
        for s in [fast.as_str(), IMPORTED, rs_secret.as_str(), BROKEN_SECRET] {
            secrets.add_with_parts("client secret", s);
        }
        for c in [&app, &legacy, &rs] {
            secrets.add_with_parts("secret hash", &c.secret_hashes[0]);
        }
        secrets.add_with_parts("secret hash", &broken_hash);

        let token = Self::function(env!("CARGO_BIN_EXE_token"), &store).await;
        Flow {
            store,
            fast,
            rs_secret,
            secrets,
            token,
            authorizer: None,
            expected: Vec::new(),
            decisions: 0,
        }
    }

    /// `binary` at TRACE, with AWS credentials whose secret key must not be logged, over
    /// `store`'s tables on moto.
    async fn function(binary: &str, store: &DynamoStore) -> Function {
        let moto = moto_endpoint();
        Function::start(
            binary,
            &[
                ("RUST_LOG", "trace"),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "AKIAFAKELOGSTEST"),
                ("AWS_SECRET_ACCESS_KEY", AWS_SECRET_KEY),
                ("AWS_ENDPOINT_URL_DYNAMODB", &moto),
                // KMS (the JWT signing key's seal) at the same moto server.
                ("AWS_ENDPOINT_URL", &moto),
                ("CLIENTS_TABLE", store.clients_table()),
                ("TOKENS_TABLE", store.tokens_table()),
            ],
        )
        .await
    }

    /// Sends `event` to the token function; its answer must have `status`, and its request
    /// line `outcome`, `client` and `grant`. Returns the answer's body.
    async fn call(
        &mut self,
        mut event: Value,
        status: u64,
        outcome: &'static str,
        client: &'static str,
        grant: &'static str,
    ) -> Value {
        let id = format!("req-{}", self.expected.len() + 1);
        event["requestContext"]["requestId"] = json!(id);
        self.secrets.request(&event);
        let answer = self.token.invoke(event).await;
        let body: Value =
            serde_json::from_str(answer["body"].as_str().expect("body")).expect("JSON body");
        assert_eq!(answer["statusCode"], status, "{id}: {body}");
        self.secrets.tokens_of(&body);
        self.expected.push(Expected {
            id,
            status,
            outcome,
            client,
            grant,
            events: Vec::new(),
        });
        body
    }

    /// The audit events the last request must have logged.
    fn logged(&mut self, events: &[&'static str]) {
        self.expected.last_mut().expect("a request").events = events.to_vec();
    }

    /// `app`'s client_credentials in a JSON body.
    fn issue_json(&self) -> Value {
        json_post(&json!({"grant_type": CC, "client_id": "app", "client_secret": self.fast}))
    }

    /// `app`'s Basic credentials.
    fn app_basic(&self) -> String {
        basic("app", &self.fast)
    }

    /// `app`'s client_credentials with Basic credentials.
    fn issue_basic(&self) -> Value {
        form_post(
            &format!("grant_type={CC}"),
            &[("authorization", &self.app_basic())],
        )
    }

    /// `app`'s client_credentials in a JSON body, which must succeed.
    async fn issue(&mut self) -> Value {
        let event = self.issue_json();
        self.call(event, 200, "ok", "app", CC).await
    }

    /// Asks the authorizer (started on first use) about `authorization`.
    async fn authorize(&mut self, authorization: &str, allowed: bool) {
        if self.authorizer.is_none() {
            let f = Self::function(env!("CARGO_BIN_EXE_authorizer"), &self.store).await;
            self.authorizer = Some(f);
        }
        let event = authorizer_event(Some(authorization));
        self.secrets.request(&event);
        let authorizer = self.authorizer.as_ref().expect("started");
        let answer = authorizer.invoke(event).await;
        assert_eq!(
            answer["isAuthorized"], allowed,
            "{authorization:.12}...: {answer}"
        );
        self.decisions += 1;
    }

    /// Stops the functions and checks their whole output.
    async fn finish(self) {
        let (token_out, token_err) = self.token.stop().await;
        let (authz_out, authz_err) = match self.authorizer {
            Some(f) => f.stop().await,
            None => Default::default(),
        };
        let everything = format!("{token_out}\n{token_err}\n{authz_out}\n{authz_err}");
        note(&format!(
            "{}: {} bytes of output at TRACE searched for {} secret values",
            std::thread::current().name().unwrap_or("logs"),
            everything.len(),
            self.secrets.0.len()
        ));
        assert_nothing_secret(&everything, &self.secrets);
        let lines = json_lines(&token_out);
        let authz_lines = json_lines(&authz_out);
        let at_trace = |l: &&Value, prefix: &str| {
            l["level"] == "TRACE" && l["target"].as_str().is_some_and(|t| t.starts_with(prefix))
        };
        assert!(
            lines.iter().any(|l| at_trace(&l, "aws_smithy_runtime")),
            "the SDK's own TRACE events are in the output (TRACE reached the SDK)"
        );
        for l in lines.iter().chain(&authz_lines) {
            assert!(
                !PAYLOAD_TARGETS.iter().any(|t| at_trace(&l, t)),
                "a payload target at TRACE: {l}"
            );
        }

        // One JSON line per request, with the fields Logs Insights queries.
        for e in &self.expected {
            let id = e.id.as_str();
            let mine: Vec<&Value> = lines
                .iter()
                .filter(|l| l["message"] == "request" && l["request_id"] == id)
                .collect();
            assert_eq!(mine.len(), 1, "{id}: {mine:?}");
            let l = mine[0];
            assert_eq!(l["status"], e.status, "{id}: {l}");
            assert_eq!(l["outcome"], e.outcome, "{id}: {l}");
            assert_eq!(l["span"]["client_id"], e.client, "{id}: {l}");
            assert_eq!(l["span"]["grant"], e.grant, "{id}: {l}");
            assert_eq!(l["span"]["request_id"], id, "{id}: {l}");
            assert!(l["latency_ms"].is_number(), "{id}: {l}");
            assert_eq!(l["level"], "INFO");
        }
        // Audit events: each request's own, in order, under its request id, and no other
        // (the output was searched for secrets, tokens and hashes above).
        let events: Vec<&Value> = lines.iter().filter(|l| l.get("event").is_some()).collect();
        for e in &self.expected {
            let mine: Vec<&str> = events
                .iter()
                .filter(|l| l["span"]["request_id"] == e.id.as_str())
                .map(|l| l["event"].as_str().expect("event is a string"))
                .collect();
            assert_eq!(mine, e.events, "{}: audit events", e.id);
            for l in events
                .iter()
                .filter(|l| l["span"]["request_id"] == e.id.as_str())
            {
                assert_eq!(l["client_id"], e.client, "{}: {l}", e.id);
            }
        }
        let all: usize = self.expected.iter().map(|e| e.events.len()).sum();
        assert_eq!(
            events.len(),
            all,
            "no audit event outside a request: {events:?}"
        );

        // One metrics line (CloudWatch Embedded Metric Format) per request, with its
        // outcome, and no client dimension or client id.
        for e in &self.expected {
            let id = e.id.as_str();
            let mine: Vec<&Value> = lines
                .iter()
                .filter(|l| l.get("_aws").is_some() && l["request_id"] == id)
                .collect();
            assert_eq!(mine.len(), 1, "{id}: one metrics line: {mine:?}");
            let m = mine[0];
            assert_embedded_metrics(m);
            assert_eq!(m["Outcome"], e.outcome, "{id}: {m}");
            assert_eq!(m["Requests"], 1);
            let issued = e.status == 200 && !e.grant.is_empty();
            assert_eq!(m.get("TokensIssued").is_some(), issued, "{id}: {m}");
            if issued {
                assert_eq!(m["Grant"], e.grant, "{id}: {m}");
                assert!(m["Format"] == "opaque" || m["Format"] == "jwt", "{id}: {m}");
            }
        }
        let decisions: Vec<&Value> = authz_lines
            .iter()
            .filter(|l| l.get("_aws").is_some())
            .collect();
        assert_eq!(
            decisions.len(),
            self.decisions,
            "one metrics line per decision"
        );
        for m in decisions {
            assert_embedded_metrics(m);
            assert!(m["Decision"] == "allow" || m["Decision"] == "deny", "{m}");
        }
        assert_eq!(
            authz_lines
                .iter()
                .filter(|l| l["message"] == "authorize" && l["outcome"].is_string())
                .count(),
            self.decisions,
            "one line per authorizer decision"
        );
    }
}

/// A line CloudWatch takes for Embedded Metric Format: `_aws` with a timestamp and
/// directives whose every dimension and metric is on the line, no dimension per client,
/// and no client id anywhere.
fn assert_embedded_metrics(m: &Value) {
    assert!(m["_aws"]["Timestamp"].is_u64(), "{m}");
    let directives = m["_aws"]["CloudWatchMetrics"]
        .as_array()
        .expect("directives");
    assert!(!directives.is_empty(), "{m}");
    for d in directives {
        assert_eq!(d["Namespace"], "OAuthTokenService", "{m}");
        for set in d["Dimensions"].as_array().expect("dimension sets") {
            for dim in set.as_array().expect("a dimension set") {
                let name = dim.as_str().expect("a dimension name");
                assert!(m[name].is_string(), "dimension {name} on the line: {m}");
                assert!(!name.to_ascii_lowercase().contains("client"), "{m}");
            }
        }
        for metric in d["Metrics"].as_array().expect("metrics") {
            let name = metric["Name"].as_str().expect("a metric name");
            let value = &m[name];
            assert!(
                value.is_number()
                    || value
                        .as_array()
                        .is_some_and(|v| !v.is_empty() && v.iter().all(Value::is_number)),
                "metric {name} on the line: {m}"
            );
        }
    }
    assert!(
        m.get("client_id").is_none() && m.get("span").is_none(),
        "{m}"
    );
}

/// The JSON lines of an output; every line must be one.
fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {l}"))
        })
        .collect()
}

fn assert_nothing_secret(output: &str, secrets: &Secrets) {
    let mut found = Vec::new();
    for (what, value) in &secrets.0 {
        if output.contains(value.as_str()) {
            found.push(format!("{what}: {value:.60}"));
        }
    }
    assert!(found.is_empty(), "in the logs:\n{}", found.join("\n"));
}

// ---------------------------------------------------------------------------------------
// client_credentials

#[tokio::test]
async fn client_credentials_in_json() {
    let mut t = Flow::start().await;
    t.issue().await;
    t.finish().await;
}

#[tokio::test]
async fn client_credentials_in_a_form_with_a_scope() {
    let mut t = Flow::start().await;
    let event = form_post(
        &format!(
            "grant_type={CC}&client_id=app&client_secret={}&scope=read",
            t.fast
        ),
        &[],
    );
    t.call(event, 200, "ok", "app", CC).await;
    t.finish().await;
}

#[tokio::test]
async fn client_credentials_with_basic() {
    let mut t = Flow::start().await;
    let event = t.issue_basic();
    t.call(event, 200, "ok", "app", CC).await;
    t.finish().await;
}

#[tokio::test]
async fn client_credentials_of_a_pbkdf2_client() {
    let mut t = Flow::start().await;
    let event = form_post(
        &format!("grant_type={CC}"),
        &[("authorization", &basic("legacy", IMPORTED))],
    );
    t.call(event, 200, "ok", "legacy", CC).await;
    t.finish().await;
}

// ---------------------------------------------------------------------------------------
// refresh_token, revocation, introspection

/// A refresh of `refresh_token` with `app`'s Basic credentials.
fn refresh_with_basic(t: &Flow, refresh_token: &str) -> Value {
    form_post(
        &format!("grant_type=refresh_token&refresh_token={refresh_token}"),
        &[("authorization", &t.app_basic())],
    )
}

#[tokio::test]
async fn refresh() {
    let mut t = Flow::start().await;
    let issued = t.issue().await;
    let event = refresh_with_basic(&t, issued["refresh_token"].as_str().unwrap());
    t.call(event, 200, "ok", "app", "refresh_token").await;
    t.finish().await;
}

#[tokio::test]
async fn reuse_of_a_consumed_refresh_token() {
    // The reuse revokes the family; its warning names the request.
    let mut t = Flow::start().await;
    let issued = t.issue().await;
    let old_refresh = issued["refresh_token"].as_str().unwrap().to_owned();
    let event = refresh_with_basic(&t, &old_refresh);
    t.call(event, 200, "ok", "app", "refresh_token").await;
    let event = json_post(&json!({
        "grant_type": "refresh_token", "refresh_token": old_refresh,
        "client_id": "app", "client_secret": t.fast,
    }));
    t.call(event, 400, "invalid_refresh", "app", "refresh_token")
        .await;
    t.logged(&["refresh_reuse", "family_revoked"]);
    t.finish().await;
}

#[tokio::test]
async fn revoke() {
    let mut t = Flow::start().await;
    let issued = t.issue().await;
    let event = form_post_to(
        "/oauth/revoke",
        &format!(
            "token={}&token_type_hint=access_token",
            issued["access_token"].as_str().unwrap()
        ),
        &[("authorization", &t.app_basic())],
    );
    t.call(event, 200, "ok", "app", "").await;
    t.logged(&["token_revoked"]);
    let event = form_post_to(
        "/oauth/revoke",
        &format!("token={}", issued["refresh_token"].as_str().unwrap()),
        &[("authorization", &t.app_basic())],
    );
    t.call(event, 200, "ok", "app", "").await;
    t.logged(&["family_revoked"]);
    t.finish().await;
}

#[tokio::test]
async fn a_client_over_its_quota() {
    let mut t = Flow::start().await;
    let secret = new_secret();
    t.secrets.add_with_parts("client secret", &secret);
    let mut limited = client_with_secret("limited", &secret, &["read"]);
    limited.max_tokens_per_hour = Some(1);
    t.secrets
        .add_with_parts("secret hash", &limited.secret_hashes[0]);
    assert!(t.store.put_client(&limited, true).await.unwrap());
    let issue = || {
        form_post(
            &format!("grant_type={CC}"),
            &[("authorization", &basic("limited", &secret))],
        )
    };
    t.call(issue(), 200, "ok", "limited", CC).await;
    t.call(issue(), 429, "too_many_requests", "limited", CC)
        .await;
    t.logged(&["quota_exceeded"]);
    t.finish().await;
}

#[tokio::test]
async fn introspect() {
    let mut t = Flow::start().await;
    let event = t.issue_basic();
    let issued = t.call(event, 200, "ok", "app", CC).await;
    let event = form_post_to(
        "/oauth/introspect",
        &format!("token={}", issued["access_token"].as_str().unwrap()),
        &[("authorization", &basic("resource-server", &t.rs_secret))],
    );
    let intro = t.call(event, 200, "ok", "resource-server", "").await;
    assert_eq!(intro["active"], true);
    t.finish().await;
}

#[tokio::test]
async fn jwt_access_tokens_and_their_signing_key() {
    // A signing key sealed by (moto's) KMS, a JWT client: issuance, introspection,
    // revocation and the authorizer. Neither the JWT nor any form of the private key that
    // the function unsealed may be logged.
    let mut t = Flow::start().await;
    let kms = kms_client().await;
    oauth_token_service::admin::keys::create_signing_key(&t.store, &kms, None, now())
        .await
        .unwrap();
    use oauth_token_service::store::GetKeyring;
    let ring = t.store.get_keyring().await.unwrap().unwrap();
    // Unsealed as the token function unseals it.
    let der = {
        use oauth_token_service::keys::Unseal;
        oauth_token_service::kms::KmsUnseal::new(kms.clone())
            .unseal(&ring.keys[0])
            .await
            .unwrap()
    };
    let b64 = STANDARD.encode(&der);
    t.secrets.add("private key (base64)", &b64);
    t.secrets
        .add("private key (base64, a middle part)", &b64[600..660]);
    let hex: String = der[300..330].iter().map(|b| format!("{b:02x}")).collect();
    t.secrets.add("private key (hex, a part)", &hex);
    t.secrets.add(
        "sealed private key",
        &STANDARD.encode(&ring.keys[0].sealed_private),
    );
    let mut jwt_app = client_with_secret("jwt-app", &t.fast, &["read"]);
    jwt_app.token_format = Some(oauth_token_service::oauth::TokenFormat::Jwt);
    assert!(t.store.put_client(&jwt_app, true).await.unwrap());

    let event = form_post(
        &format!("grant_type={CC}"),
        &[("authorization", &basic("jwt-app", &t.fast))],
    );
    let issued = t.call(event, 200, "ok", "jwt-app", CC).await;
    let jwt = issued["access_token"].as_str().unwrap().to_owned();
    assert!(oauth_token_service::oauth::jwt::looks_like_jwt(&jwt));
    // The payload alone is no secret, but the whole token and its signature are.
    t.secrets
        .add("JWT signature", jwt.rsplit('.').next().unwrap());
    let event = form_post_to(
        "/oauth/introspect",
        &format!("token={jwt}"),
        &[("authorization", &basic("resource-server", &t.rs_secret))],
    );
    let intro = t.call(event, 200, "ok", "resource-server", "").await;
    assert_eq!(intro["active"], true);
    t.authorize(&format!("Bearer {jwt}"), true).await;
    let event = form_post_to(
        "/oauth/revoke",
        &format!("token={jwt}"),
        &[("authorization", &basic("jwt-app", &t.fast))],
    );
    t.call(event, 200, "ok", "jwt-app", "").await;
    t.logged(&["token_revoked"]);
    t.authorize(&format!("Bearer {jwt}"), false).await;
    t.finish().await;
}

// ---------------------------------------------------------------------------------------
// The authorizer

#[tokio::test]
async fn authorizer_decisions() {
    // A live access token (with and without the Bearer prefix), a refresh token, a client
    // secret, and no token at all.
    let mut t = Flow::start().await;
    let event = t.issue_basic();
    let issued = t.call(event, 200, "ok", "app", CC).await;
    let live = issued["access_token"].as_str().unwrap();
    let refresh = issued["refresh_token"].as_str().unwrap();
    let fast = t.fast.clone();
    for (header, allowed) in [
        (format!("Bearer {live}"), true),
        (live.to_owned(), true),
        (format!("Bearer {refresh}"), false),
        (format!("Bearer {fast}"), false),
        ("Bearer".to_owned(), false),
    ] {
        t.authorize(&header, allowed).await;
    }
    t.finish().await;
}

// ---------------------------------------------------------------------------------------
// Errors

#[tokio::test]
async fn wrong_secret() {
    let mut t = Flow::start().await;
    let event = json_post(
        &json!({"grant_type": CC, "client_id": "app", "client_secret": format!("{}x", t.fast)}),
    );
    t.call(event, 401, "invalid_client", "app", CC).await;
    t.logged(&["client_auth_failed"]);
    t.finish().await;
}

#[tokio::test]
async fn unknown_client() {
    let mut t = Flow::start().await;
    let event =
        json_post(&json!({"grant_type": CC, "client_id": "nobody", "client_secret": t.fast}));
    t.call(event, 401, "invalid_client", "nobody", CC).await;
    t.logged(&["client_auth_failed"]);
    t.finish().await;
}

#[tokio::test]
async fn malformed_basic_carrying_a_secret() {
    let mut t = Flow::start().await;
    let authorization = format!("Basic {}", STANDARD.encode(format!("app{}", t.fast)));
    let event = form_post(
        &format!("grant_type={CC}"),
        &[("authorization", &authorization)],
    );
    t.call(event, 401, "invalid_client", "", CC).await;
    t.logged(&["client_auth_failed"]);
    t.finish().await;
}

#[tokio::test]
async fn a_secret_in_the_body_and_in_basic() {
    let mut t = Flow::start().await;
    let event = form_post(
        &format!("grant_type={CC}&client_secret={}", t.fast),
        &[("authorization", &t.app_basic())],
    );
    t.call(event, 400, "invalid_request", "", CC).await;
    t.finish().await;
}

#[tokio::test]
async fn a_scope_not_allowed() {
    let mut t = Flow::start().await;
    let event = form_post(
        &format!(
            "grant_type={CC}&client_id=app&client_secret={}&scope=admin",
            t.fast
        ),
        &[],
    );
    t.call(event, 400, "invalid_scope", "app", CC).await;
    t.finish().await;
}

#[tokio::test]
async fn an_unsupported_grant() {
    let mut t = Flow::start().await;
    let event = json_post(&json!({"grant_type": format!("password{}", t.fast)}));
    t.call(event, 501, "unsupported_grant_type", "", "").await;
    t.finish().await;
}

#[tokio::test]
async fn a_wrong_method() {
    let mut t = Flow::start().await;
    let event = v2_event(
        "GET",
        "/oauth",
        &[("authorization", &t.app_basic())],
        None,
        false,
    );
    t.call(event, 405, "invalid_request", "", "").await;
    t.finish().await;
}

#[tokio::test]
async fn a_malformed_client_item() {
    let mut t = Flow::start().await;
    let event = json_post(
        &json!({"grant_type": CC, "client_id": "broken", "client_secret": BROKEN_SECRET}),
    );
    t.call(event, 500, "server_error", "broken", CC).await;
    t.finish().await;
}
