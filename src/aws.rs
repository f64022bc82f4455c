//! The AWS SDK client, built once at start-up: rustls on ring as the one TLS and crypto
//! stack, timeouts that bound every DynamoDB call (PROTOCOL §7.3), and a warm-up request so
//! that the first invocation does not pay for what init can do.
//!
//! Start-up is kept short (BENCHMARKS.md, "Init"): where Lambda's environment gives the
//! credentials and the Region, they are taken from it directly instead of through the SDK's
//! default chains; and the certificate authorities trusted are compiled in (Amazon's five roots),
//! not read from the system's bundle at start-up; and the TLS connector is built once, at
//! the first request, not also each time a service client is constructed.

use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::time::{Duration, Instant};

/// The SDK configuration (region, credentials, `AWS_ENDPOINT_URL_DYNAMODB` or
/// `AWS_ENDPOINT_URL` locally), its operations, retries included, bounded by `timeout`:
/// what the functions build their clients from.
pub async fn sdk_config(timeout: Duration) -> aws_config::SdkConfig {
    config_loader(timeout).load().await
}

/// The key service's (KMS) unsealing over `config`, its client built at the first unseal
/// (`KmsUnseal::on_first_use`).
pub fn kms_unseal(config: aws_config::SdkConfig) -> crate::kms::KmsUnseal {
    if bench::undo("eager-kms") {
        crate::kms::KmsUnseal::new(aws_sdk_kms::Client::new(&config))
    } else {
        crate::kms::KmsUnseal::on_first_use(config)
    }
}

/// The SDK configuration loader with this service's HTTP client, timeouts and retries, and,
/// when the environment holds them (as Lambda's always does), its credentials and Region;
/// callers may set more (an endpoint, a region, credentials) before loading.
///
/// Credentials and Region from the environment: Lambda sets `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` and `AWS_REGION` for the function's role and
/// Region, and the default chains would find exactly these first; taking them directly skips
/// building the chains' other providers (profile files, SSO, web identity with its own STS
/// client, the instance metadata service). Without them (the admin tool, a developer's
/// profile or SSO) the default chains apply as before.
///
/// No stalled-stream protection: every response here is a small JSON document read at
/// once, and the operation timeouts above already bound a stalled one; the protection
/// would time every body's throughput on every request.
pub fn config_loader(timeout: Duration) -> aws_config::ConfigLoader {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls_context())
        .build_https();
    let http = if bench::undo("eager-connector") {
        http
    } else {
        SharedHttpClient::new(ConnectorOnFirstRequest(http))
    };
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(timeout.min(Duration::from_millis(500)))
        .operation_attempt_timeout(timeout.mul_f32(0.6))
        .operation_timeout(timeout)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts)
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    if !bench::undo("stalled-stream") {
        loader = loader.stalled_stream_protection(StalledStreamProtectionConfig::disabled());
    }
    if bench::undo("default-chains") {
        return loader;
    }
    let env = |name: &str| std::env::var(name).ok();
    if let Some(credentials) = env_credentials(env) {
        loader = loader.credentials_provider(credentials);
    }
    if let Some(region) = env_region(env) {
        loader = loader.region(region);
    }
    loader
}

/// The SDK's HTTP client, less the TLS connector it builds and drops each time a service
/// client is constructed. That build (`validate_base_client_config`, a rustls
/// configuration, its trust store parsed) is there so that a system trust store is read
/// when a client is constructed rather than at its first request; the connector a request
/// uses is built at that first request all the same, and kept. With a DynamoDB and a key
/// service client, start-up built three connectors and used one; now it builds one, at
/// the first request (in the token function, the warm-up at init). What it trades: an
/// unreadable system trust store (outside Lambda) shows at the first request instead of at
/// construction, where nothing reported it either.
#[derive(Debug)]
struct ConnectorOnFirstRequest(SharedHttpClient);

impl HttpClient for ConnectorOnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_final_config(components, cfg)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// Credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`
/// (optional), when the first two are set and not empty.
fn env_credentials(get: impl Fn(&str) -> Option<String>) -> Option<Credentials> {
    let get = |name: &str| get(name).filter(|v| !v.is_empty());
    let key = get("AWS_ACCESS_KEY_ID")?;
    let secret = get("AWS_SECRET_ACCESS_KEY")?;
    Some(Credentials::new(
        key,
        secret,
        get("AWS_SESSION_TOKEN"),
        None,
        "Environment",
    ))
}

/// The Region from `AWS_REGION`, else `AWS_DEFAULT_REGION` (the default chain's order).
fn env_region(get: impl Fn(&str) -> Option<String>) -> Option<Region> {
    let get = |name: &str| get(name).filter(|v| !v.is_empty());
    get("AWS_REGION")
        .or_else(|| get("AWS_DEFAULT_REGION"))
        .map(Region::new)
}

