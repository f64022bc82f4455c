//! The authorizer function: builds the store once, then decides authorizer events.

use lambda_runtime::{LambdaEvent, service_fn};
use oauth_token_service::authorizer::decide;
use oauth_token_service::config::Config;
use oauth_token_service::keys::JwtKeys;
use oauth_token_service::store::dynamodb::{DynamoStore, Table};
use oauth_token_service::{aws, logging, metrics};
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let config = Config::from_env().inspect_err(|e| {
        tracing::error!(variable = e.variable, "{e}");
    })?;
    let sdk = aws::sdk_config(config.dynamodb_timeout).await;
    let store = DynamoStore::from_sdk_config(&sdk, &config.clients_table, &config.tokens_table);
    // Credentials, endpoint and a pooled connection now, not in the first invocation.
    store.warm_up(Table::Tokens, config.dynamodb_timeout).await;
    // Verifies JWTs with the published keys; never unseals a private key.
    let keys = JwtKeys::new(None);
    let (store, keys) = (&store, &keys);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let decision = decide(store, Some(keys), &event.payload, now).await;
        metrics::emit(&metrics::decision_line(
            decision.verdict.metric(),
            &event.context.request_id,
            oauth_token_service::oauth::system_clock_ms(),
        ));
        tracing::info!(
            request_id = %event.context.request_id,
            outcome = decision.verdict.as_str(),
            client_id = decision.principal.as_ref().map_or("", |p| p.client_id.as_str()),
            "authorize"
        );
        Ok::<Value, std::convert::Infallible>(decision.response())
    }))
    .await
}
