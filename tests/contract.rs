//! One test per rule of docs/PROTOCOL.md §1–5, §7 and §8, through the handler with real API
//! Gateway events and the in-memory store. (The same flows against DynamoDB are in
//! `dynamodb.rs`; the refresh grant of §6 is in `refresh.rs`.)

mod common;

use common::*;
use oauth_token_service::http::App;
use oauth_token_service::oauth::{IssuePolicy, Issuer, system_clock_ms, token};
use oauth_token_service::store::memory::MemoryStore;
use oauth_token_service::store::{ClientRecord, GrantType, TokenKind};
use ring::rand::SystemRandom;
use serde_json::{Value, json};

const ID: &str = "42";
const SECRET: &str = "IZgwaBTZ2EdtT3hT7UzG2rLQ8S0Vmu9GDxeHwcPz";

struct Service {
    store: MemoryStore,
    policy: IssuePolicy,
    rng: SystemRandom,
}

impl Service {
    fn new() -> Self {
        Self::with_client(client_with_secret(
            ID,
            SECRET,
            &["quotes:read", "quotes:write", "admin"],
        ))
    }

    fn with_client(client: ClientRecord) -> Self {
        let store = MemoryStore::new();
        store.put_client(client);
        Service {
            store,
            policy: TEST_POLICY,
            rng: SystemRandom::new(),
        }
    }

    async fn call(&self, event: Value) -> Answer {
        let app = App {
            issuer: Issuer {
                store: &self.store,
                policy: &self.policy,
                rng: &self.rng,
                clock: system_clock_ms,
                jwt: None,
                clients: None,
            },
            public_url: None,
        };
        Answer::from_event(&app.handle_event(&event).await)
    }

    async fn json(&self, body: Value) -> Answer {
        self.call(json_post(&body)).await
    }

    async fn form(&self, body: &str) -> Answer {
        self.call(form_post(body, &[])).await
    }
}

