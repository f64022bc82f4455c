//! The `oauth-admin` command line: what a checked command asks for. The grammar (clap's
//! derive API, built with the `admin` feature) is in `parse`, which checks a command line
//! whole before the tool touches DynamoDB, so that a bad one writes nothing.

#[cfg(feature = "admin")]
mod parse;
#[cfg(feature = "admin")]
pub use parse::{Parsed, parse};

use super::AdminError;
use crate::oauth::{ClientRecord, GrantType, TokenFormat};
use std::fmt;
use std::time::Duration;

/// One checked command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    CreateTables,
    CreateClient {
        id: Option<String>,
        spec: ClientSpec,
        json: bool,
    },
    /// The secret comes from stdin, read by the caller.
    ImportClient {
        id: String,
        spec: ClientSpec,
    },
    ListClients {
        json: bool,
    },
    ShowClient {
        id: String,
        json: bool,
    },
    DisableClient {
        id: String,
        /// How long to wait before the second sweep (`ops::revoke_client_tokens`).
        settle: Duration,
    },
    EnableClient {
        id: String,
    },
    DeleteClient {
        id: String,
        settle: Duration,
    },
    /// Changes the named settings of an existing client.
    UpdateClient {
        id: String,
        changes: ClientChanges,
        json: bool,
    },
    RotateSecret {
        id: String,
        json: bool,
    },
    FinishRotation {
        id: String,
    },
    SetResourceServer {
        id: String,
        value: bool,
    },
    /// The first JWT signing key, sealed under this KMS key (or the tool's own).
    CreateSigningKey {
        kms_key_id: Option<String>,
    },
    /// A next signing key, published now, signing after JWT_KEY_PUBLISH_SECONDS.
    RotateSigningKey,
    /// The audit trail, oldest first: every record, or those about one client; with a
    /// limit, only the newest that many.
    Audit {
        client: Option<String>,
        limit: Option<usize>,
        json: bool,
    },
}

/// Everything about a new client except its id and secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSpec {
    pub name: String,
    pub scopes: Vec<String>,
    pub default_scopes: Vec<String>,
    pub grants: Vec<GrantType>,
    pub access_ttl: Option<u64>,
    pub refresh_ttl: Option<u64>,
    pub resource_server: bool,
    /// `None`: the deployment's TOKEN_FORMAT.
    pub token_format: Option<TokenFormat>,
    /// The `aud` of its JWTs; empty: the deployment's.
    pub audiences: Vec<String>,
    /// Token requests served per clock hour; `None`: no quota.
    pub max_tokens_per_hour: Option<u64>,
}

impl ClientSpec {
    /// The record to store for this spec.
    pub fn record(&self, client_id: &str, secret_hash: String, now: u64) -> ClientRecord {
        let mut record = ClientRecord::new(client_id, &self.name, secret_hash, now);
        record.scopes = self.scopes.clone();
        record.default_scopes = self.default_scopes.clone();
        record.grants = self.grants.clone();
        record.access_ttl = self.access_ttl;
        record.refresh_ttl = self.refresh_ttl;
        record.resource_server = self.resource_server;
        record.token_format = self.token_format;
        record.audiences = self.audiences.clone();
        record.max_tokens_per_hour = self.max_tokens_per_hour;
        record
    }
}

/// What `update-client` changes: each `Some` replaces that setting, each `None` keeps it.
/// Secrets, the disabled flag and the resource-server flag are not among them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub default_scopes: Option<Vec<String>>,
    pub grants: Option<Vec<GrantType>>,
    pub access_ttl: Option<u64>,
    pub refresh_ttl: Option<u64>,
    pub token_format: Option<TokenFormat>,
    pub audiences: Option<Vec<String>>,
    /// `Some(None)` removes the quota.
    pub max_tokens_per_hour: Option<Option<u64>>,
}

impl ClientChanges {
    pub fn is_empty(&self) -> bool {
        *self == ClientChanges::default()
    }

