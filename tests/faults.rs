//! DynamoDB faults (PROTOCOL §7.3): a fake DynamoDB endpoint on loopback refuses, hangs,
//! answers late, throttles or fails; client and token items in moto are malformed. Every
//! answer is the documented one (throttling, unavailability and timeouts: `400
//! temporarily_unavailable` with `Retry-After: 1`; anything unexpected, malformed data
//! included: `500 server_error` with no detail), it comes within the SDK timeouts, and the
//! same function instance then serves a normal request.
//!
//! The fake (`common::fake_dynamodb`) reads each request and, by its current mode, answers
//! with a DynamoDB error, never answers, closes the connection, or forwards the request to
//! moto (so that the same SDK client, endpoint and `App` work again afterwards).

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::fake_dynamodb::{FakeDynamo, Fault};
use common::*;
use oauth_token_service::authorizer::{Verdict, decide};
use oauth_token_service::http::App;
use oauth_token_service::oauth::TokenFormat;
use oauth_token_service::oauth::token;
use oauth_token_service::store::dynamodb::DynamoStore;
use oauth_token_service::store::{GetFamily, GetToken};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The service's default DynamoDB timeout (`DYNAMODB_TIMEOUT_MS`), retries included.
const TIMEOUT: Duration = Duration::from_millis(1500);

/// A hang guard: no request here makes more than two DynamoDB calls, each bounded by
/// `TIMEOUT`, so an answer later than this means a call was not bounded.
const HANG_GUARD: Duration = Duration::from_millis(4500);

// ---------------------------------------------------------------------------------------
// The function under test

/// Tables in moto with one client, and a store whose SDK client (the service's own
/// configuration, default timeout) talks to `endpoint` instead.
struct Setup {
    moto: DynamoStore,
    secret: String,
}

impl Setup {
    async fn new() -> Self {
        let moto = fresh_store().await;
        let secret = new_secret();
        let client = client_with_secret("app", &secret, &["read"]);
        assert!(moto.put_client(&client, true).await.unwrap());
        Setup { moto, secret }
    }

    /// A fake DynamoDB endpoint meeting every request with `fault` (forwarding to moto
    /// when it lets a request through), and a store that talks to it.
    async fn behind(&self, fault: Fault) -> (FakeDynamo, DynamoStore) {
        let fake = FakeDynamo::start(fault, None).await;
        let store = self.store_at(&fake.url()).await;
        (fake, store)
    }

    async fn store_at(&self, endpoint: &str) -> DynamoStore {
        DynamoStore::new(
            sdk_client(endpoint, TIMEOUT).await,
            self.moto.clients_table(),
            self.moto.tokens_table(),
        )
    }

    fn issue_event(&self) -> Value {
        json_post(
            &json!({"grant_type": "client_credentials", "client_id": "app", "client_secret": self.secret}),
        )
    }

    fn refresh_event(&self, refresh_token: &str) -> Value {
        json_post(&json!({
            "grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": "app", "client_secret": self.secret,
        }))
    }

    async fn token_count(&self) -> usize {
        scan_items(self.moto.tokens_table()).await.len()
    }
}

/// Runs one event through `app` under the hang guard, returning the answer and its time.
async fn answer(app: &App<'_, DynamoStore>, event: &Value) -> (Answer, Duration) {
    let started = Instant::now();
    let raw = tokio::time::timeout(HANG_GUARD, app.handle_event(event))
        .await
        .unwrap_or_else(|_| {
            panic!("no answer within {HANG_GUARD:?}: a DynamoDB call is unbounded")
        });
    (Answer::from_event(&raw), started.elapsed())
}

fn assert_unavailable(a: &Answer) {
    a.assert_error(400, "temporarily_unavailable", TEMPORARILY_UNAVAILABLE);
    assert_eq!(a.header("Retry-After"), Some("1"));
}

fn assert_issued(a: &Answer) {
    assert_eq!(a.status, 200, "{}", a.body);
    a.assert_no_store();
    assert_eq!(a.body["access_token"].as_str().map(str::len), Some(40));
}

