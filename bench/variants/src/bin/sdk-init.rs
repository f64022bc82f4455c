//! Times the SDK's start-up in a fresh process, one way per run (argument): `default`
//! (aws::config_loader as committed: the default credentials and region chains) or `env`
//! (credentials and region from the environment only, as Lambda provides them). Prints
//! the wall µs of loading the configuration and of building the client.

use aws_config::Region;
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use oauth_token_service::aws;
use std::time::{Duration, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let started = Instant::now();
    let mut loader = aws::config_loader(Duration::from_millis(1500));
    if mode == "env" {
        let region = std::env::var("AWS_REGION").unwrap_or_default();
        loader = loader
            .region(Region::new(region))
            .credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    let config = loader.load().await;
    let loaded = started.elapsed();
    let client = aws_sdk_dynamodb::Client::new(&config);
    let built = started.elapsed();
    std::hint::black_box(client);
    println!("{mode} {} {}", loaded.as_micros(), built.as_micros());
}
