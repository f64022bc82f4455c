//! The `oauth-admin` command line: subcommands, their options and help, parsed by hand and
//! checked completely before the tool touches DynamoDB, so that a bad flag writes nothing.

use super::AdminError;
use crate::config::MAX_TTL;
use crate::oauth::scope;
use crate::store::{ClientRecord, GrantType, is_valid_client_id};
use std::ffi::OsString;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Print this text on stdout and exit 0.
    Help(String),
    Run(Command),
}

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
    },
    EnableClient {
        id: String,
    },
    DeleteClient {
        id: String,
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
        let sub = find("update-client")?;
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
                             (add --scope {}, or give --default-scope without it)",
                            shown(kept),
                            kept
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
        if let Some(ttl) = self.refresh_ttl {
            next.refresh_ttl = Some(ttl);
        }
        next.updated_at = now;
        Ok(next)
    }
}

const NAME_MAX_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `--json`
    Flag,
    /// `--name NAME`, at most once.
    Value,
    /// `--scope S`, repeatable.
    Multi,
}

struct Opt {
    name: &'static str,
    kind: Kind,
}

const fn flag(name: &'static str) -> Opt {
    Opt {
        name,
        kind: Kind::Flag,
    }
}

const fn value(name: &'static str) -> Opt {
    Opt {
        name,
        kind: Kind::Value,
    }
}

const fn multi(name: &'static str) -> Opt {
    Opt {
        name,
        kind: Kind::Multi,
    }
}

/// A subcommand: its options, the names of its positional arguments, and its help.
struct Sub {
    name: &'static str,
    summary: &'static str,
    positional: &'static [&'static str],
    options: &'static [Opt],
    help: &'static str,
}

