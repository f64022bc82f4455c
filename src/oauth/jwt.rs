//! JWT access tokens (RFC 9068) signed RS256, and their verification (PROTOCOL §10). Pure:
//! keys come in as values; where they are kept and how the private one is unsealed is
//! `crate::keys`' business.
//!
//! RS256 only, because API Gateway's HTTP API JWT authorizer verifies RSA signatures only;
//! anything else in a header (`none`, HS256, ES256, a `jku` or embedded key) is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ring::rand::SecureRandom;
use ring::signature::{self, RsaKeyPair, RsaPublicKeyComponents};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The `typ` of an access token (RFC 9068 §2.1).
pub const TYP: &str = "at+jwt";
pub const ALG: &str = "RS256";

/// Longest JWT accepted for verification, in bytes: far beyond any this service signs.
const MAX_JWT_LEN: usize = 8192;

/// The public half of a signing key, as published in the JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub kid: String,
    /// Modulus and exponent, big-endian, no leading zeros.
    pub n: Vec<u8>,
    pub e: Vec<u8>,
}

impl PublicKey {
    /// The public half of a key pair.
    pub fn of(kid: &str, pair: &RsaKeyPair) -> Self {
        let c: RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
        PublicKey {
            kid: kid.to_owned(),
            n: strip_zeros(c.n),
            e: strip_zeros(c.e),
        }
    }

    /// The JWK (RFC 7517) of this key.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": ALG,
            "kid": self.kid,
            "n": B64URL.encode(&self.n),
            "e": B64URL.encode(&self.e),
        })
    }
}

fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|b| **b == 0).count();
    v.drain(..zeros);
    v
}

/// The header this service writes, and the only one it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

/// An access token's claims (RFC 9068 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub client_id: String,
    pub aud: Vec<String>,
    /// Space-separated, as granted; absent when nothing was granted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    pub jti: String,
    /// The refresh family the token was issued in (the id of its family record, which
    /// every verifier reads); absent on a token issued without a refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Signs `claims` with `pair` under `kid`.
pub fn sign(
    claims: &Claims,
    kid: &str,
    pair: &RsaKeyPair,
    rng: &dyn SecureRandom,
) -> Result<String, ring::error::Unspecified> {
    let header = Header {
        alg: ALG.to_owned(),
        typ: TYP.to_owned(),
        kid: kid.to_owned(),
    };
    let header = serde_json::to_vec(&header).map_err(|_| ring::error::Unspecified)?;
    let claims = serde_json::to_vec(claims).map_err(|_| ring::error::Unspecified)?;
    let signing_input = format!("{}.{}", B64URL.encode(header), B64URL.encode(claims));
    let mut sig = vec![0u8; pair.public().modulus_len()];
    pair.sign(
        &signature::RSA_PKCS1_SHA256,
        rng,
        signing_input.as_bytes(),
        &mut sig,
    )?;
    Ok(format!("{signing_input}.{}", B64URL.encode(sig)))
}

/// Why a JWT was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not three base64url parts of JSON, or a header other than this service's.
    Malformed,
    /// Signed by a key this service does not publish.
    UnknownKey,
    BadSignature,
    Expired,
    NotYetValid,
    /// Another issuer's.
    WrongIssuer,
}

/// Whether `token` has the shape of a JWT (three dot-separated parts, a JSON header), so it
/// is checked as one rather than looked up as an opaque token (whose 40 characters of
/// `[A-Za-z0-9]` hold no dot).
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.bytes().filter(|b| *b == b'.').count() == 2
}

/// Verifies a JWT this service issued: header, known key, signature, issuer and times.
/// Returns its claims; revocation is the caller's to check.
pub fn verify(
    token: &str,
    keys: &[PublicKey],
    issuer: Option<&str>,
    now: u64,
) -> Result<Claims, Refusal> {
    if token.len() > MAX_JWT_LEN {
        return Err(Refusal::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::Malformed);
    };
    let decode = |part: &str| B64URL.decode(part).map_err(|_| Refusal::Malformed);
    let header: Header = serde_json::from_slice(&decode(h)?).map_err(|_| Refusal::Malformed)?;
    if header.alg != ALG || header.typ != TYP {
        return Err(Refusal::Malformed);
    }
    let key = keys
        .iter()
        .find(|k| k.kid == header.kid)
        .ok_or(Refusal::UnknownKey)?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    RsaPublicKeyComponents {
        n: &key.n,
        e: &key.e,
    }
    .verify(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        signing_input.as_bytes(),
        &decode(s)?,
    )
    .map_err(|_| Refusal::BadSignature)?;
    let claims: Claims = serde_json::from_slice(&decode(p)?).map_err(|_| Refusal::Malformed)?;
    if issuer.is_some_and(|iss| iss != claims.iss) {
        return Err(Refusal::WrongIssuer);
    }
    if now >= claims.exp {
        return Err(Refusal::Expired);
    }
    if now.saturating_add(NBF_LEEWAY_SECS) < claims.nbf {
        return Err(Refusal::NotYetValid);
    }
    Ok(claims)
}

