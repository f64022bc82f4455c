//! `oauth-admin`, the real binary, against moto: what it prints, what it stores, and that
//! the token endpoint (the handler, over the same tables) honours it.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::fake_dynamodb::{FakeDynamo, Fault};
use common::*;
use oauth_token_service::admin::cli::ClientChanges;
use oauth_token_service::admin::{AdminError, ops};
use oauth_token_service::authorizer::authorize;
use oauth_token_service::oauth::token;
use oauth_token_service::store::GetToken;
use oauth_token_service::store::dynamodb::DynamoStore;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// What one run of the binary did.
#[derive(Debug)]
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn assert_ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "{self:?}");
        assert_eq!(self.stderr, "", "{self:?}");
        self
    }

    /// A failure: the exit code, nothing on stdout, and exactly one line on stderr that
    /// contains `needle`.
    fn assert_failed(&self, code: i32, needle: &str) -> &Self {
        assert_eq!(self.code, Some(code), "{self:?}");
        assert_eq!(self.stdout, "", "{self:?}");
        assert!(
            self.stderr.starts_with("oauth-admin: ")
                && self.stderr.ends_with('\n')
                && self.stderr.lines().count() == 1,
            "one line on stderr: {self:?}"
        );
        assert!(self.stderr.contains(needle), "{needle:?} in {self:?}");
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

/// The binary pointed at two tables of its own on moto (created only by `create-tables`).
struct Admin {
    clients: String,
    tokens: String,
    endpoint: String,
}

impl Admin {
    fn new() -> Self {
        Admin {
            clients: unique("admin-clients"),
            tokens: unique("admin-tokens"),
            endpoint: moto_endpoint(),
        }
    }

    /// With `create-tables` run.
    fn ready() -> Self {
        let admin = Admin::new();
        admin.run(&["create-tables"]).assert_ok();
        admin
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_oauth-admin"));
        // Only what the test gives: no profile or real credentials from the environment.
        cmd.args(args)
            .env_clear()
            .env("CLIENTS_TABLE", &self.clients)
            .env("TOKENS_TABLE", &self.tokens)
            .env("AWS_ENDPOINT_URL_DYNAMODB", &self.endpoint)
            // KMS (signing keys) at the same moto server.
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            // One sweep: the second, for requests in flight, has a test of its own.
            .env("OAUTH_ADMIN_SETTLE_SECONDS", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn run(&self, args: &[&str]) -> Out {
        self.run_with_stdin(args, b"")
    }

    fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Out {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .spawn()
            .expect("start oauth-admin");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input).expect("write stdin");
        drop(stdin);
        let out = child.wait_with_output().expect("oauth-admin output");
        Out {
            code: out.status.code(),
            stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
            stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
        }
    }

    /// `create-client ... --json`: the id and secret it printed.
    fn create(&self, extra: &[&str]) -> (String, String) {
        let mut args = vec!["create-client", "--json"];
        args.extend_from_slice(extra);
        if !extra.contains(&"--name") {
            args.extend(["--name", "test client"]);
        }
        let out = self.run(&args);
        out.assert_ok();
        let v = out.json();
        (
            v["client_id"].as_str().expect("client_id").to_owned(),
            v["client_secret"]
                .as_str()
                .expect("client_secret")
                .to_owned(),
        )
    }

    fn show(&self, id: &str) -> Value {
        let out = self.run(&["show-client", id, "--json"]);
        out.assert_ok();
        out.json()
    }

    async fn store(&self) -> DynamoStore {
        let client = sdk_client(&self.endpoint, Duration::from_secs(5)).await;
        DynamoStore::new(client, &self.clients, &self.tokens)
    }

    /// Every item of the clients table, raw.
    async fn clients_items(&self) -> Vec<HashMap<String, AttributeValue>> {
        let out = raw_dynamodb()
            .await
            .scan()
            .table_name(&self.clients)
            .consistent_read(true)
            .send()
            .await
            .expect("scan clients");
        out.items().to_vec()
    }

    /// The client records of the clients table, raw: its items less the audit trail's.
    async fn client_records(&self) -> Vec<HashMap<String, AttributeValue>> {
        let prefix = oauth_token_service::store::dynamodb::AUDIT_KEY_PREFIX;
        let mut items = self.clients_items().await;
        items.retain(|i| !i["client_id"].as_s().is_ok_and(|k| k.starts_with(prefix)));
        items
    }

    /// Whether the clients table holds only what `create-tables` left there: its audit
    /// record.
    async fn as_ready(&self) -> bool {
        let items = self.clients_items().await;
        items.len() == 1
            && items[0]["action"]
                .as_s()
                .is_ok_and(|a| a == "tables.created")
    }

    /// The token endpoint's answer to `event`, through the handler over these tables.
    async fn call(&self, event: Value) -> Answer {
        let store = self.store().await;
        let rng = ring::rand::SystemRandom::new();
        let app = test_app(&store, &rng);
        Answer::from_event(&app.handle_event(&event).await)
    }

    /// client_credentials with Basic authentication.
    async fn token(&self, id: &str, secret: &str) -> Answer {
        self.call(form_post(
            "grant_type=client_credentials",
            &[("authorization", &basic(id, secret))],
        ))
        .await
    }
}

fn form_value(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn assert_issued(a: &Answer) {
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["token_type"], "bearer");
    assert_eq!(a.body["access_token"].as_str().map(str::len), Some(40));
}

fn assert_invalid_client(a: &Answer) {
    a.assert_error(401, "invalid_client", INVALID_CLIENT);
}

#[tokio::test]
async fn create_tables_twice_creates_then_reports_them_existing() {
    let admin = Admin::new();
    let first = admin.run(&["create-tables"]);
    first.assert_ok();
    assert_eq!(
        first.stdout,
        format!(
            "clients table {}: created\ntokens table {}: created\nTTL on expires_at: enabled\n",
            admin.clients, admin.tokens
        )
    );
    let second = admin.run(&["create-tables"]);
    second.assert_ok();
    assert_eq!(
        second.stdout,
        format!(
            "clients table {}: already exists\ntokens table {}: already exists\nTTL on expires_at: already enabled\n",
            admin.clients, admin.tokens
        )
    );
    let ttl = raw_dynamodb()
        .await
        .describe_time_to_live()
        .table_name(&admin.tokens)
        .send()
        .await
        .unwrap();
    let description = ttl.time_to_live_description().unwrap();
    assert_eq!(description.attribute_name(), Some("expires_at"));
}

#[tokio::test]
async fn create_client_json_prints_one_object_whose_secret_gets_a_token() {
    let admin = Admin::ready();
    let out = admin.run(&[
        "create-client",
        "--name",
        "demo",
        "--scope",
        "quotes:read",
        "--json",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    let v = out.json();
    let obj = v.as_object().expect("one JSON object");
    assert_eq!(obj.len(), 2, "only client_id and client_secret: {v}");
    let id = v["client_id"].as_str().unwrap();
    let secret = v["client_secret"].as_str().unwrap();
    assert_eq!(id.len(), 20);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    );
    assert_eq!(secret.len(), 40);
    assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric()));

    let a = admin.token(id, secret).await;
    assert_issued(&a);
    assert_eq!(a.body["scope"], "quotes:read");
    assert_invalid_client(&admin.token(id, &secret[1..]).await);
}

#[tokio::test]
async fn create_client_text_shows_the_secret_once_with_a_warning() {
    let admin = Admin::ready();
    let out = admin.run(&["create-client", "--name", "Teen app", "--id", "teen-app"]);
    out.assert_ok();
    let secret = out
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("client_secret:"))
        .map(str::trim)
        .expect("a client_secret line")
        .to_owned();
    assert_eq!(secret.len(), 40);
    assert_eq!(out.stdout.matches(&secret).count(), 1, "{}", out.stdout);
    assert!(out.stdout.contains("client_id:     teen-app"));
    assert!(out.stdout.contains("will not be shown again"));
    assert_issued(&admin.token("teen-app", &secret).await);

    for args in [
        &["show-client", "teen-app"][..],
        &["show-client", "teen-app", "--json"],
        &["list-clients"],
        &["list-clients", "--json"],
    ] {
        let shown = admin.run(args);
        shown.assert_ok();
        assert!(
            !shown.stdout.contains(&secret),
            "{args:?}: {}",
            shown.stdout
        );
    }
}