fn creds() -> Value {
    json!({"grant_type": "client_credentials", "client_id": ID, "client_secret": SECRET})
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

fn assert_issued(a: &Answer) {
    assert_eq!(a.status, 200, "{}", a.body);
    a.assert_no_store();
    let t = a.body["access_token"].as_str().expect("access_token");
    assert_eq!(t.len(), 40);
    assert!(t.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(a.body["token_type"], "bearer");
}

// §1 Request

#[tokio::test]
async fn json_body_as_in_the_document_gets_a_token() {
    let a = Service::new().json(creds()).await;
    assert_issued(&a);
    assert_eq!(a.body["expires_in"], 604_800);
}

#[tokio::test]
async fn form_body_gets_a_token() {
    let s = Service::new();
    let a = s
        .form(&format!(
            "grant_type=client_credentials&client_id={ID}&client_secret={SECRET}"
        ))
        .await;
    assert_issued(&a);
}

#[tokio::test]
async fn form_body_not_base64_encoded_gets_a_token() {
    let body = format!("grant_type=client_credentials&client_id={ID}&client_secret={SECRET}");
    let e = v2_event(
        "POST",
        "/oauth",
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(&body),
        false,
    );
    assert_issued(&Service::new().call(e).await);
}

#[tokio::test]
async fn content_type_parameters_are_accepted() {
    let s = Service::new();
    let body = format!("grant_type=client_credentials&client_id={ID}&client_secret={SECRET}");
    let e = v2_event(
        "POST",
        "/oauth",
        &[(
            "content-type",
            "application/x-www-form-urlencoded;charset=UTF-8",
        )],
        Some(&body),
        true,
    );
    assert_issued(&s.call(e).await);
    let e = v2_event(
        "POST",
        "/oauth",
        &[("content-type", "Application/JSON; charset=utf-8")],
        Some(&creds().to_string()),
        false,
    );
    assert_issued(&s.call(e).await);
}

#[tokio::test]
async fn without_content_type_a_brace_body_is_json_and_anything_else_a_form() {
    let s = Service::new();
    let e = v2_event(
        "POST",
        "/oauth",
        &[],
        Some(&format!("  \n{}", creds())),
        false,
    );
    assert_issued(&s.call(e).await);
    let body = format!("grant_type=client_credentials&client_id={ID}&client_secret={SECRET}");
    let e = v2_event("POST", "/oauth", &[], Some(&body), true);
    assert_issued(&s.call(e).await);
}

#[tokio::test]
async fn unparseable_body_reports_the_first_missing_parameter() {
    let s = Service::new();
    for body in [
        "{\"grant_type\":\"client_credentials\"",
        "{\"grant_type\":\"client_credentials\",}",
        "[1,2]",
        "\"client_credentials\"",
        "{\"grant_type\":\"client_credentials\"} trailing",
    ] {
        let e = v2_event(
            "POST",
            "/oauth",
            &[("content-type", "application/json")],
            Some(body),
            false,
        );
        s.call(e)
            .await
            .assert_error(400, "invalid_request", &invalid_request("grant_type"));
    }
}

#[tokio::test]
async fn the_documents_example_with_its_trailing_comma_is_not_json() {
    let doc = "{\n   \"grant_type\":\"client_credentials\",\n   \"client_id\":\"42\",\n   \"client_secret\":\"IZgwaBTZ2EdtT3hT7UzG2rLQ8S0Vmu9GDxeHwcPz\",\n}";
    let e = v2_event(
        "POST",
        "/oauth",
        &[("content-type", "application/json")],
        Some(doc),
        false,
    );
    Service::new().call(e).await.assert_error(
        400,
        "invalid_request",
        &invalid_request("grant_type"),
    );
}

#[tokio::test]
async fn other_content_types_carry_no_parameters() {
    let s = Service::new();
    let form = format!("grant_type=client_credentials&client_id={ID}&client_secret={SECRET}");
    for ct in [
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=x",
    ] {
        let e = v2_event(
            "POST",
            "/oauth",
            &[("content-type", ct)],
            Some(&form),
            false,
        );
        s.call(e)
            .await
            .assert_error(400, "invalid_request", &invalid_request("grant_type"));
    }
}

#[tokio::test]
async fn body_over_16_kib_after_base64_decoding_carries_no_parameters() {
    let s = Service::new();
    let base = format!("grant_type=client_credentials&client_id={ID}&client_secret={SECRET}&pad=");
    let exact = format!("{base}{}", "x".repeat(16 * 1024 - base.len()));
    assert_eq!(exact.len(), 16384);
    // Encoded, the 16 KiB body is over 21 KiB: the limit is on the decoded size.
    assert_issued(&s.form(&exact).await);
    let over = format!("{exact}x");
    s.form(&over)
        .await
        .assert_error(400, "invalid_request", &invalid_request("grant_type"));
}

#[tokio::test]
async fn unknown_parameters_are_ignored_even_when_repeated() {
    let s = Service::new();
    let a = s
        .form(&format!("grant_type=client_credentials&client_id={ID}&client_secret={SECRET}&redirect_uri=a&redirect_uri=b&foo="))
        .await;
    assert_issued(&a);
    let a = s
        .json(with(
            creds(),
            "extra",
            json!({"nested": [1, 2, {"deep": null}]}),
        ))
        .await;
    assert_issued(&a);
}

#[tokio::test]
async fn an_integer_client_id_reads_as_its_decimal_string() {
    let a = Service::new()
        .json(with(creds(), "client_id", json!(42)))
        .await;
    assert_issued(&a);
}

#[tokio::test]
async fn json_null_counts_as_missing() {
    let s = Service::new();
    s.json(with(creds(), "client_id", Value::Null))
        .await
        .assert_error(400, "invalid_request", &invalid_request("client_id"));
    assert_issued(&s.json(with(creds(), "scope", Value::Null)).await);
}

#[tokio::test]
async fn other_json_types_are_invalid_request_naming_the_parameter() {
    let s = Service::new();
    for (key, value) in [
        ("client_id", json!(true)),
        ("client_id", json!(42.5)),
        ("client_secret", json!([SECRET])),
        ("client_secret", json!({"v": SECRET})),
        ("grant_type", json!(["client_credentials"])),
        ("scope", json!(["quotes:read"])),
    ] {
        s.json(with(creds(), key, value)).await.assert_error(
            400,
            "invalid_request",
            &invalid_request(key),
        );
    }
}

#[tokio::test]
async fn an_empty_value_counts_as_missing() {
    let s = Service::new();
    s.form(&format!(
        "grant_type=&client_id={ID}&client_secret={SECRET}"
    ))
    .await
    .assert_error(400, "invalid_request", &invalid_request("grant_type"));
    s.json(with(creds(), "client_secret", json!("")))
        .await
        .assert_error(400, "invalid_request", &invalid_request("client_secret"));
    // An empty scope is no scope: the defaults are granted.
    assert_issued(
        &s.form(&format!(
            "grant_type=client_credentials&client_id={ID}&client_secret={SECRET}&scope="
        ))
        .await,
    );
}

#[tokio::test]
async fn a_parameter_given_twice_is_invalid_request_naming_it() {
    let s = Service::new();
    for (body, name) in [
        (
            format!(
                "grant_type=client_credentials&grant_type=client_credentials&client_id={ID}&client_secret={SECRET}"
            ),
            "grant_type",
        ),
        (
            format!(
                "grant_type=client_credentials&client_id={ID}&client_id={ID}&client_secret={SECRET}"
            ),
            "client_id",
        ),
        (
            format!(
                "grant_type=client_credentials&client_id={ID}&client_secret={SECRET}&client_secret="
            ),
            "client_secret",
        ),
        (
            format!(
                "grant_type=client_credentials&client_id={ID}&client_secret={SECRET}&scope=admin&scope=admin"
            ),
            "scope",
        ),
    ] {
        s.form(&body)
            .await
            .assert_error(400, "invalid_request", &invalid_request(name));
    }
    let dup = format!(
        "{{\"grant_type\":\"client_credentials\",\"client_id\":\"{ID}\",\"client_id\":\"{ID}\",\"client_secret\":\"{SECRET}\"}}"
    );
    let e = v2_event(
        "POST",
        "/oauth",
        &[("content-type", "application/json")],
        Some(&dup),
        false,
    );
    s.call(e)
        .await
        .assert_error(400, "invalid_request", &invalid_request("client_id"));
}

#[tokio::test]
async fn a_bad_parameter_is_reported_at_the_step_that_reads_it() {
    let s = Service::new();
    // A duplicated scope (step 7) loses to a missing grant type (step 1) ...
    s.form(&format!(
        "client_id={ID}&client_secret={SECRET}&scope=a&scope=b"
    ))
    .await
    .assert_error(400, "invalid_request", &invalid_request("grant_type"));
    // ... and to a failed authentication (step 4).
    s.form(&format!(
        "grant_type=client_credentials&client_id={ID}&client_secret=wrong&scope=a&scope=b"
    ))
    .await
    .assert_error(401, "invalid_client", INVALID_CLIENT);
}

#[tokio::test]
async fn the_query_string_is_never_read() {
    let mut e = v2_event(
        "POST",
        "/oauth",
        &[("content-type", "application/x-www-form-urlencoded")],
        None,
        false,
    );
    e["rawQueryString"] = json!(format!(
        "grant_type=client_credentials&client_id={ID}&client_secret={SECRET}"
    ));
    e["queryStringParameters"] =
        json!({"grant_type": "client_credentials", "client_id": ID, "client_secret": SECRET});
    Service::new().call(e).await.assert_error(
        400,
        "invalid_request",
        &invalid_request("grant_type"),
    );
}

#[tokio::test]
async fn a_rest_api_payload_1_event_works() {
    let body = format!("grant_type=client_credentials&client_id={ID}&client_secret={SECRET}");
    use base64::Engine;
    let e = json!({
        "resource": "/oauth", "path": "/oauth", "httpMethod": "POST",
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        "multiValueHeaders": {"Content-Type": ["application/x-www-form-urlencoded"]},
        "queryStringParameters": null, "pathParameters": null, "stageVariables": null,
        "requestContext": {"requestId": "r1", "stage": "prod", "httpMethod": "POST", "path": "/prod/oauth"},
        "body": base64::engine::general_purpose::STANDARD.encode(body), "isBase64Encoded": true
    });
    assert_issued(&Service::new().call(e).await);
}

#[tokio::test]
async fn invalid_base64_body_carries_no_parameters() {
    let mut e = form_post("x", &[]);
    e["body"] = json!("%%% not base64 %%%");
    Service::new().call(e).await.assert_error(
        400,
        "invalid_request",
        &invalid_request("grant_type"),
    );
}

// §2 Client authentication

#[tokio::test]
async fn client_secret_basic_gets_a_token() {
    let s = Service::new();
    let a = s
        .call(form_post(
            "grant_type=client_credentials",
            &[("authorization", &basic(ID, SECRET))],
        ))
        .await;
    assert_issued(&a);
}

#[tokio::test]
async fn basic_credentials_are_form_url_decoded() {
    let secret = "p+ss:w%rd ü/=";
    let s = Service::with_client(client_with_secret("legacy.client", secret, &[]));
    let a = s
        .call(form_post(
            "grant_type=client_credentials",
            &[("authorization", &basic("legacy.client", secret))],
        ))
        .await;
    assert_issued(&a);
}

#[tokio::test]
async fn basic_falls_back_to_the_raw_value_when_decoding_fails_authentication() {
    let secret = "a+b%41c";
    let s = Service::with_client(client_with_secret("raw-client", secret, &[]));
    use base64::Engine;
    // Sent without form-url-encoding: decoded, it would read "a bAc".
    let header = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("raw-client:{secret}"))
    );
    assert_issued(
        &s.call(form_post(
            "grant_type=client_credentials",
            &[("authorization", &header)],
        ))
        .await,
    );
}

