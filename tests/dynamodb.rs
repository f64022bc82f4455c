//! The token endpoint against a real DynamoDB-compatible server (moto on loopback): what is
//! stored, and what DynamoDB failures answer (PROTOCOL §7–8).

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::*;
use oauth_token_service::oauth::token;
use oauth_token_service::store::dynamodb::DynamoStore;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

async fn call(store: &DynamoStore, event: Value) -> Answer {
    let rng = ring::rand::SystemRandom::new();
    let app = test_app(store, &rng);
    // A guard against hangs, not a performance assertion.
    let answer = tokio::time::timeout(Duration::from_secs(20), app.handle_event(&event))
        .await
        .expect("the handler answers");
    Answer::from_event(&answer)
}

async fn store_with_client(id: &str, secret: &str) -> DynamoStore {
    let store = fresh_store().await;
    let client = client_with_secret(id, secret, &["quotes:read"]);
    assert!(store.put_client(&client, true).await.unwrap());
    store
}

async fn scan(table: &str) -> Vec<HashMap<String, AttributeValue>> {
    raw_dynamodb()
        .await
        .scan()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
}

fn n(item: &HashMap<String, AttributeValue>, key: &str) -> u64 {
    item[key].as_n().unwrap().parse().unwrap()
}

#[tokio::test]
async fn json_form_and_basic_requests_get_tokens_stored_under_their_sha256() {
    let secret = new_secret();
    let store = store_with_client("app-1", &secret).await;
    let answers = [
        call(&store, json_post(&json!({"grant_type": "client_credentials", "client_id": "app-1", "client_secret": secret}))).await,
        call(&store, form_post(&format!("grant_type=client_credentials&client_id=app-1&client_secret={secret}"), &[])).await,
        call(&store, form_post("grant_type=client_credentials&scope=quotes:read", &[("authorization", &basic("app-1", &secret))])).await,
    ];
    let items = scan(store.tokens_table()).await;
    assert_eq!(items.len(), 6, "an access and a refresh token per request");
    let dump = format!("{items:?}");
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.body);
        a.assert_no_store();
        let access = a.body["access_token"].as_str().unwrap();
        let refresh = a.body["refresh_token"].as_str().unwrap();
        assert!(
            !dump.contains(access) && !dump.contains(refresh),
            "a token in plain text"
        );
        let item = items
            .iter()
            .find(|i| i["token_hash"].as_s().unwrap() == &token::hash(access))
            .expect("the access token's SHA-256 is a key");
        assert_eq!(item["kind"].as_s().unwrap(), "access");
        assert_eq!(item["client_id"].as_s().unwrap(), "app-1");
        assert!(
            matches!(item["expires_at"], AttributeValue::N(_)),
            "expires_at is a Number"
        );
        assert_eq!(n(item, "expires_at"), a.body["expires"].as_u64().unwrap());
        let r = items
            .iter()
            .find(|i| i["token_hash"].as_s().unwrap() == &token::hash(refresh))
            .expect("the refresh token's SHA-256 is a key");
        assert_eq!(r["kind"].as_s().unwrap(), "refresh");
        assert_eq!(
            n(r, "expires_at"),
            n(r, "issued_at") + TEST_POLICY.refresh_ttl
        );
    }
}

#[tokio::test]
async fn the_clients_table_holds_only_secret_hashes() {
    let secret = new_secret();
    let store = store_with_client("app-2", &secret).await;
    let items = scan(store.clients_table()).await;
    assert_eq!(items.len(), 1);
    assert!(!format!("{items:?}").contains(&secret));
    let hashes = items[0]["secret_hashes"].as_l().unwrap();
    assert!(hashes[0].as_s().unwrap().starts_with("hmac-sha256$"));
}

