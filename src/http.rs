//! The HTTP edge: an API Gateway (REST payload 1.0, HTTP payload 2.0) or Function URL event
//! in, a proxy response out. It reads events itself rather than through `lambda_http`'s
//! request conversion, which panics on a body whose `isBase64Encoded` lies and fails the
//! invocation on shapes it does not know: here every event gets a documented answer.

use crate::metrics;
use crate::oauth::request::MAX_BODY_BYTES;
use crate::oauth::{Call, Issuer, OAuthError, metadata, parse_authorization, parse_params};
use crate::store::GrantStore;
use base64::Engine;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// The parts of an HTTP request the service reads. The query string is never among them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    /// Every Authorization header value, in order.
    pub authorization: Vec<Vec<u8>>,
    /// The body after base64 decoding; empty when it could not be decoded.
    pub body: Vec<u8>,
    pub request_id: String,
    /// `scheme://host` as the caller reached the service.
    pub base_url: String,
    /// What an authorizer passed on: the Lambda authorizer's context
    /// (`requestContext.authorizer.lambda`) or the JWT authorizer's verified claims
    /// (`requestContext.authorizer.jwt.claims`), if any.
    pub authorizer: Option<Value>,
    /// When the answer must be sent (epoch ms), if the invocation has a deadline.
    pub deadline_ms: Option<u64>,
    /// Payload 2.0 (HTTP APIs, Function URLs), whose answers carry a `cookies` list.
    pub payload_v2: bool,
}

/// An answer: status, headers beyond the common ones, JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// Public documents (keys, discovery) that caches may keep for a while, instead of
    /// `no-store`.
    pub cacheable: bool,
}

/// How long caches may keep the public documents (keys, discovery), in seconds.
pub const PUBLIC_MAX_AGE: &str = "public, max-age=300";

/// Carried by every answer, errors included (RFC 6749 §5.1).
pub const COMMON_HEADERS: [(&str, &str); 3] = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
];

impl HttpResponse {
    pub fn json(status: u16, body: String) -> Self {
        HttpResponse {
            status,
            headers: Vec::new(),
            body,
            cacheable: false,
        }
    }

    pub fn error(e: &OAuthError) -> Self {
        HttpResponse {
            status: e.status(),
            headers: e.extra_headers(),
            body: e.body(),
            cacheable: false,
        }
    }

