//! A fake Lambda Runtime API on loopback, and one of the crate's Lambda binaries running
//! against it: the fake hands the function events one at a time and collects its answers,
//! so that a test invokes the real binary as Lambda would.

use super::fake_http::{FakeServer, read_request, respond};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc, oneshot};

/// The function's name, as Lambda would pass it.
pub const FUNCTION_NAME: &str = "test-function";

type Events = Arc<Mutex<mpsc::UnboundedReceiver<(String, Value)>>>;
type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;

pub struct RuntimeApi {
    server: FakeServer,
    events: mpsc::UnboundedSender<(String, Value)>,
    waiters: Waiters,
    next_id: AtomicU64,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let (tx, rx) = mpsc::unbounded_channel::<(String, Value)>();
        let rx: Events = Arc::new(Mutex::new(rx));
        let waiters: Waiters = Arc::default();
        let w = waiters.clone();
        let server = FakeServer::start(0, move |conn| serve(conn, rx.clone(), w.clone())).await;
        RuntimeApi {
            server,
            events: tx,
            waiters,
            next_id: AtomicU64::new(0),
        }
    }

    /// `host:port`, as `AWS_LAMBDA_RUNTIME_API` names it.
    pub fn address(&self) -> String {
        self.server.addr.to_string()
    }

    /// Invokes the function with `event` and waits for its answer, which must not be an
    /// invocation error.
    pub async fn invoke(&self, event: Value) -> Value {
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

const OK: &[u8] = b"{\"status\":\"OK\"}";

async fn serve(mut conn: TcpStream, events: Events, waiters: Waiters) {
    let mut buf = Vec::new();
    while let Some(req) = read_request(&mut conn, &mut buf).await {
        let path = req.path().to_owned();
        if req.method() == "GET" && path.ends_with("/runtime/invocation/next") {
            let Some((id, event)) = events.lock().await.recv().await else {
                return;
            };
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)
                + 30_000;
            let deadline = deadline.to_string();
            let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION_NAME}");
            let headers = [
                ("Content-Type", "application/json"),
                ("Lambda-Runtime-Aws-Request-Id", id.as_str()),
                ("Lambda-Runtime-Deadline-Ms", deadline.as_str()),
                ("Lambda-Runtime-Invoked-Function-Arn", arn.as_str()),
                (
                    "Lambda-Runtime-Trace-Id",
                    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=1;Sampled=0",
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
            respond(&mut conn, "202 Accepted", &[], OK).await;
        } else {
            // init/error and anything else.
            respond(&mut conn, "202 Accepted", &[], OK).await;
        }
    }
}

/// One of the crate's Lambda binaries with a Runtime API of its own, its standard output
/// and error collected.
pub struct Function {
    api: RuntimeApi,
    child: tokio::process::Child,
    output: Vec<tokio::task::JoinHandle<Vec<u8>>>,
}

impl Function {
    /// Starts `binary` with an empty environment but Lambda's variables and `env`.
    pub async fn start(binary: &str, env: &[(&str, &str)]) -> Self {
        let api = RuntimeApi::start().await;
        let mut child = tokio::process::Command::new(binary)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{FUNCTION_NAME}"),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "stream")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {binary}: {e}"));
        let mut output = Vec::new();
        if let Some(out) = child.stdout.take() {
            output.push(tokio::spawn(read_all(out)));
        }
        if let Some(err) = child.stderr.take() {
            output.push(tokio::spawn(read_all(err)));
        }
        Function { api, child, output }
    }

    /// Invokes the function with `event` and waits for its answer.
    pub async fn invoke(&self, event: Value) -> Value {
        self.api.invoke(event).await
    }

    /// Stops the function and returns everything it wrote (stdout, then stderr).
    pub async fn stop(mut self) -> (String, String) {
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

async fn read_all(mut from: impl tokio::io::AsyncRead + Unpin) -> Vec<u8> {
    let mut b = Vec::new();
    let _ = from.read_to_end(&mut b).await;
    b
}
