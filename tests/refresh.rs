//! The refresh_token grant (CONTRACT §6) against moto: rotation, reuse detection, races,
//! and tokens whose item outlives their `expires_at`.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::*;
use oauth_token_service::oauth::token;
use oauth_token_service::store::dynamodb::DynamoStore;
use oauth_token_service::store::{GetToken, TokenRecord};
use serde_json::Value;
use std::time::Duration;

struct Fixture {
    store: DynamoStore,
    secret: String,
}

impl Fixture {
    async fn new() -> Self {
        let secret = new_secret();
        let store = fresh_store().await;
        for id in ["app", "other"] {
            let c = client_with_secret(id, &secret, &["read", "write"]);
            store.put_client(&c, true).await.unwrap();
        }
        Fixture { store, secret }
    }

    async fn call(&self, event: Value) -> Answer {
        let rng = ring::rand::SystemRandom::new();
        let app = test_app(&self.store, &rng);
        let answer = tokio::time::timeout(Duration::from_secs(20), app.handle_event(&event))
            .await
            .expect("the handler answers");
        Answer::from_event(&answer)
    }

    async fn issue(&self, scope: &str) -> Answer {
        let a = self
            .call(form_post(
                &format!("grant_type=client_credentials&scope={scope}"),
                &[("authorization", &basic("app", &self.secret))],
            ))
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        a
    }

    async fn refresh_as(&self, client: &str, refresh_token: &str, scope: Option<&str>) -> Answer {
        let mut body = format!("grant_type=refresh_token&refresh_token={refresh_token}");
        if let Some(s) = scope {
            body.push_str(&format!("&scope={s}"));
        }
        self.call(form_post(
            &body,
            &[("authorization", &basic(client, &self.secret))],
        ))
        .await
    }

    async fn refresh(&self, refresh_token: &str) -> Answer {
        self.refresh_as("app", refresh_token, None).await
    }

    async fn record(&self, token: &str) -> TokenRecord {
        self.store
            .get_token(&token::hash(token))
            .await
            .unwrap()
            .expect("stored")
    }
}

fn tok<'a>(a: &'a Answer, key: &str) -> &'a str {
    a.body[key].as_str().expect(key)
}

#[tokio::test]
async fn a_refresh_rotates_both_tokens_and_consumes_the_old_one() {
    let f = Fixture::new().await;
    let first = f.issue("read write").await;
    let second = f.refresh(tok(&first, "refresh_token")).await;
    assert_eq!(second.status, 200, "{}", second.body);
    second.assert_no_store();
    assert_eq!(second.body["token_type"], "bearer");
    assert_eq!(second.body["scope"], "read write");
    assert_ne!(tok(&second, "access_token"), tok(&first, "access_token"));
    assert_ne!(tok(&second, "refresh_token"), tok(&first, "refresh_token"));
    let old = f.record(tok(&first, "refresh_token")).await;
    assert!(old.used_at_ms.is_some());
    let new = f.record(tok(&second, "refresh_token")).await;
    assert_eq!(new.family, old.family);
    assert_eq!(new.expires_at, new.issued_at + TEST_POLICY.refresh_ttl);
    // The first access token stays valid until it expires.
    assert!(f.record(tok(&first, "access_token")).await.is_live(now()));
}

#[tokio::test]
async fn reuse_of_a_consumed_refresh_token_revokes_its_family() {
    let f = Fixture::new().await;
    let first = f.issue("read").await;
    let second = f.refresh(tok(&first, "refresh_token")).await;
    assert_eq!(second.status, 200);
    let third = f.refresh(tok(&second, "refresh_token")).await;
    assert_eq!(third.status, 200);

    f.refresh(tok(&first, "refresh_token")).await.assert_error(
        400,
        "invalid_refresh",
        INVALID_REFRESH,
    );
    for a in [&first, &second, &third] {
        for key in ["access_token", "refresh_token"] {
            assert!(f.record(tok(a, key)).await.revoked, "{key} revoked");
        }
    }
    // The newest refresh token no longer works either.
    f.refresh(tok(&third, "refresh_token")).await.assert_error(
        400,
        "invalid_refresh",
        INVALID_REFRESH,
    );
}

