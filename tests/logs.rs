//! Nothing secret in the logs (PROTOCOL §8.4), at the most verbose level there is.
//!
//! The real `token` and `authorizer` binaries run with `RUST_LOG=trace` (the AWS SDK's and
//! the Lambda runtime's own events included) against moto, fed by a small fake of the Lambda
//! Runtime API on loopback. Every flow goes through them: client_credentials (JSON, form,
//! Basic), refresh, reuse of a consumed refresh token, revoke, introspect, the authorizer,
//! and errors. Their whole output is then searched for every client secret, every token,
//! every stored secret hash and token hash, every request body and Authorization value as
//! sent, and the AWS secret key: none may appear. Each request also leaves exactly one JSON
//! line with its request id, client id, grant, status, outcome and latency.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use oauth_token_service::oauth::{secret, token};
use oauth_token_service::store::dynamodb::DynamoStore;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc, oneshot};

const AWS_SECRET_KEY: &str = "FakeAwsSecretAccessKeyThatMustNotBeLogged0";

// ---------------------------------------------------------------------------------------
// A fake Lambda Runtime API: hands out events one at a time and collects the answers.

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;

struct RuntimeApi {
    addr: std::net::SocketAddr,
    events: mpsc::UnboundedSender<(String, Value)>,
    waiters: Waiters,
    next_id: AtomicU64,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Request {
    line: String,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request (Content-Length or chunked body); `None` at end of stream.
async fn read_request(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Request> {
    async fn fill(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
        let mut chunk = [0u8; 8192];
        let n = conn.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
        Some(())
    }
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        fill(conn, buf).await?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end);
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let line = head.lines().next().unwrap_or_default().to_owned();
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let eol = loop {
                if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                fill(conn, buf).await?;
            };
            let size_line = String::from_utf8_lossy(&buf[..eol]).into_owned();
            let size = usize::from_str_radix(size_line.split(';').next()?.trim(), 16).ok()?;
            while buf.len() < eol + 2 + size + 2 {
                fill(conn, buf).await?;
            }
            body.extend_from_slice(&buf[eol + 2..eol + 2 + size]);
            buf.drain(..eol + 2 + size + 2);
            if size == 0 {
                break;
            }
        }
    } else {
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < len {
            fill(conn, buf).await?;
        }
        body = buf.drain(..len).collect();
    }
    Some(Request { line, body })
}

async fn respond(conn: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = conn.write_all(head.as_bytes()).await;
    let _ = conn.write_all(body).await;
}

impl RuntimeApi {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (tx, rx) = mpsc::unbounded_channel::<(String, Value)>();
        let rx = Arc::new(Mutex::new(rx));
        let waiters: Waiters = Arc::default();
        let w = waiters.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(Self::serve(conn, rx.clone(), w.clone()));
            }
        });
        RuntimeApi {
            addr,
            events: tx,
            waiters,
            next_id: AtomicU64::new(0),
            task,
        }
    }

    async fn serve(
        mut conn: TcpStream,
        events: Arc<Mutex<mpsc::UnboundedReceiver<(String, Value)>>>,
        waiters: Waiters,
    ) {
        let mut buf = Vec::new();
        while let Some(req) = read_request(&mut conn, &mut buf).await {
            let path = req.line.split_whitespace().nth(1).unwrap_or("").to_owned();
            if req.line.starts_with("GET") && path.ends_with("/runtime/invocation/next") {
                let Some((id, event)) = events.lock().await.recv().await else {
                    return;
                };
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64)
                    + 30_000;
                let headers = [
                    ("Content-Type", "application/json".to_owned()),
                    ("Lambda-Runtime-Aws-Request-Id", id),
                    ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:logs-test".to_owned(),
                    ),
                    (
                        "Lambda-Runtime-Trace-Id",
                        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=1;Sampled=0".to_owned(),
                    ),
                ];
                respond(&mut conn, "200 OK", &headers, event.to_string().as_bytes()).await;
            } else if let Some(rest) = path.strip_prefix("/2018-06-01/runtime/invocation/") {
                let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
                let answer: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                let answer = if kind == "response" {
                    answer
                } else {
                    json!({"invocation_error": answer})
                };
                if let Some(w) = waiters.lock().await.remove(id) {
                    let _ = w.send(answer);
                }
                respond(&mut conn, "202 Accepted", &[], b"{\"status\":\"OK\"}").await;
            } else {
                // init/error and anything else.
                respond(&mut conn, "202 Accepted", &[], b"{\"status\":\"OK\"}").await;
            }
        }
    }

    /// Invokes the function with `event` and waits for its answer.
    async fn invoke(&self, event: Value) -> Value {
        let id = format!("lambda-{}", self.next_id.fetch_add(1, Ordering::SeqCst));
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().await.insert(id.clone(), tx);
        self.events.send((id, event)).expect("runtime API alive");
        let answer = tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .expect("the function answers within 60 s")
            .expect("an answer");
        assert!(
            answer.get("invocation_error").is_none(),
            "the invocation failed: {answer}"
        );
        answer
    }
}

