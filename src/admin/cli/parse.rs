//! `oauth-admin`'s grammar in clap's derive API, and clap's errors in the tool's own form:
//! one line, `SUBCOMMAND: PROBLEM (see `oauth-admin SUBCOMMAND --help`)`, exit status 2.

use super::{ClientChanges, ClientSpec, Command, check_default_scopes, shown, usage};
use crate::admin::AdminError;
use crate::config::MAX_TTL;
use crate::oauth::model::MAX_CLIENT_ID_LEN;
use crate::oauth::{GrantType, TokenFormat, is_valid_client_id};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Print this text on stdout and exit 0.
    Help(String),
    Run(Command),
}

/// Parses the arguments after the program name.
pub fn parse(args: &[OsString]) -> Result<Parsed, AdminError> {
    let sub = args.first().and_then(|a| a.to_str()).and_then(|a| {
        grammar()
            .find_subcommand(a)
            .map(|s| s.get_name().to_owned())
    });
    let argv = std::iter::once(OsString::from("oauth-admin")).chain(help_wins(args));
    let error = |e: clap::Error| usage_error(&e, sub.as_deref(), args);
    match grammar().try_get_matches_from(argv) {
        Ok(matches) => Cli::from_arg_matches(&matches)
            .map_err(error)?
            .command
            .command()
            .map(Parsed::Run),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            Ok(Parsed::Help(e.render().to_string()))
        }
        Err(e) => Err(error(e)),
    }
}

/// Every help starts with its usage line.
const TEMPLATE: &str = "{usage-heading} {usage}\n\n{about-with-newline}\n{all-args}{after-help}";

fn grammar() -> clap::Command {
    Cli::command()
        .help_template(TEMPLATE)
        .mut_subcommands(|sub| sub.help_template(TEMPLATE))
}

/// `SUBCOMMAND ... --help` shows the subcommand's help whatever else the line holds (before
/// a `--`): the arguments to parse, with only the help flag kept when it is there.
fn help_wins(args: &[OsString]) -> Vec<OsString> {
    let asked = args
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .find(|a| *a == "-h" || *a == "--help");
    match (args.first(), asked) {
        (Some(sub), Some(help)) => vec![sub.clone(), help.clone()],
        _ => args.to_vec(),
    }
}

/// Manage the OAuth token service's clients and tables
#[derive(Parser)]
#[command(name = "oauth-admin", version, subcommand_required = true, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Sub,
}

const AFTER_HELP: &str = "\
Configuration, as for the token function:
  CLIENTS_TABLE, TOKENS_TABLE   table names (default: oauth-clients, oauth-tokens)
  AWS_REGION, AWS_PROFILE, AWS_ACCESS_KEY_ID, ...   the AWS SDK's usual variables
  AWS_ENDPOINT_URL_DYNAMODB     another DynamoDB endpoint (a local emulator, say)

Every change the tool makes is recorded in its audit trail (`oauth-admin audit`), with the
caller's AWS identity (STS GetCallerIdentity), else the local user ($USER, $LOGNAME).

Exit status: 0 on success, 1 when the command failed, 2 for a bad command line, 3 when
the change was made but could not be recorded in the audit trail.";

#[derive(Subcommand)]
enum Sub {
    /// Create the clients and tokens tables if missing, enable TTL
    ///
    /// Creates the clients table (CLIENTS_TABLE) and the tokens table (TOKENS_TABLE) where
    /// they are missing, with on-demand billing, and enables TTL on the tokens' expires_at
    /// where it is off. Safe to run again.
    #[command(verbatim_doc_comment)]
    CreateTables,

    /// Register a client with a generated id and secret
    ///
    /// Generates its id (unless --id is given) and a 40-character secret, stores only the
    /// secret's hash, and prints both once: the secret cannot be shown again.
    #[command(verbatim_doc_comment, mut_arg("name", |a| a.required(true)))]
    CreateClient {
        /// The client id (default: 20 random a-z 0-9)
        ///
        /// 1 to 128 of A-Z a-z 0-9 . _ ~ -
        #[arg(long, value_parser = client_id)]
        id: Option<String>,
        /// Print only the id and secret, as one JSON object
        ///
        /// {"client_id": ..., "client_secret": ...} on one line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        new: NewClient,
    },

