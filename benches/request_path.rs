//! The token function's request path without DynamoDB: an invocation's bytes in, the
//! response's bytes out, with the in-memory store. Per issuance: parse the event, read the
//! parameters and credentials, authenticate (a generated secret's HMAC-SHA256), draw and
//! hash the tokens, store them, serialize the answer. `bench/run.sh` reports the medians
//! against the target in BENCHMARKS.md (50 µs per issuance).
//!
//! - `issue/*`: client_credentials with a JSON body, a form body, and a form body with
//!   Basic credentials (as API Gateway delivers forms: base64-encoded);
//! - `refresh/form_basic`: a refresh_token grant, each use presenting the token the last
//!   one returned;
//! - `issue/form_basic_logged`: as `issue/form_basic`, with the function's JSON log line
//!   written to /dev/null, to show what logging costs;
//! - `stage/*`: the steps of one issuance on their own.
//!
//! The memory store keeps every token issued; it is replaced every `CHUNK` iterations,
//! outside the timed region, so that it stays small (the function itself holds no tokens)
//! and a growing map's cache misses do not creep into the figures.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use criterion::{Criterion, criterion_group, criterion_main};
use oauth_token_service::http::{App, HttpRequest, HttpResponse};
use oauth_token_service::keys::{JwtKeys, Keyring, NotSealed, SigningKey};
use oauth_token_service::oauth::TokenFormat;
use oauth_token_service::oauth::jwt::PublicKey;
use oauth_token_service::oauth::{
    IssuePolicy, IssuedTokens, Issuer, parse_authorization, parse_params, secret, token,
};
use oauth_token_service::store::memory::MemoryStore;
use oauth_token_service::store::{ClientRecord, GrantType, PutKeyring};
use ring::rand::SystemRandom;
use ring::signature::RsaKeyPair;
use serde_json::{Value, json};
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

const ID: &str = "bench-client";
const SECRET: &str = "Bk3nch5ecretBk3nch5ecretBk3nch5ecret0042";
/// Iterations between two fresh stores.
const CHUNK: u64 = 1_000;

/// Runs a future that never waits on anything: the memory store only yields once per
/// operation (its stand-in for a round trip) and is ready when polled again, so no runtime
/// is needed and none is measured.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn clock() -> u64 {
    oauth_token_service::oauth::system_clock_ms()
}

fn client(rng: &SystemRandom) -> ClientRecord {
    let hash = secret::hash_generated(SECRET, rng).expect("hash");
    let mut c = ClientRecord::new(ID, "bench", hash, 0);
    c.grants = GrantType::ALL.to_vec();
    c.scopes = vec!["quotes:read".into(), "quotes:write".into()];
    c
}

fn store(rng: &SystemRandom) -> MemoryStore {
    let s = MemoryStore::new();
    s.put_client(client(rng));
    s
}

/// An API Gateway HTTP API (payload 2.0) POST /oauth, as the Runtime API hands it over.
fn event(content_type: &str, body: &str, base64: bool, basic: bool) -> Vec<u8> {
    let mut headers = json!({
        "host": "abc123.execute-api.us-east-1.amazonaws.com",
        "user-agent": "bench",
        "content-type": content_type,
    });
    if basic {
        headers["authorization"] = json!(format!("Basic {}", B64.encode(format!("{ID}:{SECRET}"))));
    }
    let body = if base64 {
        B64.encode(body)
    } else {
        body.to_owned()
    };
    serde_json::to_vec(&json!({
        "version": "2.0",
        "routeKey": "POST /oauth",
        "rawPath": "/oauth",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "http": {"method": "POST", "path": "/oauth", "protocol": "HTTP/1.1",
                     "sourceIp": "192.0.2.1", "userAgent": "bench"},
            "requestId": "bench-request",
            "routeKey": "POST /oauth",
            "stage": "$default",
            "timeEpoch": 1_795_813_200_000u64
        },
        "body": body,
        "isBase64Encoded": base64,
    }))
    .expect("event")
}