#[tokio::test]
async fn a_disabled_client_gets_invalid_client() {
    let secret = new_secret();
    let store = fresh_store().await;
    let mut client = client_with_secret("app-3", &secret, &[]);
    client.disabled = true;
    store.put_client(&client, true).await.unwrap();
    call(
        &store,
        form_post(
            "grant_type=client_credentials",
            &[("authorization", &basic("app-3", &secret))],
        ),
    )
    .await
    .assert_error(401, "invalid_client", INVALID_CLIENT);
    assert!(scan(store.tokens_table()).await.is_empty());
}

#[tokio::test]
async fn a_malformed_client_item_is_a_server_error_without_detail() {
    let store = fresh_store().await;
    raw_dynamodb()
        .await
        .put_item()
        .table_name(store.clients_table())
        .item("client_id", AttributeValue::S("broken".into()))
        .item("secret_hashes", AttributeValue::S("not a list".into()))
        .send()
        .await
        .unwrap();
    call(&store, json_post(&json!({"grant_type": "client_credentials", "client_id": "broken", "client_secret": "x"})))
        .await
        .assert_error(500, "server_error", SERVER_ERROR);
}

#[tokio::test]
async fn missing_tables_are_a_server_error() {
    let client = sdk_client(&moto_endpoint(), Duration::from_secs(2)).await;
    let store = DynamoStore::new(client, &unique("absent"), &unique("absent"));
    call(
        &store,
        json_post(
            &json!({"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}),
        ),
    )
    .await
    .assert_error(500, "server_error", SERVER_ERROR);
}

async fn unreachable_answer(endpoint: &str) -> Answer {
    let client = sdk_client(endpoint, Duration::from_millis(1500)).await;
    let store = DynamoStore::new(client, "oauth-clients", "oauth-tokens");
    call(
        &store,
        json_post(
            &json!({"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}),
        ),
    )
    .await
}

#[tokio::test]
async fn a_refused_connection_is_temporarily_unavailable_with_retry_after() {
    let a = unreachable_answer(&format!("http://127.0.0.1:{}", free_port())).await;
    a.assert_error(400, "temporarily_unavailable", TEMPORARILY_UNAVAILABLE);
    assert_eq!(a.header("Retry-After"), Some("1"));
}

#[tokio::test]
async fn an_endpoint_that_never_answers_is_temporarily_unavailable() {
    // Accepts connections (the kernel completes them) and never reads or answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let a = unreachable_answer(&format!("http://127.0.0.1:{port}")).await;
    a.assert_error(400, "temporarily_unavailable", TEMPORARILY_UNAVAILABLE);
    assert_eq!(a.header("Retry-After"), Some("1"));
    drop(listener);
}

#[tokio::test]
async fn a_revoked_familys_record_outlives_every_token_it_refuses() {
    // A client whose access tokens outlive its refresh tokens: once its never-rotated
    // family is revoked, the record that refuses the family's tokens must not expire (by
    // TTL) before the access token it refuses, or that token would read as live again.
    let secret = new_secret();
    let store = fresh_store().await;
    let mut client = client_with_secret("long-access", &secret, &["quotes:read"]);
    client.access_ttl = Some(30 * 86_400);
    client.refresh_ttl = Some(3_600);
    assert!(store.put_client(&client, true).await.unwrap());
    let a = call(
        &store,
        form_post(
            "grant_type=client_credentials",
            &[("authorization", &basic("long-access", &secret))],
        ),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let revoked = call(
        &store,
        form_post_to(
            "/oauth/revoke",
            &format!("token={}", a.body["refresh_token"].as_str().unwrap()),
            &[("authorization", &basic("long-access", &secret))],
        ),
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let family = format!(
        "family#{}",
        token::hash(a.body["refresh_token"].as_str().unwrap())
    );
    let items = scan(store.tokens_table()).await;
    let record = items
        .iter()
        .find(|i| i["token_hash"].as_s().unwrap() == &family)
        .expect("the family's record");
    assert!(record.contains_key("revoked_at"));
    assert!(
        n(record, "expires_at") >= a.body["expires"].as_u64().unwrap(),
        "the record expires at {}, before the access token ({})",
        n(record, "expires_at"),
        a.body["expires"]
    );
}
