//! Metrics as CloudWatch Embedded Metric Format lines (PROTOCOL §11.2): one JSON line per
//! request on standard output, which CloudWatch Logs turns into metrics. No API call, no
//! extra latency, and no per-client dimension (each dimension value is a metric billed on
//! its own; per-client figures come from the request log).
//!
//! - The token function: `Requests` by `Outcome` (`ok` or the error key), `TokensIssued` by
//!   `Grant` and `Format`, and `DynamoDbLatency`, one value per DynamoDB operation of the
//!   request, retries included (no dimension).
//! - The authorizer: `AuthorizerDecisions` by `Decision` (`allow`, `deny`, or `error` when
//!   DynamoDB failed and the request was denied for it).
//!
//! The namespace is `METRICS_NAMESPACE` (default `OAuthTokenService`). A request's figures
//! are gathered in a task-local [`Recorder`] while it is handled, so that the storage layer
//! reports its latencies without the protocol code passing anything along.

use serde_json::{Value, json};
use std::cell::RefCell;
use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

/// The namespace when `METRICS_NAMESPACE` is unset or empty.
pub const DEFAULT_NAMESPACE: &str = "OAuthTokenService";

/// At most this many values per metric in one line (CloudWatch's limit is 100).
const MAX_VALUES: usize = 100;

static NAMESPACE: LazyLock<String> = LazyLock::new(|| {
    std::env::var("METRICS_NAMESPACE")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned())
});

/// What one request did, as its metrics line reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recorder {
    /// `ok` or the error key answered; `None` until known.
    pub outcome: Option<&'static str>,
    /// The grant and token format of tokens issued.
    pub issued: Option<(&'static str, &'static str)>,
    /// Milliseconds per DynamoDB operation, in order.
    pub dynamodb_ms: Vec<f64>,
}

tokio::task_local! {
    static CURRENT: RefCell<Recorder>;
    static CAPTURED: RefCell<Vec<String>>;
}

/// Runs `f` with a fresh recorder and returns its output with what was recorded.
pub async fn recording<F: Future>(f: F) -> (F::Output, Recorder) {
    CURRENT
        .scope(RefCell::new(Recorder::default()), async {
            let out = f.await;
            (out, CURRENT.with(|r| r.take()))
        })
        .await
}

fn record(change: impl FnOnce(&mut Recorder)) {
    let _ = CURRENT.try_with(|r| change(&mut r.borrow_mut()));
}

/// Records the answer's outcome (`ok` or an error key).
pub fn outcome(key: &'static str) {
    record(|r| r.outcome = Some(key));
}

/// Records tokens issued with `grant` in `format`.
pub fn issued(grant: &'static str, format: &'static str) {
    record(|r| r.issued = Some((grant, format)));
}

/// Records one DynamoDB operation's duration.
pub fn dynamodb_call(took: Duration) {
    record(|r| {
        if r.dynamodb_ms.len() < MAX_VALUES {
            r.dynamodb_ms.push(round_ms(took));
        }
    });
}

fn round_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

fn directive(dimensions: Value, name: &str, unit: &str) -> Value {
    json!({
        "Namespace": NAMESPACE.as_str(),
        "Dimensions": dimensions,
        "Metrics": [{"Name": name, "Unit": unit}],
    })
}

/// The token function's line for one request (`route` and `request_id` are properties,
/// not dimensions).
pub fn request_line(r: &Recorder, route: &str, request_id: &str, timestamp_ms: u64) -> String {
    let outcome = r.outcome.unwrap_or("server_error");
    let mut directives = vec![directive(json!([["Outcome"]]), "Requests", "Count")];
    let mut line = json!({
        "level": "INFO",
        "message": "metrics",
        "route": route,
        "request_id": request_id,
        "Outcome": outcome,
        "Requests": 1,
    });
    if let Some((grant, format)) = r.issued {
        directives.push(directive(
            json!([["Grant", "Format"]]),
            "TokensIssued",
            "Count",
        ));
        line["Grant"] = json!(grant);
        line["Format"] = json!(format);
        line["TokensIssued"] = json!(1);
    }
    if !r.dynamodb_ms.is_empty() {
        directives.push(directive(json!([[]]), "DynamoDbLatency", "Milliseconds"));
        line["DynamoDbLatency"] = json!(r.dynamodb_ms);
    }
    line["_aws"] = json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives});
    line.to_string()
}

