//! A fake DynamoDB endpoint on loopback, in front of moto: it reads each request and, by
//! its current mode, answers with a DynamoDB error, never answers, closes the connection,
//! or forwards the request to moto (so that the same SDK client, endpoint and `App` work
//! again afterwards).

use super::fake_http::{FakeServer, Request, answer, drain, forward, read_request};
use super::moto_endpoint;
use oauth_token_service::store::dynamodb::DynamoStore;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Reads the request and never answers (until the client goes away).
    Hang,
    /// Answers (from moto) only after this long.
    Slow(Duration),
    /// Reads the request and closes the connection without a word.
    Close,
    /// A DynamoDB error: HTTP status and error type.
    Error(u16, &'static str),
    /// A `TransactionCanceledException` whose first item was cancelled for this reason.
    Canceled(&'static str),
    /// Forwards the request to moto (so it is applied) and drops the answer, closing the
    /// connection: a write that happened though its caller never heard of it.
    ApplyThenClose,
    /// Forwards the request to moto (so it is applied) and holds the answer this long
    /// before sending it: a commit whose answer is slow on its way back.
    AnswerLate(Duration),
    /// Forwards the request to moto (so it is applied) and never answers: a commit whose
    /// answer is lost, and every retry's with it.
    ApplyThenHang,
    /// A BatchWriteItem answered with every item unprocessed (as DynamoDB does when it
    /// throttles part of a batch), nothing written.
    Unprocessed,
    /// No fault: forwards to moto.
    Proxy,
}

#[derive(Debug, Clone, Copy)]
struct Mode {
    fault: Fault,
    /// Only requests for this operation (`X-Amz-Target: DynamoDB_20120810.<op>`) meet the
    /// fault; the others go to moto. `None`: all of them.
    only: Option<&'static str>,
    /// How many more requests meet the fault before it turns into `Proxy`; `None`: all.
    times: Option<usize>,
    /// How many requests it applies to go to moto first, before any meets the fault.
    skip: usize,
}

impl Mode {
    /// The fault `op` meets, counting it against `skip` and `times`.
    fn take(&mut self, op: &str) -> Fault {
        match (self.only, self.times) {
            (Some(only), _) if only != op => Fault::Proxy,
            _ if self.skip > 0 => {
                self.skip -= 1;
                Fault::Proxy
            }
            (_, Some(0)) => Fault::Proxy,
            (_, Some(n)) => {
                self.times = Some(n - 1);
                self.fault
            }
            (_, None) => self.fault,
        }
    }
}

pub struct FakeDynamo {
    server: FakeServer,
    mode: Arc<Mutex<Mode>>,
    /// Requests that met the fault.
    faulted: Arc<AtomicUsize>,
    /// Every request's operation, in order of arrival.
    seen: Arc<Mutex<Vec<String>>>,
    /// What IAM authorizes for each request: (action, table) pairs (see `iam_actions`).
    actions: Arc<Mutex<Vec<(String, String)>>>,
}

impl FakeDynamo {
    /// A fake on a free port meeting requests for `only` (all: `None`) with `fault`.
    pub async fn start(fault: Fault, only: Option<&'static str>) -> Self {
        Self::start_on(0, fault, only).await
    }

    pub async fn start_on(port: u16, fault: Fault, only: Option<&'static str>) -> Self {
        let mode = Arc::new(Mutex::new(Mode {
            fault,
            only,
            times: None,
            skip: 0,
        }));
        let faulted = Arc::new(AtomicUsize::new(0));
        let moto: SocketAddr = moto_endpoint()
            .trim_start_matches("http://")
            .parse()
            .expect("moto address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let actions = Arc::new(Mutex::new(Vec::new()));
        let (m, f, s, a) = (mode.clone(), faulted.clone(), seen.clone(), actions.clone());
        let server = FakeServer::start(port, move |conn| {
            serve(conn, m.clone(), f.clone(), s.clone(), a.clone(), moto)
        })
        .await;
        FakeDynamo {
            server,
            mode,
            faulted,
            seen,
            actions,
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// A store over `moto`'s tables whose SDK client talks to this fake (5 s timeout).
    pub async fn store_over(&self, moto: &DynamoStore) -> DynamoStore {
        DynamoStore::new(
            super::sdk_client(&self.url(), Duration::from_secs(5)).await,
            moto.clients_table(),
            moto.tokens_table(),
        )
    }

    pub fn set(&self, fault: Fault, only: Option<&'static str>) {
        *self.mode.lock().unwrap() = Mode {
            fault,
            only,
            times: None,
            skip: 0,
        };
    }

    /// The fault for the next `times` requests it applies to, then none.
    pub fn set_times(&self, fault: Fault, only: Option<&'static str>, times: usize) {
        *self.mode.lock().unwrap() = Mode {
            fault,
            only,
            times: Some(times),
            skip: 0,
        };
    }

    /// The fault for every request it applies to after the next `skip`, which go through.
    pub fn set_after(&self, fault: Fault, only: Option<&'static str>, skip: usize) {
        *self.mode.lock().unwrap() = Mode {
            fault,
            only,
            times: None,
            skip,
        };
    }

    pub fn faulted(&self) -> usize {
        self.faulted.load(Ordering::SeqCst)
    }

    /// The operations of the requests received since the last call (e.g. `["GetItem",
    /// "BatchWriteItem"]`), retries included.
    pub fn take_operations(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    /// The (IAM action, table) pairs of the requests received since the last call.
    pub fn take_actions(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.actions.lock().unwrap())
    }
}

/// What IAM authorizes for one request of operation `op`: the operation on each table it
/// names, except that a transaction's items are each authorized as the matching
/// single-item action (Put as PutItem, Update as UpdateItem, ...), as DynamoDB does.
fn iam_actions(op: &str, body: &[u8]) -> Vec<(String, String)> {
    let body: Value = serde_json::from_slice(body).unwrap_or_default();
    let table = |v: &Value| v["TableName"].as_str().unwrap_or_default().to_owned();
    match op {
        "TransactWriteItems" | "TransactGetItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item.as_object()?.iter().next())
            .map(|(kind, inner)| {
                let action = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    "ConditionCheck" => "ConditionCheckItem",
                    "Get" => "GetItem",
                    other => other,
                };
                (action.to_owned(), table(inner))
            })
            .collect(),
        "BatchGetItem" | "BatchWriteItem" => body["RequestItems"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys())
            .map(|t| (op.to_owned(), t.clone()))
            .collect(),
        _ => vec![(op.to_owned(), table(&body))],
    }
}

/// A DynamoDB JSON-protocol error answer.
fn error_answer(status: u16, kind: &str) -> Vec<u8> {
    let body = json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "message": format!("injected {kind}"),
    });
    dynamodb_answer(status, kind, &body)
}

/// A transaction cancelled for `reason` on its first item, as DynamoDB reports it.
fn canceled_answer(reason: &str) -> Vec<u8> {
    let body = json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{reason}, None, None]"),
        "CancellationReasons": [
            {"Code": reason, "Message": "injected"},
            {"Code": "None"},
            {"Code": "None"},
        ],
    });
    dynamodb_answer(400, "TransactionCanceledException", &body)
}