#[tokio::test]
async fn basic_that_cannot_be_read_is_invalid_client_whatever_the_body_holds() {
    use base64::Engine;
    let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
    let s = Service::new();
    let body = format!("grant_type=client_credentials&client_id={ID}&client_secret={SECRET}");
    for header in [
        "Basic !!!notbase64".to_string(),
        format!("Basic {}", b64(b"\xff\xfe:\xfd")),
        format!("Basic {}", b64(b"no-colon-here")),
        format!("Basic {}", b64(format!(":{SECRET}").as_bytes())),
        format!("Basic {}", b64(format!("{ID}:").as_bytes())),
        "Basic".to_string(),
    ] {
        s.call(form_post(&body, &[("authorization", &header)]))
            .await
            .assert_error(401, "invalid_client", INVALID_CLIENT);
    }
}

#[tokio::test]
async fn another_authorization_scheme_is_ignored() {
    let s = Service::new();
    let body = format!("grant_type=client_credentials&client_id={ID}&client_secret={SECRET}");
    assert_issued(
        &s.call(form_post(&body, &[("authorization", "Bearer abc")]))
            .await,
    );
}

#[tokio::test]
async fn repeated_headers_joined_by_payload_2_are_read_one_by_one() {
    let s = Service::new();
    let basic = basic(ID, SECRET);
    // HTTP API payload 2.0 joins a repeated header's values with commas.
    for joined in [
        format!("Bearer abc,{basic}"),
        format!("{basic}, Bearer abc"),
    ] {
        assert_issued(
            &s.call(form_post(
                "grant_type=client_credentials",
                &[("authorization", &joined)],
            ))
            .await,
        );
    }
    // Two Basic headers fail authentication, joined or not.
    s.call(form_post(
        &format!("grant_type=client_credentials&client_id={ID}&client_secret={SECRET}"),
        &[("authorization", &format!("{basic},{basic}"))],
    ))
    .await
    .assert_error(401, "invalid_client", INVALID_CLIENT);
    // The first Content-Type counts.
    let mut e = json_post(&creds());
    e["headers"]["content-type"] = json!("application/json,text/plain");
    assert_issued(&s.call(e).await);
    let mut e = json_post(&creds());
    e["headers"]["content-type"] = json!("text/plain, application/json");
    s.call(e)
        .await
        .assert_error(400, "invalid_request", &invalid_request("grant_type"));
}

