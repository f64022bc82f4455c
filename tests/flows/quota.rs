//! Per-client quotas (PROTOCOL §11.1): counted after every check of the request, refused
//! with 429 and Retry-After, never charged for a failed authentication, exact under
//! concurrency, and free for clients without one.

use super::FlowStore;
use super::refresh::futures_join_all;
use crate::common::*;
use oauth_token_service::http::App;
use oauth_token_service::oauth::grant::quota_window;
use oauth_token_service::oauth::{Issuer, token};
use serde_json::Value;
use std::sync::LazyLock;

/// A clock stopped 1234.567 s into an hour, so that the quota window frees in 2366 s.
fn stopped_clock_ms() -> u64 {
    static AT: LazyLock<u64> =
        LazyLock::new(|| system_clock_ms() / 3_600_000 * 3_600_000 + 1_234_567);
    *AT
}

fn system_clock_ms() -> u64 {
    oauth_token_service::oauth::system_clock_ms()
}

const RETRY_AFTER: &str = "2366";

fn too_many() -> String {
    format!("Too many token requests for this client; retry after {RETRY_AFTER} seconds.")
}

struct Fixture<S> {
    store: S,
    secret: String,
}

impl<S: FlowStore> Fixture<S> {
    /// `limited` may make `max` token requests an hour; `free` has no quota.
    async fn new(max: u64) -> Self {
        let secret = new_secret();
        let store = S::fresh().await;
        let mut limited = client_with_secret("limited", &secret, &["read"]);
        limited.max_tokens_per_hour = Some(max);
        let free = client_with_secret("free", &secret, &["read"]);
        for c in [limited, free] {
            store.seed_client(&c, true).await;
        }
        Fixture { store, secret }
    }

    async fn call(&self, event: Value) -> Answer {
        let rng = ring::rand::SystemRandom::new();
        let app = App {
            issuer: Issuer {
                store: &self.store,
                policy: &TEST_POLICY,
                rng: &rng,
                clock: stopped_clock_ms,
                jwt: Some(test_jwt_keys()),
                clients: None,
            },
            public_url: None,
        };
        Answer::from_event(&app.handle_event(&event).await)
    }

    async fn issue_as(&self, client: &str, secret: &str, scope: &str) -> Answer {
        self.call(form_post(
            &format!("grant_type=client_credentials&scope={scope}"),
            &[("authorization", &basic(client, secret))],
        ))
        .await
    }

    async fn issue(&self, client: &str) -> Answer {
        self.issue_as(client, &self.secret, "read").await
    }

    async fn refresh(&self, refresh_token: &str) -> Answer {
        self.call(form_post(
            &format!("grant_type=refresh_token&refresh_token={refresh_token}"),
            &[("authorization", &basic("limited", &self.secret))],
        ))
        .await
    }
}

fn assert_over_quota(a: &Answer) {
    a.assert_error(429, "too_many_requests", &too_many());
    assert_eq!(a.header("Retry-After"), Some(RETRY_AFTER));
}

pub async fn over_its_hourly_quota_a_client_gets_429_with_retry_after_and_nothing<S: FlowStore>() {
    let f = Fixture::<S>::new(3).await;
    for i in 0..3 {
        let a = f.issue("limited").await;
        assert_eq!(a.status, 200, "request {i} within the quota: {}", a.body);
    }
    let stored = f.store.token_items().await;
    for _ in 0..2 {
        assert_over_quota(&f.issue("limited").await);
    }
    assert_eq!(
        f.store.token_items().await,
        stored,
        "a refused request stores nothing"
    );
    // Another client's requests are its own.
    for _ in 0..5 {
        assert_eq!(f.issue("free").await.status, 200);
    }
}

pub async fn failed_requests_never_count_against_a_quota<S: FlowStore>() {
    let f = Fixture::<S>::new(2).await;
    // Anyone can send a wrong secret under a client's id: that must not use up its quota.
    for _ in 0..5 {
        let a = f.issue_as("limited", &new_secret(), "read").await;
        assert_eq!(a.status, 401);
    }
    // Nor does a request refused for its scope, which issues nothing either.
    let a = f.issue_as("limited", &f.secret, "admin").await;
    a.assert_error(400, "invalid_scope", &invalid_scope("admin"));
    assert_eq!(f.issue("limited").await.status, 200);
    assert_eq!(f.issue("limited").await.status, 200);
    assert_over_quota(&f.issue("limited").await);
    // Over the quota, wrong credentials are still 401 (authentication comes first).
    let a = f.issue_as("limited", &new_secret(), "read").await;
    assert_eq!(a.status, 401);
}

pub async fn a_refresh_counts_and_a_refused_one_consumes_nothing<S: FlowStore>() {
    let f = Fixture::<S>::new(2).await;
    let issued = f.issue("limited").await;
    assert_eq!(issued.status, 200);
    let first = issued.body["refresh_token"].as_str().unwrap().to_owned();
    let rotated = f.refresh(&first).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let second = rotated.body["refresh_token"].as_str().unwrap().to_owned();

    assert_over_quota(&f.refresh(&second).await);
    let record = f
        .store
        .get_token(&token::hash(&second))
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        record.used_at_ms, None,
        "the refused refresh consumed nothing"
    );
    assert!(!record.revoked);
}

pub async fn of_twenty_concurrent_requests_exactly_the_quota_succeed<S: FlowStore>() {
    let f = Fixture::<S>::new(5).await;
    let answers = futures_join_all((0..20).map(|_| f.issue("limited"))).await;
    let ok = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(ok, 5, "exactly the quota succeeds");
    for a in answers.iter().filter(|a| a.status != 200) {
        assert_over_quota(a);
    }
}

pub async fn a_refresh_that_loses_its_race_is_not_counted<S: FlowStore>() {
    // Ten concurrent refreshes of one refresh token each pass every check and are counted;
    // one rotates, and the nine that lose the race are refused, their counts taken back.
    let f = Fixture::<S>::new(100).await;
    let issued = f.issue("limited").await;
    assert_eq!(issued.status, 200);
    let refresh_token = issued.body["refresh_token"].as_str().unwrap().to_owned();
    let answers = futures_join_all((0..10).map(|_| f.refresh(&refresh_token))).await;
    assert_eq!(answers.iter().filter(|a| a.status == 200).count(), 1);
    for a in answers.iter().filter(|a| a.status != 200) {
        a.assert_error(400, "invalid_refresh", INVALID_REFRESH);
    }
    let window = quota_window(stopped_clock_ms() / 1000);
    assert_eq!(
        f.store.quota_used("limited", window).await.unwrap(),
        2,
        "the issuance and the one rotation"
    );
}
