//! `oauth-admin`: creates the tables and manages clients. `oauth-admin --help` lists the
//! commands. Configured like the token function (CLIENTS_TABLE, TOKENS_TABLE and the AWS
//! SDK's variables). Errors are one line on stderr; exit 1, or 2 for a bad command line,
//! or 3 for a change made but not recorded in the audit trail.
//! The commands themselves are `oauth_token_service::admin`; this is their process.

use oauth_token_service::admin::audit::Actor;
use oauth_token_service::admin::cli::{self, Parsed};
use oauth_token_service::admin::{AdminError, identity, run};
use oauth_token_service::aws;
use oauth_token_service::config::Config;
use oauth_token_service::store::dynamodb::DynamoStore;
use ring::rand::SystemRandom;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An operator waits longer than a request does: at least this per DynamoDB operation.
const MIN_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    match main_result(&args) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(out.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            }
        }
        Err(e) => {
            // A change made but not recorded: what it printed (a new secret, say) still
            // goes to stdout, so that it is not lost.
            if let AdminError::NotRecorded { output, .. } = &e {
                let mut stdout = std::io::stdout().lock();
                let _ = stdout
                    .write_all(output.expose().as_bytes())
                    .and_then(|()| stdout.flush());
            }
            eprintln!("oauth-admin: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Everything to print on stdout, once the command has succeeded. Everything is read and
/// checked before DynamoDB is touched.
fn main_result(args: &[std::ffi::OsString]) -> Result<String, AdminError> {
    let command = match cli::parse(args)? {
        Parsed::Help(text) => return Ok(text),
        Parsed::Run(command) => command,
    };
    let imported = match command.reads_secret() {
        true => Some(run::secret_from_stdin()?),
        false => None,
    };
    let config = Config::from_env().map_err(|e| AdminError::Input(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AdminError::Internal(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let sdk = aws::config_loader(config.dynamodb_timeout.max(MIN_TIMEOUT))
            .load()
            .await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let kms = aws_sdk_kms::Client::new(&sdk);
        if client.config().region().is_none() {
            return Err(AdminError::Input(
                "no AWS region configured: set AWS_REGION (or a region in the AWS profile)".into(),
            ));
        }
        let store = DynamoStore::new(client, &config.clients_table, &config.tokens_table);
        // Who makes the change, for its audit record; asked before anything is written.
        let actor = match command.may_change() {
            true => identity::caller(&sdk).await,
            false => Actor::local_from_env(),
        };
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let rng = SystemRandom::new();
        let keys = run::KeyService {
            kms: &kms,
            publish_seconds: config.jwt_key_publish_seconds,
        };
        let context = run::Context {
            actor: &actor,
            now_ms,
        };
        run::execute(
            &store,
            command,
            imported.as_deref(),
            Some(&keys),
            &rng,
            &context,
        )
        .await
    })
}
