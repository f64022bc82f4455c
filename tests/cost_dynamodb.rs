//! What one issuance costs in DynamoDB (PROTOCOL §8.2), counted on moto behind a front
//! that records every request's operation: the requests per issuance in each mode, and the
//! write units they are billed. moto's own `ConsumedCapacity` figures do not follow
//! DynamoDB's rules (it reports one unit for a two-item batch), so write units are counted
//! from the pricing rules instead: a PutItem or a BatchWriteItem item costs one write unit
//! per started KB of the item's size, a transactional write twice that, and every secondary
//! index write again. The items' sizes are measured from what moto stored.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::fake_dynamodb::{FakeDynamo, Fault};
use common::*;
use oauth_token_service::http::App;
use oauth_token_service::oauth::{ClientCache, IssuePolicy, TokenFormat};
use oauth_token_service::store::GrantType;
use oauth_token_service::store::dynamodb::DynamoStore;
use serde_json::{Value, json};
use std::collections::HashMap;

struct Bench {
    moto: DynamoStore,
    fake: FakeDynamo,
    store: DynamoStore,
    secret: String,
}

impl Bench {
    async fn new() -> Self {
        let moto = fresh_store().await;
        let secret = new_secret();
        let opaque = client_with_secret("opaque", &secret, &["read"]);
        let mut opaque_only = client_with_secret("opaque-only", &secret, &["read"]);
        opaque_only.grants = vec![GrantType::ClientCredentials];
        let mut jwt = client_with_secret("jwt", &secret, &["read"]);
        jwt.token_format = Some(TokenFormat::Jwt);
        let mut jwt_only = client_with_secret("jwt-only", &secret, &["read"]);
        jwt_only.token_format = Some(TokenFormat::Jwt);
        jwt_only.grants = vec![GrantType::ClientCredentials];
        let mut quota = client_with_secret("quota", &secret, &["read"]);
        quota.max_tokens_per_hour = Some(1000);
        for c in [opaque, opaque_only, jwt, jwt_only, quota] {
            assert!(moto.put_client(&c, true).await.unwrap());
        }
        put_test_keyring(&moto).await;
        let fake = FakeDynamo::start(Fault::Proxy, None).await;
        let store = fake.store_over(&moto).await;
        Bench {
            moto,
            fake,
            store,
            secret,
        }
    }

    fn issue(&self, client: &str) -> Value {
        json_post(&json!({
            "grant_type": "client_credentials",
            "client_id": client,
            "client_secret": self.secret,
        }))
    }

    /// Answers `event` and returns the answer with the operations it sent.
    async fn counted(&self, app: &App<'_, DynamoStore>, event: &Value) -> (Answer, Vec<String>) {
        self.fake.take_operations();
        let answer = Answer::from_event(&app.handle_event(event).await);
        (answer, self.fake.take_operations())
    }

    /// Every token item stored, keyed by hash.
    async fn token_items(&self) -> HashMap<String, HashMap<String, AttributeValue>> {
        scan_items(self.moto.tokens_table())
            .await
            .into_iter()
            .filter(|i| matches!(i.get("kind"), Some(AttributeValue::S(k)) if k == "access" || k == "refresh"))
            .map(|i| match i.get("token_hash") {
                Some(AttributeValue::S(h)) => (h.clone(), i),
                other => panic!("token item without a hash: {other:?}"),
            })
            .collect()
    }
}

/// An item's size as DynamoDB bills it: each attribute's name plus its value (strings and
/// binaries by length, numbers by digits, lists and maps with 3 bytes of overhead and one
/// byte per element).
fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.trim_start_matches('-').len().div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
        AttributeValue::L(l) => 3 + l.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
        other => panic!("unexpected attribute value {other:?}"),
    }
}

/// Write units of the tokens an issuance wrote: one per started KB of each item (no
/// transaction and no index on the table, both checked).
async fn write_units(
    bench: &Bench,
    before: &HashMap<String, HashMap<String, AttributeValue>>,
) -> usize {
    bench
        .token_items()
        .await
        .iter()
        .filter(|(h, _)| !before.contains_key(*h))
        .map(|(_, item)| item_size(item).div_ceil(1024))
        .sum()
}

fn policy(refresh: bool) -> IssuePolicy {
    IssuePolicy {
        issue_refresh_tokens: refresh,
        ..TEST_POLICY
    }
}

