//! The DynamoDB store: the one place that knows table layouts and attribute names.
//!
//! - Clients table, key `client_id` (S).
//! - Tokens table, key `token_hash` (S, hex SHA-256 of the token), TTL attribute
//!   `expires_at` (N), no index: every index is paid on every token write. A refresh-token
//!   family's record lives in the same table under `family#<family>`, a key no token hash
//!   can take, and the family's refresh tokens list its live access tokens, so that
//!   revoking a family reads two items with strong consistency instead of an index that
//!   DynamoDB updates eventually.
//! - The admin tool's audit trail: items in the clients table under `audit#<id>`, a key no
//!   client id can take (see [`AUDIT_KEY_PREFIX`] for why there).

use super::*;
use crate::keys::{MAX_JWT_TTL, SigningKey};
use crate::oauth::jwt::{Claims, PublicKey};
use crate::oauth::model::TokenFormat;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, PutRequest, ReturnValue, TransactWriteItem, Update,
    WriteRequest,
};
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

/// Attribute and index names, shared with the admin tool and the tests.
pub mod attr {
    pub const CLIENT_ID: &str = "client_id";
    pub const NAME: &str = "name";
    pub const SECRET_HASHES: &str = "secret_hashes";
    pub const GRANTS: &str = "grants";
    pub const SCOPES: &str = "scopes";
    pub const DEFAULT_SCOPES: &str = "default_scopes";
    pub const ACCESS_TTL: &str = "access_ttl";
    pub const REFRESH_TTL: &str = "refresh_ttl";
    pub const DISABLED: &str = "disabled";
    pub const RESOURCE_SERVER: &str = "resource_server";
    pub const MAX_TOKENS_PER_HOUR: &str = "max_tokens_per_hour";
    /// A quota window's count of token requests.
    pub const USED: &str = "used";
    pub const TOKEN_FORMAT: &str = "token_format";
    pub const AUDIENCES: &str = "audiences";
    pub const CREATED_AT: &str = "created_at";
    pub const UPDATED_AT: &str = "updated_at";

    pub const TOKEN_HASH: &str = "token_hash";
    pub const KIND: &str = "kind";
    pub const SCOPE: &str = "scope";
    pub const ISSUED_AT: &str = "issued_at";
    pub const EXPIRES_AT: &str = "expires_at";
    pub const FAMILY: &str = "family";
    pub const USED_AT_MS: &str = "used_at_ms";
    pub const ANSWERED_AT_MS: &str = "answered_at_ms";
    pub const ANSWER_BY_MS: &str = "answer_by_ms";
    pub const PARENT: &str = "parent";
    pub const FAMILY_TOKENS: &str = "family_tokens";
    pub const REVOKED: &str = "revoked";

    /// The JWT signing keyring: one item in the tokens table.
    pub const KEYRING_KEY: &str = "keyring#signing";
    pub const VERSION: &str = "version";
    pub const KEYS: &str = "keys";
    pub const KID: &str = "kid";
    pub const N: &str = "n";
    pub const E: &str = "e";
    pub const ACTIVE_FROM: &str = "active_from";
    pub const KMS_KEY_ID: &str = "kms_key_id";
    pub const SEALED_PRIVATE: &str = "sealed_private";

    /// A revoked JWT: key `jwt#<jti>` in the tokens table, until the token expires.
    pub const JWT_KEY_PREFIX: &str = "jwt#";

    /// When a client's tokens were last revoked (disable, delete): key
    /// `revoked-client#<client>` in the tokens table, `revoked_at` in epoch seconds, kept
    /// as long as a JWT issued before it may live.
    pub const REVOKED_CLIENT_KEY_PREFIX: &str = "revoked-client#";

    /// Quota windows: key `quota#<client>#<window start>` in the tokens table.
    pub const QUOTA_KEY_PREFIX: &str = "quota#";

    /// Family records: key `family#<family>` in the tokens table.
    pub const FAMILY_KEY_PREFIX: &str = "family#";
    pub const REVOKED_AT: &str = "revoked_at";
    pub const CURRENT_REFRESH: &str = "current_refresh";
}

/// Reports each DynamoDB operation's duration, retries included, to the request's metrics
/// (`DynamoDbLatency`). The start is kept in the operation's own config bag, so that
/// operations running side by side (a family's sweep) are timed apart.
#[derive(Debug)]
struct OperationTimer;

#[derive(Debug, Clone)]
struct OperationStarted(std::time::Instant);

impl aws_smithy_types::config_bag::Storable for OperationStarted {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl Intercept for OperationTimer {
    fn name(&self) -> &'static str {
        "OperationTimer"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(OperationStarted(std::time::Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(started) = cfg.load::<OperationStarted>() {
            crate::metrics::dynamodb_call(started.0.elapsed());
        }
        Ok(())
    }
}

/// The tokens-table key of a client's quota window (no hash contains `#`).
fn quota_key(client_id: &str, window_start: u64) -> String {
    format!("{}{client_id}#{window_start}", attr::QUOTA_KEY_PREFIX)
}

/// The tokens-table key of a family's record.
fn family_key(family: &str) -> String {
    format!("{}{family}", attr::FAMILY_KEY_PREFIX)
}

/// How many of a family's tokens are revoked at once.
const SWEEP_CONCURRENCY: usize = 16;

/// Error codes DynamoDB answers when it is overloaded or briefly failing.
const TRANSIENT_CODES: &[&str] = &[
    // KMS (`crate::kms`), sorted by the same rules.
    "KMSInternalException",
    "DependencyTimeoutException",
    "KeyUnavailableException",
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
    "TransactionConflictException",
];

/// How often a write that met a concurrent transaction on its item is tried again.
const CONFLICT_ATTEMPTS: u32 = 5;

/// Whether a plain write was refused because a transaction held its item.
fn is_conflict<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    err.code() == Some("TransactionConflictException")
}

/// A short pause before trying again after a conflict, longer each time.
async fn conflict_pause(attempt: u32) {
    tokio::time::sleep(std::time::Duration::from_millis(
        10 * u64::from(attempt + 1),
    ))
    .await;
}

/// Sorts an SDK error into unavailable (answer `temporarily_unavailable`) or internal. The
/// detail names the operation, DynamoDB's error code and its message, and nothing else: a
/// full rendering of an SDK error can carry the raw response body, which can hold items.
pub(crate) fn classify<E>(op: &str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let transient = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(ctx) => {
            err.code().is_some_and(|c| TRANSIENT_CODES.contains(&c))
                || ctx.raw().status().as_u16() >= 500
        }
        _ => false,
    };
    let detail = error_detail(op, &err);
    if transient {
        StoreError::Unavailable(detail)
    } else {
        StoreError::Internal(detail)
    }
}

/// `operation: code: message` for a service error, `operation: kind` otherwise.
pub(crate) fn error_detail<E>(op: &str, err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata,
{
    let kind = match err {
        SdkError::ConstructionFailure(_) => "request construction failed",
        SdkError::TimeoutError(_) => "timed out",
        SdkError::DispatchFailure(_) => "could not send the request",
        SdkError::ResponseError(_) => "unreadable response",
        SdkError::ServiceError(_) => "service error",
        _ => "error",
    };
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{op}: {code}: {message}"),
        (Some(code), None) => format!("{op}: {code}"),
        _ => format!("{op}: {kind}"),
    }
}

