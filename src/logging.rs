//! Structured logs: one JSON object per line, fields at the top level, so CloudWatch Logs
//! Insights can filter on `status`, `client_id` or `outcome` directly.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber. The filter comes from `RUST_LOG` when set (a full
/// directive such as `info,aws_smithy_runtime=debug`), else from `LOG_LEVEL` (`info` by
/// default), else from Lambda's own `AWS_LAMBDA_LOG_LEVEL`.
pub fn init() {
    let directive = ["RUST_LOG", "LOG_LEVEL", "AWS_LAMBDA_LOG_LEVEL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "info".to_owned())
        .to_ascii_lowercase();
    let filter = EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(true)
        .without_time()
        .with_env_filter(filter)
        .init();
}
