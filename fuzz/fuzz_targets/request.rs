//! The request parser and the Basic decoder on arbitrary input: they never panic, and what
//! they return keeps the promises the grants rely on (PROTOCOL §1–2).

#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use oauth_token_service::oauth::request::MAX_BODY_BYTES;
use oauth_token_service::oauth::{Authorization, Param, Params, parse_authorization, parse_params};

/// Content types worth reaching often; `Other` lets the fuzzer invent its own.
#[derive(Arbitrary, Debug)]
enum ContentType {
    None,
    Json,
    JsonCharset,
    Form,
    FormCharsetUpper,
    TextPlain,
    Other(String),
}

impl ContentType {
    fn as_str(&self) -> Option<&str> {
        match self {
            ContentType::None => None,
            ContentType::Json => Some("application/json"),
            ContentType::JsonCharset => Some("application/json; charset=utf-8"),
            ContentType::Form => Some("application/x-www-form-urlencoded"),
            ContentType::FormCharsetUpper => {
                Some("APPLICATION/X-WWW-FORM-URLENCODED;charset=UTF-8")
            }
            ContentType::TextPlain => Some("text/plain"),
            ContentType::Other(s) => Some(s),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    content_type: ContentType,
    body: Vec<u8>,
    /// Raw Authorization header values.
    authorization: Vec<Vec<u8>>,
    /// An (id, secret) pair to encode as a client would and decode again.
    round_trip: (String, String),
}

fn check_params(p: &Params, body_len: usize) {
    if body_len > MAX_BODY_BYTES {
        assert_eq!(
            *p,
            Params::default(),
            "an oversized body carries no parameters"
        );
    }
    for param in [
        &p.grant_type,
        &p.client_id,
        &p.client_secret,
        &p.scope,
        &p.refresh_token,
        &p.token,
        &p.token_type_hint,
    ] {
        if let Param::Present(v) = param {
            assert!(!v.is_empty(), "an empty value counts as missing");
        }
    }
}

fn check_authorization(auth: &Authorization) {
    if let Authorization::Basic(c) = auth {
        let (id, secret) = &c.raw;
        assert!(!id.is_empty() && !secret.is_empty(), "empty id or secret");
        assert!(!id.contains(':'), "the id ends at the first colon");
        if let Some((i, s)) = &c.decoded {
            assert!(!i.is_empty() && !s.is_empty());
        }
        let candidates = c.candidates();
        assert!((1..=2).contains(&candidates.len()));
        if candidates.len() == 2 {
            assert_ne!(candidates[0], candidates[1], "no repeated candidate");
        }
    }
}

fuzz_target!(|input: Input| {
    let ct = input.content_type.as_str();
    let params = parse_params(ct, &input.body);
    check_params(&params, input.body.len());
    assert_eq!(params, parse_params(ct, &input.body), "deterministic");

    let auth = parse_authorization(input.authorization.iter().map(Vec::as_slice));
    check_authorization(&auth);
    let any_basic = input.authorization.iter().any(|v| {
        let v = v.trim_ascii();
        let end = v
            .iter()
            .position(|b| b.is_ascii_whitespace())
            .unwrap_or(v.len());
        v[..end].eq_ignore_ascii_case(b"basic")
    });
    if !any_basic {
        assert_eq!(auth, Authorization::None, "other schemes are ignored");
    }

    // RFC 6749 §2.3.1: a client form-url-encodes id and secret, then base64-encodes
    // "id:secret". Whatever they are, the decoded pair comes back unchanged.
    let (id, secret) = &input.round_trip;
    if !id.is_empty() && !secret.is_empty() {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let header = format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
        );
        match parse_authorization([header.as_bytes()]) {
            Authorization::Basic(c) => {
                assert_eq!(c.decoded, Some((id.clone(), secret.clone())), "{header}");
            }
            other => panic!("a well-formed Basic header read as {other:?}"),
        }
    }
});
