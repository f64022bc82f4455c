//! One function per `oauth-admin` command, over any store that offers [`ClientAdmin`].
//! Each checks what it can first and then changes a client record with a single
//! conditional write, so that a command that fails leaves the record as it found it. `disable-client` and
//! `delete-client` also revoke the client's tokens, a request each, and finish a sweep cut
//! short when run again. Each that changes a client also says what it changed
//! ([`Changes`]), for the audit trail.

use super::audit::{self, Changes};
use super::cli::{ClientChanges, ClientSpec};
use super::{AdminError, Secret};
use crate::oauth::ClientRecord;
use crate::oauth::grant::quota_window;
use crate::oauth::{secret, token};
use crate::store::dynamodb::DynamoStore;
use crate::store::tables::{self, TablesReport};
use crate::store::{ClientAdmin, Quotas};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use std::io::Read;
use std::time::Duration;

/// Longest secret `import-client` accepts, in bytes.
pub const MAX_IMPORTED_SECRET_BYTES: usize = 4096;

/// Length of a generated client id.
pub const GENERATED_ID_LEN: usize = 20;

/// A client id and the secret to show once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: Secret,
}

/// Whether a command changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Changed,
    /// The client was already in the state asked for; nothing was written.
    Unchanged,
}

/// What the tool shows of a client: everything but the secret hashes, of which it shows
/// only how many there are and of which kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub disabled: bool,
    pub resource_server: bool,
    pub active_secrets: usize,
    /// `generated` (fast hash) or `imported` (PBKDF2), oldest first.
    pub secret_kinds: Vec<&'static str>,
    pub grants: Vec<&'static str>,
    pub scopes: Vec<String>,
    pub default_scopes: Vec<String>,
    /// `None`: the deployment's lifetime applies.
    pub access_ttl: Option<u64>,
    pub refresh_ttl: Option<u64>,
    /// `None`: the deployment's TOKEN_FORMAT applies.
    pub token_format: Option<&'static str>,
    pub audiences: Vec<String>,
    /// `None`: no quota.
    pub max_tokens_per_hour: Option<u64>,
    /// Token requests counted in the current hour's window (`show-client` only, and only
    /// for a client with a quota).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_this_hour: Option<u64>,
    pub created_at: u64,
    pub updated_at: u64,
}

