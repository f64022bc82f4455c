//! Authorization server metadata (RFC 8414), describing the service as it really is.

use serde_json::{Value, json};

/// The metadata document for an issuer URL (no trailing slash).
pub fn document(issuer: &str) -> Value {
    let methods = ["client_secret_basic", "client_secret_post"];
    json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/oauth"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "grant_types_supported": ["client_credentials", "refresh_token"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_methods_supported": methods,
    })
}
