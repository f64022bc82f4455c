//! The token endpoint's grants, `client_credentials` and `refresh_token`, with the checks in
//! PROTOCOL §3's order (docs/PROTOCOL.md): the first failure is the answer.

use super::client_auth::Offered;
use super::client_cache::ClientCache;
use super::error::OAuthError;
use super::jwt::{self, Claims};
use super::model::{ClientRecord, FamilyToken, GrantType, TokenFormat, TokenKind, TokenRecord};
use super::request::{Authorization, Params};
use super::{scope, token};
use crate::keys::{JwtKeys, KeyError, MAX_JWT_TTL};
use crate::store::{GrantStore, JWT_LIST_PREFIX, Rotation, StoreError};
use ring::rand::SystemRandom;
use ring::signature::RsaKeyPair;
use serde::Serialize;
use std::time::Duration;

/// Deployment-wide issuing rules (PROTOCOL §5.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuePolicy {
    pub access_ttl: u64,
    pub refresh_ttl: u64,
    /// Whether the client_credentials grant also hands out a refresh token (to clients
    /// allowed the refresh_token grant).
    pub issue_refresh_tokens: bool,
    /// How long after its consumption a refresh token may be presented again by its own
    /// client for a new pair in the same family, nothing revoked (0: never).
    pub reuse_grace_ms: u64,
    /// The access-token format of clients that name none.
    pub default_format: TokenFormat,
    /// The default lifetime of JWT access tokens, in seconds.
    pub jwt_access_ttl: u64,
    /// The `aud` of JWT access tokens whose client names none; empty: the issuer.
    pub jwt_audience: Vec<String>,
}

impl Default for IssuePolicy {
    fn default() -> Self {
        IssuePolicy {
            access_ttl: 604_800,
            refresh_ttl: 1_209_600,
            issue_refresh_tokens: true,
            reuse_grace_ms: 0,
            default_format: TokenFormat::Opaque,
            jwt_access_ttl: 3600,
            jwt_audience: Vec::new(),
        }
    }
}

/// Longest token lifetime, in seconds (ten years): a per-client lifetime read from a
/// record is clamped to it.
pub const MAX_TTL: u64 = 315_360_000;

/// Most access tokens a family lists (see `TokenRecord::family_tokens`); a rotation past
/// it revokes the oldest, so that the list, written with every rotation, stays small.
pub const MAX_FAMILY_TOKENS: usize = 100;

/// When no deadline is known, how long a rotation may take to be answered: the token
/// function's timeout in the template.
const DEFAULT_ANSWER_WINDOW_MS: u64 = 10_000;

/// How far ahead of itself a committed rotation records its answer time (PROTOCOL §6.3):
/// it writes now + this, waits for the write at most that long, and answers only once
/// that time has come, so the recorded time is the answer's, however long the write took
/// or if its answer was lost. What it costs: a refresh answers this much later.
const ANSWER_RECORD_MS: u64 = 100;

/// Kept back from a rotation's deadline (`answer_by_ms`) after its commit, so that its
/// answer, with the tokens, goes out before the request's budget runs out.
const ANSWER_SLACK_MS: u64 = 20;

/// The success body, keys in the document's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedTokens {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires: u64,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Names what a request is about on the current (request) span, for its log line: the
/// grant and the client id, as the checks get to them. Logging stays at the edge; the
/// protocol only says what it learnt.
pub(crate) fn note_on_span(field: &'static str, value: &str) {
    tracing::Span::current().record(field, value);
}

/// Everything a grant needs besides the request.
pub struct Issuer<'a, S> {
    pub store: &'a S,
    pub policy: &'a IssuePolicy,
    pub rng: &'a SystemRandom,
    /// Epoch milliseconds; read when a request starts and when a refresh token is consumed.
    pub clock: fn() -> u64,
    /// The signing keys, for clients whose tokens are JWTs; `None`: such clients get a
    /// server error (a deployment without keys).
    pub jwt: Option<&'a JwtKeys>,
    /// Client records a warm function may reuse (`CLIENT_CACHE_SECONDS`); `None`: every
    /// request reads its client.
    pub clients: Option<&'a ClientCache>,
}

