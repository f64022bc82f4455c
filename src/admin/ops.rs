//! One function per `oauth-admin` command, over a [`DynamoStore`]. Each checks what it can
//! first and then changes a client record with a single conditional request, so that a
//! command that fails leaves the record as it found it. `disable-client` and
//! `delete-client` also revoke the client's tokens, a request each, and finish a sweep cut
//! short when run again.

use super::cli::{ClientChanges, ClientSpec};
use super::{AdminError, Secret};
use crate::oauth::{secret, token};
use crate::store::dynamodb::{DynamoStore, attr};
use crate::store::tables::{self, TablesReport};
use crate::store::{ClientRecord, GetClient};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Read;

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

/// Sorts an SDK error from a request made here into unavailable or internal, as the store
/// does for its own.
fn sdk_error<E>(op: &str, err: SdkError<E, HttpResponse>) -> AdminError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = format!("{op}: {}", DisplayErrorContext(&err));
    let transient = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(ctx) => {
            ctx.raw().status().as_u16() >= 500
                || err
                    .code()
                    .is_some_and(|c| c.contains("Throttl") || c.contains("LimitExceeded"))
        }
        _ => false,
    };
    if transient {
        AdminError::Unavailable(detail)
    } else {
        AdminError::Internal(detail)
    }
}

fn condition_failed(err: &SdkError<UpdateItemError, HttpResponse>) -> bool {
    err.as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
}

fn delete_condition_failed(err: &SdkError<DeleteItemError, HttpResponse>) -> bool {
    err.as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
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
    store: &DynamoStore,
    id: Option<&str>,
    spec: &ClientSpec,
    rng: &SystemRandom,
    now: u64,
) -> Result<Credentials, AdminError> {
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
    if !store.put_client(&record, true).await? {
        return Err(AdminError::AlreadyExists(client_id));
    }
    Ok(Credentials {
        client_id,
        client_secret: Secret::new(client_secret),
    })
}

/// Registers a client with an existing secret, stored as a PBKDF2 hash.
pub async fn import_client(
    store: &DynamoStore,
    id: &str,
    spec: &ClientSpec,
    client_secret: &str,
    rng: &SystemRandom,
    now: u64,
) -> Result<(), AdminError> {
    if client_secret.is_empty() {
        return Err(AdminError::Input("the secret is empty".into()));
    }
    let record = spec.record(id, secret::hash_imported(client_secret, rng)?, now);
    if store.put_client(&record, true).await? {
        Ok(())
    } else {
        Err(AdminError::AlreadyExists(id.to_owned()))
    }
}

/// Every client, ordered by creation time then id.
pub async fn list_clients(store: &DynamoStore) -> Result<Vec<ClientView>, AdminError> {
    let mut clients = store.scan_clients().await?;
    clients.sort_by(|a, b| (a.created_at, &a.client_id).cmp(&(b.created_at, &b.client_id)));
    Ok(clients.iter().map(ClientView::from).collect())
}

async fn get(store: &DynamoStore, id: &str) -> Result<ClientRecord, AdminError> {
    store
        .get_client(id)
        .await?
        .ok_or_else(|| AdminError::NotFound(id.to_owned()))
}

pub async fn show_client(store: &DynamoStore, id: &str) -> Result<ClientView, AdminError> {
    Ok(ClientView::from(&get(store, id).await?))
}

pub async fn set_disabled(
    store: &DynamoStore,
    id: &str,
    disabled: bool,
    now: u64,
) -> Result<Change, AdminError> {
    let current = get(store, id).await?;
    if current.disabled == disabled {
        return Ok(Change::Unchanged);
    }
    set_flag(store, id, attr::DISABLED, disabled, now).await?;
    Ok(Change::Changed)
}

pub async fn set_resource_server(
    store: &DynamoStore,
    id: &str,
    resource_server: bool,
    now: u64,
) -> Result<Change, AdminError> {
    let current = get(store, id).await?;
    if current.resource_server == resource_server {
        return Ok(Change::Unchanged);
    }
    set_flag(store, id, attr::RESOURCE_SERVER, resource_server, now).await?;
    Ok(Change::Changed)
}

/// Sets one boolean attribute of an existing client (never creates one).
async fn set_flag(
    store: &DynamoStore,
    id: &str,
    attribute: &str,
    value: bool,
    now: u64,
) -> Result<(), AdminError> {
    let result = store
        .client()
        .update_item()
        .table_name(store.clients_table())
        .key(attr::CLIENT_ID, AttributeValue::S(id.to_owned()))
        .update_expression("SET #flag = :value, #updated = :now")
        .condition_expression("attribute_exists(#id)")
        .expression_attribute_names("#flag", attribute)
        .expression_attribute_names("#updated", attr::UPDATED_AT)
        .expression_attribute_names("#id", attr::CLIENT_ID)
        .expression_attribute_values(":value", AttributeValue::Bool(value))
        .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if condition_failed(&e) => Err(AdminError::NotFound(id.to_owned())),
        Err(e) => Err(sdk_error("UpdateItem", e)),
    }
}