/// A conditional write's outcome: `Ok(true)` when written, `Ok(false)` when its condition
/// failed, and any other failure sorted by `classify`.
fn written<O, E>(op: &str, result: Result<O, SdkError<E, HttpResponse>>) -> StoreResult<bool>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
        Err(e) => Err(classify(op, e)),
    }
}

fn build_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("request construction: {e}"))
}

/// The service's two tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Clients,
    Tokens,
}

/// The DynamoDB-backed store. Cheap to clone: the SDK client is shared.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    /// The same client with the SDK's retries off, for the writes that must never be sent
    /// twice blindly (`batch_put_tokens`). Built once here rather than by a per-request
    /// `config_override`, which would rebuild the operation's configuration on every call.
    client_once: Client,
    clients_table: String,
    tokens_table: String,
}

impl DynamoStore {
    /// A store over `client`, each of whose operations reports its duration to the
    /// request's metrics ([`crate::metrics`]).
    pub fn new(client: Client, clients_table: &str, tokens_table: &str) -> Self {
        Self::from_builder(client.config().to_builder(), clients_table, tokens_table)
    }

    /// A store over clients built from the loaded SDK configuration, as [`DynamoStore::new`]
    /// builds them from a client's: the functions' start-up, which so constructs two
    /// DynamoDB clients rather than three.
    pub fn from_sdk_config(
        config: &aws_config::SdkConfig,
        clients_table: &str,
        tokens_table: &str,
    ) -> Self {
        let builder = aws_sdk_dynamodb::config::Builder::from(config);
        Self::from_builder(builder, clients_table, tokens_table)
    }

    fn from_builder(
        builder: aws_sdk_dynamodb::config::Builder,
        clients_table: &str,
        tokens_table: &str,
    ) -> Self {
        let timed = builder.interceptor(OperationTimer);
        let client_once = Client::from_conf(
            timed
                .clone()
                .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
                .build(),
        );
        let client = Client::from_conf(timed.build());
        DynamoStore {
            client,
            client_once,
            clients_table: clients_table.to_owned(),
            tokens_table: tokens_table.to_owned(),
        }
    }

    /// The SDK client, for the table set-up beside this module (`store::tables`).
    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    pub fn clients_table(&self) -> &str {
        &self.clients_table
    }

    pub fn tokens_table(&self) -> &str {
        &self.tokens_table
    }

    fn put(&self, token: &TokenRecord) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&self.tokens_table)
            .set_item(Some(token_item(token)))
            .condition_expression("attribute_not_exists(token_hash)")
            .build()
            .map_err(build_error)
    }

    /// One cheap read of `table` at init (see `aws::warm_up`), so that the first request
    /// finds credentials resolved and a connection open.
    pub async fn warm_up(&self, table: Table, limit: std::time::Duration) {
        let (name, key) = match table {
            Table::Clients => (&self.clients_table, attr::CLIENT_ID),
            Table::Tokens => (&self.tokens_table, attr::TOKEN_HASH),
        };
        crate::aws::warm_up(&self.client, name, key, limit).await;
    }

    /// Writes a client record whole (set-up and tests). `must_be_new` refuses to overwrite.
    pub async fn put_client(&self, client: &ClientRecord, must_be_new: bool) -> StoreResult<bool> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.clients_table)
            .set_item(Some(client_item(client)));
        if must_be_new {
            req = req.condition_expression("attribute_not_exists(client_id)");
        }
        written("PutItem", req.send().await)
    }
}

/// A client item exactly as read, for `replace_client`'s condition.
pub struct StoredClient(Item);

/// Every attribute a client record may have.
const CLIENT_ATTRIBUTES: &[&str] = &[
    attr::CLIENT_ID,
    attr::NAME,
    attr::SECRET_HASHES,
    attr::GRANTS,
    attr::SCOPES,
    attr::DEFAULT_SCOPES,
    attr::ACCESS_TTL,
    attr::REFRESH_TTL,
    attr::DISABLED,
    attr::RESOURCE_SERVER,
    attr::TOKEN_FORMAT,
    attr::AUDIENCES,
    attr::MAX_TOKENS_PER_HOUR,
    attr::CREATED_AT,
    attr::UPDATED_AT,
];

impl ClientAdmin for DynamoStore {
    type AsRead = StoredClient;

    async fn read_client(
        &self,
        client_id: &str,
    ) -> StoreResult<Option<(ClientRecord, StoredClient)>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.clients_table)
            .key(attr::CLIENT_ID, s(client_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        match out.item {
            Some(item) if !item.is_empty() && !is_audit_item(&item) => {
                Ok(Some((client_from_item(&item)?, StoredClient(item))))
            }
            _ => Ok(None),
        }
    }

    async fn create_client(&self, client: &ClientRecord) -> StoreResult<bool> {
        self.put_client(client, true).await
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.clients_table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| classify("Scan", e))?;
            for item in page.items().iter().filter(|i| !is_audit_item(i)) {
                out.push(client_from_item(item)?);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn replace_client(
        &self,
        as_read: &StoredClient,
        next: &ClientRecord,
    ) -> StoreResult<bool> {
        let read = &as_read.0;
        if read.get(attr::CLIENT_ID) != Some(&s(&next.client_id)) {
            return Ok(false);
        }
        // Every attribute as read, and every client attribute that was absent still absent.
        let mut conditions = Vec::new();
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut read_names: Vec<&String> = read.keys().collect();
        read_names.sort();
        for (i, name) in read_names.into_iter().enumerate() {
            conditions.push(format!("#c{i} = :c{i}"));
            names.insert(format!("#c{i}"), name.clone());
            values.insert(format!(":c{i}"), read[name].clone());
        }
        for (i, name) in CLIENT_ATTRIBUTES
            .iter()
            .filter(|a| !read.contains_key(**a))
            .enumerate()
        {
            conditions.push(format!("attribute_not_exists(#a{i})"));
            names.insert(format!("#a{i}"), (*name).to_owned());
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.clients_table)
            .set_item(Some(client_item(next)))
            .condition_expression(conditions.join(" AND "))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        written("PutItem", result)
    }

    async fn delete_disabled_client(&self, client_id: &str) -> StoreResult<bool> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.clients_table)
            .key(attr::CLIENT_ID, s(client_id))
            .condition_expression("#disabled = :true")
            .expression_attribute_names("#disabled", attr::DISABLED)
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .send()
            .await;
        written("DeleteItem", result)
    }

    /// Through a paginated scan of the tokens table: it has no index on the client id,
    /// which the request path never needs.
    async fn revoke_client_tokens(&self, client_id: &str, now: u64) -> StoreResult<u64> {
        self.raise_client_revocation(client_id, now).await?;
        let mut revoked = 0;
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.tokens_table)
                .consistent_read(true)
                .filter_expression("#client = :client")
                .projection_expression("#hash, #revoked, #used, #expires")
                .expression_attribute_names("#client", attr::CLIENT_ID)
                .expression_attribute_names("#hash", attr::TOKEN_HASH)
                .expression_attribute_names("#revoked", attr::REVOKED)
                .expression_attribute_names("#used", attr::USED_AT_MS)
                .expression_attribute_names("#expires", attr::EXPIRES_AT)
                .expression_attribute_values(":client", s(client_id))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| classify("Scan", e))?;
            for item in page.items() {
                let revoked_already = item
                    .get(attr::REVOKED)
                    .and_then(|v| v.as_bool().ok())
                    .is_some_and(|b| *b);
                let used = item.contains_key(attr::USED_AT_MS);
                let expired = item
                    .get(attr::EXPIRES_AT)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<u64>().ok())
                    .is_some_and(|at| at <= now);
                if revoked_already || used || expired {
                    continue;
                }
                if let Some(hash) = item.get(attr::TOKEN_HASH).and_then(|v| v.as_s().ok()) {
                    self.revoke_token(hash).await?;
                    revoked += 1;
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(revoked),
            }
        }
    }
}