/// How far a verifier's clock may lag the issuer's: a token signed by one instance is
/// checked by another (the authorizer, introspection) whose clock may be a little behind,
/// and must not be refused as not yet valid for it. Expiry gets no such allowance.
pub const NBF_LEEWAY_SECS: u64 = 5;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    /// A 2048-bit RSA key for tests only (PKCS#8 DER, base64): `ring` cannot generate RSA
    /// keys, and generating one in every test would be slow.
    pub(crate) fn test_pair() -> RsaKeyPair {
        let der = base64::engine::general_purpose::STANDARD
            .decode(crate::keys::TEST_KEY_PKCS8_B64.trim())
            .unwrap();
        RsaKeyPair::from_pkcs8(&der).unwrap()
    }

    fn claims(now: u64) -> Claims {
        Claims {
            iss: "https://auth.example.com".into(),
            sub: "app".into(),
            client_id: "app".into(),
            aud: vec!["https://api.example.com".into()],
            scope: "read write".into(),
            iat: now,
            nbf: now,
            exp: now + 3600,
            jti: "j".repeat(40),
            sid: None,
        }
    }

    #[test]
    fn a_signed_token_verifies_and_gives_its_claims_back() {
        let pair = test_pair();
        let key = PublicKey::of("k1", &pair);
        let token = sign(&claims(1000), "k1", &pair, &SystemRandom::new()).unwrap();
        assert!(looks_like_jwt(&token));
        let got = verify(&token, &[key], Some("https://auth.example.com"), 1000).unwrap();
        assert_eq!(got, claims(1000));
    }

    #[test]
    fn tampering_alg_none_unknown_keys_and_times_are_refused() {
        let pair = test_pair();
        let key = PublicKey::of("k1", &pair);
        let rng = SystemRandom::new();
        let token = sign(&claims(1000), "k1", &pair, &rng).unwrap();
        let keys = [key.clone()];
        let (h, rest) = token.split_once('.').unwrap();
        let (p, s) = rest.split_once('.').unwrap();

        let mut forged = claims(1000);
        forged.scope = "admin".into();
        let forged_p = B64URL.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            verify(&format!("{h}.{forged_p}.{s}"), &keys, None, 1000),
            Err(Refusal::BadSignature)
        );
        let none_h = B64URL.encode(br#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#);
        assert_eq!(
            verify(&format!("{none_h}.{p}."), &keys, None, 1000),
            Err(Refusal::Malformed)
        );
        let other = sign(&claims(1000), "k2", &pair, &rng).unwrap();
        assert_eq!(verify(&other, &keys, None, 1000), Err(Refusal::UnknownKey));
        assert_eq!(verify(&token, &keys, None, 4600), Err(Refusal::Expired));
        // A verifier up to NBF_LEEWAY_SECS behind the issuer accepts; further, it refuses.
        assert!(verify(&token, &keys, None, 1000 - NBF_LEEWAY_SECS).is_ok());
        assert_eq!(
            verify(&token, &keys, None, 999 - NBF_LEEWAY_SECS),
            Err(Refusal::NotYetValid)
        );
        assert_eq!(
            verify(&token, &keys, Some("https://elsewhere"), 1000),
            Err(Refusal::WrongIssuer)
        );
        assert_eq!(verify("a.b", &keys, None, 1000), Err(Refusal::Malformed));
        assert!(!looks_like_jwt(&"A".repeat(40)));
    }

    #[test]
    fn the_jwk_carries_the_key_in_base64url() {
        let pair = test_pair();
        let jwk = PublicKey::of("k1", &pair).jwk();
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["alg"], "RS256");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["e"], "AQAB");
        let n = B64URL.decode(jwk["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256);
    }
}
