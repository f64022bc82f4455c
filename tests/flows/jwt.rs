//! JWT access tokens (PROTOCOL §10): issued to JWT-format clients, checked here by an
//! independent implementation (`jsonwebtoken`) with the keys the service publishes;
//! refused when forged; revocable; signing keys rotated without breaking older tokens.

use super::FlowStore;
use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth_token_service::admin::ops;
use oauth_token_service::authorizer::{Verdict, decide};
use oauth_token_service::http::App;
use oauth_token_service::keys::{JwtKeys, KEYRING_REFRESH, Keyring, MAX_JWT_TTL};
use oauth_token_service::oauth::{Issuer, TokenFormat, token};
use serde_json::{Value, json};
use std::time::Duration;

const ISSUER: &str = "https://abc123.execute-api.us-east-1.amazonaws.com";

struct Fixture<S> {
    store: S,
    secret: String,
    keys: &'static JwtKeys,
}

impl<S: FlowStore> Fixture<S> {
    /// A JWT client `jwt-app` (audience `https://api.example.com`), an opaque client
    /// `opaque-app`, a resource server `api`, and one signing key `k1`.
    async fn new() -> Self {
        let secret = new_secret();
        let store = S::fresh().await;
        let mut jwt_app = client_with_secret("jwt-app", &secret, &["read", "write"]);
        jwt_app.token_format = Some(TokenFormat::Jwt);
        jwt_app.audiences = vec!["https://api.example.com".into()];
        let opaque = client_with_secret("opaque-app", &secret, &["read"]);
        let mut api = client_with_secret("api", &secret, &[]);
        api.resource_server = true;
        for c in [jwt_app, opaque, api] {
            store.seed_client(&c, true).await;
        }
        put_test_keyring(&store).await;
        Fixture {
            store,
            secret,
            keys: test_jwt_keys(),
        }
    }

    async fn call(&self, event: Value) -> Answer {
        let rng = ring::rand::SystemRandom::new();
        let app = App {
            issuer: Issuer {
                store: &self.store,
                policy: &TEST_POLICY,
                rng: &rng,
                clock: test_clock_ms,
                jwt: Some(self.keys),
                clients: None,
            },
            public_url: None,
        };
        Answer::from_event(&app.handle_event(&event).await)
    }

    async fn post(&self, path: &str, client: &str, body: &str) -> Answer {
        self.call(form_post_to(
            path,
            body,
            &[("authorization", &basic(client, &self.secret))],
        ))
        .await
    }

    async fn issue(&self, client: &str) -> Answer {
        let a = self
            .post("/oauth", client, "grant_type=client_credentials")
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        a
    }

    async fn jwks(&self) -> Answer {
        self.call(v2_event("GET", "/.well-known/jwks.json", &[], None, false))
            .await
    }

    async fn introspected(&self, token: &str) -> Value {
        let a = self
            .post("/oauth/introspect", "api", &format!("token={token}"))
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.body
    }

    async fn authorizer(&self, token: &str) -> Verdict {
        let event = authorizer_event(Some(&format!("Bearer {token}")));
        decide(&self.store, Some(self.keys), &event, now())
            .await
            .verdict
    }
}

fn tok<'a>(a: &'a Answer, key: &str) -> &'a str {
    a.body[key].as_str().expect(key)
}

/// Verifies `token` with `jsonwebtoken` and the JWKS document, as a resource server
/// would; returns the header and the claims.
fn independently_verified(token: &str, jwks: &Value, audience: &str) -> (Value, Value) {
    let header = jsonwebtoken::decode_header(token).expect("header");
    let kid = header.kid.clone().expect("kid");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the signing key is published");
    let key =
        DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[ISSUER]);
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<Value>(token, &key, &validation).expect("verifies");
    let raw_header: Value =
        serde_json::from_slice(&B64URL.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    (raw_header, data.claims)
}

