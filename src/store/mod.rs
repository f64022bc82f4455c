//! What the OAuth flow needs from storage, one trait per operation so that each caller asks
//! only for what it uses (as its IAM policy does), with a DynamoDB implementation and an
//! in-memory one for unit tests and benchmarks.

pub mod dynamodb;
pub mod memory;
pub mod tables;

// The nouns are the protocol's; storage keeps them. Re-exported for the paths callers used
// before they moved.
pub use crate::keys::Keyring;
use crate::oauth::jwt::Claims;
pub use crate::oauth::model::{
    ClientRecord, FamilyRecord, FamilyToken, GrantType, MAX_CLIENT_ID_LEN, TokenKind, TokenRecord,
    is_valid_client_id,
};
use std::fmt;
use std::future::Future;

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
    /// The new access token's record; `None` for a JWT, which is not stored.
    pub access: Option<&'a TokenRecord>,
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
            .chain(self.access.map(|a| a.expires_at))
            .chain([self.refresh.expires_at])
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

/// Whether `token`'s refresh family has been revoked, by its record: the decision a
/// family revocation makes before it sweeps the family's tokens, so that a sweep cut short
/// (or a token it never saw) cannot let a token through. A token of no refresh family
/// needs no read.
pub async fn family_revoked<S: GetFamily>(store: &S, token: &TokenRecord) -> StoreResult<bool> {
    if !token.in_refresh_family() {
        return Ok(false);
    }
    Ok(store
        .get_family(&token.family)
        .await?
        .is_some_and(|f| f.revoked))
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
    GetClient
    + GetClientAndToken
    + GetToken
    + GetFamily
    + PutTokens
    + RotateRefresh
    + Revoke
    + GetKeyring
    + JwtRevocations
    + Quotas
    + Sync
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
        + GetKeyring
        + JwtRevocations
        + Quotas
        + Sync,
> GrantStore for T
{
}

/// What the admin tool does to client records. Each change is conditional on the record
/// the tool read, so that a concurrent change makes it fail without writing.
pub trait ClientAdmin: GetClient + Sync {
    /// The record exactly as stored, to condition a replacement on.
    type AsRead: Send + Sync;

    /// A client and what it was read as.
    fn read_client(
        &self,
        client_id: &str,
    ) -> impl Future<Output = StoreResult<Option<(ClientRecord, Self::AsRead)>>> + Send;

    /// Creates a client; `Ok(false)` when the id is taken.
    fn create_client(
        &self,
        client: &ClientRecord,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Every client.
    fn list_clients(&self) -> impl Future<Output = StoreResult<Vec<ClientRecord>>> + Send;

    /// Writes `next` in place of the record read as `as_read`, only if it is still stored
    /// exactly so; `Ok(false)` when it changed or went meanwhile.
    fn replace_client(
        &self,
        as_read: &Self::AsRead,
        next: &ClientRecord,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Deletes a client only while it is disabled; `Ok(false)` when it is not (gone, or
    /// enabled again).
    fn delete_disabled_client(
        &self,
        client_id: &str,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Revokes every live token issued to `client_id`; returns how many stored tokens this
    /// call revoked (expired, consumed and revoked ones are left as they are). JWT access
    /// tokens, which are not stored, are revoked through the client's revocation time,
    /// written first (raised to `now`, never lowered): every JWT of the client issued at or
    /// before it is refused (`JwtRevocations::is_jwt_revoked`).
    fn revoke_client_tokens(
        &self,
        client_id: &str,
        now: u64,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
}

/// Reads the JWT signing keyring (strongly consistent); `None` before the first key.
pub trait GetKeyring: Sync {
    fn get_keyring(&self) -> impl Future<Output = StoreResult<Option<Keyring>>> + Send;
}

/// Writes the keyring (admin tool), only if the stored one still has `expected_version`
/// (`None`: none stored yet); `Ok(false)` otherwise.
pub trait PutKeyring: GetKeyring {
    fn put_keyring(
        &self,
        expected_version: Option<u64>,
        keyring: &Keyring,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// Revocations of JWT access tokens, which are not stored themselves: a revoked token's
/// `jti` is remembered until the token expires, and a client whose tokens were revoked
/// (disabled or deleted) has its revocation time.
pub trait JwtRevocations: Sync {
    fn revoke_jwt(
        &self,
        jti: &str,
        expires_at: u64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Whether the verified JWT with these claims is revoked: its `jti` was, its client's
    /// tokens were at or after its `iat`, or the refresh family it names (`sid`) was. One
    /// strongly consistent request.
    fn is_jwt_revoked(&self, claims: &Claims) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// Per-client token quotas (PROTOCOL §11.1), counted in fixed windows shared by every
/// instance.
pub trait Quotas: Sync {
    /// Counts one request of `client_id` in the window starting at `window_start` (epoch
    /// seconds) unless `max` are counted already: `Ok(true)` when counted, `Ok(false)` when
    /// the quota is used up (nothing counted). One conditional atomic write; the count
    /// expires with `expires_at`.
    fn take_quota(
        &self,
        client_id: &str,
        window_start: u64,
        max: u64,
        expires_at: u64,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Takes back one request counted in the window starting at `window_start` (a refresh
    /// that passed every check, was counted, then lost its rotation's race): one
    /// conditional atomic write that never takes the count below zero.
    fn return_quota(
        &self,
        client_id: &str,
        window_start: u64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// How many requests of `client_id` the window starting at `window_start` has counted.
    fn quota_used(
        &self,
        client_id: &str,
        window_start: u64,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
}

/// How a family's list names a JWT access token: by its `jti`, under a prefix no token
/// hash has.
pub const JWT_LIST_PREFIX: &str = "jwt#";

/// One change the admin tool made, as its audit trail keeps it: when, who, what, to which
/// client or signing key, and the settings that changed. Never a secret, a hash or a token:
/// `changes` holds only what the tool shows of a client (`admin::ops::ClientView`) or of a
/// signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Unique within the trail: the time, zero-padded, then random hex (see `admin::audit`).
    pub id: String,
    /// Epoch milliseconds.
    pub at_ms: u64,
    /// The same instant in RFC 3339 (UTC, milliseconds), for people reading the table.
    pub at: String,
    /// The caller's AWS identity (an ARN) or the local user's name.
    pub actor: String,
    /// `aws` (from STS GetCallerIdentity) or `local` (`$USER`, `$LOGNAME`, else `unknown`).
    pub actor_source: String,
    /// `client.created`, `client.updated`, `secret.rotated`, `signing_key.created`, ...
    pub action: String,
    /// The client the change is about, if any.
    pub client_id: Option<String>,
    /// The signing key the change is about, if any.
    pub key_id: Option<String>,
    /// Field name to value (a new client's settings) or to `{"from": .., "to": ..}`.
    pub changes: serde_json::Map<String, serde_json::Value>,
}

/// The admin tool's audit trail: append-only.
pub trait AuditLog: Sync {
    /// Appends `record` under its id, never over another record.
    fn append_audit(&self, record: &AuditRecord) -> impl Future<Output = StoreResult<()>> + Send;

    /// Every record, or those about `client_id`, oldest first (records of the same
    /// millisecond in an order the store keeps: appended, or by id).
    fn list_audit(
        &self,
        client_id: Option<&str>,
    ) -> impl Future<Output = StoreResult<Vec<AuditRecord>>> + Send;
}
