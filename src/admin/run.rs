//! Runs one checked command against a store and returns what to print: the command
//! dispatch of `oauth-admin`, with the text of its answers. The binary only parses the
//! command line, reads the imported secret and sets up DynamoDB around it.

use super::audit::{self, Actor, Changes, Event, action};
use super::cli::Command;
use super::{AdminError, keys, ops, render};
use crate::store::dynamodb::DynamoStore;
use crate::store::memory::MemoryStore;
use crate::store::tables::TablesReport;
use crate::store::{AuditLog, ClientAdmin, PutKeyring, Quotas};
use ring::rand::SystemRandom;
use std::future::Future;
use std::io::IsTerminal;

/// The tables a store keeps clients and tokens in: `create-tables` makes them, and the
/// tool's messages name them.
pub trait Tables {
    /// The clients table and the tokens table.
    fn table_names(&self) -> (&str, &str);

    fn create_tables(&self) -> impl Future<Output = Result<TablesReport, AdminError>> + Send;
}

impl Tables for DynamoStore {
    fn table_names(&self) -> (&str, &str) {
        (self.clients_table(), self.tokens_table())
    }

    async fn create_tables(&self) -> Result<TablesReport, AdminError> {
        ops::create_tables(self).await
    }
}

/// Nothing to create: its "tables" exist as long as it does.
impl Tables for MemoryStore {
    fn table_names(&self) -> (&str, &str) {
        ("in-memory clients", "in-memory tokens")
    }

    async fn create_tables(&self) -> Result<TablesReport, AdminError> {
        Ok(TablesReport {
            created: Vec::new(),
            ttl_enabled: false,
        })
    }
}

impl Command {
    /// Whether the command takes a secret on stdin (`import-client`).
    pub fn reads_secret(&self) -> bool {
        matches!(self, Command::ImportClient { .. })
    }

    /// Whether the command may change something, and so append to the audit trail (and
    /// needs to know who runs it).
    pub fn may_change(&self) -> bool {
        !matches!(
            self,
            Command::ListClients { .. } | Command::ShowClient { .. } | Command::Audit { .. }
        )
    }
}

/// The secret `import-client` registers, read from stdin, which must not be a terminal.
pub fn secret_from_stdin() -> Result<String, AdminError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(AdminError::Usage(
            "import-client reads the secret from stdin: pipe or redirect it \
             (e.g. `oauth-admin import-client ... < secret.txt`)"
                .into(),
        ));
    }
    ops::read_secret(stdin.lock())
}

/// What the signing-key commands need beside the store: the key service, and how long a
/// new key is published before it signs (JWT_KEY_PUBLISH_SECONDS).
pub struct KeyService<'a> {
    pub kms: &'a aws_sdk_kms::Client,
    pub publish_seconds: u64,
}

/// Who runs a command, and when (epoch milliseconds): what its audit record says.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub actor: &'a Actor,
    pub now_ms: u64,
}

/// Runs `command`; everything to print on stdout once it has succeeded. A command that
/// changed something appends its audit record first: when that fails, the change stands
/// and the error ([`AdminError::NotRecorded`]) carries what to print all the same.
/// `imported` is the secret `import-client` registers; `keys` serves the signing-key
/// commands.
pub async fn execute<S: ClientAdmin + Tables + PutKeyring + AuditLog + Quotas>(
    store: &S,
    command: Command,
    imported: Option<&str>,
    keys: Option<&KeyService<'_>>,
    rng: &SystemRandom,
    context: &Context<'_>,
) -> Result<String, AdminError> {
    let (clients_table, tokens_table) = store.table_names();
    let (output, event) = dispatch(store, command, imported, keys, rng, context.now_ms / 1000)
        .await
        .map_err(|e| e.with_table_hint(clients_table, tokens_table))?;
    match event {
        None => Ok(output),
        Some(event) => {
            audit::append(store, event, context.actor, context.now_ms, rng, output).await
        }
    }
}

/// A client event, when something changed.
fn client_event(id: &str, action: &'static str, changes: Changes) -> Option<Event> {
    (!changes.is_empty()).then(|| Event::client(action, id, changes))
}

