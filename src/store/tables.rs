//! Creates the two tables as the service expects them, for the admin tool, the local dev
//! server and the tests. Safe to run again: it creates only what is missing.

use super::dynamodb::{DynamoStore, attr, error_detail};
use super::{StoreError, StoreResult};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{BuildError, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use std::time::Duration;

/// A failed call, as operation, error code and message only.
fn err<E: ProvideErrorMetadata>(op: &str, e: SdkError<E, HttpResponse>) -> StoreError {
    StoreError::Internal(error_detail(op, &e))
}

fn build_err(what: &str, e: BuildError) -> StoreError {
    StoreError::Internal(format!("{what}: {e}"))
}

fn key(name: &str, kind: KeyType) -> StoreResult<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| build_err("KeySchemaElement", e))
}

fn string_attr(name: &str) -> StoreResult<AttributeDefinition> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| build_err("AttributeDefinition", e))
}

/// What `create_tables` did, for the admin tool to report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TablesReport {
    pub created: Vec<String>,
    pub ttl_enabled: bool,
}

/// Creates the clients and tokens tables (on-demand billing) when missing, and enables TTL
/// on the tokens table's `expires_at` unless DescribeTimeToLive says it is on already
/// (a second UpdateTimeToLive fails on DynamoDB).
pub async fn create_tables(store: &DynamoStore) -> StoreResult<TablesReport> {
    let mut report = TablesReport::default();
    let client = store.client();
    let existing = list_tables(store).await?;

    if !existing.iter().any(|t| t == store.clients_table()) {
        client
            .create_table()
            .table_name(store.clients_table())
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(string_attr(attr::CLIENT_ID)?)
            .key_schema(key(attr::CLIENT_ID, KeyType::Hash)?)
            .send()
            .await
            .map_err(|e| err("CreateTable", e))?;
        report.created.push(store.clients_table().to_owned());
    }
    if !existing.iter().any(|t| t == store.tokens_table()) {
        client
            .create_table()
            .table_name(store.tokens_table())
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(string_attr(attr::TOKEN_HASH)?)
            .key_schema(key(attr::TOKEN_HASH, KeyType::Hash)?)
            .send()
            .await
            .map_err(|e| err("CreateTable", e))?;
        report.created.push(store.tokens_table().to_owned());
    }
    for table in [store.clients_table(), store.tokens_table()] {
        wait_active(store, table).await?;
    }

    let ttl = client
        .describe_time_to_live()
        .table_name(store.tokens_table())
        .send()
        .await
        .map_err(|e| err("DescribeTimeToLive", e))?;
    let status = ttl
        .time_to_live_description()
        .and_then(|d| d.time_to_live_status());
    if !matches!(
        status,
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    ) {
        client
            .update_time_to_live()
            .table_name(store.tokens_table())
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attr::EXPIRES_AT)
                    .enabled(true)
                    .build()
                    .map_err(|e| build_err("TimeToLiveSpecification", e))?,
            )
            .send()
            .await
            .map_err(|e| err("UpdateTimeToLive", e))?;
        report.ttl_enabled = true;
    }
    Ok(report)
}

async fn list_tables(store: &DynamoStore) -> StoreResult<Vec<String>> {
    let mut names = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let out = store
            .client()
            .list_tables()
            .set_exclusive_start_table_name(start)
            .send()
            .await
            .map_err(|e| {
                let unavailable = e.code().is_none();
                let detail = error_detail("ListTables", &e);
                if unavailable {
                    StoreError::Unavailable(detail)
                } else {
                    StoreError::Internal(detail)
                }
            })?;
        names.extend(out.table_names().iter().cloned());
        match out.last_evaluated_table_name {
            Some(n) => start = Some(n),
            None => return Ok(names),
        }
    }
}

/// Waits (up to a minute) for a new table to become ACTIVE; emulators create them active.
async fn wait_active(store: &DynamoStore, table: &str) -> StoreResult<()> {
    for _ in 0..120 {
        let out = store
            .client()
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| err("DescribeTable", e))?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(StoreError::Internal(format!(
        "table {table} did not become ACTIVE"
    )))
}
