//! Turns a request's raw parts (content type, Authorization headers, body bytes) into the
//! parameters of PROTOCOL §1–2. Parsing never fails: a parameter is absent, present, or
//! invalid, and the grant reports an invalid one at the step that reads it.

use super::error::OAuthError;
use base64::Engine;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;

/// Bodies larger than this (after base64 decoding) carry no parameters.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// One parameter as the body gave it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Param {
    /// Not sent, sent empty, or JSON `null`.
    #[default]
    Absent,
    Present(String),
    /// Sent more than once, or with a JSON type other than string or integer.
    Invalid,
}

impl Param {
    /// An optional parameter's value: `None` when absent, `invalid_request` naming it when
    /// invalid.
    pub fn optional(&self, name: &'static str) -> Result<Option<&str>, OAuthError> {
        match self {
            Param::Absent => Ok(None),
            Param::Present(v) => Ok(Some(v)),
            Param::Invalid => Err(OAuthError::InvalidRequest(name)),
        }
    }

    /// A required parameter's value, or `invalid_request` naming it.
    pub fn required(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.value().ok_or(OAuthError::InvalidRequest(name))
    }

    /// The value when present and valid.
    pub fn value(&self) -> Option<&str> {
        match self {
            Param::Present(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, Param::Absent)
    }
}

/// The body parameters the service reads; all others are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Params {
    pub grant_type: Param,
    pub client_id: Param,
    pub client_secret: Param,
    pub scope: Param,
    pub refresh_token: Param,
    pub token: Param,
    pub token_type_hint: Param,
}

/// Tracks occurrences separately from values, so that `a=&a=x` is a duplicate even though
/// an empty value counts as absent.
#[derive(Default)]
struct Collector {
    params: Params,
    seen: [bool; 7],
}

impl Collector {
    fn slot(&mut self, name: &str) -> Option<(&mut Param, &mut bool)> {
        let p = &mut self.params;
        let (param, i) = match name {
            "grant_type" => (&mut p.grant_type, 0),
            "client_id" => (&mut p.client_id, 1),
            "client_secret" => (&mut p.client_secret, 2),
            "scope" => (&mut p.scope, 3),
            "refresh_token" => (&mut p.refresh_token, 4),
            "token" => (&mut p.token, 5),
            "token_type_hint" => (&mut p.token_type_hint, 6),
            _ => return None,
        };
        Some((param, &mut self.seen[i]))
    }

    fn is_known(name: &str) -> bool {
        matches!(
            name,
            "grant_type"
                | "client_id"
                | "client_secret"
                | "scope"
                | "refresh_token"
                | "token"
                | "token_type_hint"
        )
    }

    fn add(&mut self, name: &str, value: Param) {
        if let Some((param, seen)) = self.slot(name) {
            // A second occurrence makes it invalid, whether either value was empty or not.
            *param = if *seen { Param::Invalid } else { value };
            *seen = true;
        }
    }
}

fn text(value: String) -> Param {
    if value.is_empty() {
        Param::Absent
    } else {
        Param::Present(value)
    }
}

/// The kinds of body the service understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Json,
    Form,
    Other,
}

fn body_kind(content_type: Option<&str>, body: &[u8]) -> BodyKind {
    let media = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match media.as_str() {
        "application/json" => BodyKind::Json,
        "application/x-www-form-urlencoded" => BodyKind::Form,
        "" => match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => BodyKind::Json,
            _ => BodyKind::Form,
        },
        _ => BodyKind::Other,
    }
}

/// Reads the body parameters (PROTOCOL §1.2–1.3). Unparseable, oversized or foreign bodies
/// give no parameters at all.
pub fn parse_params(content_type: Option<&str>, body: &[u8]) -> Params {
    if body.len() > MAX_BODY_BYTES {
        return Params::default();
    }
    match body_kind(content_type, body) {
        BodyKind::Json => parse_json(body).unwrap_or_default(),
        BodyKind::Form => parse_form(body),
        BodyKind::Other => Params::default(),
    }
}

fn parse_form(body: &[u8]) -> Params {
    let mut c = Collector::default();
    for (name, value) in form_urlencoded::parse(body) {
        if Collector::is_known(&name) {
            c.add(&name, text(value.into_owned()));
        }
    }
    c.params
}

fn parse_json(body: &[u8]) -> Option<Params> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let params = de.deserialize_map(JsonParams).ok()?;
    de.end().ok()?;
    Some(params)
}

/// Visits a JSON object key by key, so that duplicate keys are seen (a map type would keep
/// only the last) and unknown values are skipped without being built.
struct JsonParams;

