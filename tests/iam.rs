//! The template's IAM policies against what the functions really send: every path of the
//! token function (issuance in each mode, rotation, reuse, the reuse grace, revocation,
//! introspection, quotas, a write of unknown outcome read back) and of the authorizer runs
//! against moto behind a front that records, for each request, the (action, table) pairs
//! IAM authorizes (a transaction's items each as their single-item action). Each function's
//! role must allow every pair it sent, and grant nothing it never sends. moto enforces no
//! IAM, so without this check a missing action shows only once deployed, as a 500.

mod common;

use common::fake_dynamodb::{FakeDynamo, Fault};
use common::*;
use oauth_token_service::authorizer::{Verdict, decide};
use oauth_token_service::http::App;
use oauth_token_service::oauth::{IssuePolicy, TokenFormat};
use oauth_token_service::store::dynamodb::DynamoStore;
use serde_json::Value;
use std::collections::BTreeSet;

/// The actions a statement of the template grants, and the table resource it names
/// (`ClientsTable` or `TokensTable`), found by its `Sid`.
fn statement(template: &str, sid: &str) -> (BTreeSet<String>, String) {
    let mut lines = template
        .lines()
        .skip_while(|l| l.trim() != format!("- Sid: {sid}"))
        .skip(1);
    let mut actions = BTreeSet::new();
    for line in lines.by_ref() {
        let line = line.trim();
        if let Some(action) = line.strip_prefix("- dynamodb:") {
            actions.insert(action.to_owned());
        } else if let Some(resource) = line.strip_prefix("Resource: !GetAtt ") {
            let table = resource.trim_end_matches(".Arn").to_owned();
            assert!(
                !actions.is_empty(),
                "statement {sid} grants no DynamoDB action"
            );
            return (actions, table);
        }
    }
    panic!("no statement {sid} with a table resource in template.yaml");
}

/// What a function's statements grant: (action, `ClientsTable` | `TokensTable`) pairs.
fn granted(sids: &[&str]) -> BTreeSet<(String, String)> {
    let template = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    sids.iter()
        .flat_map(|sid| {
            let (actions, table) = statement(&template, sid);
            actions.into_iter().map(move |a| (a, table.clone()))
        })
        .collect()
}

struct Setup {
    moto: DynamoStore,
    fake: FakeDynamo,
    store: DynamoStore,
    secret: String,
}

impl Setup {
    async fn new() -> Self {
        let moto = fresh_store().await;
        let secret = new_secret();
        let mut jwt = client_with_secret("jwt", &secret, &["read"]);
        jwt.token_format = Some(TokenFormat::Jwt);
        let mut quota = client_with_secret("quota", &secret, &["read"]);
        quota.max_tokens_per_hour = Some(100);
        let mut api = client_with_secret("api", &secret, &[]);
        api.resource_server = true;
        for c in [
            client_with_secret("app", &secret, &["read"]),
            jwt,
            quota,
            api,
        ] {
            assert!(moto.put_client(&c, true).await.unwrap());
        }
        put_test_keyring(&moto).await;
        let fake = FakeDynamo::start(Fault::Proxy, None).await;
        let store = fake.store_over(&moto).await;
        Setup {
            moto,
            fake,
            store,
            secret,
        }
    }

    /// The recorded pairs since the last call, tables named as the template names them.
    fn actions(&self) -> BTreeSet<(String, String)> {
        self.fake
            .take_actions()
            .into_iter()
            .map(|(action, table)| {
                let name = if table == self.moto.clients_table() {
                    "ClientsTable"
                } else if table == self.moto.tokens_table() {
                    "TokensTable"
                } else {
                    panic!("{action} on a table of neither kind: {table:?}")
                };
                (action, name.to_owned())
            })
            .collect()
    }

    fn post(&self, path: &str, client: &str, body: &str) -> Value {
        form_post_to(
            path,
            body,
            &[("authorization", &basic(client, &self.secret))],
        )
    }
}

async fn call(app: &App<'_, DynamoStore>, event: &Value) -> Answer {
    Answer::from_event(&app.handle_event(event).await)
}

async fn ok(app: &App<'_, DynamoStore>, event: &Value) -> Answer {
    let a = call(app, event).await;
    assert_eq!(a.status, 200, "{}", a.body);
    a
}

fn tok(a: &Answer, key: &str) -> String {
    a.body[key].as_str().expect(key).to_owned()
}

