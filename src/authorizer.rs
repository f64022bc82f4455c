//! The API Gateway HTTP API Lambda authorizer (REQUEST type, payload 2.0, simple
//! responses): authorizes a request whose Authorization header carries a live access token
//! of this service, opaque or JWT, and passes its `client_id` and `scope` to the backend. It fails closed:
//! anything unreadable, unknown, or a storage failure is a denial.

use crate::keys::JwtKeys;
use crate::oauth::jwt::{self, Refusal};
use crate::oauth::{TokenKind, token};
use crate::store::{GetFamily, GetKeyring, GetToken, JwtRevocations, family_revoked};
use serde_json::{Value, json};

/// Longest token value considered; anything longer is not one of ours (a JWT of this
/// service is under 1 KB).
const MAX_TOKEN_LEN: usize = 4096;

/// Why a request was allowed or denied, for the log line (never the token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    NoToken,
    Malformed,
    Unknown,
    NotAnAccessToken,
    Expired,
    Revoked,
    /// A JWT whose signature does not verify with any published key.
    BadSignature,
    /// A JWT before its `nbf`.
    NotYetValid,
    StorageFailed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::NoToken => "no_token",
            Verdict::Malformed => "malformed",
            Verdict::Unknown => "unknown_token",
            Verdict::NotAnAccessToken => "not_an_access_token",
            Verdict::Expired => "expired",
            Verdict::Revoked => "revoked",
            Verdict::BadSignature => "bad_signature",
            Verdict::NotYetValid => "not_yet_valid",
            Verdict::StorageFailed => "storage_failed",
        }
    }
}

/// The Authorization header's value from the event (any case), else the identity source.
fn authorization(event: &Value) -> Option<&str> {
    let from_headers = event
        .get("headers")
        .and_then(Value::as_object)
        .and_then(|h| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        })
        .and_then(|(_, v)| v.as_str());
    from_headers.or_else(|| {
        event
            .get("identitySource")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
    })
}

/// `Bearer <token>` or the bare token (older Teen Quotes clients send no scheme).
pub fn bearer_token(header: &str) -> Option<&str> {
    let header = header.trim();
    let token = match header.split_once(|c: char| c.is_ascii_whitespace()) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return None,
        // A scheme with nothing after it is not a bare token.
        None if header.eq_ignore_ascii_case("bearer") || header.eq_ignore_ascii_case("basic") => {
            return None;
        }
        None => header,
    };
    let plausible = !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token.bytes().all(|b| b.is_ascii_graphic());
    plausible.then_some(token)
}

/// Who a live access token speaks for, passed on to the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub client_id: String,
    /// Space-separated.
    pub scope: String,
}

/// One authorizer decision: why, and for whom when allowed.
impl Verdict {
    /// The `Decision` dimension of the `AuthorizerDecisions` metric: `allow`, `deny`, or
    /// `error` when storage failed and the request was denied for it.
    pub fn metric(&self) -> &'static str {
        match self {
            Verdict::Allowed => "allow",
            Verdict::StorageFailed => "error",
            _ => "deny",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub principal: Option<Principal>,
}

impl Decision {
    fn deny(verdict: Verdict) -> Self {
        Decision {
            verdict,
            principal: None,
        }
    }

