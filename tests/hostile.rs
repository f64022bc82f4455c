//! The hostile-input corpus (`tests/corpus/*.json`, its format in `tests/corpus/README.md`)
//! through the token function against DynamoDB (moto on loopback, a real SDK client): every
//! malformed or hostile request gets exactly the answer docs/PROTOCOL.md gives it, none is
//! a 5xx, and nothing reaches the tokens table.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use oauth_token_service::store::ClientAdmin;
use oauth_token_service::store::GrantType;
use oauth_token_service::store::memory::MemoryStore;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// The secret of every client the corpus names (written out in the corpus files).
const SECRET: &str = "HostileCorpusSecret0123456789abcdefghijk";

/// One case of the corpus, with the file it came from.
struct Case {
    file: String,
    value: Value,
}

impl Case {
    fn name(&self) -> String {
        format!(
            "{}:{}",
            self.file,
            self.value["name"].as_str().unwrap_or("?")
        )
    }
}

fn load_corpus() -> Vec<Case> {
    let dir = root().join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read a corpus file");
        let list: Vec<Value> = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not a JSON array: {e}", path.display()));
        let file = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        cases.extend(list.into_iter().map(|value| Case {
            file: file.clone(),
            value,
        }));
    }
    cases
}

/// The bytes a corpus value stands for: a string (its UTF-8), or a list of pieces, each a
/// string, `{"hex": "ff00"}` (raw bytes), `{"repeat": pieces, "times": n}`, or
/// `{"b64": pieces}` (the standard base64 of the pieces' bytes).
fn bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Array(pieces) => pieces.iter().flat_map(bytes).collect(),
        Value::Object(o) => {
            if let Some(hex) = o.get("hex").and_then(Value::as_str) {
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex piece"))
                    .collect()
            } else if let Some(piece) = o.get("repeat") {
                let times = o["times"].as_u64().expect("repeat needs times") as usize;
                bytes(piece).repeat(times)
            } else if let Some(piece) = o.get("b64") {
                STANDARD.encode(bytes(piece)).into_bytes()
            } else {
                panic!("unknown piece {v}")
            }
        }
        other => panic!("not a corpus value: {other}"),
    }
}

/// A corpus value that must be text (header values, echoed parameters).
fn text(v: &Value) -> String {
    String::from_utf8(bytes(v)).expect("this corpus value must be UTF-8")
}

/// The Lambda event for a case: API Gateway HTTP API payload 2.0 by default (repeated
/// header names joined with commas, as API Gateway does), or REST API payload 1.0
/// (`"event": "v1"`, with `multiValueHeaders`). `patch` then replaces top-level keys.
fn event(case: &Value) -> Value {
    let method = case["method"].as_str().unwrap_or("POST");
    let path = case["path"].as_str().unwrap_or("/oauth");
    let base64 = case["base64"].as_bool().unwrap_or(false);
    let body = match (&case.get("raw_body"), &case["body"]) {
        (Some(raw), _) => Value::String(text(raw)),
        (None, Value::Null) => Value::Null,
        (None, b) if base64 => Value::String(STANDARD.encode(bytes(b))),
        (None, b) => Value::String(text(b)),
    };
    let headers: Vec<(String, String)> = case["headers"]
        .as_array()
        .map(|h| {
            h.iter()
                .map(|pair| {
                    let name = pair[0].as_str().expect("header name").to_owned();
                    (name, text(&pair[1]))
                })
                .collect()
        })
        .unwrap_or_default();
    let v1 = case["event"].as_str() == Some("v1");
    let mut single = Map::new();
    let host = "abc123.execute-api.us-east-1.amazonaws.com";
    single.insert("host".into(), json!(host));
    let mut multi = Map::new();
    for (name, value) in &headers {
        match single.get_mut(name) {
            // Payload 2.0 joins repeats; payload 1.0 keeps the last in `headers`.
            Some(Value::String(existing)) if !v1 => *existing = format!("{existing},{value}"),
            _ => {
                single.insert(name.clone(), json!(value));
            }
        }
        match multi.get_mut(name).and_then(Value::as_array_mut) {
            Some(list) => list.push(json!(value)),
            None => {
                multi.insert(name.clone(), json!([value]));
            }
        }
    }
    let mut e = if v1 {
        json!({
            "resource": path, "path": path, "httpMethod": method,
            "headers": single, "multiValueHeaders": multi,
            "queryStringParameters": null, "pathParameters": null, "stageVariables": null,
            "requestContext": {"requestId": "hostile", "stage": "prod", "httpMethod": method,
                               "path": format!("/prod{path}"), "domainName": host},
            "body": body, "isBase64Encoded": base64,
        })
    } else {
        json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
            "headers": single,
            "requestContext": {"requestId": "hostile", "domainName": host, "stage": "$default",
                               "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                        "sourceIp": "192.0.2.1", "userAgent": "hostile"}},
            "body": body, "isBase64Encoded": base64,
        })
    };
    if let Some(patch) = case["patch"].as_object() {
        for (k, v) in patch {
            e[k] = v.clone();
        }
    }
    e
}

/// The exact error_description PROTOCOL §7.1 gives for `error` with `param` in place of %s.
fn description(error: &str, param: Option<String>) -> String {
    let param = || param.clone().expect("this error names a parameter");
    match error {
        "invalid_request" => invalid_request(&param()),
        "unsupported_grant_type" => unsupported_grant_type(&param()),
        "invalid_scope" => invalid_scope(&param()),
        "invalid_client" => INVALID_CLIENT.to_owned(),
        "unauthorized_client" => UNAUTHORIZED_CLIENT.to_owned(),
        "invalid_refresh" => INVALID_REFRESH.to_owned(),
        other => panic!("no expected description for {other}"),
    }
}