/// One of the crate's Lambda binaries, running against the fake runtime API, with its
/// standard output and error collected.
struct Function {
    child: tokio::process::Child,
    output: Vec<tokio::task::JoinHandle<Vec<u8>>>,
}

impl Function {
    fn start(binary: &str, api: &RuntimeApi, store: &DynamoStore) -> Self {
        let mut child = tokio::process::Command::new(binary)
            .env_clear()
            .env("RUST_LOG", "trace")
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "logs-test")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/logs-test")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "stream")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIAFAKELOGSTEST")
            .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET_KEY)
            .env("AWS_ENDPOINT_URL_DYNAMODB", moto_endpoint())
            .env("CLIENTS_TABLE", store.clients_table())
            .env("TOKENS_TABLE", store.tokens_table())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {binary}: {e}"));
        let mut output = Vec::new();
        if let Some(mut out) = child.stdout.take() {
            output.push(tokio::spawn(async move {
                let mut b = Vec::new();
                let _ = out.read_to_end(&mut b).await;
                b
            }));
        }
        if let Some(mut err) = child.stderr.take() {
            output.push(tokio::spawn(async move {
                let mut b = Vec::new();
                let _ = err.read_to_end(&mut b).await;
                b
            }));
        }
        Function { child, output }
    }

    /// Stops the function and returns everything it wrote (stdout, then stderr).
    async fn stop(mut self) -> (String, String) {
        let _ = self.child.kill().await;
        let mut texts = Vec::new();
        for h in self.output.drain(..) {
            texts.push(String::from_utf8_lossy(&h.await.unwrap_or_default()).into_owned());
        }
        let err = texts.pop().unwrap_or_default();
        let out = texts.pop().unwrap_or_default();
        (out, err)
    }
}

// ---------------------------------------------------------------------------------------
// The flows