#[tokio::test]
async fn client_options_are_stored_and_honoured() {
    let admin = Admin::ready();
    let (id, secret) = admin.create(&[
        "--name",
        "reader",
        "--scope",
        "quotes:read",
        "--scope",
        "quotes:write",
        "--scope",
        "quotes:read",
        "--default-scope",
        "quotes:read",
        "--grant",
        "client_credentials",
        "--access-ttl=60",
        "--refresh-ttl",
        "120",
    ]);
    let v = admin.show(&id);
    assert_eq!(v["name"], "reader");
    assert_eq!(v["scopes"], json!(["quotes:read", "quotes:write"]));
    assert_eq!(v["default_scopes"], json!(["quotes:read"]));
    assert_eq!(v["grants"], json!(["client_credentials"]));
    assert_eq!(v["access_ttl"], 60);
    assert_eq!(v["refresh_ttl"], 120);
    assert_eq!(v["disabled"], false);
    assert_eq!(v["resource_server"], false);
    assert_eq!(v["active_secrets"], 1);
    assert_eq!(v["secret_kinds"], json!(["generated"]));

    let a = admin.token(&id, &secret).await;
    assert_issued(&a);
    assert_eq!(a.body["expires_in"], 60);
    assert_eq!(a.body["scope"], "quotes:read");
    // Without the refresh_token grant, no refresh token is issued, and the grant is refused
    // before the token presented is even looked at.
    assert!(a.body.get("refresh_token").is_none(), "{}", a.body);
    let r = admin
        .call(form_post(
            &format!("grant_type=refresh_token&refresh_token={}", new_secret()),
            &[("authorization", &basic(&id, &secret))],
        ))
        .await;
    r.assert_error(400, "unauthorized_client", UNAUTHORIZED_CLIENT);

    let defaults = admin.create(&[]);
    let v = admin.show(&defaults.0);
    assert_eq!(v["grants"], json!(["client_credentials", "refresh_token"]));
    assert_eq!(v["scopes"], json!([]));
    assert_eq!(v["access_ttl"], Value::Null);
}

#[tokio::test]
async fn rotated_client_works_with_both_secrets_then_only_the_new_after_finish() {
    let admin = Admin::ready();
    let (id, old) = admin.create(&[]);

    let out = admin.run(&["rotate-secret", &id, "--json"]);
    out.assert_ok();
    assert_eq!(out.stdout.lines().count(), 1);
    let v = out.json();
    assert_eq!(v.as_object().map(|o| o.len()), Some(2));
    assert_eq!(v["client_id"], id.as_str());
    let new = v["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(admin.show(&id)["active_secrets"], 2);
    assert_issued(&admin.token(&id, &old).await);
    assert_issued(&admin.token(&id, &new).await);

    // A third secret would drop one silently: finish first.
    admin
        .run(&["rotate-secret", &id])
        .assert_failed(1, "--finish");
    assert_eq!(admin.show(&id)["active_secrets"], 2);

    let finished = admin.run(&["rotate-secret", &id, "--finish"]);
    finished.assert_ok();
    assert!(finished.stdout.contains("only its newest secret"));
    assert_eq!(admin.show(&id)["active_secrets"], 1);
    assert_invalid_client(&admin.token(&id, &old).await);
    assert_issued(&admin.token(&id, &new).await);

    // Finishing again changes nothing; rotating again works.
    let again = admin.run(&["rotate-secret", &id, "--finish"]);
    again.assert_ok();
    assert!(again.stdout.contains("nothing to finish"));
    assert_issued(&admin.token(&id, &new).await);
    let text = admin.run(&["rotate-secret", &id]);
    text.assert_ok();
    assert!(text.stdout.contains("will not be shown again"));
    assert!(
        text.stdout
            .contains(&format!("oauth-admin rotate-secret {id} --finish"))
    );
}

#[tokio::test]
async fn a_token_written_after_the_first_sweep_of_disable_client_is_revoked_by_the_second() {
    // A request reads the client just before disable-client writes its flag, and its token
    // pair is held on its way to DynamoDB until the first sweep has passed. With one sweep
    // (--settle-seconds 0) that pair stays live; the default's second sweep, after the
    // settle time, revokes it.
    let admin = Admin::ready();
    let (id, secret) = admin.create(&[]);
    let rng = ring::rand::SystemRandom::new();
    for settle in ["0", "3"] {
        let fake = FakeDynamo::start(Fault::Proxy, None).await;
        let store = DynamoStore::new(
            sdk_client(&fake.url(), Duration::from_secs(5)).await,
            &admin.clients,
            &admin.tokens,
        );
        let app = test_app(&store, &rng);
        fake.set_times(
            Fault::Slow(Duration::from_millis(1500)),
            Some("BatchWriteItem"),
            1,
        );
        let event = form_post(
            "grant_type=client_credentials",
            &[("authorization", &basic(&id, &secret))],
        );
        let tool = Admin {
            clients: admin.clients.clone(),
            tokens: admin.tokens.clone(),
            endpoint: admin.endpoint.clone(),
        };
        let args = ["disable-client", &id, "--settle-seconds", settle].map(str::to_owned);
        let disabling = async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                tool.run(&args)
            })
            .await
            .unwrap()
        };
        let revoked = async |a: &Answer| {
            let mut revoked = Vec::new();
            for key in ["access_token", "refresh_token"] {
                let hash = token::hash(a.body[key].as_str().unwrap());
                revoked.push(
                    store
                        .get_token(&hash)
                        .await
                        .unwrap()
                        .expect("stored")
                        .revoked,
                );
            }
            revoked
        };
        let issuing = async {
            let issued = Answer::from_event(&app.handle_event(&event).await);
            // Answered once the pair landed (1.5 s): the first sweep (by 0.3 s plus the
            // tool's start) has passed, and a second one is 3 s away yet.
            let then = revoked(&issued).await;
            (issued, then)
        };
        let ((issued, then), disabled) = tokio::join!(issuing, disabling);
        disabled.assert_ok();
        assert_issued(&issued);
        assert_eq!(then, [false, false], "the first sweep missed the pair");
        assert_eq!(fake.faulted(), 1, "the pair was held");
        for key in ["access_token", "refresh_token"] {
            let hash = token::hash(issued.body[key].as_str().unwrap());
            let stored = store.get_token(&hash).await.unwrap().expect("stored");
            assert_eq!(
                stored.revoked,
                settle != "0",
                "{key}, --settle-seconds {settle}"
            );
        }
        note(&format!(
            "--settle-seconds {settle}: {}",
            disabled.stdout.trim()
        ));
        admin.run(&["enable-client", &id]).assert_ok();
    }
}

