//! The token function: builds everything once, then answers `POST /oauth` events.

use lambda_runtime::{LambdaEvent, service_fn};
use oauth_token_service::config::Config;
use oauth_token_service::http::App;
use oauth_token_service::keys::JwtKeys;
use oauth_token_service::oauth::{ClientCache, Issuer, system_clock_ms};
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
    let mut init = bench::Init::start();
    logging::init();
    init.mark("logging");
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(variable = e.variable, "{e}");
            return Err(e.into());
        }
    };
    init.mark("config");
    let sdk = aws::sdk_config(config.dynamodb_timeout).await;
    init.mark("sdk");
    let store = DynamoStore::from_sdk_config(&sdk, &config.clients_table, &config.tokens_table);
    // Signing keys for JWT clients, unsealed by KMS on first use (once per key).
    let jwt_keys = JwtKeys::new(Some(Box::new(aws::kms_unseal(sdk))));
    init.mark("store");
    // Credentials, endpoint and a pooled connection now, not in the first invocation.
    if !init.lazy() {
        store.warm_up(Table::Clients, config.dynamodb_timeout).await;
        init.mark("warm_up");
    }
    let rng = SystemRandom::new();
    let clients = ClientCache::new(config.client_cache_seconds);
    init.mark("rng");
    if !aws::bench::undo("prefault") {
        prefault();
    }
    init.mark("prefault");
    init.done();
    let app = App {
        issuer: Issuer {
            store: &store,
            policy: &config.policy,
            rng: &rng,
            clock: system_clock_ms,
            jwt: Some(&jwt_keys),
            clients: clients.is_on().then_some(&clients),
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

/// Touches, during init, the stack and heap pages that a request grows into, so that the
/// first invocation does not fault each one in (about 30 pages, most of its excess over a
/// warm one's page faults). The heap block is freed at once but stays mapped: it is below
/// the allocator's trim threshold. About 0.2 MiB of RSS.
#[inline(never)]
fn prefault() {
    let mut stack = [1u8; 128 * 1024];
    std::hint::black_box(&mut stack);
    let heap = vec![1u8; 96 * 1024];
    std::hint::black_box(&heap);
}

/// What the benchmarks (bench/run.sh) measure of this start-up, in builds with the
/// `bench-variants` feature, chosen by `OAUTH_BENCH_INIT`: `phases` writes the wall and
/// CPU µs since `main` at the end of each step, as one JSON line on stderr before the first
/// invocation; `lazy` skips the warm-up (the start-up before it was tuned). Without the
/// feature every call is empty and the function is the one that ships.
#[cfg(feature = "bench-variants")]
mod bench {
    use std::time::Instant;

    pub struct Init {
        started: Instant,
        steps: Vec<String>,
        phases: bool,
        lazy: bool,
    }

    impl Init {
        pub fn start() -> Self {
            let mode = std::env::var("OAUTH_BENCH_INIT").unwrap_or_default();
            let mut init = Init {
                started: Instant::now(),
                steps: Vec::new(),
                phases: mode == "phases",
                lazy: mode == "lazy",
            };
            init.mark("main");
            init
        }

        pub fn lazy(&self) -> bool {
            self.lazy
        }

        pub fn mark(&mut self, step: &str) {
            if self.phases {
                let wall = self.started.elapsed().as_micros();
                self.steps.push(format!("\"{step}\":[{wall},{}]", cpu_us()));
            }
        }

        pub fn done(&mut self) {
            if self.phases {
                eprintln!("{{{}}}", self.steps.join(","));
            }
        }
    }

    /// CPU time of this thread so far, in µs (the runtime is single-threaded).
    fn cpu_us() -> u64 {
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |ns| ns / 1000)
    }
}

#[cfg(not(feature = "bench-variants"))]
mod bench {
    pub struct Init;

    impl Init {
        pub fn start() -> Self {
            Init
        }
        pub fn lazy(&self) -> bool {
            false
        }
        pub fn mark(&mut self, _step: &str) {}
        pub fn done(&mut self) {}
    }
}
