//! Runs one checked command against a store and returns what to print: the command
//! dispatch of `oauth-admin`, with the text of its answers. The binary only parses the
//! command line, reads the imported secret and sets up DynamoDB around it.

use super::cli::Command;
use super::{AdminError, keys, ops, render};
use crate::store::dynamodb::DynamoStore;
use crate::store::memory::MemoryStore;
use crate::store::tables::TablesReport;
use crate::store::{ClientAdmin, PutKeyring};
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

/// Runs `command` at time `now` (epoch seconds); everything to print on stdout once it has
/// succeeded. `imported` is the secret `import-client` registers; `keys` serves the
/// signing-key commands.
pub async fn execute<S: ClientAdmin + Tables + PutKeyring>(
    store: &S,
    command: Command,
    imported: Option<&str>,
    keys: Option<&KeyService<'_>>,
    rng: &SystemRandom,
    now: u64,
) -> Result<String, AdminError> {
    let (clients_table, tokens_table) = store.table_names();
    dispatch(store, command, imported, keys, rng, now)
        .await
        .map_err(|e| e.with_table_hint(clients_table, tokens_table))
}

async fn dispatch<S: ClientAdmin + Tables + PutKeyring>(
    store: &S,
    command: Command,
    imported: Option<&str>,
    keys: Option<&KeyService<'_>>,
    rng: &SystemRandom,
    now: u64,
) -> Result<String, AdminError> {
    let (clients_table, tokens_table) = store.table_names();
    let changed = |change: ops::Change, done: String, already: String| match change {
        ops::Change::Changed => done + "\n",
        ops::Change::Unchanged => already + "\n",
    };
    Ok(match command {
        Command::CreateTables => {
            let report = store.create_tables().await?;
            render::tables_text(&report, clients_table, tokens_table)
        }
        Command::CreateClient { id, spec, json } => {
            let created = ops::create_client(store, id.as_deref(), &spec, rng, now).await?;
            if json {
                render::credentials_json(&created)
            } else {
                render::created_text(&created, &spec.name)
            }
        }
        Command::ImportClient { id, spec } => {
            let secret = imported.ok_or_else(|| AdminError::Input("no secret read".into()))?;
            ops::import_client(store, &id, &spec, secret, rng, now).await?;
            format!(
                "Imported client {id} ({}); its secret is stored as a PBKDF2 hash.\n",
                spec.name
            )
        }
        Command::ListClients { json } => {
            let views = ops::list_clients(store).await?;
            if json {
                render::clients_json(&views)
            } else {
                render::clients_text(&views, clients_table)
            }
        }
        Command::ShowClient { id, json } => {
            let view = ops::show_client(store, &id).await?;
            if json {
                render::client_json(&view)
            } else {
                render::client_text(&view)
            }
        }
        Command::DisableClient { id } => {
            let (change, revoked) = ops::disable_client(store, &id, now).await?;
            changed(
                change,
                format!("Disabled client {id}; {}.", revoked_text(revoked)),
                format!(
                    "Client {id} was already disabled; {}.",
                    revoked_text(revoked)
                ),
            )
        }
        Command::EnableClient { id } => changed(
            ops::set_disabled(store, &id, false, now).await?,
            format!("Enabled client {id}."),
            format!("Client {id} was already enabled."),
        ),
        Command::DeleteClient { id } => match ops::delete_client(store, &id, now).await? {
            (ops::Deletion::Deleted, revoked) => {
                format!("Deleted client {id}; {}.\n", revoked_text(revoked))
            }
            (ops::Deletion::NoRecord, revoked) => format!(
                "Client {id} has no record (already deleted, or never created); {}.\n",
                revoked_text(revoked)
            ),
        },
        Command::UpdateClient { id, changes, json } => {
            let (change, view) = ops::update_client(store, &id, &changes, now).await?;
            if json {
                render::client_json(&view)
            } else {
                let head = match change {
                    ops::Change::Changed => format!("Updated client {id}."),
                    ops::Change::Unchanged => {
                        format!("Client {id} already had these settings; nothing was written.")
                    }
                };
                format!("{head}\n\n{}", render::client_text(&view))
            }
        }
        Command::RotateSecret { id, json } => {
            let rotated = ops::rotate_secret(store, &id, rng, now).await?;
            if json {
                render::credentials_json(&rotated)
            } else {
                render::rotated_text(&rotated)
            }
        }
        Command::FinishRotation { id } => changed(
            ops::finish_rotation(store, &id, now).await?,
            format!("Client {id} now has only its newest secret; the older one no longer works."),
            format!("Client {id} has one secret only: nothing to finish."),
        ),
        Command::SetResourceServer { id, value } => {
            let what = if value {
                "a resource server"
            } else {
                "not a resource server"
            };
            changed(
                ops::set_resource_server(store, &id, value, now).await?,
                format!("Client {id} is now {what}."),
                format!("Client {id} was already {what}."),
            )
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
            format!("{done}\nPublished keys: {}.\n", report.published.join(", "))
        }
        Command::RotateSigningKey => {
            let service = keys.ok_or_else(no_key_service)?;
            let report =
                keys::rotate_signing_key(store, service.kms, service.publish_seconds, now).await?;
            format!(
                "Signing key {} published now; it signs from {} (in {} s, \
                 JWT_KEY_PUBLISH_SECONDS).\nPublished keys: {}.\n",
                report.kid,
                report.active_from,
                report.active_from.saturating_sub(now),
                report.published.join(", ")
            )
        }
    })
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

    const NOW: u64 = 1_700_000_000;

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
        }
    }

    async fn run(store: &MemoryStore, command: Command) -> Result<String, AdminError> {
        execute(store, command, None, None, &SystemRandom::new(), NOW).await
    }

    fn id(s: &str) -> String {
        s.to_owned()
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
                Command::DisableClient { id: app.clone() },
                "Disabled client app; revoked its 0 live tokens.\n",
                "Client app was already disabled; revoked its 0 live tokens.\n",
            ),
            (
                Command::EnableClient { id: app.clone() },
                "Enabled client app.\n",
                "Client app was already enabled.\n",
            ),
            (
                Command::DeleteClient { id: app.clone() },
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
        let rng = SystemRandom::new();
        assert!(matches!(
            execute(&store, import(), None, None, &rng, NOW).await,
            Err(AdminError::Input(_))
        ));
        assert_eq!(
            execute(&store, import(), Some("a+b c%"), None, &rng, NOW)
                .await
                .unwrap(),
            "Imported client legacy (Legacy); its secret is stored as a PBKDF2 hash.\n"
        );
        let err = execute(&store, import(), Some("other"), None, &rng, NOW)
            .await
            .unwrap_err();
        assert_eq!(err, AdminError::AlreadyExists(id("legacy")));
    }
}
