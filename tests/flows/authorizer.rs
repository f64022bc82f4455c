//! The HTTP API Lambda authorizer (PROTOCOL §9.4): only a live access token is authorized.
//! (A storage failure denies: `tests/faults.rs`.)

use super::{FlowStore, TokenNumber};
use crate::common::*;
use oauth_token_service::authorizer::{Verdict, authorize};
use oauth_token_service::oauth::token;
use serde_json::{Value, json};

async fn issued<S: FlowStore>(store: &S) -> (String, String) {
    let secret = new_secret();
    store
        .seed_client(
            &client_with_secret("app", &secret, &["read", "write"]),
            true,
        )
        .await;
    let rng = ring::rand::SystemRandom::new();
    let app = test_app(store, &rng);
    let a = Answer::from_event(
        &app.handle_event(&form_post(
            "grant_type=client_credentials",
            &[("authorization", &basic("app", &secret))],
        ))
        .await,
    );
    assert_eq!(a.status, 200);
    (
        a.body["access_token"].as_str().unwrap().to_owned(),
        a.body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn check<S: FlowStore>(store: &S, authorization: Option<&str>) -> (Value, Verdict) {
    authorize(store, &authorizer_event(authorization), now()).await
}

pub async fn a_live_access_token_is_authorized_with_its_client_and_scope<S: FlowStore>() {
    let store = S::fresh().await;
    let (access, _) = issued(&store).await;
    for header in [
        format!("Bearer {access}"),
        access.clone(),
        format!("bearer {access}"),
    ] {
        let (response, verdict) = check(&store, Some(&header)).await;
        assert_eq!(verdict, Verdict::Allowed);
        assert_eq!(
            response,
            json!({"isAuthorized": true, "context": {"client_id": "app", "scope": "read write"}})
        );
    }
}

pub async fn a_refresh_token_is_not_authorized<S: FlowStore>() {
    let store = S::fresh().await;
    let (_, refresh) = issued(&store).await;
    let (response, verdict) = check(&store, Some(&format!("Bearer {refresh}"))).await;
    assert_eq!(response, json!({"isAuthorized": false}));
    assert_eq!(verdict, Verdict::NotAnAccessToken);
}

pub async fn an_expired_access_token_whose_item_remains_is_not_authorized<S: FlowStore>() {
    let store = S::fresh().await;
    let (access, _) = issued(&store).await;
    store
        .set_token_number(
            &token::hash(&access),
            TokenNumber::ExpiresAt,
            Some(now() - 1),
        )
        .await;
    let (response, verdict) = check(&store, Some(&format!("Bearer {access}"))).await;
    assert_eq!(response, json!({"isAuthorized": false}));
    assert_eq!(verdict, Verdict::Expired);
}

pub async fn a_revoked_access_token_is_not_authorized<S: FlowStore>() {
    let store = S::fresh().await;
    let (access, _) = issued(&store).await;
    store.revoke_token(&token::hash(&access)).await.unwrap();
    let (response, verdict) = check(&store, Some(&format!("Bearer {access}"))).await;
    assert_eq!(response, json!({"isAuthorized": false}));
    assert_eq!(verdict, Verdict::Revoked);
}

pub async fn malformed_missing_and_unknown_tokens_are_not_authorized<S: FlowStore>() {
    let store = S::fresh().await;
    issued(&store).await;
    for (header, expected) in [
        (Some("Basic YXBwOnNlY3JldA=="), Verdict::Malformed),
        (Some("Bearer"), Verdict::Malformed),
        (Some("Bearer two words"), Verdict::Malformed),
        (Some(""), Verdict::Malformed),
        (None, Verdict::NoToken),
        (
            Some("Bearer 0123456789abcdefghij0123456789ABCDEFGHIJ"),
            Verdict::Unknown,
        ),
    ] {
        let (response, verdict) = check(&store, header).await;
        assert_eq!(response, json!({"isAuthorized": false}), "{header:?}");
        assert_eq!(verdict, expected, "{header:?}");
    }
}

pub async fn whoami_answers_from_the_authorizers_context<S: FlowStore>() {
    let store = S::fresh().await;
    let (access, _) = issued(&store).await;
    let (response, _) = check(&store, Some(&format!("Bearer {access}"))).await;
    let rng = ring::rand::SystemRandom::new();
    let app = test_app(&store, &rng);
    let mut event = v2_event(
        "GET",
        "/whoami",
        &[("authorization", &format!("Bearer {access}"))],
        None,
        false,
    );
    event["requestContext"]["authorizer"] = json!({"lambda": response["context"]});
    let a = Answer::from_event(&app.handle_event(&event).await);
    assert_eq!(a.status, 200);
    a.assert_no_store();
    assert_eq!(a.body, json!({"client_id": "app", "scope": "read write"}));

    // Without an authorizer in front, the route refuses.
    let bare = v2_event("GET", "/whoami", &[], None, false);
    let a = Answer::from_event(&app.handle_event(&bare).await);
    assert_eq!(a.status, 401);
    assert_eq!(a.body["error"], "access_denied");
}
