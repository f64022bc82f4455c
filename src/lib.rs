//! An OAuth 2 token service for AWS Lambda and DynamoDB: the `POST /oauth` endpoint of the
//! Teen Quotes API (client_credentials and refresh_token grants).
//!
//! - [`oauth`]: the protocol, pure: parsing, the grants, tokens, secrets, scopes, errors.
//! - [`store`]: what the protocol needs from storage, in DynamoDB and in memory.
//! - [`http`]: Lambda proxy events in, proxy responses out.
//! - [`config`] and [`aws`]: start-up.

pub mod admin;
pub mod authorizer;
pub mod aws;
pub mod config;
pub mod http;
pub mod keys;
pub mod kms;
pub mod logging;
pub mod metrics;
pub mod oauth;
pub mod store;