    /// Register a client with an existing secret read from stdin
    ///
    /// Registers a client whose secret is already in use elsewhere (a migration). The secret
    /// is read from standard input (`< secret-file`): any characters, one trailing newline
    /// dropped. It is stored as a PBKDF2 hash, and is never printed. An id that exists
    /// already is an error.
    #[command(verbatim_doc_comment, mut_arg("name", |a| a.required(true)))]
    ImportClient {
        /// The client id: 1 to 128 of A-Z a-z 0-9 . _ ~ -
        #[arg(long, value_parser = client_id)]
        id: String,
        #[command(flatten)]
        new: NewClient,
    },

    /// List every client (never its secret hashes)
    ///
    /// Lists every client: id, status, how many secrets are active, scopes and name. Secret
    /// hashes are never shown.
    #[command(verbatim_doc_comment)]
    ListClients {
        /// Print a JSON array of client objects instead
        #[arg(long)]
        json: bool,
    },

    /// Show one client (never its secret hashes)
    ///
    /// Shows one client's settings and how many secrets are active. Secret hashes are never
    /// shown.
    #[command(verbatim_doc_comment)]
    ShowClient {
        #[command(flatten)]
        client: Client,
        /// Print one JSON object instead
        #[arg(long)]
        json: bool,
    },

    /// Refuse the client's requests (401 invalid_client) until enabled
    ///
    /// Disables a client: its token requests get 401 invalid_client until `enable-client`,
    /// and its live tokens are revoked (the authorizer and introspection refuse them from
    /// then on). A request that read the client just before the flag was written may still
    /// be writing its tokens: after --settle-seconds (12) the tokens are swept again, so
    /// that those are revoked too. Run again, it revokes any token that slipped through.
    /// `enable-client` brings no token back: the client asks for new ones.
    #[command(verbatim_doc_comment)]
    DisableClient {
        #[command(flatten)]
        client: Client,
        #[command(flatten)]
        settle: Settle,
    },

    /// Accept a disabled client's requests again
    ///
    /// Enables a client that `disable-client` disabled.
    #[command(verbatim_doc_comment)]
    EnableClient {
        #[command(flatten)]
        client: Client,
    },

    /// Change a client's name, scopes, grants or token lifetimes
    ///
    /// Changes the settings named, and only those, of an existing client, then prints the
    /// client as show-client does. At least one is required. A repeatable option replaces
    /// the whole list: `--scope a --scope b` leaves the client exactly scopes a and b, so a
    /// scope is taken away by listing the others. Values are checked as create-client checks
    /// them, and the default scopes must stay among the scopes: a list given alone is
    /// checked against the client's other one. Its secrets, whether it is disabled and
    /// whether it is a resource server are left as they are. Tokens already issued keep
    /// their scopes until they expire or are revoked (disable-client revokes all of a
    /// client's live tokens). If the client changed while the command ran, nothing is
    /// written and it says so: run it again.
    ///
    /// Exit status: 0 when updated (or already as asked: nothing is written then), 1 when
    /// the client does not exist or changed meanwhile, or DynamoDB failed, 2 for a bad
    /// command line, including settings that do not fit the client's other ones.
    #[command(verbatim_doc_comment)]
    UpdateClient {
        #[command(flatten)]
        client: Client,
        /// Print the client as one JSON object, as show-client --json does
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        settings: Settings,
    },

    /// Delete a client for good, revoking its live tokens first
    ///
    /// Deletes a client for good, in three steps: disables it (its token requests get
    /// 401 invalid_client from then on), revokes its live tokens (the authorizer and
    /// introspection refuse them from then on), waits --settle-seconds (12) and revokes
    /// again what requests in flight wrote meanwhile, then deletes its record.
    ///
    /// Run it again to finish a run that was cut short. When no record with this id is left
    /// (an earlier run deleted it, or it never existed), it still revokes any live token
    /// issued to the id, prints "Client ID has no record (already deleted, or never
    /// created)" and how many tokens it revoked, and exits 0, as when it deletes the record.
    #[command(verbatim_doc_comment)]
    DeleteClient {
        #[command(flatten)]
        client: Client,
        #[command(flatten)]
        settle: Settle,
    },

    /// Add a new secret beside the current one, or --finish to drop the old
    ///
    /// Without --finish: generates a new 40-character secret and adds it beside the current
    /// one, so that both work while the client's users switch over. The new secret is
    /// printed once. A client has at most two secrets: when it has two already, run --finish
    /// first.
    #[command(verbatim_doc_comment)]
    RotateSecret {
        #[command(flatten)]
        client: Client,
        /// Print only the id and the new secret, as one JSON object
        ///
        /// {"client_id": ..., "client_secret": ...} on one line.
        #[arg(long)]
        json: bool,
        /// Keep only the newest secret; the older one stops working
        ///
        /// Prints no secret, so it does not go with --json.
        #[arg(long, conflicts_with = "json")]
        finish: bool,
    },

