//! The token function's init, step by step: logs the wall and CPU time each step of
//! src/bin/token.rs's start-up takes (to stderr, one JSON line), then serves like it.

use lambda_runtime::{LambdaEvent, service_fn};
use oauth_token_service::config::Config;
use oauth_token_service::http::App;
use oauth_token_service::oauth::{Issuer, system_clock_ms};
use oauth_token_service::store::dynamodb::{DynamoStore, attr};
use oauth_token_service::{aws, logging};
use ring::rand::SystemRandom;
use serde_json::Value;
use std::time::Instant;

/// CPU time of this thread so far, in µs (the runtime is single-threaded).
fn cpu_us() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |ns| ns / 1000)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let started = Instant::now();
    let mut steps = Vec::new();
    let mut mark = |name: &str| {
        steps.push(format!(
            "\"{name}\":[{},{}]",
            started.elapsed().as_micros(),
            cpu_us()
        ))
    };
    mark("main");
    logging::init();
    mark("logging");
    let config = Config::from_env()?;
    mark("config");
    let sdk_config = aws::config_loader(config.dynamodb_timeout).load().await;
    mark("sdk_config");
    let client = aws_sdk_dynamodb::Client::new(&sdk_config);
    mark("sdk_client");
    aws::warm_up(
        &client,
        &config.clients_table,
        attr::CLIENT_ID,
        config.dynamodb_timeout,
    )
    .await;
    mark("warm_up");
    let store = DynamoStore::new(client, &config.clients_table, &config.tokens_table);
    let rng = SystemRandom::new();
    mark("store");
    eprintln!("{{{}}}", steps.join(","));
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