#[tokio::test]
async fn disabled_and_deleted_clients_get_invalid_client() {
    let admin = Admin::ready();
    let (id, secret) = admin.create(&[]);
    assert_issued(&admin.token(&id, &secret).await);

    let out = admin.run(&["disable-client", &id]);
    out.assert_ok();
    // The access and refresh token issued above.
    assert_eq!(
        out.stdout,
        format!("Disabled client {id}; revoked its 2 live tokens.\n")
    );
    assert_eq!(admin.show(&id)["disabled"], true);
    assert_invalid_client(&admin.token(&id, &secret).await);
    let again = admin.run(&["disable-client", &id]);
    again.assert_ok();
    assert_eq!(
        again.stdout,
        format!("Client {id} was already disabled; revoked its 0 live tokens.\n")
    );

    admin.run(&["enable-client", &id]).assert_ok();
    assert_eq!(admin.show(&id)["disabled"], false);
    assert_issued(&admin.token(&id, &secret).await);

    let out = admin.run(&["delete-client", &id]);
    out.assert_ok();
    assert_eq!(
        out.stdout,
        format!("Deleted client {id}; revoked its 2 live tokens.\n")
    );
    assert_invalid_client(&admin.token(&id, &secret).await);
    // Run again, it finds no record and sweeps the id's tokens again.
    let again = admin.run(&["delete-client", &id]);
    again.assert_ok();
    assert_eq!(
        again.stdout,
        format!(
            "Client {id} has no record (already deleted, or never created); revoked its 0 live tokens.\n"
        )
    );
    assert!(admin.client_records().await.is_empty());
}

#[tokio::test]
async fn imported_secret_with_special_characters_works_in_json_form_and_basic() {
    let admin = Admin::ready();
    let secret = "a+b:c%20d e%";
    let out = admin.run_with_stdin(
        &[
            "import-client",
            "--id",
            "legacy-app",
            "--name",
            "Legacy",
            "--scope",
            "quotes:read",
        ],
        format!("{secret}\n").as_bytes(),
    );
    out.assert_ok();
    assert!(!out.stdout.contains(secret));
    assert_eq!(
        admin.show("legacy-app")["secret_kinds"],
        json!(["imported"])
    );

    let json_body = admin
        .call(json_post(&json!({
            "grant_type": "client_credentials",
            "client_id": "legacy-app",
            "client_secret": secret,
        })))
        .await;
    assert_issued(&json_body);
    let form_body = admin
        .call(form_post(
            &format!(
                "grant_type=client_credentials&client_id=legacy-app&client_secret={}",
                form_value(secret)
            ),
            &[],
        ))
        .await;
    assert_issued(&form_body);
    assert_issued(&admin.token("legacy-app", secret).await);

    // Exactly one trailing newline was dropped, nothing else.
    assert_invalid_client(&admin.token("legacy-app", &format!("{secret}\n")).await);
    assert_invalid_client(&admin.token("legacy-app", "a b:c%20d e%").await);

    // \r\n is one newline too; inner and leading spaces are kept.
    admin
        .run_with_stdin(
            &["import-client", "--id", "crlf", "--name", "CRLF"],
            b" x y\r\n",
        )
        .assert_ok();
    assert_issued(&admin.token("crlf", " x y").await);
    assert_invalid_client(&admin.token("crlf", "x y").await);
}

#[tokio::test]
async fn clients_table_holds_no_plaintext_secret() {
    let admin = Admin::ready();
    let mut secrets = Vec::new();
    let (id, s1) = admin.create(&[]);
    secrets.push(s1);
    let rotated = admin.run(&["rotate-secret", &id, "--json"]);
    rotated.assert_ok();
    secrets.push(rotated.json()["client_secret"].as_str().unwrap().to_owned());
    secrets.push(admin.create(&["--resource-server"]).1);
    let imported = "imported secret: p@ss+word%";
    admin
        .run_with_stdin(
            &["import-client", "--id", "imp", "--name", "Imported"],
            imported.as_bytes(),
        )
        .assert_ok();
    secrets.push(imported.to_owned());

    // Client records and audit records alike.
    let dump = format!("{:?}", admin.clients_items().await);
    for s in &secrets {
        assert!(!dump.contains(s.as_str()), "plaintext secret in {dump}");
        // Not even its long-enough pieces.
        assert!(!dump.contains(&s[..s.len() / 2]), "half a secret in {dump}");
    }
    let items = admin.client_records().await;
    assert_eq!(items.len(), 3);
    for item in &items {
        let hashes = item["secret_hashes"].as_l().expect("a list of hashes");
        for h in hashes {
            let h = h.as_s().unwrap();
            assert!(
                h.starts_with("hmac-sha256$") || h.starts_with("pbkdf2-sha256$"),
                "{h}"
            );
        }
    }
}

