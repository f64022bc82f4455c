//! The sample events in `events/` (the ones `sam local invoke -e` takes), fed to the token
//! function's handler against moto and checked against `events/expectations.json`. The
//! fixed test client they use is created as an operator would, by the real
//! `oauth-admin import-client` reading its secret from stdin.

mod common;

use base64::Engine;
use common::*;
use oauth_token_service::authorizer::authorize;
use oauth_token_service::oauth::token;
use oauth_token_service::store::GetClient;
use oauth_token_service::store::dynamodb::DynamoStore;
use oauth_token_service::store::{PutTokens, TokenKind, TokenRecord};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// `events/expectations.json`: the fixed client, and the answer each event must get.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    client: FixedClient,
    events: BTreeMap<String, Expectation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixedClient {
    client_id: String,
    client_secret: String,
    scopes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectation {
    status: u64,
    /// The `error` key; `null` for a success.
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    /// Successes only.
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    /// Successes other than a token: keys the JSON body must hold, with their values.
    #[serde(default)]
    body: Option<Value>,
    /// `"authorizer"` for an authorizer event (default: the token function).
    #[serde(default)]
    function: Option<String>,
    /// Authorizer events: the decision (`isAuthorized`).
    #[serde(default)]
    authorized: Option<bool>,
}

const MANIFEST: &str = "expectations.json";

fn events_dir() -> PathBuf {
    root().join("events")
}

fn manifest() -> Manifest {
    let path = events_dir().join(MANIFEST);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `events/*.json` but the manifest, by name (file stem), with its parsed event.
fn events() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(events_dir()).expect("read events/") {
        let path = entry.expect("events/ entry").path();
        let is_json = path.extension().is_some_and(|e| e == "json");
        if !is_json || path.file_name().is_some_and(|n| n == MANIFEST) {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a UTF-8 file name")
            .to_owned();
        let text = std::fs::read_to_string(&path).expect("read event");
        let event = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        out.insert(name, event);
    }
    out
}

#[test]
fn every_event_has_an_expectation_and_every_expectation_an_event() {
    let files: BTreeSet<String> = events().into_keys().collect();
    let expected: BTreeSet<String> = manifest().events.into_keys().collect();
    let unexpected: Vec<_> = files.difference(&expected).collect();
    let missing: Vec<_> = expected.difference(&files).collect();
    assert!(
        unexpected.is_empty(),
        "events without an entry in events/{MANIFEST}: {unexpected:?}"
    );
    assert!(
        missing.is_empty(),
        "entries in events/{MANIFEST} without an events/<name>.json: {missing:?}"
    );
}

/// The body as the function reads it: base64-decoded when the event says so.
fn body_bytes(event: &Value) -> Vec<u8> {
    let body = event["body"].as_str().unwrap_or_default();
    if event["isBase64Encoded"] == Value::Bool(true) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("a base64 body")
    } else {
        body.as_bytes().to_vec()
    }
}

/// The (method, path) routes the template gives the functions.
/// The template's routes: (the route's method, path) and the method the samples use.
/// The token function's routes take ANY method, so that it answers 405 itself.
const ROUTES: [(&str, &str, &str); 5] = [
    ("ANY", "/oauth", "POST"),
    ("ANY", "/oauth/revoke", "POST"),
    ("ANY", "/oauth/introspect", "POST"),
    ("ANY", "/.well-known/oauth-authorization-server", "GET"),
    ("GET", "/whoami", "GET"),
];

/// What is wrong with an event's shape, compared with what API Gateway sends for
/// `POST /oauth` (so that the events stay right for `sam local invoke`).
fn shape_problems(event: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut want = |ok: bool, what: &str| {
        if !ok {
            problems.push(what.to_owned());
        }
    };
    let headers = event["headers"].as_object().cloned().unwrap_or_default();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    };
    if event["version"] == "2.0" {
        // HTTP API, payload 2.0: lower-case header names, route and method in the context.
        let method = event["requestContext"]["http"]["method"]
            .as_str()
            .unwrap_or("");
        let path = event["rawPath"].as_str().unwrap_or("");
        let route = ROUTES.iter().find(|(_, p, m)| *p == path && *m == method);
        want(
            route.is_some(),
            "a route of the template (method and rawPath)",
        );
        if let Some((route_method, _, _)) = route {
            want(
                event["routeKey"] == format!("{route_method} {path}"),
                "routeKey is the route's METHOD and rawPath",
            );
        }
        if event["type"] == "REQUEST" {
            want(
                event["routeArn"].is_string(),
                "an authorizer event has a routeArn",
            );
        }
        want(
            event["requestContext"]["stage"] == "$default",
            "requestContext.stage is $default",
        );
        want(
            headers.keys().all(|k| *k == k.to_ascii_lowercase()),
            "header names are lower case",
        );
    } else {
        // REST API, payload 1.0: every header also in multiValueHeaders.
        want(event["httpMethod"] == "POST", "httpMethod is POST");
        want(event["resource"] == "/oauth", "resource is /oauth");
        want(
            event["requestContext"]["resourcePath"] == "/oauth",
            "requestContext.resourcePath is /oauth",
        );
        let multi = event["multiValueHeaders"].as_object();
        want(
            headers.iter().all(|(k, v)| {
                multi.is_some_and(|m| m.get(k) == Some(&Value::Array(vec![v.clone()])))
            }),
            "multiValueHeaders repeats headers",
        );
    }
    want(
        event["requestContext"]["requestId"].is_string(),
        "requestContext.requestId is set",
    );
    want(
        event["isBase64Encoded"].is_boolean(),
        "isBase64Encoded is set",
    );
    let length = body_bytes(event).len().to_string();
    want(
        event["body"].is_null() || header("content-length") == Some(length.as_str()),
        "content-length matches the (decoded) body",
    );
    problems
}