#[tokio::test]
async fn another_clients_refresh_token_is_invalid_and_revokes_nothing() {
    let f = Fixture::new().await;
    let first = f.issue("read").await;
    f.refresh_as("other", tok(&first, "refresh_token"), None)
        .await
        .assert_error(400, "invalid_refresh", INVALID_REFRESH);
    let r = f.record(tok(&first, "refresh_token")).await;
    assert!(r.used_at_ms.is_none() && !r.revoked);
    assert_eq!(f.refresh(tok(&first, "refresh_token")).await.status, 200);
    // Once consumed, presented by another client: still refused, and nothing revoked.
    let second_access = f.record(tok(&first, "access_token")).await;
    f.refresh_as("other", tok(&first, "refresh_token"), None)
        .await
        .assert_error(400, "invalid_refresh", INVALID_REFRESH);
    assert!(!f.record(tok(&first, "access_token")).await.revoked);
    assert!(!second_access.revoked);
}

#[tokio::test]
async fn an_access_token_is_not_a_refresh_token() {
    let f = Fixture::new().await;
    let first = f.issue("read").await;
    f.refresh(tok(&first, "access_token")).await.assert_error(
        400,
        "invalid_refresh",
        INVALID_REFRESH,
    );
}

#[tokio::test]
async fn an_expired_refresh_token_whose_item_remains_is_invalid() {
    let f = Fixture::new().await;
    let first = f.issue("read").await;
    let hash = token::hash(tok(&first, "refresh_token"));
    // TTL deletes late (moto never): the item is there, its expires_at is past.
    f.store
        .client()
        .update_item()
        .table_name(f.store.tokens_table())
        .key("token_hash", AttributeValue::S(hash))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(":past", AttributeValue::N((now() - 1).to_string()))
        .send()
        .await
        .unwrap();
    f.refresh(tok(&first, "refresh_token")).await.assert_error(
        400,
        "invalid_refresh",
        INVALID_REFRESH,
    );
}

#[tokio::test]
async fn a_revoked_refresh_token_is_invalid() {
    let f = Fixture::new().await;
    let first = f.issue("read").await;
    use oauth_token_service::store::Revoke;
    f.store
        .revoke_token(&token::hash(tok(&first, "refresh_token")))
        .await
        .unwrap();
    f.refresh(tok(&first, "refresh_token")).await.assert_error(
        400,
        "invalid_refresh",
        INVALID_REFRESH,
    );
}

#[tokio::test]
async fn a_requested_scope_must_be_within_the_original_grant() {
    let f = Fixture::new().await;
    let first = f.issue("read").await;
    let rt = tok(&first, "refresh_token");
    f.refresh_as("app", rt, Some("read write"))
        .await
        .assert_error(400, "invalid_scope", &invalid_scope("write"));
    // The refused request consumed nothing.
    assert!(f.record(rt).await.used_at_ms.is_none());
    let narrowed = f.refresh_as("app", rt, Some("read")).await;
    assert_eq!(narrowed.status, 200);
    assert_eq!(narrowed.body["scope"], "read");
}

#[tokio::test]
async fn of_twenty_concurrent_refreshes_exactly_one_succeeds_and_none_revokes() {
    let f = Fixture::new().await;
    let first = f.issue("read").await;
    let rt = tok(&first, "refresh_token").to_owned();
    let answers = futures_join_all((0..20).map(|_| f.refresh(&rt))).await;
    let ok: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(ok.len(), 1, "exactly one 200");
    for a in answers.iter().filter(|a| a.status != 200) {
        a.assert_error(400, "invalid_refresh", INVALID_REFRESH);
    }
    // The losers revoked nothing: the winner's tokens work.
    let winner = ok[0];
    assert!(!f.record(tok(winner, "access_token")).await.revoked);
    let next = f.refresh(tok(winner, "refresh_token")).await;
    assert_eq!(next.status, 200, "{}", next.body);
}

/// Polls every future together on this task, as concurrent Lambda invocations would
/// reach DynamoDB together.
async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futs {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.expect("ready")).collect()
}