impl GetClient for DynamoStore {
    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        Ok(self.read_client(client_id).await?.map(|(client, _)| client))
    }
}

impl GetToken for DynamoStore {
    async fn get_token(&self, token_hash: &str) -> StoreResult<Option<TokenRecord>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tokens_table)
            .key(attr::TOKEN_HASH, s(token_hash))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        out.item.as_ref().map(token_from_item).transpose()
    }
}

impl GetClientAndToken for DynamoStore {
    async fn get_client_and_token(
        &self,
        client_id: &str,
        token_hash: &str,
    ) -> StoreResult<(Option<ClientRecord>, Option<TokenRecord>)> {
        let keys = |name: &str, value: &str| {
            KeysAndAttributes::builder()
                .keys(HashMap::from([(name.to_owned(), s(value))]))
                .consistent_read(true)
                .build()
                .map_err(build_error)
        };
        let out = self
            .client
            .batch_get_item()
            .request_items(&self.clients_table, keys(attr::CLIENT_ID, client_id)?)
            .request_items(&self.tokens_table, keys(attr::TOKEN_HASH, token_hash)?)
            .send()
            .await
            .map_err(|e| classify("BatchGetItem", e))?;
        all_processed(&out)?;
        let mut responses = out.responses.unwrap_or_default();
        let mut first = |table: &str| responses.remove(table).and_then(|v| v.into_iter().next());
        let client = first(&self.clients_table)
            .filter(|i| !is_audit_item(i))
            .as_ref()
            .map(client_from_item)
            .transpose()?;
        let token = first(&self.tokens_table)
            .as_ref()
            .map(token_from_item)
            .transpose()?;
        Ok((client, token))
    }
}

/// The idempotency token of a transaction writing `tokens` (DynamoDB takes up to 36
/// characters): unique per write, and the same when the SDK retries it, so that DynamoDB
/// applies the transaction once and answers a retry with success.
fn idempotency_token(tokens: &[TokenRecord]) -> Option<String> {
    tokens
        .first()
        .map(|t| t.token_hash.chars().take(36).collect())
}

impl DynamoStore {
    /// Whether `token` is stored as this request wrote it. A write whose answer was lost
    /// (a timed-out attempt, a dropped connection) is retried by the SDK, and the retry
    /// then fails its own `attribute_not_exists` condition on what the first attempt wrote.
    /// Tokens are 238-bit random, so a failed condition on a fresh token means exactly that.
    async fn stored_as_written(&self, token: &TokenRecord) -> StoreResult<bool> {
        Ok(self
            .get_token(&token.token_hash)
            .await?
            .is_some_and(|t| written_as(&t, token)))
    }
}

impl PutTokens for DynamoStore {
    /// One token: a PutItem that refuses to overwrite (the SDK may retry it; a retry that
    /// meets its own earlier write is recognised). Several (an access token and its refresh
    /// token): one BatchWriteItem, one write unit per item, no transaction (PROTOCOL §8.2).
    async fn put_tokens(&self, tokens: &[TokenRecord]) -> StoreResult<()> {
        match tokens {
            [] => Ok(()),
            [one] => match self
                .client
                .put_item()
                .table_name(&self.tokens_table)
                .set_item(Some(token_item(one)))
                .condition_expression("attribute_not_exists(token_hash)")
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception())
                        && self.stored_as_written(one).await? =>
                {
                    Ok(())
                }
                Err(e) => Err(classify("PutItem", e)),
            },
            several => self.batch_put_tokens(several).await,
        }
    }
}

/// How many times items DynamoDB returned unprocessed (throttled) are sent again.
const UNPROCESSED_ATTEMPTS: u32 = 3;