pub async fn a_jwt_client_gets_a_signed_rfc9068_access_token<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let before = now();
    let a = f.issue("jwt-app").await;
    a.assert_no_store();
    assert_eq!(a.body["token_type"], "bearer");
    assert_eq!(a.body["expires_in"], TEST_POLICY.jwt_access_ttl);
    assert_eq!(a.body["scope"], "read write");
    assert_eq!(
        tok(&a, "refresh_token").len(),
        40,
        "refresh tokens stay opaque"
    );
    let jwks = f.jwks().await;
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.header("Cache-Control"), Some("public, max-age=300"));
    let (header, claims) = independently_verified(
        tok(&a, "access_token"),
        &jwks.body,
        "https://api.example.com",
    );
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"})
    );
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], "jwt-app");
    assert_eq!(claims["client_id"], "jwt-app");
    assert_eq!(claims["aud"], json!(["https://api.example.com"]));
    assert_eq!(claims["scope"], "read write");
    let iat = claims["iat"].as_u64().unwrap();
    assert!(iat >= before && iat <= now());
    assert_eq!(claims["nbf"], iat);
    assert_eq!(claims["exp"], a.body["expires"]);
    assert_eq!(
        claims["exp"].as_u64().unwrap(),
        iat + TEST_POLICY.jwt_access_ttl
    );
    // At least 128 random bits: 40 characters of [A-Za-z0-9].
    let jti = claims["jti"].as_str().unwrap();
    assert!(jti.len() >= 22 && jti.bytes().all(|b| b.is_ascii_alphanumeric()));
    // Issued beside a refresh token: the family, named by its first refresh token's hash,
    // whose record every verifier reads.
    assert_eq!(claims["sid"], token::hash(tok(&a, "refresh_token")));
    assert_eq!(
        claims.as_object().unwrap().len(),
        10,
        "only the RFC 9068 claims and the family: {claims}"
    );
}

pub async fn issuing_a_jwt_without_a_refresh_token_writes_nothing<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let mut c = client_with_secret("jwt-only", &f.secret, &["read"]);
    c.token_format = Some(TokenFormat::Jwt);
    c.grants = vec![oauth_token_service::oauth::GrantType::ClientCredentials];
    f.store.seed_client(&c, true).await;
    let before = f.store.token_items().await;
    let a = f.issue("jwt-only").await;
    assert!(a.body.get("refresh_token").is_none());
    assert_eq!(f.store.token_items().await, before, "no item written");
    // Without an audience of its own, the token is for the issuer.
    let (_, claims) = independently_verified(tok(&a, "access_token"), &f.jwks().await.body, ISSUER);
    assert_eq!(claims["aud"], json!([ISSUER]));
    assert!(claims.get("sid").is_none(), "no family: {claims}");
}

pub async fn introspection_and_the_authorizer_accept_a_live_jwt<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let a = f.issue("jwt-app").await;
    let access = tok(&a, "access_token");
    let i = f.introspected(access).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], "jwt-app");
    assert_eq!(i["scope"], "read write");
    assert_eq!(i["token_type"], "bearer");
    assert_eq!(i["exp"], a.body["expires"]);
    let own = f
        .post("/oauth/introspect", "jwt-app", &format!("token={access}"))
        .await;
    assert_eq!(own.body["active"], true);
    let other = f
        .post(
            "/oauth/introspect",
            "opaque-app",
            &format!("token={access}"),
        )
        .await;
    assert_eq!(other.body, json!({"active": false}));
    assert_eq!(f.authorizer(access).await, Verdict::Allowed);
    let decision = decide(
        &f.store,
        Some(f.keys),
        &authorizer_event(Some(&format!("Bearer {access}"))),
        now(),
    )
    .await;
    assert_eq!(
        decision.response(),
        json!({"isAuthorized": true, "context": {"client_id": "jwt-app", "scope": "read write"}})
    );
}

