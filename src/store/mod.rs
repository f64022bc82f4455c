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
    /// Shared by every token descended from one client_credentials grant: the hash of the
    /// family's first refresh token, which is also where its family record starts.
    pub family: String,
    /// When a refresh token was exchanged, in epoch milliseconds; `None` while unused.
    pub used_at_ms: Option<u64>,
    /// When the rotation that consumed this refresh token was answered (epoch ms), written
    /// just before the answer; `None` until then, or if that request never learnt its
    /// outcome.
    pub answered_at_ms: Option<u64>,
    /// The consuming request's deadline (epoch ms): its answer went out before then, so a
    /// use that began earlier, with `answered_at_ms` unset, may be a lost race.
    pub answer_by_ms: Option<u64>,
    /// On a refresh token: the family's access tokens that were live when it was issued,
    /// its own sibling included, so that revoking the family needs no index.
    pub family_tokens: Vec<FamilyToken>,
    pub revoked: bool,
}

/// An access token of a family, as listed on the family's refresh tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyToken {
    pub token_hash: String,
    pub expires_at: u64,
}

impl TokenRecord {
    /// Live: not expired by its own `expires_at` (TTL deletes late), not revoked, and for a
    /// refresh token not yet used.
    pub fn is_live(&self, now: u64) -> bool {
        now < self.expires_at && !self.revoked && self.used_at_ms.is_none()
    }

    /// Whether the rotation that consumed this refresh token had been answered when a
    /// request that started at `started_ms` began. Unknown answers count as given by the
    /// consuming request's deadline; a token consumed before these were recorded counts as
    /// answered when it was consumed.
    pub fn consumption_answered_before(&self, started_ms: u64) -> bool {
        match (self.used_at_ms, self.answered_at_ms, self.answer_by_ms) {
            (None, _, _) => false,
            (Some(_), Some(answered), _) => answered < started_ms,
            (Some(_), None, Some(by)) => by <= started_ms,
            (Some(used), None, None) => used < started_ms,
        }
    }
}

/// The state every token of a family shares, read with strong consistency: once it says
/// revoked, no rotation in the family can commit (its transaction checks it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyRecord {
    pub family: String,
    pub revoked: bool,
    /// The family's one unconsumed refresh token; `None` until the first rotation, when it
    /// is the family's first refresh token (whose hash is the family's id).
    pub current_refresh: Option<String>,
}

impl FamilyRecord {
    /// The hash of the family's current refresh token.
    pub fn current(&self) -> &str {
        self.current_refresh.as_deref().unwrap_or(&self.family)
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

/// One refresh-token rotation: consume `old` (or, re-presented within the reuse grace,
/// revoke the family's current refresh token `supersede` instead) and write the new pair,
/// all or none, and only while the family is not revoked and `old` (or `supersede`) is its
/// current refresh token.
#[derive(Debug, Clone, Copy)]
pub struct Rotation<'a> {
    pub old: &'a TokenRecord,
    pub supersede: Option<&'a str>,
    pub client_id: &'a str,
    pub now_ms: u64,
    /// The rotating request's deadline, stamped on `old` (see `TokenRecord::answer_by_ms`).
    pub answer_by_ms: u64,
    pub access: &'a TokenRecord,
    pub refresh: &'a TokenRecord,
}

impl Rotation<'_> {
    /// The refresh token that must be the family's current one for the rotation to commit.
    pub fn expected_current(&self) -> &str {
        self.supersede.unwrap_or(&self.old.token_hash)
    }

    /// When the family record may go: after the last of its tokens has expired.
    pub fn family_expires_at(&self) -> u64 {
        self.refresh
            .family_tokens
            .iter()
            .map(|t| t.expires_at)
            .chain([self.refresh.expires_at, self.access.expires_at])
            .max()
            .unwrap_or(self.refresh.expires_at)
    }
}

/// Rotates refresh tokens.
pub trait RotateRefresh {
    /// `Ok(false)` when the rotation's conditions failed: the refresh token was no longer
    /// live or current, or the family was revoked (a lost race, say). A retry of a
    /// rotation that committed answers `Ok(true)`.
    fn rotate_refresh(
        &self,
        rotation: &Rotation<'_>,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Records on the consumed refresh token that its rotation is being answered now.
    fn mark_answered(
        &self,
        old_hash: &str,
        at_ms: u64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Reads a family's record, strongly consistent.
pub trait GetFamily {
    fn get_family(
        &self,
        family: &str,
    ) -> impl Future<Output = StoreResult<Option<FamilyRecord>>> + Send;
}

/// Revokes one token, or every token of a family.
pub trait Revoke {
    fn revoke_token(&self, token_hash: &str) -> impl Future<Output = StoreResult<()>> + Send;

    /// Marks the family of `member` revoked, so that no rotation in it commits from then on,
    /// then revokes each of its live tokens; returns once all are revoked. Safe to repeat:
    /// a repeat finishes a sweep that was cut short.
    fn revoke_family(
        &self,
        member: &TokenRecord,
        now: u64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Everything the token endpoint's grants use.
pub trait GrantStore:
    GetClient + GetClientAndToken + GetToken + GetFamily + PutTokens + RotateRefresh + Revoke + Sync
{
}
impl<
    T: GetClient
        + GetClientAndToken
        + GetToken
        + GetFamily
        + PutTokens
        + RotateRefresh
        + Revoke
        + Sync,
> GrantStore for T
{
}
