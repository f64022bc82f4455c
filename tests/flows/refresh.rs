//! The refresh_token grant (PROTOCOL §6): rotation, reuse detection, races, the reuse
//! grace, and tokens whose item outlives their `expires_at`.

use super::{FlowStore, TokenNumber};
use crate::common::*;
use oauth_token_service::authorizer;
use oauth_token_service::http::App;
use oauth_token_service::oauth::{GrantType, TokenRecord};
use oauth_token_service::oauth::{IssuePolicy, Issuer, token};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Fixture<S> {
    store: S,
    secret: String,
}

impl<S: FlowStore> Fixture<S> {
    async fn new() -> Self {
        let secret = new_secret();
        let store = S::fresh().await;
        for id in ["app", "other"] {
            let c = client_with_secret(id, &secret, &["read", "write"]);
            store.seed_client(&c, true).await;
        }
        Fixture { store, secret }
    }

    async fn call(&self, event: Value) -> Answer {
        self.call_with(&TEST_POLICY, event).await
    }

    async fn call_with(&self, policy: &IssuePolicy, event: Value) -> Answer {
        let rng = ring::rand::SystemRandom::new();
        let app = App {
            issuer: Issuer {
                store: &self.store,
                policy,
                rng: &rng,
                clock: test_clock_ms,
                jwt: Some(test_jwt_keys()),
                clients: None,
            },
            public_url: None,
        };
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

    /// A form POST to `path` with `token`, authenticated as `app`.
    fn post(&self, path: &str, token: &str) -> Value {
        let auth = basic("app", &self.secret);
        let headers = [
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", auth.as_str()),
        ];
        v2_event(
            "POST",
            path,
            &headers,
            Some(&format!("token={token}")),
            true,
        )
    }

    fn refresh_event(&self, refresh_token: &str) -> Value {
        form_post(
            &format!("grant_type=refresh_token&refresh_token={refresh_token}"),
            &[("authorization", &basic("app", &self.secret))],
        )
    }

    /// Whether the access token is accepted anywhere: introspection by its own client, or
    /// the authorizer.
    async fn accepted(&self, access_token: &str) -> bool {
        let introspected = self
            .call(self.post("/oauth/introspect", access_token))
            .await;
        assert_eq!(introspected.status, 200, "{}", introspected.body);
        let (decision, _) = authorizer::authorize(
            &self.store,
            &authorizer_event(Some(&format!("Bearer {access_token}"))),
            now(),
        )
        .await;
        let by_authorizer = decision["isAuthorized"] == json!(true);
        let by_introspection = introspected.body["active"] == json!(true);
        assert_eq!(
            by_authorizer, by_introspection,
            "authorizer and introspection agree"
        );
        by_authorizer
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

pub async fn a_refresh_rotates_both_tokens_and_consumes_the_old_one<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
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

pub async fn reuse_of_a_consumed_refresh_token_revokes_its_family<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
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
    // Every live token of the family is revoked; the consumed refresh tokens were dead
    // already.
    for a in [&first, &second, &third] {
        assert!(
            f.record(tok(a, "access_token")).await.revoked,
            "access revoked"
        );
        assert!(!f.record(tok(a, "refresh_token")).await.is_live(now()));
    }
    assert!(f.record(tok(&third, "refresh_token")).await.revoked);
    // The newest refresh token no longer works either.
    f.refresh(tok(&third, "refresh_token")).await.assert_error(
        400,
        "invalid_refresh",
        INVALID_REFRESH,
    );
}

pub async fn another_clients_refresh_token_is_invalid_and_revokes_nothing<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
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

pub async fn an_access_token_is_not_a_refresh_token<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let first = f.issue("read").await;
    f.refresh(tok(&first, "access_token")).await.assert_error(
        400,
        "invalid_refresh",
        INVALID_REFRESH,
    );
}

pub async fn an_expired_refresh_token_whose_item_remains_is_invalid<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let first = f.issue("read").await;
    let hash = token::hash(tok(&first, "refresh_token"));
    // TTL deletes late (moto never): the item is there, its expires_at is past.
    f.store
        .set_token_number(&hash, TokenNumber::ExpiresAt, Some(now() - 1))
        .await;
    f.refresh(tok(&first, "refresh_token")).await.assert_error(
        400,
        "invalid_refresh",
        INVALID_REFRESH,
    );
}