impl DynamoStore {
    /// Writes `tokens` with BatchWriteItem, which cannot carry a condition. It is sent once,
    /// never retried blindly: a retry of a write whose first attempt is still in flight
    /// could let that attempt land later and overwrite what has happened to the tokens
    /// since (a revocation, a rotation). So an attempt whose outcome is unknown (timed out,
    /// connection lost) is settled by a consistent read: the tokens stored as written are
    /// issued; otherwise the request fails as unavailable, and whatever the lost attempt may
    /// still write is tokens nobody was told of, which expire. Items DynamoDB reports
    /// unprocessed were not written and are sent again.
    async fn batch_put_tokens(&self, tokens: &[TokenRecord]) -> StoreResult<()> {
        let mut pending: Vec<WriteRequest> = tokens
            .iter()
            .map(|t| {
                let put = PutRequest::builder()
                    .set_item(Some(token_item(t)))
                    .build()
                    .map_err(build_error)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<StoreResult<_>>()?;
        for attempt in 0..=UNPROCESSED_ATTEMPTS {
            if attempt > 0 {
                conflict_pause(attempt).await;
            }
            let sent = self
                .client_once
                .batch_write_item()
                .request_items(&self.tokens_table, pending)
                .send()
                .await;
            match sent {
                Ok(out) => {
                    pending = out
                        .unprocessed_items
                        .and_then(|mut u| u.remove(&self.tokens_table))
                        .unwrap_or_default();
                    if pending.is_empty() {
                        return Ok(());
                    }
                }
                Err(e @ SdkError::ServiceError(_)) => return Err(classify("BatchWriteItem", e)),
                Err(e) => {
                    return if self.all_stored_as_written(tokens).await? {
                        Ok(())
                    } else {
                        Err(classify("BatchWriteItem", e))
                    };
                }
            }
        }
        Err(StoreError::Unavailable(
            "BatchWriteItem: items left unprocessed".into(),
        ))
    }

    /// Whether every one of `tokens` is stored as this request wrote it (one consistent
    /// BatchGetItem).
    async fn all_stored_as_written(&self, tokens: &[TokenRecord]) -> StoreResult<bool> {
        let keys = KeysAndAttributes::builder()
            .set_keys(Some(
                tokens
                    .iter()
                    .map(|t| HashMap::from([(attr::TOKEN_HASH.to_owned(), s(&t.token_hash))]))
                    .collect(),
            ))
            .consistent_read(true)
            .build()
            .map_err(build_error)?;
        let out = self
            .client
            .batch_get_item()
            .request_items(&self.tokens_table, keys)
            .send()
            .await
            .map_err(|e| classify("BatchGetItem", e))?;
        all_processed(&out)?;
        let stored = out
            .responses
            .and_then(|mut r| r.remove(&self.tokens_table))
            .unwrap_or_default()
            .iter()
            .map(token_from_item)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(tokens.iter().all(|t| {
            stored
                .iter()
                .any(|s| s.token_hash == t.token_hash && written_as(s, t))
        }))
    }
}

/// Whether `stored` is the token this request wrote as `written`.
fn written_as(stored: &TokenRecord, written: &TokenRecord) -> bool {
    stored.kind == written.kind
        && stored.client_id == written.client_id
        && stored.family == written.family
}

impl RotateRefresh for DynamoStore {
    async fn rotate_refresh(&self, r: &Rotation<'_>) -> StoreResult<bool> {
        // The family record: not revoked, and `expected` its current refresh token (absent
        // until the first rotation, when the current one is the family's first).
        let expected = r.expected_current();
        let current_condition = if expected == r.old.family {
            "(attribute_not_exists(current_refresh) OR current_refresh = :expected)"
        } else {
            "current_refresh = :expected"
        };
        let family = Update::builder()
            .table_name(&self.tokens_table)
            .key(attr::TOKEN_HASH, s(&family_key(&r.old.family)))
            .update_expression("SET kind = :family, current_refresh = :new, expires_at = :expires")
            .condition_expression(format!(
                "attribute_not_exists(revoked_at) AND {current_condition}"
            ))
            .expression_attribute_values(":family", s("family"))
            .expression_attribute_values(":new", s(&r.refresh.token_hash))
            .expression_attribute_values(":expires", n(r.family_expires_at()))
            .expression_attribute_values(":expected", s(expected))
            .build()
            .map_err(build_error)?;
        let retire = match r.supersede {
            // The usual case: consume the presented refresh token.
            None => Update::builder()
                .table_name(&self.tokens_table)
                .key(attr::TOKEN_HASH, s(&r.old.token_hash))
                .update_expression("SET used_at_ms = :now_ms, answer_by_ms = :answer_by")
                .condition_expression(
                    "attribute_exists(token_hash) AND kind = :refresh AND client_id = :client \
                     AND attribute_not_exists(used_at_ms) AND revoked = :false \
                     AND expires_at > :now",
                )
                .expression_attribute_values(":now_ms", n(r.now_ms))
                .expression_attribute_values(":answer_by", n(r.answer_by_ms))
                .expression_attribute_values(":now", n(r.now_ms / 1000))
                .expression_attribute_values(":refresh", s(TokenKind::Refresh.as_str()))
                .expression_attribute_values(":client", s(r.client_id))
                .expression_attribute_values(":false", AttributeValue::Bool(false)),
            // Re-presented within the grace: the presented token is consumed already; the
            // refresh token that replaced it (whose answer was lost) is retired instead,
            // consumed by this rotation, so that presenting it later is reuse.
            Some(current) => Update::builder()
                .table_name(&self.tokens_table)
                .key(attr::TOKEN_HASH, s(current))
                .update_expression(
                    "SET revoked = :true, used_at_ms = :now_ms, answer_by_ms = :answer_by",
                )
                .condition_expression("attribute_exists(token_hash)")
                .expression_attribute_values(":true", AttributeValue::Bool(true))
                .expression_attribute_values(":now_ms", n(r.now_ms))
                .expression_attribute_values(":answer_by", n(r.answer_by_ms)),
        }
        .build()
        .map_err(build_error)?;
        let mut items = vec![
            TransactWriteItem::builder().update(family).build(),
            TransactWriteItem::builder().update(retire).build(),
        ];
        for t in r.access.into_iter().chain([r.refresh]) {
            items.push(TransactWriteItem::builder().put(self.put(t)?).build());
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .set_client_request_token(idempotency_token(std::slice::from_ref(r.refresh)))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            // A retry of this very rotation, whose first attempt was applied but whose
            // answer was lost, fails on what that attempt changed: it is no lost race.
            // (DynamoDB itself answers such a retry with success through the idempotency
            // token; emulators may not.)
            Err(e) if lost_race(&e) => self.stored_as_written(r.refresh).await,
            Err(e) => Err(classify_transaction(e)),
        }
    }

    async fn mark_answered(&self, old_hash: &str, at_ms: u64) -> StoreResult<()> {
        self.client
            .update_item()
            .table_name(&self.tokens_table)
            .key(attr::TOKEN_HASH, s(old_hash))
            .update_expression("SET answered_at_ms = :at")
            .condition_expression("attribute_exists(token_hash)")
            .expression_attribute_values(":at", n(at_ms))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("UpdateItem", e))
    }
}

impl GetFamily for DynamoStore {
    async fn get_family(&self, family: &str) -> StoreResult<Option<FamilyRecord>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tokens_table)
            .key(attr::TOKEN_HASH, s(&family_key(family)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        out.item
            .as_ref()
            .map(|item| family_from_item(family, item))
            .transpose()
    }
}

/// Sorts a failed transaction like `classify`, and also as unavailable when DynamoDB
/// cancelled it for throttling: inside a transaction that arrives as a cancellation reason
/// (`TransactionCanceledException`), not as a throttling error of its own.
fn classify_transaction(err: SdkError<TransactWriteItemsError, HttpResponse>) -> StoreError {
    let throttled = match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
            e.cancellation_reasons().iter().any(|r| {
                matches!(
                    r.code(),
                    Some(
                        "ThrottlingError"
                            | "ProvisionedThroughputExceeded"
                            | "RequestLimitExceeded"
                    )
                )
            })
        }
        _ => false,
    };
    if throttled {
        StoreError::Unavailable(error_detail("TransactWriteItems", &err))
    } else {
        classify("TransactWriteItems", err)
    }
}

/// A transaction refused because its condition failed or a concurrent transaction touched
/// the same item: either way another request got there first.
fn lost_race(err: &SdkError<TransactWriteItemsError, HttpResponse>) -> bool {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
            e.cancellation_reasons().iter().any(|r| {
                matches!(
                    r.code(),
                    Some("ConditionalCheckFailed" | "TransactionConflict")
                )
            })
        }
        _ => false,
    }
}