/// Disables a client and revokes its live tokens; returns whether the flag changed and how
/// many tokens were revoked. The flag is written first, so that no request authenticates
/// while the tokens are revoked. Already disabled, it revokes again: a run cut short, or an
/// issuance that read the client just before the flag was written, is finished this way.
pub async fn disable_client(
    store: &DynamoStore,
    id: &str,
    now: u64,
) -> Result<(Change, u64), AdminError> {
    let change = set_disabled(store, id, true, now).await?;
    Ok((change, store.revoke_client_tokens(id, now).await?))
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
    store: &DynamoStore,
    id: &str,
    now: u64,
) -> Result<(Deletion, u64), AdminError> {
    let exists = match set_disabled(store, id, true, now).await {
        Ok(_) => true,
        Err(AdminError::NotFound(_)) => false,
        Err(e) => return Err(e),
    };
    let revoked = store.revoke_client_tokens(id, now).await?;
    if !exists {
        return Ok((Deletion::NoRecord, revoked));
    }
    let deleted = store
        .client()
        .delete_item()
        .table_name(store.clients_table())
        .key(attr::CLIENT_ID, AttributeValue::S(id.to_owned()))
        .condition_expression("#disabled = :true")
        .expression_attribute_names("#disabled", attr::DISABLED)
        .expression_attribute_values(":true", AttributeValue::Bool(true))
        .send()
        .await;
    match deleted {
        Ok(_) => Ok((Deletion::Deleted, revoked)),
        // Gone already (a concurrent run), or enabled again since it was disabled above.
        Err(e) if delete_condition_failed(&e) => match store.get_client(id).await? {
            None => Ok((Deletion::NoRecord, revoked)),
            Some(_) => Err(AdminError::EnabledWhileDeleting(id.to_owned())),
        },
        Err(e) => Err(sdk_error("DeleteItem", e)),
    }
}