    /// The simple response API Gateway expects.
    pub fn response(&self) -> Value {
        match &self.principal {
            Some(p) => json!({
                "isAuthorized": true,
                "context": {"client_id": p.client_id, "scope": p.scope},
            }),
            None => json!({"isAuthorized": false}),
        }
    }
}

/// Decides one authorizer event for opaque tokens only: the simple response and the
/// reason (see [`decide`]).
pub async fn authorize<S: Verifier>(store: &S, event: &Value, now: u64) -> (Value, Verdict) {
    let decision = decide(store, None, event, now).await;
    (decision.response(), decision.verdict)
}

/// What the authorizer reads: tokens, family records, the keyring and JWT revocations.
pub trait Verifier: GetToken + GetFamily + GetKeyring + JwtRevocations {}
impl<T: GetToken + GetFamily + GetKeyring + JwtRevocations> Verifier for T {}

/// Decides one authorizer event. A JWT is verified with the published keys (`keys`, read
/// from the keyring at most every few minutes) and its revocation with one read; an opaque
/// token with one read of its record, and a second of its family's record when it was
/// issued beside a refresh token.
pub async fn decide<S: Verifier>(
    store: &S,
    keys: Option<&JwtKeys>,
    event: &Value,
    now: u64,
) -> Decision {
    let Some(header) = authorization(event) else {
        return Decision::deny(Verdict::NoToken);
    };
    let Some(token) = bearer_token(header) else {
        return Decision::deny(Verdict::Malformed);
    };
    if jwt::looks_like_jwt(token) {
        return match keys {
            Some(keys) => decide_jwt(store, keys, token, now).await,
            None => Decision::deny(Verdict::Unknown),
        };
    }
    let record = match store.get_token(&token::hash(token)).await {
        Ok(Some(r)) => r,
        Ok(None) => return Decision::deny(Verdict::Unknown),
        Err(e) => {
            tracing::error!(detail = %e, "token lookup failed: denying");
            return Decision::deny(Verdict::StorageFailed);
        }
    };
    if record.kind != TokenKind::Access {
        return Decision::deny(Verdict::NotAnAccessToken);
    } else if record.revoked {
        return Decision::deny(Verdict::Revoked);
    } else if now >= record.expires_at {
        return Decision::deny(Verdict::Expired);
    }
    // A token of a refresh family: its family record decides, whether or not a revocation's
    // sweep reached the token itself. A second read, for such tokens only.
    match family_revoked(store, &record).await {
        Ok(false) => Decision {
            verdict: Verdict::Allowed,
            principal: Some(Principal {
                scope: record.scope.join(" "),
                client_id: record.client_id,
            }),
        },
        Ok(true) => Decision::deny(Verdict::Revoked),
        Err(e) => {
            tracing::error!(detail = %e, "family lookup failed: denying");
            Decision::deny(Verdict::StorageFailed)
        }
    }
}

async fn decide_jwt<S: Verifier>(store: &S, keys: &JwtKeys, token: &str, now: u64) -> Decision {
    let published = match keys.published(store, now).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(detail = %e, "keyring read failed: denying");
            return Decision::deny(Verdict::StorageFailed);
        }
    };
    let claims = match jwt::verify(token, &published, None, now) {
        Ok(c) => c,
        Err(refusal) => {
            return Decision::deny(match refusal {
                Refusal::Malformed | Refusal::WrongIssuer => Verdict::Malformed,
                Refusal::UnknownKey => Verdict::Unknown,
                Refusal::BadSignature => Verdict::BadSignature,
                Refusal::Expired => Verdict::Expired,
                Refusal::NotYetValid => Verdict::NotYetValid,
            });
        }
    };
    match store.is_jwt_revoked(&claims).await {
        Ok(false) => Decision {
            verdict: Verdict::Allowed,
            principal: Some(Principal {
                client_id: claims.client_id,
                scope: claims.scope,
            }),
        },
        Ok(true) => Decision::deny(Verdict::Revoked),
        Err(e) => {
            tracing::error!(detail = %e, "revocation lookup failed: denying");
            Decision::deny(Verdict::StorageFailed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn bearer_and_bare_tokens_are_read() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer   abc "), Some("abc"));
        assert_eq!(bearer_token("abc"), Some("abc"));
    }

    #[test]
    fn other_schemes_and_junk_are_not() {
        for h in [
            "Basic abc",
            "Bearer",
            "Bearer a b",
            "",
            "   ",
            "Bearer \u{7f}x",
        ] {
            assert_eq!(bearer_token(h), None, "{h:?}");
        }
        assert_eq!(bearer_token(&"x".repeat(4097)), None);
    }
}