/// A fault on every operation answers `temporarily_unavailable`; then, the fault gone, the
/// same `App` issues a token that lands in the table.
async fn unavailable_then_recovers(fault: Fault) {
    let setup = Setup::new().await;
    let (fake, store) = setup.behind(fault).await;
    let rng = ring::rand::SystemRandom::new();
    let app = test_app(&store, &rng);
    let (a, took) = answer(&app, &setup.issue_event()).await;
    note(&format!("{fault:?}: answered {} in {took:?}", a.status));
    assert_unavailable(&a);
    assert!(fake.faulted() >= 1, "the request reached the fake");
    assert_eq!(setup.token_count().await, 0);

    fake.set(Fault::Proxy, None);
    let (a, _) = answer(&app, &setup.issue_event()).await;
    assert_issued(&a);
    let stored = raw_dynamodb()
        .await
        .get_item()
        .table_name(setup.moto.tokens_table())
        .key(
            "token_hash",
            AttributeValue::S(token::hash(a.body["access_token"].as_str().unwrap())),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert!(
        stored.item.is_some(),
        "the token issued after recovery is stored"
    );
}

#[tokio::test]
async fn an_endpoint_that_never_answers_is_temporarily_unavailable_then_recovers() {
    unavailable_then_recovers(Fault::Hang).await;
}

#[tokio::test]
async fn an_endpoint_that_answers_after_the_timeout_is_temporarily_unavailable() {
    unavailable_then_recovers(Fault::Slow(Duration::from_secs(3))).await;
}

#[tokio::test]
async fn a_connection_closed_without_an_answer_is_temporarily_unavailable() {
    unavailable_then_recovers(Fault::Close).await;
}

#[tokio::test]
async fn throttling_exception_is_temporarily_unavailable() {
    unavailable_then_recovers(Fault::Error(400, "ThrottlingException")).await;
}

#[tokio::test]
async fn provisioned_throughput_exceeded_is_temporarily_unavailable() {
    unavailable_then_recovers(Fault::Error(400, "ProvisionedThroughputExceededException")).await;
}

#[tokio::test]
async fn an_internal_server_error_500_is_temporarily_unavailable() {
    // DynamoDB's InternalServerError is transient (AWS: retry it): unavailability.
    unavailable_then_recovers(Fault::Error(500, "InternalServerError")).await;
}

#[tokio::test]
async fn service_unavailable_503_is_temporarily_unavailable() {
    unavailable_then_recovers(Fault::Error(503, "ServiceUnavailable")).await;
}

#[tokio::test]
async fn a_refused_connection_is_temporarily_unavailable_then_recovers() {
    // Nothing listens on the port at first; then the fake (forwarding to moto) does.
    let setup = Setup::new().await;
    let port = free_port();
    let store = setup.store_at(&format!("http://127.0.0.1:{port}")).await;
    let rng = ring::rand::SystemRandom::new();
    let app = test_app(&store, &rng);
    let (a, took) = answer(&app, &setup.issue_event()).await;
    note(&format!("refused: answered {} in {took:?}", a.status));
    assert_unavailable(&a);

    let _fake = FakeDynamo::start_on(port, Fault::Proxy, None).await;
    let (a, _) = answer(&app, &setup.issue_event()).await;
    assert_issued(&a);
    assert_eq!(setup.token_count().await, 2);
}

#[tokio::test]
async fn a_refusal_the_service_cannot_retry_is_a_server_error_without_detail() {
    // AccessDeniedException (a missing IAM permission) is no passing overload.
    let setup = Setup::new().await;
    let (fake, store) = setup
        .behind(Fault::Error(400, "AccessDeniedException"))
        .await;
    let rng = ring::rand::SystemRandom::new();
    let app = test_app(&store, &rng);
    let (a, _) = answer(&app, &setup.issue_event()).await;
    a.assert_error(500, "server_error", SERVER_ERROR);
    assert_eq!(a.header("Retry-After"), None);
    fake.set(Fault::Proxy, None);
    assert_issued(&answer(&app, &setup.issue_event()).await.0);
}

#[tokio::test]
async fn throttled_token_writes_are_temporarily_unavailable_and_store_nothing() {
    // The client is read (moto), the write is throttled: no token half-issued.
    let setup = Setup::new().await;
    let fake = FakeDynamo::start(
        Fault::Error(400, "ProvisionedThroughputExceededException"),
        Some("BatchWriteItem"),
    )
    .await;
    let store = setup.store_at(&fake.url()).await;
    let rng = ring::rand::SystemRandom::new();
    let app = test_app(&store, &rng);
    let (a, _) = answer(&app, &setup.issue_event()).await;
    assert_unavailable(&a);
    assert!(fake.faulted() >= 1);
    assert_eq!(setup.token_count().await, 0);
    fake.set(Fault::Proxy, None);
    assert_issued(&answer(&app, &setup.issue_event()).await.0);
    assert_eq!(setup.token_count().await, 2);
}

#[tokio::test]
async fn a_refresh_whose_rotation_times_out_consumes_nothing() {
    let setup = Setup::new().await;
    let (fake, store) = setup.behind(Fault::Proxy).await;
    let rng = ring::rand::SystemRandom::new();
    let app = test_app(&store, &rng);
    let (issued, _) = answer(&app, &setup.issue_event()).await;
    assert_issued(&issued);
    let refresh = issued.body["refresh_token"].as_str().unwrap().to_owned();
    let event = setup.refresh_event(&refresh);

    fake.set(Fault::Hang, Some("TransactWriteItems"));
    let (a, took) = answer(&app, &event).await;
    note(&format!(
        "rotation hangs: answered {} in {took:?}",
        a.status
    ));
    assert_unavailable(&a);

    fake.set(Fault::Proxy, None);
    let (a, _) = answer(&app, &event).await;
    assert_issued(&a);
    assert_ne!(a.body["refresh_token"].as_str(), Some(refresh.as_str()));
}

#[tokio::test]
async fn a_token_pair_write_of_unknown_outcome_is_settled_by_one_read_never_resent() {
    // A BatchWriteItem cannot be conditioned, so a blind resend could land after the
    // answer and overwrite what happened to the tokens since (a revocation). It is sent
    // once; one consistent read settles its outcome. Applied and unanswered (the answer
    // dropped, or never sent): the pair is found and issued. Never applied (the request
    // hangs, or the connection is closed on it): nothing is stored and the client is told
    // to retry, which works.
    for (fault, applied) in [
        (Fault::ApplyThenClose, true),
        (Fault::ApplyThenHang, true),
        (Fault::Hang, false),
        (Fault::Close, false),
    ] {
        let setup = Setup::new().await;
        let (fake, store) = setup.behind(Fault::Proxy).await;
        let rng = ring::rand::SystemRandom::new();
        let app = test_app(&store, &rng);
        fake.set(fault, Some("BatchWriteItem"));
        fake.take_operations();
        let (a, _) = answer(&app, &setup.issue_event()).await;
        assert_eq!(
            fake.take_operations(),
            ["GetItem", "BatchWriteItem", "BatchGetItem"],
            "{fault:?}: the pair is sent once"
        );
        if applied {
            assert_issued(&a);
            assert_eq!(setup.token_count().await, 2, "{fault:?}");
        } else {
            assert_unavailable(&a);
            assert_eq!(setup.token_count().await, 0, "{fault:?}");
            fake.set(Fault::Proxy, None);
            assert_issued(&answer(&app, &setup.issue_event()).await.0);
        }
    }
}

#[tokio::test]
async fn token_items_left_unprocessed_are_sent_again_and_only_they() {
    // DynamoDB throttles part of a batch by returning items unprocessed: those were not
    // written, so they are sent again. Left unprocessed every time, the request is
    // temporarily_unavailable and nothing is stored.
    let setup = Setup::new().await;
    let (fake, store) = setup.behind(Fault::Proxy).await;
    let rng = ring::rand::SystemRandom::new();
    let app = test_app(&store, &rng);
    fake.set_times(Fault::Unprocessed, Some("BatchWriteItem"), 1);
    fake.take_operations();
    assert_issued(&answer(&app, &setup.issue_event()).await.0);
    assert_eq!(
        fake.take_operations(),
        ["GetItem", "BatchWriteItem", "BatchWriteItem"]
    );
    assert_eq!(setup.token_count().await, 2);

    fake.set(Fault::Unprocessed, Some("BatchWriteItem"));
    let (a, _) = answer(&app, &setup.issue_event()).await;
    assert_unavailable(&a);
    let ops = fake.take_operations();
    assert_eq!(
        ops.iter().filter(|o| *o == "BatchWriteItem").count(),
        4,
        "{ops:?}"
    );
    assert_eq!(setup.token_count().await, 2, "nothing more stored");
}

#[tokio::test]
async fn a_single_token_write_applied_but_unanswered_is_retried_into_a_success() {
    // Without refresh tokens the access token is one PutItem, retried the same way.
    let setup = Setup::new().await;
    let (fake, store) = setup.behind(Fault::Proxy).await;
    let rng = ring::rand::SystemRandom::new();
    let policy = oauth_token_service::oauth::IssuePolicy {
        issue_refresh_tokens: false,
        ..TEST_POLICY
    };
    let app = test_app_with(&store, &policy, &rng);
    fake.set_times(Fault::ApplyThenClose, Some("PutItem"), 1);
    let (a, _) = answer(&app, &setup.issue_event()).await;
    assert_eq!(fake.faulted(), 1);
    assert_issued(&a);
    assert_eq!(setup.token_count().await, 1);
}

#[tokio::test]
async fn a_rotation_applied_but_unanswered_is_no_lost_race() {
    // The retried rotation finds the refresh token consumed by its own first attempt: the
    // client must get the new tokens, not invalid_refresh (and its next refresh must work).
    let setup = Setup::new().await;
    let (fake, store) = setup.behind(Fault::Proxy).await;
    let rng = ring::rand::SystemRandom::new();
    let app = test_app(&store, &rng);
    let (issued, _) = answer(&app, &setup.issue_event()).await;
    assert_issued(&issued);
    fake.set_times(Fault::ApplyThenClose, Some("TransactWriteItems"), 1);
    let (a, _) = answer(
        &app,
        &setup.refresh_event(issued.body["refresh_token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(fake.faulted(), 1);
    assert_issued(&a);
    let (next, _) = answer(
        &app,
        &setup.refresh_event(a.body["refresh_token"].as_str().unwrap()),
    )
    .await;
    assert_issued(&next);
}

/// Whether `token` is a live access token by the authorizer's one read.
async fn authorized(store: &DynamoStore, token: &str) -> bool {
    let (decision, _) = oauth_token_service::authorizer::authorize(
        store,
        &authorizer_event(Some(&format!("Bearer {token}"))),
        now(),
    )
    .await;
    decision["isAuthorized"] == json!(true)
}

#[tokio::test]
async fn a_use_during_a_rotation_whose_answer_is_slow_is_a_lost_race_and_revokes_nothing() {
    // The rotation commits at once, but its answer takes 0.7 s to come back; a second use
    // of the same refresh token begins meanwhile. It is a race, not theft: it is refused
    // and the winner's fresh tokens stay good.
    let setup = Setup::new().await;
    let (fake, store) = setup.behind(Fault::Proxy).await;
    let rng = ring::rand::SystemRandom::new();
    let app = test_app(&store, &rng);
    let (issued, _) = answer(&app, &setup.issue_event()).await;
    assert_issued(&issued);
    let event = setup.refresh_event(issued.body["refresh_token"].as_str().unwrap());

    fake.set_times(
        Fault::AnswerLate(Duration::from_millis(700)),
        Some("TransactWriteItems"),
        1,
    );
    let winner = answer(&app, &event);
    let second = async {
        tokio::time::sleep(Duration::from_millis(250)).await;
        answer(&app, &event).await
    };
    let ((winner, took), (second, _)) = tokio::join!(winner, second);
    note(&format!("slow answer: winner answered in {took:?}"));
    assert_eq!(fake.faulted(), 1);
    assert_issued(&winner);
    second.assert_error(400, "invalid_refresh", INVALID_REFRESH);
    // Nothing revoked: the winner's access token is accepted, its refresh token rotates.
    assert!(authorized(&store, winner.body["access_token"].as_str().unwrap()).await);
    let next = setup.refresh_event(winner.body["refresh_token"].as_str().unwrap());
    assert_issued(&answer(&app, &next).await.0);
}

#[tokio::test]
async fn a_use_while_a_rotation_revokes_its_familys_oldest_tokens_is_a_lost_race() {
    // A family at its limit of listed access tokens: the next rotation revokes the oldest
    // after it commits, and records its answer time only then, as the last write before
    // its answer. Every UpdateItem is held 0.5 s; a second use of the same refresh token
    // begins while the revocation is under way. The rotation has not been answered: a
    // race, nothing revoked.
    let setup = Setup::new().await;
    let (fake, store) = setup.behind(Fault::Proxy).await;
    let rng = ring::rand::SystemRandom::new();
    let app = test_app(&store, &rng);
    let (mut current, _) = answer(&app, &setup.issue_event()).await;
    assert_issued(&current);
    for _ in 0..99 {
        let event = setup.refresh_event(current.body["refresh_token"].as_str().unwrap());
        current = answer(&app, &event).await.0;
        assert_issued(&current);
    }
    let event = setup.refresh_event(current.body["refresh_token"].as_str().unwrap());

    fake.set(Fault::Slow(Duration::from_millis(500)), Some("UpdateItem"));
    let winner = answer(&app, &event);
    let second = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        answer(&app, &event).await
    };
    let ((winner, took), (second, _)) = tokio::join!(winner, second);
    fake.set(Fault::Proxy, None);
    note(&format!("rotation with a revocation answered in {took:?}"));
    assert_issued(&winner);
    second.assert_error(400, "invalid_refresh", INVALID_REFRESH);
    assert!(authorized(&store, winner.body["access_token"].as_str().unwrap()).await);
    let next = setup.refresh_event(winner.body["refresh_token"].as_str().unwrap());
    assert_issued(&answer(&app, &next).await.0);
}

#[tokio::test]
async fn a_rotation_landing_between_the_family_mark_and_the_sweep_is_refused() {
    // A thief holding the family's current refresh token rotates it while the owner's
    // re-presentation of a consumed one revokes the family. The thief's transaction is held
    // on its way so that it reaches DynamoDB after the family record was marked revoked
    // (0.3 s) but before the sweep revokes the token it presents (0.6 s): only the family
    // record's condition can stop it, and it must, or the thief walks away with a pair the
    // sweep never saw.
    let setup = Setup::new().await;
    let (thief_fake, thief_store) = setup.behind(Fault::Proxy).await;
    let (owner_fake, owner_store) = setup.behind(Fault::Proxy).await;
    let rng = ring::rand::SystemRandom::new();
    let thief_app = test_app(&thief_store, &rng);
    let owner_app = test_app(&owner_store, &rng);
    let (issued, _) = answer(&owner_app, &setup.issue_event()).await;
    assert_issued(&issued);
    let first = issued.body["refresh_token"].as_str().unwrap().to_owned();
    let (rotated, _) = answer(&owner_app, &setup.refresh_event(&first)).await;
    assert_issued(&rotated);
    let current = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(20)).await;

    owner_fake.set(Fault::Slow(Duration::from_millis(300)), Some("UpdateItem"));
    thief_fake.set_times(
        Fault::Slow(Duration::from_millis(450)),
        Some("TransactWriteItems"),
        1,
    );
    let (thief_event, owner_event) = (setup.refresh_event(&current), setup.refresh_event(&first));
    let thief = answer(&thief_app, &thief_event);
    let owner = answer(&owner_app, &owner_event);
    let ((thief, _), (owner, took)) = tokio::join!(thief, owner);
    note(&format!(
        "family revoked in {took:?}; the thief got {}",
        thief.status
    ));
    owner.assert_error(400, "invalid_refresh", INVALID_REFRESH);
    assert_eq!(thief_fake.faulted(), 1, "the thief's rotation was held");
    thief.assert_error(400, "invalid_refresh", INVALID_REFRESH);
    owner_fake.set(Fault::Proxy, None);
    for token in [&current, rotated.body["access_token"].as_str().unwrap()] {
        let stored = setup.moto.get_token(&token::hash(token)).await.unwrap();
        assert!(
            stored.is_some_and(|t| t.revoked),
            "the family's tokens are revoked"
        );
    }
}

#[tokio::test]
async fn a_rotation_committed_but_never_answered_is_answered_with_its_tokens() {
    // DynamoDB applies the rotation but no answer ever comes back (nor to the SDK's
    // retries): the function finds out that it committed and answers with the tokens it
    // wrote, nothing revoked.
    let setup = Setup::new().await;
    let (fake, store) = setup.behind(Fault::Proxy).await;
    let rng = ring::rand::SystemRandom::new();
    let app = test_app(&store, &rng);
    let (issued, _) = answer(&app, &setup.issue_event()).await;
    assert_issued(&issued);
    let event = setup.refresh_event(issued.body["refresh_token"].as_str().unwrap());

    fake.set(Fault::ApplyThenHang, Some("TransactWriteItems"));
    let (a, took) = answer(&app, &event).await;
    note(&format!(
        "rotation unanswered: answered {} in {took:?}",
        a.status
    ));
    assert!(fake.faulted() >= 1);
    assert_issued(&a);
    fake.set(Fault::Proxy, None);
    for key in ["access_token", "refresh_token"] {
        let stored = setup
            .moto
            .get_token(&token::hash(a.body[key].as_str().unwrap()))
            .await
            .unwrap()
            .expect("the answered tokens are the stored ones");
        assert!(stored.is_live(now()), "{key} live");
    }
    assert!(authorized(&store, a.body["access_token"].as_str().unwrap()).await);
    assert!(authorized(&store, issued.body["access_token"].as_str().unwrap()).await);
    let next = setup.refresh_event(a.body["refresh_token"].as_str().unwrap());
    assert_issued(&answer(&app, &next).await.0);
}

/// `/oauth/revoke` of `token` by the client `id`.
fn revoke_event(id: &str, secret: &str, token: &str) -> Value {
    form_post_to(
        "/oauth/revoke",
        &format!("token={token}"),
        &[("authorization", &basic(id, secret))],
    )
}

/// Whether the resource server `api` is told that `token` is active.
async fn introspected_active(app: &App<'_, DynamoStore>, secret: &str, token: &str) -> bool {
    let event = form_post_to(
        "/oauth/introspect",
        &format!("token={token}"),
        &[("authorization", &basic("api", secret))],
    );
    let (a, _) = answer(app, &event).await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["active"] == json!(true)
}

/// The authorizer's verdict on `token`, JWTs included.
async fn verdict(store: &DynamoStore, token: &str) -> Verdict {
    let event = authorizer_event(Some(&format!("Bearer {token}")));
    decide(store, Some(test_jwt_keys()), &event, now())
        .await
        .verdict
}

#[tokio::test]
async fn a_family_revocation_whose_sweep_fails_still_refuses_every_token_of_the_family() {
    // The attacker's best chance: the revocation's decision (the family record) lands, then
    // DynamoDB fails every write of the sweep that marks the family's tokens one by one.
    // The revoking request says so, and from its answer on no token of the family is
    // accepted anywhere, opaque or JWT, though none of them was marked: the family record
    // decides, the sweep is cleanup. Another family of the same client is untouched.
    let setup = Setup::new().await;
    let mut jwt_app = client_with_secret("jwt-app", &setup.secret, &["read"]);
    jwt_app.token_format = Some(TokenFormat::Jwt);
    let mut api = client_with_secret("api", &setup.secret, &[]);
    api.resource_server = true;
    for c in [&jwt_app, &api] {
        assert!(setup.moto.put_client(c, true).await.unwrap());
    }
    put_test_keyring(&setup.moto).await;
    let (fake, store) = setup.behind(Fault::Proxy).await;
    let rng = ring::rand::SystemRandom::new();
    let app = test_app(&store, &rng);
    let tok = |a: &Answer, key: &str| a.body[key].as_str().expect(key).to_owned();
    let issue_as = |id: &'static str| {
        json_post(
            &json!({"grant_type": "client_credentials", "client_id": id, "client_secret": setup.secret}),
        )
    };
    let refresh_as = |id: &'static str, rt: &str| {
        json_post(&json!({
            "grant_type": "refresh_token", "refresh_token": rt,
            "client_id": id, "client_secret": setup.secret,
        }))
    };

    for (id, sweep_op) in [("app", "UpdateItem"), ("jwt-app", "PutItem")] {
        let (first, _) = answer(&app, &issue_as(id)).await;
        assert_eq!(first.status, 200, "{}", first.body);
        let (second, _) = answer(&app, &refresh_as(id, &tok(&first, "refresh_token"))).await;
        assert_eq!(second.status, 200, "{}", second.body);
        let (bystander, _) = answer(&app, &issue_as(id)).await;
        assert_eq!(bystander.status, 200, "{}", bystander.body);
        let current = tok(&second, "refresh_token");
        let accesses = [tok(&first, "access_token"), tok(&second, "access_token")];

        // Opaque: the family mark is the first UpdateItem, the sweep's writes the next
        // ones. JWT: the sweep records each `jti` with a PutItem.
        let skip = usize::from(sweep_op == "UpdateItem");
        let faulted = fake.faulted();
        fake.set_after(
            Fault::Error(500, "InternalServerError"),
            Some(sweep_op),
            skip,
        );
        let (revoked, _) = answer(&app, &revoke_event(id, &setup.secret, &current)).await;
        assert_unavailable(&revoked);
        assert!(fake.faulted() > faulted, "{id}: the sweep met the fault");
        fake.set(Fault::Proxy, None);
        let family = setup
            .moto
            .get_family(&token::hash(&tok(&first, "refresh_token")))
            .await
            .unwrap();
        assert!(
            family.is_some_and(|f| f.revoked),
            "{id}: the decision landed"
        );
        if id == "app" {
            for t in accesses.iter().chain([&current]) {
                let stored = setup.moto.get_token(&token::hash(t)).await.unwrap();
                assert!(
                    stored.is_some_and(|s| !s.revoked),
                    "the sweep never marked it"
                );
            }
        }

        for t in &accesses {
            assert_eq!(verdict(&store, t).await, Verdict::Revoked, "{id}");
            assert!(!introspected_active(&app, &setup.secret, t).await, "{id}");
        }
        assert!(!introspected_active(&app, &setup.secret, &current).await);
        let items = setup.token_count().await;
        let (again, _) = answer(&app, &refresh_as(id, &current)).await;
        again.assert_error(400, "invalid_refresh", INVALID_REFRESH);
        assert_eq!(setup.token_count().await, items, "{id}: nothing written");

        let other = tok(&bystander, "access_token");
        assert_eq!(verdict(&store, &other).await, Verdict::Allowed, "{id}");
        assert!(introspected_active(&app, &setup.secret, &other).await);
    }
}