#[tokio::test]
async fn show_and_list_print_counts_never_hashes() {
    let admin = Admin::ready();
    let (id, _) = admin.create(&["--name", "rotating", "--scope", "a", "--scope", "b"]);
    admin.run(&["rotate-secret", &id]).assert_ok();
    admin.create(&["--name", "second"]);

    let list = admin.run(&["list-clients", "--json"]);
    list.assert_ok();
    let all = list.json();
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    let mine = all
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == id.as_str())
        .unwrap();
    assert_eq!(mine["active_secrets"], 2);
    assert!(mine.get("secret_hashes").is_none());

    let text = admin.run(&["list-clients"]);
    text.assert_ok();
    assert!(text.stdout.starts_with("CLIENT_ID"));
    let row = text.stdout.lines().find(|l| l.starts_with(&id)).unwrap();
    assert!(row.contains("enabled") && row.contains(" 2 ") && row.contains("a b"));
    let show = admin.run(&["show-client", &id]);
    show.assert_ok();
    assert!(
        show.stdout
            .contains("active secrets:  2 (generated, generated)")
    );

    for out in [list, text, show, admin.run(&["show-client", &id, "--json"])] {
        assert!(!out.stdout.contains("hmac-sha256"), "{}", out.stdout);
        assert!(!out.stdout.contains('$'), "{}", out.stdout);
    }
}

#[tokio::test]
async fn unknown_client_fails_in_one_line_and_writes_nothing() {
    let admin = Admin::ready();
    for args in [
        &["show-client", "nobody"][..],
        &["disable-client", "nobody"],
        &["enable-client", "nobody"],
        &["update-client", "nobody", "--name", "x"],
        &["update-client", "nobody", "--scope", "a", "--json"],
        &["rotate-secret", "nobody"],
        &["rotate-secret", "nobody", "--json"],
        &["rotate-secret", "nobody", "--finish"],
        &["set-resource-server", "nobody", "true"],
    ] {
        admin
            .run(args)
            .assert_failed(1, "no client with id \"nobody\"");
    }
    // delete-client sweeps the id's tokens whether or not a record is left, and says so.
    let out = admin.run(&["delete-client", "nobody"]);
    out.assert_ok();
    assert_eq!(
        out.stdout,
        "Client nobody has no record (already deleted, or never created); revoked its 0 live tokens.\n"
    );
    // An update of a missing item would create it: none was.
    assert!(admin.as_ready().await, "nothing written");
    admin.run(&["list-clients"]).assert_ok();
}

#[tokio::test]
async fn bad_flags_are_usage_errors_that_write_nothing() {
    let admin = Admin::ready();
    let cases: &[(&[&str], &str)] = &[
        (
            &["create-client", "--name", "x", "--access-ttl", "0"],
            "--access-ttl",
        ),
        (
            &["create-client", "--name", "x", "--refresh-ttl", "315360001"],
            "--refresh-ttl",
        ),
        (
            &["create-client", "--name", "x", "--access-ttl", "-5"],
            "--access-ttl",
        ),
        (
            &["create-client", "--name", "x", "--access-ttl", "1h"],
            "--access-ttl",
        ),
        (
            &["create-client", "--name", "x", "--grant", "password"],
            "--grant",
        ),
        (
            &["create-client", "--name", "x", "--scope", "a b"],
            "--scope",
        ),
        (
            &["create-client", "--name", "x", "--scope", "a,b"],
            "--scope",
        ),
        (&["create-client", "--name", "x", "--scope", ""], "--scope"),
        (
            &[
                "create-client",
                "--name",
                "x",
                "--scope",
                "a",
                "--default-scope",
                "b",
            ],
            "--default-scope",
        ),
        (
            &["create-client", "--name", "x", "--id", "has space"],
            "client id",
        ),
        (
            &["create-client", "--name", "x", "--id", &"x".repeat(129)],
            "client id",
        ),
        (&["create-client", "--scope", "a"], "--name is required"),
        (&["create-client", "--name", ""], "--name"),
        (
            &["create-client", "--name", "x", "--name", "y"],
            "given twice",
        ),
        (
            &["create-client", "--name", "x", "--json", "--json"],
            "given twice",
        ),
        (&["create-client", "--name"], "needs a value"),
        (&["create-client", "--name", "--json"], "needs a value"),
        (
            &["create-client", "--name", "x", "--frob"],
            "unknown option --frob",
        ),
        (
            &["create-client", "--name", "x", "extra"],
            "unexpected argument",
        ),
        (&["import-client", "--name", "x"], "--id is required"),
        (&["show-client"], "missing ID"),
        (&["show-client", "a", "b"], "unexpected argument"),
        (&["rotate-secret", "a", "--finish", "--json"], "--finish"),
        (&["set-resource-server", "a", "maybe"], "true or false"),
        (&["set-resource-server", "a"], "missing true|false"),
        (&["frobnicate"], "unknown command"),
        (&[], "no command given"),
    ];
    for (args, needle) in cases {
        let out = admin.run(args);
        out.assert_failed(2, needle);
        assert!(out.stderr.contains("--help"), "{out:?}");
    }
    assert!(admin.as_ready().await, "nothing written");
}

#[tokio::test]
async fn unreachable_dynamodb_fails_in_one_line_without_printing_a_secret() {
    let admin = Admin {
        endpoint: format!("http://127.0.0.1:{}", free_port()),
        ..Admin::new()
    };
    for args in [
        &["create-tables"][..],
        &["create-client", "--name", "x", "--json"],
        &["create-client", "--name", "x"],
        &["list-clients"],
        &["rotate-secret", "someone"],
        &["disable-client", "someone"],
        &["delete-client", "someone"],
        &["update-client", "someone", "--name", "x"],
    ] {
        admin
            .run(args)
            .assert_failed(1, "DynamoDB is unreachable or unavailable");
    }
}