/// What a request brings beside its parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Call<'r> {
    /// When the answer must be sent (epoch ms), if known.
    pub deadline_ms: Option<u64>,
    /// The issuer URL, as the metadata names it: a JWT's `iss`.
    pub issuer_url: &'r str,
}

/// The system clock in epoch milliseconds.
pub fn system_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub(crate) fn store_error(e: StoreError) -> OAuthError {
    match e {
        StoreError::Unavailable(detail) => {
            tracing::warn!(%detail, "storage unavailable");
            OAuthError::TemporarilyUnavailable
        }
        StoreError::Internal(detail) => {
            tracing::error!(%detail, "storage error");
            OAuthError::ServerError
        }
    }
}

/// The access-token format's name in metrics.
fn format_name(jwt: bool) -> &'static str {
    if jwt {
        TokenFormat::Jwt.as_str()
    } else {
        TokenFormat::Opaque.as_str()
    }
}

/// A quota window: one clock hour.
pub const QUOTA_WINDOW_SECS: u64 = 3600;

/// The start of the quota window holding `now` (epoch seconds).
pub fn quota_window(now: u64) -> u64 {
    now - now % QUOTA_WINDOW_SECS
}

fn rng_error(_: ring::error::Unspecified) -> OAuthError {
    tracing::error!("system random number generator failed");
    OAuthError::ServerError
}

