//! Authorization server metadata (RFC 8414), describing the service as it really is.

use serde_json::{Value, json};

/// The metadata document for an issuer URL (no trailing slash). `refresh_tokens`: whether
/// the service hands out refresh tokens (without them the refresh grant cannot be used).
pub fn document(issuer: &str, refresh_tokens: bool) -> Value {
    let methods = ["client_secret_basic", "client_secret_post"];
    let grants: &[&str] = if refresh_tokens {
        &["client_credentials", "refresh_token"]
    } else {
        &["client_credentials"]
    };
    json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/oauth"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "grant_types_supported": grants,
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_methods_supported": methods,
    })
}

/// The OpenID-style discovery document API Gateway's JWT authorizer reads
/// (`/.well-known/openid-configuration`): the metadata above, whose `jwks_uri` names the
/// keys, and what the tokens are signed with.
pub fn openid_configuration(issuer: &str, refresh_tokens: bool) -> Value {
    let mut doc = document(issuer, refresh_tokens);
    doc["subject_types_supported"] = json!(["public"]);
    doc["id_token_signing_alg_values_supported"] = json!(["RS256"]);
    doc
}