pub async fn forged_jwts_are_refused_everywhere<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let a = f.issue("jwt-app").await;
    let token = tok(&a, "access_token");
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&B64URL.decode(parts[1]).unwrap()).unwrap();
    claims["scope"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64URL.encode(serde_json::to_vec(&claims).unwrap()),
        parts[2]
    );
    let none = format!(
        "{}.{}.",
        B64URL.encode(br#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#),
        parts[1]
    );
    let hs256 = format!(
        "{}.{}.{}",
        B64URL.encode(br#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#),
        parts[1],
        parts[2]
    );
    // Signed by a key the service does not publish (the same key material under a kid
    // that is not in the keyring stands for any foreign key).
    let foreign_keys = test_jwt_keys();
    let other_store = S::fresh().await;
    let ring = Keyring {
        version: 1,
        keys: vec![test_signing_key("foreign", now() - 10)],
    };
    other_store.put_keyring(None, &ring).await.unwrap();
    let (kid, pair) = foreign_keys.signer(&other_store, now()).await.unwrap();
    assert_eq!(kid, "foreign");
    let foreign = oauth_token_service::oauth::jwt::sign(
        &serde_json::from_value(
            serde_json::from_slice::<Value>(&B64URL.decode(parts[1]).unwrap()).unwrap(),
        )
        .unwrap(),
        &kid,
        &pair,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    for (name, forged, verdict) in [
        ("tampered payload", &tampered, Verdict::BadSignature),
        ("alg none", &none, Verdict::Malformed),
        ("alg HS256", &hs256, Verdict::Malformed),
        ("unknown key", &foreign, Verdict::Unknown),
    ] {
        assert_eq!(
            f.introspected(forged).await,
            json!({"active": false}),
            "{name}"
        );
        assert_eq!(f.authorizer(forged).await, verdict, "{name}");
    }
    assert_eq!(f.authorizer(token).await, Verdict::Allowed);
}

pub async fn a_revoked_jwt_is_refused_until_it_expires<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let a = f.issue("jwt-app").await;
    let access = tok(&a, "access_token");
    // Another client's revocation changes nothing.
    let r = f
        .post("/oauth/revoke", "opaque-app", &format!("token={access}"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(f.authorizer(access).await, Verdict::Allowed);
    let r = f
        .post("/oauth/revoke", "jwt-app", &format!("token={access}"))
        .await;
    assert_eq!(r.status, 200);
    r.assert_no_store();
    assert_eq!(f.introspected(access).await, json!({"active": false}));
    assert_eq!(f.authorizer(access).await, Verdict::Revoked);
    // The refresh token lives on.
    let i = f.introspected(tok(&a, "refresh_token")).await;
    assert_eq!(i["active"], true);
}

/// Disabling or deleting a client revokes its live tokens (PROTOCOL §8), JWT access
/// tokens too, which are not stored: the authorizer and introspection refuse every JWT
/// the client was issued up to then, and nobody else's.
pub async fn a_disabled_or_deleted_clients_jwts_are_refused<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let before = f.issue("jwt-app").await;
    let old = tok(&before, "access_token");
    let opaque = f.issue("opaque-app").await;
    let theirs = tok(&opaque, "access_token");
    assert_eq!(f.authorizer(old).await, Verdict::Allowed);

    let disabled_at = now();
    ops::disable_client(&f.store, "jwt-app", disabled_at, Duration::ZERO)
        .await
        .expect("disable");
    assert_eq!(f.authorizer(old).await, Verdict::Revoked);
    assert_eq!(f.introspected(old).await, json!({"active": false}));
    assert_eq!(
        f.authorizer(theirs).await,
        Verdict::Allowed,
        "another client"
    );
    assert_eq!(f.introspected(theirs).await["active"], true);

    // Enabled again: what it was issued before stays refused, what it gets now works.
    ops::set_disabled(&f.store, "jwt-app", false, now())
        .await
        .expect("enable");
    while now() <= disabled_at {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let after = f.issue("jwt-app").await;
    let new = tok(&after, "access_token");
    assert_eq!(f.authorizer(new).await, Verdict::Allowed);
    assert_eq!(f.introspected(new).await["active"], true);
    assert_eq!(f.authorizer(old).await, Verdict::Revoked);
    // Disabling again, even with a clock behind the first run's, never lowers the
    // revocation time: the new token is refused once its client is disabled again.
    ops::disable_client(&f.store, "jwt-app", disabled_at - 60, Duration::ZERO)
        .await
        .expect("disable with an earlier clock");
    assert_eq!(f.authorizer(old).await, Verdict::Revoked);
    ops::set_disabled(&f.store, "jwt-app", false, now())
        .await
        .expect("enable");
    assert_eq!(f.authorizer(new).await, Verdict::Allowed);

    // Deleted: refused as well.
    let deleted = ops::delete_client(&f.store, "jwt-app", now(), Duration::ZERO)
        .await
        .expect("delete");
    assert_eq!(deleted.0, ops::Deletion::Deleted);
    assert_eq!(f.authorizer(new).await, Verdict::Revoked);
    assert_eq!(f.introspected(new).await, json!({"active": false}));
    assert_eq!(
        f.authorizer(theirs).await,
        Verdict::Allowed,
        "another client"
    );
}

pub async fn a_jwt_family_is_revoked_on_reuse_jwts_included<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let first = f.issue("jwt-app").await;
    let refresh = |rt: &str| format!("grant_type=refresh_token&refresh_token={rt}");
    let second = f
        .post("/oauth", "jwt-app", &refresh(tok(&first, "refresh_token")))
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    let jwks = f.jwks().await.body;
    let (_, claims) = independently_verified(
        tok(&second, "access_token"),
        &jwks,
        "https://api.example.com",
    );
    assert_eq!(claims["scope"], "read write");
    assert_eq!(tok(&second, "refresh_token").len(), 40);
    // The consumed refresh token again: reuse; every JWT of the family is revoked.
    f.post("/oauth", "jwt-app", &refresh(tok(&first, "refresh_token")))
        .await
        .assert_error(400, "invalid_refresh", INVALID_REFRESH);
    for a in [&first, &second] {
        assert_eq!(f.authorizer(tok(a, "access_token")).await, Verdict::Revoked);
        assert_eq!(
            f.introspected(tok(a, "access_token")).await,
            json!({"active": false})
        );
    }
}

pub async fn a_revoked_familys_jwts_are_refused_though_never_swept<S: FlowStore>() {
    // A JWT of a refresh family names it (`sid`), so that its verifiers read the family's
    // record: revoked there, the family's JWTs are refused though no `jti` was recorded.
    let f = Fixture::<S>::new().await;
    let first = f.issue("jwt-app").await;
    let refresh = |rt: &str| format!("grant_type=refresh_token&refresh_token={rt}");
    let second = f
        .post("/oauth", "jwt-app", &refresh(tok(&first, "refresh_token")))
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    let bystander = f.issue("jwt-app").await;
    for a in [&first, &second, &bystander] {
        assert_eq!(f.authorizer(tok(a, "access_token")).await, Verdict::Allowed);
    }
    f.store
        .revoke_family_record(&token::hash(tok(&first, "refresh_token")))
        .await;
    for a in [&first, &second] {
        assert_eq!(f.authorizer(tok(a, "access_token")).await, Verdict::Revoked);
        assert_eq!(
            f.introspected(tok(a, "access_token")).await,
            json!({"active": false})
        );
    }
    assert_eq!(
        f.authorizer(tok(&bystander, "access_token")).await,
        Verdict::Allowed
    );
    assert_eq!(
        f.introspected(tok(&bystander, "access_token")).await["active"],
        true
    );
}

pub async fn a_rotated_key_is_published_at_once_and_signs_only_after_the_delay<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let old = f.issue("jwt-app").await;
    // The next key, published now, signing in two hours.
    let mut ring = f.store.get_keyring().await.unwrap().unwrap();
    ring.keys.push(test_signing_key("k2", now() + 7200));
    ring.version += 1;
    assert!(f.store.put_keyring(Some(1), &ring).await.unwrap());

    let fresh = Fixture {
        store: f.store,
        secret: f.secret,
        keys: test_jwt_keys(),
    };
    let jwks = fresh.jwks().await.body;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["k1", "k2"]);
    let still = fresh.issue("jwt-app").await;
    let header = jsonwebtoken::decode_header(tok(&still, "access_token")).unwrap();
    assert_eq!(header.kid.as_deref(), Some("k1"), "k2 does not sign yet");

    // Two hours on: k2 signs, k1 stays published for tokens it signed.
    let mut ring = fresh.store.get_keyring().await.unwrap().unwrap();
    ring.keys[1].active_from = now() - 1;
    ring.version += 1;
    assert!(fresh.store.put_keyring(Some(2), &ring).await.unwrap());
    let later = Fixture {
        store: fresh.store,
        secret: fresh.secret,
        keys: test_jwt_keys(),
    };
    let new = later.issue("jwt-app").await;
    let header = jsonwebtoken::decode_header(tok(&new, "access_token")).unwrap();
    assert_eq!(header.kid.as_deref(), Some("k2"));
    let jwks = later.jwks().await.body;
    for a in [&old, &new] {
        independently_verified(tok(a, "access_token"), &jwks, "https://api.example.com");
        assert_eq!(
            later.authorizer(tok(a, "access_token")).await,
            Verdict::Allowed
        );
    }
    // Once every token k1 signed has expired, k1 is no longer published.
    let ring = later.store.get_keyring().await.unwrap().unwrap();
    let published: Vec<&str> = ring
        .published(now() + KEYRING_REFRESH.as_secs() + MAX_JWT_TTL)
        .iter()
        .map(|k| k.public.kid.as_str())
        .collect();
    assert_eq!(published, ["k2"]);
}