#[tokio::test]
async fn basic_with_a_body_secret_is_invalid_request_for_client_secret() {
    let s = Service::new();
    s.call(form_post(
        &format!("grant_type=client_credentials&client_secret={SECRET}"),
        &[("authorization", &basic(ID, SECRET))],
    ))
    .await
    .assert_error(400, "invalid_request", &invalid_request("client_secret"));
}

#[tokio::test]
async fn a_body_client_id_beside_basic_must_name_the_same_client() {
    let s = Service::new();
    let auth = basic(ID, SECRET);
    assert_issued(
        &s.call(form_post(
            &format!("grant_type=client_credentials&client_id={ID}"),
            &[("authorization", &auth)],
        ))
        .await,
    );
    s.call(form_post(
        "grant_type=client_credentials&client_id=43",
        &[("authorization", &auth)],
    ))
    .await
    .assert_error(400, "invalid_request", &invalid_request("client_id"));
}

#[tokio::test]
async fn unknown_client_wrong_secret_and_disabled_client_get_the_same_401() {
    let mut disabled = client_with_secret("off", SECRET, &[]);
    disabled.disabled = true;
    let s = Service::new();
    s.store.put_client(disabled);
    for (id, secret) in [
        ("nobody", SECRET),
        (ID, "wrong"),
        ("off", SECRET),
        ("bad id!", SECRET),
    ] {
        s.json(
            json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret}),
        )
        .await
        .assert_error(401, "invalid_client", INVALID_CLIENT);
    }
    assert!(s.store.tokens().is_empty());
}

