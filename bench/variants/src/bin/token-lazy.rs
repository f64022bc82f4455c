//! The token function as it was before start-up work moved to init (commit 3ecb4de): the
//! SDK client is built at init, but credentials, the connection pool and the SDK's lazy
//! state are left to the first invocation.

use lambda_runtime::{LambdaEvent, service_fn};
use oauth_token_service::config::Config;
use oauth_token_service::http::App;
use oauth_token_service::oauth::{Issuer, system_clock_ms};
use oauth_token_service::store::dynamodb::DynamoStore;
use oauth_token_service::{aws, logging};
use ring::rand::SystemRandom;
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(variable = e.variable, "{e}");
            return Err(e.into());
        }
    };
    let client = aws::dynamodb_client(config.dynamodb_timeout).await;
    let store = DynamoStore::new(client, &config.clients_table, &config.tokens_table);
    let rng = SystemRandom::new();
    let app = App {
        issuer: Issuer {
            store: &store,
            policy: &config.policy,
            rng: &rng,
            clock: system_clock_ms,
            jwt: None,
        },
        public_url: config.issuer.as_deref(),
    };
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<Value, std::convert::Infallible>(app.handle_event(&event.payload).await)
    }))
    .await
}
