//! The whole token function on arbitrary Lambda events (API Gateway payload 1.0 and 2.0,
//! Function URLs), with the in-memory store: every event gets a documented answer, never a
//! panic and never a 5xx, and every answer carries the no-store headers (PROTOCOL §7.2).

#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use oauth_token_service::http::App;
use oauth_token_service::oauth::{IssuePolicy, Issuer, secret};
use oauth_token_service::store::memory::MemoryStore;
use oauth_token_service::store::{ClientRecord, GrantType};
use ring::rand::SystemRandom;
use serde_json::{Map, Value, json};
use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

const ID: &str = "42";
const SECRET: &str = "IZgwaBTZ2EdtT3hT7UzG2rLQ8S0Vmu9GDxeHwcPz";

#[derive(Arbitrary, Debug)]
enum Method {
    Post,
    Get,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Path {
    Token,
    Revoke,
    Introspect,
    Metadata,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum HeaderName {
    ContentType,
    Authorization,
    AuthorizationUpper,
    Host,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Body {
    /// Raw bytes, sent base64-encoded.
    Bytes(Vec<u8>),
    /// Text, sent as is or base64-encoded.
    Text(String, bool),
    /// A string claimed to be base64 that may not be.
    Claimed(String),
    /// A form built from parameters the service reads.
    Form(Vec<(u8, String)>, bool),
    /// A JSON object built from parameters the service reads.
    Json(Vec<(u8, JsonValue)>),
}

#[derive(Arbitrary, Debug)]
enum JsonValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    List(Vec<String>),
}

#[derive(Arbitrary, Debug)]
enum Input {
    /// A structured event.
    Event {
        v1: bool,
        multi: bool,
        method: Method,
        path: Path,
        headers: Vec<(HeaderName, String)>,
        /// Use the client's real credentials in Basic.
        basic: bool,
        body: Body,
    },
    /// Any JSON at all as the event.
    Raw(Vec<u8>),
}

const NAMES: [&str; 8] = [
    "grant_type",
    "client_id",
    "client_secret",
    "scope",
    "refresh_token",
    "token",
    "token_type_hint",
    "other",
];

fn name(i: u8) -> &'static str {
    NAMES[usize::from(i) % NAMES.len()]
}

fn value(v: &JsonValue) -> Value {
    match v {
        JsonValue::Str(s) => json!(s),
        JsonValue::Int(i) => json!(i),
        JsonValue::Float(f) => json!(f),
        JsonValue::Bool(b) => json!(b),
        JsonValue::Null => Value::Null,
        JsonValue::List(l) => json!(l),
    }
}

/// The body string and isBase64Encoded.
fn body(b: &Body) -> (String, bool) {
    match b {
        Body::Bytes(bytes) => (STANDARD.encode(bytes), true),
        Body::Text(t, b64) if *b64 => (STANDARD.encode(t), true),
        Body::Text(t, _) => (t.clone(), false),
        Body::Claimed(s) => (s.clone(), true),
        Body::Form(pairs, b64) => {
            let mut f = form_urlencoded::Serializer::new(String::new());
            for (k, v) in pairs {
                f.append_pair(name(*k), v);
            }
            let f = f.finish();
            if *b64 {
                (STANDARD.encode(f), true)
            } else {
                (f, false)
            }
        }
        Body::Json(pairs) => {
            // Written by hand so that duplicate keys survive.
            let fields: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}:{}", json!(name(*k)), value(v)))
                .collect();
            (format!("{{{}}}", fields.join(",")), false)
        }
    }
}

