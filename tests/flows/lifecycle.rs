//! Revocation (RFC 7009), introspection (RFC 7662) and metadata (RFC 8414), PROTOCOL §9.

use super::{FlowStore, TokenNumber};
use crate::common::*;
use oauth_token_service::http::App;
use oauth_token_service::oauth::{Issuer, token};
use serde_json::{Value, json};

struct Fixture<S> {
    store: S,
    secret: String,
}

impl<S: FlowStore> Fixture<S> {
    async fn new() -> Self {
        let secret = new_secret();
        let store = S::fresh().await;
        for id in ["app", "other", "api"] {
            let mut c = client_with_secret(id, &secret, &["read"]);
            c.resource_server = id == "api";
            store.seed_client(&c, true).await;
        }
        Fixture { store, secret }
    }

    async fn call_with(&self, event: Value, public_url: Option<&str>) -> Answer {
        let rng = ring::rand::SystemRandom::new();
        let app = App {
            issuer: Issuer {
                store: &self.store,
                policy: &TEST_POLICY,
                rng: &rng,
                clock: test_clock_ms,
                jwt: Some(test_jwt_keys()),
                clients: None,
            },
            public_url,
        };
        Answer::from_event(&app.handle_event(&event).await)
    }

    async fn post(&self, path: &str, client: &str, body: &str) -> Answer {
        let e = v2_event(
            "POST",
            path,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", &basic(client, &self.secret)),
            ],
            Some(body),
            true,
        );
        self.call_with(e, None).await
    }

    async fn issue(&self, client: &str) -> (String, String) {
        let a = self
            .post("/oauth", client, "grant_type=client_credentials")
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        (
            a.body["access_token"].as_str().unwrap().to_owned(),
            a.body["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    async fn introspect(&self, client: &str, token: &str) -> Answer {
        let a = self
            .post("/oauth/introspect", client, &format!("token={token}"))
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.assert_no_store();
        a
    }

    async fn active(&self, client: &str, token: &str) -> bool {
        self.introspect(client, token).await.body["active"]
            .as_bool()
            .unwrap()
    }

    async fn revoke(&self, client: &str, token: &str) -> Answer {
        self.post("/oauth/revoke", client, &format!("token={token}"))
            .await
    }
}

pub async fn introspection_of_a_live_access_token_gives_its_facts<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let (access, refresh) = f.issue("app").await;
    let a = f.introspect("app", &access).await;
    assert_eq!(a.body["active"], true);
    assert_eq!(a.body["client_id"], "app");
    assert_eq!(a.body["scope"], "read");
    assert_eq!(a.body["token_type"], "bearer");
    let exp = a.body["exp"].as_u64().unwrap();
    let iat = a.body["iat"].as_u64().unwrap();
    assert_eq!(exp - iat, TEST_POLICY.access_ttl);
    let r = f.introspect("app", &refresh).await;
    assert_eq!(r.body["token_type"], "refresh_token");
}

pub async fn introspection_is_inactive_for_unknown_and_other_clients_tokens<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let (access, _) = f.issue("app").await;
    let a = f.introspect("other", &access).await;
    assert_eq!(a.body, json!({"active": false}));
    let a = f.introspect("app", "no-such-token").await;
    assert_eq!(a.body, json!({"active": false}));
}

pub async fn a_resource_server_may_introspect_every_clients_tokens<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let (access, _) = f.issue("app").await;
    let a = f.introspect("api", &access).await;
    assert_eq!(a.body["active"], true);
    assert_eq!(a.body["client_id"], "app");
}

pub async fn an_expired_token_whose_item_remains_is_inactive<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let (access, _) = f.issue("app").await;
    f.store
        .set_token_number(
            &token::hash(&access),
            TokenNumber::ExpiresAt,
            Some(now() - 1),
        )
        .await;
    assert!(!f.active("app", &access).await);
}

pub async fn revoking_an_access_token_makes_it_inactive_and_leaves_the_refresh_token<
    S: FlowStore,
