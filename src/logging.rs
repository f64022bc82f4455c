//! Structured logs: one JSON object per line, the event's fields at the top level and the
//! request span's under `span`, so CloudWatch Logs Insights can filter on `status`,
//! `outcome` or `span.client_id` directly.
//!
//! Whatever level is asked for, a few libraries' wire-level TRACE events stay off: they
//! print whole requests and responses, and those hold what must never reach a log
//! (PROTOCOL §8.4): the Lambda event (client secrets, tokens to revoke or refresh) and
//! DynamoDB's answers (secret hashes). `tests/logs.rs` checks this with every flow at TRACE.

use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, registry};

/// Log targets whose TRACE events print payloads, capped at DEBUG:
/// - `lambda_runtime::layers::api_response`: "raw JSON event received from Lambda", the
///   whole event, body and Authorization header included;
/// - `aws_smithy_runtime::client::orchestrator`: "transmitting request", "received response
///   from service" and the deserialized output (a GetItem answer carries `secret_hashes`);
/// - `aws_sigv4`: "signing request", the request about to be signed, body included.
pub const PAYLOAD_TARGETS: [&str; 3] = [
    "lambda_runtime::layers::api_response",
    "aws_smithy_runtime::client::orchestrator",
    "aws_sigv4",
];

/// The filter directive from the environment: `RUST_LOG` when set (a full directive such as
/// `info,aws_smithy_runtime=debug`), else `LOG_LEVEL` (`info` by default), else Lambda's own
/// `AWS_LAMBDA_LOG_LEVEL`.
pub fn directive_from_env() -> String {
    ["RUST_LOG", "LOG_LEVEL", "AWS_LAMBDA_LOG_LEVEL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "info".to_owned())
        .to_ascii_lowercase()
}

/// The service's subscriber writing JSON lines to `writer`, filtered by `directive` (an
/// unreadable directive means `info`) and with [`PAYLOAD_TARGETS`] capped at DEBUG.
pub fn subscriber<W>(writer: W, directive: &str) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let asked = EnvFilter::try_new(directive).unwrap_or_else(|_| EnvFilter::new("info"));
    let caps = PAYLOAD_TARGETS.iter().fold(
        Targets::new().with_default(LevelFilter::TRACE),
        |t, target| t.with_target(*target, LevelFilter::DEBUG),
    );
    let json = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        // The innermost span's fields, as "span": the request id of src/http.rs's span,
        // or lambda_runtime's own for its lines.
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .without_time()
        .with_writer(writer)
        .with_filter(asked.and(caps));
    registry().with(json)
}

/// Installs the subscriber for the process, writing to standard output (CloudWatch Logs).
pub fn init() {
    let _ =
        tracing::subscriber::set_global_default(subscriber(std::io::stdout, &directive_from_env()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).write(b)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn capture(directive: &str, f: impl FnOnce()) -> String {
        let buf = Buffer::default();
        let out = buf.clone();
        tracing::subscriber::with_default(subscriber(move || buf.clone(), directive), f);
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn payload_targets_stay_below_trace_whatever_is_asked() {
        for directive in ["trace", "aws_smithy_runtime=trace,lambda_runtime=trace"] {
            let out = capture(directive, || {
                tracing::trace!(target: "aws_smithy_runtime::client::orchestrator::http", "SECRET-BODY");
                tracing::trace!(target: "lambda_runtime::layers::api_response", "SECRET-EVENT");
                tracing::trace!(target: "aws_sigv4::http_request::sign", "SECRET-REQUEST");
                tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", "kept");
                tracing::trace!(target: "aws_smithy_runtime::client::retries", "kept too");
            });
            assert!(!out.contains("SECRET"), "{out}");
            assert!(out.contains("kept") && out.contains("kept too"), "{out}");
        }
    }

    #[test]
    fn lines_are_json_with_fields_at_the_top_level() {
        let out = capture("info", || {
            tracing::info!(request_id = "r1", status = 200, "request");
            tracing::debug!("not at info");
        });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1, "{out}");
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["request_id"], "r1");
        assert_eq!(v["status"], 200);
        assert_eq!(v["message"], "request");
    }

    #[test]
    fn an_unreadable_directive_means_info() {
        let out = capture("=%=", || {
            tracing::info!("shown");
            tracing::debug!("hidden");
        });
        assert!(out.contains("shown") && !out.contains("hidden"), "{out}");
    }
}