    /// Mark a client as a resource server (true) or not (false)
    ///
    /// A resource server may introspect every client's tokens (POST /oauth/introspect);
    /// other clients only their own.
    #[command(verbatim_doc_comment)]
    SetResourceServer {
        #[command(flatten)]
        client: Client,
        /// true: a resource server; false: not one
        #[arg(value_name = "true|false", value_parser = boolean, action = ArgAction::Set, required = true)]
        value: bool,
    },

    /// Create the first JWT signing key (safe to run again)
    ///
    /// Generates a 2048-bit RSA key, seals its private half with KMS (Encrypt) and stores
    /// it in the tokens table's keyring; the public half is published at
    /// /.well-known/jwks.json. It signs at once. With a key in place it writes nothing and
    /// shows the key. The private key is never printed or stored unsealed.
    #[command(verbatim_doc_comment)]
    CreateSigningKey {
        /// The KMS key that seals it (id, ARN or alias)
        ///
        /// Default: a KMS key of this tool's own, alias/oauth-token-service-signing,
        /// created when missing. A deployment names the template's key.
        #[arg(long, value_name = "ID")]
        kms_key_id: Option<String>,
    },

    /// Publish a next signing key now; it signs after JWT_KEY_PUBLISH_SECONDS
    ///
    /// The new key is published at once and starts signing JWT_KEY_PUBLISH_SECONDS (7200)
    /// later, since API Gateway caches keys for up to two hours. A retired key stays
    /// published until every token it signed has expired.
    #[command(verbatim_doc_comment)]
    RotateSigningKey,

    /// List the changes this tool made, oldest first
    ///
    /// Every change the tool makes (create-tables, create-client, import-client,
    /// update-client, set-resource-server, disable-client, enable-client, delete-client,
    /// rotate-secret, create-signing-key, rotate-signing-key) appends a record: when, who
    /// (the caller's AWS identity, else the local user), what, to which client or key, and
    /// the settings that changed. Never a secret, a hash or a token. A command that changed
    /// nothing records nothing. Records are listed oldest first, one a line; with --limit,
    /// the newest N, still oldest first.
    #[command(verbatim_doc_comment)]
    Audit {
        /// Only the records about this client
        #[arg(long, value_name = "ID", value_parser = client_id)]
        client: Option<String>,
        /// Only the newest N records (1 to 100000)
        #[arg(long, value_name = "N", value_parser = limit, allow_negative_numbers = true)]
        limit: Option<usize>,
        /// Print a JSON array of record objects instead
        #[arg(long)]
        json: bool,
    },
}

/// The client a command acts on.
#[derive(Args)]
struct Client {
    /// The client's id (one that starts with '-' goes after --)
    #[arg(value_name = "ID", value_parser = client_id)]
    id: String,
}

/// How long disable-client and delete-client wait before their second sweep.
#[derive(Args)]
struct Settle {
    /// Seconds to wait after the first sweep before sweeping again, for requests that
    /// read the client just before it was disabled and write their tokens after the
    /// first sweep passed (the token function's timeout is 10 s); 0: one sweep only
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 12,
        env = "OAUTH_ADMIN_SETTLE_SECONDS"
    )]
    settle_seconds: u64,
}