#[tokio::test]
async fn each_functions_role_allows_exactly_what_it_sends() {
    let s = Setup::new().await;
    let rng = ring::rand::SystemRandom::new();
    let issue = "grant_type=client_credentials";
    let refresh = |rt: &str| format!("grant_type=refresh_token&refresh_token={rt}");
    let policies = [
        TEST_POLICY,
        IssuePolicy {
            issue_refresh_tokens: false,
            ..TEST_POLICY
        },
        IssuePolicy {
            reuse_grace_ms: 60_000,
            ..TEST_POLICY
        },
    ];
    let [with_refresh, alone, grace] = &policies;
    let app = test_app_with(&s.store, with_refresh, &rng);

    // Issuance in each mode: a pair, a token alone, a JWT (and the keyring), a quota.
    for client in ["app", "jwt", "quota"] {
        let first = ok(&app, &s.post("/oauth", client, issue)).await;
        // Rotation, then reuse of the consumed token: the family revoked and swept.
        ok(
            &app,
            &s.post("/oauth", client, &refresh(&tok(&first, "refresh_token"))),
        )
        .await;
        call(
            &app,
            &s.post("/oauth", client, &refresh(&tok(&first, "refresh_token"))),
        )
        .await
        .assert_error(400, "invalid_refresh", INVALID_REFRESH);
    }
    let app_alone = test_app_with(&s.store, alone, &rng);
    let lone = ok(&app_alone, &s.post("/oauth", "app", issue)).await;
    // The reuse grace reads the family's record.
    let app_grace = test_app_with(&s.store, grace, &rng);
    let first = ok(&app_grace, &s.post("/oauth", "app", issue)).await;
    let used = tok(&first, "refresh_token");
    ok(&app_grace, &s.post("/oauth", "app", &refresh(&used))).await;
    let again = ok(&app_grace, &s.post("/oauth", "app", &refresh(&used))).await;

    // Introspection and revocation, opaque and JWT, access and refresh.
    let live = [tok(&again, "access_token"), tok(&lone, "access_token")];
    let jwt = ok(&app, &s.post("/oauth", "jwt", issue)).await;
    for token in live
        .iter()
        .chain([&tok(&jwt, "access_token"), &tok(&again, "refresh_token")])
    {
        ok(
            &app,
            &s.post("/oauth/introspect", "api", &format!("token={token}")),
        )
        .await;
    }
    ok(
        &app,
        &s.post("/oauth/revoke", "app", &format!("token={}", live[1])),
    )
    .await;
    ok(
        &app,
        &s.post(
            "/oauth/revoke",
            "jwt",
            &format!("token={}", tok(&jwt, "access_token")),
        ),
    )
    .await;
    ok(
        &app,
        &s.post(
            "/oauth/revoke",
            "app",
            &format!("token={}", tok(&again, "refresh_token")),
        ),
    )
    .await;

    // A pair written whose answer was lost: read back to settle it.
    s.fake
        .set_times(Fault::ApplyThenClose, Some("BatchWriteItem"), 1);
    ok(&app, &s.post("/oauth", "app", issue)).await;
    s.fake.set(Fault::Proxy, None);

    let sent = s.actions();
    let allowed = granted(&["ReadClients", "ReadWriteTokens"]);
    let missing: Vec<_> = sent.difference(&allowed).collect();
    assert!(
        missing.is_empty(),
        "the token function sends, unallowed: {missing:?}"
    );
    let unused: Vec<_> = allowed.difference(&sent).collect();
    assert!(
        unused.is_empty(),
        "the token function's role grants, unused: {unused:?}"
    );
    note(&format!("token function: {sent:?}"));

    // The authorizer: an opaque token alone, one of a refresh family, a JWT of one.
    let keys = test_jwt_keys();
    let pair = ok(&app, &s.post("/oauth", "app", issue)).await;
    let lone = ok(&app_alone, &s.post("/oauth", "app", issue)).await;
    let jwt = ok(&app, &s.post("/oauth", "jwt", issue)).await;
    s.fake.take_actions();
    for a in [&pair, &lone, &jwt] {
        let event = authorizer_event(Some(&format!("Bearer {}", tok(a, "access_token"))));
        let decision = decide(&s.store, Some(keys), &event, now()).await;
        assert_eq!(decision.verdict, Verdict::Allowed);
    }
    let sent = s.actions();
    let allowed = granted(&["ReadTokens"]);
    assert_eq!(sent, allowed, "the authorizer's role against what it sends");
}