impl From<&ClientRecord> for ClientView {
    fn from(c: &ClientRecord) -> Self {
        ClientView {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            disabled: c.disabled,
            resource_server: c.resource_server,
            active_secrets: c.secret_hashes.len(),
            secret_kinds: c.secret_hashes.iter().map(|h| secret_kind(h)).collect(),
            grants: c.grants.iter().map(|g| g.as_str()).collect(),
            scopes: c.scopes.clone(),
            default_scopes: c.default_scopes.clone(),
            access_ttl: c.access_ttl,
            refresh_ttl: c.refresh_ttl,
            token_format: c.token_format.map(|f| f.as_str()),
            audiences: c.audiences.clone(),
            max_tokens_per_hour: c.max_tokens_per_hour,
            tokens_this_hour: None,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// The kind of a hash string, from its self-describing prefix (oauth::secret).
fn secret_kind(hash: &str) -> &'static str {
    match hash.split('$').next() {
        Some("hmac-sha256") => "generated",
        Some("pbkdf2-sha256") => "imported",
        _ => "unknown",
    }
}

/// A client id: 20 characters of `[a-z0-9]`, uniform (about 103 bits).
pub fn generate_client_id(rng: &SystemRandom) -> Result<String, AdminError> {
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    // 252 is the largest multiple of 36 below 256: bytes above it are drawn again.
    const ACCEPT_BELOW: u8 = 252;
    let mut out = String::with_capacity(GENERATED_ID_LEN);
    let mut buf = [0u8; 32];
    while out.len() < GENERATED_ID_LEN {
        rng.fill(&mut buf)?;
        for &b in &buf {
            if b < ACCEPT_BELOW && out.len() < GENERATED_ID_LEN {
                out.push(char::from(ALPHABET[usize::from(b % 36)]));
            }
        }
    }
    Ok(out)
}

/// Reads an imported secret: all of `input`, less exactly one trailing `\n` or `\r\n`.
/// Any other characters are kept. Empty, over [`MAX_IMPORTED_SECRET_BYTES`] or not UTF-8:
/// an error that does not quote the input.
pub fn read_secret(input: impl Read) -> Result<String, AdminError> {
    let mut buf = Vec::new();
    input
        .take(MAX_IMPORTED_SECRET_BYTES as u64 + 3)
        .read_to_end(&mut buf)
        .map_err(|e| AdminError::Input(format!("cannot read the secret from stdin: {e}")))?;
    if buf.ends_with(b"\r\n") {
        buf.truncate(buf.len() - 2);
    } else if buf.ends_with(b"\n") {
        buf.truncate(buf.len() - 1);
    }
    if buf.is_empty() {
        return Err(AdminError::Input(
            "the secret on stdin is empty: pipe the client's existing secret in".into(),
        ));
    }
    if buf.len() > MAX_IMPORTED_SECRET_BYTES {
        return Err(AdminError::Input(format!(
            "the secret on stdin is longer than {MAX_IMPORTED_SECRET_BYTES} bytes"
        )));
    }
    String::from_utf8(buf)
        .map_err(|_| AdminError::Input("the secret on stdin is not valid UTF-8".into()))
}

pub async fn create_tables(store: &DynamoStore) -> Result<TablesReport, AdminError> {
    Ok(tables::create_tables(store).await?)
}

/// Registers a client with a generated secret (and id, unless given); only the hash is
/// stored. An id that exists is an error and changes nothing.
pub async fn create_client(
    store: &impl ClientAdmin,
    id: Option<&str>,
    spec: &ClientSpec,
    rng: &SystemRandom,
    now: u64,
) -> Result<(Credentials, Changes), AdminError> {
    let client_id = match id {
        Some(id) => id.to_owned(),
        None => generate_client_id(rng)?,
    };
    let client_secret = token::generate(rng)?;
    let record = spec.record(
        &client_id,
        secret::hash_generated(&client_secret, rng)?,
        now,
    );
    if !store.create_client(&record).await? {
        return Err(AdminError::AlreadyExists(client_id));
    }
    Ok((
        Credentials {
            client_id,
            client_secret: Secret::new(client_secret),
        },
        audit::settings(&record),
    ))
}

/// Registers a client with an existing secret, stored as a PBKDF2 hash.
pub async fn import_client(
    store: &impl ClientAdmin,
    id: &str,
    spec: &ClientSpec,
    client_secret: &str,
    rng: &SystemRandom,
    now: u64,
) -> Result<Changes, AdminError> {
    if client_secret.is_empty() {
        return Err(AdminError::Input("the secret is empty".into()));
    }
    let record = spec.record(id, secret::hash_imported(client_secret, rng)?, now);
    if store.create_client(&record).await? {
        Ok(audit::settings(&record))
    } else {
        Err(AdminError::AlreadyExists(id.to_owned()))
    }
}

/// Every client, ordered by creation time then id.
pub async fn list_clients(store: &impl ClientAdmin) -> Result<Vec<ClientView>, AdminError> {
    let mut clients = store.list_clients().await?;
    clients.sort_by(|a, b| (a.created_at, &a.client_id).cmp(&(b.created_at, &b.client_id)));
    Ok(clients.iter().map(ClientView::from).collect())
}

async fn get(store: &impl ClientAdmin, id: &str) -> Result<ClientRecord, AdminError> {
    store
        .get_client(id)
        .await?
        .ok_or_else(|| AdminError::NotFound(id.to_owned()))
}

/// Reads a client, lets `change` make the next record from it (or refuse), and writes that
/// in its place only if the stored record is still the one read: a concurrent change or
/// deletion makes it fail without writing. `Unchanged` when `change` gives the same
/// record (less `updated_at`). Returns the client as it now is and what changed.
async fn change_client<S: ClientAdmin>(
    store: &S,
    id: &str,
    change: impl FnOnce(&ClientRecord) -> Result<ClientRecord, AdminError>,
) -> Result<(Change, ClientRecord, Changes), AdminError> {
    let (current, as_read) = store
        .read_client(id)
        .await?
        .ok_or_else(|| AdminError::NotFound(id.to_owned()))?;
    let next = change(&current)?;
    let same = ClientRecord {
        updated_at: current.updated_at,
        ..next.clone()
    } == current;
    if same {
        return Ok((Change::Unchanged, current, Changes::new()));
    }
    if store.replace_client(&as_read, &next).await? {
        let changes = audit::diff(&current, &next);
        return Ok((Change::Changed, next, changes));
    }
    match store.get_client(id).await? {
        None => Err(AdminError::NotFound(id.to_owned())),
        Some(_) => Err(AdminError::Conflict(id.to_owned())),
    }
}

/// A client, with its current quota window's count when it has a quota.
pub async fn show_client(
    store: &(impl ClientAdmin + Quotas),
    id: &str,
    now: u64,
) -> Result<ClientView, AdminError> {
    let mut view = ClientView::from(&get(store, id).await?);
    if view.max_tokens_per_hour.is_some() {
        view.tokens_this_hour = Some(store.quota_used(id, quota_window(now)).await?);
    }
    Ok(view)
}

pub async fn set_disabled(
    store: &impl ClientAdmin,
    id: &str,
    disabled: bool,
    now: u64,
) -> Result<(Change, Changes), AdminError> {
    let (change, _, changes) = change_client(store, id, |c| {
        Ok(ClientRecord {
            disabled,
            updated_at: now,
            ..c.clone()
        })
    })
    .await?;
    Ok((change, changes))
}

pub async fn set_resource_server(
    store: &impl ClientAdmin,
    id: &str,
    resource_server: bool,
    now: u64,
) -> Result<(Change, Changes), AdminError> {
    let (change, _, changes) = change_client(store, id, |c| {
        Ok(ClientRecord {
            resource_server,
            updated_at: now,
            ..c.clone()
        })
    })
    .await?;
    Ok((change, changes))
}

/// Revokes every live token of client `id` twice, `settle` apart (once when `settle` is
/// zero); returns how many the two sweeps revoked. An issuance that read the client just
/// before it was disabled may write its tokens after the first sweep passed their keys
/// (and sign JWTs after its revocation time): it is done within the token function's
/// timeout, so a second sweep after that long, which also raises the revocation time to
/// its own, revokes them.
pub async fn revoke_client_tokens(
    store: &impl ClientAdmin,
    id: &str,
    now: u64,
    settle: Duration,
) -> Result<u64, AdminError> {
    let first = store.revoke_client_tokens(id, now).await?;
    if settle.is_zero() {
        return Ok(first);
    }
    tokio::time::sleep(settle).await;
    // The second sweep's own time: at least `settle` after the first's, and the clock's
    // after a first sweep that took long.
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let later = now
        .saturating_add(settle.as_secs_f64().ceil() as u64)
        .max(clock);
    Ok(first + store.revoke_client_tokens(id, later).await?)
}

/// Disables a client and revokes its live tokens (`revoke_client_tokens`, `settle`);
/// returns whether the flag changed, how many tokens were revoked, and what changed (the
/// flag, and `tokens_revoked` when any). The flag is written first, so that no request
/// authenticates while the tokens are revoked. Already disabled, it revokes again: a run
/// cut short is finished this way.
pub async fn disable_client(
    store: &impl ClientAdmin,
    id: &str,
    now: u64,
    settle: Duration,
) -> Result<(Change, u64, Changes), AdminError> {
    let (change, mut changes) = set_disabled(store, id, true, now).await?;
    let revoked = revoke_client_tokens(store, id, now, settle).await?;
    if revoked > 0 {
        changes.insert("tokens_revoked".into(), revoked.into());
    }
    Ok((change, revoked, changes))
}

/// What `delete-client` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// This run deleted the record.
    Deleted,
    /// There was no record to delete: an earlier run deleted it, or it never existed.
    NoRecord,
}

/// Deletes a client for good; returns what it found and how many live tokens it revoked.
///
/// The client is disabled first, so that no request authenticates as it from then on; its
/// live tokens are revoked next; the record goes last, and only while it is still
/// disabled. A run cut short at any step is finished by running it again: with no record
/// left, the tokens issued to the id are still swept (the authorizer and introspection
/// never read the client record, so a token left live would keep working until it
/// expires).
pub async fn delete_client(
    store: &impl ClientAdmin,
    id: &str,
    now: u64,
    settle: Duration,
) -> Result<(Deletion, u64), AdminError> {
    let exists = match set_disabled(store, id, true, now).await {
        Ok(_) => true,
        Err(AdminError::NotFound(_)) => false,
        Err(e) => return Err(e),
    };
    let revoked = revoke_client_tokens(store, id, now, settle).await?;
    if !exists {
        return Ok((Deletion::NoRecord, revoked));
    }
    if store.delete_disabled_client(id).await? {
        return Ok((Deletion::Deleted, revoked));
    }
    // Gone already (a concurrent run), or enabled again since it was disabled above.
    match store.get_client(id).await? {
        None => Ok((Deletion::NoRecord, revoked)),
        Some(_) => Err(AdminError::EnabledWhileDeleting(id.to_owned())),
    }
}

/// Changes the settings `changes` names, and only those, of an existing client; returns
/// whether anything changed and the client as it now is. Conditional on the whole record
/// being as read; secret hashes and the disabled and resource-server flags are never
/// changed.
pub async fn update_client(
    store: &impl ClientAdmin,
    id: &str,
    changes: &ClientChanges,
    now: u64,
) -> Result<(Change, ClientView, Changes), AdminError> {
    let (change, client, changed) = change_client(store, id, |c| changes.apply(c, now)).await?;
    Ok((change, ClientView::from(&client), changed))
}

/// Adds a new generated secret beside the current one. A client keeps at most two.
pub async fn rotate_secret(
    store: &impl ClientAdmin,
    id: &str,
    rng: &SystemRandom,
    now: u64,
) -> Result<(Credentials, Changes), AdminError> {
    let client_secret = token::generate(rng)?;
    let hash = secret::hash_generated(&client_secret, rng)?;
    let (_, _, changes) = change_client(store, id, |c| {
        if c.secret_hashes.len() >= 2 {
            return Err(AdminError::RotationInProgress(id.to_owned()));
        }
        let mut next = c.clone();
        next.secret_hashes.push(hash);
        next.updated_at = now;
        Ok(next)
    })
    .await?;
    Ok((
        Credentials {
            client_id: id.to_owned(),
            client_secret: Secret::new(client_secret),
        },
        changes,
    ))
}

/// Keeps only the newest secret. `Unchanged` when there was only one.
pub async fn finish_rotation(
    store: &impl ClientAdmin,
    id: &str,
    now: u64,
) -> Result<(Change, Changes), AdminError> {
    let (change, _, changes) = change_client(store, id, |c| {
        let Some(newest) = c.secret_hashes.last() else {
            return Err(AdminError::Internal(format!("client {id:?} has no secret")));
        };
        Ok(ClientRecord {
            secret_hashes: vec![newest.clone()],
            updated_at: if c.secret_hashes.len() == 1 {
                c.updated_at
            } else {
                now
            },
            ..c.clone()
        })
    })
    .await?;
    Ok((change, changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let rng = SystemRandom::new();
        let a = generate_client_id(&rng).unwrap();
        let b = generate_client_id(&rng).unwrap();
        assert_eq!(a.len(), GENERATED_ID_LEN);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        assert!(crate::store::is_valid_client_id(&a));
        assert_ne!(a, b);
    }

    #[test]
    fn read_secret_drops_exactly_one_trailing_newline() {
        let read = |s: &[u8]| read_secret(s);
        assert_eq!(read(b"a+b:c% d\n").unwrap(), "a+b:c% d");
        assert_eq!(read(b"a+b:c% d\r\n").unwrap(), "a+b:c% d");
        assert_eq!(read(b"abc\n\n").unwrap(), "abc\n");
        assert_eq!(read(b" abc ").unwrap(), " abc ");
        assert_eq!(read(b"\tx\r").unwrap(), "\tx\r");
    }

    #[test]
    fn read_secret_refuses_empty_long_and_non_utf8() {
        for bad in [&b""[..], b"\n", b"\r\n", b"\xff\xfe"] {
            assert!(matches!(read_secret(bad), Err(AdminError::Input(_))));
        }
        let long = vec![b'x'; MAX_IMPORTED_SECRET_BYTES + 1];
        assert!(matches!(read_secret(&long[..]), Err(AdminError::Input(_))));
        let max = vec![b'x'; MAX_IMPORTED_SECRET_BYTES];
        assert_eq!(
            read_secret(&max[..]).unwrap().len(),
            MAX_IMPORTED_SECRET_BYTES
        );
    }

    #[test]
    fn views_show_counts_and_kinds_never_hashes() {
        let rng = SystemRandom::new();
        let mut c = ClientRecord::new("c1", "n", secret::hash_generated("s", &rng).unwrap(), 1);
        c.secret_hashes
            .push(secret::hash_pbkdf2("t", &rng, 1000).unwrap());
        let view = ClientView::from(&c);
        assert_eq!(view.active_secrets, 2);
        assert_eq!(view.secret_kinds, ["generated", "imported"]);
        let json = serde_json::to_string(&view).unwrap();
        assert!(!json.contains('$'), "{json}");
    }
}
