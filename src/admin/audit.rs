//! The admin tool's audit trail: every change `oauth-admin` makes is appended as a record
//! (when, who, what, to which client or signing key, and the settings that changed), and
//! `oauth-admin audit` lists them. What a record says of a client is what the tool shows of
//! it ([`ClientView`]), so no secret, hash or token ever enters one. The storage layout is
//! the store's (`store::dynamodb::AUDIT_KEY_PREFIX`).

use super::AdminError;
use super::ops::ClientView;
use super::render::utc;
use crate::oauth::ClientRecord;
use crate::store::{AuditLog, AuditRecord};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::fmt::Write;

/// What changed, as a record holds it: field name to value, or to `{"from": .., "to": ..}`.
pub type Changes = Map<String, Value>;

/// Who runs the tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// An ARN, or a local user name.
    pub name: String,
    /// [`Actor::AWS`] or [`Actor::LOCAL`].
    pub source: &'static str,
}

impl Actor {
    /// From STS GetCallerIdentity.
    pub const AWS: &'static str = "aws";
    /// From the environment, when no AWS identity could be had.
    pub const LOCAL: &'static str = "local";

    pub fn aws(arn: &str) -> Self {
        Actor {
            name: arn.to_owned(),
            source: Actor::AWS,
        }
    }

    /// `user` (`$USER`), else `logname` (`$LOGNAME`), else `unknown`; empty ones skipped.
    pub fn local(user: Option<String>, logname: Option<String>) -> Self {
        let name = [user, logname]
            .into_iter()
            .flatten()
            .map(|n| n.trim().to_owned())
            .find(|n| !n.is_empty())
            .unwrap_or_else(|| "unknown".to_owned());
        Actor {
            name,
            source: Actor::LOCAL,
        }
    }

    /// The local user named by this process's environment.
    pub fn local_from_env() -> Self {
        let var = |name| std::env::var(name).ok();
        Actor::local(var("USER"), var("LOGNAME"))
    }
}

/// A change a command made, before it is stamped and appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub action: &'static str,
    pub client_id: Option<String>,
    pub key_id: Option<String>,
    pub changes: Changes,
}

/// The actions a record names.
pub mod action {
    pub const TABLES_CREATED: &str = "tables.created";
    /// `create-client` and `import-client` (`changes.secret_kinds` tells which).
    pub const CLIENT_CREATED: &str = "client.created";
    /// `update-client` and `set-resource-server`.
    pub const CLIENT_UPDATED: &str = "client.updated";
    pub const CLIENT_DISABLED: &str = "client.disabled";
    pub const CLIENT_ENABLED: &str = "client.enabled";
    pub const CLIENT_DELETED: &str = "client.deleted";
    /// `rotate-secret`: a new secret beside the current one.
    pub const SECRET_ROTATED: &str = "secret.rotated";
    /// `rotate-secret --finish`: only the newest secret kept.
    pub const SECRET_ROTATION_FINISHED: &str = "secret.rotation_finished";
    pub const SIGNING_KEY_CREATED: &str = "signing_key.created";
    pub const SIGNING_KEY_ROTATED: &str = "signing_key.rotated";
}

impl Event {
    pub fn client(action: &'static str, client_id: &str, changes: Changes) -> Self {
        Event {
            action,
            client_id: Some(client_id.to_owned()),
            key_id: None,
            changes,
        }
    }

    pub fn key(action: &'static str, key_id: &str, changes: Changes) -> Self {
        Event {
            action,
            client_id: None,
            key_id: Some(key_id.to_owned()),
            changes,
        }
    }

    /// The record to append: stamped with `now_ms` and `actor`, under a new id.
    pub fn record(
        self,
        actor: &Actor,
        now_ms: u64,
        rng: &SystemRandom,
    ) -> Result<AuditRecord, AdminError> {
        let mut random = [0u8; 8];
        rng.fill(&mut random)?;
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        Ok(AuditRecord {
            // Zero-padded so that ids sort as times do.
            id: format!("{now_ms:015}#{hex}"),
            at_ms: now_ms,
            at: rfc3339_ms(now_ms),
            actor: actor.name.clone(),
            actor_source: actor.source.to_owned(),
            action: self.action.to_owned(),
            client_id: self.client_id,
            key_id: self.key_id,
            changes: self.changes,
        })
    }
}

/// Epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339_ms(ms: u64) -> String {
    let seconds = utc(ms / 1000);
    let (date_time, _) = seconds.split_at(seconds.len() - 1);
    format!("{date_time}.{:03}Z", ms % 1000)
}

/// A client's view as a JSON object: what the tool shows of it, never a hash.
fn view_object(client: &ClientRecord) -> Changes {
    match serde_json::to_value(ClientView::from(client)) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Fields a record leaves out: the id is the record's subject, and the times its own.
const NOT_SETTINGS: &[&str] = &["client_id", "created_at", "updated_at"];

/// A new client's settings.
pub fn settings(client: &ClientRecord) -> Changes {
    let mut m = view_object(client);
    m.retain(|k, _| !NOT_SETTINGS.contains(&k.as_str()));
    m
}

/// Each setting that differs, as `{"from": .., "to": ..}`.
pub fn diff(before: &ClientRecord, after: &ClientRecord) -> Changes {
    let (before, after) = (view_object(before), view_object(after));
    after
        .into_iter()
        .filter(|(k, v)| !NOT_SETTINGS.contains(&k.as_str()) && before.get(k) != Some(v))
        .map(|(k, to)| {
            let from = before.get(&k).cloned().unwrap_or(Value::Null);
            (k, json!({"from": from, "to": to}))
        })
        .collect()
}

/// Appends `event`'s record. The change is made already: a failure says so, and carries
/// what the command would have printed (a new secret, say), so that it is not lost.
pub async fn append(
    store: &impl AuditLog,
    event: Event,
    actor: &Actor,
    now_ms: u64,
    rng: &SystemRandom,
    output: String,
) -> Result<String, AdminError> {
    let unrecorded = |detail: String| AdminError::NotRecorded {
        output: super::Printed::new(output.clone()),
        detail,
    };
    let record = event
        .record(actor, now_ms, rng)
        .map_err(|e| unrecorded(e.to_string()))?;
    match store.append_audit(&record).await {
        Ok(()) => Ok(output),
        Err(e) => Err(unrecorded(AdminError::from(e).to_string())),
    }
}

/// `oauth-admin audit`: the records (about `client_id` only, when given), oldest first;
/// with `limit`, only the newest that many, still oldest first.
pub async fn list(
    store: &impl AuditLog,
    client_id: Option<&str>,
    limit: Option<usize>,
) -> Result<Vec<AuditRecord>, AdminError> {
    let mut records = store.list_audit(client_id).await?;
    if let Some(limit) = limit {
        let skip = records.len().saturating_sub(limit);
        records.drain(..skip);
    }
    Ok(records)
}

/// A record as `audit --json` prints it.
#[derive(Serialize)]
struct RecordView<'a> {
    id: &'a str,
    at_ms: u64,
    at: &'a str,
    actor: &'a str,
    actor_source: &'a str,
    action: &'a str,
    client_id: Option<&'a str>,
    key_id: Option<&'a str>,
    changes: &'a Changes,
}

impl<'a> From<&'a AuditRecord> for RecordView<'a> {
    fn from(r: &'a AuditRecord) -> Self {
        RecordView {
            id: &r.id,
            at_ms: r.at_ms,
            at: &r.at,
            actor: &r.actor,
            actor_source: &r.actor_source,
            action: &r.action,
            client_id: r.client_id.as_deref(),
            key_id: r.key_id.as_deref(),
            changes: &r.changes,
        }
    }
}

/// A JSON array of records, on one line.
pub fn records_json(records: &[AuditRecord]) -> String {
    let views: Vec<RecordView> = records.iter().map(RecordView::from).collect();
    let mut out = serde_json::to_string(&views).unwrap_or_else(|_| "[]".into());
    out.push('\n');
    out
}

