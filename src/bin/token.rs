//! The token function: builds everything once, then answers `POST /oauth` events.

use lambda_runtime::{LambdaEvent, service_fn};
use oauth_token_service::config::Config;
use oauth_token_service::http::App;
use oauth_token_service::keys::JwtKeys;
use oauth_token_service::kms::KmsUnseal;
use oauth_token_service::oauth::{Issuer, system_clock_ms};
use oauth_token_service::store::dynamodb::{DynamoStore, Table};
use oauth_token_service::{aws, logging};
use ring::rand::SystemRandom;
use serde_json::Value;
use std::time::Duration;

/// Kept back from the invocation's deadline to log and send the answer.
const ANSWER_MARGIN: Duration = Duration::from_millis(500);

/// Time until `deadline` (epoch milliseconds, from the Runtime API).
fn time_left(deadline_ms: u64) -> Duration {
    Duration::from_millis(deadline_ms.saturating_sub(system_clock_ms()))
}

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
    let (client, kms) = aws::clients(config.dynamodb_timeout).await;
    let store = DynamoStore::new(client, &config.clients_table, &config.tokens_table);
    // Signing keys for JWT clients, unsealed by KMS on first use (once per key).
    let jwt_keys = JwtKeys::new(Some(Box::new(KmsUnseal::new(kms))));
    // Credentials, endpoint and a pooled connection now, not in the first invocation.
    store.warm_up(Table::Clients, config.dynamodb_timeout).await;
    let rng = SystemRandom::new();
    let app = App {
        issuer: Issuer {
            store: &store,
            policy: &config.policy,
            rng: &rng,
            clock: system_clock_ms,
            jwt: Some(&jwt_keys),
        },
        public_url: config.issuer.as_deref(),
    };
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // No budget without a deadline in the future (an emulator that sends none).
        let budget = Some(time_left(event.context.deadline))
            .filter(|left| *left > ANSWER_MARGIN)
            .map(|left| left - ANSWER_MARGIN);
        Ok::<Value, std::convert::Infallible>(app.handle_event_within(&event.payload, budget).await)
    }))
    .await
}
