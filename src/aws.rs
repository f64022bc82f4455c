//! The AWS SDK client, built once at start-up: rustls on ring as the one TLS and crypto
//! stack, and timeouts that bound every DynamoDB call (CONTRACT §7).

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use std::time::Duration;

/// Loads the SDK configuration (region, credentials, `AWS_ENDPOINT_URL_DYNAMODB`) and builds
/// a DynamoDB client whose operations, retries included, end within `timeout`.
pub async fn dynamodb_client(timeout: Duration) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&config_loader(timeout).load().await)
}

/// The SDK configuration loader with this service's HTTP client, timeouts and retries;
/// callers may set more (an endpoint, a region, credentials) before loading.
pub fn config_loader(timeout: Duration) -> aws_config::ConfigLoader {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(timeout.min(Duration::from_millis(500)))
        .operation_attempt_timeout(timeout.mul_f32(0.6))
        .operation_timeout(timeout)
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts)
        .retry_config(RetryConfig::standard().with_max_attempts(3))
}