#[tokio::test]
async fn a_grant_not_listed_for_the_client_is_unauthorized_client() {
    let mut c = client_with_secret(ID, SECRET, &[]);
    c.grants = vec![GrantType::RefreshToken];
    Service::with_client(c).json(creds()).await.assert_error(
        400,
        "unauthorized_client",
        UNAUTHORIZED_CLIENT,
    );
}

// §3 Order of checks

#[tokio::test]
async fn missing_grant_type_comes_first() {
    Service::new()
        .json(json!({"client_id": "nobody"}))
        .await
        .assert_error(400, "invalid_request", &invalid_request("grant_type"));
}

#[tokio::test]
async fn an_unsupported_grant_type_is_501_with_the_value_cut_to_64_characters() {
    let s = Service::new();
    s.json(json!({"grant_type": "password"}))
        .await
        .assert_error(
            501,
            "unsupported_grant_type",
            &unsupported_grant_type("password"),
        );
    let long = "é".repeat(100);
    s.json(json!({"grant_type": long})).await.assert_error(
        501,
        "unsupported_grant_type",
        &unsupported_grant_type(&"é".repeat(64)),
    );
}

#[tokio::test]
async fn client_id_is_checked_before_client_secret() {
    let s = Service::new();
    s.json(json!({"grant_type": "client_credentials"}))
        .await
        .assert_error(400, "invalid_request", &invalid_request("client_id"));
    s.json(json!({"grant_type": "client_credentials", "client_id": ID}))
        .await
        .assert_error(400, "invalid_request", &invalid_request("client_secret"));
}

#[tokio::test]
async fn authentication_comes_before_grant_permission_and_scope() {
    let mut c = client_with_secret(ID, SECRET, &[]);
    c.grants = vec![GrantType::RefreshToken];
    let s = Service::with_client(c);
    s.json(with(
        with(creds(), "client_secret", json!("wrong")),
        "scope",
        json!("nope"),
    ))
    .await
    .assert_error(401, "invalid_client", INVALID_CLIENT);
    s.json(with(creds(), "scope", json!("nope")))
        .await
        .assert_error(400, "unauthorized_client", UNAUTHORIZED_CLIENT);
}

#[tokio::test]
async fn refresh_grant_without_refresh_token_is_invalid_request_after_authentication() {
    let s = Service::new();
    s.json(json!({"grant_type": "refresh_token", "client_id": ID, "client_secret": "wrong"}))
        .await
        .assert_error(401, "invalid_client", INVALID_CLIENT);
    s.json(json!({"grant_type": "refresh_token", "client_id": ID, "client_secret": SECRET}))
        .await
        .assert_error(400, "invalid_request", &invalid_request("refresh_token"));
    s.json(json!({"grant_type": "refresh_token", "client_id": ID, "client_secret": SECRET, "refresh_token": "unknown"}))
        .await
        .assert_error(400, "invalid_refresh", INVALID_REFRESH);
}

// §4 Scopes

#[tokio::test]
async fn scopes_split_on_spaces_and_commas_and_come_back_space_separated() {
    let a = Service::new()
        .json(with(
            creds(),
            "scope",
            json!("quotes:read,quotes:write admin"),
        ))
        .await;
    assert_issued(&a);
    assert_eq!(a.body["scope"], "quotes:read quotes:write admin");
}