/// What to print, and what to record of the change made, if any.
async fn dispatch<S: ClientAdmin + Tables + PutKeyring + AuditLog + Quotas>(
    store: &S,
    command: Command,
    imported: Option<&str>,
    keys: Option<&KeyService<'_>>,
    rng: &SystemRandom,
    now: u64,
) -> Result<(String, Option<Event>), AdminError> {
    let (clients_table, tokens_table) = store.table_names();
    let changed = |change: ops::Change, done: String, already: String| match change {
        ops::Change::Changed => done + "\n",
        ops::Change::Unchanged => already + "\n",
    };
    Ok(match command {
        Command::CreateTables => {
            let report = store.create_tables().await?;
            let text = render::tables_text(&report, clients_table, tokens_table);
            let event = (!report.created.is_empty() || report.ttl_enabled).then(|| {
                let mut changes = Changes::new();
                changes.insert("created".into(), report.created.clone().into());
                changes.insert("ttl_enabled".into(), report.ttl_enabled.into());
                Event {
                    action: action::TABLES_CREATED,
                    client_id: None,
                    key_id: None,
                    changes,
                }
            });
            (text, event)
        }
        Command::CreateClient { id, spec, json } => {
            let (created, changes) =
                ops::create_client(store, id.as_deref(), &spec, rng, now).await?;
            let text = if json {
                render::credentials_json(&created)
            } else {
                render::created_text(&created, &spec.name)
            };
            let event = Event::client(action::CLIENT_CREATED, &created.client_id, changes);
            (text, Some(event))
        }
        Command::ImportClient { id, spec } => {
            let secret = imported.ok_or_else(|| AdminError::Input("no secret read".into()))?;
            let changes = ops::import_client(store, &id, &spec, secret, rng, now).await?;
            let text = format!(
                "Imported client {id} ({}); its secret is stored as a PBKDF2 hash.\n",
                spec.name
            );
            (
                text,
                Some(Event::client(action::CLIENT_CREATED, &id, changes)),
            )
        }
        Command::ListClients { json } => {
            let views = ops::list_clients(store).await?;
            let text = if json {
                render::clients_json(&views)
            } else {
                render::clients_text(&views, clients_table)
            };
            (text, None)
        }
        Command::ShowClient { id, json } => {
            let view = ops::show_client(store, &id, now).await?;
            let text = if json {
                render::client_json(&view)
            } else {
                render::client_text(&view)
            };
            (text, None)
        }
        Command::DisableClient { id, settle } => {
            let (change, revoked, changes) = ops::disable_client(store, &id, now, settle).await?;
            let text = changed(
                change,
                format!("Disabled client {id}; {}.", revoked_text(revoked)),
                format!(
                    "Client {id} was already disabled; {}.",
                    revoked_text(revoked)
                ),
            );
            (text, client_event(&id, action::CLIENT_DISABLED, changes))
        }
        Command::EnableClient { id } => {
            let (change, changes) = ops::set_disabled(store, &id, false, now).await?;
            let text = changed(
                change,
                format!("Enabled client {id}."),
                format!("Client {id} was already enabled."),
            );
            (text, client_event(&id, action::CLIENT_ENABLED, changes))
        }
        Command::DeleteClient { id, settle } => {
            let (deletion, revoked) = ops::delete_client(store, &id, now, settle).await?;
            let deleted = deletion == ops::Deletion::Deleted;
            let text = if deleted {
                format!("Deleted client {id}; {}.\n", revoked_text(revoked))
            } else {
                format!(
                    "Client {id} has no record (already deleted, or never created); {}.\n",
                    revoked_text(revoked)
                )
            };
            let mut changes = Changes::new();
            if deleted || revoked > 0 {
                changes.insert("record_deleted".into(), deleted.into());
                changes.insert("tokens_revoked".into(), revoked.into());
            }
            (text, client_event(&id, action::CLIENT_DELETED, changes))
        }
        Command::UpdateClient { id, changes, json } => {
            let (change, view, changed) = ops::update_client(store, &id, &changes, now).await?;
            let text = if json {
                render::client_json(&view)
            } else {
                let head = match change {
                    ops::Change::Changed => format!("Updated client {id}."),
                    ops::Change::Unchanged => {
                        format!("Client {id} already had these settings; nothing was written.")
                    }
                };
                format!("{head}\n\n{}", render::client_text(&view))
            };
            (text, client_event(&id, action::CLIENT_UPDATED, changed))
        }
        Command::RotateSecret { id, json } => {
            let (rotated, changes) = ops::rotate_secret(store, &id, rng, now).await?;
            let text = if json {
                render::credentials_json(&rotated)
            } else {
                render::rotated_text(&rotated)
            };
            (
                text,
                Some(Event::client(action::SECRET_ROTATED, &id, changes)),
            )
        }
        Command::FinishRotation { id } => {
            let (change, changes) = ops::finish_rotation(store, &id, now).await?;
            let text = changed(
                change,
                format!(
                    "Client {id} now has only its newest secret; the older one no longer works."
                ),
                format!("Client {id} has one secret only: nothing to finish."),
            );
            (
                text,
                client_event(&id, action::SECRET_ROTATION_FINISHED, changes),
            )
        }
        Command::SetResourceServer { id, value } => {
            let what = if value {
                "a resource server"
            } else {
                "not a resource server"
            };
            let (change, changes) = ops::set_resource_server(store, &id, value, now).await?;
            let text = changed(
                change,
                format!("Client {id} is now {what}."),
                format!("Client {id} was already {what}."),
            );
            (text, client_event(&id, action::CLIENT_UPDATED, changes))
        }
        Command::CreateSigningKey { kms_key_id } => {
            let service = keys.ok_or_else(no_key_service)?;
            let report =
                keys::create_signing_key(store, service.kms, kms_key_id.as_deref(), now).await?;
            let done = match report.created {
                true => format!(
                    "Signing key {} created, its private half sealed by KMS key {}; it signs \
                     from now.",
                    report.kid, report.kms_key_id
                ),
                false => format!(
                    "A signing key exists already ({}, KMS key {}); nothing was written. \
                     `oauth-admin rotate-signing-key` makes the next one.",
                    report.kid, report.kms_key_id
                ),
            };
            let text = format!("{done}\nPublished keys: {}.\n", report.published.join(", "));
            let event = report.created.then(|| {
                Event::key(
                    action::SIGNING_KEY_CREATED,
                    &report.kid,
                    key_changes(&report),
                )
            });
            (text, event)
        }
        Command::RotateSigningKey => {
            let service = keys.ok_or_else(no_key_service)?;
            let report =
                keys::rotate_signing_key(store, service.kms, service.publish_seconds, now).await?;
            let text = format!(
                "Signing key {} published now; it signs from {} (in {} s, \
                 JWT_KEY_PUBLISH_SECONDS).\nPublished keys: {}.\n",
                report.kid,
                report.active_from,
                report.active_from.saturating_sub(now),
                report.published.join(", ")
            );
            let event = Event::key(
                action::SIGNING_KEY_ROTATED,
                &report.kid,
                key_changes(&report),
            );
            (text, Some(event))
        }
        Command::Audit {
            client,
            limit,
            json,
        } => {
            let records = audit::list(store, client.as_deref(), limit).await?;
            let text = if json {
                audit::records_json(&records)
            } else {
                audit::records_text(&records, client.as_deref())
            };
            (text, None)
        }
    })
}

