//! What a client can do with a token it holds, beside the token endpoint (PROTOCOL §9):
//! revoke it (RFC 7009) or introspect it (RFC 7662). Both authenticate the client as the
//! token endpoint does, and read the client and the token in one round trip.

use super::client_auth::Offered;
use super::error::OAuthError;
use super::grant::{Issuer, note_on_span, store_error};
use super::jwt::{self, Claims, PublicKey};
use super::model::{ClientRecord, TokenKind, TokenRecord};
use super::request::{Authorization, Params};
use super::token;
use crate::store::{
    GetClient, GetClientAndToken, GetFamily, GetKeyring, JwtRevocations, Revoke, family_revoked,
};
use serde::Serialize;
use serde_json::{Value, json};

/// An introspection answer: `{"active": false}` or the live token's facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
}

impl Introspection {
    pub const INACTIVE: Introspection = Introspection {
        active: false,
        client_id: None,
        scope: None,
        exp: None,
        iat: None,
        token_type: None,
    };

    fn of_jwt(c: &Claims) -> Self {
        Introspection {
            active: true,
            client_id: Some(c.client_id.clone()),
            scope: Some(c.scope.clone()),
            exp: Some(c.exp),
            iat: Some(c.iat),
            token_type: Some("bearer"),
        }
    }

    fn of(t: &TokenRecord) -> Self {
        Introspection {
            active: true,
            client_id: Some(t.client_id.clone()),
            scope: Some(t.scope.join(" ")),
            exp: Some(t.expires_at),
            iat: Some(t.issued_at),
            token_type: Some(match t.kind {
                TokenKind::Access => "bearer",
                TokenKind::Refresh => "refresh_token",
            }),
        }
    }
}

impl<S> Issuer<'_, S>
where
    S: GetClient + GetClientAndToken + GetFamily + Revoke + GetKeyring + JwtRevocations + Sync,
{
    /// Authenticates the client, then reads the `token` parameter's record with it.
    async fn client_and_token(
        &self,
        params: &Params,
        auth: &Authorization,
    ) -> Result<(ClientRecord, Option<TokenRecord>), OAuthError> {
        let offered = Offered::from_request(params, auth)?;
        let id = offered.client_id();
        if let Some(id) = id {
            note_on_span("client_id", id);
        }
        let hash = params.token.value().map(token::hash);
        let (client, record) = match (id, &hash) {
            (None, _) => (None, None),
            (Some(id), None) => (self.store.get_client(id).await.map_err(store_error)?, None),
            (Some(id), Some(hash)) => self
                .store
                .get_client_and_token(id, hash)
                .await
                .map_err(store_error)?,
        };
        let client = offered.authenticate(client)?;
        params.token.required("token")?;
        params.token_type_hint.optional("token_type_hint")?;
        Ok((client, record))
    }

    /// RFC 7009: revokes the client's own token; a refresh token takes its family with it.
    /// Unknown tokens and other clients' tokens change nothing and answer the same.
    pub async fn revoke(&self, params: &Params, auth: &Authorization) -> Result<(), OAuthError> {
        let (client, record) = self.client_and_token(params, auth).await?;
        if record.is_none()
            && let Some(claims) = self.verified_jwt(params).await?
        {
            if claims.client_id == client.client_id {
                self.store
                    .revoke_jwt(&claims.jti, claims.exp)
                    .await
                    .map_err(store_error)?;
                audit_revoked("token_revoked", &client.client_id, "access");
            }
            return Ok(());
        }
        match record {
            Some(t) if t.client_id == client.client_id => {
                match t.kind {
                    TokenKind::Refresh => {
                        let now = (self.clock)() / 1000;
                        self.store.revoke_family(&t, now).await
                    }
                    TokenKind::Access => self.store.revoke_token(&t.token_hash).await,
                }
                .map_err(store_error)?;
                match t.kind {
                    TokenKind::Refresh => {
                        audit_revoked("family_revoked", &client.client_id, "revocation")
                    }
                    TokenKind::Access => {
                        audit_revoked("token_revoked", &client.client_id, "access")
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// RFC 7662: the facts of a live token the client may see (its own, or any for a
    /// resource server); `{"active": false}` for everything else.
    pub async fn introspect(
        &self,
        params: &Params,
        auth: &Authorization,
    ) -> Result<Introspection, OAuthError> {
        let now = (self.clock)() / 1000;
        let (client, record) = self.client_and_token(params, auth).await?;
        if record.is_none()
            && let Some(claims) = self.verified_jwt(params).await?
        {
            let visible = claims.client_id == client.client_id || client.resource_server;
            if !visible
                || self
                    .store
                    .is_jwt_revoked(&claims)
                    .await
                    .map_err(store_error)?
            {
                return Ok(Introspection::INACTIVE);
            }
            return Ok(Introspection::of_jwt(&claims));
        }
        match record {
            Some(t)
                if t.is_live(now)
                    && (t.client_id == client.client_id || client.resource_server) =>
            {
                // A live token of a revoked family is not live: its family record is the
                // decision, whether or not the revocation's sweep reached the token.
                match family_revoked(self.store, &t).await.map_err(store_error)? {
                    true => Ok(Introspection::INACTIVE),
                    false => Ok(Introspection::of(&t)),
                }
            }
            _ => Ok(Introspection::INACTIVE),
        }
    }

    /// The `token` parameter's claims, if it is a JWT this service signed with a key it
    /// still publishes and it has not expired; `None` for anything else (revocation is
    /// the caller's to check).
    async fn verified_jwt(&self, params: &Params) -> Result<Option<Claims>, OAuthError> {
        let (Some(token), Some(keys)) = (params.token.value(), self.jwt) else {
            return Ok(None);
        };
        if !jwt::looks_like_jwt(token) {
            return Ok(None);
        }
        let now = (self.clock)() / 1000;
        let published = keys.published(self.store, now).await.map_err(store_error)?;
        Ok(jwt::verify(token, &published, None, now).ok())
    }

    /// The JWKS document: every key a verifier must know now (PROTOCOL §10.2).
    pub async fn jwks(&self) -> Result<Value, OAuthError> {
        let keys = match self.jwt {
            Some(keys) => {
                let now = (self.clock)() / 1000;
                keys.published(self.store, now).await.map_err(store_error)?
            }
            None => Vec::new(),
        };
        Ok(json!({"keys": keys.iter().map(PublicKey::jwk).collect::<Vec<_>>()}))
    }
}

/// The audit event of a revocation (PROTOCOL §11.3): whose, and of what kind or why;
/// never the token or its hash.
pub(crate) fn audit_revoked(event: &'static str, client_id: &str, detail: &'static str) {
    match event {
        "family_revoked" => {
            tracing::warn!(event, client_id, cause = detail, "token family revoked")
        }
        _ => tracing::info!(event, client_id, kind = detail, "token revoked"),
    }
}