/// The certificate authorities trusted for AWS endpoints. In Lambda
/// (`AWS_LAMBDA_FUNCTION_NAME` set): Amazon Trust Services' roots (Amazon Root CA 1 to 4,
/// and Starfield Services Root Certificate Authority - G2, which cross-signs them),
/// compiled into this binary (`aws-roots.pem`, copied from Mozilla's root set as
/// webpki-root-certs carries it; a test checks that they are still there), so that
/// start-up reads no file and parses five certificates rather than the system's hundred
/// and more: every AWS endpoint's certificate chains to one of these, and the system's
/// trust store is not consulted. Elsewhere (the admin tool on an operator's machine,
/// perhaps behind a TLS-inspecting proxy): the system's trust store, as before. Either
/// way, when `AWS_CA_BUNDLE` names a PEM file, the certificates in it are trusted too (a
/// local endpoint with its own CA, a proxy's CA).
fn tls_context() -> TlsContext {
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some_and(|v| !v.is_empty());
    if bench::undo("native-roots") || !in_lambda {
        // The system's trust store, read at the first connection.
        return TlsContext::builder()
            .with_trust_store(with_ca_bundle(TrustStore::default()))
            .build()
            .expect("a TLS context with a trust store only");
    }
    let store = with_ca_bundle(TrustStore::empty().with_pem_certificate(AWS_ROOTS_PEM));
    TlsContext::builder()
        .with_trust_store(store)
        .build()
        .expect("a TLS context with a trust store only")
}

/// `store` plus the certificates of the PEM file `AWS_CA_BUNDLE` names, if any.
fn with_ca_bundle(mut store: TrustStore) -> TrustStore {
    if let Some(path) = std::env::var_os("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) {
        // Checked here: the TLS stack would panic on an unreadable PEM at the first request.
        let extra = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|pem| {
                match CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>() {
                    Ok(certs) if !certs.is_empty() => Ok(pem),
                    Ok(_) => Err("no certificate in it".to_owned()),
                    Err(e) => Err(e.to_string()),
                }
            });
        match extra {
            Ok(pem) => store = store.with_pem_certificate(pem),
            Err(error) => {
                let path = path.to_string_lossy();
                tracing::warn!(%path, %error, "AWS_CA_BUNDLE ignored");
            }
        }
    }
    store
}

/// Amazon Trust Services' root certificates, PEM (see `tls_context`).
const AWS_ROOTS_PEM: &[u8] = include_bytes!("aws-roots.pem");

/// What the benchmarks (bench/run.sh) compare, in builds with the `bench-variants` feature
/// only: `OAUTH_BENCH_UNDO`, a comma-separated list of `default-chains` (the SDK's default
/// credentials and Region chains), `native-roots` (the system's trust store),
/// `stalled-stream` (the SDK's stalled-stream protection), `eager-connector` (a TLS
/// connector built with each service client), `eager-kms` (the KMS client built at
/// start-up) and `prefault` (the token function's stack and heap pages left to the first
/// invocation), puts back the start-up as it was before each change, so that one run
/// measures what each bought. Without the feature, nothing is undone.
pub mod bench {
    #[cfg(feature = "bench-variants")]
    pub fn undo(change: &str) -> bool {
        std::env::var("OAUTH_BENCH_UNDO").is_ok_and(|v| v.split(',').any(|c| c.trim() == change))
    }

    #[cfg(not(feature = "bench-variants"))]
    pub fn undo(_change: &str) -> bool {
        false
    }
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

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn credentials_come_from_lambdas_variables() {
        let c = env_credentials(vars(&[
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "session"),
        ]))
        .expect("credentials");
        assert_eq!(c.access_key_id(), "ASIAEXAMPLE");
        assert_eq!(c.secret_access_key(), "secret");
        assert_eq!(c.session_token(), Some("session"));
        assert_eq!(c.expiry(), None);
        let c = env_credentials(vars(&[
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", ""),
        ]))
        .expect("credentials without a session token");
        assert_eq!(c.session_token(), None);
    }

    #[test]
    fn without_both_keys_the_default_chain_is_left_to_find_credentials() {
        assert!(env_credentials(vars(&[])).is_none());
        assert!(env_credentials(vars(&[("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")])).is_none());
        assert!(env_credentials(vars(&[("AWS_SECRET_ACCESS_KEY", "secret")])).is_none());
        let empty = [
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ];
        assert!(env_credentials(vars(&empty)).is_none());
    }

    #[test]
    fn region_is_aws_region_then_aws_default_region() {
        let both = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-2"),
        ];
        assert_eq!(env_region(vars(&both)), Some(Region::new("eu-west-1")));
        let default = [("AWS_REGION", ""), ("AWS_DEFAULT_REGION", "us-east-2")];
        assert_eq!(env_region(vars(&default)), Some(Region::new("us-east-2")));
        assert_eq!(env_region(vars(&[])), None);
    }

    #[test]
    fn the_compiled_in_roots_are_amazons_five_from_mozillas_set() {
        let roots = CertificateDer::pem_slice_iter(AWS_ROOTS_PEM)
            .collect::<Result<Vec<_>, _>>()
            .expect("PEM");
        assert_eq!(roots.len(), 5);
        for root in &roots {
            assert!(
                webpki_root_certs::TLS_SERVER_ROOT_CERTS.contains(root),
                "a root that Mozilla's set no longer holds"
            );
            let der: &[u8] = root.as_ref();
            let names: [&[u8]; 2] = [b"Amazon Root CA ", b"Starfield Services Root"];
            assert!(names.iter().any(|n| der.windows(n.len()).any(|w| w == *n)));
        }
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