>() {
    let f = Fixture::<S>::new().await;
    let (access, refresh) = f.issue("app").await;
    let a = f.revoke("app", &access).await;
    assert_eq!(a.status, 200);
    a.assert_no_store();
    assert!(!f.active("app", &access).await);
    assert!(f.active("app", &refresh).await);
}

pub async fn revoking_a_refresh_token_revokes_its_family<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let (access, refresh) = f.issue("app").await;
    assert_eq!(f.revoke("app", &refresh).await.status, 200);
    assert!(!f.active("app", &refresh).await);
    assert!(!f.active("app", &access).await);
    let a = f
        .post(
            "/oauth",
            "app",
            &format!("grant_type=refresh_token&refresh_token={refresh}"),
        )
        .await;
    a.assert_error(400, "invalid_refresh", INVALID_REFRESH);
}

pub async fn revoking_unknown_or_other_clients_tokens_answers_200_and_changes_nothing<
    S: FlowStore,
>() {
    let f = Fixture::<S>::new().await;
    let (access, _) = f.issue("app").await;
    assert_eq!(f.revoke("other", &access).await.status, 200);
    assert!(f.active("app", &access).await);
    assert_eq!(f.revoke("app", "no-such-token").await.status, 200);
}

pub async fn revoke_and_introspect_authenticate_the_client_and_need_a_token<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    for path in ["/oauth/revoke", "/oauth/introspect"] {
        let wrong = v2_event(
            "POST",
            path,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", &basic("app", "wrong")),
            ],
            Some("token=x"),
            true,
        );
        f.call_with(wrong, None)
            .await
            .assert_error(401, "invalid_client", INVALID_CLIENT);
        f.post(path, "app", "").await.assert_error(
            400,
            "invalid_request",
            &invalid_request("token"),
        );
        f.post(path, "app", "token=a&token=b").await.assert_error(
            400,
            "invalid_request",
            &invalid_request("token"),
        );
        let get = v2_event("GET", path, &[], None, false);
        let a = f.call_with(get, None).await;
        a.assert_error(405, "invalid_request", &invalid_request("method"));
        assert_eq!(a.header("Allow"), Some("POST"));
    }
}

pub async fn metadata_describes_the_service_as_it_is<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let e = v2_event(
        "GET",
        "/.well-known/oauth-authorization-server",
        &[],
        None,
        false,
    );
    let a = f.call_with(e.clone(), None).await;
    assert_eq!(a.status, 200);
    a.assert_no_store();
    let issuer = "https://abc123.execute-api.us-east-1.amazonaws.com";
    assert_eq!(a.body["issuer"], issuer);
    assert_eq!(a.body["token_endpoint"], format!("{issuer}/oauth"));
    assert_eq!(
        a.body["revocation_endpoint"],
        format!("{issuer}/oauth/revoke")
    );
    assert_eq!(
        a.body["introspection_endpoint"],
        format!("{issuer}/oauth/introspect")
    );
    assert_eq!(
        a.body["grant_types_supported"],
        json!(["client_credentials", "refresh_token"])
    );
    assert_eq!(
        a.body["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(a.body["response_types_supported"], json!([]));

    let configured = f.call_with(e, Some("https://auth.example.com")).await;
    assert_eq!(
        configured.body["token_endpoint"],
        "https://auth.example.com/oauth"
    );

    let post = v2_event(
        "POST",
        "/.well-known/oauth-authorization-server",
        &[],
        None,
        false,
    );
    let a = f.call_with(post, None).await;
    a.assert_error(405, "invalid_request", &invalid_request("method"));
    assert_eq!(a.header("Allow"), Some("GET"));
}

pub async fn unknown_paths_answer_404_in_json_with_no_store<S: FlowStore>() {
    let f = Fixture::<S>::new().await;
    let a = f
        .call_with(v2_event("POST", "/nothing-here", &[], None, false), None)
        .await;
    a.assert_error(404, "invalid_request", &invalid_request("path"));
}