/// Changes the settings `changes` names, and only those, of an existing client; returns
/// whether anything changed and the client as it now is.
///
/// The write is one UpdateItem conditioned on the whole record being exactly as read, so a
/// concurrent change (another update, a rotation, a deletion) makes it fail without
/// writing, never silently lost. Secret hashes and the disabled and resource-server flags
/// are never written.
pub async fn update_client(
    store: &DynamoStore,
    id: &str,
    changes: &ClientChanges,
    now: u64,
) -> Result<(Change, ClientView), AdminError> {
    // The raw item is read first: the write is conditioned on it. The typed record, read
    // after, is the same state or a later one, and then the condition fails.
    let read = store
        .client()
        .get_item()
        .table_name(store.clients_table())
        .key(attr::CLIENT_ID, AttributeValue::S(id.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| sdk_error("GetItem", e))?
        .item
        .filter(|item| !item.is_empty())
        .ok_or_else(|| AdminError::NotFound(id.to_owned()))?;
    let current = get(store, id).await?;
    let next = changes.apply(&current, now)?;
    let unchanged = ClientRecord {
        updated_at: current.updated_at,
        ..next.clone()
    } == current;
    if unchanged {
        return Ok((Change::Unchanged, ClientView::from(&current)));
    }

    let strings =
        |v: &[String]| AttributeValue::L(v.iter().cloned().map(AttributeValue::S).collect());
    let mut updates: Vec<(&str, AttributeValue)> = Vec::new();
    if changes.name.is_some() {
        updates.push((attr::NAME, AttributeValue::S(next.name.clone())));
    }
    if changes.scopes.is_some() {
        updates.push((attr::SCOPES, strings(&next.scopes)));
    }
    if changes.default_scopes.is_some() {
        updates.push((attr::DEFAULT_SCOPES, strings(&next.default_scopes)));
    }
    if changes.grants.is_some() {
        let grants: Vec<String> = next.grants.iter().map(|g| g.as_str().to_owned()).collect();
        updates.push((attr::GRANTS, strings(&grants)));
    }
    if let Some(ttl) = changes.access_ttl {
        updates.push((attr::ACCESS_TTL, AttributeValue::N(ttl.to_string())));
    }
    if let Some(ttl) = changes.refresh_ttl {
        updates.push((attr::REFRESH_TTL, AttributeValue::N(ttl.to_string())));
    }
    updates.push((attr::UPDATED_AT, AttributeValue::N(now.to_string())));
    let mut sets = Vec::new();
    let mut names: HashMap<String, String> = HashMap::new();
    let mut values: HashMap<String, AttributeValue> = HashMap::new();
    for (i, (name, value)) in updates.into_iter().enumerate() {
        sets.push(format!("#s{i} = :s{i}"));
        names.insert(format!("#s{i}"), name.to_owned());
        values.insert(format!(":s{i}"), value);
    }

    // Every attribute as read, and every attribute of a client that was absent still absent.
    let mut conditions = Vec::new();
    let mut read_names: Vec<&String> = read.keys().collect();
    read_names.sort();
    for (i, name) in read_names.into_iter().enumerate() {
        conditions.push(format!("#c{i} = :c{i}"));
        names.insert(format!("#c{i}"), name.clone());
        values.insert(format!(":c{i}"), read[name].clone());
    }
    for (i, name) in CLIENT_ATTRIBUTES
        .iter()
        .filter(|a| !read.contains_key(**a))
        .enumerate()
    {
        conditions.push(format!("attribute_not_exists(#a{i})"));
        names.insert(format!("#a{i}"), (*name).to_owned());
    }

    let result = store
        .client()
        .update_item()
        .table_name(store.clients_table())
        .key(attr::CLIENT_ID, AttributeValue::S(id.to_owned()))
        .update_expression(format!("SET {}", sets.join(", ")))
        .condition_expression(conditions.join(" AND "))
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .send()
        .await;
    match result {
        Ok(_) => Ok((Change::Changed, ClientView::from(&next))),
        Err(e) if condition_failed(&e) => match store.get_client(id).await? {
            None => Err(AdminError::NotFound(id.to_owned())),
            Some(_) => Err(AdminError::Conflict(id.to_owned())),
        },
        Err(e) => Err(sdk_error("UpdateItem", e)),
    }
}

/// Every attribute a client record may have.
const CLIENT_ATTRIBUTES: &[&str] = &[
    attr::CLIENT_ID,
    attr::NAME,
    attr::SECRET_HASHES,
    attr::GRANTS,
    attr::SCOPES,
    attr::DEFAULT_SCOPES,
    attr::ACCESS_TTL,
    attr::REFRESH_TTL,
    attr::DISABLED,
    attr::RESOURCE_SERVER,
    attr::CREATED_AT,
    attr::UPDATED_AT,
];

/// Adds a new generated secret beside the current one. A client keeps at most two.
pub async fn rotate_secret(
    store: &DynamoStore,
    id: &str,
    rng: &SystemRandom,
    now: u64,
) -> Result<Credentials, AdminError> {
    let current = get(store, id).await?;
    if current.secret_hashes.len() >= 2 {
        return Err(AdminError::RotationInProgress(id.to_owned()));
    }
    let client_secret = token::generate(rng)?;
    let mut hashes = current.secret_hashes.clone();
    hashes.push(secret::hash_generated(&client_secret, rng)?);
    replace_hashes(store, id, &current.secret_hashes, &hashes, now).await?;
    Ok(Credentials {
        client_id: id.to_owned(),
        client_secret: Secret::new(client_secret),
    })
}

/// Keeps only the newest secret. `Unchanged` when there was only one.
pub async fn finish_rotation(
    store: &DynamoStore,
    id: &str,
    now: u64,
) -> Result<Change, AdminError> {
    let current = get(store, id).await?;
    let Some(newest) = current.secret_hashes.last() else {
        return Err(AdminError::Internal(format!("client {id:?} has no secret")));
    };
    if current.secret_hashes.len() == 1 {
        return Ok(Change::Unchanged);
    }
    replace_hashes(
        store,
        id,
        &current.secret_hashes,
        std::slice::from_ref(newest),
        now,
    )
    .await?;
    Ok(Change::Changed)
}

/// Swaps a client's hashes for `new`, only if they are still exactly `old` (the same count,
/// each present): a concurrent rotation or deletion makes this fail without writing.
async fn replace_hashes(
    store: &DynamoStore,
    id: &str,
    old: &[String],
    new: &[String],
    now: u64,
) -> Result<(), AdminError> {
    let mut condition = String::from("attribute_exists(#id) AND size(#hashes) = :count");
    let mut request = store
        .client()
        .update_item()
        .table_name(store.clients_table())
        .key(attr::CLIENT_ID, AttributeValue::S(id.to_owned()))
        .update_expression("SET #hashes = :new, #updated = :now")
        .expression_attribute_names("#id", attr::CLIENT_ID)
        .expression_attribute_names("#hashes", attr::SECRET_HASHES)
        .expression_attribute_names("#updated", attr::UPDATED_AT)
        .expression_attribute_values(
            ":new",
            AttributeValue::L(new.iter().map(|h| AttributeValue::S(h.clone())).collect()),
        )
        .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
        .expression_attribute_values(":count", AttributeValue::N(old.len().to_string()));
    for (i, hash) in old.iter().enumerate() {
        condition.push_str(&format!(" AND contains(#hashes, :old{i})"));
        request = request
            .expression_attribute_values(format!(":old{i}"), AttributeValue::S(hash.clone()));
    }
    match request.condition_expression(condition).send().await {
        Ok(_) => Ok(()),
        Err(e) if condition_failed(&e) => match store.get_client(id).await? {
            None => Err(AdminError::NotFound(id.to_owned())),
            Some(_) => Err(AdminError::Conflict(id.to_owned())),
        },
        Err(e) => Err(sdk_error("UpdateItem", e)),
    }
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