/// The settings create-client, import-client and update-client take. Repeatable options
/// collapse repeats, keeping the first.
#[derive(Args)]
#[command(next_help_heading = "Client settings")]
struct Settings {
    /// A label for people (1 to 200 characters)
    #[arg(long, value_parser = name)]
    name: Option<String>,
    /// A scope the client may request; repeatable
    ///
    /// At most 128 printable ASCII characters: no spaces, commas, quotes or backslashes.
    #[arg(long = "scope", value_name = "SCOPE", value_parser = scope)]
    scopes: Vec<String>,
    /// Granted when a request names no scope; repeatable
    ///
    /// Each must be among the client's scopes. A new client's default: all of them.
    #[arg(long = "default-scope", value_name = "SCOPE", value_parser = scope)]
    default_scopes: Vec<String>,
    /// client_credentials or refresh_token; repeatable
    ///
    /// A new client's default: both.
    #[arg(long = "grant", value_name = "GRANT", value_parser = grant)]
    grants: Vec<GrantType>,
    /// Access token lifetime, 1 to 315360000
    ///
    /// A new client's default: the deployment's ACCESS_TOKEN_TTL.
    #[arg(long, value_name = "SECS", value_parser = ttl, allow_negative_numbers = true)]
    access_ttl: Option<u64>,
    /// Refresh token lifetime, 1 to 315360000
    ///
    /// A new client's default: the deployment's REFRESH_TOKEN_TTL.
    #[arg(long, value_name = "SECS", value_parser = ttl, allow_negative_numbers = true)]
    refresh_ttl: Option<u64>,
    /// Access-token format: opaque or jwt
    ///
    /// jwt: RS256 JWT access tokens (RFC 9068) that API Gateway's JWT authorizer verifies by
    /// itself; run create-signing-key first. A new client's default: the deployment's
    /// TOKEN_FORMAT.
    #[arg(long, value_name = "FORMAT", value_parser = token_format)]
    token_format: Option<TokenFormat>,
    /// The aud of the client's JWT access tokens (an absolute URI); repeatable
    ///
    /// A new client's default: the deployment's JWT_AUDIENCE, else the issuer.
    #[arg(long = "audience", value_name = "URI", value_parser = audience)]
    audiences: Vec<String>,
    /// Token requests served per clock hour, 1 to 10000000, or none
    ///
    /// Over it the token endpoint answers 429 too_many_requests with Retry-After until the
    /// hour ends. Counted in DynamoDB across all instances. A new client's default: none
    /// (no quota, nothing counted); update-client ... none removes it.
    #[arg(long, value_name = "N", value_parser = quota)]
    max_tokens_per_hour: Option<Quota>,
}

/// A `--max-tokens-per-hour` value: a number, or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Quota(Option<u64>);

/// Largest `--max-tokens-per-hour`.
const MAX_QUOTA: u64 = 10_000_000;

/// A new client's settings: create-client and import-client.
#[derive(Args)]
struct NewClient {
    #[command(flatten)]
    settings: Settings,
    /// May introspect every client's tokens
    ///
    /// With POST /oauth/introspect; other clients see only their own.
    #[arg(long)]
    resource_server: bool,
}

// The value parsers: each option's value is checked as clap reads it.

/// Longest client name, in characters.
const NAME_MAX_CHARS: usize = 200;

/// A value the command line refuses, with what it was. [`BadValue::message`] says why,
/// naming the option.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BadValue {
    ClientId(String),
    Limit(String),
    Name,
    Scope(String),
    Grant(String),
    Ttl(String),
    Bool(String),
    TokenFormat(String),
    Audience(String),
    Quota(String),
}

impl BadValue {
    /// Why the value of `option` (`--scope`, or a positional's name) is refused.
    fn message(&self, option: &str) -> String {
        match self {
            BadValue::ClientId(v) => format!(
                "client id {} is not 1 to {MAX_CLIENT_ID_LEN} of A-Z a-z 0-9 . _ ~ -",
                shown(v)
            ),
            BadValue::Limit(v) => format!(
                "{option} must be a whole number from 1 to {MAX_LIMIT} (got {})",
                shown(v)
            ),
            BadValue::Name => format!(
                "{option} must be 1 to {NAME_MAX_CHARS} characters, none of them control characters"
            ),
            BadValue::Scope(v) => format!(
                "{option} {} is not a scope: 1 to {} printable ASCII characters, no spaces, \
                 commas, quotes or backslashes (repeat {option} for several)",
                shown(v),
                crate::oauth::scope::MAX_LEN,
            ),
            BadValue::Grant(v) => format!(
                "{option} {} is not client_credentials or refresh_token",
                shown(v)
            ),
            BadValue::Ttl(v) => format!(
                "{option} must be a whole number of seconds from 1 to {MAX_TTL} (got {})",
                shown(v)
            ),
            BadValue::Bool(v) => format!("expected true or false, got {}", shown(v)),
            BadValue::TokenFormat(v) => {
                format!("{option} {} is not opaque or jwt", shown(v))
            }
            BadValue::Audience(v) => format!(
                "{option} {} is not an absolute URI (such as https://api.example.com)",
                shown(v)
            ),
            BadValue::Quota(v) => format!(
                "{option} must be a whole number from 1 to {MAX_QUOTA}, or none (got {})",
                shown(v)
            ),
        }
    }
}

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message("the value"))
    }
}

impl std::error::Error for BadValue {}

fn client_id(s: &str) -> Result<String, BadValue> {
    if is_valid_client_id(s) {
        Ok(s.to_owned())
    } else {
        Err(BadValue::ClientId(s.to_owned()))
    }
}

/// Largest `audit --limit`.
const MAX_LIMIT: usize = 100_000;