    /// The proxy-integration response object, understood by REST and HTTP APIs and
    /// Function URLs alike. Payload 2.0's carries a `cookies` list, which `cargo lambda
    /// watch` requires; a REST API (1.0) rejects a response carrying it (502).
    pub fn to_event(&self, payload_v2: bool) -> Value {
        let mut headers = Map::new();
        for (k, v) in COMMON_HEADERS {
            headers.insert(k.to_owned(), Value::String(v.to_owned()));
        }
        for (k, v) in &self.headers {
            headers.insert((*k).to_owned(), Value::String(v.clone()));
        }
        if self.cacheable {
            headers.remove("Pragma");
            headers.insert("Cache-Control".into(), Value::String(PUBLIC_MAX_AGE.into()));
        }
        let mut event = json!({
            "statusCode": self.status,
            "headers": headers,
            "body": self.body,
            "isBase64Encoded": false,
        });
        if payload_v2 {
            event["cookies"] = json!([]);
        }
        event
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

impl HttpRequest {
    /// Reads a proxy event. Anything missing reads as empty, so that a strange event still
    /// gets an answer rather than a failed invocation.
    pub fn from_event(event: &Value) -> Self {
        // Methods are case-sensitive (RFC 9110 §9.1): `post` is not POST.
        let method = str_at(event, &["requestContext", "http", "method"])
            .or_else(|| str_at(event, &["httpMethod"]))
            .unwrap_or_default()
            .to_owned();
        // Payload 1.0's `path` leaves out the stage (`/prod`) that the client's URL has;
        // `requestContext.path` keeps it, and the metadata's URLs need it.
        let path = str_at(event, &["rawPath"])
            .or_else(|| str_at(event, &["requestContext", "path"]).filter(|p| p.starts_with('/')))
            .or_else(|| str_at(event, &["path"]))
            .unwrap_or("/")
            .to_owned();
        let request_id = str_at(event, &["requestContext", "requestId"])
            .unwrap_or_default()
            .to_owned();

        // Payload 1.0 repeats headers in multiValueHeaders; 2.0 joins repeats with commas,
        // so each value is split at its commas (no media type, Basic credential or token
        // holds one): the first Content-Type counts, and every Authorization is read.
        let mut content_type = None;
        let mut authorization = Vec::new();
        let multi = event.get("multiValueHeaders").and_then(Value::as_object);
        let single = event.get("headers").and_then(Value::as_object);
        // An empty multiValueHeaders (some proxies and emulators send one) defers to headers.
        let headers = multi.filter(|m| !m.is_empty()).or(single);
        for (name, value) in headers.into_iter().flatten() {
            let values: Vec<&str> = match value {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            let mut split = values.iter().flat_map(|v| v.split(','));
            if name.eq_ignore_ascii_case("content-type") {
                content_type = split.next().map(|s| s.trim().to_owned());
            } else if name.eq_ignore_ascii_case("authorization") {
                authorization.extend(split.map(|s| s.as_bytes().to_vec()));
            }
        }

        let raw = str_at(event, &["body"]).unwrap_or_default();
        let body = if event.get("isBase64Encoded") == Some(&Value::Bool(true)) {
            decode_body(raw)
        } else {
            raw.as_bytes().to_vec()
        };
        HttpRequest {
            method,
            path,
            content_type,
            authorization,
            body,
            request_id,
            base_url: base_url(event),
            authorizer: event
                .pointer("/requestContext/authorizer/lambda")
                .or_else(|| event.pointer("/requestContext/authorizer/jwt/claims"))
                .filter(|v| v.is_object())
                .cloned(),
            deadline_ms: None,
            payload_v2: str_at(event, &["version"]) == Some("2.0"),
        }
    }
}

/// `scheme://host` from the event: API Gateway's domain name, else the Host header; http
/// only for a loopback host or when a proxy says so.
fn base_url(event: &Value) -> String {
    let header = |name: &str| {
        event
            .get("headers")
            .and_then(Value::as_object)
            .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .and_then(|(_, v)| v.as_str())
    };
    let host = header("host")
        .or_else(|| str_at(event, &["requestContext", "domainName"]))
        .unwrap_or("localhost");
    let local = host.starts_with("127.0.0.1") || host.starts_with("localhost");
    let scheme = match header("x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("http") => "http",
        Some(_) => "https",
        None if local => "http",
        None => "https",
    };
    format!("{scheme}://{host}")
}

/// Decodes a base64 body. One that cannot be decoded reads as no body, and one that would
/// decode past the limit is not decoded at all: both carry no parameters.
fn decode_body(raw: &str) -> Vec<u8> {
    if raw.len() / 4 * 3 > MAX_BODY_BYTES + 3 {
        return vec![0; MAX_BODY_BYTES + 1];
    }
    base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .unwrap_or_default()
}

/// The routes the function serves, matched on the path's end so that a prefix (an API
/// stage such as `/prod`, or a local server's `/lambda-url/token`) does not matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Token,
    Revoke,
    Introspect,
    Metadata,
    /// The published signing keys (JWKS).
    Jwks,
    /// Discovery for JWT verifiers such as API Gateway's JWT authorizer.
    OpenIdConfiguration,
    /// Protected by an authorizer: echoes what it passed on.
    WhoAmI,
    NotFound,
}

impl Route {
    const PATHS: [(&'static str, Route); 7] = [
        ("/oauth", Route::Token),
        ("/oauth/revoke", Route::Revoke),
        ("/oauth/introspect", Route::Introspect),
        ("/.well-known/oauth-authorization-server", Route::Metadata),
        ("/.well-known/jwks.json", Route::Jwks),
        (
            "/.well-known/openid-configuration",
            Route::OpenIdConfiguration,
        ),
        ("/whoami", Route::WhoAmI),
    ];

    /// The route at `path`, and the prefix before it.
    pub fn of(path: &str) -> (Route, &str) {
        let path = path.trim_end_matches('/');
        Self::PATHS
            .iter()
            .find_map(|(suffix, route)| path.strip_suffix(suffix).map(|prefix| (*route, prefix)))
            .unwrap_or((Route::NotFound, ""))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Route::Token => "token",
            Route::Revoke => "revoke",
            Route::Introspect => "introspect",
            Route::Metadata => "metadata",
            Route::Jwks => "jwks",
            Route::OpenIdConfiguration => "openid_configuration",
            Route::WhoAmI => "whoami",
            Route::NotFound => "not_found",
        }
    }

    /// Public documents that caches may keep (PROTOCOL §10.2).
    fn is_public_document(self) -> bool {
        matches!(self, Route::Jwks | Route::OpenIdConfiguration)
    }

    /// The one method the route answers.
    fn method(self) -> &'static str {
        match self {
            Route::Metadata | Route::Jwks | Route::OpenIdConfiguration | Route::WhoAmI => "GET",
            _ => "POST",
        }
    }
}

/// The token function: routes a request and answers it, logging one line.
pub struct App<'a, S> {
    pub issuer: Issuer<'a, S>,
    /// The issuer URL the metadata names; the request's own base URL when `None`.
    pub public_url: Option<&'a str>,
}