pub async fn a_revoked_refresh_token_is_invalid<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let first = f.issue("read").await;
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

pub async fn a_requested_scope_must_be_within_the_original_grant<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
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

pub async fn of_twenty_concurrent_refreshes_exactly_one_succeeds_and_none_revokes<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
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
pub(super) async fn futures_join_all<F: std::future::Future>(
    futs: impl Iterator<Item = F>,
) -> Vec<F::Output> {
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

pub async fn an_attacker_rotating_a_stolen_token_cannot_outrun_the_family_revocation<
    S: FlowStore,
>() {
    // The attacker holds a stolen refresh token and rotates it in a tight loop; the
    // legitimate client presents the original, which the attacker's first rotation
    // consumed. From the moment that presentation is answered, no rotation succeeds and no
    // token the attacker obtained is accepted anywhere, including those its rotations
    // wrote while the revocation ran.
    let f = Fixture::<S>::new().await;
    let first = f.issue("read").await;
    let original = tok(&first, "refresh_token").to_owned();
    let rotations = AtomicUsize::new(0);
    let revoked_at: std::sync::Mutex<Option<Instant>> = std::sync::Mutex::new(None);

    let attacker = async {
        let mut current = original.clone();
        // (started, answered, answer)
        let mut log: Vec<(Instant, Instant, Answer)> = Vec::new();
        let mut failures_after_revocation = 0;
        while failures_after_revocation < 20 && log.len() < 400 {
            let started = Instant::now();
            let a = f.refresh(&current).await;
            if a.status == 200 {
                current = tok(&a, "refresh_token").to_owned();
                rotations.fetch_add(1, Ordering::SeqCst);
            } else if revoked_at.lock().unwrap().is_some() {
                failures_after_revocation += 1;
            }
            log.push((started, Instant::now(), a));
        }
        log
    };
    let legitimate = async {
        while rotations.load(Ordering::SeqCst) < 3 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let a = f.refresh(&original).await;
        *revoked_at.lock().unwrap() = Some(Instant::now());
        a
    };
    let (log, reuse) = tokio::join!(attacker, legitimate);
    reuse.assert_error(400, "invalid_refresh", INVALID_REFRESH);
    let revoked_at = revoked_at.lock().unwrap().expect("answered");

    let after: Vec<&(Instant, Instant, Answer)> = log
        .iter()
        .filter(|(started, _, _)| *started > revoked_at)
        .collect();
    assert!(
        !after.is_empty(),
        "the attacker kept trying after the revocation"
    );
    for (_, _, a) in &after {
        a.assert_error(400, "invalid_refresh", INVALID_REFRESH);
    }
    let won: Vec<&Answer> = log
        .iter()
        .map(|(_, _, a)| a)
        .filter(|a| a.status == 200)
        .collect();
    note(&format!(
        "attacker: {} rotations succeeded, all before the revoking answer; {} tries after it",
        won.len(),
        after.len()
    ));
    assert!(won.len() >= 3);
    for a in won {
        assert!(
            !f.accepted(tok(a, "access_token")).await,
            "an access token the attacker obtained is still accepted"
        );
        f.refresh(tok(a, "refresh_token")).await.assert_error(
            400,
            "invalid_refresh",
            INVALID_REFRESH,
        );
    }
    assert!(!f.accepted(tok(&first, "access_token")).await);
    let family = f.record(&original).await.family;
    assert!(f.store.get_family(&family).await.unwrap().unwrap().revoked);
}

pub async fn a_revoked_familys_tokens_are_refused_everywhere_though_never_swept<S: FlowStore>() {
    // A family revocation decides in the family's record, then marks the family's tokens;
    // here nothing was marked (the sweep cut short before it began). The record alone
    // refuses every token of the family wherever it is presented; another family of the
    // same client is untouched.
    let f = Fixture::<S>::new().await;
    let first = f.issue("read").await;
    let second = f.refresh(tok(&first, "refresh_token")).await;
    assert_eq!(second.status, 200, "{}", second.body);
    let bystander = f.issue("read").await;
    f.store
        .revoke_family_record(&token::hash(tok(&first, "refresh_token")))
        .await;
    let current = tok(&second, "refresh_token");
    for t in [
        tok(&first, "access_token"),
        tok(&second, "access_token"),
        current,
    ] {
        assert!(!f.record(t).await.revoked, "the sweep never marked it");
    }

    for t in [tok(&first, "access_token"), tok(&second, "access_token")] {
        assert!(
            !f.accepted(t).await,
            "an access token of the revoked family"
        );
    }
    let introspected = f.call(f.post("/oauth/introspect", current)).await;
    assert_eq!(introspected.body, json!({"active": false}));
    let items = f.store.token_items().await;
    f.refresh(current)
        .await
        .assert_error(400, "invalid_refresh", INVALID_REFRESH);
    assert_eq!(f.store.token_items().await, items, "nothing written");
    assert!(f.accepted(tok(&bystander, "access_token")).await);
    assert_eq!(
        f.refresh(tok(&bystander, "refresh_token")).await.status,
        200
    );
}

pub async fn a_replay_right_after_the_rotation_answered_is_reuse<S: FlowStore>() {
    // The rotation's answer time is recorded before the answer: a use that begins after
    // it is no race, however soon.
    let f = Fixture::<S>::new().await;
    let first = f.issue("read").await;
    let second = f.refresh(tok(&first, "refresh_token")).await;
    assert_eq!(second.status, 200);
    let old = f.record(tok(&first, "refresh_token")).await;
    assert!(old.answered_at_ms.is_some() && old.answer_by_ms.is_some());
    f.refresh(tok(&first, "refresh_token")).await.assert_error(
        400,
        "invalid_refresh",
        INVALID_REFRESH,
    );
    assert!(!f.accepted(tok(&second, "access_token")).await);
    assert!(f.record(tok(&second, "refresh_token")).await.revoked);
}

pub async fn a_use_that_began_before_the_consuming_rotation_was_answered_is_a_lost_race<
    S: FlowStore,
>() {
    // As the stored state shows it to a use that began while the rotation was still on its
    // way back: consumed, not yet answered, the rotating request's deadline ahead.
    let f = Fixture::<S>::new().await;
    let first = f.issue("read").await;
    let second = f.refresh(tok(&first, "refresh_token")).await;
    assert_eq!(second.status, 200);
    let hash = token::hash(tok(&first, "refresh_token"));
    f.store
        .set_token_number(&hash, TokenNumber::AnsweredAtMs, None)
        .await;
    f.store
        .set_token_number(&hash, TokenNumber::AnswerByMs, Some(now() * 1000 + 60_000))
        .await;
    f.refresh(tok(&first, "refresh_token")).await.assert_error(
        400,
        "invalid_refresh",
        INVALID_REFRESH,
    );
    // Nothing revoked: the winner's tokens work.
    assert!(f.accepted(tok(&second, "access_token")).await);
    assert_eq!(f.refresh(tok(&second, "refresh_token")).await.status, 200);
}

fn with_grace(seconds: u64) -> IssuePolicy {
    IssuePolicy {
        reuse_grace_ms: seconds * 1000,
        ..TEST_POLICY
    }
}

/// Moves a consumed refresh token's consumption and answer `by_ms` into the past.
async fn age_consumption<S: FlowStore>(f: &Fixture<S>, refresh_token: &str, by_ms: u64) {
    let old = f.record(refresh_token).await;
    let (used, answered) = (old.used_at_ms.unwrap(), old.answered_at_ms.unwrap());
    let hash = &old.token_hash;
    f.store
        .set_token_number(hash, TokenNumber::UsedAtMs, Some(used - by_ms))
        .await;
    f.store
        .set_token_number(hash, TokenNumber::AnsweredAtMs, Some(answered - by_ms))
        .await;
}

pub async fn within_the_reuse_grace_the_same_client_gets_a_new_pair_and_nothing_is_revoked<
    S: FlowStore,
>() {
    let f = Fixture::<S>::new().await;
    let policy = with_grace(30);
    let first = f.issue("read").await;
    let rt = tok(&first, "refresh_token").to_owned();
    let lost = f.call_with(&policy, f.refresh_event(&rt)).await;
    assert_eq!(lost.status, 200, "{}", lost.body);
    // The answer never reached the client, which presents the same token again.
    let again = f.call_with(&policy, f.refresh_event(&rt)).await;
    assert_eq!(again.status, 200, "{}", again.body);
    again.assert_no_store();
    assert_ne!(tok(&again, "refresh_token"), tok(&lost, "refresh_token"));
    let new = f.record(tok(&again, "refresh_token")).await;
    assert_eq!(new.family, f.record(&rt).await.family);
    // Nothing revoked: the family lives, every access token works, and the new refresh
    // token rotates; the refresh token that was never delivered is retired.
    assert!(
        !f.store
            .get_family(&new.family)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    for a in [&first, &lost, &again] {
        assert!(f.accepted(tok(a, "access_token")).await);
    }
    assert!(!f.record(tok(&lost, "refresh_token")).await.is_live(now()));
    let next = f
        .call_with(&policy, f.refresh_event(tok(&again, "refresh_token")))
        .await;
    assert_eq!(next.status, 200, "{}", next.body);
}

/// A 30 s reuse grace, a token issued (R1) and rotated once, its answer delivered: the
/// fixture, the policy, R1, and the rotation's answer.
async fn rotated_once_with_grace<S: FlowStore>() -> (Fixture<S>, IssuePolicy, String, Answer) {
    let f = Fixture::<S>::new().await;
    let policy = with_grace(30);
    let first = f.issue("read").await;
    let r1 = tok(&first, "refresh_token").to_owned();
    let second = f.call_with(&policy, f.refresh_event(&r1)).await;
    assert_eq!(second.status, 200, "{}", second.body);
    (f, policy, r1, second)
}

async fn assert_family_revoked<S: FlowStore>(f: &Fixture<S>, refresh_token: &str) {
    let family = f.record(refresh_token).await.family;
    assert!(f.store.get_family(&family).await.unwrap().unwrap().revoked);
}

pub async fn the_reuse_grace_does_not_reach_past_a_successor_that_was_used<S: FlowStore>() {
    // R1 -> R2 -> R3, every answer delivered: R2 was used, so R1's answer was not lost.
    // R1 presented again within the grace of its consumption is reuse: the family is
    // revoked, not R3 quietly replaced by a pair for whoever holds R1.
    let (f, policy, r1, second) = rotated_once_with_grace::<S>().await;
    let third = f
        .call_with(&policy, f.refresh_event(tok(&second, "refresh_token")))
        .await;
    assert_eq!(third.status, 200, "{}", third.body);
    f.call_with(&policy, f.refresh_event(&r1))
        .await
        .assert_error(400, "invalid_refresh", INVALID_REFRESH);
    assert_family_revoked(&f, &r1).await;
    assert!(!f.accepted(tok(&third, "access_token")).await);
}

pub async fn a_refresh_token_the_grace_retired_presented_again_is_reuse<S: FlowStore>() {
    // R1 -> R2; R1 presented again within the grace gets R3 and retires R2. Whoever then
    // presents R2 held the answer the grace took for lost: two holders of the family, so
    // the family is revoked, R3's tokens with it.
    let (f, policy, r1, second) = rotated_once_with_grace::<S>().await;
    let again = f.call_with(&policy, f.refresh_event(&r1)).await;
    assert_eq!(again.status, 200, "{}", again.body);
    f.call_with(&policy, f.refresh_event(tok(&second, "refresh_token")))
        .await
        .assert_error(400, "invalid_refresh", INVALID_REFRESH);
    assert_family_revoked(&f, &r1).await;
    for a in [&second, &again] {
        assert!(!f.accepted(tok(a, "access_token")).await);
    }
}

pub async fn after_the_reuse_grace_a_re_presented_token_revokes_its_family<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let policy = with_grace(30);
    let first = f.issue("read").await;
    let rt = tok(&first, "refresh_token").to_owned();
    let second = f.call_with(&policy, f.refresh_event(&rt)).await;
    assert_eq!(second.status, 200);
    age_consumption(&f, &rt, 31_000).await;
    f.call_with(&policy, f.refresh_event(&rt))
        .await
        .assert_error(400, "invalid_refresh", INVALID_REFRESH);
    assert!(!f.accepted(tok(&second, "access_token")).await);
    assert!(!f.accepted(tok(&first, "access_token")).await);
    f.call_with(&policy, f.refresh_event(tok(&second, "refresh_token")))
        .await
        .assert_error(400, "invalid_refresh", INVALID_REFRESH);
}

pub async fn the_reuse_grace_does_not_apply_to_another_client_or_a_revoked_family<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let policy = with_grace(30);
    let first = f.issue("read").await;
    let rt = tok(&first, "refresh_token").to_owned();
    let second = f.call_with(&policy, f.refresh_event(&rt)).await;
    assert_eq!(second.status, 200);
    // Another client: refused, nothing revoked.
    let mut other = f.refresh_event(&rt);
    other["headers"]["authorization"] = json!(basic("other", &f.secret));
    f.call_with(&policy, other)
        .await
        .assert_error(400, "invalid_refresh", INVALID_REFRESH);
    assert!(f.accepted(tok(&second, "access_token")).await);
    // Revoked through /oauth/revoke: the grace gives nothing back.
    let revoke = f.post("/oauth/revoke", tok(&second, "refresh_token"));
    assert_eq!(f.call_with(&policy, revoke).await.status, 200);
    f.call_with(&policy, f.refresh_event(&rt))
        .await
        .assert_error(400, "invalid_refresh", INVALID_REFRESH);
    assert!(!f.accepted(tok(&second, "access_token")).await);
}

pub async fn a_refresh_without_scope_drops_scopes_the_client_no_longer_has<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let first = f.issue("read write").await;
    // The operator takes `write` away.
    let mut c = client_with_secret("app", &f.secret, &["read"]);
    c.updated_at += 1;
    f.store.seed_client(&c, false).await;
    let second = f.refresh(tok(&first, "refresh_token")).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["scope"], "read");
    assert_eq!(f.record(tok(&second, "access_token")).await.scope, ["read"]);
}

pub async fn a_client_without_the_refresh_grant_gets_no_refresh_token<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let mut c = client_with_secret("cc-only", &f.secret, &["read"]);
    c.grants = vec![GrantType::ClientCredentials];
    f.store.seed_client(&c, true).await;
    let a = f
        .call(form_post(
            "grant_type=client_credentials",
            &[("authorization", &basic("cc-only", &f.secret))],
        ))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.get("refresh_token").is_none(), "{}", a.body);
    // serde_json's map is sorted: the keys, whatever their order on the wire.
    let keys: Vec<&String> = a.body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "access_token",
            "expires",
            "expires_in",
            "scope",
            "token_type"
        ]
    );
}