impl<'de> Visitor<'de> for JsonParams {
    type Value = Params;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Params, A::Error> {
        let mut c = Collector::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if Collector::is_known(&key) {
                let value: &'de RawValue = map.next_value()?;
                c.add(&key, json_param(&key, value));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(c.params)
    }
}

/// One JSON value as a parameter (PROTOCOL §1.3): a string; for `client_id` also an
/// integer, read as the digits sent however many there are; `null` is absent; any other type, or a
/// string that is not Unicode (a lone surrogate escape), is invalid. The value is read raw,
/// so that no number is rounded or refused for its size and no nested value is built.
fn json_param(name: &str, value: &RawValue) -> Param {
    let raw = value.get().trim();
    if raw.starts_with('"') {
        serde_json::from_str::<String>(raw).map_or(Param::Invalid, text)
    } else if raw == "null" {
        Param::Absent
    } else if name == "client_id" && is_json_integer(raw) {
        Param::Present(raw.to_owned())
    } else {
        Param::Invalid
    }
}

/// A JSON number without fraction or exponent (already known to be valid JSON).
fn is_json_integer(raw: &str) -> bool {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Client credentials from an `Authorization: Basic` header (PROTOCOL §2.1–2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    /// The id and secret form-url-decoded, when that decoding gives valid UTF-8.
    pub decoded: Option<(String, String)>,
    /// The id and secret exactly as they stood in the header.
    pub raw: (String, String),
    /// The header's bytes were not UTF-8 and were read as ISO-8859-1 (see `decode_basic`).
    pub latin_1: bool,
}

impl BasicCredentials {
    /// The candidate (id, secret) pairs to try, decoded first, without repeats.
    pub fn candidates(&self) -> Vec<(&str, &str)> {
        let raw = (self.raw.0.as_str(), self.raw.1.as_str());
        match &self.decoded {
            Some((id, secret)) if (id.as_str(), secret.as_str()) != raw => {
                vec![(id.as_str(), secret.as_str()), raw]
            }
            _ => vec![raw],
        }
    }
}

/// What the Authorization header(s) say about client authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// No header, or only headers of another scheme (`Bearer ...`), which are ignored.
    None,
    Basic(BasicCredentials),
    /// A Basic header that cannot be read, or more than one: authentication has failed.
    Malformed,
}

/// Reads the Authorization header values of a request (all of them).
pub fn parse_authorization<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Authorization {
    let mut found = Authorization::None;
    for value in values {
        let Some(creds) = basic_value(value) else {
            continue;
        };
        if !matches!(found, Authorization::None) {
            return Authorization::Malformed;
        }
        found = creds.map_or(Authorization::Malformed, Authorization::Basic);
    }
    found
}

/// `None` when the value is of another scheme; `Some(None)` when it is Basic but unreadable.
fn basic_value(value: &[u8]) -> Option<Option<BasicCredentials>> {
    let value = value.trim_ascii();
    let scheme_end = value
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(value.len());
    if !value[..scheme_end].eq_ignore_ascii_case(b"basic") {
        return None;
    }
    Some(decode_basic(value[scheme_end..].trim_ascii()))
}

fn decode_basic(token: &[u8]) -> Option<BasicCredentials> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    let bytes = STANDARD
        .decode(token)
        .or_else(|_| STANDARD_NO_PAD.decode(token))
        .ok()?;
    // The decoded bytes are UTF-8 (PROTOCOL §2.2), but authlib and requests (so
    // requests-oauthlib) send Basic credentials as ISO-8859-1 without form-url-encoding
    // them, so a non-ASCII secret arrives as bytes that are not UTF-8: such a header is
    // read as ISO-8859-1, marked, and only ever authenticates on its own
    // (`Offered::from_request` fails it beside body credentials).
    // Client ids are ASCII, so only the secret may hold such bytes.
    let mut latin_1 = false;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            latin_1 = true;
            let bytes = e.into_bytes();
            let colon = bytes.iter().position(|&b| b == b':')?;
            if !bytes[..colon].is_ascii() {
                return None;
            }
            bytes.into_iter().map(char::from).collect()
        }
    };
    let (id, secret) = text.split_once(':')?;
    if id.is_empty() || secret.is_empty() {
        return None;
    }
    let decoded = match (form_decode(id), form_decode(secret)) {
        (Some(i), Some(s)) if !i.is_empty() && !s.is_empty() => Some((i, s)),
        _ => None,
    };
    Some(BasicCredentials {
        decoded,
        raw: (id.to_owned(), secret.to_owned()),
        latin_1,
    })
}

/// `application/x-www-form-urlencoded` decoding of one value; `None` if the result is not
/// UTF-8.
pub(crate) fn form_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}
