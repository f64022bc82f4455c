//! The token endpoint's grants, `client_credentials` and `refresh_token`, with the checks in
//! CONTRACT §3's order: the first failure is the answer.

use super::client_auth::Offered;
use super::error::OAuthError;
use super::request::{Authorization, Params};
use super::{scope, token};
use crate::store::{ClientRecord, GrantStore, GrantType, StoreError, TokenKind, TokenRecord};
use ring::rand::SystemRandom;
use serde::Serialize;

/// Deployment-wide issuing rules (CONTRACT §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuePolicy {
    pub access_ttl: u64,
    pub refresh_ttl: u64,
    /// Whether the client_credentials grant also hands out a refresh token.
    pub issue_refresh_tokens: bool,
}

impl Default for IssuePolicy {
    fn default() -> Self {
        IssuePolicy {
            access_ttl: 604_800,
            refresh_ttl: 1_209_600,
            issue_refresh_tokens: true,
        }
    }
}

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

/// What a request was about, for the log line, filled in as the checks get to it.
#[derive(Debug, Default, Clone)]
pub struct Trace {
    pub grant: Option<GrantType>,
    pub client_id: Option<String>,
}

/// Everything a grant needs besides the request.
pub struct Issuer<'a, S> {
    pub store: &'a S,
    pub policy: &'a IssuePolicy,
    pub rng: &'a SystemRandom,
    /// Epoch milliseconds; read when a request starts and when a refresh token is consumed.
    pub clock: fn() -> u64,
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
        trace: &mut Trace,
    ) -> Result<IssuedTokens, OAuthError> {
        let started_ms = (self.clock)();
        let now = started_ms / 1000;
        // 1–2. The grant type.
        let grant_type = params.grant_type.required("grant_type")?;
        let grant = GrantType::parse(grant_type)
            .ok_or_else(|| OAuthError::unsupported_grant_type(grant_type))?;
        trace.grant = Some(grant);

        // 3. Client credentials present, single, and not mixed.
        let offered = Offered::from_request(params, auth)?;
        let id = offered.client_id();
        trace.client_id = id.map(str::to_owned);

        // 4. One read: the client, and for a refresh the presented token with it.
        let refresh_hash = match grant {
            GrantType::RefreshToken => params.refresh_token.value().map(token::hash),
            GrantType::ClientCredentials => None,
        };
        let (client, presented) = match (id, &refresh_hash) {
            (None, _) => (None, None),
            (Some(id), None) => (self.store.get_client(id).await.map_err(store_error)?, None),
            (Some(id), Some(hash)) => self
                .store
                .get_client_and_token(id, hash)
                .await
                .map_err(store_error)?,
        };
        let client = offered.authenticate(client)?;

        // 5. The grant is one this client may use.
        if !client.grants.contains(&grant) {
            return Err(OAuthError::UnauthorizedClient);
        }

        match grant {
            GrantType::ClientCredentials => self.client_credentials(params, &client, now).await,
            GrantType::RefreshToken => self.refresh(params, &client, presented, started_ms).await,
        }
    }

    async fn client_credentials(
        &self,
        params: &Params,
        client: &ClientRecord,
        now: u64,
    ) -> Result<IssuedTokens, OAuthError> {
        // 7. Scope.
        let requested = params.scope.optional("scope")?;
        let default = if client.default_scopes.is_empty() {
            &client.scopes
        } else {
            &client.default_scopes
        };
        let granted = scope::grant(requested, &client.scopes, default)?;

        // 8. Issue.
        let family = token::generate(self.rng).map_err(rng_error)?;
        let with_refresh = self.policy.issue_refresh_tokens;
        let (issued, records) = self.mint(client, granted, &family, with_refresh, now)?;
        self.store.put_tokens(&records).await.map_err(store_error)?;
        Ok(issued)
    }

    async fn refresh(
        &self,
        params: &Params,
        client: &ClientRecord,
        presented: Option<TokenRecord>,
        started_ms: u64,
    ) -> Result<IssuedTokens, OAuthError> {
        let now = started_ms / 1000;
        // 6. The refresh token: present, a refresh token of this client, live.
        let Some(old_hash) = params.refresh_token.value().map(token::hash) else {
            return Err(OAuthError::InvalidRequest("refresh_token"));
        };
        let old = match presented {
            Some(t) if t.kind == TokenKind::Refresh && t.client_id == client.client_id => t,
            _ => return Err(OAuthError::InvalidRefresh),
        };
        match old.used_at_ms {
            // Consumed while this request was already under way: it lost a race with a
            // concurrent use, which is no sign of theft.
            Some(used_at) if used_at >= started_ms => return Err(OAuthError::InvalidRefresh),
            // Presented again after it was consumed: whoever holds the family may be an
            // attacker. Revoking the family is a query plus a write per token; it happens
            // only on this path, never on a normal request.
            Some(_) => {
                tracing::warn!(client_id = %client.client_id, "refresh token reuse: revoking its family");
                self.store
                    .revoke_family(&old.family)
                    .await
                    .map_err(store_error)?;
                return Err(OAuthError::InvalidRefresh);
            }
            None => {}
        }
        if !old.is_live(now) {
            return Err(OAuthError::InvalidRefresh);
        }

        // 7. Scope: within the original grant's and among the client's allowed scopes
        // now (an operator may have taken one away since); unchanged when not asked.
        let requested = params.scope.optional("scope")?;
        let allowed: Vec<String> = old
            .scope
            .iter()
            .filter(|s| client.scopes.contains(s))
            .cloned()
            .collect();
        let granted = scope::grant(requested, &allowed, &old.scope)?;

        // 8. Rotate: consume the old token and write its successors in one transaction.
        let (issued, records) = self.mint(client, granted, &old.family, true, now)?;
        let consumed = self
            .store
            .rotate_refresh(&old_hash, &client.client_id, (self.clock)(), &records)
            .await
            .map_err(store_error)?;
        if consumed {
            Ok(issued)
        } else {
            // Lost a race with a concurrent use: refused, and nothing revoked.
            Err(OAuthError::InvalidRefresh)
        }
    }

    /// Draws the tokens and the records to store for them.
    fn mint(
        &self,
        client: &ClientRecord,
        scope: Vec<String>,
        family: &str,
        with_refresh: bool,
        now: u64,
    ) -> Result<(IssuedTokens, Vec<TokenRecord>), OAuthError> {
        let access_ttl = client.access_ttl.unwrap_or(self.policy.access_ttl);
        let refresh_ttl = client.refresh_ttl.unwrap_or(self.policy.refresh_ttl);
        let record = |token: &str, kind, ttl: u64| TokenRecord {
            token_hash: token::hash(token),
            kind,
            client_id: client.client_id.clone(),
            scope: scope.clone(),
            issued_at: now,
            expires_at: now + ttl,
            family: family.to_owned(),
            used_at_ms: None,
            revoked: false,
        };
        let access = token::generate(self.rng).map_err(rng_error)?;
        let mut records = vec![record(&access, TokenKind::Access, access_ttl)];
        let refresh = if with_refresh {
            let refresh = token::generate(self.rng).map_err(rng_error)?;
            records.push(record(&refresh, TokenKind::Refresh, refresh_ttl));
            Some(refresh)
        } else {
            None
        };
        let issued = IssuedTokens {
            access_token: access,
            token_type: "bearer",
            expires: now + access_ttl,
            expires_in: access_ttl,
            refresh_token: refresh,
            scope: (!scope.is_empty()).then(|| scope.join(" ")),
        };
        Ok((issued, records))
    }
}