const CLIENT_OPTIONS: &str = "  --name NAME            a label for people (required)
  --scope SCOPE          a scope the client may request; repeat for several
                         (printable ASCII, no spaces, commas, quotes or backslashes)
  --default-scope SCOPE  granted when a request names no scope; repeat for several;
                         each must also be a --scope (default: all of them)
  --grant GRANT          client_credentials or refresh_token; repeat for both
                         (default: both)
  --access-ttl SECS      access token lifetime, 1 to 315360000 (default: the
                         deployment's ACCESS_TOKEN_TTL)
  --refresh-ttl SECS     refresh token lifetime, 1 to 315360000 (default: the
                         deployment's REFRESH_TOKEN_TTL)
  --resource-server      may introspect every client's tokens (POST /oauth/introspect)";

const SUBS: &[Sub] = &[
    Sub {
        name: "create-tables",
        summary: "create the clients and tokens tables if missing, enable TTL",
        positional: &[],
        options: &[],
        help: "\
Usage: oauth-admin create-tables

Creates the clients table (CLIENTS_TABLE) and the tokens table (TOKENS_TABLE) where they
are missing, with on-demand billing, and enables TTL on the tokens' expires_at where it is
off. Safe to run again.
",
    },
    Sub {
        name: "create-client",
        summary: "register a client with a generated id and secret",
        positional: &[],
        options: &[
            value("name"),
            multi("scope"),
            multi("default-scope"),
            multi("grant"),
            value("access-ttl"),
            value("refresh-ttl"),
            flag("resource-server"),
            value("id"),
            flag("json"),
        ],
        help: "",
    },
    Sub {
        name: "import-client",
        summary: "register a client with an existing secret read from stdin",
        positional: &[],
        options: &[
            value("id"),
            value("name"),
            multi("scope"),
            multi("default-scope"),
            multi("grant"),
            value("access-ttl"),
            value("refresh-ttl"),
            flag("resource-server"),
        ],
        help: "",
    },
    Sub {
        name: "list-clients",
        summary: "list every client (never its secret hashes)",
        positional: &[],
        options: &[flag("json")],
        help: "\
Usage: oauth-admin list-clients [--json]

Lists every client: id, status, how many secrets are active, scopes and name. Secret
hashes are never shown.

  --json   print a JSON array of client objects instead
",
    },
    Sub {
        name: "show-client",
        summary: "show one client (never its secret hashes)",
        positional: &["ID"],
        options: &[flag("json")],
        help: "\
Usage: oauth-admin show-client ID [--json]

Shows one client's settings and how many secrets are active. Secret hashes are never
shown.

  --json   print one JSON object instead
",
    },
    Sub {
        name: "disable-client",
        summary: "refuse the client's requests (401 invalid_client) until enabled",
        positional: &["ID"],
        options: &[],
        help: "\
Usage: oauth-admin disable-client ID

Disables a client: its token requests get 401 invalid_client until `enable-client`, and
its live tokens are revoked (the authorizer and introspection refuse them from then on).
Run again, it revokes any token that slipped through. `enable-client` brings no token
back: the client asks for new ones.
",
    },
    Sub {
        name: "enable-client",
        summary: "accept a disabled client's requests again",
        positional: &["ID"],
        options: &[],
        help: "\
Usage: oauth-admin enable-client ID

Enables a client that `disable-client` disabled.
",
    },
    Sub {
        name: "update-client",
        summary: "change a client's name, scopes, grants or token lifetimes",
        positional: &["ID"],
        options: &[
            value("name"),
            multi("scope"),
            multi("default-scope"),
            multi("grant"),
            value("access-ttl"),
            value("refresh-ttl"),
            flag("json"),
        ],
        help: "",
    },
    Sub {
        name: "delete-client",
        summary: "delete a client for good, revoking its live tokens first",
        positional: &["ID"],
        options: &[],
        help: "\
Usage: oauth-admin delete-client ID

Deletes a client for good, in three steps: disables it (its token requests get
401 invalid_client from then on), revokes its live tokens (the authorizer and
introspection refuse them from then on), then deletes its record.

Run it again to finish a run that was cut short. When no record with this id is left
(an earlier run deleted it, or it never existed), it still revokes any live token issued
to the id, prints \"Client ID has no record (already deleted, or never created)\" and how
many tokens it revoked, and exits 0, as when it deletes the record.
",
    },
    Sub {
        name: "rotate-secret",
        summary: "add a new secret beside the current one, or --finish to drop the old",
        positional: &["ID"],
        options: &[flag("json"), flag("finish")],
        help: "\
Usage: oauth-admin rotate-secret ID [--json]
       oauth-admin rotate-secret ID --finish

Without --finish: generates a new 40-character secret and adds it beside the current one,
so that both work while the client's users switch over. The new secret is printed once.
A client has at most two secrets: when it has two already, run --finish first.

  --json     print only {\"client_id\": ..., \"client_secret\": ...} on stdout
  --finish   keep only the newest secret; the older one stops working
",
    },
    Sub {
        name: "set-resource-server",
        summary: "mark a client as a resource server (true) or not (false)",
        positional: &["ID", "true|false"],
        options: &[],
        help: "\
Usage: oauth-admin set-resource-server ID true|false

A resource server may introspect every client's tokens (POST /oauth/introspect); other
clients only their own.
",
    },
];

fn create_client_help() -> String {
    format!(
        "\
Usage: oauth-admin create-client --name NAME [--scope SCOPE]... [--default-scope SCOPE]...
           [--grant GRANT]... [--access-ttl SECS] [--refresh-ttl SECS] [--resource-server]
           [--id ID] [--json]

Registers a client. Generates its id (unless --id is given) and a 40-character secret,
stores only the secret's hash, and prints both once: the secret cannot be shown again.

{CLIENT_OPTIONS}
  --id ID                the client id, 1 to 128 of A-Z a-z 0-9 . _ ~ - (default: 20
                         random lowercase letters and digits)
  --json                 print only {{\"client_id\": ..., \"client_secret\": ...}} on stdout
"
    )
}

fn update_client_help() -> String {
    "\
Usage: oauth-admin update-client ID [--name NAME] [--scope SCOPE]...
           [--default-scope SCOPE]... [--grant GRANT]... [--access-ttl SECS]
           [--refresh-ttl SECS] [--json]

Changes the settings named, and only those, of an existing client, then prints the client
as show-client does. At least one is required. A repeatable option replaces the whole
list: `--scope a --scope b` leaves the client exactly scopes a and b, so a scope is taken
away by listing the others. Values are checked as create-client checks them, and the
default scopes must stay among the scopes: a list given alone is checked against the
client's other one. Its secrets, whether it is disabled and whether it is a resource
server are left as they are. Tokens already issued keep their scopes until they expire or
are revoked (disable-client revokes all of a client's live tokens). If the client changed
while the command ran, nothing is written and it says so: run it again.

  --name NAME            a label for people
  --scope SCOPE          a scope the client may request; repeat for several
                         (printable ASCII, no spaces, commas, quotes or backslashes)
  --default-scope SCOPE  granted when a request names no scope; repeat for several;
                         each must be among the client's scopes
  --grant GRANT          client_credentials or refresh_token; repeat for both
  --access-ttl SECS      access token lifetime, 1 to 315360000
  --refresh-ttl SECS     refresh token lifetime, 1 to 315360000
  --json                 print the client as one JSON object, as show-client --json does

Exit status: 0 when updated (or already as asked: nothing is written then), 1 when the
client does not exist or changed meanwhile, or DynamoDB failed, 2 for a bad command line,
including settings that do not fit the client's other ones.
"
    .to_owned()
}

fn import_client_help() -> String {
    format!(
        "\
Usage: oauth-admin import-client --id ID --name NAME [--scope SCOPE]...
           [--default-scope SCOPE]... [--grant GRANT]... [--access-ttl SECS]
           [--refresh-ttl SECS] [--resource-server] < secret-file

Registers a client whose secret is already in use elsewhere (a migration). The secret is
read from standard input: any characters, one trailing newline dropped. It is stored as a
PBKDF2 hash, and is never printed. An id that exists already is an error.

  --id ID                the client id, 1 to 128 of A-Z a-z 0-9 . _ ~ - (required)
{CLIENT_OPTIONS}
"
    )
}

/// The tool's own help.
pub fn main_help() -> String {
    let mut text = String::from(
        "\
oauth-admin: manage the OAuth token service's clients and tables.

Usage: oauth-admin COMMAND [OPTIONS]
       oauth-admin COMMAND --help

Commands:
",
    );
    for sub in SUBS {
        text.push_str(&format!("  {:<21}{}\n", sub.name, sub.summary));
    }
    text.push_str(
        "
Configuration, as for the token function:
  CLIENTS_TABLE, TOKENS_TABLE   table names (default: oauth-clients, oauth-tokens)
  AWS_REGION, AWS_PROFILE, AWS_ACCESS_KEY_ID, ...   the AWS SDK's usual variables
  AWS_ENDPOINT_URL_DYNAMODB     another DynamoDB endpoint (a local emulator, say)

Exit status: 0 on success, 1 when the command failed, 2 for a bad command line.
",
    );
    text
}

fn help_of(sub: &Sub) -> String {
    match sub.name {
        "create-client" => create_client_help(),
        "import-client" => import_client_help(),
        "update-client" => update_client_help(),
        _ => sub.help.to_owned(),
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: &[OsString]) -> Result<Parsed, AdminError> {
    let args = args
        .iter()
        .map(|a| {
            a.to_str()
                .map(str::to_owned)
                .ok_or_else(|| AdminError::Usage("arguments must be UTF-8".into()))
        })
        .collect::<Result<Vec<String>, _>>()?;
    let Some((first, rest)) = args.split_first() else {
        return Err(AdminError::Usage(
            "no command given (see `oauth-admin --help`)".into(),
        ));
    };
    match first.as_str() {
        "-h" | "--help" => return Ok(Parsed::Help(main_help())),
        "-V" | "--version" => {
            return Ok(Parsed::Help(format!(
                "oauth-admin {}\n",
                env!("CARGO_PKG_VERSION")
            )));
        }
        "help" => {
            return match rest {
                [] => Ok(Parsed::Help(main_help())),
                [name] => find(name).map(|sub| Parsed::Help(help_of(sub))),
                _ => Err(AdminError::Usage(
                    "help takes at most one command name".into(),
                )),
            };
        }
        _ => {}
    }
    let sub = find(first)?;
    let Some(m) = Matches::parse(sub, rest)? else {
        return Ok(Parsed::Help(help_of(sub)));
    };
    build(sub, &m).map(Parsed::Run)
}

fn find(name: &str) -> Result<&'static Sub, AdminError> {
    SUBS.iter().find(|s| s.name == name).ok_or_else(|| {
        AdminError::Usage(format!(
            "unknown command {} (see `oauth-admin --help`)",
            shown(name)
        ))
    })
}

/// A user-supplied value quoted for a message, cut short if long.
fn shown(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut:?}...")
    } else {
        format!("{s:?}")
    }
}

fn usage(sub: &Sub, problem: impl std::fmt::Display) -> AdminError {
    AdminError::Usage(format!(
        "{}: {problem} (see `oauth-admin {} --help`)",
        sub.name, sub.name
    ))
}

/// The options and positional arguments of one subcommand, as given.
#[derive(Default)]
struct Matches {
    positional: Vec<String>,
    values: Vec<(&'static str, String)>,
    flags: Vec<&'static str>,
}

impl Matches {
    /// `Ok(None)` when help was asked for.
    fn parse(sub: &Sub, args: &[String]) -> Result<Option<Matches>, AdminError> {
        let options_end = args.iter().position(|a| a == "--").unwrap_or(args.len());
        if args[..options_end]
            .iter()
            .any(|a| a == "--help" || a == "-h")
        {
            return Ok(None);
        }
        let mut m = Matches::default();
        let mut positional = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            i += 1;
            if arg == "--" {
                positional.extend(args[i..].iter().cloned());
                break;
            }
            let Some(body) = arg.strip_prefix("--") else {
                if arg.starts_with('-') && arg.len() > 1 {
                    return Err(usage(
                        sub,
                        format!(
                            "unknown option {} (put an id that starts with '-' after --)",
                            shown(arg)
                        ),
                    ));
                }
                positional.push(arg.clone());
                continue;
            };
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (body, None),
            };
            let opt = sub
                .options
                .iter()
                .find(|o| o.name == name)
                .ok_or_else(|| usage(sub, format!("unknown option --{name}")))?;
            match opt.kind {
                Kind::Flag => {
                    if inline.is_some() {
                        return Err(usage(sub, format!("--{name} takes no value")));
                    }
                    if m.flags.contains(&opt.name) {
                        return Err(usage(sub, format!("--{name} given twice")));
                    }
                    m.flags.push(opt.name);
                }
                Kind::Value | Kind::Multi => {
                    let v = match inline {
                        Some(v) => v,
                        None => match args.get(i) {
                            Some(next) if !next.starts_with("--") => {
                                i += 1;
                                next.clone()
                            }
                            _ => return Err(usage(sub, format!("--{name} needs a value"))),
                        },
                    };
                    if opt.kind == Kind::Value && m.value(opt.name).is_some() {
                        return Err(usage(sub, format!("--{name} given twice")));
                    }
                    m.values.push((opt.name, v));
                }
            }
        }
        if let Some(extra) = positional.get(sub.positional.len()) {
            return Err(usage(sub, format!("unexpected argument {}", shown(extra))));
        }
        if let Some(missing) = sub.positional.get(positional.len()) {
            return Err(usage(sub, format!("missing {missing}")));
        }
        m.positional = positional;
        Ok(Some(m))
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn values(&self, name: &str) -> impl Iterator<Item = &str> {
        self.values
            .iter()
            .filter(move |(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn build(sub: &Sub, m: &Matches) -> Result<Command, AdminError> {
    let id = || -> Result<String, AdminError> {
        let id = m.positional.first().cloned().unwrap_or_default();
        check_id(sub, &id)?;
        Ok(id)
    };
    Ok(match sub.name {
        "create-tables" => Command::CreateTables,
        "create-client" => {
            let id = match m.value("id") {
                Some(id) => {
                    check_id(sub, id)?;
                    Some(id.to_owned())
                }
                None => None,
            };
            Command::CreateClient {
                id,
                spec: client_spec(sub, m)?,
                json: m.flag("json"),
            }
        }
        "import-client" => {
            let id = m
                .value("id")
                .ok_or_else(|| usage(sub, "--id is required"))?;
            check_id(sub, id)?;
            Command::ImportClient {
                id: id.to_owned(),
                spec: client_spec(sub, m)?,
            }
        }
        "list-clients" => Command::ListClients {
            json: m.flag("json"),
        },
        "show-client" => Command::ShowClient {
            id: id()?,
            json: m.flag("json"),
        },
        "disable-client" => Command::DisableClient { id: id()? },
        "enable-client" => Command::EnableClient { id: id()? },
        "delete-client" => Command::DeleteClient { id: id()? },
        "update-client" => {
            let id = id()?;
            let changes = client_changes(sub, m)?;
            if changes.is_empty() {
                return Err(usage(
                    sub,
                    "nothing to change: give at least one of --name, --scope, \
                     --default-scope, --grant, --access-ttl, --refresh-ttl",
                ));
            }
            Command::UpdateClient {
                id,
                changes,
                json: m.flag("json"),
            }
        }
        "rotate-secret" => match (m.flag("finish"), m.flag("json")) {
            (true, true) => {
                return Err(usage(
                    sub,
                    "--finish prints no secret: it cannot be combined with --json",
                ));
            }
            (true, false) => Command::FinishRotation { id: id()? },
            (false, json) => Command::RotateSecret { id: id()?, json },
        },
        "set-resource-server" => {
            let value = match m.positional.get(1).map(String::as_str) {
                Some("true") => true,
                Some("false") => false,
                other => {
                    return Err(usage(
                        sub,
                        format!("expected true or false, got {}", shown(other.unwrap_or(""))),
                    ));
                }
            };
            Command::SetResourceServer { id: id()?, value }
        }
        other => return Err(AdminError::Internal(format!("unhandled command {other}"))),
    })
}

fn check_id(sub: &Sub, id: &str) -> Result<(), AdminError> {
    if is_valid_client_id(id) {
        Ok(())
    } else {
        Err(usage(
            sub,
            format!(
                "client id {} is not 1 to 128 of A-Z a-z 0-9 . _ ~ -",
                shown(id)
            ),
        ))
    }
}

fn client_spec(sub: &Sub, m: &Matches) -> Result<ClientSpec, AdminError> {
    let name = m
        .value("name")
        .ok_or_else(|| usage(sub, "--name is required"))?;
    check_name(sub, name)?;
    let scopes = scope_list(sub, m, "scope")?;
    let default_scopes = scope_list(sub, m, "default-scope")?;
    check_default_scopes(sub, &scopes, &default_scopes)?;
    let mut grants = grant_list(sub, m)?;
    if grants.is_empty() {
        grants = GrantType::ALL.to_vec();
    }
    Ok(ClientSpec {
        name: name.to_owned(),
        scopes,
        default_scopes,
        grants,
        access_ttl: ttl(sub, m, "access-ttl")?,
        refresh_ttl: ttl(sub, m, "refresh-ttl")?,
        resource_server: m.flag("resource-server"),
    })
}

/// The options of `update-client`, each checked as `create-client` checks it. Whether the
/// default scopes fit the scopes is checked here when both are given, and against the
/// stored client by [`ClientChanges::apply`] when one is.
fn client_changes(sub: &Sub, m: &Matches) -> Result<ClientChanges, AdminError> {
    let given = |option: &str| m.values(option).next().is_some();
    let name = m.value("name");
    if let Some(name) = name {
        check_name(sub, name)?;
    }
    let scopes = scope_list(sub, m, "scope")?;
    let default_scopes = scope_list(sub, m, "default-scope")?;
    if given("scope") && given("default-scope") {
        check_default_scopes(sub, &scopes, &default_scopes)?;
    }
    let grants = grant_list(sub, m)?;
    Ok(ClientChanges {
        name: name.map(str::to_owned),
        scopes: given("scope").then_some(scopes),
        default_scopes: given("default-scope").then_some(default_scopes),
        grants: given("grant").then_some(grants),
        access_ttl: ttl(sub, m, "access-ttl")?,
        refresh_ttl: ttl(sub, m, "refresh-ttl")?,
    })
}

fn check_name(sub: &Sub, name: &str) -> Result<(), AdminError> {
    if name.trim().is_empty()
        || name.chars().count() > NAME_MAX_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(usage(
            sub,
            format!(
                "--name must be 1 to {NAME_MAX_CHARS} characters, none of them control characters"
            ),
        ));
    }
    Ok(())
}

/// Each default scope must be among the scopes.
fn check_default_scopes(
    sub: &Sub,
    scopes: &[String],
    default_scopes: &[String],
) -> Result<(), AdminError> {
    match default_scopes.iter().find(|d| !scopes.contains(d)) {
        Some(stray) => Err(usage(
            sub,
            format!(
                "--default-scope {} is not among the client's scopes (add --scope {})",
                shown(stray),
                stray
            ),
        )),
        None => Ok(()),
    }
}

/// The `--grant` values, without repeats, in order; empty when none is given.
fn grant_list(sub: &Sub, m: &Matches) -> Result<Vec<GrantType>, AdminError> {
    let mut grants = Vec::new();
    for g in m.values("grant") {
        let grant = GrantType::parse(g).ok_or_else(|| {
            usage(
                sub,
                format!(
                    "--grant {} is not client_credentials or refresh_token",
                    shown(g)
                ),
            )
        })?;
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    Ok(grants)
}

fn scope_list(sub: &Sub, m: &Matches, option: &str) -> Result<Vec<String>, AdminError> {
    let mut out: Vec<String> = Vec::new();
    for s in m.values(option) {
        if !scope::is_valid(s) {
            return Err(usage(
                sub,
                format!(
                    "--{option} {} is not a scope: 1 to {} printable ASCII characters, \
                     no spaces, commas, quotes or backslashes (repeat --{option} for several)",
                    shown(s),
                    scope::MAX_LEN,
                ),
            ));
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    Ok(out)
}

fn ttl(sub: &Sub, m: &Matches, option: &str) -> Result<Option<u64>, AdminError> {
    let Some(raw) = m.value(option) else {
        return Ok(None);
    };
    let digits = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit());
    match raw.parse::<u64>() {
        Ok(v) if digits && (1..=MAX_TTL).contains(&v) => Ok(Some(v)),
        _ => Err(usage(
            sub,
            format!(
                "--{option} must be a whole number of seconds from 1 to {MAX_TTL} (got {})",
                shown(raw)
            ),
        )),
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
        let err = parse_strs(&["show-client", "-odd"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("after --"), "{err}");
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
    }

    #[test]
    fn ttls_are_whole_seconds_within_bounds() {
        for (value, ok) in [
            ("1", true),
            ("315360000", true),
            ("0", false),
            ("315360001", false),
            ("+5", false),
            (" 5", false),
            ("5s", false),
        ] {
            let r = parse_strs(&["create-client", "--name", "n", "--access-ttl", value]);
            assert_eq!(r.is_ok(), ok, "{value}: {r:?}");
        }
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
        for args in [
            &["update-client", "c1"][..],
            &["update-client", "c1", "--json"],
        ] {
            let err = parse_strs(args).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains("nothing to change"), "{err}");
        }
    }

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

    #[test]
    fn help_and_version_need_nothing_else() {
        for args in [
            &["--help"][..],
            &["-h"],
            &["help"],
            &["--version"],
            &["help", "show-client"],
        ] {
            assert!(matches!(parse_strs(args), Ok(Parsed::Help(_))), "{args:?}");
        }
        assert_eq!(parse_strs(&["help", "nope"]).unwrap_err().exit_code(), 2);
    }
}
