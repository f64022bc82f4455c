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
            return Err(OAuthError::InvalidClient);
        };
        let id = self.client_id();
        let secrets: Vec<&str> = self
            .pairs
            .iter()
            .filter(|(cid, _)| Some(*cid) == id)
            .map(|(_, s)| *s)
            .collect();
        // A stretched hash is checked against the decoded form only (the first): one
        // PBKDF2 derivation per request at most.
        if secret::verify_any(&secrets, 0, &client.secret_hashes) && !client.disabled {
            Ok(client)
        } else {
            Err(OAuthError::InvalidClient)
        }
    }
}