#[tokio::test]
async fn import_refuses_an_empty_secret_and_an_existing_id_changing_nothing() {
    let admin = Admin::ready();
    for input in [&b""[..], b"\n", b"\r\n"] {
        admin
            .run_with_stdin(&["import-client", "--id", "imp", "--name", "x"], input)
            .assert_failed(1, "empty");
    }
    admin
        .run_with_stdin(
            &["import-client", "--id", "imp", "--name", "x"],
            b"\xff\xfe\n",
        )
        .assert_failed(1, "UTF-8");
    assert!(admin.as_ready().await, "nothing written");

    admin
        .run_with_stdin(&["import-client", "--id", "imp", "--name", "x"], b"first\n")
        .assert_ok();
    admin
        .run_with_stdin(
            &["import-client", "--id", "imp", "--name", "y"],
            b"second\n",
        )
        .assert_failed(1, "already exists");
    assert_issued(&admin.token("imp", "first").await);
    assert_invalid_client(&admin.token("imp", "second").await);
    assert_eq!(admin.show("imp")["name"], "x");
}

#[tokio::test]
async fn create_with_an_existing_id_changes_nothing() {
    let admin = Admin::ready();
    let (id, secret) = admin.create(&["--id", "fixed-id", "--name", "first"]);
    assert_eq!(id, "fixed-id");
    admin
        .run(&[
            "create-client",
            "--id",
            "fixed-id",
            "--name",
            "second",
            "--json",
        ])
        .assert_failed(1, "already exists");
    assert_eq!(admin.show("fixed-id")["name"], "first");
    assert_issued(&admin.token("fixed-id", &secret).await);
}