/// A record a line: `TIME  ACTION  SUBJECT  by WHO  CHANGES`.
pub fn records_text(records: &[AuditRecord], client_id: Option<&str>) -> String {
    if records.is_empty() {
        return match client_id {
            Some(id) => format!("No audit records for client {id}.\n"),
            None => "No audit records.\n".to_owned(),
        };
    }
    let mut out = String::new();
    for r in records {
        let subject = match (&r.client_id, &r.key_id) {
            (Some(c), _) => format!("client {c}"),
            (None, Some(k)) => format!("key {k}"),
            (None, None) => "-".to_owned(),
        };
        let who = match r.actor_source.as_str() {
            Actor::LOCAL => format!("{} (local user)", r.actor),
            _ => r.actor.clone(),
        };
        let _ = writeln!(
            out,
            "{}  {:<24}  {subject}  by {who}  {}",
            r.at,
            r.action,
            changes_text(&r.changes)
        );
    }
    out
}

/// `field: value` or `field: from -> to`, separated by `; `, values as compact JSON.
fn changes_text(changes: &Changes) -> String {
    if changes.is_empty() {
        return "-".to_owned();
    }
    changes
        .iter()
        .map(|(k, v)| match (v.get("from"), v.get("to")) {
            (Some(from), Some(to)) if v.as_object().is_some_and(|o| o.len() == 2) => {
                format!("{k}: {from} -> {to}")
            }
            _ => format!("{k}: {v}"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_with_milliseconds() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_700_000_000_042), "2023-11-14T22:13:20.042Z");
    }

    #[test]
    fn the_local_user_is_user_else_logname_else_unknown() {
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(Actor::local(s("alice"), s("bob")).name, "alice");
        assert_eq!(Actor::local(None, s("bob")).name, "bob");
        assert_eq!(Actor::local(s(""), s("bob")).name, "bob");
        assert_eq!(Actor::local(None, None).name, "unknown");
        assert_eq!(Actor::local(None, None).source, "local");
    }

    #[test]
    fn a_diff_names_only_what_changed_and_never_a_hash() {
        let rng = SystemRandom::new();
        let hash = crate::oauth::secret::hash_generated("s3cret", &rng).unwrap();
        let before = ClientRecord::new("c1", "App", hash.clone(), 1);
        let mut after = before.clone();
        after.scopes = vec!["a".into()];
        after.access_ttl = Some(60);
        after.updated_at = 2;
        after.secret_hashes.push(hash.clone());
        let d = diff(&before, &after);
        assert_eq!(
            Value::Object(d.clone()),
            json!({
                "scopes": {"from": [], "to": ["a"]},
                "access_ttl": {"from": null, "to": 60},
                "active_secrets": {"from": 1, "to": 2},
                "secret_kinds": {"from": ["generated"], "to": ["generated", "generated"]},
            })
        );
        let all = format!("{d:?}{:?}", settings(&after));
        assert!(!all.contains(&hash) && !all.contains('$'), "{all}");
    }

    #[test]
    fn ids_sort_as_times_do_and_are_unique() {
        let rng = SystemRandom::new();
        let actor = Actor::local(None, None);
        let event = || Event::client(action::CLIENT_ENABLED, "c1", Changes::new());
        let a = event().record(&actor, 999, &rng).unwrap();
        let b = event().record(&actor, 1000, &rng).unwrap();
        let c = event().record(&actor, 1000, &rng).unwrap();
        assert!(
            a.id < b.id && b.id.starts_with("000000000001000#"),
            "{a:?} {b:?}"
        );
        assert_ne!(b.id, c.id);
    }

    #[test]
    fn a_record_is_one_line() {
        let rng = SystemRandom::new();
        let mut changes = Changes::new();
        changes.insert("disabled".into(), json!({"from": false, "to": true}));
        changes.insert("tokens_revoked".into(), json!(2));
        let r = Event::client(action::CLIENT_DISABLED, "app", changes)
            .record(
                &Actor::local(Some("alice".into()), None),
                1_700_000_000_042,
                &rng,
            )
            .unwrap();
        assert_eq!(
            records_text(&[r], None),
            "2023-11-14T22:13:20.042Z  client.disabled           client app  by alice (local \
             user)  disabled: false -> true; tokens_revoked: 2\n"
        );
    }
}
