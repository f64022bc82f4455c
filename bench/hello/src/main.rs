//! Hello world: answers every event with a fixed proxy response. The benchmark's floor.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<Value, std::convert::Infallible>(json!({
            "statusCode": 200,
            "headers": {"Content-Type": "application/json"},
            "body": "{\"hello\":\"world\"}",
            "isBase64Encoded": false,
        }))
    }))
    .await
}