impl<S: GrantStore> Issuer<'_, S> {
    /// Answers one token request.
    pub async fn token(
        &self,
        params: &Params,
        auth: &Authorization,
        call: Call<'_>,
    ) -> Result<IssuedTokens, OAuthError> {
        let started_ms = (self.clock)();
        let now = started_ms / 1000;
        // 1–2. The grant type.
        let grant_type = params.grant_type.required("grant_type")?;
        let grant = GrantType::parse(grant_type)
            .ok_or_else(|| OAuthError::unsupported_grant_type(grant_type))?;
        note_on_span("grant", grant.as_str());

        // 3. Client credentials present, single, and not mixed.
        let offered = Offered::from_request(params, auth)?;
        let id = offered.client_id();
        if let Some(id) = id {
            note_on_span("client_id", id);
        }

        // 4. One read: the client, and for a refresh the presented token with it.
        let refresh_hash = match grant {
            GrantType::RefreshToken => params.refresh_token.value().map(token::hash),
            GrantType::ClientCredentials => None,
        };
        let mut cached = false;
        let (client, presented) = match (id, &refresh_hash) {
            (None, _) => (None, None),
            (Some(id), None) => {
                let (client, from_cache) = self.client(id, started_ms).await?;
                cached = from_cache;
                (client, None)
            }
            (Some(id), Some(hash)) => self
                .store
                .get_client_and_token(id, hash)
                .await
                .map_err(store_error)?,
        };
        let client = match (offered.authenticate(client), id) {
            (Ok(client), _) => client,
            (Err(e), Some(id)) if cached => {
                self.reread_client(id, started_ms).await?;
                return Err(e);
            }
            (Err(e), _) => return Err(e),
        };

        // 5. The grant is one this client may use.
        if !client.grants.contains(&grant) {
            return Err(OAuthError::UnauthorizedClient);
        }

        match grant {
            GrantType::ClientCredentials => {
                self.client_credentials(params, &client, now, call.issuer_url)
                    .await
            }
            GrantType::RefreshToken => {
                let answer_by_ms = call
                    .deadline_ms
                    .unwrap_or_else(|| started_ms.saturating_add(DEFAULT_ANSWER_WINDOW_MS));
                self.refresh(
                    params,
                    &client,
                    presented,
                    started_ms,
                    answer_by_ms,
                    call.issuer_url,
                )
                .await
            }
        }
    }

    /// Counts this request against the client's hourly quota, if it has one (PROTOCOL
    /// §11.1): one conditional write, after every check of the request and before anything
    /// is issued or consumed. Clients without a quota cost nothing.
    /// Returns the window counted in, `None` for a client without a quota.
    async fn take_quota(&self, client: &ClientRecord, now: u64) -> Result<Option<u64>, OAuthError> {
        let Some(max) = client.max_tokens_per_hour else {
            return Ok(None);
        };
        let window = quota_window(now);
        let frees_at = window + QUOTA_WINDOW_SECS;
        let counted = self
            .store
            .take_quota(&client.client_id, window, max, frees_at + QUOTA_WINDOW_SECS)
            .await
            .map_err(store_error)?;
        if counted {
            return Ok(Some(window));
        }
        let retry_after = frees_at.saturating_sub(now).max(1);
        tracing::warn!(
            event = "quota_exceeded",
            client_id = %client.client_id,
            max_tokens_per_hour = max,
            retry_after,
            "token quota used up"
        );
        Err(OAuthError::TooManyRequests(retry_after))
    }

    /// The client's record, and whether it came from the cache: from the cache when it
    /// holds a fresh one, else read (and kept).
    async fn client(
        &self,
        id: &str,
        now_ms: u64,
    ) -> Result<(Option<ClientRecord>, bool), OAuthError> {
        if let Some(record) = self.clients.and_then(|c| c.get(id, now_ms)) {
            return Ok((Some(record), true));
        }
        let record = self.store.get_client(id).await.map_err(store_error)?;
        if let (Some(cache), Some(r)) = (self.clients, &record) {
            cache.put(r, now_ms);
        }
        Ok((record, false))
    }

    /// After a failed authentication against a cached record: the record is read again (it
    /// may be stale: a new secret) and kept as read, before the failure is answered. The
    /// read also makes the failure cost what it costs for an unknown id or an uncached
    /// client (one read), so that the answer's timing does not tell which ids this
    /// instance has cached. The failure stands whatever the read finds: a request
    /// verifies one set of hashes, never two (at most one PBKDF2 per request). A read that
    /// fails is answered as it is for any client (`temporarily_unavailable`, say), so that
    /// an outage does not tell cached ids apart either.
    async fn reread_client(&self, id: &str, now_ms: u64) -> Result<(), OAuthError> {
        let Some(cache) = self.clients else {
            return Ok(());
        };
        cache.forget(id);
        if let Some(record) = self.store.get_client(id).await.map_err(store_error)? {
            cache.put(&record, now_ms);
        }
        Ok(())
    }

    async fn client_credentials(
        &self,
        params: &Params,
        client: &ClientRecord,
        now: u64,
        issuer_url: &str,
    ) -> Result<IssuedTokens, OAuthError> {
        // 7. Scope.
        let requested = params.scope.optional("scope")?;
        let default = if client.default_scopes.is_empty() {
            &client.scopes
        } else {
            &client.default_scopes
        };
        let granted = scope::grant(requested, &client.scopes, default)?;

        // 8. Issue (within the client's quota): a refresh token only to a client that may
        // use one. The signing key first: a request that cannot be signed is not counted.
        let signer = self.signer_for(client, now).await?;
        self.take_quota(client, now).await?;
        let with_refresh =
            self.policy.issue_refresh_tokens && client.grants.contains(&GrantType::RefreshToken);
        let format = format_name(signer.is_some());
        let minted = self.mint(client, granted, None, with_refresh, now, signer, issuer_url)?;
        // A JWT without a refresh token writes nothing.
        if !minted.records.is_empty() {
            self.store
                .put_tokens(&minted.records)
                .await
                .map_err(store_error)?;
        }
        crate::metrics::issued(GrantType::ClientCredentials.as_str(), format);
        Ok(minted.issued)
    }

    async fn refresh(
        &self,
        params: &Params,
        client: &ClientRecord,
        presented: Option<TokenRecord>,
        started_ms: u64,
        answer_by_ms: u64,
        issuer_url: &str,
    ) -> Result<IssuedTokens, OAuthError> {
        let now = started_ms / 1000;
        // 6. The refresh token: present, a refresh token of this client, live.
        if params.refresh_token.value().is_none() {
            return Err(OAuthError::InvalidRequest("refresh_token"));
        }
        let old = match presented {
            Some(t) if t.kind == TokenKind::Refresh && t.client_id == client.client_id => t,
            _ => return Err(OAuthError::InvalidRefresh),
        };
        // Re-presented within the grace: the family's current refresh token, whose answer
        // the client may never have had, is replaced instead of `old` being consumed.
        let mut superseded: Option<TokenRecord> = None;
        if let Some(used_at) = old.used_at_ms {
            if !old.consumption_answered_before(started_ms) {
                // Consumed by a rotation that had not been answered when this request
                // began: a lost race with a concurrent use, no sign of theft.
                return Err(OAuthError::InvalidRefresh);
            }
            let in_grace = self.policy.reuse_grace_ms > 0
                && started_ms <= used_at.saturating_add(self.policy.reuse_grace_ms)
                && !old.revoked
                && now < old.expires_at;
            superseded = match in_grace {
                true => self.grace_successor(&old).await?,
                false => None,
            };
            if superseded.is_none() {
                // Presented again after its consumption was answered: whoever holds the
                // family may be an attacker. The family record refuses every rotation
                // from now on, and its live tokens are revoked before this answer.
                tracing::warn!(
                    event = "refresh_reuse",
                    client_id = %client.client_id,
                    "consumed refresh token presented again: revoking its family"
                );
                self.store
                    .revoke_family(&old, now)
                    .await
                    .map_err(store_error)?;
                super::lifecycle::audit_revoked("family_revoked", &client.client_id, "reuse");
                return Err(OAuthError::InvalidRefresh);
            }
        } else if !old.is_live(now) {
            return Err(OAuthError::InvalidRefresh);
        }

        // 7. Scope: within the refresh token's and among the client's allowed scopes now
        // (an operator may have taken one away since); when not asked, the refresh
        // token's less what the client may no longer have.
        let requested = params.scope.optional("scope")?;
        let allowed: Vec<String> = old
            .scope
            .iter()
            .filter(|s| client.scopes.contains(s))
            .cloned()
            .collect();
        let granted = scope::grant(requested, &allowed, &allowed)?;

        // 8. Rotate (within the client's quota): the family record, the old token and the
        // new pair in one transaction.
        let signer = self.signer_for(client, now).await?;
        let counted_in = self.take_quota(client, now).await?;
        let listed_on = superseded.as_ref().unwrap_or(&old);
        let format = format_name(signer.is_some());
        let mut minted = self.mint(
            client,
            granted,
            Some((&old.family, listed_on)),
            true,
            now,
            signer,
            issuer_url,
        )?;
        if let Some(refresh) = minted.records.last_mut() {
            refresh.parent = Some(old.token_hash.clone());
        }
        let (access, refresh) = match minted.records.as_slice() {
            [access, refresh] => (Some(access), refresh),
            [refresh] => (None, refresh),
            _ => return Err(OAuthError::ServerError),
        };
        let rotation = Rotation {
            old: &old,
            supersede: superseded.as_ref().map(|t| t.token_hash.as_str()),
            client_id: &client.client_id,
            now_ms: (self.clock)(),
            answer_by_ms,
            access,
            refresh,
        };
        if !self.commit_rotation(&rotation).await? {
            // Lost a race with a concurrent use, or the family was revoked meanwhile: a
            // refused request, so its count is taken back (best effort: a failure here
            // leaves the count on the strict side).
            if let Some(window) = counted_in
                && let Err(e) = self.store.return_quota(&client.client_id, window).await
            {
                tracing::warn!(detail = %e, "could not take back a refused refresh's count");
            }
            return Err(OAuthError::InvalidRefresh);
        }
        let consumed = superseded.as_ref().unwrap_or(&old);
        self.after_commit(&minted.dropped, consumed, answer_by_ms)
            .await;
        crate::metrics::issued(GrantType::RefreshToken.as_str(), format);
        Ok(minted.issued)
    }

    /// What a committed rotation does before it answers (PROTOCOL §6.3): revoke the access
    /// tokens that fell off the family's list, then record the answer time on the token it
    /// consumed (`old`, or within the grace the successor it retired).
    async fn after_commit(
        &self,
        dropped: &[FamilyToken],
        consumed: &TokenRecord,
        answer_by_ms: u64,
    ) {
        // Committed: from here on nothing may keep the tokens from their answer, so each
        // write after the commit is bounded by the time left before the deadline (a
        // request cut short by its budget would be answered without them, and the
        // client's retry taken for reuse).
        let answer_by = answer_by_ms.saturating_sub(ANSWER_SLACK_MS);
        let revocations = async {
            for dropped in dropped {
                let revoked = match dropped.token_hash.strip_prefix(JWT_LIST_PREFIX) {
                    Some(jti) => self.store.revoke_jwt(jti, dropped.expires_at).await,
                    None => self.store.revoke_token(&dropped.token_hash).await,
                };
                if let Err(e) = revoked {
                    tracing::warn!(detail = %e, "could not revoke a family's oldest access token");
                }
            }
        };
        let left = answer_by.saturating_sub(ANSWER_RECORD_MS + (self.clock)());
        if tokio::time::timeout(Duration::from_millis(left), revocations)
            .await
            .is_err()
        {
            tracing::warn!("no time left to revoke a family's oldest access tokens");
        }
        // The last write before the answer, on `consumed`: the time the answer goes out, so
        // that a use of it that begins after the answer is told apart from one that raced
        // this rotation. The time is written ahead and the answer waits for it: the write
        // may be applied and its own answer come late (or never), and a time written
        // before the answer would take a use racing the rest of it for reuse. Without time
        // for it the deadline recorded in the transaction stands in.
        let now = (self.clock)();
        let at = now.saturating_add(ANSWER_RECORD_MS).min(answer_by);
        if at > now {
            let wait = Duration::from_millis(at - now);
            match tokio::time::timeout(wait, self.store.mark_answered(&consumed.token_hash, at))
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(detail = %e, "could not record the rotation's answer time")
                }
                Err(_) => tracing::warn!("recording the rotation's answer time took too long"),
            }
            // Strictly after it: a use that begins at `at` itself counts as a race. Checked
            // again after the sleep, for a clock that runs ahead of the timer's (a stopped
            // one, in tests, is given up on).
            for _ in 0..3 {
                let early = (at + 1).saturating_sub((self.clock)());
                if early == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(early)).await;
            }
        }
    }

    /// The family's current refresh token, for a re-presentation within the grace; `None`
    /// when the family is revoked or has no live current token (reuse detection applies).
    async fn grace_successor(&self, old: &TokenRecord) -> Result<Option<TokenRecord>, OAuthError> {
        let Some(family) = self
            .store
            .get_family(&old.family)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        if family.revoked || family.current() == old.token_hash {
            return Ok(None);
        }
        let current = self
            .store
            .get_token(family.current())
            .await
            .map_err(store_error)?;
        // Only the token the rotation that consumed `old` issued (or a grace rotation of
        // `old` since): a token further down the family means `old`'s answer was not lost.
        Ok(current.filter(|t| {
            !t.revoked
                && t.kind == TokenKind::Refresh
                && t.parent.as_deref() == Some(old.token_hash.as_str())
        }))
    }

    /// The key to sign with, for a client whose access tokens are JWTs; `None` for opaque.
    async fn signer_for(
        &self,
        client: &ClientRecord,
        now: u64,
    ) -> Result<Option<(String, std::sync::Arc<RsaKeyPair>)>, OAuthError> {
        if client.token_format.unwrap_or(self.policy.default_format) != TokenFormat::Jwt {
            return Ok(None);
        }
        let Some(keys) = self.jwt else {
            tracing::error!("a JWT client, and this function has no signing keys configured");
            return Err(OAuthError::ServerError);
        };
        match keys.signer(self.store, now).await {
            Ok(signer) => Ok(Some(signer)),
            Err(KeyError::Store(e)) => Err(store_error(e)),
            Err(KeyError::NoSigningKey) => {
                tracing::error!("no signing key yet: run `oauth-admin create-signing-key`");
                Err(OAuthError::ServerError)
            }
            Err(KeyError::Unusable(detail)) => {
                tracing::error!(%detail, "the signing key cannot be used");
                Err(OAuthError::ServerError)
            }
        }
    }

    /// Sends the rotation; when its outcome is unknown (a timeout, a dropped connection),
    /// finds out whether it committed before answering: a committed rotation is answered
    /// with its tokens, never taken for a failure the client would retry into a reuse.
    async fn commit_rotation(&self, rotation: &Rotation<'_>) -> Result<bool, OAuthError> {
        let detail = match self.store.rotate_refresh(rotation).await {
            Ok(committed) => return Ok(committed),
            Err(StoreError::Unavailable(detail)) => detail,
            Err(e) => return Err(store_error(e)),
        };
        tracing::warn!(%detail, "rotation outcome unknown: checking whether it committed");
        if self.rotation_committed(rotation).await? {
            return Ok(true);
        }
        // Not there: send it again (DynamoDB applies a transaction once per idempotency
        // token, so a first attempt still in flight cannot commit twice), then look again.
        match self.store.rotate_refresh(rotation).await {
            Ok(committed) => return Ok(committed),
            Err(StoreError::Unavailable(detail)) => {
                tracing::warn!(%detail, "rotation retry outcome unknown");
            }
            Err(e) => return Err(store_error(e)),
        }
        if self.rotation_committed(rotation).await? {
            return Ok(true);
        }
        Err(OAuthError::TemporarilyUnavailable)
    }

    async fn rotation_committed(&self, rotation: &Rotation<'_>) -> Result<bool, OAuthError> {
        match self.store.get_token(&rotation.refresh.token_hash).await {
            Ok(found) => Ok(found.is_some_and(|t| {
                t.family == rotation.refresh.family && t.client_id == rotation.refresh.client_id
            })),
            Err(StoreError::Unavailable(detail)) => {
                tracing::warn!(%detail, "could not check whether the rotation committed");
                Ok(false)
            }
            Err(e) => Err(store_error(e)),
        }
    }

    /// Draws the tokens and the records to store for them. `family`: the family to mint
    /// into and the refresh token whose list the new refresh token carries on; `None`
    /// starts a family. With `signer` the access token is a JWT, which is not stored.
    #[allow(clippy::too_many_arguments)]
    fn mint(
        &self,
        client: &ClientRecord,
        scope: Vec<String>,
        family: Option<(&str, &TokenRecord)>,
        with_refresh: bool,
        now: u64,
        signer: Option<(String, std::sync::Arc<RsaKeyPair>)>,
        issuer_url: &str,
    ) -> Result<Minted, OAuthError> {
        let access_ttl = match signer {
            // A gateway that checks signatures alone sees no revocation: JWTs live short.
            Some(_) => client
                .access_ttl
                .unwrap_or(self.policy.jwt_access_ttl)
                .min(MAX_JWT_TTL),
            None => client
                .access_ttl
                .unwrap_or(self.policy.access_ttl)
                .min(MAX_TTL),
        };
        let refresh_ttl = client
            .refresh_ttl
            .unwrap_or(self.policy.refresh_ttl)
            .min(MAX_TTL);
        let expires = |ttl: u64| now.checked_add(ttl).ok_or(OAuthError::ServerError);
        let access_expires = expires(access_ttl)?;
        let refresh = match with_refresh {
            true => Some(token::generate(self.rng).map_err(rng_error)?),
            false => None,
        };
        // A refresh family is named by its first refresh token's hash, where its record
        // starts; a JWT names it so that its verifiers read that record.
        let refresh_family = match (family, &refresh) {
            (Some((id, _)), _) => Some(id.to_owned()),
            (None, Some(r)) => Some(token::hash(r)),
            (None, None) => None,
        };
        // The access token, and how the family's list names it.
        let (access, listed_as) = match &signer {
            Some((kid, pair)) => {
                let jti = token::generate(self.rng).map_err(rng_error)?;
                let aud = if !client.audiences.is_empty() {
                    client.audiences.clone()
                } else if !self.policy.jwt_audience.is_empty() {
                    self.policy.jwt_audience.clone()
                } else {
                    vec![issuer_url.to_owned()]
                };
                let claims = Claims {
                    iss: issuer_url.to_owned(),
                    sub: client.client_id.clone(),
                    client_id: client.client_id.clone(),
                    aud,
                    scope: scope.join(" "),
                    iat: now,
                    nbf: now,
                    exp: access_expires,
                    jti: jti.clone(),
                    sid: refresh_family.clone(),
                };
                let signed = jwt::sign(&claims, kid, pair, self.rng).map_err(rng_error)?;
                (signed, format!("{JWT_LIST_PREFIX}{jti}"))
            }
            None => {
                let access = token::generate(self.rng).map_err(rng_error)?;
                let hash = token::hash(&access);
                (access, hash)
            }
        };
        // A token issued alone is its own family.
        let family_id = refresh_family.unwrap_or_else(|| listed_as.clone());
        let record = |token_hash: String, kind, expires_at| TokenRecord {
            token_hash,
            kind,
            client_id: client.client_id.clone(),
            scope: scope.clone(),
            issued_at: now,
            expires_at,
            family: family_id.clone(),
            used_at_ms: None,
            answered_at_ms: None,
            answer_by_ms: None,
            family_tokens: Vec::new(),
            parent: None,
            revoked: false,
        };
        let mut records = Vec::new();
        if signer.is_none() {
            records.push(record(listed_as.clone(), TokenKind::Access, access_expires));
        }
        let mut dropped = Vec::new();
        if let Some(refresh) = &refresh {
            let mut listed: Vec<FamilyToken> = family
                .map(|(_, on)| on.family_tokens.clone())
                .unwrap_or_default();
            listed.retain(|t| t.expires_at > now);
            listed.push(FamilyToken {
                token_hash: listed_as,
                expires_at: access_expires,
            });
            if listed.len() > MAX_FAMILY_TOKENS {
                let excess = listed.len() - MAX_FAMILY_TOKENS;
                dropped = listed.drain(..excess).collect();
            }
            let mut refresh_record = record(
                token::hash(refresh),
                TokenKind::Refresh,
                expires(refresh_ttl)?,
            );
            refresh_record.family_tokens = listed;
            records.push(refresh_record);
        }
        let issued = IssuedTokens {
            access_token: access,
            token_type: "bearer",
            expires: access_expires,
            expires_in: access_ttl,
            refresh_token: refresh,
            scope: (!scope.is_empty()).then(|| scope.join(" ")),
        };
        Ok(Minted {
            issued,
            records,
            dropped,
        })
    }
}

/// Newly drawn tokens: the answer, the records to store, and the access tokens that fell
/// off the family's list (oldest first) and are to be revoked.
struct Minted {
    issued: IssuedTokens,
    records: Vec<TokenRecord>,
    dropped: Vec<FamilyToken>,
}