#[tokio::test]
async fn every_command_has_help() {
    let admin = Admin::new();
    let main = admin.run(&["--help"]);
    main.assert_ok();
    let commands = [
        "create-tables",
        "create-client",
        "import-client",
        "list-clients",
        "show-client",
        "disable-client",
        "enable-client",
        "delete-client",
        "update-client",
        "rotate-secret",
        "set-resource-server",
    ];
    for c in commands {
        assert!(main.stdout.contains(c), "{c} in {}", main.stdout);
        for args in [&[c, "--help"][..], &[c, "-h"], &["help", c]] {
            let out = admin.run(args);
            out.assert_ok();
            assert!(
                out.stdout.starts_with(&format!("Usage: oauth-admin {c}")),
                "{args:?}: {}",
                out.stdout
            );
        }
    }
    // Help wins over an otherwise bad command line, and needs no DynamoDB.
    admin
        .run(&["create-client", "--access-ttl", "0", "--help"])
        .assert_ok();
    for flag in ["--version", "-V"] {
        let version = admin.run(&[flag]);
        version.assert_ok();
        assert_eq!(
            version.stdout,
            format!("oauth-admin {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[tokio::test]
async fn a_resource_server_may_introspect_other_clients_tokens() {
    let admin = Admin::ready();
    let (app, app_secret) = admin.create(&["--scope", "read"]);
    let (api, api_secret) = admin.create(&["--name", "api"]);
    let issued = admin.token(&app, &app_secret).await;
    assert_issued(&issued);
    let token = issued.body["access_token"].as_str().unwrap().to_owned();
    let introspect = |id: String, secret: String| {
        let token = token.clone();
        let admin = &admin;
        async move {
            admin
                .call(v2_event(
                    "POST",
                    "/oauth/introspect",
                    &[
                        ("content-type", "application/x-www-form-urlencoded"),
                        ("authorization", &basic(&id, &secret)),
                    ],
                    Some(&format!("token={token}")),
                    true,
                ))
                .await
        }
    };
    assert_eq!(
        introspect(api.clone(), api_secret.clone()).await.body["active"],
        false
    );

    let out = admin.run(&["set-resource-server", &api, "true"]);
    out.assert_ok();
    assert_eq!(
        out.stdout,
        format!("Client {api} is now a resource server.\n")
    );
    assert_eq!(admin.show(&api)["resource_server"], true);
    let seen = introspect(api.clone(), api_secret.clone()).await;
    assert_eq!(seen.body["active"], true, "{}", seen.body);
    assert_eq!(seen.body["client_id"], app.as_str());

    admin
        .run(&["set-resource-server", &api, "false"])
        .assert_ok();
    assert_eq!(admin.show(&api)["resource_server"], false);
    assert_eq!(introspect(api, api_secret).await.body["active"], false);

    let (rs, _) = admin.create(&["--resource-server"]);
    assert_eq!(admin.show(&rs)["resource_server"], true);
}

#[tokio::test]
async fn concurrent_rotations_leave_exactly_two_secrets() {
    let admin = Admin::ready();
    let (id, old) = admin.create(&[]);
    let store = admin.store().await;
    let rng = ring::rand::SystemRandom::new();
    let (a, b) = tokio::join!(
        ops::rotate_secret(&store, &id, &rng, now()),
        ops::rotate_secret(&store, &id, &rng, now()),
    );
    let (won, lost) = match (a, b) {
        (Ok((c, _)), Err(e)) | (Err(e), Ok((c, _))) => (c, e),
        other => panic!("exactly one rotation should win: {other:?}"),
    };
    assert!(
        matches!(
            lost,
            AdminError::Conflict(_) | AdminError::RotationInProgress(_)
        ),
        "{lost:?}"
    );
    assert_eq!(admin.show(&id)["active_secrets"], 2);
    assert_issued(&admin.token(&id, &old).await);
    assert_issued(&admin.token(&id, won.client_secret.expose()).await);
}

#[tokio::test]
async fn disabling_a_client_revokes_its_live_tokens_and_no_one_elses() {
    let admin = Admin::ready();
    let (id, secret) = admin.create(&[]);
    let (other, other_secret) = admin.create(&[]);
    let mine = admin.token(&id, &secret).await;
    assert_issued(&mine);
    let theirs = admin.token(&other, &other_secret).await;
    assert_issued(&theirs);
    let store = admin.store().await;
    let record = |a: &Answer, key: &str| {
        let hash = token::hash(a.body[key].as_str().expect(key));
        let store = &store;
        async move {
            store
                .get_token(&hash)
                .await
                .expect("read token")
                .expect("token stored")
        }
    };
    let now = now();
    for key in ["access_token", "refresh_token"] {
        assert!(record(&mine, key).await.is_live(now));
    }

    let out = admin.run(&["disable-client", &id]);
    out.assert_ok();
    assert!(
        out.stdout.contains("revoked its 2 live tokens"),
        "{}",
        out.stdout
    );
    for key in ["access_token", "refresh_token"] {
        let r = record(&mine, key).await;
        assert!(
            r.revoked && !r.is_live(now),
            "{key} of the disabled client: {r:?}"
        );
        let r = record(&theirs, key).await;
        assert!(r.is_live(now), "{key} of another client: {r:?}");
    }
    // What the tokens protect refuses them: the authorizer denies the access token.
    let bearer = format!("Bearer {}", mine.body["access_token"].as_str().unwrap());
    let event = authorizer_event(Some(&bearer));
    let (answer, _) = authorize(&store, &event, now).await;
    assert_eq!(answer["isAuthorized"], false);

    // Enabling brings no token back; the client gets new ones.
    admin.run(&["enable-client", &id]).assert_ok();
    for key in ["access_token", "refresh_token"] {
        assert!(record(&mine, key).await.revoked);
    }
    assert_issued(&admin.token(&id, &secret).await);
}

/// One client's item in the clients table, raw.
async fn client_item(admin: &Admin, id: &str) -> Option<HashMap<String, AttributeValue>> {
    admin
        .clients_items()
        .await
        .into_iter()
        .find(|item| item.get("client_id").and_then(|v| v.as_s().ok()) == Some(&id.to_owned()))
}

/// client_credentials with Basic authentication, asking for `scope`.
async fn token_for_scope(admin: &Admin, id: &str, secret: &str, scope: &str) -> Answer {
    admin
        .call(form_post(
            &format!("grant_type=client_credentials&scope={}", form_value(scope)),
            &[("authorization", &basic(id, secret))],
        ))
        .await
}

#[tokio::test]
async fn update_client_takes_a_scope_away_from_new_requests() {
    let admin = Admin::ready();
    let (id, secret) = admin.create(&["--scope", "quotes:read", "--scope", "quotes:write"]);
    let before = token_for_scope(&admin, &id, &secret, "quotes:write").await;
    assert_issued(&before);
    assert_eq!(before.body["scope"], "quotes:write");

    let out = admin.run(&["update-client", &id, "--scope", "quotes:read"]);
    out.assert_ok();
    assert!(
        out.stdout
            .starts_with(&format!("Updated client {id}.\n\nclient_id:"))
    );
    assert!(
        out.stdout.contains("scopes:          quotes:read\n"),
        "{out:?}"
    );
    assert!(!out.stdout.contains('$'), "{out:?}");
    assert_eq!(admin.show(&id)["scopes"], json!(["quotes:read"]));

    token_for_scope(&admin, &id, &secret, "quotes:write")
        .await
        .assert_error(400, "invalid_scope", &invalid_scope("quotes:write"));
    token_for_scope(&admin, &id, &secret, "quotes:read quotes:write")
        .await
        .assert_error(400, "invalid_scope", &invalid_scope("quotes:write"));
    let read = token_for_scope(&admin, &id, &secret, "quotes:read").await;
    assert_issued(&read);
    assert_eq!(read.body["scope"], "quotes:read");
    // No scope asked for: all the client has left.
    let all = admin.token(&id, &secret).await;
    assert_issued(&all);
    assert_eq!(all.body["scope"], "quotes:read");

    // --json prints what show-client --json prints.
    let out = admin.run(&[
        "update-client",
        &id,
        "--scope",
        "quotes:read",
        "--scope",
        "quotes:admin",
        "--json",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout.lines().count(), 1);
    assert_eq!(out.json(), admin.show(&id));
    assert_eq!(out.json()["scopes"], json!(["quotes:read", "quotes:admin"]));
    assert_issued(&token_for_scope(&admin, &id, &secret, "quotes:admin").await);
}

#[tokio::test]
async fn update_client_changes_only_the_named_settings_and_never_the_secrets() {
    let admin = Admin::ready();
    let (id, old) = admin.create(&[
        "--name",
        "before",
        "--scope",
        "a",
        "--scope",
        "b",
        "--default-scope",
        "a",
    ]);
    let rotated = admin.run(&["rotate-secret", &id, "--json"]);
    rotated.assert_ok();
    let new = rotated.json()["client_secret"].as_str().unwrap().to_owned();
    admin.run(&["set-resource-server", &id, "true"]).assert_ok();
    let before = client_item(&admin, &id).await.expect("the client's item");

    let out = admin.run(&[
        "update-client",
        &id,
        "--name",
        "after",
        "--grant",
        "client_credentials",
        "--access-ttl",
        "60",
        "--refresh-ttl=120",
        "--json",
    ]);
    out.assert_ok();
    let v = out.json();
    assert_eq!(v["name"], "after");
    assert_eq!(v["grants"], json!(["client_credentials"]));
    assert_eq!(v["access_ttl"], 60);
    assert_eq!(v["refresh_ttl"], 120);
    // Not named: kept.
    assert_eq!(v["scopes"], json!(["a", "b"]));
    assert_eq!(v["default_scopes"], json!(["a"]));
    assert_eq!(v["resource_server"], true);
    assert_eq!(v["disabled"], false);
    assert_eq!(v["active_secrets"], 2);
    assert_eq!(v, admin.show(&id));

    let after = client_item(&admin, &id).await.expect("the client's item");
    for kept in [
        "secret_hashes",
        "disabled",
        "resource_server",
        "created_at",
        "scopes",
        "default_scopes",
    ] {
        assert_eq!(after.get(kept), before.get(kept), "{kept}");
    }
    assert_ne!(after.get("name"), before.get("name"));
    let stamp = |item: &HashMap<String, AttributeValue>| -> u64 {
        item["updated_at"].as_n().unwrap().parse().unwrap()
    };
    assert!(stamp(&after) >= stamp(&before));

    // Both secrets still authenticate, under the new settings.
    for secret in [&old, &new] {
        let a = admin.token(&id, secret).await;
        assert_issued(&a);
        assert_eq!(a.body["expires_in"], 60);
        assert_eq!(a.body["scope"], "a");
    }

    // A disabled client stays disabled.
    admin.run(&["disable-client", &id]).assert_ok();
    admin
        .run(&["update-client", &id, "--name", "still off"])
        .assert_ok();
    assert_eq!(admin.show(&id)["disabled"], true);
    assert_invalid_client(&admin.token(&id, &new).await);
    let last = client_item(&admin, &id).await.unwrap();
    assert_eq!(last.get("secret_hashes"), before.get("secret_hashes"));

    // Asking for what is already there writes nothing.
    admin.run(&["enable-client", &id]).assert_ok();
    let settled = client_item(&admin, &id).await.unwrap();
    let same = admin.run(&[
        "update-client",
        &id,
        "--name",
        "still off",
        "--access-ttl",
        "60",
    ]);
    same.assert_ok();
    assert!(
        same.stdout.starts_with(&format!(
            "Client {id} already had these settings; nothing was written.\n"
        )),
        "{same:?}"
    );
    assert_eq!(client_item(&admin, &id).await.unwrap(), settled);
}

#[tokio::test]
async fn update_client_refuses_bad_input_with_create_clients_messages_and_writes_nothing() {
    let admin = Admin::ready();
    let (id, secret) = admin.create(&["--scope", "a", "--scope", "b", "--default-scope", "a"]);
    let items = admin.clients_items().await;

    // Refused as create-client refuses the same option, in the same words.
    let same_as_create: &[&[&str]] = &[
        &["--access-ttl", "0"],
        &["--access-ttl", "1h"],
        &["--refresh-ttl", "315360001"],
        &["--grant", "password"],
        &["--scope", "a b"],
        &["--scope", "a", "--default-scope", "c"],
        &["--name", ""],
    ];
    for options in same_as_create {
        let mut create = vec!["create-client", "--name", "x"];
        if options[0] == "--name" {
            create.truncate(1);
        }
        create.extend_from_slice(options);
        let expected = admin.run(&create);
        expected.assert_failed(2, "--");
        let mut update = vec!["update-client", id.as_str()];
        update.extend_from_slice(options);
        let out = admin.run(&update);
        out.assert_failed(2, "--help");
        assert_eq!(
            out.stderr,
            expected.stderr.replace("create-client", "update-client"),
            "{options:?}"
        );
    }

    let cases: &[(&[&str], &str)] = &[
        (
            &["update-client", &id],
            "update-client: nothing to change: give at least one of --name, --scope, \
             --default-scope, --grant, --access-ttl, --refresh-ttl, --token-format, --audience, \
             --max-tokens-per-hour (see `oauth-admin update-client --help`)",
        ),
        (&["update-client", &id, "--json"], "nothing to change"),
        (
            &["update-client", &id, "--access-ttl", "0"],
            "--access-ttl must be a whole number of seconds from 1 to 315360000 (got \"0\")",
        ),
        (
            &["update-client", &id, "--grant", "password"],
            "--grant \"password\" is not client_credentials or refresh_token",
        ),
        // Checked against the stored scopes (a, b): the same words as create-client.
        (
            &["update-client", &id, "--default-scope", "c"],
            "update-client: --default-scope \"c\" is not among the client's scopes (add --scope c)",
        ),
        // Checked against the stored default scopes (a).
        (
            &["update-client", &id, "--scope", "b"],
            "the client's default scope \"a\" would not be among its scopes",
        ),
        (
            &["update-client", &id, "--resource-server"],
            "unknown option --resource-server",
        ),
        (
            &["update-client", &id, "--disabled"],
            "unknown option --disabled",
        ),
        (&["update-client", "--name", "x"], "missing ID"),
        (
            &["update-client", &id, "--name", "x", "--name", "y"],
            "given twice",
        ),
    ];
    for (args, needle) in cases {
        admin.run(args).assert_failed(2, needle);
    }
    admin
        .run(&["update-client", "nobody", "--name", "x"])
        .assert_failed(1, "no client with id \"nobody\"");

    assert_eq!(admin.clients_items().await, items, "nothing written");
    let a = admin.token(&id, &secret).await;
    assert_issued(&a);
    assert_eq!(a.body["scope"], "a");

    // Both lists given together may move the default scopes anywhere among the new scopes.
    let out = admin.run(&[
        "update-client",
        &id,
        "--scope",
        "b",
        "--default-scope",
        "b",
        "--json",
    ]);
    out.assert_ok();
    assert_eq!(out.json()["scopes"], json!(["b"]));
    assert_eq!(out.json()["default_scopes"], json!(["b"]));
}

#[tokio::test]
async fn update_client_loses_no_concurrent_change() {
    let admin = Admin::ready();
    let (id, _) = admin.create(&["--scope", "a", "--scope", "b", "--scope", "c"]);
    let store = admin.store().await;
    // Each is valid against what it reads; together they would leave a default scope
    // outside the scopes. Exactly one may be written.
    let narrow = ClientChanges {
        scopes: Some(vec!["a".into()]),
        ..ClientChanges::default()
    };
    let defaults = ClientChanges {
        default_scopes: Some(vec!["c".into()]),
        ..ClientChanges::default()
    };
    let (x, y) = tokio::join!(
        ops::update_client(&store, &id, &narrow, now()),
        ops::update_client(&store, &id, &defaults, now()),
    );
    let v = admin.show(&id);
    match (x, y) {
        (Ok(_), Err(AdminError::Conflict(_))) => {
            assert_eq!(v["scopes"], json!(["a"]));
            assert_eq!(v["default_scopes"], json!([]));
        }
        (Err(AdminError::Conflict(_)), Ok(_)) => {
            assert_eq!(v["scopes"], json!(["a", "b", "c"]));
            assert_eq!(v["default_scopes"], json!(["c"]));
        }
        // One read after the other's write, and refused what it read.
        (Ok(_), Err(e @ AdminError::Usage(_))) | (Err(e @ AdminError::Usage(_)), Ok(_)) => {
            assert!(e.to_string().contains("\"c\""), "{e}");
        }
        other => panic!("exactly one update should be written: {other:?}"),
    }
}

/// Every token record of `client_id`, raw, with whether it is revoked.
async fn tokens_of(admin: &Admin, client_id: &str) -> Vec<(String, bool)> {
    let out = raw_dynamodb()
        .await
        .scan()
        .table_name(&admin.tokens)
        .consistent_read(true)
        .send()
        .await
        .expect("scan tokens");
    out.items()
        .iter()
        .filter(|i| i.get("client_id").and_then(|v| v.as_s().ok()) == Some(&client_id.to_owned()))
        .filter(|i| {
            i.get("kind")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|k| k == "access" || k == "refresh")
        })
        .map(|i| {
            (
                i["token_hash"].as_s().unwrap().clone(),
                i.get("revoked").and_then(|v| v.as_bool().ok()) == Some(&true),
            )
        })
        .collect()
}

#[tokio::test]
async fn delete_client_run_again_finishes_a_sweep_cut_short() {
    let admin = Admin::ready();
    let (id, secret) = admin.create(&[]);
    let (other, other_secret) = admin.create(&[]);
    let first = admin.token(&id, &secret).await;
    assert_issued(&first);
    assert_issued(&admin.token(&id, &secret).await);
    assert_issued(&admin.token(&other, &other_secret).await);
    assert_eq!(tokens_of(&admin, &id).await.len(), 4);

    // A run cut short after the record went: the record is gone, the tokens are live.
    let store = admin.store().await;
    raw_dynamodb()
        .await
        .delete_item()
        .table_name(&admin.clients)
        .key("client_id", AttributeValue::S(id.clone()))
        .send()
        .await
        .expect("delete the record");
    let bearer = format!("Bearer {}", first.body["access_token"].as_str().unwrap());
    let (answer, _) = authorize(&store, &authorizer_event(Some(&bearer)), now()).await;
    assert_eq!(answer["isAuthorized"], true, "live before the sweep");

    let out = admin.run(&["delete-client", &id]);
    out.assert_ok();
    assert_eq!(
        out.stdout,
        format!(
            "Client {id} has no record (already deleted, or never created); revoked its 4 live tokens.\n"
        )
    );
    let tokens = tokens_of(&admin, &id).await;
    assert_eq!(tokens.len(), 4);
    assert!(tokens.iter().all(|(_, revoked)| *revoked), "{tokens:?}");
    let (answer, _) = authorize(&store, &authorizer_event(Some(&bearer)), now()).await;
    assert_eq!(answer["isAuthorized"], false);
    // Another client's tokens are not touched, and no record was written.
    assert!(tokens_of(&admin, &other).await.iter().all(|(_, r)| !r));
    assert!(client_item(&admin, &id).await.is_none());

    let again = admin.run(&["delete-client", &id]);
    again.assert_ok();
    assert!(
        again.stdout.contains("revoked its 0 live tokens"),
        "{again:?}"
    );
}

#[tokio::test]
async fn delete_client_keeps_the_record_until_the_tokens_are_revoked() {
    let admin = Admin::ready();
    let (id, secret) = admin.create(&[]);
    assert_issued(&admin.token(&id, &secret).await);

    // The sweep fails (its table is missing): the record stays, disabled, so a rerun
    // finds the client and finishes.
    let broken = Admin {
        tokens: unique("missing-tokens"),
        clients: admin.clients.clone(),
        endpoint: admin.endpoint.clone(),
    };
    broken.run(&["delete-client", &id]).assert_failed(
        1,
        &format!("the tokens table {:?} (TOKENS_TABLE)", broken.tokens),
    );
    assert_eq!(admin.show(&id)["disabled"], true);
    assert_invalid_client(&admin.token(&id, &secret).await);
    assert!(tokens_of(&admin, &id).await.iter().all(|(_, r)| !r));

    let out = admin.run(&["delete-client", &id]);
    out.assert_ok();
    assert_eq!(
        out.stdout,
        format!("Deleted client {id}; revoked its 2 live tokens.\n")
    );
    assert!(tokens_of(&admin, &id).await.iter().all(|(_, r)| *r));
    assert!(admin.client_records().await.is_empty());
}

#[tokio::test]
async fn signing_keys_and_jwt_clients_through_the_tool() {
    let admin = Admin::ready();
    // Before any key, rotation says what to run first and writes nothing.
    let out = admin.run(&["rotate-signing-key"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("create-signing-key"), "{}", out.stderr);

    let out = admin.run(&["create-signing-key"]);
    out.assert_ok();
    assert!(out.stdout.starts_with("Signing key "), "{}", out.stdout);
    assert!(out.stdout.contains("it signs from now"), "{}", out.stdout);
    let again = admin.run(&["create-signing-key"]);
    again.assert_ok();
    assert!(again.stdout.contains("exists already"), "{}", again.stdout);
    let rotated = admin.run(&["rotate-signing-key"]);
    rotated.assert_ok();
    assert!(rotated.stdout.contains("(in 7200 s"), "{}", rotated.stdout);
    // Nothing the tool prints holds key material: ids, times and names only.
    for out in [&out, &again, &rotated] {
        assert!(!out.stdout.contains("MII"), "{}", out.stdout);
        assert!(out.stdout.len() < 400, "{}", out.stdout);
    }

    let (id, secret) = admin.create(&[
        "--scope",
        "read",
        "--token-format",
        "jwt",
        "--audience",
        "https://api.example.com",
    ]);
    let shown = admin.show(&id);
    assert_eq!(shown["token_format"], "jwt");
    assert_eq!(
        shown["audiences"],
        serde_json::json!(["https://api.example.com"])
    );
    let text = admin.run(&["show-client", &id]);
    assert!(text.stdout.contains("token format"), "{}", text.stdout);

    // The token function unseals the key through KMS and signs this client's tokens.
    let store = admin.store().await;
    let keys = oauth_token_service::keys::JwtKeys::new(Some(Box::new(
        oauth_token_service::kms::KmsUnseal::new(kms_client().await),
    )));
    let rng = ring::rand::SystemRandom::new();
    let mut app = test_app(&store, &rng);
    app.issuer.jwt = Some(&keys);
    let a = Answer::from_event(
        &app.handle_event(&form_post(
            "grant_type=client_credentials",
            &[("authorization", &basic(&id, &secret))],
        ))
        .await,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let token = a.body["access_token"].as_str().unwrap();
    assert!(oauth_token_service::oauth::jwt::looks_like_jwt(token));
    let published = keys.published(&store, now()).await.unwrap();
    assert_eq!(published.len(), 2, "the signing key and the next one");
    let claims = oauth_token_service::oauth::jwt::verify(token, &published, None, now()).unwrap();
    assert_eq!(claims.aud, ["https://api.example.com"]);

    // update-client switches the format back; bad values are usage errors.
    admin
        .run(&["update-client", &id, "--token-format", "opaque"])
        .assert_ok();
    assert_eq!(admin.show(&id)["token_format"], "opaque");
    for (flag, value, says) in [
        ("--token-format", "paseto", "is not opaque or jwt"),
        ("--audience", "not a uri", "is not an absolute URI"),
    ] {
        let out = admin.run(&["update-client", &id, flag, value]);
        assert_eq!(out.code, Some(2), "{}", out.stderr);
        assert!(out.stderr.contains(says), "{}", out.stderr);
    }
}