fn limit(s: &str) -> Result<usize, BadValue> {
    match s.parse::<usize>() {
        Ok(v) if s.bytes().all(|b| b.is_ascii_digit()) && (1..=MAX_LIMIT).contains(&v) => Ok(v),
        _ => Err(BadValue::Limit(s.to_owned())),
    }
}

fn name(s: &str) -> Result<String, BadValue> {
    if s.trim().is_empty() || s.chars().count() > NAME_MAX_CHARS || s.chars().any(char::is_control)
    {
        return Err(BadValue::Name);
    }
    Ok(s.to_owned())
}

fn scope(s: &str) -> Result<String, BadValue> {
    if crate::oauth::scope::is_valid(s) {
        Ok(s.to_owned())
    } else {
        Err(BadValue::Scope(s.to_owned()))
    }
}

fn grant(s: &str) -> Result<GrantType, BadValue> {
    GrantType::parse(s).ok_or_else(|| BadValue::Grant(s.to_owned()))
}

/// Whole seconds from 1 to [`MAX_TTL`], digits only (no sign, no spaces, no unit).
fn ttl(s: &str) -> Result<u64, BadValue> {
    match s.parse::<u64>() {
        Ok(v) if s.bytes().all(|b| b.is_ascii_digit()) && (1..=MAX_TTL).contains(&v) => Ok(v),
        _ => Err(BadValue::Ttl(s.to_owned())),
    }
}

fn quota(s: &str) -> Result<Quota, BadValue> {
    if s == "none" {
        return Ok(Quota(None));
    }
    match s.parse::<u64>() {
        Ok(v) if s.bytes().all(|b| b.is_ascii_digit()) && (1..=MAX_QUOTA).contains(&v) => {
            Ok(Quota(Some(v)))
        }
        _ => Err(BadValue::Quota(s.to_owned())),
    }
}

fn token_format(s: &str) -> Result<TokenFormat, BadValue> {
    TokenFormat::parse(s).ok_or_else(|| BadValue::TokenFormat(s.to_owned()))
}

/// An audience: an absolute URI (a scheme, then `:`), printable ASCII, at most 512.
fn audience(s: &str) -> Result<String, BadValue> {
    let scheme = s.split_once(':').map_or("", |(scheme, _)| scheme);
    let ok = s.len() <= 512
        && s.bytes().all(|b| b.is_ascii_graphic())
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    ok.then(|| s.to_owned())
        .ok_or_else(|| BadValue::Audience(s.to_owned()))
}

fn boolean(s: &str) -> Result<bool, BadValue> {
    match s {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(BadValue::Bool(s.to_owned())),
    }
}

impl Sub {
    fn command(self) -> Result<Command, AdminError> {
        Ok(match self {
            Sub::CreateTables => Command::CreateTables,
            Sub::CreateClient { id, json, new } => Command::CreateClient {
                id,
                spec: new.spec("create-client")?,
                json,
            },
            Sub::ImportClient { id, new } => Command::ImportClient {
                id,
                spec: new.spec("import-client")?,
            },
            Sub::ListClients { json } => Command::ListClients { json },
            Sub::ShowClient { client, json } => Command::ShowClient {
                id: client.id,
                json,
            },
            Sub::DisableClient { client, settle } => Command::DisableClient {
                id: client.id,
                settle: Duration::from_secs(settle.settle_seconds),
            },
            Sub::EnableClient { client } => Command::EnableClient { id: client.id },
            Sub::DeleteClient { client, settle } => Command::DeleteClient {
                id: client.id,
                settle: Duration::from_secs(settle.settle_seconds),
            },
            Sub::UpdateClient {
                client,
                json,
                settings,
            } => Command::UpdateClient {
                id: client.id,
                changes: settings.changes()?,
                json,
            },
            Sub::RotateSecret {
                client,
                finish: true,
                ..
            } => Command::FinishRotation { id: client.id },
            Sub::RotateSecret { client, json, .. } => Command::RotateSecret {
                id: client.id,
                json,
            },
            Sub::SetResourceServer { client, value } => Command::SetResourceServer {
                id: client.id,
                value,
            },
            Sub::CreateSigningKey { kms_key_id } => Command::CreateSigningKey { kms_key_id },
            Sub::RotateSigningKey => Command::RotateSigningKey,
            Sub::Audit {
                client,
                limit,
                json,
            } => Command::Audit {
                client,
                limit,
                json,
            },
        })
    }
}

