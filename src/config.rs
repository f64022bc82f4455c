//! Configuration from the environment, read once at start-up. A bad value stops start-up
//! with a message naming the variable.

use crate::keys::MAX_JWT_TTL;
use crate::oauth::{IssuePolicy, TokenFormat};
use std::fmt;
use std::time::Duration;

/// Everything the functions read from their environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub clients_table: String,
    pub tokens_table: String,
    pub policy: IssuePolicy,
    /// Bound on one DynamoDB operation, retries included.
    pub dynamodb_timeout: Duration,
    /// The issuer URL for the metadata document; the request's own base URL when unset.
    pub issuer: Option<String>,
    /// How long a new signing key is published before it signs (gateways cache keys).
    pub jwt_key_publish_seconds: u64,
    /// How long a warm function may reuse a client record it read (0: never).
    pub client_cache_seconds: u64,
}

/// A variable with a value the service cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.variable, self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// Longest lifetime accepted: ten years.
pub use crate::oauth::grant::MAX_TTL;

/// Longest reuse grace accepted, in seconds.
pub const MAX_REUSE_GRACE_SECONDS: u64 = 60;

/// Longest client cache lifetime accepted, in seconds.
pub const MAX_CLIENT_CACHE_SECONDS: u64 = 300;

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads variables through `get`, so tests need not touch the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = IssuePolicy::default();
        let timeout_ms = number(&get, "DYNAMODB_TIMEOUT_MS", 1500, 100, 30_000)?;
        Ok(Config {
            clients_table: table(&get, "CLIENTS_TABLE", "oauth-clients")?,
            tokens_table: table(&get, "TOKENS_TABLE", "oauth-tokens")?,
            policy: IssuePolicy {
                access_ttl: number(&get, "ACCESS_TOKEN_TTL", defaults.access_ttl, 1, MAX_TTL)?,
                refresh_ttl: number(&get, "REFRESH_TOKEN_TTL", defaults.refresh_ttl, 1, MAX_TTL)?,
                issue_refresh_tokens: flag(&get, "ISSUE_REFRESH_TOKENS", true)?,
                reuse_grace_ms: 1000
                    * number(
                        &get,
                        "REFRESH_REUSE_GRACE_SECONDS",
                        0,
                        0,
                        MAX_REUSE_GRACE_SECONDS,
                    )?,
                default_format: token_format(&get)?,
                jwt_access_ttl: number(&get, "JWT_ACCESS_TOKEN_TTL", 3600, 1, MAX_JWT_TTL)?,
                jwt_audience: set(&get, "JWT_AUDIENCE")
                    .map(|v| {
                        v.split([' ', ','])
                            .filter(|a| !a.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            jwt_key_publish_seconds: number(
                &get,
                "JWT_KEY_PUBLISH_SECONDS",
                7200,
                0,
                MAX_JWT_TTL * 30,
            )?,
            client_cache_seconds: number(
                &get,
                "CLIENT_CACHE_SECONDS",
                0,
                0,
                MAX_CLIENT_CACHE_SECONDS,
            )?,
            dynamodb_timeout: Duration::from_millis(timeout_ms),
            issuer: issuer(&get)?,
        })
    }
}

fn set(get: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    get(name).filter(|v| !v.is_empty())
}

fn table(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: &str,
) -> Result<String, ConfigError> {
    let value = set(get, name).unwrap_or_else(|| default.to_owned());
    let ok = (3..=255).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(value)
    } else {
        Err(ConfigError {
            variable: name,
            problem: format!("{value:?} is not a DynamoDB table name (3-255 of A-Z a-z 0-9 _ - .)"),
        })
    }
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(raw) = set(get, name) else {
        return Ok(default);
    };
    match raw.trim().parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(ConfigError {
            variable: name,
            problem: format!("{raw:?} is not a whole number from {min} to {max}"),
        }),
    }
}

fn flag(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    let Some(raw) = set(get, name) else {
        return Ok(default);
    };
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError {
            variable: name,
            problem: format!("{raw:?} is not true or false"),
        }),
    }
}

fn token_format(get: &impl Fn(&str) -> Option<String>) -> Result<TokenFormat, ConfigError> {
    let Some(raw) = set(get, "TOKEN_FORMAT") else {
        return Ok(TokenFormat::Opaque);
    };
    TokenFormat::parse(raw.trim()).ok_or_else(|| ConfigError {
        variable: "TOKEN_FORMAT",
        problem: format!("{raw:?} is not opaque or jwt"),
    })
}

fn issuer(get: &impl Fn(&str) -> Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(raw) = set(get, "ISSUER") else {
        return Ok(None);
    };
    if raw.starts_with("https://") || raw.starts_with("http://") {
        Ok(Some(raw.trim_end_matches('/').to_owned()))
    } else {
        Err(ConfigError {
            variable: "ISSUER",
            problem: format!("{raw:?} is not an http(s) URL"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_protocol() {
        let c = with(&[]).unwrap();
        assert_eq!(c.clients_table, "oauth-clients");
        assert_eq!(c.tokens_table, "oauth-tokens");
        assert_eq!(c.policy.access_ttl, 604_800);
        assert_eq!(c.policy.refresh_ttl, 1_209_600);
        assert!(c.policy.issue_refresh_tokens);
        assert_eq!(c.policy.reuse_grace_ms, 0);
        assert_eq!(c.policy.default_format, TokenFormat::Opaque);
        assert_eq!(c.policy.jwt_access_ttl, 3600);
        assert_eq!(c.jwt_key_publish_seconds, 7200);
        assert_eq!(c.client_cache_seconds, 0);
        assert_eq!(
            with(&[("CLIENT_CACHE_SECONDS", "300")])
                .unwrap()
                .client_cache_seconds,
            300
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("ACCESS_TOKEN_TTL", "soon"),
            ("ACCESS_TOKEN_TTL", "0"),
            ("REFRESH_TOKEN_TTL", "-5"),
            ("ISSUE_REFRESH_TOKENS", "maybe"),
            ("CLIENTS_TABLE", "a b"),
            ("TOKENS_TABLE", "x"),
            ("DYNAMODB_TIMEOUT_MS", "5"),
            ("ISSUER", "example.com"),
            ("TOKEN_FORMAT", "paseto"),
            ("JWT_ACCESS_TOKEN_TTL", "86401"),
            ("REFRESH_REUSE_GRACE_SECONDS", "61"),
            ("CLIENT_CACHE_SECONDS", "301"),
        ] {
            let err = with(&[(var, value)]).unwrap_err();
            assert_eq!(err.variable, var);
            assert!(err.to_string().contains(var));
        }
    }

    #[test]
    fn refresh_tokens_can_be_turned_off() {
        assert!(
            !with(&[("ISSUE_REFRESH_TOKENS", "false")])
                .unwrap()
                .policy
                .issue_refresh_tokens
        );
    }
}