    /// `current` with these changes, `updated_at` set to `now`, checked as `create-client`
    /// checks a new client. A list given alone is checked against the record's other one:
    /// the default scopes must stay among the scopes. A failure is a usage error, as it is
    /// for `create-client`.
    pub fn apply(&self, current: &ClientRecord, now: u64) -> Result<ClientRecord, AdminError> {
        let sub = "update-client";
        let mut next = current.clone();
        if let Some(name) = &self.name {
            next.name = name.clone();
        }
        if let Some(scopes) = &self.scopes {
            next.scopes = scopes.clone();
        }
        if let Some(defaults) = &self.default_scopes {
            next.default_scopes = defaults.clone();
        }
        match (&self.scopes, &self.default_scopes) {
            (_, Some(_)) => check_default_scopes(sub, &next.scopes, &next.default_scopes)?,
            (Some(_), None) => {
                if let Some(kept) = next
                    .default_scopes
                    .iter()
                    .find(|d| !next.scopes.contains(d))
                {
                    return Err(usage(
                        sub,
                        format!(
                            "the client's default scope {} would not be among its scopes \
                             (add --scope {kept}, or give --default-scope without it)",
                            shown(kept),
                        ),
                    ));
                }
            }
            (None, None) => {}
        }
        if let Some(grants) = &self.grants {
            next.grants = grants.clone();
        }
        if let Some(ttl) = self.access_ttl {
            next.access_ttl = Some(ttl);
        }
        if let Some(format) = self.token_format {
            next.token_format = Some(format);
        }
        if let Some(audiences) = &self.audiences {
            next.audiences = audiences.clone();
        }
        if let Some(ttl) = self.refresh_ttl {
            next.refresh_ttl = Some(ttl);
        }
        if let Some(quota) = self.max_tokens_per_hour {
            next.max_tokens_per_hour = quota;
        }
        next.updated_at = now;
        Ok(next)
    }
}

/// Each default scope must be among the scopes.
pub fn check_default_scopes(
    sub: &str,
    scopes: &[String],
    default_scopes: &[String],
) -> Result<(), AdminError> {
    match default_scopes.iter().find(|d| !scopes.contains(d)) {
        Some(stray) => Err(usage(
            sub,
            format!(
                "--default-scope {} is not among the client's scopes (add --scope {stray})",
                shown(stray),
            ),
        )),
        None => Ok(()),
    }
}

/// A bad command line for subcommand `sub`, pointing at its help.
pub fn usage(sub: &str, problem: impl fmt::Display) -> AdminError {
    AdminError::Usage(format!("{sub}: {problem} (see `oauth-admin {sub} --help`)"))
}

/// A user-supplied value quoted for a message, cut short if long.
pub fn shown(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut:?}...")
    } else {
        format!("{s:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_given_alone_is_checked_against_the_stored_other() {
        let mut current = ClientRecord::new("c1", "n", "hash".into(), 1);
        current.scopes = vec!["a".into(), "b".into()];
        current.default_scopes = vec!["a".into()];
        let scopes = |s: &[&str]| Some(s.iter().map(|x| x.to_string()).collect::<Vec<_>>());

        let narrow = ClientChanges {
            scopes: scopes(&["b"]),
            ..ClientChanges::default()
        };
        let err = narrow.apply(&current, 2).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("default scope \"a\""), "{err}");

        let stray = ClientChanges {
            default_scopes: scopes(&["c"]),
            ..ClientChanges::default()
        };
        let err = stray.apply(&current, 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "update-client: --default-scope \"c\" is not among the client's scopes \
             (add --scope c) (see `oauth-admin update-client --help`)"
        );

        let both = ClientChanges {
            scopes: scopes(&["b"]),
            default_scopes: scopes(&["b"]),
            ..ClientChanges::default()
        };
        let next = both.apply(&current, 2).unwrap();
        assert_eq!(
            (next.scopes, next.default_scopes),
            (vec!["b".to_owned()], vec!["b".to_owned()])
        );
        assert_eq!(next.updated_at, 2);
        assert_eq!(next.secret_hashes, current.secret_hashes);
    }
}