/// The authorizer's line for one decision: `allow`, `deny` or `error`.
pub fn decision_line(decision: &str, request_id: &str, timestamp_ms: u64) -> String {
    json!({
        "level": "INFO",
        "message": "metrics",
        "request_id": request_id,
        "Decision": decision,
        "AuthorizerDecisions": 1,
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [directive(json!([["Decision"]]), "AuthorizerDecisions", "Count")],
        },
    })
    .to_string()
}

/// Writes a metrics line: to standard output (CloudWatch Logs), or to the capture of
/// [`capture`] when one is running.
pub fn emit(line: &str) {
    let captured = CAPTURED.try_with(|c| c.borrow_mut().push(line.to_owned()));
    if captured.is_err() {
        // `println!`, which a test harness captures like any output of the test.
        println!("{line}");
    }
}

/// Runs `f`, keeping the metrics lines it emits instead of writing them (tests).
pub async fn capture<F: Future>(f: F) -> (F::Output, Vec<String>) {
    CAPTURED
        .scope(RefCell::new(Vec::new()), async {
            let out = f.await;
            (out, CAPTURED.with(|c| c.take()))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_line_is_embedded_metric_format_without_client_dimensions() {
        let r = Recorder {
            outcome: Some("ok"),
            issued: Some(("client_credentials", "jwt")),
            dynamodb_ms: vec![3.25, 4.5],
        };
        let line: Value = serde_json::from_str(&request_line(&r, "token", "req-1", 42)).unwrap();
        assert_eq!(line["_aws"]["Timestamp"], 42);
        let directives = line["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 3);
        for d in directives {
            assert_eq!(d["Namespace"], DEFAULT_NAMESPACE);
            for set in d["Dimensions"].as_array().unwrap() {
                for dim in set.as_array().unwrap() {
                    // Every dimension named has a value on the line, and none is per client.
                    let name = dim.as_str().unwrap();
                    assert!(line[name].is_string(), "{name}");
                    assert!(!name.to_ascii_lowercase().contains("client"), "{name}");
                }
            }
            for m in d["Metrics"].as_array().unwrap() {
                let name = m["Name"].as_str().unwrap();
                assert!(line[name].is_number() || line[name].is_array(), "{name}");
            }
        }
        assert_eq!(line["Outcome"], "ok");
        assert_eq!(line["Grant"], "client_credentials");
        assert_eq!(line["Format"], "jwt");
        assert_eq!(line["DynamoDbLatency"], json!([3.25, 4.5]));
    }

    #[test]
    fn a_failed_request_has_no_tokens_issued_metric() {
        let r = Recorder {
            outcome: Some("invalid_client"),
            ..Recorder::default()
        };
        let line: Value = serde_json::from_str(&request_line(&r, "token", "r", 1)).unwrap();
        assert_eq!(line["Outcome"], "invalid_client");
        assert!(line.get("TokensIssued").is_none());
        assert!(line.get("DynamoDbLatency").is_none());
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"].as_array().unwrap().len(),
            1
        );
    }

    #[tokio::test]
    async fn recording_gathers_what_the_request_reports_and_capture_keeps_lines() {
        let ((_, recorded), lines) = capture(recording(async {
            dynamodb_call(Duration::from_micros(1500));
            issued("refresh_token", "opaque");
            outcome("ok");
            emit("x");
        }))
        .await;
        assert_eq!(recorded.outcome, Some("ok"));
        assert_eq!(recorded.issued, Some(("refresh_token", "opaque")));
        assert_eq!(recorded.dynamodb_ms, [1.5]);
        assert_eq!(lines, ["x"]);
        // Outside a recording nothing is kept, and nothing fails.
        dynamodb_call(Duration::from_millis(1));
    }
}