fn json_event() -> Vec<u8> {
    let body =
        json!({"grant_type": "client_credentials", "client_id": ID, "client_secret": SECRET});
    event("application/json", &body.to_string(), false, false)
}

fn form_event() -> Vec<u8> {
    let body = format!("grant_type=client_credentials&client_id={ID}&client_secret={SECRET}");
    event("application/x-www-form-urlencoded", &body, true, false)
}

fn form_basic_event() -> Vec<u8> {
    event(
        "application/x-www-form-urlencoded;charset=UTF-8",
        "grant_type=client_credentials",
        true,
        true,
    )
}

fn refresh_event(refresh_token: &str) -> Vec<u8> {
    let body = format!("grant_type=refresh_token&refresh_token={refresh_token}");
    event("application/x-www-form-urlencoded", &body, true, true)
}

/// One invocation as the function serves it: bytes to `Value` (as lambda_runtime
/// deserializes the payload), the handler, `Value` to bytes (the response it posts).
fn invoke(app: &App<'_, MemoryStore>, payload: &[u8]) -> Vec<u8> {
    let event: Value = serde_json::from_slice(payload).expect("event JSON");
    let answer = now(app.handle_event(&event));
    serde_json::to_vec(&answer).expect("answer JSON")
}

/// As [`invoke`], on a runtime with a timer: a refresh waits for the answer time it records
/// (about 100 ms, PROTOCOL §6.3), which the timed figure therefore includes.
fn invoke_on(rt: &tokio::runtime::Runtime, app: &App<'_, MemoryStore>, payload: &[u8]) -> Vec<u8> {
    let event: Value = serde_json::from_slice(payload).expect("event JSON");
    let answer = rt.block_on(app.handle_event(&event));
    serde_json::to_vec(&answer).expect("answer JSON")
}

fn status_of(answer: &[u8]) -> (u64, Value) {
    let v: Value = serde_json::from_slice(answer).expect("answer");
    let body = serde_json::from_str(v["body"].as_str().unwrap_or("null")).expect("body");
    (v["statusCode"].as_u64().unwrap_or(0), body)
}

/// The test signing key (`tests/data`), stored unsealed: no key service here.
fn keyring() -> Keyring {
    let der = B64
        .decode(include_str!("../tests/data/test-signing-key.pkcs8.b64").trim())
        .expect("test key");
    let pair = RsaKeyPair::from_pkcs8(&der).expect("test key");
    Keyring {
        version: 1,
        keys: vec![SigningKey {
            public: PublicKey::of("bench", &pair),
            created_at: 0,
            active_from: 0,
            kms_key_id: "not-sealed".into(),
            sealed_private: der,
        }],
    }
}

/// Issues with `payload` repeatedly, a fresh store every `CHUNK` iterations; with `jwt`
/// the client's access tokens are JWTs (the key unsealed once, as in a warm function).
fn bench_issue(c: &mut Criterion, name: &str, payload: &[u8], jwt: bool) {
    let rng = SystemRandom::new();
    let mut policy = IssuePolicy::default();
    let keys = JwtKeys::new(Some(Box::new(NotSealed)));
    let store = |rng: &SystemRandom| {
        let s = store(rng);
        if jwt {
            now(s.put_keyring(None, &keyring())).expect("keyring");
        }
        s
    };
    let keys = jwt.then_some(&keys);
    if jwt {
        policy.default_format = TokenFormat::Jwt;
    }
    {
        let s = store(&rng);
        let mut app = app(&s, &policy, &rng);
        app.issuer.jwt = keys;
        let (status, body) = status_of(&invoke(&app, payload));
        assert_eq!(status, 200, "{name}: {body}");
    }
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(CHUNK);
                let s = store(&rng);
                let mut app = app(&s, &policy, &rng);
                app.issuer.jwt = keys;
                let start = Instant::now();
                for _ in 0..n {
                    black_box(invoke(&app, black_box(payload)));
                }
                total += start.elapsed();
                left -= n;
            }
            total
        })
    });
}

