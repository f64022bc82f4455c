//! The administration tool's logic (`oauth-admin`): clients and tables.
//!
//! - [`cli`]: the command line, checked whole before anything is read or written.
//! - [`ops`]: one function per command over a [`DynamoStore`](crate::store::dynamodb::DynamoStore);
//!   each change to a client record is a single conditional request, so a failure leaves
//!   nothing half-written. Revoking a client's tokens (`disable-client`, `delete-client`)
//!   takes a request per token; run again, those commands finish a sweep cut short.
//! - [`render`]: what the commands print. Secret hashes never appear in it.
//! - [`audit`]: each change the tool makes is appended to its audit trail, which
//!   `oauth-admin audit` lists; [`identity`] says who made it.

pub mod audit;
pub mod cli;
#[cfg(feature = "admin")]
pub mod identity;
pub mod keys;
pub mod ops;
pub mod render;
pub mod run;

use crate::store::StoreError;
use std::fmt;

/// Why a command failed. Each prints as one line; usage errors exit 2, the rest 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// A bad command line.
    Usage(String),
    /// Bad input other than the command line (the secret on stdin, say).
    Input(String),
    NotFound(String),
    AlreadyExists(String),
    /// `rotate-secret` on a client that already has two secrets.
    RotationInProgress(String),
    /// The client changed between this command's read and its write.
    Conflict(String),
    /// `delete-client`: the client was enabled again after the command disabled it and
    /// revoked its tokens, so its record was kept.
    EnabledWhileDeleting(String),
    /// DynamoDB could not be reached, or throttled, or timed out.
    Unavailable(String),
    Internal(String),
    /// The command made its change, but its audit record could not be appended: `output`
    /// is what it would have printed (a new secret, say), printed all the same.
    NotRecorded {
        output: Printed,
        detail: String,
    },
}

impl AdminError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AdminError::Usage(_) => 2,
            AdminError::NotRecorded { .. } => 3,
            _ => 1,
        }
    }
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            AdminError::Usage(m) | AdminError::Input(m) => m.clone(),
            AdminError::Internal(d) => without_debug_tail(d).to_owned(),
            AdminError::NotFound(id) => format!("no client with id {id:?}"),
            AdminError::AlreadyExists(id) => format!("a client with id {id:?} already exists"),
            AdminError::RotationInProgress(id) => format!(
                "client {id:?} already has two active secrets: once its users have the newest, \
                 run `oauth-admin rotate-secret {id} --finish` first"
            ),
            AdminError::Conflict(id) => format!(
                "client {id:?} changed while this command ran; nothing was written, run it again"
            ),
            AdminError::EnabledWhileDeleting(id) => format!(
                "client {id:?} was enabled again while it was being deleted: its record was kept \
                 and the tokens it had were revoked; run `oauth-admin delete-client {id}` again"
            ),
            AdminError::Unavailable(d) => format!(
                "DynamoDB is unreachable or unavailable: {}",
                without_debug_tail(d)
            ),
            AdminError::NotRecorded { detail, .. } => format!(
                "the change was made, but it is NOT recorded in the audit trail ({}); record \
                 it by other means",
                without_debug_tail(detail)
            ),
        };
        // One line whatever the detail holds (SDK errors may carry newlines).
        f.write_str(&text.replace(['\r', '\n'], " "))
    }
}

impl std::error::Error for AdminError {}

/// The SDK's error text (`DisplayErrorContext`) ends with the whole error in `Debug` form,
/// ` (DispatchFailure(DispatchFailure { ... }))`: useful in a log, noise in a one-line
/// message. Cut from the first ` (` that opens a type name followed by `(` or ` {`.
fn without_debug_tail(detail: &str) -> &str {
    let mut from = 0;
    while let Some(i) = detail[from..].find(" (").map(|i| i + from) {
        let rest = &detail[i + 2..];
        let ident_len = rest
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .unwrap_or(rest.len());
        let ident = &rest[..ident_len];
        let after = &rest[ident_len..];
        if ident.starts_with(|c: char| c.is_ascii_uppercase())
            && (after.starts_with('(') || after.starts_with(" {"))
            && detail.ends_with(')')
        {
            return &detail[..i];
        }
        from = i + 2;
    }
    detail
}

impl AdminError {
    /// Names the tables, when DynamoDB said a table does not exist (its answer does not
    /// say which: a command may read both).
    pub fn with_table_hint(self, clients_table: &str, tokens_table: &str) -> Self {
        match self {
            AdminError::Internal(d) if d.contains("ResourceNotFoundException") => {
                AdminError::Internal(format!(
                    "a table does not exist: the clients table {clients_table:?} (CLIENTS_TABLE) \
                     or the tokens table {tokens_table:?} (TOKENS_TABLE); run \
                     `oauth-admin create-tables` first"
                ))
            }
            other => other,
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(d) => AdminError::Unavailable(d),
            StoreError::Internal(d) => AdminError::Internal(d),
        }
    }
}

impl From<ring::error::Unspecified> for AdminError {
    fn from(_: ring::error::Unspecified) -> Self {
        AdminError::Internal("the system random number generator failed".into())
    }
}

/// A secret to show the operator once. `Debug` does not reveal it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: String) -> Self {
        Secret(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// What a command prints on stdout, which may hold a secret. `Debug` does not reveal it.
#[derive(Clone, PartialEq, Eq)]
pub struct Printed(String);

impl Printed {
    pub fn new(text: String) -> Self {
        Printed(text)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Printed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Printed(..)")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_drops_the_sdk_debug_dump_and_stays_on_one_line() {
        let e = AdminError::Unavailable(
            "Scan: dispatch failure: io error: client error (Connect): tcp connect error: \
             Connection refused (os error 111) (DispatchFailure(DispatchFailure { source: \
             ConnectorError { kind: Io } }))\nmore"
                .into(),
        );
        // Not cut when the text does not end like a Debug dump.
        assert!(e.to_string().contains("DispatchFailure"));
        let e = AdminError::Unavailable(
            "Scan: dispatch failure: io error: client error (Connect): tcp connect error: \
             Connection refused (os error 111) (DispatchFailure(DispatchFailure { source: \
             ConnectorError { kind: Io } }))"
                .into(),
        );
        assert_eq!(
            e.to_string(),
            "DynamoDB is unreachable or unavailable: Scan: dispatch failure: io error: client \
             error (Connect): tcp connect error: Connection refused (os error 111)"
        );
        let multi = AdminError::Internal("a\nb\r\nc".into()).to_string();
        assert!(!multi.contains('\n') && !multi.contains('\r'));
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s:?}"), "Secret(..)");
        assert_eq!(s.expose(), "hunter2");
    }
}