fn event(input: &Input) -> Option<Value> {
    let Input::Event {
        v1,
        multi,
        method,
        path,
        headers,
        basic,
        body: b,
    } = input
    else {
        return None;
    };
    let method = match method {
        Method::Post => "POST".to_owned(),
        Method::Get => "GET".to_owned(),
        Method::Other(m) => m.clone(),
    };
    let path = match path {
        Path::Token => "/oauth".to_owned(),
        Path::Revoke => "/oauth/revoke".to_owned(),
        Path::Introspect => "/oauth/introspect".to_owned(),
        Path::Metadata => "/.well-known/oauth-authorization-server".to_owned(),
        Path::Other(p) => p.clone(),
    };
    let mut pairs: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| {
            let n = match n {
                HeaderName::ContentType => "content-type".to_owned(),
                HeaderName::Authorization => "authorization".to_owned(),
                HeaderName::AuthorizationUpper => "Authorization".to_owned(),
                HeaderName::Host => "host".to_owned(),
                HeaderName::Other(s) => s.clone(),
            };
            (n, v.clone())
        })
        .collect();
    if *basic {
        pairs.push((
            "authorization".into(),
            format!("Basic {}", STANDARD.encode(format!("{ID}:{SECRET}"))),
        ));
    }
    let (body, b64) = body(b);
    let mut single = Map::new();
    let mut many: Map<String, Value> = Map::new();
    for (n, v) in &pairs {
        single.insert(n.clone(), json!(v));
        match many.get_mut(n).and_then(Value::as_array_mut) {
            Some(list) => list.push(json!(v)),
            None => {
                many.insert(n.clone(), json!([v]));
            }
        }
    }
    Some(if *v1 {
        let mut e = json!({
            "resource": path, "path": path, "httpMethod": method,
            "headers": single,
            "requestContext": {"requestId": "fuzz", "httpMethod": method, "path": path},
            "body": body, "isBase64Encoded": b64,
        });
        if *multi {
            e["multiValueHeaders"] = Value::Object(many);
        }
        e
    } else {
        json!({
            "version": "2.0", "rawPath": path, "rawQueryString": "",
            "headers": single,
            "requestContext": {"requestId": "fuzz", "http": {"method": method, "path": path}},
            "body": body, "isBase64Encoded": b64,
        })
    })
}

/// Polls a future that never waits (the in-memory store's) to completion.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn client() -> &'static ClientRecord {
    static CLIENT: OnceLock<ClientRecord> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let rng = SystemRandom::new();
        let mut c = ClientRecord::new(ID, "fuzz", secret::hash_generated(SECRET, &rng).unwrap(), 0);
        c.scopes = vec!["quotes:read".into(), "quotes:write".into()];
        c.grants = GrantType::ALL.to_vec();
        c
    })
}

fn check(answer: &Value) {
    let status = answer["statusCode"].as_u64().expect("statusCode");
    assert!(
        matches!(status, 200 | 400 | 401 | 404 | 405 | 501),
        "status {status}: {answer}"
    );
    let headers = answer["headers"].as_object().expect("headers");
    assert_eq!(headers["Cache-Control"], "no-store");
    assert_eq!(headers["Pragma"], "no-cache");
    assert_eq!(headers["Content-Type"], "application/json");
    let body: Value = serde_json::from_str(answer["body"].as_str().expect("body")).expect("JSON");
    if status != 200 {
        let o = body.as_object().expect("error object");
        assert_eq!(o.len(), 2, "{body}");
        assert!(o["error"].is_string() && o["error_description"].is_string());
    }
    if status == 401 {
        assert_eq!(headers["WWW-Authenticate"], "Basic realm=\"oauth\"");
    }
    if let Some(t) = body.get("access_token") {
        let t = t.as_str().expect("string token");
        assert!(t.len() == 40 && t.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}

fuzz_target!(|input: Input| {
    let event = match &input {
        Input::Raw(bytes) => match serde_json::from_slice::<Value>(bytes) {
            Ok(v) => v,
            Err(_) => return,
        },
        structured => match event(structured) {
            Some(e) => e,
            None => return,
        },
    };
    let store = MemoryStore::new();
    store.put_client(client().clone());
    let rng = SystemRandom::new();
    let policy = IssuePolicy::default();
    let app = App {
        issuer: Issuer {
            store: &store,
            policy: &policy,
            rng: &rng,
            clock: || 1_800_000_000_000,
            jwt: None,
            clients: None,
        },
        public_url: None,
    };
    check(&block_on(app.handle_event(&event)));
});