pub async fn discovery_documents_name_the_keys<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let a = f
        .call(v2_event(
            "GET",
            "/.well-known/openid-configuration",
            &[],
            None,
            false,
        ))
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("Cache-Control"), Some("public, max-age=300"));
    assert_eq!(a.header("Pragma"), None);
    assert_eq!(a.body["issuer"], ISSUER);
    assert_eq!(
        a.body["jwks_uri"],
        format!("{ISSUER}/.well-known/jwks.json")
    );
    assert_eq!(a.body["token_endpoint"], format!("{ISSUER}/oauth"));
    assert_eq!(
        a.body["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    let jwks = f.jwks().await;
    let key = &jwks.body["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["kid"], "k1");
    assert!(key.get("d").is_none(), "no private part");
    assert_eq!(key.as_object().unwrap().len(), 6);
}

pub async fn whoami_answers_from_the_jwt_authorizers_claims<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    // As API Gateway's JWT authorizer passes a verified token's claims on.
    let mut event = v2_event("GET", "/jwt/whoami", &[], None, false);
    event["requestContext"]["authorizer"] = json!({"jwt": {
        "claims": {"client_id": "jwt-app", "scope": "read write", "sub": "jwt-app"},
        "scopes": null,
    }});
    let a = f.call(event).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body,
        json!({"client_id": "jwt-app", "scope": "read write"})
    );
}