#[tokio::test]
async fn an_issuance_costs_one_read_and_one_write_unit_per_token_item() {
    let bench = Bench::new().await;
    let table = raw_dynamodb()
        .await
        .describe_table()
        .table_name(bench.moto.tokens_table())
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert!(
        table.global_secondary_indexes().is_empty() && table.local_secondary_indexes().is_empty(),
        "the tokens table has no index to pay for on each write"
    );
    let rng = ring::rand::SystemRandom::new();
    let with_refresh = policy(true);
    let without_refresh = policy(false);

    // (client, policy, operations, write units)
    let cases: [(&str, &IssuePolicy, &[&str], usize); 5] = [
        ("opaque", &with_refresh, &["GetItem", "BatchWriteItem"], 2),
        // A client with a quota pays one conditional UpdateItem of its window's count (one
        // write unit more); the others pay nothing for the feature.
        (
            "quota",
            &with_refresh,
            &["GetItem", "UpdateItem", "BatchWriteItem"],
            2,
        ),
        ("opaque", &without_refresh, &["GetItem", "PutItem"], 1),
        ("jwt", &with_refresh, &["GetItem", "PutItem"], 1),
        ("jwt-only", &with_refresh, &["GetItem"], 0),
    ];
    for (client, policy, expected_ops, expected_units) in cases {
        let app = test_app_with(&bench.store, policy, &rng);
        // The first JWT issuance of a process also reads the keyring once.
        let _ = bench.counted(&app, &bench.issue(client)).await;
        let before = bench.token_items().await;
        let (a, ops) = bench.counted(&app, &bench.issue(client)).await;
        assert_eq!(a.status, 200, "{client}: {}", a.body);
        assert_eq!(
            ops, expected_ops,
            "{client}, refresh {}",
            policy.issue_refresh_tokens
        );
        let units = write_units(&bench, &before).await;
        assert_eq!(units, expected_units, "{client}: write units");
        note(&format!(
            "{client} (refresh tokens {}): {ops:?}, {units} write units",
            policy.issue_refresh_tokens
        ));
    }
}

#[tokio::test]
async fn with_the_client_cache_a_warm_issuance_reads_nothing() {
    let bench = Bench::new().await;
    let rng = ring::rand::SystemRandom::new();
    let cache = ClientCache::new(60);
    let without_refresh = policy(false);
    let cases: [(&str, Option<&IssuePolicy>, &[&str]); 3] = [
        ("opaque", None, &["BatchWriteItem"]),
        ("opaque-only", Some(&without_refresh), &["PutItem"]),
        ("jwt-only", None, &[]),
    ];
    for (client, policy, warm_ops) in cases {
        let mut app = match policy {
            Some(p) => test_app_with(&bench.store, p, &rng),
            None => test_app(&bench.store, &rng),
        };
        app.issuer.clients = Some(&cache);
        let (first, cold_ops) = bench.counted(&app, &bench.issue(client)).await;
        assert_eq!(first.status, 200, "{client}: {}", first.body);
        assert!(
            cold_ops.contains(&"GetItem".to_owned()),
            "{client}: {cold_ops:?}"
        );
        for _ in 0..3 {
            let (a, ops) = bench.counted(&app, &bench.issue(client)).await;
            assert_eq!(a.status, 200, "{client}: {}", a.body);
            assert_eq!(ops, warm_ops, "{client}: a warm issuance");
        }
    }
}