#[test]
fn events_parse_as_the_official_api_gateway_types() {
    // lambda_http's own event types (aws_lambda_events), which `sam local` and API Gateway
    // payloads follow; authorizer events have a type of their own.
    for (name, event) in events() {
        if event["type"] == "REQUEST" {
            let parsed: Result<
                lambda_http::aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request,
                _,
            > = serde_json::from_value(event);
            assert!(parsed.is_ok(), "{name}: {parsed:?}");
        } else {
            let parsed = lambda_http::request::from_str(&event.to_string());
            assert!(parsed.is_ok(), "{name}: {:?}", parsed.err());
        }
    }
}

#[test]
fn events_have_the_shapes_api_gateway_sends() {
    let problems: Vec<String> = events()
        .iter()
        .flat_map(|(name, event)| {
            shape_problems(event)
                .into_iter()
                .map(move |p| format!("{name}: expected {p}"))
        })
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Registers the fixed client with `oauth-admin import-client`, the secret on stdin.
async fn import_fixed_client(store: &DynamoStore, client: &FixedClient) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_oauth-admin"));
    command
        .args(["import-client", "--id", &client.client_id])
        .args(["--name", "events/ test client (sam local invoke samples)"]);
    for scope in &client.scopes {
        command.args(["--scope", scope]);
    }
    // Only what the tool needs: no AWS profile or session of the person running the tests.
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("CLIENTS_TABLE", store.clients_table())
        .env("TOKENS_TABLE", store.tokens_table())
        .env("AWS_ENDPOINT_URL_DYNAMODB", moto_endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start oauth-admin");
    let mut stdin = child.stdin.take().expect("oauth-admin stdin");
    // As `echo "$SECRET" | oauth-admin import-client ...` sends it: one trailing newline.
    stdin
        .write_all(format!("{}\n", client.client_secret).as_bytes())
        .await
        .expect("write the secret");
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("oauth-admin finishes")
        .expect("oauth-admin runs");
    assert!(
        out.status.success(),
        "oauth-admin import-client failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stored = store
        .get_client(&client.client_id)
        .await
        .expect("read the client back")
        .expect("the client exists");
    assert_eq!(stored.scopes, client.scopes);
    assert!(
        stored.secret_hashes[0].starts_with("pbkdf2-sha256$"),
        "an imported secret is stored as a PBKDF2 hash"
    );
}

/// The live access token the `authorizer-live-token` event carries, stored (as its
/// SHA-256, like every token) for the fixed client.
const FIXED_ACCESS_TOKEN: &str = "EventsTestAccessTokenEventsTestAccessTok";

async fn store_fixed_access_token(store: &DynamoStore, client: &FixedClient) {
    let now = now();
    let record = TokenRecord {
        token_hash: token::hash(FIXED_ACCESS_TOKEN),
        kind: TokenKind::Access,
        client_id: client.client_id.clone(),
        scope: client.scopes.clone(),
        issued_at: now,
        expires_at: now + TEST_POLICY.access_ttl,
        family: "events-fixed-family".into(),
        used_at_ms: None,
        answered_at_ms: None,
        answer_by_ms: None,
        family_tokens: Vec::new(),
        parent: None,
        revoked: false,
    };
    store
        .put_tokens(&[record])
        .await
        .expect("store the fixed access token");
}

async fn call(store: &DynamoStore, event: &Value) -> Answer {
    let rng = ring::rand::SystemRandom::new();
    let app = test_app(store, &rng);
    // A guard against hangs, not a performance assertion.
    let answer = tokio::time::timeout(Duration::from_secs(20), app.handle_event(event))
        .await
        .expect("the handler answers");
    Answer::from_event(&answer)
}

fn is_token(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|t| t.len() == 40 && t.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// What differs between an answer and its expectation.
fn mismatches(answer: &Answer, want: &Expectation) -> Vec<String> {
    let mut out = Vec::new();
    let body = &answer.body;
    if answer.status != want.status {
        out.push(format!(
            "status {} (expected {})",
            answer.status, want.status
        ));
    }
    let no_store = answer.header("Cache-Control") == Some("no-store")
        && answer.header("Pragma") == Some("no-cache")
        && answer.header("Content-Type") == Some("application/json");
    if !no_store {
        out.push("missing the no-store headers".into());
    }
    match &want.error {
        Some(key) => {
            if body["error"] != key.as_str() {
                out.push(format!("error {} (expected {key:?})", body["error"]));
            }
            if let Some(text) = &want.error_description
                && body["error_description"] != text.as_str()
            {
                out.push(format!(
                    "error_description {} (expected {text:?})",
                    body["error_description"]
                ));
            }
            if want.status == 401 && answer.header("WWW-Authenticate").is_none() {
                out.push("a 401 without WWW-Authenticate".into());
            }
        }
        None if want.body.is_some() => {
            let wanted = want.body.as_ref().and_then(Value::as_object);
            for (key, value) in wanted.into_iter().flatten() {
                if &body[key] != value {
                    out.push(format!("{key} {} (expected {value})", body[key]));
                }
            }
        }
        None => {
            if !is_token(&body["access_token"]) {
                out.push(format!(
                    "access_token {} is not 40 of [A-Za-z0-9]",
                    body["access_token"]
                ));
            }
            let token_type = want.token_type.as_deref().unwrap_or("bearer");
            if body["token_type"] != token_type {
                out.push(format!(
                    "token_type {} (expected {token_type:?})",
                    body["token_type"]
                ));
            }
            if body["expires_in"] != TEST_POLICY.access_ttl {
                out.push(format!("expires_in {}", body["expires_in"]));
            }
            if !is_token(&body["refresh_token"]) {
                out.push(format!(
                    "refresh_token {} is not 40 of [A-Za-z0-9]",
                    body["refresh_token"]
                ));
            }
            if let Some(scope) = &want.scope
                && body["scope"] != scope.as_str()
            {
                out.push(format!("scope {} (expected {scope:?})", body["scope"]));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_event_gets_its_expected_answer() {
    let manifest = manifest();
    let store = fresh_store().await;
    import_fixed_client(&store, &manifest.client).await;
    store_fixed_access_token(&store, &manifest.client).await;

    let events = events();
    assert!(!events.is_empty(), "no events in events/");
    let mut failures = Vec::new();
    for (name, event) in &events {
        let Some(want) = manifest.events.get(name) else {
            failures.push(format!("{name}: no entry in events/{MANIFEST}"));
            continue;
        };
        if want.function.as_deref() == Some("authorizer") {
            let (response, _) = authorize(&store, event, now()).await;
            if response["isAuthorized"].as_bool() != want.authorized {
                failures.push(format!(
                    "{name}: {response} (expected isAuthorized {:?})",
                    want.authorized
                ));
            }
            continue;
        }
        let answer = call(&store, event).await;
        for m in mismatches(&answer, want) {
            failures.push(format!("{name}: {m}; body {}", answer.body));
        }
    }
    for name in manifest.events.keys() {
        if !events.contains_key(name) {
            failures.push(format!(
                "{name}: expected, but events/{name}.json is missing"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
