//! Who runs `oauth-admin`, for its audit trail: the caller's AWS identity (STS
//! GetCallerIdentity, which needs no permission), else the local user. Only the tool asks:
//! `aws-sdk-sts` is a dependency of the `admin` feature alone.

use super::audit::Actor;
use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use std::time::Duration;

/// How long the tool waits for STS before it names the local user instead: a machine with
/// no AWS credentials or no route to STS should not hold every command up.
pub const STS_TIMEOUT: Duration = Duration::from_secs(3);

/// The caller's ARN from STS, else the local user (`$USER`, `$LOGNAME`, else `unknown`).
pub async fn caller(config: &SdkConfig) -> Actor {
    match caller_arn(config).await {
        Some(arn) => Actor::aws(&arn),
        None => Actor::local_from_env(),
    }
}

/// The ARN STS answers, or `None` when it cannot be had (no credentials, no answer).
pub async fn caller_arn(config: &SdkConfig) -> Option<String> {
    let sts = aws_sdk_sts::config::Builder::from(config)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(STS_TIMEOUT.min(Duration::from_secs(1)))
                .operation_timeout(STS_TIMEOUT)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .build();
    let request = aws_sdk_sts::Client::from_conf(sts)
        .get_caller_identity()
        .send();
    // The SDK's own timeout does not cover credential resolution: bound the whole call.
    match tokio::time::timeout(STS_TIMEOUT, request).await {
        Ok(Ok(out)) => out.arn().filter(|a| !a.is_empty()).map(str::to_owned),
        _ => None,
    }
}
