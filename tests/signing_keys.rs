//! Signing keys against moto's DynamoDB and KMS (PROTOCOL §10.3): `create-signing-key`
//! seals the private key with KMS before anything is stored and is safe to rerun;
//! `rotate-signing-key` publishes the next key at once and signs with it only later; the
//! token function unseals the key with one KMS call and signs tokens that verify with the
//! published key; no private key material reaches the table.

mod common;

use base64::Engine;
use common::*;
use oauth_token_service::admin::keys::{create_signing_key, rotate_signing_key};
use oauth_token_service::http::App;
use oauth_token_service::keys::{JwtKeys, Keyring};
use oauth_token_service::kms::KmsUnseal;
use oauth_token_service::oauth::TokenFormat;
use oauth_token_service::oauth::jwt;
use oauth_token_service::store::dynamodb::DynamoStore;
use oauth_token_service::store::{GetKeyring, PutKeyring};
use serde_json::Value;

/// The token function over `store`, signing with `keys`.
fn app_with<'a>(
    store: &'a DynamoStore,
    keys: &'a JwtKeys,
    rng: &'a ring::rand::SystemRandom,
) -> App<'a, DynamoStore> {
    let mut app = test_app(store, rng);
    app.issuer.jwt = Some(keys);
    app
}

/// Every byte string the tokens table holds, rendered as the SDK reads it.
async fn table_dump(store: &DynamoStore) -> String {
    let items = raw_dynamodb()
        .await
        .scan()
        .table_name(store.tokens_table())
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    format!("{items:?}")
}

#[tokio::test]
async fn a_sealed_key_signs_tokens_that_verify_and_never_lies_in_the_table_in_clear() {
    let store = fresh_store().await;
    let kms = kms_client().await;
    let now = now();
    let created = create_signing_key(&store, &kms, None, now).await.unwrap();
    assert!(created.created);
    assert_eq!(created.active_from, now);
    assert_eq!(created.published, std::slice::from_ref(&created.kid));
    // Safe to rerun: the same key, nothing written.
    let again = create_signing_key(&store, &kms, None, now).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.kid, created.kid);
    assert_eq!(store.get_keyring().await.unwrap().unwrap().version, 1);

    // What KMS unseals is the private key; neither it nor any part of its encodings is in
    // the table.
    let ring = store.get_keyring().await.unwrap().unwrap();
    // Unsealed as the token function unseals it.
    let der = {
        use oauth_token_service::keys::Unseal;
        oauth_token_service::kms::KmsUnseal::new(kms.clone())
            .unseal(&ring.keys[0])
            .await
            .unwrap()
    };
    assert!(ring::signature::RsaKeyPair::from_pkcs8(&der).is_ok());
    let dump = table_dump(&store).await;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    for window in [&der[100..140], &der[der.len() - 40..]] {
        assert!(
            !contains(dump.as_bytes(), window),
            "raw key bytes in the table"
        );
    }
    assert!(!dump.contains(&b64[200..260]), "base64 key in the table");
    assert!(!contains(&ring.keys[0].sealed_private, &der[100..140]));

    // The token function's path: unsealed by KMS once, signs a JWT client's token.
    let secret = new_secret();
    let mut c = client_with_secret("jwt-app", &secret, &["read"]);
    c.token_format = Some(TokenFormat::Jwt);
    store.put_client(&c, true).await.unwrap();
    let keys = JwtKeys::new(Some(Box::new(KmsUnseal::new(kms.clone()))));
    let rng = ring::rand::SystemRandom::new();
    let app = app_with(&store, &keys, &rng);
    let a = Answer::from_event(
        &app.handle_event(&form_post(
            "grant_type=client_credentials",
            &[("authorization", &basic("jwt-app", &secret))],
        ))
        .await,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let token = a.body["access_token"].as_str().unwrap();
    let published = keys.published(&store, now).await.unwrap();
    let claims = jwt::verify(token, &published, None, common::now()).unwrap();
    assert_eq!(claims.client_id, "jwt-app");

    // Rotation: the next key is published at once and signs only after the delay.
    let rotated = rotate_signing_key(&store, &kms, 7200, now).await.unwrap();
    assert_ne!(rotated.kid, created.kid);
    assert_eq!(rotated.active_from, now + 7200);
    assert_eq!(
        rotated.published,
        [created.kid.clone(), rotated.kid.clone()]
    );
    let ring = store.get_keyring().await.unwrap().unwrap();
    assert_eq!(ring.signing_key(now).unwrap().public.kid, created.kid);
    assert_eq!(
        ring.signing_key(now + 7200).unwrap().public.kid,
        rotated.kid
    );
    assert_eq!(ring.keys[0].kms_key_id, ring.keys[1].kms_key_id);
    let jwks: Value = {
        let fresh = JwtKeys::new(None);
        let keys = fresh.published(&store, now).await.unwrap();
        serde_json::to_value(keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()).unwrap()
    };
    assert_eq!(jwks.as_array().unwrap().len(), 2);
    assert!(!table_dump(&store).await.contains(&b64[200..260]));
}

#[tokio::test]
async fn rotating_before_a_key_exists_says_what_to_run() {
    let store = fresh_store().await;
    let kms = kms_client().await;
    let err = rotate_signing_key(&store, &kms, 7200, now())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("create-signing-key"), "{err}");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn a_key_kms_refuses_to_unseal_is_a_server_error_not_a_retry() {
    // KMS refuses to unseal the signing key (here: a ciphertext it never made, under a key
    // it does not have; in AWS also a denied permission or a disabled key): a 400 that no
    // retry mends. A JWT client's request is answered 500 server_error without detail, not
    // 400 temporarily_unavailable with Retry-After.
    let store = fresh_store().await;
    let mut key = test_signing_key("k1", now() - 10);
    key.kms_key_id = "alias/not-a-key-of-this-account".into();
    let ring = Keyring {
        version: 1,
        keys: vec![key],
    };
    assert!(store.put_keyring(None, &ring).await.unwrap());
    let secret = new_secret();
    let mut c = client_with_secret("jwt-app", &secret, &["read"]);
    c.token_format = Some(TokenFormat::Jwt);
    store.put_client(&c, true).await.unwrap();
    let keys = JwtKeys::new(Some(Box::new(KmsUnseal::new(kms_client().await))));
    let rng = ring::rand::SystemRandom::new();
    let app = app_with(&store, &keys, &rng);
    for _ in 0..2 {
        let a = Answer::from_event(
            &app.handle_event(&form_post(
                "grant_type=client_credentials",
                &[("authorization", &basic("jwt-app", &secret))],
            ))
            .await,
        );
        a.assert_error(500, "server_error", SERVER_ERROR);
        assert_eq!(a.header("Retry-After"), None);
    }
}
