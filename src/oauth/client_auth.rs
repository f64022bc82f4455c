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
            Authorization::Malformed => return Err(auth_failed("", "malformed Basic credentials")),
            Authorization::Basic(basic) => {
                // A header that is not UTF-8 fails authentication beside any body
                // credential, whatever it holds (PROTOCOL §2.2; see `decode_basic`).
                if basic.latin_1
                    && !(params.client_id.is_absent() && params.client_secret.is_absent())
                {
                    return Err(auth_failed(
                        "",
                        "Basic credentials not UTF-8 beside body ones",
                    ));
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
        let slow = candidate_for_slow_hash(
            &secrets,
            secret::stretched_decoding_changes(&client.secret_hashes),
        );
        if !secret::verify_any(&secrets, slow, &client.secret_hashes) {
            Err(self.refused("wrong secret"))
        } else if client.disabled {
            Err(self.refused("disabled client"))
        } else {
            Ok(client)
        }
    }

    /// `invalid_client` for this offer, with its audit event.
    fn refused(&self, reason: &'static str) -> OAuthError {
        auth_failed(self.client_id().unwrap_or_default(), reason)
    }
}

/// `invalid_client`, after the audit event saying so (PROTOCOL §11.3): the client id as
/// offered (empty when none could be read) and why, never the secret.
fn auth_failed(client_id: &str, reason: &'static str) -> OAuthError {
    tracing::warn!(
        event = "client_auth_failed",
        client_id,
        reason,
        "client authentication failed"
    );
    OAuthError::InvalidClient
}

/// Which candidate a stretched hash is checked against when Basic decoding changed the
/// secret (decoded first, raw second) and only one PBKDF2 derivation may be spent
/// (PROTOCOL §2.4). `changes` is what the hash says of its secret: whether
/// form-url-decoding changes it.
///
/// - It does not: the raw value, which decoding does change, is not the secret.
/// - It does (the secret holds `+` or `%XX`): a client that encoded it sent `%2B` or
///   `%25` for those, so its decoded reading still holds `+` or `%XX`; one that sent it as
///   is has a decoded reading without them, or a raw value holding a character no form
///   encoder writes (a space, `:`, a non-ASCII letter), as Python's requests and authlib
///   send secrets.
/// - A hash stored before it said (`None`): the raw value when it holds such a character,
///   else the decoded one, as RFC 6749 §2.3.1 asks clients to encode.
fn candidate_for_slow_hash(secrets: &[&str], changes: Option<bool>) -> usize {
    let [decoded, raw] = secrets else {
        return 0;
    };
    let never_encoded = raw.bytes().any(|b| !is_form_encoder_output(b));
    let taken_raw = match changes {
        Some(false) => false,
        Some(true) => never_encoded || !secret::decoding_changes(decoded),
        None => never_encoded,
    };
    usize::from(taken_raw)
}

fn is_form_encoder_output(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_' | b'~' | b'%' | b'+')
}

#[cfg(test)]
mod tests {
    use super::candidate_for_slow_hash;
    use crate::oauth::request::form_decode;
    use crate::oauth::secret;

    #[test]
    fn a_hash_that_does_not_say_takes_the_raw_secret_only_when_no_encoder_wrote_it() {
        let pick = |s: &[&str]| candidate_for_slow_hash(s, None);
        assert_eq!(pick(&["only"]), 0);
        // Encoded by the client: decode.
        assert_eq!(pick(&[" x y", "+x+y"]), 0);
        assert_eq!(pick(&["p+q:r", "p%2Bq%3Ar"]), 0);
        // Sent as is: a space, a colon, an ampersand or a non-ASCII letter gives it away.
        assert_eq!(pick(&["p q:r%s t", "p+q:r%25s t"]), 1);
        assert_eq!(pick(&["a b", "a+b"]), 0);
        assert_eq!(pick(&["\u{e9} ", "\u{e9}+"]), 1);
    }

    /// Every secret, sent in Basic encoded and as is: the one candidate the stretched hash
    /// is checked against is the secret.
    #[test]
    fn a_hash_that_says_how_its_secret_decodes_is_checked_against_the_secret() {
        for secret in [
            "a+b", "a b", "a%41b", "p+q r", "p q:r", "x%y", "+", "%2", "\u{e9}+", "ab+%41",
        ] {
            let changes = Some(secret::decoding_changes(secret));
            let encoded = form_encode(secret);
            for sent in [encoded.as_str(), secret] {
                let Some(decoded) = form_decode(sent).filter(|d| d != sent) else {
                    continue; // one candidate: nothing to choose
                };
                let candidates = [decoded.as_str(), sent];
                let pick = candidate_for_slow_hash(&candidates, changes);
                assert_eq!(candidates[pick], secret, "{secret:?} sent as {sent:?}");
            }
        }
    }

    /// What a form encoder (Python's `urllib.parse.quote_plus`) writes.
    fn form_encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b' ' => "+".to_owned(),
                b if b.is_ascii_alphanumeric() || b"*-._~".contains(&b) => (b as char).to_string(),
                b => format!("%{b:02X}"),
            })
            .collect()
    }
}