impl Revoke for DynamoStore {
    async fn revoke_token(&self, token_hash: &str) -> StoreResult<()> {
        let mut attempt = 0;
        loop {
            match self
                .client
                .update_item()
                .table_name(&self.tokens_table)
                .key(attr::TOKEN_HASH, s(token_hash))
                .update_expression("SET revoked = :true")
                .condition_expression("attribute_exists(token_hash)")
                .expression_attribute_values(":true", AttributeValue::Bool(true))
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    return Ok(());
                }
                // A rotation's transaction holds the item: once it is done, the token is
                // revoked all the same.
                Err(e) if is_conflict(&e) && attempt + 1 < CONFLICT_ATTEMPTS => {
                    conflict_pause(attempt).await;
                    attempt += 1;
                }
                Err(e) => return Err(classify("UpdateItem", e)),
            }
        }
    }

    async fn revoke_family(&self, member: &TokenRecord, now: u64) -> StoreResult<()> {
        // 1. The decision: from this write on, no rotation in the family commits, no token
        //    of it is accepted, and the record names the family's last refresh token for
        //    good. A family never rotated has no record yet: the one created here is kept
        //    until the last token it lists expires (a rotated family's record already is),
        //    since once it goes a token it should refuse would read as live again.
        let keep_until = member
            .family_tokens
            .iter()
            .map(|t| t.expires_at)
            .fold(member.expires_at.max(now), u64::max);
        let mut attempt = 0;
        let out = loop {
            match self
                .client
                .update_item()
                .table_name(&self.tokens_table)
                .key(attr::TOKEN_HASH, s(&family_key(&member.family)))
                .update_expression(
                    "SET kind = :family, revoked_at = if_not_exists(revoked_at, :now), \
                     expires_at = if_not_exists(expires_at, :expires)",
                )
                .expression_attribute_values(":family", s("family"))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":expires", n(keep_until))
                .return_values(ReturnValue::AllNew)
                .send()
                .await
            {
                Ok(out) => break out,
                // A rotation's transaction holds the record: it commits or fails first,
                // and this write, once through, sees its outcome.
                Err(e) if is_conflict(&e) && attempt + 1 < CONFLICT_ATTEMPTS => {
                    conflict_pause(attempt).await;
                    attempt += 1;
                }
                Err(e) => return Err(classify("UpdateItem", e)),
            }
        };
        let record = family_from_item(&member.family, &out.attributes.unwrap_or_default())?;

        // 2. The sweep (cleanup: step 1 decided): that refresh token and the live access
        //    tokens it lists, each then marked revoked on its own item.
        let Some(current) = self.get_token(record.current()).await? else {
            return Ok(());
        };
        let mut doomed: Vec<(String, u64)> = current
            .family_tokens
            .iter()
            .filter(|t| t.expires_at > now)
            .map(|t| (t.token_hash.clone(), t.expires_at))
            .collect();
        doomed.push((current.token_hash, current.expires_at));
        let mut sweep = tokio::task::JoinSet::new();
        let mut first_error = None;
        for (key, expires_at) in doomed {
            if sweep.len() >= SWEEP_CONCURRENCY
                && let Some(Ok(Err(e))) = sweep.join_next().await
            {
                first_error.get_or_insert(e);
            }
            let store = self.clone();
            sweep.spawn(async move {
                match key.strip_prefix(JWT_LIST_PREFIX) {
                    Some(jti) => store.revoke_jwt(jti, expires_at).await,
                    None => store.revoke_token(&key).await,
                }
            });
        }
        while let Some(done) = sweep.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error
                        .get_or_insert(StoreError::Internal("revocation task failed".into()));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// A BatchGetItem answer that left keys unprocessed (throttling) is no answer: reported
/// as storage unavailable rather than read as items missing.
fn all_processed(out: &BatchGetItemOutput) -> StoreResult<()> {
    if out.unprocessed_keys.as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(StoreError::Unavailable(
            "BatchGetItem: keys left unprocessed".into(),
        ));
    }
    Ok(())
}

/// The tokens table's key of a revoked JWT.
fn jwt_key(jti: &str) -> String {
    format!("{}{jti}", attr::JWT_KEY_PREFIX)
}

/// The tokens table's key of a client's revocation time.
fn revoked_client_key(client_id: &str) -> String {
    format!("{}{client_id}", attr::REVOKED_CLIENT_KEY_PREFIX)
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn list(v: &[String]) -> AttributeValue {
    AttributeValue::L(v.iter().map(|x| s(x)).collect())
}

fn client_item(c: &ClientRecord) -> Item {
    let grants: Vec<String> = c.grants.iter().map(|g| g.as_str().to_owned()).collect();
    let mut item = Item::from([
        (attr::CLIENT_ID.into(), s(&c.client_id)),
        (attr::NAME.into(), s(&c.name)),
        (attr::SECRET_HASHES.into(), list(&c.secret_hashes)),
        (attr::GRANTS.into(), list(&grants)),
        (attr::SCOPES.into(), list(&c.scopes)),
        (attr::DEFAULT_SCOPES.into(), list(&c.default_scopes)),
        (attr::DISABLED.into(), AttributeValue::Bool(c.disabled)),
        (
            attr::RESOURCE_SERVER.into(),
            AttributeValue::Bool(c.resource_server),
        ),
        (attr::CREATED_AT.into(), n(c.created_at)),
        (attr::UPDATED_AT.into(), n(c.updated_at)),
    ]);
    if let Some(t) = c.access_ttl {
        item.insert(attr::ACCESS_TTL.into(), n(t));
    }
    if let Some(f) = c.token_format {
        item.insert(attr::TOKEN_FORMAT.into(), s(f.as_str()));
    }
    if !c.audiences.is_empty() {
        item.insert(attr::AUDIENCES.into(), list(&c.audiences));
    }
    if let Some(t) = c.refresh_ttl {
        item.insert(attr::REFRESH_TTL.into(), n(t));
    }
    if let Some(q) = c.max_tokens_per_hour {
        item.insert(attr::MAX_TOKENS_PER_HOUR.into(), n(q));
    }
    item
}

fn token_item(t: &TokenRecord) -> Item {
    let mut item = Item::from([
        (attr::TOKEN_HASH.into(), s(&t.token_hash)),
        (attr::KIND.into(), s(t.kind.as_str())),
        (attr::CLIENT_ID.into(), s(&t.client_id)),
        (attr::SCOPE.into(), list(&t.scope)),
        (attr::ISSUED_AT.into(), n(t.issued_at)),
        (attr::EXPIRES_AT.into(), n(t.expires_at)),
        (attr::FAMILY.into(), s(&t.family)),
        (attr::REVOKED.into(), AttributeValue::Bool(t.revoked)),
    ]);
    for (name, value) in [
        (attr::USED_AT_MS, t.used_at_ms),
        (attr::ANSWERED_AT_MS, t.answered_at_ms),
        (attr::ANSWER_BY_MS, t.answer_by_ms),
    ] {
        if let Some(v) = value {
            item.insert(name.into(), n(v));
        }
    }
    if let Some(parent) = &t.parent {
        item.insert(attr::PARENT.into(), s(parent));
    }
    if !t.family_tokens.is_empty() {
        let listed = t
            .family_tokens
            .iter()
            .map(|a| (a.token_hash.clone(), n(a.expires_at)))
            .collect();
        item.insert(attr::FAMILY_TOKENS.into(), AttributeValue::M(listed));
    }
    item
}

/// Reads typed attributes out of an item, naming the first that is missing or mistyped.
struct Reader<'a> {
    item: &'a Item,
    what: &'static str,
}

