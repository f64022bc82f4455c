//! The one error type of the protocol: each variant knows its status, its error key and
//! its description, so the document's error table lives here and nowhere else. Only the
//! answers the service gives have a variant; PROTOCOL §7.1 lists the document's whole
//! table, including `unsupported_response_type`, `invalid_grant` and `invalid_credentials`,
//! which it never sends.

use std::fmt;

/// Every answer the token endpoint can give other than success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthError {
    /// A required parameter is missing, duplicated, wrongly typed or malformed.
    InvalidRequest(&'static str),
    UnauthorizedClient,
    /// `/whoami` reached without the authorizer's context.
    AccessDenied,
    /// A requested scope the client (or the refresh token) does not allow.
    InvalidScope(String),
    ServerError,
    TemporarilyUnavailable,
    /// The grant type as sent, already cut to [`GRANT_TYPE_ECHO_LIMIT`] characters.
    UnsupportedGrantType(String),
    InvalidClient,
    InvalidRefresh,
    /// A method other than the route's own (405, `Allow` names the right one).
    MethodNotAllowed(&'static str),
    /// No route at this path.
    NotFound,
    /// The client's hourly token quota is used up; the window frees in this many seconds.
    TooManyRequests(u64),
}

/// How much of an unsupported grant type is echoed back (PROTOCOL §3.2).
pub const GRANT_TYPE_ECHO_LIMIT: usize = 64;

const INVALID_REQUEST: &str = "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.";

impl OAuthError {
    /// An unsupported grant type, echoing at most 64 characters of what was sent.
    pub fn unsupported_grant_type(sent: &str) -> Self {
        OAuthError::UnsupportedGrantType(sent.chars().take(GRANT_TYPE_ECHO_LIMIT).collect())
    }

    /// The HTTP status of this answer.
    pub fn status(&self) -> u16 {
        use OAuthError::*;
        match self {
            InvalidRequest(_)
            | UnauthorizedClient
            | InvalidScope(_)
            | TemporarilyUnavailable
            | InvalidRefresh => 400,
            AccessDenied | InvalidClient => 401,
            NotFound => 404,
            MethodNotAllowed(_) => 405,
            TooManyRequests(_) => 429,
            ServerError => 500,
            UnsupportedGrantType(_) => 501,
        }
    }

    /// The `error` key of the body.
    pub fn key(&self) -> &'static str {
        use OAuthError::*;
        match self {
            InvalidRequest(_) | MethodNotAllowed(_) | NotFound => "invalid_request",
            UnauthorizedClient => "unauthorized_client",
            AccessDenied => "access_denied",
            InvalidScope(_) => "invalid_scope",
            ServerError => "server_error",
            TemporarilyUnavailable => "temporarily_unavailable",
            UnsupportedGrantType(_) => "unsupported_grant_type",
            InvalidClient => "invalid_client",
            InvalidRefresh => "invalid_refresh",
            TooManyRequests(_) => "too_many_requests",
        }
    }

    /// The `error_description` of the body: the document's text, `%s` filled.
    pub fn description(&self) -> String {
        use OAuthError::*;
        match self {
            InvalidRequest(param) => format!("{INVALID_REQUEST} Check the \"{param}\" parameter."),
            MethodNotAllowed(_) => format!("{INVALID_REQUEST} Check the \"method\" parameter."),
            NotFound => format!("{INVALID_REQUEST} Check the \"path\" parameter."),
            UnauthorizedClient => {
                "The client is not authorized to request an access token using this method.".into()
            }
            AccessDenied => "The resource owner or authorization server denied the request.".into(),
            InvalidScope(scope) => format!(
                "The requested scope is invalid, unknown, or malformed. Check the \"{scope}\" scope."
            ),
            ServerError => "The authorization server encountered an unexpected condition which prevented it from fulfilling the request.".into(),
            TemporarilyUnavailable => "The authorization server is currently unable to handle the request due to a temporary overloading or maintenance of the server.".into(),
            UnsupportedGrantType(grant) => format!(
                "The authorization grant type \"{grant}\" is not supported by the authorization server"
            ),
            InvalidClient => "Client authentication failed".into(),
            InvalidRefresh => "The refresh token is invalid.".into(),
            TooManyRequests(seconds) => format!(
                "Too many token requests for this client; retry after {seconds} seconds."
            ),
        }
    }

    /// Headers this answer needs beyond the ones every answer carries.
    pub fn extra_headers(&self) -> Vec<(&'static str, String)> {
        let header = |name, value: &str| vec![(name, value.to_owned())];
        match self {
            OAuthError::InvalidClient | OAuthError::AccessDenied => {
                header("WWW-Authenticate", "Basic realm=\"oauth\"")
            }
            OAuthError::TemporarilyUnavailable => header("Retry-After", "1"),
            OAuthError::TooManyRequests(seconds) => header("Retry-After", &seconds.to_string()),
            OAuthError::MethodNotAllowed("GET") => header("Allow", "GET"),
            OAuthError::MethodNotAllowed(_) => header("Allow", "POST"),
            _ => Vec::new(),
        }
    }

    /// The JSON body: `{"error": ..., "error_description": ...}`.
    pub fn body(&self) -> String {
        serde_json::json!({"error": self.key(), "error_description": self.description()})
            .to_string()
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl std::error::Error for OAuthError {}
