//! The flow tests (`tests/flows`) on the in-memory store: the first tier, which plain
//! `cargo test` runs with no DynamoDB and no Python on the machine.

mod common;
#[macro_use]
mod flows;

use oauth_token_service::store::memory::MemoryStore;

all_flows!(MemoryStore);