impl Reader<'_> {
    fn bad(&self, name: &str) -> StoreError {
        StoreError::Internal(format!("malformed {} item: attribute {name}", self.what))
    }

    fn string(&self, name: &str) -> StoreResult<String> {
        match self.item.get(name) {
            Some(AttributeValue::S(v)) => Ok(v.clone()),
            _ => Err(self.bad(name)),
        }
    }

    fn opt_number(&self, name: &str) -> StoreResult<Option<u64>> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v.parse().map(Some).map_err(|_| self.bad(name)),
            _ => Err(self.bad(name)),
        }
    }

    fn number(&self, name: &str) -> StoreResult<u64> {
        self.opt_number(name)?.ok_or_else(|| self.bad(name))
    }

    fn flag(&self, name: &str) -> StoreResult<bool> {
        match self.item.get(name) {
            None => Ok(false),
            Some(AttributeValue::Bool(b)) => Ok(*b),
            _ => Err(self.bad(name)),
        }
    }

    /// A map of token hash to expiry; missing means empty.
    fn family_tokens(&self, name: &str) -> StoreResult<Vec<FamilyToken>> {
        match self.item.get(name) {
            None => Ok(Vec::new()),
            Some(AttributeValue::M(m)) => {
                let mut listed = m
                    .iter()
                    .map(|(hash, at)| match at {
                        AttributeValue::N(v) => v
                            .parse()
                            .map(|expires_at| FamilyToken {
                                token_hash: hash.clone(),
                                expires_at,
                            })
                            .map_err(|_| self.bad(name)),
                        _ => Err(self.bad(name)),
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                listed.sort_by(|a, b| {
                    (a.expires_at, &a.token_hash).cmp(&(b.expires_at, &b.token_hash))
                });
                Ok(listed)
            }
            _ => Err(self.bad(name)),
        }
    }

    /// A list of strings (a string set is accepted too); missing means empty.
    fn strings(&self, name: &str) -> StoreResult<Vec<String>> {
        match self.item.get(name) {
            None => Ok(Vec::new()),
            Some(AttributeValue::Ss(v)) => Ok(v.clone()),
            Some(AttributeValue::L(v)) => v
                .iter()
                .map(|x| x.as_s().cloned().map_err(|_| self.bad(name)))
                .collect(),
            _ => Err(self.bad(name)),
        }
    }
}

fn client_from_item(item: &Item) -> StoreResult<ClientRecord> {
    let r = Reader {
        item,
        what: "client",
    };
    let secret_hashes = r.strings(attr::SECRET_HASHES)?;
    if secret_hashes.is_empty() {
        return Err(r.bad(attr::SECRET_HASHES));
    }
    let grants = if item.contains_key(attr::GRANTS) {
        r.strings(attr::GRANTS)?
            .iter()
            .map(|g| GrantType::parse(g).ok_or_else(|| r.bad(attr::GRANTS)))
            .collect::<StoreResult<_>>()?
    } else {
        GrantType::ALL.to_vec()
    };
    Ok(ClientRecord {
        client_id: r.string(attr::CLIENT_ID)?,
        name: r.string(attr::NAME).unwrap_or_default(),
        secret_hashes,
        grants,
        scopes: r.strings(attr::SCOPES)?,
        default_scopes: r.strings(attr::DEFAULT_SCOPES)?,
        access_ttl: r.opt_number(attr::ACCESS_TTL)?,
        refresh_ttl: r.opt_number(attr::REFRESH_TTL)?,
        disabled: r.flag(attr::DISABLED)?,
        token_format: match item.get(attr::TOKEN_FORMAT) {
            None => None,
            Some(_) => Some(
                TokenFormat::parse(&r.string(attr::TOKEN_FORMAT)?)
                    .ok_or_else(|| r.bad(attr::TOKEN_FORMAT))?,
            ),
        },
        audiences: r.strings(attr::AUDIENCES)?,
        resource_server: r.flag(attr::RESOURCE_SERVER)?,
        max_tokens_per_hour: r.opt_number(attr::MAX_TOKENS_PER_HOUR)?,
        created_at: r.opt_number(attr::CREATED_AT)?.unwrap_or(0),
        updated_at: r.opt_number(attr::UPDATED_AT)?.unwrap_or(0),
    })
}

fn token_from_item(item: &Item) -> StoreResult<TokenRecord> {
    let r = Reader {
        item,
        what: "token",
    };
    Ok(TokenRecord {
        token_hash: r.string(attr::TOKEN_HASH)?,
        kind: TokenKind::parse(&r.string(attr::KIND)?).ok_or_else(|| r.bad(attr::KIND))?,
        client_id: r.string(attr::CLIENT_ID)?,
        scope: r.strings(attr::SCOPE)?,
        issued_at: r.number(attr::ISSUED_AT)?,
        expires_at: r.number(attr::EXPIRES_AT)?,
        family: r.string(attr::FAMILY)?,
        used_at_ms: r.opt_number(attr::USED_AT_MS)?,
        answered_at_ms: r.opt_number(attr::ANSWERED_AT_MS)?,
        answer_by_ms: r.opt_number(attr::ANSWER_BY_MS)?,
        family_tokens: r.family_tokens(attr::FAMILY_TOKENS)?,
        parent: match item.get(attr::PARENT) {
            None => None,
            Some(_) => Some(r.string(attr::PARENT)?),
        },
        revoked: r.flag(attr::REVOKED)?,
    })
}

/// A family record; an empty item (none stored) is a live family not yet rotated.
fn family_from_item(family: &str, item: &Item) -> StoreResult<FamilyRecord> {
    let r = Reader {
        item,
        what: "family",
    };
    Ok(FamilyRecord {
        family: family.to_owned(),
        revoked: r.opt_number(attr::REVOKED_AT)?.is_some(),
        current_refresh: match item.get(attr::CURRENT_REFRESH) {
            None => None,
            Some(_) => Some(r.string(attr::CURRENT_REFRESH)?),
        },
    })
}

impl GetKeyring for DynamoStore {
    async fn get_keyring(&self) -> StoreResult<Option<Keyring>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tokens_table)
            .key(attr::TOKEN_HASH, s(attr::KEYRING_KEY))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        match out.item {
            Some(item) if !item.is_empty() => keyring_from_item(&item).map(Some),
            _ => Ok(None),
        }
    }
}

impl PutKeyring for DynamoStore {
    async fn put_keyring(
        &self,
        expected_version: Option<u64>,
        keyring: &Keyring,
    ) -> StoreResult<bool> {
        let mut item = Item::from([
            (attr::TOKEN_HASH.into(), s(attr::KEYRING_KEY)),
            (attr::KIND.into(), s("keyring")),
            (attr::VERSION.into(), n(keyring.version)),
        ]);
        let keys = keyring
            .keys
            .iter()
            .map(|k| {
                AttributeValue::M(Item::from([
                    (attr::KID.into(), s(&k.public.kid)),
                    (attr::N.into(), AttributeValue::B(k.public.n.clone().into())),
                    (attr::E.into(), AttributeValue::B(k.public.e.clone().into())),
                    (attr::CREATED_AT.into(), n(k.created_at)),
                    (attr::ACTIVE_FROM.into(), n(k.active_from)),
                    (attr::KMS_KEY_ID.into(), s(&k.kms_key_id)),
                    (
                        attr::SEALED_PRIVATE.into(),
                        AttributeValue::B(k.sealed_private.clone().into()),
                    ),
                ]))
            })
            .collect();
        item.insert(attr::KEYS.into(), AttributeValue::L(keys));
        let request = self
            .client
            .put_item()
            .table_name(&self.tokens_table)
            .set_item(Some(item));
        let request = match expected_version {
            None => request.condition_expression("attribute_not_exists(token_hash)"),
            Some(v) => request
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(v)),
        };
        written("PutItem", request.send().await)
    }
}