/// Everything that must not appear in a log, collected as the flows go.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: &str, value: &str) {
        if value.len() >= 8 {
            self.0.push((what.to_owned(), value.to_owned()));
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

fn body(answer: &Value) -> Value {
    serde_json::from_str(answer["body"].as_str().expect("body")).expect("JSON body")
}

fn with_id(mut event: Value, id: &str) -> Value {
    event["requestContext"]["requestId"] = json!(id);
    event
}

fn form(path: &str, body: &str, auth: Option<&str>) -> Value {
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
    if let Some(a) = auth {
        headers.push(("authorization", a));
    }
    v2_event("POST", path, &headers, Some(body), true)
}

fn authorizer_event(authorization: &str) -> Value {
    json!({
        "version": "2.0", "type": "REQUEST",
        "routeArn": "arn:aws:execute-api:us-east-1:123456789012:abc123/$default/GET/whoami",
        "identitySource": [authorization],
        "routeKey": "GET /whoami", "rawPath": "/whoami", "rawQueryString": "",
        "headers": {"authorization": authorization},
        "requestContext": {"accountId": "123456789012", "apiId": "abc123",
            "http": {"method": "GET", "path": "/whoami", "protocol": "HTTP/1.1",
                     "sourceIp": "192.0.2.1", "userAgent": "tests"},
            "requestId": "authz", "routeKey": "GET /whoami", "stage": "$default"}
    })
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_token_or_hash_reaches_the_logs_at_trace_level() {
    let store = fresh_store().await;
    let rng = ring::rand::SystemRandom::new();
    let mut secrets = Secrets::default();
    secrets.add("AWS secret key", AWS_SECRET_KEY);

    // Clients: a generated secret (fast hash), an imported one (PBKDF2), a resource server
    // and a client item whose secret_hashes is malformed (a string: the hash itself).
    let fast = new_secret();
    let imported = "an imported, weak-ish secret: p@ss w0rd!";
    let rs_secret = new_secret();
    let mut app = client_with_secret("app", &fast, &["read", "write"]);
    let fast_hash = app.secret_hashes[0].clone();
    let legacy_hash = secret::hash_pbkdf2(imported, &rng, 1000).unwrap();
    app.grants = oauth_token_service::store::GrantType::ALL.to_vec();
    let mut legacy = client_with_secret("legacy", "unused", &["read"]);
    legacy.secret_hashes = vec![legacy_hash.clone()];
    let mut rs = client_with_secret("resource-server", &rs_secret, &[]);
    rs.resource_server = true;
    let rs_hash = rs.secret_hashes[0].clone();
    for c in [&app, &legacy, &rs] {
        assert!(store.put_client(c, true).await.unwrap());
    }
    let broken_hash = secret::hash_generated("broken secret value", &rng).unwrap();
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
    for (what, v) in [
        ("client secret", fast.as_str()),
        ("client secret", imported),
        ("client secret", rs_secret.as_str()),
        ("client secret", "broken secret value"),
        ("secret hash", fast_hash.as_str()),
        ("secret hash", legacy_hash.as_str()),
        ("secret hash", rs_hash.as_str()),
        ("secret hash", broken_hash.as_str()),
    ] {
        secrets.add(what, v);
        // The salt and digest parts alone, too.
        for part in v.split('$').skip(1).filter(|p| p.len() >= 16) {
            secrets.add(what, part);
        }
    }

    let api = RuntimeApi::start().await;
    let function = Function::start(env!("CARGO_BIN_EXE_token"), &api, &store);

    // (request id, event, expected status, expected outcome, client_id, grant)
    let mut expected: Vec<(String, u64, &str, &str, &str)> = Vec::new();
    let mut n = 0;
    let mut call = async |event: Value,
                          status: u64,
                          outcome: &'static str,
                          client: &'static str,
                          grant: &'static str,
                          secrets: &mut Secrets| {
        n += 1;
        let id = format!("req-{n}");
        let event = with_id(event, &id);
        secrets.request(&event);
        let answer = api.invoke(event).await;
        let b = body(&answer);
        assert_eq!(answer["statusCode"], status, "{id}: {b}");
        secrets.tokens_of(&b);
        expected.push((id, status, outcome, client, grant));
        b
    };

    let cc = "client_credentials";
    // client_credentials: JSON, form, Basic, PBKDF2 client.
    let first = call(
        json_post(&json!({"grant_type": cc, "client_id": "app", "client_secret": fast})),
        200,
        "ok",
        "app",
        cc,
        &mut secrets,
    )
    .await;
    let second = call(
        form(
            "/oauth",
            &format!("grant_type={cc}&client_id=app&client_secret={fast}&scope=read"),
            None,
        ),
        200,
        "ok",
        "app",
        cc,
        &mut secrets,
    )
    .await;
    let third = call(
        form(
            "/oauth",
            &format!("grant_type={cc}"),
            Some(&basic("app", &fast)),
        ),
        200,
        "ok",
        "app",
        cc,
        &mut secrets,
    )
    .await;
    call(
        form(
            "/oauth",
            &format!("grant_type={cc}"),
            Some(&basic("legacy", imported)),
        ),
        200,
        "ok",
        "legacy",
        cc,
        &mut secrets,
    )
    .await;
    // refresh, then reuse of the consumed refresh token (revokes the family).
    let old_refresh = first["refresh_token"].as_str().unwrap().to_owned();
    call(
        form(
            "/oauth",
            &format!("grant_type=refresh_token&refresh_token={old_refresh}"),
            Some(&basic("app", &fast)),
        ),
        200,
        "ok",
        "app",
        "refresh_token",
        &mut secrets,
    )
    .await;
    call(
        json_post(&json!({"grant_type": "refresh_token", "refresh_token": old_refresh, "client_id": "app", "client_secret": fast})),
        400, "invalid_refresh", "app", "refresh_token", &mut secrets,
    )
    .await;
    // revoke and introspect.
    let access2 = second["access_token"].as_str().unwrap().to_owned();
    let access3 = third["access_token"].as_str().unwrap().to_owned();
    call(
        form(
            "/oauth/revoke",
            &format!("token={access2}&token_type_hint=access_token"),
            Some(&basic("app", &fast)),
        ),
        200,
        "ok",
        "app",
        "",
        &mut secrets,
    )
    .await;
    let intro = call(
        form(
            "/oauth/introspect",
            &format!("token={access3}"),
            Some(&basic("resource-server", &rs_secret)),
        ),
        200,
        "ok",
        "resource-server",
        "",
        &mut secrets,
    )
    .await;
    assert_eq!(intro["active"], true);
    // Errors: wrong secret, unknown client, malformed Basic carrying a secret, a secret in
    // the wrong place, bad scope, unsupported grant, wrong method, a malformed client item.
    call(
        json_post(
            &json!({"grant_type": cc, "client_id": "app", "client_secret": format!("{fast}x")}),
        ),
        401,
        "invalid_client",
        "app",
        cc,
        &mut secrets,
    )
    .await;
    call(
        json_post(&json!({"grant_type": cc, "client_id": "nobody", "client_secret": fast})),
        401,
        "invalid_client",
        "nobody",
        cc,
        &mut secrets,
    )
    .await;
    call(
        form(
            "/oauth",
            &format!("grant_type={cc}"),
            Some(&format!("Basic {}", STANDARD.encode(format!("app{fast}")))),
        ),
        401,
        "invalid_client",
        "",
        cc,
        &mut secrets,
    )
    .await;
    call(
        form(
            "/oauth",
            &format!("grant_type={cc}&client_secret={fast}"),
            Some(&basic("app", &fast)),
        ),
        400,
        "invalid_request",
        "",
        cc,
        &mut secrets,
    )
    .await;
    call(
        form(
            "/oauth",
            &format!("grant_type={cc}&client_id=app&client_secret={fast}&scope=admin"),
            None,
        ),
        400,
        "invalid_scope",
        "app",
        cc,
        &mut secrets,
    )
    .await;
    call(
        json_post(&json!({"grant_type": format!("password{fast}")})),
        501,
        "unsupported_grant_type",
        "",
        "",
        &mut secrets,
    )
    .await;
    call(
        v2_event(
            "GET",
            "/oauth",
            &[("authorization", &basic("app", &fast))],
            None,
            false,
        ),
        405,
        "invalid_request",
        "",
        "",
        &mut secrets,
    )
    .await;
    call(
        json_post(&json!({"grant_type": cc, "client_id": "broken", "client_secret": "broken secret value"})),
        500, "server_error", "broken", cc, &mut secrets,
    )
    .await;
    let (token_out, token_err) = function.stop().await;

    // The authorizer: a live access token, a refresh token, a bare token, garbage.
    let authz = Function::start(env!("CARGO_BIN_EXE_authorizer"), &api, &store);
    let live = third["access_token"].as_str().unwrap();
    let refresh = third["refresh_token"].as_str().unwrap();
    for (header, allowed) in [
        (format!("Bearer {live}"), true),
        (live.to_owned(), true),
        (format!("Bearer {refresh}"), false),
        (format!("Bearer {fast}"), false),
        ("Bearer".to_owned(), false),
    ] {
        let answer = api.invoke(authorizer_event(&header)).await;
        assert_eq!(answer["isAuthorized"], allowed, "{header:.12}...: {answer}");
    }
    let (authz_out, authz_err) = authz.stop().await;

    let everything = format!("{token_out}\n{token_err}\n{authz_out}\n{authz_err}");
    note(&format!(
        "logs test: {} bytes of output at TRACE searched for {} secret values",
        everything.len(),
        secrets.0.len()
    ));
    assert!(
        token_out.contains("aws_smithy_runtime"),
        "the SDK's own events are in the output (TRACE reached the SDK)"
    );
    assert_nothing_secret(&everything, &secrets);

    // One JSON line per request, with the fields Logs Insights queries.
    let lines = json_lines(&token_out);
    for (id, status, outcome, client, grant) in &expected {
        let mine: Vec<&Value> = lines
            .iter()
            .filter(|l| l["message"] == "request" && l["request_id"] == id.as_str())
            .collect();
        assert_eq!(mine.len(), 1, "{id}: {mine:?}");
        let l = mine[0];
        assert_eq!(l["status"], *status, "{id}: {l}");
        assert_eq!(l["outcome"], *outcome, "{id}: {l}");
        assert_eq!(l["span"]["client_id"], *client, "{id}: {l}");
        assert_eq!(l["span"]["grant"], *grant, "{id}: {l}");
        assert_eq!(l["span"]["request_id"], *id, "{id}: {l}");
        assert!(l["latency_ms"].is_number(), "{id}: {l}");
        assert_eq!(l["level"], "INFO");
    }
    // The detail logged inside a request names it: the reuse of a consumed refresh token.
    let reuse: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "refresh token reuse: revoking its family")
        .collect();
    assert_eq!(reuse.len(), 1, "{reuse:?}");
    let reuse_id = &expected
        .iter()
        .find(|(_, _, outcome, _, _)| *outcome == "invalid_refresh")
        .expect("the reuse request")
        .0;
    assert_eq!(
        reuse[0]["span"]["request_id"],
        reuse_id.as_str(),
        "{}",
        reuse[0]
    );
    let authz_lines = json_lines(&authz_out);
    assert_eq!(
        authz_lines
            .iter()
            .filter(|l| l["message"] == "authorize" && l["outcome"].is_string())
            .count(),
        5,
        "one line per authorizer decision"
    );
}