impl<S: GrantStore> App<'_, S> {
    /// Answers one Lambda event with one proxy response.
    pub async fn handle_event(&self, event: &Value) -> Value {
        self.handle_event_within(event, None).await
    }

    /// As [`handle_event`](Self::handle_event), answering `temporarily_unavailable` when the
    /// request is not done within `budget`: the function must answer before its own timeout,
    /// which API Gateway would turn into an undocumented 5xx (PROTOCOL §7.3). Each DynamoDB
    /// operation has its own timeout; this bounds a request that makes many (revoking a
    /// large family, say).
    pub async fn handle_event_within(&self, event: &Value, budget: Option<Duration>) -> Value {
        let mut request = HttpRequest::from_event(event);
        request.deadline_ms =
            budget.map(|b| (self.issuer.clock)().saturating_add(b.as_millis() as u64));
        // Boxed: the whole request's state lives on the heap, not on the caller's stack
        // (tests poll many requests side by side on one thread).
        let (response, recorded) =
            metrics::recording(Box::pin(self.answer_within(&request, budget))).await;
        // One metrics line per request (PROTOCOL §11.2); a request cut short by its budget
        // recorded no outcome and is counted as what it answered.
        let recorded = metrics::Recorder {
            outcome: recorded
                .outcome
                .or(Some(OAuthError::TemporarilyUnavailable.key())),
            ..recorded
        };
        metrics::emit(&metrics::request_line(
            &recorded,
            Route::of(&request.path).0.as_str(),
            &request.request_id,
            crate::oauth::system_clock_ms(),
        ));
        response.to_event(request.payload_v2)
    }

    async fn answer_within(&self, request: &HttpRequest, budget: Option<Duration>) -> HttpResponse {
        match budget {
            None => self.handle(request).await,
            Some(budget) => match tokio::time::timeout(budget, self.handle(request)).await {
                Ok(response) => response,
                Err(_) => {
                    tracing::warn!(
                        request_id = %request.request_id,
                        budget_ms = budget.as_millis() as u64,
                        status = 400,
                        outcome = OAuthError::TemporarilyUnavailable.key(),
                        "request ran out of time"
                    );
                    HttpResponse::error(&OAuthError::TemporarilyUnavailable)
                }
            },
        }
    }

    pub async fn handle(&self, request: &HttpRequest) -> HttpResponse {
        let started = Instant::now();
        let (route, prefix) = Route::of(&request.path);
        // Every line logged while the request is handled (a storage failure's detail, a
        // refresh token's reuse, this request's own line) carries its request id, and the
        // grant and client id once the protocol has read them (PROTOCOL §8.4).
        let span = tracing::info_span!(
            "request",
            request_id = %request.request_id,
            client_id = "",
            grant = "",
        );
        let result = if route == Route::NotFound {
            Err(OAuthError::NotFound)
        } else if request.method != route.method() {
            Err(OAuthError::MethodNotAllowed(route.method()))
        } else {
            self.route(route, prefix, request)
                .instrument(span.clone())
                .await
        };
        let response = match &result {
            Ok(body) => {
                let mut ok = HttpResponse::json(200, body.clone());
                ok.cacheable = route.is_public_document();
                ok
            }
            Err(e) => HttpResponse::error(e),
        };
        let outcome = result.as_ref().err().map_or("ok", |e| e.key());
        metrics::outcome(outcome);
        span.in_scope(|| {
            tracing::info!(
                request_id = %request.request_id,
                route = route.as_str(),
                status = response.status,
                outcome,
                latency_ms = started.elapsed().as_secs_f64() * 1000.0,
                "request"
            )
        });
        response
    }

    async fn route(
        &self,
        route: Route,
        prefix: &str,
        request: &HttpRequest,
    ) -> Result<String, OAuthError> {
        let params = parse_params(request.content_type.as_deref(), &request.body);
        let auth = parse_authorization(request.authorization.iter().map(Vec::as_slice));
        let base = match self.public_url {
            Some(url) => url.to_owned(),
            None => format!("{}{prefix}", request.base_url),
        };
        let call = Call {
            deadline_ms: request.deadline_ms,
            issuer_url: &base,
        };
        let refresh_tokens = self.issuer.policy.issue_refresh_tokens;
        let body = match route {
            Route::Token => to_json(&self.issuer.token(&params, &auth, call).await?),
            Route::Revoke => {
                self.issuer.revoke(&params, &auth).await?;
                Ok("{}".to_owned())
            }
            Route::Introspect => to_json(&self.issuer.introspect(&params, &auth).await?),
            Route::Metadata => to_json(&metadata::document(&base, refresh_tokens)),
            Route::OpenIdConfiguration => {
                to_json(&metadata::openid_configuration(&base, refresh_tokens))
            }
            Route::Jwks => to_json(&self.issuer.jwks().await?),
            Route::WhoAmI => match &request.authorizer {
                Some(ctx) => to_json(&json!({
                    "client_id": ctx.get("client_id"),
                    "scope": ctx.get("scope"),
                })),
                None => Err(OAuthError::AccessDenied),
            },
            Route::NotFound => Err(OAuthError::NotFound),
        }?;
        Ok(body)
    }
}

fn to_json(value: &impl serde::Serialize) -> Result<String, OAuthError> {
    serde_json::to_string(value).map_err(|_| OAuthError::ServerError)
}
