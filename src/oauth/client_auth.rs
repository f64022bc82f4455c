//! Client authentication (PROTOCOL §2), shared by every endpoint that authenticates a
//! client: which credentials a request offers (PROTOCOL §3.3), and whether they match the
//! stored client (§3.4).

use super::error::OAuthError;
use super::model::{ClientRecord, is_valid_client_id};
use super::request::{Authorization, Param, Params};
use super::secret;

/// The credentials a request offers: one (id, secret) pair, or two for Basic when
/// form-url-decoding changed them (decoded first, then raw).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered<'r> {
    pairs: Vec<(&'r str, &'r str)>,
}

impl<'r> Offered<'r> {
    /// Step 3: credentials present, single, and not mixed between Basic and the body.
    pub fn from_request(params: &'r Params, auth: &'r Authorization) -> Result<Self, OAuthError> {
        let pairs = match auth {
            Authorization::Malformed => return Err(OAuthError::InvalidClient),
            Authorization::Basic(basic) => {
                // A header that is not UTF-8 fails authentication beside any body
                // credential, whatever it holds (PROTOCOL §2.2; see `decode_basic`).
                if basic.latin_1
                    && !(params.client_id.is_absent() && params.client_secret.is_absent())
                {
                    return Err(OAuthError::InvalidClient);
                }
                let mut pairs = basic.candidates();
                match &params.client_id {
                    Param::Absent => {}
                    Param::Invalid => return Err(OAuthError::InvalidRequest("client_id")),
                    Param::Present(body_id) => {
                        pairs.retain(|(id, _)| id == body_id);
                        if pairs.is_empty() {
                            return Err(OAuthError::InvalidRequest("client_id"));
                        }
                    }
                }
                if !params.client_secret.is_absent() {
                    return Err(OAuthError::InvalidRequest("client_secret"));
                }
                pairs
            }
            Authorization::None => {
                let id = params.client_id.required("client_id")?;
                let secret = params.client_secret.required("client_secret")?;
                vec![(id, secret)]
            }
        };
        Ok(Offered { pairs })
    }

    /// The one client id worth looking up. When decoding changed the id, the raw one holds
    /// `%` or `+` and is not a valid id, so there is at most one; an invalid id is never
    /// sent to storage.
    pub fn client_id(&self) -> Option<&'r str> {
        self.pairs
            .iter()
            .map(|(id, _)| *id)
            .find(|id| is_valid_client_id(id))
    }

    /// Step 4: the client, if an offered secret matches one of its hashes and it is
    /// enabled. An unknown client costs one dummy verification, so that it takes as long as
    /// a wrong secret for a client with a generated secret.
    pub fn authenticate(&self, client: Option<ClientRecord>) -> Result<ClientRecord, OAuthError> {
        let Some(client) = client else {
            secret::dummy_verify(self.pairs.first().map_or("", |p| p.1));
            return Err(self.refused("unknown client"));
        };
        let id = self.client_id();
        let secrets: Vec<&str> = self
            .pairs
            .iter()
            .filter(|(cid, _)| Some(*cid) == id)
            .map(|(_, s)| *s)
            .collect();
        // A stretched hash is checked against one candidate only: one PBKDF2 derivation
        // per request at most.
        let slow = candidate_for_slow_hash(&secrets);
        if !secret::verify_any(&secrets, slow, &client.secret_hashes) {
            Err(self.refused("wrong secret"))
        } else if client.disabled {
            Err(self.refused("disabled client"))
        } else {
            Ok(client)
        }
    }

    /// `invalid_client`, after the audit event saying so (PROTOCOL §11.3): the client id
    /// as offered and why, never the secret.
    fn refused(&self, reason: &'static str) -> OAuthError {
        tracing::warn!(
            event = "client_auth_failed",
            client_id = self.client_id().unwrap_or_default(),
            reason,
            "client authentication failed"
        );
        OAuthError::InvalidClient
    }
}

/// Which candidate a stretched hash is checked against when Basic decoding changed the
/// secret (decoded first, raw second) and only one PBKDF2 derivation may be spent. A form
/// encoder writes only `[A-Za-z0-9*-._~]`, `%XX` and `+`: a raw value holding anything
/// else (a space, `:`, `&`, `=`, a non-ASCII letter) was never encoded, as Python's
/// requests and authlib send secrets, so the raw one is the secret; otherwise the decoded
/// one, as RFC 6749 §2.3.1 asks clients to encode. (A raw secret such as `a+b`, which reads
/// as an encoding of `a b`, is taken as encoded.)
fn candidate_for_slow_hash(secrets: &[&str]) -> usize {
    match secrets {
        [_, raw] if raw.bytes().any(|b| !is_form_encoder_output(b)) => 1,
        _ => 0,
    }
}

fn is_form_encoder_output(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_' | b'~' | b'%' | b'+')
}

#[cfg(test)]
mod tests {
    use super::candidate_for_slow_hash;

    #[test]
    fn a_raw_secret_no_encoder_would_write_is_checked_raw() {
        assert_eq!(candidate_for_slow_hash(&["only"]), 0);
        // Encoded by the client: decode.
        assert_eq!(candidate_for_slow_hash(&[" x y", "+x+y"]), 0);
        assert_eq!(candidate_for_slow_hash(&["p+q:r", "p%2Bq%3Ar"]), 0);
        // Sent as is: a space, a colon, an ampersand or a non-ASCII letter gives it away.
        assert_eq!(candidate_for_slow_hash(&["p q:r%s t", "p+q:r%25s t"]), 1);
        assert_eq!(candidate_for_slow_hash(&["a b", "a+b"]), 0);
        assert_eq!(candidate_for_slow_hash(&["\u{e9} ", "\u{e9}+"]), 1);
    }
}
