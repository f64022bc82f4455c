//! The OAuth 2 protocol, pure: parameters in, tokens or a documented error out. Nothing
//! here knows Lambda or DynamoDB.

pub mod client_auth;
pub mod client_cache;
pub mod error;
pub mod grant;
pub mod jwt;
pub mod lifecycle;
pub mod metadata;
pub mod model;
pub mod request;
pub mod scope;
pub mod secret;
pub mod token;

pub use client_cache::ClientCache;
pub use error::OAuthError;
pub use grant::{Call, IssuePolicy, IssuedTokens, Issuer, system_clock_ms};
pub use lifecycle::Introspection;
pub use model::{
    ClientRecord, FamilyRecord, FamilyToken, GrantType, TokenFormat, TokenKind, TokenRecord,
    is_valid_client_id,
};
pub use request::{Authorization, Param, Params, parse_authorization, parse_params};