#[tokio::test]
async fn the_cache_still_checks_the_secret_and_rereads_after_a_failure() {
    let bench = Bench::new().await;
    let rng = ring::rand::SystemRandom::new();
    let cache = ClientCache::new(60);
    let mut app = test_app(&bench.store, &rng);
    app.issuer.clients = Some(&cache);
    assert_eq!(
        bench.counted(&app, &bench.issue("opaque")).await.0.status,
        200
    );

    // A wrong secret against the cached record: 401 after one read of the record, as for
    // an unknown id (so that timing does not tell a cached id), which replaces the cached
    // record: the next request uses it without a read.
    let wrong = json_post(&json!({
        "grant_type": "client_credentials",
        "client_id": "opaque",
        "client_secret": new_secret(),
    }));
    let (a, ops) = bench.counted(&app, &wrong).await;
    a.assert_error(401, "invalid_client", "Client authentication failed");
    assert_eq!(ops, ["GetItem"], "read again after the failure");
    let (a, ops) = bench.counted(&app, &bench.issue("opaque")).await;
    assert_eq!(a.status, 200);
    assert_eq!(ops, ["BatchWriteItem"], "the record read after the failure");

    // A secret rotated behind the cache: the old record fails the new secret once, the
    // record is read again then, and the retry succeeds without another read.
    let rotated = new_secret();
    let mut next = client_with_secret("opaque", &rotated, &["read"]);
    next.created_at = 0;
    assert!(bench.moto.put_client(&next, false).await.unwrap());
    let with_new = json_post(&json!({
        "grant_type": "client_credentials",
        "client_id": "opaque",
        "client_secret": rotated,
    }));
    let (a, ops) = bench.counted(&app, &with_new).await;
    assert_eq!((a.status, ops), (401, vec!["GetItem".to_owned()]));
    let (a, ops) = bench.counted(&app, &with_new).await;
    assert_eq!((a.status, ops), (200, vec!["BatchWriteItem".to_owned()]));

    // DynamoDB failing: a wrong secret against the cached record and an unknown id get
    // the same answer (the failed read's), so an outage does not tell cached ids either.
    let (a, ops) = bench.counted(&app, &with_new).await;
    assert_eq!(
        (a.status, ops),
        (200, vec!["BatchWriteItem".to_owned()]),
        "cached"
    );
    bench
        .fake
        .set(Fault::Error(500, "InternalServerError"), Some("GetItem"));
    let nobody = json_post(&json!({
        "grant_type": "client_credentials",
        "client_id": "nobody",
        "client_secret": new_secret(),
    }));
    for event in [&wrong, &nobody] {
        let (a, _) = bench.counted(&app, event).await;
        a.assert_error(400, "temporarily_unavailable", TEMPORARILY_UNAVAILABLE);
    }
    bench.fake.set(Fault::Proxy, None);

    // Unknown clients are never cached: each request reads.
    let unknown = json_post(&json!({
        "grant_type": "client_credentials",
        "client_id": "nobody",
        "client_secret": bench.secret,
    }));
    for _ in 0..2 {
        let (a, ops) = bench.counted(&app, &unknown).await;
        assert_eq!(a.status, 401);
        assert_eq!(ops, ["GetItem"]);
    }
}

#[tokio::test]
async fn the_authorizer_reads_a_family_record_only_for_tokens_of_a_refresh_family() {
    // An opaque token issued alone: one GetItem. One issued beside a refresh token: its
    // record, then its family's (the revocation's decision). A JWT: one BatchGetItem of its
    // revocation items, the family's record among them when it names one (`sid`).
    let bench = Bench::new().await;
    let rng = ring::rand::SystemRandom::new();
    let keys = test_jwt_keys();
    let cases: [(&str, bool, &[&str]); 4] = [
        ("opaque", false, &["GetItem"]),
        ("opaque", true, &["GetItem", "GetItem"]),
        ("jwt", false, &["BatchGetItem"]),
        ("jwt", true, &["BatchGetItem"]),
    ];
    for (client, refresh, expected) in cases {
        let policy = policy(refresh);
        let app = test_app_with(&bench.store, &policy, &rng);
        let a = Answer::from_event(&app.handle_event(&bench.issue(client)).await);
        assert_eq!(a.status, 200, "{client}: {}", a.body);
        let token = a.body["access_token"].as_str().unwrap();
        let event = authorizer_event(Some(&format!("Bearer {token}")));
        // The keyring is read once per process (cached), not per request.
        let _ =
            oauth_token_service::authorizer::decide(&bench.store, Some(keys), &event, now()).await;
        bench.fake.take_operations();
        let decision =
            oauth_token_service::authorizer::decide(&bench.store, Some(keys), &event, now()).await;
        assert_eq!(
            decision.verdict,
            oauth_token_service::authorizer::Verdict::Allowed,
            "{client}, refresh {refresh}"
        );
        let ops = bench.fake.take_operations();
        assert_eq!(ops, expected, "{client}, refresh {refresh}");
        note(&format!(
            "authorizer, {client} (refresh {refresh}): {ops:?}"
        ));
    }
}
