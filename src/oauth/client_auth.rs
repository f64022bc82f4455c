//! Client authentication (CONTRACT §2), shared by every endpoint that authenticates a
//! client: which credentials a request offers (§3 step 3), and whether they match the
//! stored client (step 4).

use super::error::OAuthError;
use super::request::{Authorization, Param, Params};
use super::secret;
use crate::store::{ClientRecord, is_valid_client_id};

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
                // credential, whatever it holds (CONTRACT §2; see `decode_basic`).
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
            return Err(OAuthError::InvalidClient);
        };
        let id = self.client_id();
        let secrets: Vec<&str> = self
            .pairs
            .iter()
            .filter(|(cid, _)| Some(*cid) == id)
            .map(|(_, s)| *s)
            .collect();
        let slow = preferred_for_slow_hash(&secrets);
        if secret::verify_any(&secrets, slow, &client.secret_hashes) && !client.disabled {
            Ok(client)
        } else {
            Err(OAuthError::InvalidClient)
        }
    }
}

/// Which candidate a stretched hash is checked against, when Basic decoding changed the
/// secret (decoded first, raw second) and only one PBKDF2 derivation may be spent: the
/// decoded one when the raw value holds a `%XX` escape (the client form-url-encoded, as
/// RFC 6749 asks), else the raw one (its `+` signs are more likely part of the secret, as
/// in base64, than encoded spaces).
fn preferred_for_slow_hash(secrets: &[&str]) -> usize {
    match secrets {
        [_, raw] if !has_percent_escape(raw) => 1,
        _ => 0,
    }
}

fn has_percent_escape(s: &str) -> bool {
    s.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::preferred_for_slow_hash;

    #[test]
    fn an_escaped_secret_is_checked_decoded_and_plus_signs_raw() {
        assert_eq!(preferred_for_slow_hash(&["only"]), 0);
        assert_eq!(preferred_for_slow_hash(&["a b", "a%20b"]), 0);
        assert_eq!(preferred_for_slow_hash(&["a+b", "a%2Bb"]), 0);
        assert_eq!(preferred_for_slow_hash(&["a b", "a+b"]), 1);
    }
}