impl NewClient {
    fn spec(self, sub: &str) -> Result<ClientSpec, AdminError> {
        let s = self.settings;
        let (scopes, default_scopes) = (distinct(s.scopes), distinct(s.default_scopes));
        check_default_scopes(sub, &scopes, &default_scopes)?;
        let grants = match distinct(s.grants) {
            none if none.is_empty() => GrantType::ALL.to_vec(),
            grants => grants,
        };
        Ok(ClientSpec {
            name: s.name.ok_or_else(|| usage(sub, "--name is required"))?,
            scopes,
            default_scopes,
            grants,
            access_ttl: s.access_ttl,
            refresh_ttl: s.refresh_ttl,
            resource_server: self.resource_server,
            token_format: s.token_format,
            audiences: distinct(s.audiences),
            max_tokens_per_hour: s.max_tokens_per_hour.and_then(|q| q.0),
        })
    }
}

impl Settings {
    /// What update-client changes. Whether the default scopes fit the scopes is checked here
    /// when both are given, and against the stored client by [`ClientChanges::apply`] when
    /// one is.
    fn changes(self) -> Result<ClientChanges, AdminError> {
        let sub = "update-client";
        let given = |list: Vec<String>| (!list.is_empty()).then(|| distinct(list));
        let (scopes, default_scopes) = (given(self.scopes), given(self.default_scopes));
        if let (Some(scopes), Some(defaults)) = (&scopes, &default_scopes) {
            check_default_scopes(sub, scopes, defaults)?;
        }
        let changes = ClientChanges {
            name: self.name,
            scopes,
            default_scopes,
            grants: (!self.grants.is_empty()).then(|| distinct(self.grants)),
            access_ttl: self.access_ttl,
            refresh_ttl: self.refresh_ttl,
            token_format: self.token_format,
            audiences: (!self.audiences.is_empty()).then(|| distinct(self.audiences)),
            max_tokens_per_hour: self.max_tokens_per_hour.map(|q| q.0),
        };
        if changes.is_empty() {
            return Err(usage(
                sub,
                "nothing to change: give at least one of --name, --scope, --default-scope, \
                 --grant, --access-ttl, --refresh-ttl, --token-format, --audience, \
                 --max-tokens-per-hour",
            ));
        }
        Ok(changes)
    }
}