impl DynamoStore {
    /// Sets the client's revocation time to `now` unless it is later already (one
    /// conditional write: two runs of the admin tool, on clocks that disagree, never lower
    /// it). JWTs of the client issued until then are refused from this write on.
    async fn raise_client_revocation(&self, client_id: &str, now: u64) -> StoreResult<()> {
        let key = revoked_client_key(client_id);
        let result = self
            .client
            .update_item()
            .table_name(&self.tokens_table)
            .key(attr::TOKEN_HASH, s(&key))
            .update_expression("SET #at = :now, #kind = :kind, #expires = :expires")
            .condition_expression("attribute_not_exists(#at) OR #at < :now")
            .expression_attribute_names("#at", attr::REVOKED_AT)
            .expression_attribute_names("#kind", attr::KIND)
            .expression_attribute_names("#expires", attr::EXPIRES_AT)
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":kind", s("revoked_client"))
            .expression_attribute_values(":expires", n(now.saturating_add(MAX_JWT_TTL)))
            .send()
            .await;
        // A failed condition: a later revocation time is stored already.
        written("UpdateItem", result).map(|_| ())
    }
}

impl JwtRevocations for DynamoStore {
    async fn revoke_jwt(&self, jti: &str, expires_at: u64) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.tokens_table)
            .item(attr::TOKEN_HASH, s(&jwt_key(jti)))
            .item(attr::KIND, s("revoked_jwt"))
            .item(attr::EXPIRES_AT, n(expires_at))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("PutItem", e))
    }

    /// One BatchGetItem of the items that can revoke the token: `jwt#<jti>`, the client's
    /// `revoked-client#<client>` and, for a token of a refresh family, the family's record.
    async fn is_jwt_revoked(&self, claims: &Claims) -> StoreResult<bool> {
        let jti_key = jwt_key(&claims.jti);
        let client_key = revoked_client_key(&claims.client_id);
        let family_key = claims.sid.as_deref().map(family_key);
        let key = |k: &str| HashMap::from([(attr::TOKEN_HASH.to_owned(), s(k))]);
        let mut wanted = vec![key(&jti_key), key(&client_key)];
        wanted.extend(family_key.as_deref().map(key));
        let keys = KeysAndAttributes::builder()
            .set_keys(Some(wanted))
            .consistent_read(true)
            .projection_expression("#hash, #at")
            .expression_attribute_names("#hash", attr::TOKEN_HASH)
            .expression_attribute_names("#at", attr::REVOKED_AT)
            .build()
            .map_err(build_error)?;
        let out = self
            .client
            .batch_get_item()
            .request_items(&self.tokens_table, keys)
            .send()
            .await
            .map_err(|e| classify("BatchGetItem", e))?;
        all_processed(&out)?;
        let items = out
            .responses
            .and_then(|mut r| r.remove(&self.tokens_table))
            .unwrap_or_default();
        let revoked_at = |item: &Item| {
            item.get(attr::REVOKED_AT)
                .and_then(|v| v.as_n().ok())
                .and_then(|at| at.parse::<u64>().ok())
        };
        Ok(items.iter().any(|item| {
            match item.get(attr::TOKEN_HASH).and_then(|v| v.as_s().ok()) {
                Some(key) if *key == jti_key => true,
                // Unreadable: refused, as a revocation is what it was written for.
                Some(key) if *key == client_key => {
                    revoked_at(item).is_none_or(|at| claims.iat <= at)
                }
                // A family's record is revoked once it has a revocation time.
                Some(key) if family_key.as_ref() == Some(key) => {
                    item.contains_key(attr::REVOKED_AT)
                }
                _ => false,
            }
        }))
    }
}

