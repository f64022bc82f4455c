//! What one request may cost in slow-hash work (PROTOCOL §2.4): never more than one PBKDF2
//! verification, whatever candidates its credentials yield, and a failure no more than a
//! success. Counted, not timed, on the in-memory store; this binary holds one test so that
//! no other request runs while it counts.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use oauth_token_service::oauth::secret;
use oauth_token_service::store::memory::MemoryStore;
use oauth_token_service::store::{ClientRecord, GrantType};

fn raw_basic(id: &str, secret_text: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret_text}")))
}

#[tokio::test]
async fn a_request_costs_at_most_one_pbkdf2_verification() {
    let rng = ring::rand::SystemRandom::new();
    let store = MemoryStore::new();
    // An imported secret whose raw and form-decoded forms differ, stored stretched beside a
    // generated one (as while rotating).
    let imported = "p+q r";
    let mut client = ClientRecord::new(
        "imported",
        "imported",
        secret::hash_pbkdf2(imported, &rng, 1000).unwrap(),
        now(),
    );
    client.grants = vec![GrantType::ClientCredentials];
    client
        .secret_hashes
        .push(secret::hash_generated(&new_secret(), &rng).unwrap());
    store.put_client(client);
    // One made only of what a form encoder writes: sent as is, it also reads as "a bAc".
    let mut plus = ClientRecord::new(
        "plus",
        "plus",
        secret::hash_pbkdf2("a+b%41c", &rng, 1000).unwrap(),
        now(),
    );
    plus.grants = vec![GrantType::ClientCredentials];
    store.put_client(plus);
    let app = test_app(&store, &rng);
    let form = "grant_type=client_credentials";

    let cases: Vec<(&str, serde_json::Value, u64)> = vec![
        // Sent as is (decoded "p q r" and raw "p+q r" are both candidates; the space gives
        // the raw one away): one derivation.
        (
            "Basic, unencoded, right secret",
            form_post(form, &[("authorization", &raw_basic("imported", "p+q r"))]),
            200,
        ),
        (
            "Basic, encoded, right secret",
            form_post(
                form,
                &[("authorization", &raw_basic("imported", "p%2Bq+r"))],
            ),
            200,
        ),
        (
            "Basic, encoder characters only, unencoded, right secret",
            form_post(form, &[("authorization", &raw_basic("plus", "a+b%41c"))]),
            200,
        ),
        (
            "Basic, encoder characters only, encoded, right secret",
            form_post(
                form,
                &[("authorization", &raw_basic("plus", "a%2Bb%2541c"))],
            ),
            200,
        ),
        (
            "Basic, encoder characters only, its decoded reading",
            form_post(form, &[("authorization", &raw_basic("plus", "a+bAc"))]),
            401,
        ),
        (
            "Basic, two candidates, wrong secret",
            form_post(form, &[("authorization", &raw_basic("imported", "x+y"))]),
            401,
        ),
        (
            "Basic, escaped, wrong secret",
            form_post(form, &[("authorization", &raw_basic("imported", "x%20y"))]),
            401,
        ),
        (
            "body credentials, right secret",
            form_post(
                "grant_type=client_credentials&client_id=imported&client_secret=p%2Bq+r",
                &[],
            ),
            200,
        ),
        (
            "body credentials, wrong secret",
            form_post(
                "grant_type=client_credentials&client_id=imported&client_secret=nope",
                &[],
            ),
            401,
        ),
    ];
    for (name, event, status) in cases {
        let before = secret::slow_verifications();
        let a = Answer::from_event(&app.handle_event(&event).await);
        let spent = secret::slow_verifications() - before;
        note(&format!(
            "{name}: {} with {spent} PBKDF2 verification(s)",
            a.status
        ));
        assert_eq!(a.status, status, "{name}: {}", a.body);
        assert_eq!(spent, 1, "{name}");
    }

    // An unknown client costs one fast dummy verification and no PBKDF2.
    let before = secret::slow_verifications();
    let a = Answer::from_event(
        &app.handle_event(&form_post(
            form,
            &[("authorization", &raw_basic("nobody", "x+y"))],
        ))
        .await,
    );
    assert_eq!(a.status, 401);
    assert_eq!(secret::slow_verifications() - before, 0);
}
