//! `oauth-admin`: creates the tables and manages clients. `oauth-admin --help` lists the
//! commands. Configured like the token function (CLIENTS_TABLE, TOKENS_TABLE and the AWS
//! SDK's variables). Errors are one line on stderr; exit 1, or 2 for a bad command line.

use oauth_token_service::admin::cli::{self, Command, Parsed};
use oauth_token_service::admin::{AdminError, ops, render};
use oauth_token_service::aws;
use oauth_token_service::config::Config;
use oauth_token_service::store::dynamodb::DynamoStore;
use ring::rand::SystemRandom;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

/// An operator waits longer than a request does: at least this per DynamoDB operation.
const MIN_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    match run(&args) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(out.as_bytes())
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("oauth-admin: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Everything to print on stdout, once the command has succeeded.
fn run(args: &[std::ffi::OsString]) -> Result<String, AdminError> {
    let command = match cli::parse(args)? {
        Parsed::Help(text) => return Ok(text),
        Parsed::Run(command) => command,
    };
    // Everything is read and checked before DynamoDB is touched.
    let imported = match &command {
        Command::ImportClient { .. } => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                return Err(AdminError::Usage(
                    "import-client reads the secret from stdin: pipe or redirect it \
                     (e.g. `oauth-admin import-client ... < secret.txt`)"
                        .into(),
                ));
            }
            Some(ops::read_secret(stdin.lock())?)
        }
        _ => None,
    };
    let config = Config::from_env().map_err(|e| AdminError::Input(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AdminError::Internal(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let client = aws::dynamodb_client(config.dynamodb_timeout.max(MIN_TIMEOUT)).await;
        if client.config().region().is_none() {
            return Err(AdminError::Input(
                "no AWS region configured: set AWS_REGION (or a region in the AWS profile)".into(),
            ));
        }
        let store = DynamoStore::new(client, &config.clients_table, &config.tokens_table);
        execute(&store, command, imported.as_deref())
            .await
            .map_err(|e| e.with_table_hint(store.clients_table(), store.tokens_table()))
    })
}

async fn execute(
    store: &DynamoStore,
    command: Command,
    imported: Option<&str>,
) -> Result<String, AdminError> {
    let rng = SystemRandom::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let changed = |change: ops::Change, done: String, already: String| match change {
        ops::Change::Changed => done + "\n",
        ops::Change::Unchanged => already + "\n",
    };
    Ok(match command {
        Command::CreateTables => {
            let report = ops::create_tables(store).await?;
            render::tables_text(&report, store.clients_table(), store.tokens_table())
        }
        Command::CreateClient { id, spec, json } => {
            let created = ops::create_client(store, id.as_deref(), &spec, &rng, now).await?;
            if json {
                render::credentials_json(&created)
            } else {
                render::created_text(&created, &spec.name)
            }
        }
        Command::ImportClient { id, spec } => {
            let secret = imported.ok_or_else(|| AdminError::Input("no secret read".into()))?;
            ops::import_client(store, &id, &spec, secret, &rng, now).await?;
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
                render::clients_text(&views, store.clients_table())
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
            let rotated = ops::rotate_secret(store, &id, &rng, now).await?;
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
    })
}

fn revoked_text(n: u64) -> String {
    match n {
        1 => "revoked its 1 live token".to_owned(),
        n => format!("revoked its {n} live tokens"),
    }
}