/// What a signing-key record says: the public facts only (the KMS key that seals it, when
/// it signs from, which keys are published), never key material.
fn key_changes(report: &keys::KeyReport) -> Changes {
    let mut changes = Changes::new();
    changes.insert("kms_key_id".into(), report.kms_key_id.clone().into());
    changes.insert("active_from".into(), report.active_from.into());
    changes.insert("published".into(), report.published.clone().into());
    changes
}

fn no_key_service() -> AdminError {
    AdminError::Input("no key service (KMS) is configured for this command".into())
}

fn revoked_text(n: u64) -> String {
    match n {
        1 => "revoked its 1 live token".to_owned(),
        n => format!("revoked its {n} live tokens"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::cli::{ClientChanges, ClientSpec};
    use crate::oauth::GrantType;
    use std::time::Duration;

    const NOW: u64 = 1_700_000_000;
    const NOW_MS: u64 = NOW * 1000;

    fn actor() -> Actor {
        Actor::local(Some("alice".into()), None)
    }

    async fn execute_at(
        store: &MemoryStore,
        command: Command,
        imported: Option<&str>,
        now_ms: u64,
    ) -> Result<String, AdminError> {
        let actor = actor();
        let context = Context {
            actor: &actor,
            now_ms,
        };
        execute(
            store,
            command,
            imported,
            None,
            &SystemRandom::new(),
            &context,
        )
        .await
    }

    fn spec(name: &str) -> ClientSpec {
        ClientSpec {
            name: name.into(),
            scopes: vec!["quotes:read".into()],
            default_scopes: Vec::new(),
            grants: GrantType::ALL.to_vec(),
            access_ttl: None,
            refresh_ttl: None,
            resource_server: false,
            token_format: None,
            audiences: Vec::new(),
            max_tokens_per_hour: None,
        }
    }

    async fn run(store: &MemoryStore, command: Command) -> Result<String, AdminError> {
        execute_at(store, command, None, NOW_MS).await
    }

    fn id(s: &str) -> String {
        s.to_owned()
    }

    #[tokio::test]
    async fn a_quota_is_set_shown_with_this_hours_count_and_removed() {
        let store = MemoryStore::new();
        let show = || async {
            run(
                &store,
                Command::ShowClient {
                    id: id("app"),
                    json: false,
                },
            )
            .await
            .unwrap()
        };
        let mut limited = spec("App");
        limited.max_tokens_per_hour = Some(2);
        run(
            &store,
            Command::CreateClient {
                id: Some(id("app")),
                spec: limited,
                json: false,
            },
        )
        .await
        .unwrap();
        assert!(
            show()
                .await
                .contains("token quota:     2 per hour (0 this hour)\n")
        );
        let window = crate::oauth::grant::quota_window(NOW);
        assert!(
            store
                .take_quota("app", window, 2, window + 7200)
                .await
                .unwrap()
        );
        assert!(
            show()
                .await
                .contains("token quota:     2 per hour (1 this hour)\n")
        );

        let set = |quota| Command::UpdateClient {
            id: id("app"),
            changes: ClientChanges {
                max_tokens_per_hour: Some(quota),
                ..ClientChanges::default()
            },
            json: false,
        };
        run(&store, set(Some(500))).await.unwrap();
        assert!(
            show()
                .await
                .contains("token quota:     500 per hour (1 this hour)\n")
        );
        run(&store, set(None)).await.unwrap();
        assert!(show().await.contains("token quota:     none\n"));
        let stored = crate::store::GetClient::get_client(&store, "app")
            .await
            .unwrap();
        assert_eq!(stored.unwrap().max_tokens_per_hour, None);
    }

    #[tokio::test]
    async fn a_clients_life_in_the_tools_words() {
        let store = MemoryStore::new();
        assert_eq!(
            run(&store, Command::CreateTables).await.unwrap(),
            "clients table in-memory clients: already exists\n\
             tokens table in-memory tokens: already exists\n\
             TTL on expires_at: already enabled\n"
        );
        assert_eq!(
            run(&store, Command::ListClients { json: false })
                .await
                .unwrap(),
            "No clients in table in-memory clients.\n"
        );
        let created = run(
            &store,
            Command::CreateClient {
                id: Some(id("app")),
                spec: spec("App"),
                json: false,
            },
        )
        .await
        .unwrap();
        assert!(created.starts_with("Created client app (App).\n\n  client_id:     app\n"));
        assert!(created.contains("will not be shown again"));

        let shown = run(
            &store,
            Command::ShowClient {
                id: id("app"),
                json: false,
            },
        )
        .await
        .unwrap();
        assert!(shown.contains("scopes:          quotes:read\n"), "{shown}");
        assert!(
            shown.contains("created:         2023-11-14T22:13:20Z\n"),
            "{shown}"
        );

        let update = |name: &str| Command::UpdateClient {
            id: id("app"),
            changes: ClientChanges {
                name: Some(name.into()),
                ..ClientChanges::default()
            },
            json: false,
        };
        let updated = run(&store, update("Renamed")).await.unwrap();
        assert!(
            updated.starts_with("Updated client app.\n\nclient_id:"),
            "{updated}"
        );
        let same = run(&store, update("Renamed")).await.unwrap();
        assert!(
            same.starts_with("Client app already had these settings; nothing was written.\n"),
            "{same}"
        );

        // Each run twice: the second finds the client as the first left it.
        let app = id("app");
        for (command, first, second) in [
            (
                Command::SetResourceServer {
                    id: app.clone(),
                    value: true,
                },
                "Client app is now a resource server.\n",
                "Client app was already a resource server.\n",
            ),
            (
                Command::FinishRotation { id: app.clone() },
                "Client app has one secret only: nothing to finish.\n",
                "Client app has one secret only: nothing to finish.\n",
            ),
            (
                Command::DisableClient {
                    id: app.clone(),
                    settle: Duration::ZERO,
                },
                "Disabled client app; revoked its 0 live tokens.\n",
                "Client app was already disabled; revoked its 0 live tokens.\n",
            ),
            (
                Command::EnableClient { id: app.clone() },
                "Enabled client app.\n",
                "Client app was already enabled.\n",
            ),
            (
                Command::DeleteClient {
                    id: app.clone(),
                    settle: Duration::ZERO,
                },
                "Deleted client app; revoked its 0 live tokens.\n",
                "Client app has no record (already deleted, or never created); \
                 revoked its 0 live tokens.\n",
            ),
        ] {
            assert_eq!(run(&store, command.clone()).await.unwrap(), first);
            assert_eq!(run(&store, command).await.unwrap(), second);
        }
        assert_eq!(
            run(&store, Command::EnableClient { id: id("app") })
                .await
                .unwrap_err()
                .to_string(),
            "no client with id \"app\""
        );
    }

    #[tokio::test]
    async fn rotation_prints_the_new_secret_once_and_how_to_finish() {
        let store = MemoryStore::new();
        let created = run(
            &store,
            Command::CreateClient {
                id: None,
                spec: spec("App"),
                json: true,
            },
        )
        .await
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&created).unwrap();
        let app = v["client_id"].as_str().unwrap().to_owned();
        let rotated = run(
            &store,
            Command::RotateSecret {
                id: app.clone(),
                json: false,
            },
        )
        .await
        .unwrap();
        assert!(rotated.contains(&format!("oauth-admin rotate-secret {app} --finish")));
        let err = run(
            &store,
            Command::RotateSecret {
                id: app.clone(),
                json: true,
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(err, AdminError::RotationInProgress(_)), "{err:?}");
        assert_eq!(
            run(&store, Command::FinishRotation { id: app.clone() })
                .await
                .unwrap(),
            format!(
                "Client {app} now has only its newest secret; the older one no longer works.\n"
            )
        );
    }

    #[tokio::test]
    async fn import_registers_the_secret_it_is_given() {
        let store = MemoryStore::new();
        let import = || Command::ImportClient {
            id: id("legacy"),
            spec: spec("Legacy"),
        };
        assert!(matches!(
            execute_at(&store, import(), None, NOW_MS).await,
            Err(AdminError::Input(_))
        ));
        assert_eq!(
            execute_at(&store, import(), Some("a+b c%"), NOW_MS)
                .await
                .unwrap(),
            "Imported client legacy (Legacy); its secret is stored as a PBKDF2 hash.\n"
        );
        let err = execute_at(&store, import(), Some("other"), NOW_MS)
            .await
            .unwrap_err();
        assert_eq!(err, AdminError::AlreadyExists(id("legacy")));
    }
}

#[cfg(test)]
mod audit_tests {
    use super::*;
    use crate::admin::cli::{ClientChanges, ClientSpec};
    use crate::oauth::GrantType;
    use crate::store::{AuditRecord, GetClient};
    use serde_json::{Value, json};
    use std::time::Duration;

    const T0: u64 = 1_700_000_000_000;

    fn spec(name: &str) -> ClientSpec {
        ClientSpec {
            name: name.into(),
            scopes: vec!["quotes:read".into()],
            default_scopes: Vec::new(),
            grants: vec![GrantType::ClientCredentials],
            access_ttl: Some(60),
            refresh_ttl: None,
            resource_server: false,
            token_format: None,
            audiences: Vec::new(),
            max_tokens_per_hour: None,
        }
    }

    /// Runs commands a millisecond apart, as `alice`.
    struct Tool {
        store: MemoryStore,
        actor: Actor,
        now_ms: std::cell::Cell<u64>,
    }

    impl Tool {
        fn new() -> Self {
            Tool {
                store: MemoryStore::new(),
                actor: Actor::local(Some("alice".into()), None),
                now_ms: std::cell::Cell::new(T0),
            }
        }

        async fn run_with(
            &self,
            command: Command,
            imported: Option<&str>,
        ) -> Result<String, AdminError> {
            let now_ms = self.now_ms.get() + 1;
            self.now_ms.set(now_ms);
            let context = Context {
                actor: &self.actor,
                now_ms,
            };
            let rng = SystemRandom::new();
            execute(&self.store, command, imported, None, &rng, &context).await
        }

        async fn run(&self, command: Command) -> Result<String, AdminError> {
            self.run_with(command, None).await
        }

        async fn records(&self) -> Vec<AuditRecord> {
            self.store.list_audit(None).await.unwrap()
        }

        /// Runs `command` and returns the records it appended.
        async fn appended(&self, command: Command) -> Vec<AuditRecord> {
            let before = self.records().await.len();
            self.run(command.clone())
                .await
                .unwrap_or_else(|e| panic!("{command:?}: {e}"));
            self.records().await.split_off(before)
        }
    }

    fn id(s: &str) -> String {
        s.to_owned()
    }

    /// The one record appended: its action, client and changes, stamped as the tool ran.
    fn only(records: Vec<AuditRecord>, at_ms: u64) -> (String, Option<String>, Value) {
        assert_eq!(records.len(), 1, "{records:#?}");
        let r = records.into_iter().next().unwrap();
        assert_eq!(
            (r.actor.as_str(), r.actor_source.as_str()),
            ("alice", "local")
        );
        assert_eq!(r.at_ms, at_ms);
        assert_eq!(r.at, audit::rfc3339_ms(at_ms));
        assert_eq!(r.key_id, None);
        (r.action, r.client_id, Value::Object(r.changes))
    }

    #[tokio::test]
    async fn every_change_appends_exactly_its_record_and_no_change_none() {
        let tool = Tool::new();
        let now = || tool.now_ms.get();
        // The in-memory tables exist already: nothing created, nothing recorded.
        assert!(tool.appended(Command::CreateTables).await.is_empty());

        let created = tool
            .appended(Command::CreateClient {
                id: Some(id("app")),
                spec: spec("App"),
                json: true,
            })
            .await;
        assert_eq!(
            only(created, now()),
            (
                "client.created".into(),
                Some(id("app")),
                json!({
                    "name": "App", "disabled": false, "resource_server": false,
                    "active_secrets": 1, "secret_kinds": ["generated"],
                    "grants": ["client_credentials"], "scopes": ["quotes:read"],
                    "default_scopes": [], "access_ttl": 60, "refresh_ttl": null,
                    "token_format": null, "audiences": [], "max_tokens_per_hour": null,
                })
            )
        );
        let imported = tool
            .run_with(
                Command::ImportClient {
                    id: id("legacy"),
                    spec: spec("Legacy"),
                },
                Some("legacy secret"),
            )
            .await;
        assert!(imported.is_ok(), "{imported:?}");
        let (action, client, changes) = only(tool.records().await.split_off(1), now());
        assert_eq!(
            (action.as_str(), client.as_deref()),
            ("client.created", Some("legacy"))
        );
        assert_eq!(changes["secret_kinds"], json!(["imported"]));

        let app = id("app");
        let rename = |name: &str| Command::UpdateClient {
            id: app.clone(),
            changes: ClientChanges {
                name: Some(name.into()),
                access_ttl: Some(60),
                ..ClientChanges::default()
            },
            json: false,
        };
        for (command, action, changes) in [
            (
                rename("Renamed"),
                "client.updated",
                json!({"name": {"from": "App", "to": "Renamed"}}),
            ),
            (
                Command::SetResourceServer {
                    id: app.clone(),
                    value: true,
                },
                "client.updated",
                json!({"resource_server": {"from": false, "to": true}}),
            ),
            (
                Command::RotateSecret {
                    id: app.clone(),
                    json: true,
                },
                "secret.rotated",
                json!({
                    "active_secrets": {"from": 1, "to": 2},
                    "secret_kinds": {"from": ["generated"], "to": ["generated", "generated"]},
                }),
            ),
            (
                Command::FinishRotation { id: app.clone() },
                "secret.rotation_finished",
                json!({
                    "active_secrets": {"from": 2, "to": 1},
                    "secret_kinds": {"from": ["generated", "generated"], "to": ["generated"]},
                }),
            ),
            (
                Command::DisableClient {
                    id: app.clone(),
                    settle: Duration::ZERO,
                },
                "client.disabled",
                json!({"disabled": {"from": false, "to": true}}),
            ),
            (
                Command::EnableClient { id: app.clone() },
                "client.enabled",
                json!({"disabled": {"from": true, "to": false}}),
            ),
            (
                Command::DeleteClient {
                    id: app.clone(),
                    settle: Duration::ZERO,
                },
                "client.deleted",
                json!({"record_deleted": true, "tokens_revoked": 0}),
            ),
        ] {
            let label = format!("{command:?}");
            let appended = tool.appended(command.clone()).await;
            assert_eq!(
                only(appended, now()),
                (action.to_owned(), Some(app.clone()), changes),
                "{label}"
            );
            // Run again, each finds nothing to change, and records nothing.
            if !matches!(command, Command::RotateSecret { .. }) {
                assert!(tool.appended(command).await.is_empty(), "{label} again");
            }
        }
        // Reading records nothing; neither does a command that fails.
        let before = tool.records().await.len();
        for command in [
            Command::ListClients { json: false },
            Command::ShowClient {
                id: id("legacy"),
                json: true,
            },
            Command::Audit {
                client: None,
                limit: None,
                json: false,
            },
        ] {
            assert!(tool.appended(command).await.is_empty());
        }
        assert!(tool.run(rename("x")).await.is_err(), "app is deleted");
        assert_eq!(tool.records().await.len(), before);
    }

    #[tokio::test]
    async fn audit_lists_oldest_first_filters_by_client_and_keeps_the_newest_n() {
        let tool = Tool::new();
        for name in ["a", "b"] {
            tool.run(Command::CreateClient {
                id: Some(id(name)),
                spec: spec(name),
                json: true,
            })
            .await
            .unwrap();
        }
        tool.run(Command::DisableClient {
            id: id("a"),
            settle: Duration::ZERO,
        })
        .await
        .unwrap();
        let audit = |client: Option<&str>, limit, json| Command::Audit {
            client: client.map(str::to_owned),
            limit,
            json,
        };
        let by = "by alice (local user)";
        let all = tool.run(audit(None, None, false)).await.unwrap();
        let lines: Vec<&str> = all.lines().collect();
        assert_eq!(lines.len(), 3, "{all}");
        assert!(lines[0].starts_with("2023-11-14T22:13:20.001Z  client.created "));
        assert!(lines[0].contains(&format!("  client a  {by}  ")), "{all}");
        assert!(lines[1].starts_with("2023-11-14T22:13:20.002Z  client.created "));
        assert!(lines[1].contains("  client b  "), "{all}");
        assert!(lines[2].starts_with("2023-11-14T22:13:20.003Z  client.disabled "));
        assert!(
            lines[2].ends_with(&format!("  client a  {by}  disabled: false -> true")),
            "{all}"
        );

        let of_a = tool.run(audit(Some("a"), None, false)).await.unwrap();
        assert_eq!(of_a.lines().collect::<Vec<_>>(), [lines[0], lines[2]]);
        let newest = tool.run(audit(None, Some(2), false)).await.unwrap();
        assert_eq!(newest.lines().collect::<Vec<_>>(), [lines[1], lines[2]]);
        assert_eq!(
            tool.run(audit(Some("zz"), None, false)).await.unwrap(),
            "No audit records for client zz.\n"
        );

        let json: Value =
            serde_json::from_str(&tool.run(audit(Some("a"), None, true)).await.unwrap()).unwrap();
        let records = json.as_array().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1]["action"], "client.disabled");
        assert_eq!(records[1]["client_id"], "a");
        assert_eq!(records[1]["key_id"], Value::Null);
        assert_eq!(records[1]["at_ms"], T0 + 3);
        assert_eq!(records[1]["at"], "2023-11-14T22:13:20.003Z");
        assert_eq!(records[1]["actor"], "alice");
        assert_eq!(records[1]["actor_source"], "local");
        assert_eq!(
            records[1]["changes"],
            json!({"disabled": {"from": false, "to": true}})
        );
    }

    #[tokio::test]
    async fn records_hold_no_secret_and_no_hash() {
        let tool = Tool::new();
        let created = tool
            .run(Command::CreateClient {
                id: Some(id("app")),
                spec: spec("App"),
                json: true,
            })
            .await
            .unwrap();
        let rotated = tool
            .run(Command::RotateSecret {
                id: id("app"),
                json: true,
            })
            .await
            .unwrap();
        tool.run_with(
            Command::ImportClient {
                id: id("legacy"),
                spec: spec("Legacy"),
            },
            Some("imported-secret-value"),
        )
        .await
        .unwrap();
        let secret = |out: &str| {
            let v: Value = serde_json::from_str(out).unwrap();
            v["client_secret"].as_str().unwrap().to_owned()
        };
        let mut forbidden = vec![
            secret(&created),
            secret(&rotated),
            "imported-secret-value".to_owned(),
        ];
        for client in ["app", "legacy"] {
            let record = tool.store.get_client(client).await.unwrap().unwrap();
            forbidden.extend(record.secret_hashes);
        }
        assert_eq!(forbidden.len(), 6, "three secrets, three hashes");
        let records = tool.records().await;
        assert_eq!(records.len(), 3);
        let listed = format!(
            "{records:?}{}{}",
            audit::records_json(&records),
            audit::records_text(&records, None)
        );
        for f in &forbidden {
            assert!(!listed.contains(f.as_str()), "{f} in {listed}");
        }
        assert!(!listed.contains('$'), "no hash string: {listed}");
    }

    #[tokio::test]
    async fn a_change_not_recorded_says_so_exits_3_and_still_prints_the_secret() {
        let tool = Tool::new();
        tool.store.set_audit_unavailable(true);
        let err = tool
            .run(Command::CreateClient {
                id: Some(id("app")),
                spec: spec("App"),
                json: true,
            })
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert_eq!(
            err.to_string(),
            "the change was made, but it is NOT recorded in the audit trail (DynamoDB is \
             unreachable or unavailable: PutItem: the audit trail is unavailable); record it \
             by other means"
        );
        let AdminError::NotRecorded { output, .. } = &err else {
            panic!("{err:?}")
        };
        let printed: Value = serde_json::from_str(output.expose()).unwrap();
        assert_eq!(printed["client_id"], "app");
        assert_eq!(printed["client_secret"].as_str().map(str::len), Some(40));
        // The secret shows nowhere but in what is printed.
        let secret = printed["client_secret"].as_str().unwrap();
        assert!(!format!("{err:?}").contains(secret));
        assert!(!err.to_string().contains(secret));
        // The change stands; nothing reads as recorded.
        assert!(tool.store.get_client("app").await.unwrap().is_some());
        tool.store.set_audit_unavailable(false);
        assert!(tool.records().await.is_empty());
        // A command that changes nothing does not need the trail.
        tool.store.set_audit_unavailable(true);
        assert!(
            tool.run(Command::EnableClient { id: id("app") })
                .await
                .is_ok()
        );
    }
}