fn dynamodb_answer(status: u16, kind: &str, body: &Value) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let request_id = format!("fake-{status}");
    answer(
        &format!("{status} {reason}"),
        &[
            ("Content-Type", "application/x-amz-json-1.0"),
            ("x-amzn-ErrorType", kind),
            ("x-amzn-RequestId", &request_id),
        ],
        body.to_string().as_bytes(),
    )
}

/// Forwards `req` to moto and passes its answer on; the connection ends after it.
async fn proxy(conn: &mut TcpStream, req: &Request, moto: SocketAddr) {
    if let Ok(answer) = forward(req, moto).await {
        let _ = conn.write_all(&answer).await;
    }
}

async fn serve(
    mut conn: TcpStream,
    mode: Arc<Mutex<Mode>>,
    faulted: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<String>>>,
    actions: Arc<Mutex<Vec<(String, String)>>>,
    moto: SocketAddr,
) {
    let mut buf = Vec::new();
    while let Some(req) = read_request(&mut conn, &mut buf).await {
        let op = req
            .header("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("")
            .to_owned();
        seen.lock().unwrap().push(op.clone());
        actions.lock().unwrap().extend(iam_actions(&op, &req.body));
        let fault = mode.lock().unwrap().take(&op);
        if fault != Fault::Proxy {
            faulted.fetch_add(1, Ordering::SeqCst);
        }
        match fault {
            Fault::Hang => return drain(&mut conn).await,
            Fault::Close => return,
            Fault::ApplyThenClose => {
                let _ = forward(&req, moto).await;
                return;
            }
            Fault::AnswerLate(delay) => {
                if let Ok(answer) = forward(&req, moto).await {
                    tokio::time::sleep(delay).await;
                    let _ = conn.write_all(&answer).await;
                }
                return;
            }
            Fault::ApplyThenHang => {
                let _ = forward(&req, moto).await;
                return drain(&mut conn).await;
            }
            Fault::Error(status, kind) => {
                if conn.write_all(&error_answer(status, kind)).await.is_err() {
                    return;
                }
            }
            Fault::Canceled(reason) => {
                if conn.write_all(&canceled_answer(reason)).await.is_err() {
                    return;
                }
            }
            Fault::Unprocessed => {
                let sent: Value = serde_json::from_slice(&req.body).unwrap_or_default();
                let body = json!({"UnprocessedItems": sent["RequestItems"]});
                let answer = answer(
                    "200 OK",
                    &[("Content-Type", "application/x-amz-json-1.0")],
                    body.to_string().as_bytes(),
                );
                if conn.write_all(&answer).await.is_err() {
                    return;
                }
            }
            Fault::Slow(delay) => {
                tokio::time::sleep(delay).await;
                return proxy(&mut conn, &req, moto).await;
            }
            Fault::Proxy => return proxy(&mut conn, &req, moto).await,
        }
    }
}