#[tokio::test]
async fn the_authorizer_denies_when_dynamodb_is_unreachable() {
    let client = sdk_client(
        &format!("http://127.0.0.1:{}", free_port()),
        Duration::from_millis(1500),
    )
    .await;
    let store = DynamoStore::new(client, "oauth-clients", "oauth-tokens");
    let (response, verdict) = tokio::time::timeout(
        Duration::from_secs(20),
        oauth_token_service::authorizer::authorize(
            &store,
            &authorizer_event(Some("Bearer 0123456789abcdefghij0123456789ABCDEFGHIJ")),
            now(),
        ),
    )
    .await
    .expect("answers");
    assert_eq!(response, json!({"isAuthorized": false}));
    assert_eq!(
        verdict,
        oauth_token_service::authorizer::Verdict::StorageFailed
    );
}

// ---------------------------------------------------------------------------------------
// Malformed items (moto)

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: &str) -> AttributeValue {
    AttributeValue::N(v.to_owned())
}

fn l(items: Vec<AttributeValue>) -> AttributeValue {
    AttributeValue::L(items)
}

#[tokio::test]
async fn malformed_client_items_are_server_errors_and_the_next_request_is_served() {
    let setup = Setup::new().await;
    let hash = oauth_token_service::oauth::secret::hash_generated(
        &setup.secret,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    let good = || {
        vec![
            ("name", s("broken")),
            ("secret_hashes", l(vec![s(&hash)])),
            ("grants", l(vec![s("client_credentials")])),
            ("scopes", l(vec![s("read")])),
        ]
    };
    // Each variant: one attribute missing or of the wrong type.
    let variants: Vec<(&str, &str, Option<AttributeValue>)> = vec![
        ("secret_hashes missing", "secret_hashes", None),
        ("secret_hashes a string", "secret_hashes", Some(s(&hash))),
        ("secret_hashes a number", "secret_hashes", Some(n("1"))),
        ("secret_hashes empty", "secret_hashes", Some(l(vec![]))),
        (
            "secret_hashes holding a number",
            "secret_hashes",
            Some(l(vec![n("7")])),
        ),
        ("grants a string", "grants", Some(s("client_credentials"))),
        (
            "grants naming an unknown grant",
            "grants",
            Some(l(vec![s("password")])),
        ),
        (
            "scopes a map",
            "scopes",
            Some(AttributeValue::M(Default::default())),
        ),
        ("default_scopes a number", "default_scopes", Some(n("3"))),
        ("disabled a string", "disabled", Some(s("false"))),
        ("access_ttl a string", "access_ttl", Some(s("3600"))),
        ("access_ttl negative", "access_ttl", Some(n("-5"))),
        ("access_ttl fractional", "access_ttl", Some(n("1.5"))),
        ("refresh_ttl beyond 64 bits", "refresh_ttl", Some(n("1e30"))),
    ];
    let store = &setup.moto;
    let rng = ring::rand::SystemRandom::new();
    let app = test_app(store, &rng);
    for (i, (what, attr, value)) in variants.into_iter().enumerate() {
        let id = format!("broken-{i}");
        let mut item: std::collections::HashMap<String, AttributeValue> =
            good().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        item.insert("client_id".into(), s(&id));
        match value {
            Some(v) => item.insert(attr.to_owned(), v),
            None => item.remove(attr),
        };
        raw_dynamodb()
            .await
            .put_item()
            .table_name(store.clients_table())
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
        for event in [
            json_post(
                &json!({"grant_type": "client_credentials", "client_id": id, "client_secret": setup.secret}),
            ),
            form_post(
                "grant_type=client_credentials",
                &[("authorization", &basic(&id, &setup.secret))],
            ),
        ] {
            let (a, _) = answer(&app, &event).await;
            assert_eq!(a.status, 500, "{what}: {}", a.body);
            a.assert_error(500, "server_error", SERVER_ERROR);
        }
        // The same function serves a well-formed client next.
        assert_issued(&answer(&app, &setup.issue_event()).await.0);
    }
}

#[tokio::test]
async fn malformed_token_items_are_server_errors_on_every_endpoint_that_reads_them() {
    let setup = Setup::new().await;
    let store = &setup.moto;
    let rng = ring::rand::SystemRandom::new();
    let app = test_app(store, &rng);
    let far = (now() + 3600).to_string();
    let good = |hash: &str| -> Vec<(&'static str, AttributeValue)> {
        vec![
            ("token_hash", s(hash)),
            ("kind", s("refresh")),
            ("client_id", s("app")),
            ("scope", l(vec![s("read")])),
            ("issued_at", n("1")),
            ("expires_at", n(&far)),
            ("family", s("fam")),
            ("revoked", AttributeValue::Bool(false)),
        ]
    };
    let variants: Vec<(&str, &str, Option<AttributeValue>)> = vec![
        ("kind missing", "kind", None),
        ("kind unknown", "kind", Some(s("bearer"))),
        ("expires_at a string", "expires_at", Some(s(&far))),
        ("expires_at missing", "expires_at", None),
        ("client_id a number", "client_id", Some(n("42"))),
        ("scope a string", "scope", Some(s("read"))),
        ("revoked a string", "revoked", Some(s("no"))),
        ("used_at_ms a string", "used_at_ms", Some(s("now"))),
        ("family missing", "family", None),
    ];
    for (i, (what, attr, value)) in variants.into_iter().enumerate() {
        let presented = format!("MalformedTokenItem{i:022}");
        let mut item: std::collections::HashMap<String, AttributeValue> =
            good(&token::hash(&presented))
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
        match value {
            Some(v) => item.insert(attr.to_owned(), v),
            None => item.remove(attr),
        };
        raw_dynamodb()
            .await
            .put_item()
            .table_name(store.tokens_table())
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
        let creds = format!("client_id=app&client_secret={}", setup.secret);
        for (path, body) in [
            (
                "/oauth",
                format!("grant_type=refresh_token&refresh_token={presented}&{creds}"),
            ),
            ("/oauth/revoke", format!("token={presented}&{creds}")),
            ("/oauth/introspect", format!("token={presented}&{creds}")),
        ] {
            let event = form_post_to(path, &body, &[]);
            let (a, _) = answer(&app, &event).await;
            assert_eq!(a.status, 500, "{what} at {path}: {}", a.body);
            a.assert_error(500, "server_error", SERVER_ERROR);
        }
    }
    assert_issued(&answer(&app, &setup.issue_event()).await.0);
}

#[tokio::test]
async fn a_transaction_cancelled_for_throttling_is_temporarily_unavailable() {
    // DynamoDB reports throttling inside TransactWriteItems as a cancellation reason, not
    // as a throttling error: a rotation must still answer §7's temporarily_unavailable
    // with Retry-After, and change nothing.
    for reason in ["ThrottlingError", "ProvisionedThroughputExceeded"] {
        let setup = Setup::new().await;
        let (fake, store) = setup.behind(Fault::Proxy).await;
        let rng = ring::rand::SystemRandom::new();
        let app = test_app(&store, &rng);
        let (issued, _) = answer(&app, &setup.issue_event()).await;
        assert_issued(&issued);

        fake.set(Fault::Canceled(reason), Some("TransactWriteItems"));
        let refresh = issued.body["refresh_token"].as_str().unwrap().to_owned();
        let event = setup.refresh_event(&refresh);
        let (a, _) = answer(&app, &event).await;
        assert_unavailable(&a);
        assert!(fake.faulted() >= 1);
        assert_eq!(
            setup.token_count().await,
            2,
            "{reason}: nothing more stored"
        );

        // Nothing was consumed: the same refresh token works once DynamoDB recovers.
        fake.set(Fault::Proxy, None);
        let (a, _) = answer(&app, &event).await;
        assert_issued(&a);
    }
}

#[tokio::test]
async fn a_request_past_its_time_budget_is_temporarily_unavailable() {
    // DynamoDB answers, but slower than the invocation has left: the function answers
    // §7's temporarily_unavailable within its budget rather than running into its own
    // timeout (which API Gateway would answer with an undocumented 5xx).
    let setup = Setup::new().await;
    let (fake, store) = setup.behind(Fault::Slow(Duration::from_millis(1200))).await;
    let rng = ring::rand::SystemRandom::new();
    let app = test_app(&store, &rng);
    let event = setup.issue_event();
    let answer = app
        .handle_event_within(&event, Some(Duration::from_millis(300)))
        .await;
    assert_unavailable(&Answer::from_event(&answer));
    // The same request with time enough is served.
    fake.set(Fault::Proxy, None);
    let answer = app
        .handle_event_within(&event, Some(Duration::from_secs(5)))
        .await;
    assert_issued(&Answer::from_event(&answer));
}

#[tokio::test]
async fn a_use_racing_a_rotation_whose_answer_time_write_comes_back_late_is_a_lost_race() {
    // The rotation commits at once; the write of its answer time is applied at once but
    // its own answer takes 0.7 s to come back. A second use of the token begins 50 ms in,
    // before the rotation has answered: a race, not theft (it was taken for reuse when
    // the time written was the one before the write), and within a grace no second pair.
    for reuse_grace_ms in [0, 30_000] {
        let setup = Setup::new().await;
        let (fake, store) = setup.behind(Fault::Proxy).await;
        let rng = ring::rand::SystemRandom::new();
        let policy = oauth_token_service::oauth::IssuePolicy {
            reuse_grace_ms,
            ..common::TEST_POLICY
        };
        let app = test_app_with(&store, &policy, &rng);
        let (issued, _) = answer(&app, &setup.issue_event()).await;
        assert_issued(&issued);
        let refresh = issued.body["refresh_token"].as_str().unwrap();
        let event = setup.refresh_event(refresh);
        fake.set_times(
            Fault::AnswerLate(Duration::from_millis(700)),
            Some("UpdateItem"),
            1,
        );
        let second = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            answer(&app, &event).await
        };
        let ((winner, _), (second, _)) = tokio::join!(answer(&app, &event), second);
        assert_issued(&winner);
        second.assert_error(400, "invalid_refresh", INVALID_REFRESH);
        let family = setup.moto.get_family(&token::hash(refresh)).await.unwrap();
        assert!(
            !family.is_some_and(|f| f.revoked),
            "grace {reuse_grace_ms}: a lost race revoked the family"
        );
        assert!(authorized(&store, winner.body["access_token"].as_str().unwrap()).await);
        let (next, _) = answer(
            &app,
            &setup.refresh_event(winner.body["refresh_token"].as_str().unwrap()),
        )
        .await;
        assert_issued(&next);
    }
}

