//! Panics on an event that asks for it: for bench/run.sh to check what a panic in a handler
//! does under each panic strategy (the Runtime API sees an invocation error and the
//! process lives on, or the process dies).

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        if event.payload.get("panic") == Some(&Value::Bool(true)) {
            panic!("asked to panic");
        }
        Ok::<Value, std::convert::Infallible>(json!({"statusCode": 200}))
    }))
    .await
}