#[tokio::test]
async fn the_first_scope_not_allowed_is_named() {
    Service::new()
        .json(with(
            creds(),
            "scope",
            json!("quotes:read delete:all,other"),
        ))
        .await
        .assert_error(400, "invalid_scope", &invalid_scope("delete:all"));
}

#[tokio::test]
async fn no_scope_requested_gives_the_default_scopes_or_else_all_allowed() {
    let a = Service::new().json(creds()).await;
    assert_eq!(a.body["scope"], "quotes:read quotes:write admin");
    let mut c = client_with_secret(ID, SECRET, &["quotes:read", "admin"]);
    c.default_scopes = vec!["quotes:read".into()];
    let a = Service::with_client(c).json(creds()).await;
    assert_eq!(a.body["scope"], "quotes:read");
}

#[tokio::test]
async fn no_scope_key_when_nothing_is_granted() {
    let a = Service::with_client(client_with_secret(ID, SECRET, &[]))
        .json(creds())
        .await;
    assert_issued(&a);
    assert!(a.body.get("scope").is_none(), "{}", a.body);
}

// §5 Success

#[tokio::test]
async fn success_has_the_documented_shape_and_headers() {
    let before = now();
    let a = Service::new().json(creds()).await;
    let after = now();
    assert_issued(&a);
    let keys: Vec<&str> = a
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for k in [
        "access_token",
        "token_type",
        "expires",
        "expires_in",
        "refresh_token",
    ] {
        assert!(keys.contains(&k), "{k} in {keys:?}");
    }
    let expires = a.body["expires"].as_u64().unwrap();
    assert!((before + 604_800..=after + 604_800).contains(&expires));
    let refresh = a.body["refresh_token"].as_str().unwrap();
    assert_eq!(refresh.len(), 40);
    assert!(refresh.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_ne!(refresh, a.body["access_token"].as_str().unwrap());
}

#[tokio::test]
async fn the_refresh_token_can_be_turned_off() {
    let mut s = Service::new();
    s.policy.issue_refresh_tokens = false;
    let a = s.json(creds()).await;
    assert_issued(&a);
    assert!(a.body.get("refresh_token").is_none());
    assert_eq!(s.store.tokens().len(), 1);
}

#[tokio::test]
async fn lifetimes_follow_the_deployment_and_can_be_overridden_per_client() {
    let mut s = Service::new();
    s.policy.access_ttl = 3600;
    s.policy.refresh_ttl = 7200;
    let a = s.json(creds()).await;
    assert_eq!(a.body["expires_in"], 3600);
    let refresh = s
        .store
        .tokens()
        .into_iter()
        .find(|t| t.kind == TokenKind::Refresh)
        .unwrap();
    assert_eq!(refresh.expires_at - refresh.issued_at, 7200);

    let mut c = client_with_secret(ID, SECRET, &[]);
    c.access_ttl = Some(60);
    let a = Service::with_client(c).json(creds()).await;
    assert_eq!(a.body["expires_in"], 60);
}

// §7 Errors

#[tokio::test]
async fn a_method_other_than_post_is_405_with_allow_post() {
    let s = Service::new();
    for m in ["GET", "PUT", "DELETE"] {
        let a = s.call(v2_event(m, "/oauth", &[], None, false)).await;
        a.assert_error(405, "invalid_request", &invalid_request("method"));
        assert_eq!(a.header("Allow"), Some("POST"));
    }
}

#[tokio::test]
async fn every_error_names_the_document_status() {
    let s = Service::new();
    // 400, 401 and 501 come from the document's table; each carries no-store.
    s.json(json!({}))
        .await
        .assert_error(400, "invalid_request", &invalid_request("grant_type"));
    s.json(with(creds(), "client_secret", json!("x")))
        .await
        .assert_error(401, "invalid_client", INVALID_CLIENT);
    s.json(json!({"grant_type": "implicit"}))
        .await
        .assert_error(
            501,
            "unsupported_grant_type",
            &unsupported_grant_type("implicit"),
        );
}

// §8 Storage

#[tokio::test]
async fn tokens_are_stored_under_their_sha256_only() {
    let s = Service::new();
    let a = s.json(creds()).await;
    let access = a.body["access_token"].as_str().unwrap();
    let refresh = a.body["refresh_token"].as_str().unwrap();
    let stored = s.store.tokens();
    assert_eq!(stored.len(), 2);
    let dump = format!("{stored:?}");
    assert!(!dump.contains(access) && !dump.contains(refresh));
    let at = stored
        .iter()
        .find(|t| t.token_hash == token::hash(access))
        .expect("access stored");
    assert_eq!(at.kind, TokenKind::Access);
    assert_eq!(at.client_id, ID);
    assert_eq!(at.expires_at, a.body["expires"].as_u64().unwrap());
    let rt = stored
        .iter()
        .find(|t| t.token_hash == token::hash(refresh))
        .expect("refresh stored");
    assert_eq!(rt.family, at.family);
}

#[tokio::test]
async fn failed_requests_store_nothing() {
    let s = Service::new();
    s.json(with(creds(), "client_secret", json!("wrong"))).await;
    s.json(with(creds(), "scope", json!("nope"))).await;
    s.json(json!({"grant_type": "password"})).await;
    assert!(s.store.tokens().is_empty());
}

#[tokio::test]
async fn an_integer_is_accepted_for_client_id_only() {
    let s = Service::new();
    s.json(with(creds(), "grant_type", json!(5)))
        .await
        .assert_error(400, "invalid_request", &invalid_request("grant_type"));
    s.json(with(creds(), "client_secret", json!(12345)))
        .await
        .assert_error(400, "invalid_request", &invalid_request("client_secret"));
}

#[tokio::test]
async fn a_latin_1_basic_header_authenticates_only_on_its_own() {
    // authlib and requests send Basic credentials as ISO-8859-1 without URL-encoding them,
    // so a non-ASCII secret arrives as bytes that are not UTF-8. Such a header is read as
    // ISO-8859-1 when it is the only credential; beside any body credential it is a failed
    // authentication, whatever the body holds (PROTOCOL §2.2).
    let secret = "caf\u{e9} secret";
    let s = Service::with_client(client_with_secret("latin", secret, &[]));
    use base64::Engine;
    let b64 = |raw: &[u8]| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    };
    let mut latin_1 = b"latin:caf".to_vec();
    latin_1.push(0xE9);
    latin_1.extend_from_slice(b" secret");
    let latin_1 = b64(&latin_1);
    assert_issued(
        &s.call(form_post(
            "grant_type=client_credentials",
            &[("authorization", &latin_1)],
        ))
        .await,
    );
    for body in [
        "grant_type=client_credentials&client_id=latin",
        "grant_type=client_credentials&client_secret=caf%C3%A9+secret",
        "grant_type=client_credentials&client_id=latin&client_secret=caf%C3%A9+secret",
        "grant_type=client_credentials&client_id=other",
    ] {
        let a = s
            .call(form_post(body, &[("authorization", &latin_1)]))
            .await;
        a.assert_error(401, "invalid_client", "Client authentication failed");
        assert_eq!(
            a.header("www-authenticate"),
            Some("Basic realm=\"oauth\""),
            "{body}"
        );
    }
    // Not UTF-8 and a wrong secret, or an id that is not ASCII: 401.
    for raw in [&b"latin:caf\xe9"[..], b"lat\xefn:caf\xe9 secret"] {
        s.call(form_post(
            "grant_type=client_credentials",
            &[("authorization", &b64(raw))],
        ))
        .await
        .assert_error(401, "invalid_client", "Client authentication failed");
    }
    // The same secret as UTF-8, raw or form-url-encoded first (RFC 6749 §2.3.1).
    for header in [
        b64("latin:caf\u{e9} secret".as_bytes()),
        b64(b"latin:caf%C3%A9+secret"),
    ] {
        assert_issued(
            &s.call(form_post(
                "grant_type=client_credentials",
                &[("authorization", &header)],
            ))
            .await,
        );
    }
    assert_eq!(
        s.store.tokens().len(),
        6,
        "three issuances of two tokens, no more"
    );
}