fn keyring_from_item(item: &Item) -> StoreResult<Keyring> {
    let r = Reader {
        item,
        what: "keyring",
    };
    let bad = || r.bad(attr::KEYS);
    let keys = match item.get(attr::KEYS) {
        Some(AttributeValue::L(keys)) => keys
            .iter()
            .map(|k| {
                let m = k.as_m().map_err(|_| bad())?;
                let kr = Reader {
                    item: m,
                    what: "signing key",
                };
                let bytes = |name: &str| match m.get(name) {
                    Some(AttributeValue::B(b)) => Ok(b.as_ref().to_vec()),
                    _ => Err(kr.bad(name)),
                };
                Ok(SigningKey {
                    public: PublicKey {
                        kid: kr.string(attr::KID)?,
                        n: bytes(attr::N)?,
                        e: bytes(attr::E)?,
                    },
                    created_at: kr.number(attr::CREATED_AT)?,
                    active_from: kr.number(attr::ACTIVE_FROM)?,
                    kms_key_id: kr.string(attr::KMS_KEY_ID)?,
                    sealed_private: bytes(attr::SEALED_PRIVATE)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?,
        _ => return Err(bad()),
    };
    Ok(Keyring {
        version: r.number(attr::VERSION)?,
        keys,
    })
}

impl Quotas for DynamoStore {
    /// One UpdateItem adding 1 to the window's count under the condition that it is below
    /// `max`: DynamoDB applies concurrent ones one at a time, so exactly `max` succeed.
    async fn take_quota(
        &self,
        client_id: &str,
        window_start: u64,
        max: u64,
        expires_at: u64,
    ) -> StoreResult<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tokens_table)
            .key(attr::TOKEN_HASH, s(&quota_key(client_id, window_start)))
            .update_expression("SET kind = :quota, expires_at = :expires ADD #used :one")
            .condition_expression("attribute_not_exists(#used) OR #used < :max")
            .expression_attribute_names("#used", attr::USED)
            .expression_attribute_values(":quota", s("quota"))
            .expression_attribute_values(":expires", n(expires_at))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max))
            .send()
            .await;
        written("UpdateItem", result)
    }

    async fn return_quota(&self, client_id: &str, window_start: u64) -> StoreResult<()> {
        // Sent once, never retried: a retry of an attempt that landed would take back two.
        let result = self
            .client_once
            .update_item()
            .table_name(&self.tokens_table)
            .key(attr::TOKEN_HASH, s(&quota_key(client_id, window_start)))
            .update_expression("ADD #used :minus_one")
            .condition_expression("#used > :zero")
            .expression_attribute_names("#used", attr::USED)
            .expression_attribute_values(":minus_one", AttributeValue::N("-1".into()))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        // A failed condition: nothing counted to take back.
        written("UpdateItem", result).map(|_| ())
    }

    async fn quota_used(&self, client_id: &str, window_start: u64) -> StoreResult<u64> {
        let item = self
            .client
            .get_item()
            .table_name(&self.tokens_table)
            .key(attr::TOKEN_HASH, s(&quota_key(client_id, window_start)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?
            .item;
        match item {
            None => Ok(0),
            Some(item) => Reader {
                item: &item,
                what: "quota window",
            }
            .number(attr::USED),
        }
    }
}

/// The admin tool's audit trail lives in the clients table, each record an item of its own
/// under `audit#<zero-padded epoch ms>#<random hex>`:
///
/// - No client id can take such a key (client ids are `[A-Za-z0-9._~-]`, no `#`), and
///   every client read here passes over audit items ([`is_audit_item`]): `list-clients`
///   does not show them, and the token endpoint, which never looks up an invalid id,
///   could not take one for a client if it did.
/// - The clients table is small, so `oauth-admin audit` is a scan of it, never of the
///   tokens table, whose size grows with traffic; nor does the record need a table of its
///   own, which every deployment (template, IAM policies, `create-tables`) would have to add.
///   The cost: `list-clients` and `audit` read the records (about 300 bytes each) with the
///   clients, a read unit per 4 KB scanned.
/// - Append-only: each record is a conditional put on a new key, never an update.
pub const AUDIT_KEY_PREFIX: &str = "audit#";

/// Audit record attributes, beside the key (`client_id`) and `kind` (`audit`).
pub mod audit_attr {
    pub const AT_MS: &str = "at_ms";
    pub const AT: &str = "at";
    pub const ACTOR: &str = "actor";
    pub const ACTOR_SOURCE: &str = "actor_source";
    pub const ACTION: &str = "action";
    /// The client a record is about (the key is the record's own).
    pub const TARGET_CLIENT_ID: &str = "target_client_id";
    pub const TARGET_KEY_ID: &str = "target_key_id";
    /// What changed, as a JSON object.
    pub const CHANGES: &str = "changes";
}

/// Whether a clients-table item is an audit record rather than a client.
fn is_audit_item(item: &Item) -> bool {
    matches!(item.get(attr::CLIENT_ID), Some(AttributeValue::S(k)) if k.starts_with(AUDIT_KEY_PREFIX))
}

fn audit_item(r: &AuditRecord) -> Item {
    let mut item = Item::from([
        (
            attr::CLIENT_ID.into(),
            s(&format!("{AUDIT_KEY_PREFIX}{}", r.id)),
        ),
        (attr::KIND.into(), s("audit")),
        (audit_attr::AT_MS.into(), n(r.at_ms)),
        (audit_attr::AT.into(), s(&r.at)),
        (audit_attr::ACTOR.into(), s(&r.actor)),
        (audit_attr::ACTOR_SOURCE.into(), s(&r.actor_source)),
        (audit_attr::ACTION.into(), s(&r.action)),
        (
            audit_attr::CHANGES.into(),
            s(&serde_json::Value::Object(r.changes.clone()).to_string()),
        ),
    ]);
    if let Some(id) = &r.client_id {
        item.insert(audit_attr::TARGET_CLIENT_ID.into(), s(id));
    }
    if let Some(id) = &r.key_id {
        item.insert(audit_attr::TARGET_KEY_ID.into(), s(id));
    }
    item
}

fn audit_from_item(item: &Item) -> StoreResult<AuditRecord> {
    let r = Reader {
        item,
        what: "audit",
    };
    let key = r.string(attr::CLIENT_ID)?;
    let id = key
        .strip_prefix(AUDIT_KEY_PREFIX)
        .ok_or_else(|| r.bad(attr::CLIENT_ID))?
        .to_owned();
    let optional = |name: &str| match item.get(name) {
        None => Ok(None),
        Some(_) => r.string(name).map(Some),
    };
    let changes = match serde_json::from_str(&r.string(audit_attr::CHANGES)?) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => return Err(r.bad(audit_attr::CHANGES)),
    };
    Ok(AuditRecord {
        id,
        at_ms: r.number(audit_attr::AT_MS)?,
        at: r.string(audit_attr::AT)?,
        actor: r.string(audit_attr::ACTOR)?,
        actor_source: r.string(audit_attr::ACTOR_SOURCE)?,
        action: r.string(audit_attr::ACTION)?,
        client_id: optional(audit_attr::TARGET_CLIENT_ID)?,
        key_id: optional(audit_attr::TARGET_KEY_ID)?,
        changes,
    })
}

impl AuditLog for DynamoStore {
    async fn append_audit(&self, record: &AuditRecord) -> StoreResult<()> {
        let item = audit_item(record);
        let result = self
            .client
            .put_item()
            .table_name(&self.clients_table)
            .set_item(Some(item.clone()))
            .condition_expression("attribute_not_exists(client_id)")
            .send()
            .await;
        if written("PutItem", result)? {
            return Ok(());
        }
        // The key is taken. The ids are random, so that is this very put, retried by the
        // SDK after an answer was lost, unless the stored item differs.
        let stored = self
            .client
            .get_item()
            .table_name(&self.clients_table)
            .set_key(Some(Item::from([(
                attr::CLIENT_ID.to_owned(),
                item[attr::CLIENT_ID].clone(),
            )])))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        if stored.item.as_ref() == Some(&item) {
            Ok(())
        } else {
            Err(StoreError::Internal(format!(
                "audit record {} exists already",
                record.id
            )))
        }
    }

    /// A scan of the clients table for the `audit#` keys (see [`AUDIT_KEY_PREFIX`]),
    /// filtered by client when asked.
    async fn list_audit(&self, client_id: Option<&str>) -> StoreResult<Vec<AuditRecord>> {
        let mut filter = "begins_with(#key, :prefix)".to_owned();
        if client_id.is_some() {
            filter.push_str(" AND #target = :target");
        }
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let mut request = self
                .client
                .scan()
                .table_name(&self.clients_table)
                .consistent_read(true)
                .filter_expression(&filter)
                .expression_attribute_names("#key", attr::CLIENT_ID)
                .expression_attribute_values(":prefix", s(AUDIT_KEY_PREFIX))
                .set_exclusive_start_key(start);
            if let Some(id) = client_id {
                request = request
                    .expression_attribute_names("#target", audit_attr::TARGET_CLIENT_ID)
                    .expression_attribute_values(":target", s(id));
            }
            let page = request.send().await.map_err(|e| classify("Scan", e))?;
            for item in page.items() {
                out.push(audit_from_item(item)?);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        out.sort_by(|a, b| (a.at_ms, &a.id).cmp(&(b.at_ms, &b.id)));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_attribute_a_client_item_may_have_is_in_the_replace_condition() {
        // `replace_client` conditions on each attribute absent as read staying absent: one
        // missing from CLIENT_ATTRIBUTES would let a concurrent change to it be lost.
        let mut c = ClientRecord::new("app", "App", "sha256:x".into(), 1);
        c.access_ttl = Some(1);
        c.refresh_ttl = Some(1);
        c.token_format = Some(TokenFormat::Jwt);
        c.audiences = vec!["https://api.example.com".into()];
        c.max_tokens_per_hour = Some(1);
        c.resource_server = true;
        let mut written: Vec<_> = client_item(&c).into_keys().collect();
        written.sort();
        let mut listed: Vec<_> = CLIENT_ATTRIBUTES.iter().map(|a| a.to_string()).collect();
        listed.sort();
        assert_eq!(written, listed);
    }
}