fn app<'a>(
    store: &'a MemoryStore,
    policy: &'a IssuePolicy,
    rng: &'a SystemRandom,
) -> App<'a, MemoryStore> {
    App {
        issuer: Issuer {
            store,
            policy,
            rng,
            clock,
            jwt: None,
            clients: None,
        },
        public_url: None,
    }
}

fn issue(c: &mut Criterion) {
    bench_issue(c, "issue/json", &json_event(), false);
    bench_issue(c, "issue/form", &form_event(), false);
    bench_issue(c, "issue/form_basic", &form_basic_event(), false);
    bench_issue(c, "issue/form_basic_jwt", &form_basic_event(), true);
}

/// As `issue/form_basic`, with the function's log subscriber (src/logging.rs's settings)
/// writing each request's line to /dev/null: a write(2) per request, as to Lambda's pipe.
fn issue_logged(c: &mut Criterion) {
    let null = Arc::new(std::fs::File::create("/dev/null").expect("/dev/null"));
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(true)
        .without_time()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(null)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        bench_issue(c, "issue/form_basic_logged", &form_basic_event(), false);
    });
}

/// Each use presents the refresh token the previous one returned; only the invocation is
/// timed, not building its event.
fn refresh(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let policy = IssuePolicy::default();
    let first_refresh = |app: &App<'_, MemoryStore>| {
        let (status, body) = status_of(&invoke(app, &form_basic_event()));
        assert_eq!(status, 200, "{body}");
        body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_owned()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    c.bench_function("refresh/form_basic", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(CHUNK);
                let s = store(&rng);
                let app = app(&s, &policy, &rng);
                let mut refresh_token = first_refresh(&app);
                for _ in 0..n {
                    let payload = refresh_event(&refresh_token);
                    let start = Instant::now();
                    let answer = invoke_on(&rt, &app, black_box(&payload));
                    total += start.elapsed();
                    let (status, body) = status_of(&answer);
                    assert_eq!(status, 200, "{body}");
                    refresh_token = body["refresh_token"].as_str().expect("token").to_owned();
                }
                left -= n;
            }
            total
        })
    });
}

/// The steps of one form + Basic issuance, each on its own.
fn stages(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let payload = form_basic_event();
    let stored_hash = client(&rng).secret_hashes[0].clone();

    c.bench_function("stage/event_from_bytes", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&payload)).expect("event"))
    });
    let event: Value = serde_json::from_slice(&payload).expect("event");
    c.bench_function("stage/parse_request", |b| {
        b.iter(|| {
            let request = HttpRequest::from_event(black_box(&event));
            let params = parse_params(request.content_type.as_deref(), &request.body);
            let auth = parse_authorization(request.authorization.iter().map(Vec::as_slice));
            black_box((params, auth));
        })
    });
    c.bench_function("stage/verify_secret", |b| {
        b.iter(|| assert!(secret::verify(black_box(SECRET), black_box(&stored_hash))))
    });
    c.bench_function("stage/draw_and_hash_tokens", |b| {
        // A family id, an access and a refresh token; the two tokens hashed for storage.
        b.iter(|| {
            let family = token::generate(&rng).expect("rng");
            let access = token::generate(&rng).expect("rng");
            let refresh = token::generate(&rng).expect("rng");
            black_box((family, token::hash(&access), token::hash(&refresh)));
        })
    });
    let issued = IssuedTokens {
        access_token: token::generate(&rng).expect("rng"),
        token_type: "bearer",
        expires: 1_796_418_000,
        expires_in: 604_800,
        refresh_token: Some(token::generate(&rng).expect("rng")),
        scope: Some("quotes:read quotes:write".into()),
    };
    c.bench_function("stage/serialize_answer", |b| {
        b.iter(|| {
            let body = serde_json::to_string(black_box(&issued)).expect("body");
            serde_json::to_vec(&HttpResponse::json(200, body).to_event(true)).expect("answer")
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = issue, refresh, issue_logged, stages
}
criterion_main!(benches);