#[tokio::test]
async fn payload_2_answers_carry_a_cookies_list_and_payload_1_answers_do_not() {
    let s = Service::new();
    let app = App {
        issuer: Issuer {
            store: &s.store,
            policy: &s.policy,
            rng: &s.rng,
            clock: system_clock_ms,
            jwt: None,
            clients: None,
        },
        public_url: None,
    };
    let v2 = app.handle_event(&json_post(&creds())).await;
    assert_eq!(v2["cookies"], json!([]));
    let v1 = json!({"httpMethod": "POST", "path": "/oauth", "headers": {"content-type": "application/json"},
        "body": creds().to_string(), "isBase64Encoded": false, "requestContext": {"requestId": "r"}});
    let v1 = app.handle_event(&v1).await;
    assert_eq!(v1["statusCode"], 200);
    assert!(v1.get("cookies").is_none());
}

#[tokio::test]
async fn a_refresh_asks_only_for_scopes_the_client_is_still_allowed() {
    // §4: each requested scope must be among the client's allowed scopes, and on the
    // refresh grant within the refresh token's scope too.
    let s = Service::new();
    let first = s
        .json(with(creds(), "scope", json!("quotes:read quotes:write")))
        .await;
    assert_issued(&first);
    // An operator takes quotes:write away from the client.
    s.store
        .put_client(client_with_secret(ID, SECRET, &["quotes:read", "admin"]));
    let refresh = |token: &str, scope: Option<&str>| {
        let mut body = json!({"grant_type": "refresh_token", "client_id": ID,
            "client_secret": SECRET, "refresh_token": token});
        if let Some(scope) = scope {
            body["scope"] = json!(scope);
        }
        body
    };
    let token = first.body["refresh_token"].as_str().unwrap();
    let before = s.store.tokens().len();
    s.json(refresh(token, Some("quotes:read quotes:write")))
        .await
        .assert_error(400, "invalid_scope", &invalid_scope("quotes:write"));
    // Allowed now, but never part of this grant.
    s.json(refresh(token, Some("admin"))).await.assert_error(
        400,
        "invalid_scope",
        &invalid_scope("admin"),
    );
    assert_eq!(
        s.store.tokens().len(),
        before,
        "a refused refresh writes nothing"
    );
    let narrowed = s.json(refresh(token, Some("quotes:read"))).await;
    assert_issued(&narrowed);
    assert_eq!(narrowed.body["scope"], "quotes:read");
}