/// Compares an answer with the case's `expect`, returning what differs.
fn check(case: &Value, raw: &Value) -> Result<(), String> {
    let expect = &case["expect"];
    let status = raw["statusCode"].as_u64().ok_or("no statusCode")?;
    let headers = raw["headers"].as_object().ok_or("no headers")?;
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    };
    let body: Value = serde_json::from_str(raw["body"].as_str().ok_or("no body")?)
        .map_err(|e| format!("body is not JSON: {e}"))?;
    let mut problems = Vec::new();
    // The document's one 5xx is 501 unsupported_grant_type; anything else of 500 and above
    // would be a failure of the service, never a hostile request's due.
    if status >= 500 && !(status == 501 && body["error"] == "unsupported_grant_type") {
        problems.push(format!("a server error: {status}"));
    }
    let want_status = expect["status"].as_u64().ok_or("case without status")?;
    if status != want_status {
        problems.push(format!("status {status}, expected {want_status}"));
    }
    for (name, want) in [
        ("Cache-Control", "no-store"),
        ("Pragma", "no-cache"),
        ("Content-Type", "application/json"),
    ] {
        if header(name) != Some(want) {
            problems.push(format!("{name}: {:?}", header(name)));
        }
    }
    if let Some(extra) = expect["headers"].as_object() {
        for (name, want) in extra {
            if header(name) != want.as_str() {
                problems.push(format!("{name}: {:?}, expected {want}", header(name)));
            }
        }
    }
    match expect["error"].as_str() {
        Some(error) => {
            let want = json!({
                "error": error,
                "error_description": description(error, expect.get("param").map(text)),
            });
            if body != want {
                problems.push(format!("body {body}, expected {want}"));
            }
            if want_status == 401 && header("WWW-Authenticate") != Some("Basic realm=\"oauth\"") {
                problems.push("401 without WWW-Authenticate".into());
            }
        }
        None => {
            if body != expect["body"] {
                problems.push(format!("body {body}, expected {}", expect["body"]));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// The corpus's clients, in a store given the `ClientAdmin` way of creating them.
async fn with_clients<S: ClientAdmin>(store: S) -> S {
    let mut app = client_with_secret(
        "hostile-app",
        SECRET,
        &["quotes:read", "quotes:write", "r", "w"],
    );
    app.grants = GrantType::ALL.to_vec();
    let mut disabled = client_with_secret("disabled-app", SECRET, &["quotes:read"]);
    disabled.disabled = true;
    let mut refresh_only = client_with_secret("refresh-only", SECRET, &["quotes:read"]);
    refresh_only.grants = vec![GrantType::RefreshToken];
    let mut cc_only = client_with_secret("cc-only", SECRET, &["quotes:read"]);
    cc_only.grants = vec![GrantType::ClientCredentials];
    for c in [app, disabled, refresh_only, cc_only] {
        assert!(store.create_client(&c).await.expect("put client"));
    }
    store
}

#[tokio::test]
async fn every_hostile_request_gets_its_documented_answer_and_stores_nothing() {
    let store = with_clients(MemoryStore::new()).await;
    run_corpus(&store).await;
    assert_eq!(store.tokens().len(), 0, "no hostile request stores a token");
}

/// The same corpus against DynamoDB (moto): the same answers, nothing stored.
#[cfg(feature = "dynamodb-tests")]
#[tokio::test]
async fn every_hostile_request_gets_its_documented_answer_and_stores_nothing_in_dynamodb() {
    let store = with_clients(fresh_store().await).await;
    run_corpus(&store).await;
    let tokens = raw_dynamodb()
        .await
        .scan()
        .table_name(store.tokens_table())
        .consistent_read(true)
        .send()
        .await
        .expect("scan tokens")
        .items
        .unwrap_or_default();
    assert_eq!(tokens.len(), 0, "no hostile request stores a token");
}

/// Every case through the handler over `store`; fails listing every case answered
/// otherwise than documented.
async fn run_corpus<S: oauth_token_service::store::GrantStore>(store: &S) {
    let cases = load_corpus();
    assert!(cases.len() >= 80, "the corpus has {} cases", cases.len());
    let rng = ring::rand::SystemRandom::new();
    let app = test_app(store, &rng);
    let mut failures = Vec::new();
    for case in &cases {
        let event = event(&case.value);
        // A guard against hangs, not a performance assertion.
        let answer = tokio::time::timeout(Duration::from_secs(20), app.handle_event(&event))
            .await
            .unwrap_or_else(|_| panic!("{} hangs", case.name()));
        if let Err(problem) = check(&case.value, &answer) {
            failures.push(format!("{}: {problem}", case.name()));
        }
    }
    note(&format!(
        "hostile corpus: {} cases, {} answered otherwise than documented",
        cases.len(),
        failures.len(),
    ));
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_cases_have_unique_names_and_an_expected_answer() {
    let cases = load_corpus();
    let mut names = std::collections::HashSet::new();
    for case in &cases {
        assert!(names.insert(case.name()), "{} twice", case.name());
        assert!(
            case.value["about"].is_string(),
            "{} has no about",
            case.name()
        );
        let expect = &case.value["expect"];
        let status = expect["status"].as_u64().expect("status");
        assert!(
            status < 500 || (status == 501 && expect["error"] == "unsupported_grant_type"),
            "{}: a hostile request never deserves a server error",
            case.name()
        );
        // Building the event checks the pieces.
        event(&case.value);
    }
}
