//! The AWS SDK client, built once at start-up: rustls on ring as the one TLS and crypto
//! stack, timeouts that bound every DynamoDB call (PROTOCOL §7.3), and a warm-up request so
//! that the first invocation does not pay for what init can do.

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use std::time::{Duration, Instant};

/// Loads the SDK configuration (region, credentials, `AWS_ENDPOINT_URL_DYNAMODB`) and builds
/// a DynamoDB client whose operations, retries included, end within `timeout`.
pub async fn dynamodb_client(timeout: Duration) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&config_loader(timeout).load().await)
}

/// A DynamoDB client and a KMS client from one loaded configuration (the standard
/// variables, `AWS_ENDPOINT_URL` locally), both bounded by `timeout`. Building the KMS
/// client costs no request.
pub async fn clients(timeout: Duration) -> (aws_sdk_dynamodb::Client, aws_sdk_kms::Client) {
    let config = config_loader(timeout).load().await;
    (
        aws_sdk_dynamodb::Client::new(&config),
        aws_sdk_kms::Client::new(&config),
    )
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

/// A key no item has: client ids and token hashes never contain `#`.
const WARM_UP_KEY: &str = "#warm-up";

/// One cheap request at init, a GetItem of a key no item has (so it needs only the
/// GetItem permission each function already has), so that the first invocation finds the
/// credentials resolved, the endpoint resolved and a connection, TLS handshake done, in
/// the pool. Bounded by `limit`; a failure is logged and otherwise ignored: DynamoDB being
/// unreachable at init must not fail init (each request then answers for itself).
pub async fn warm_up(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key_attribute: &str,
    limit: Duration,
) {
    let started = Instant::now();
    let request = client
        .get_item()
        .table_name(table)
        .key(key_attribute, AttributeValue::S(WARM_UP_KEY.to_owned()))
        .send();
    let outcome = match tokio::time::timeout(limit, request).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(crate::store::dynamodb::error_detail("GetItem", &e)),
        Err(_) => Err(format!("no answer within {} ms", limit.as_millis())),
    };
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match outcome {
        Ok(()) => tracing::info!(table, elapsed_ms, "DynamoDB warm-up"),
        Err(detail) => {
            tracing::warn!(table, elapsed_ms, %detail, "DynamoDB warm-up failed; init goes on")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::Region;
    use aws_sdk_dynamodb::config::Credentials;
    use std::net::TcpListener;

    async fn client_for(endpoint: &str, timeout: Duration) -> aws_sdk_dynamodb::Client {
        let config = config_loader(timeout)
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .load()
            .await;
        aws_sdk_dynamodb::Client::new(&config)
    }

    #[tokio::test]
    async fn warm_up_returns_when_nothing_listens() {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port(); // the listener is dropped: connections are refused
        let client = client_for(&format!("http://127.0.0.1:{port}"), Duration::from_secs(1)).await;
        let started = Instant::now();
        warm_up(&client, "t", "k", Duration::from_secs(1)).await;
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn warm_up_gives_up_on_a_server_that_never_answers() {
        // Accepts connections (the kernel's backlog) but never reads or answers.
        let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = silent.local_addr().expect("addr").port();
        let client = client_for(&format!("http://127.0.0.1:{port}"), Duration::from_secs(30)).await;
        let started = Instant::now();
        warm_up(&client, "t", "k", Duration::from_millis(200)).await;
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