/// `items` without repeats, in order.
fn distinct<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// clap's error as one line in the tool's words, naming the subcommand when there is one.
fn usage_error(e: &clap::Error, sub: Option<&str>, args: &[OsString]) -> AdminError {
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => s.as_str(),
        Some(ContextValue::Strings(v)) => v.first().map_or("", String::as_str),
        _ => "",
    };
    // `--name <NAME>` is `--name`, `<ID>` is `ID`.
    let arg = context(ContextKind::InvalidArg);
    let option = arg.split([' ', '=']).next().unwrap_or(arg);
    let positional = arg.trim_start_matches('<').trim_end_matches('>');
    let problem = match e.kind() {
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            "no command given".to_owned()
        }
        ErrorKind::InvalidSubcommand => format!(
            "unknown command {}",
            shown(context(ContextKind::InvalidSubcommand))
        ),
        ErrorKind::UnknownArgument if arg.starts_with("--") => format!("unknown option {option}"),
        ErrorKind::UnknownArgument if arg.starts_with('-') => {
            // clap names the first unknown letter (`-o`); the argument is more telling (`-odd`).
            let mut given = args.iter().filter_map(|a| a.to_str());
            let whole = given.find(|a| a.starts_with(arg)).unwrap_or(arg);
            format!(
                "unknown option {} (put an id that starts with '-' after --)",
                shown(whole)
            )
        }
        ErrorKind::UnknownArgument => format!("unexpected argument {}", shown(arg)),
        ErrorKind::MissingRequiredArgument if arg.starts_with('-') => {
            format!("{option} is required")
        }
        ErrorKind::MissingRequiredArgument => format!("missing {positional}"),
        ErrorKind::InvalidValue => format!("{option} needs a value"),
        ErrorKind::ArgumentConflict => match context(ContextKind::PriorArg) {
            prior if prior == arg => format!("{option} given twice"),
            prior => format!(
                "{option} cannot be combined with {}",
                prior.split(' ').next().unwrap_or(prior)
            ),
        },
        ErrorKind::TooManyValues => format!("{option} takes no value"),
        ErrorKind::ValueValidation => {
            match std::error::Error::source(e).and_then(|s| s.downcast_ref::<BadValue>()) {
                Some(bad) => bad.message(option),
                None => format!("bad value for {option}"),
            }
        }
        ErrorKind::InvalidUtf8 => "arguments must be UTF-8".to_owned(),
        _ => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            first.trim_start_matches("error: ").to_owned()
        }
    };
    match sub {
        Some(sub) => usage(sub, problem),
        None => AdminError::Usage(format!("{problem} (see `oauth-admin --help`)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Parsed, AdminError> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse(&args)
    }

    fn command(args: &[&str]) -> Command {
        match parse_strs(args) {
            Ok(Parsed::Run(c)) => c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn usage_text(args: &[&str]) -> String {
        match parse_strs(args) {
            Err(e @ AdminError::Usage(_)) => e.to_string(),
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn ttls_are_whole_seconds_within_bounds() {
        for (value, ok) in [
            ("1", true),
            ("315360000", true),
            ("0", false),
            ("315360001", false),
            ("+5", false),
            ("-5", false),
            (" 5", false),
            ("5s", false),
            ("", false),
        ] {
            assert_eq!(ttl(value).is_ok(), ok, "{value}");
        }
        assert_eq!(
            ttl("0").unwrap_err().message("--access-ttl"),
            "--access-ttl must be a whole number of seconds from 1 to 315360000 (got \"0\")"
        );
    }

    #[test]
    fn names_are_printable_and_not_blank() {
        assert!(name("Teen app").is_ok());
        for bad in ["", "  ", "a\nb", &"n".repeat(NAME_MAX_CHARS + 1)] {
            assert_eq!(name(bad), Err(BadValue::Name), "{bad:?}");
        }
    }

    #[test]
    fn the_grammar_is_consistent() {
        grammar().debug_assert();
    }

    #[test]
    fn an_id_that_starts_with_a_dash_goes_after_double_dash_or_in_an_equals_form() {
        assert_eq!(
            command(&["show-client", "--", "-odd"]),
            Command::ShowClient {
                id: "-odd".into(),
                json: false
            }
        );
        assert!(matches!(
            command(&["create-client", "--name=n", "--id=-odd"]),
            Command::CreateClient { id: Some(id), .. } if id == "-odd"
        ));
        assert_eq!(
            usage_text(&["show-client", "-odd"]),
            "show-client: unknown option \"-odd\" (put an id that starts with '-' after --) \
             (see `oauth-admin show-client --help`)"
        );
    }

    #[test]
    fn repeated_scopes_and_grants_collapse_in_order() {
        let Command::CreateClient { spec, .. } = command(&[
            "create-client",
            "--name",
            "n",
            "--scope",
            "b",
            "--scope",
            "a",
            "--scope",
            "b",
            "--grant",
            "refresh_token",
            "--grant",
            "refresh_token",
        ]) else {
            panic!()
        };
        assert_eq!(spec.scopes, ["b", "a"]);
        assert_eq!(spec.grants, [GrantType::RefreshToken]);
        assert_eq!(spec.access_ttl, None);
        let Command::CreateClient { spec, .. } = command(&["create-client", "--name", "n"]) else {
            panic!()
        };
        assert_eq!(spec.grants, GrantType::ALL);
    }

    #[test]
    fn update_client_names_what_it_changes_and_needs_one() {
        let Command::UpdateClient { id, changes, json } = command(&[
            "update-client",
            "c1",
            "--scope",
            "a",
            "--scope",
            "a",
            "--grant",
            "refresh_token",
            "--access-ttl",
            "60",
        ]) else {
            panic!()
        };
        assert_eq!((id.as_str(), json), ("c1", false));
        assert_eq!(
            changes,
            ClientChanges {
                scopes: Some(vec!["a".into()]),
                grants: Some(vec![GrantType::RefreshToken]),
                access_ttl: Some(60),
                ..ClientChanges::default()
            }
        );
        assert_eq!(
            usage_text(&["update-client", "c1", "--json"]),
            "update-client: nothing to change: give at least one of --name, --scope, \
             --default-scope, --grant, --access-ttl, --refresh-ttl, --token-format, --audience, \
             --max-tokens-per-hour (see `oauth-admin update-client --help`)"
        );
    }

    #[test]
    fn a_quota_is_a_number_or_none() {
        assert_eq!(quota("250"), Ok(Quota(Some(250))));
        assert_eq!(quota("none"), Ok(Quota(None)));
        for bad in ["0", "-1", "1e3", " 5", "10000001", "unlimited"] {
            assert_eq!(
                quota(bad).unwrap_err().message("--max-tokens-per-hour"),
                format!(
                    "--max-tokens-per-hour must be a whole number from 1 to 10000000, or none \
                     (got {})",
                    shown(bad)
                )
            );
        }
    }

    #[test]
    fn usage_errors_are_one_line_in_the_tools_words() {
        let see =
            |sub: &str, problem: &str| format!("{sub}: {problem} (see `oauth-admin {sub} --help`)");
        let cc = "create-client";
        for (args, expected) in [
            (
                &[][..],
                "no command given (see `oauth-admin --help`)".to_owned(),
            ),
            (
                &["frobnicate"],
                "unknown command \"frobnicate\" (see `oauth-admin --help`)".to_owned(),
            ),
            (&[cc, "--scope", "a"], see(cc, "--name is required")),
            (&[cc, "--name"], see(cc, "--name needs a value")),
            (&[cc, "--name", "--json"], see(cc, "--name needs a value")),
            (
                &[cc, "--name", "x", "--name", "y"],
                see(cc, "--name given twice"),
            ),
            (
                &[cc, "--name", "x", "--json", "--json"],
                see(cc, "--json given twice"),
            ),
            (
                &[cc, "--name", "x", "--json=yes"],
                see(cc, "--json takes no value"),
            ),
            (
                &[cc, "--name", "x", "--frob"],
                see(cc, "unknown option --frob"),
            ),
            (
                &[cc, "--name", "x", "extra"],
                see(cc, "unexpected argument \"extra\""),
            ),
            (
                &[cc, "--name", "x", "--access-ttl", "-5"],
                see(
                    cc,
                    "--access-ttl must be a whole number of seconds from 1 to 315360000 \
                     (got \"-5\")",
                ),
            ),
            (
                &[cc, "--name", "x", "--grant", "password"],
                see(
                    cc,
                    "--grant \"password\" is not client_credentials or refresh_token",
                ),
            ),
            (
                &[cc, "--name", "x", "--default-scope", "a,b"],
                see(
                    cc,
                    "--default-scope \"a,b\" is not a scope: 1 to 128 printable ASCII \
                     characters, no spaces, commas, quotes or backslashes (repeat \
                     --default-scope for several)",
                ),
            ),
            (
                &[cc, "--name", "x", "--scope", "a", "--default-scope", "b"],
                see(
                    cc,
                    "--default-scope \"b\" is not among the client's scopes (add --scope b)",
                ),
            ),
            (
                &[cc, "--name", "x", "--id", "has space"],
                see(
                    cc,
                    "client id \"has space\" is not 1 to 128 of A-Z a-z 0-9 . _ ~ -",
                ),
            ),
            (
                &["import-client", "--name", "x"],
                see("import-client", "--id is required"),
            ),
            (&["show-client"], see("show-client", "missing ID")),
            (
                &["show-client", "a", "b"],
                see("show-client", "unexpected argument \"b\""),
            ),
            (
                &["rotate-secret", "a", "--finish", "--json"],
                see("rotate-secret", "--finish cannot be combined with --json"),
            ),
            (
                &["set-resource-server", "a", "maybe"],
                see(
                    "set-resource-server",
                    "expected true or false, got \"maybe\"",
                ),
            ),
            (
                &["set-resource-server", "a"],
                see("set-resource-server", "missing true|false"),
            ),
            (
                &["audit", "--limit", "0"],
                see(
                    "audit",
                    "--limit must be a whole number from 1 to 100000 (got \"0\")",
                ),
            ),
            (
                &["audit", "--client", "audit#1"],
                see(
                    "audit",
                    "client id \"audit#1\" is not 1 to 128 of A-Z a-z 0-9 . _ ~ -",
                ),
            ),
        ] {
            assert_eq!(usage_text(args), expected, "{args:?}");
        }
    }

    #[test]
    fn audit_takes_an_optional_client_and_limit() {
        assert_eq!(
            command(&["audit"]),
            Command::Audit {
                client: None,
                limit: None,
                json: false
            }
        );
        assert_eq!(
            command(&["audit", "--client", "app", "--limit", "5", "--json"]),
            Command::Audit {
                client: Some("app".into()),
                limit: Some(5),
                json: true
            }
        );
    }

    #[test]
    fn help_and_version_need_nothing_else() {
        for args in [
            &["--help"][..],
            &["-h"],
            &["help"],
            &["--version"],
            &["-V"],
            &["help", "show-client"],
            &["show-client", "-h"],
            // Help wins over an otherwise bad command line.
            &["create-client", "--access-ttl", "0", "--help"],
        ] {
            assert!(matches!(parse_strs(args), Ok(Parsed::Help(_))), "{args:?}");
        }
        assert_eq!(parse_strs(&["help", "nope"]).unwrap_err().exit_code(), 2);
        let Ok(Parsed::Help(version)) = parse_strs(&["--version"]) else {
            panic!()
        };
        assert_eq!(
            version,
            format!("oauth-admin {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}
