//! The flow tests (`tests/flows`) again, on DynamoDB through moto on loopback: the second
//! tier (feature `dynamodb-tests`; `make test` runs it).

mod common;
#[macro_use]
mod flows;

use oauth_token_service::store::dynamodb::DynamoStore;

all_flows!(DynamoStore);