#[tokio::test]
async fn rest_api_metadata_keeps_the_stage_and_an_empty_multi_value_map_defers_to_headers() {
    let s = Service::new();
    // Payload 1.0 from a REST API stage: `path` has no stage, requestContext.path does.
    let e = json!({
        "resource": "/.well-known/oauth-authorization-server",
        "path": "/.well-known/oauth-authorization-server", "httpMethod": "GET",
        "headers": {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "X-Forwarded-Proto": "https"},
        "multiValueHeaders": {"Host": ["abc123.execute-api.us-east-1.amazonaws.com"], "X-Forwarded-Proto": ["https"]},
        "requestContext": {"requestId": "r1", "stage": "prod", "httpMethod": "GET",
            "path": "/prod/.well-known/oauth-authorization-server"},
        "body": null, "isBase64Encoded": false
    });
    let a = s.call(e).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let issuer = "https://abc123.execute-api.us-east-1.amazonaws.com/prod";
    assert_eq!(a.body["issuer"], issuer);
    assert_eq!(a.body["token_endpoint"], format!("{issuer}/oauth"));

    // An empty multiValueHeaders map (sent by some proxies) leaves `headers` in charge.
    let body = format!("grant_type=client_credentials&client_id={ID}&client_secret={SECRET}");
    let e = json!({
        "path": "/oauth", "httpMethod": "POST",
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        "multiValueHeaders": {},
        "requestContext": {"requestId": "r2", "httpMethod": "POST", "path": "/prod/oauth"},
        "body": body, "isBase64Encoded": false
    });
    assert_issued(&s.call(e).await);
}

#[tokio::test]
async fn metadata_lists_the_refresh_grant_only_when_refresh_tokens_are_issued() {
    let mut s = Service::new();
    let get = || {
        v2_event(
            "GET",
            "/.well-known/oauth-authorization-server",
            &[],
            None,
            false,
        )
    };
    assert_eq!(
        s.call(get()).await.body["grant_types_supported"],
        json!(["client_credentials", "refresh_token"])
    );
    s.policy.issue_refresh_tokens = false;
    assert_eq!(
        s.call(get()).await.body["grant_types_supported"],
        json!(["client_credentials"])
    );
}