#[tokio::test]
async fn a_rotation_that_committed_is_answered_with_its_tokens_though_its_budget_runs_short() {
    // Every DynamoDB call held 400 ms, a budget of 1 s: the client and token read ends
    // at about 400 ms, the rotation commits at about 800 ms, and the write of its answer
    // time would come back at about 1200 ms. The commit's tokens are the answer.
    let setup = Setup::new().await;
    let (fake, store) = setup.behind(Fault::Proxy).await;
    let rng = ring::rand::SystemRandom::new();
    let app = test_app(&store, &rng);
    let (issued, _) = answer(&app, &setup.issue_event()).await;
    assert_issued(&issued);
    let refresh = issued.body["refresh_token"].as_str().unwrap();
    let event = setup.refresh_event(refresh);
    fake.set(Fault::Slow(Duration::from_millis(400)), None);
    let first = app
        .handle_event_within(&event, Some(Duration::from_millis(1000)))
        .await;
    fake.set(Fault::Proxy, None);
    let first = Answer::from_event(&first);
    assert_issued(&first);
    let family = setup.moto.get_family(&token::hash(refresh)).await.unwrap();
    assert_eq!(
        family.and_then(|f| f.current_refresh),
        Some(token::hash(first.body["refresh_token"].as_str().unwrap()))
    );
    assert!(authorized(&store, first.body["access_token"].as_str().unwrap()).await);
}
