//! What the OAuth flow needs from storage, one trait per operation so that each caller asks
//! only for what it uses (as its IAM policy does), with a DynamoDB implementation and an
//! in-memory one for unit tests and benchmarks.

pub mod dynamodb;
pub mod memory;
pub mod tables;

use std::fmt;
use std::future::Future;

/// A grant type a client may be allowed to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantType {
    ClientCredentials,
    RefreshToken,
}

impl GrantType {
    pub const ALL: [GrantType; 2] = [GrantType::ClientCredentials, GrantType::RefreshToken];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::RefreshToken => "refresh_token",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// A registered client (CONTRACT §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    pub client_id: String,
    pub name: String,
    /// One or two self-describing hash strings, oldest first (two while rotating).
    pub secret_hashes: Vec<String>,
    pub grants: Vec<GrantType>,
    pub scopes: Vec<String>,
    /// Granted when no scope is requested; empty means all of `scopes`.
    pub default_scopes: Vec<String>,
    /// Per-client lifetimes in seconds, overriding the deployment's.
    pub access_ttl: Option<u64>,
    pub refresh_ttl: Option<u64>,
    pub disabled: bool,
    /// May introspect every client's tokens.
    pub resource_server: bool,
    pub created_at: u64,
    pub updated_at: u64,
}

impl ClientRecord {
    /// A new enabled client with the default grants and no scopes.
    pub fn new(client_id: &str, name: &str, secret_hash: String, now: u64) -> Self {
        ClientRecord {
            client_id: client_id.to_owned(),
            name: name.to_owned(),
            secret_hashes: vec![secret_hash],
            grants: GrantType::ALL.to_vec(),
            scopes: Vec::new(),
            default_scopes: Vec::new(),
            access_ttl: None,
            refresh_ttl: None,
            disabled: false,
            resource_server: false,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Longest client id the service looks up.
pub const MAX_CLIENT_ID_LEN: usize = 128;

/// Client ids are 1–128 characters of `[A-Za-z0-9._~-]` (URL-unreserved), so that
/// form-url-decoding never changes a valid id and nothing else is ever looked up.
pub fn is_valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CLIENT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "access" => Some(TokenKind::Access),
            "refresh" => Some(TokenKind::Refresh),
            _ => None,
        }
    }
}

/// An issued token as stored: under its SHA-256, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Lowercase hex SHA-256 of the token.
    pub token_hash: String,
    pub kind: TokenKind,
    pub client_id: String,
    pub scope: Vec<String>,
    pub issued_at: u64,
    /// Epoch seconds; also the table's TTL attribute.
    pub expires_at: u64,
    /// Shared by every token descended from one client_credentials grant.
    pub family: String,
    /// When a refresh token was exchanged, in epoch milliseconds; `None` while unused.
    pub used_at_ms: Option<u64>,
    pub revoked: bool,
}

impl TokenRecord {
    /// Live: not expired by its own `expires_at` (TTL deletes late), not revoked, and for a
    /// refresh token not yet used.
    pub fn is_live(&self, now: u64) -> bool {
        now < self.expires_at && !self.revoked && self.used_at_ms.is_none()
    }
}

/// A storage failure, split by what the caller should answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// Throttling, a refused connection, a timeout: worth retrying shortly.
    Unavailable(String),
    /// Anything else, including a malformed item.
    Internal(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unavailable(d) => write!(f, "storage unavailable: {d}"),
            StoreError::Internal(d) => write!(f, "storage error: {d}"),
        }
    }
}

impl std::error::Error for StoreError {}

pub type StoreResult<T> = Result<T, StoreError>;

/// Reads one client.
pub trait GetClient {
    fn get_client(
        &self,
        client_id: &str,
    ) -> impl Future<Output = StoreResult<Option<ClientRecord>>> + Send;
}

/// Reads a client and a token together, in one round trip.
pub trait GetClientAndToken {
    fn get_client_and_token(
        &self,
        client_id: &str,
        token_hash: &str,
    ) -> impl Future<Output = StoreResult<(Option<ClientRecord>, Option<TokenRecord>)>> + Send;
}

/// Reads one token.
pub trait GetToken {
    fn get_token(
        &self,
        token_hash: &str,
    ) -> impl Future<Output = StoreResult<Option<TokenRecord>>> + Send;
}

/// Writes newly issued tokens, all or none.
pub trait PutTokens {
    fn put_tokens(&self, tokens: &[TokenRecord]) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Consumes a refresh token (marking it used at `now_ms`) and writes its successors, all or
/// none. `Ok(false)` when the refresh token was no longer live or not this client's (a lost
/// race, say).
pub trait RotateRefresh {
    fn rotate_refresh(
        &self,
        old_hash: &str,
        client_id: &str,
        now_ms: u64,
        new_tokens: &[TokenRecord],
    ) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// Revokes one token, or every token of a family.
pub trait Revoke {
    fn revoke_token(&self, token_hash: &str) -> impl Future<Output = StoreResult<()>> + Send;
    fn revoke_family(&self, family: &str) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Everything the token endpoint's grants use.
pub trait GrantStore:
    GetClient + GetClientAndToken + PutTokens + RotateRefresh + Revoke + Sync
{
}
impl<T: GetClient + GetClientAndToken + PutTokens + RotateRefresh + Revoke + Sync> GrantStore
    for T
{
}
