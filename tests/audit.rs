//! `oauth-admin`'s audit trail, the real binary against moto: each change appends exactly
//! its record, with the caller's identity from STS; `oauth-admin audit` lists them; the
//! records, stored in the clients table, hold no secret or hash, stay out of
//! `list-clients`, and are never taken for a client by the token endpoint.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::fake_dynamodb::{FakeDynamo, Fault};
use common::*;
use oauth_token_service::store::GetClient;
use oauth_token_service::store::dynamodb::{AUDIT_KEY_PREFIX, DynamoStore};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

type Item = HashMap<String, AttributeValue>;

#[derive(Debug)]
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn ok(self) -> Self {
        assert_eq!(self.code, Some(0), "{self:?}");
        assert_eq!(self.stderr, "", "{self:?}");
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

/// The binary over two tables of its own on moto, STS and KMS at the same server.
#[derive(Clone)]
struct Admin {
    clients: String,
    tokens: String,
    endpoint: String,
    /// Extra variables (a local user, another STS endpoint).
    env: Vec<(&'static str, String)>,
}

impl Admin {
    fn new() -> Self {
        Admin {
            clients: unique("audit-clients"),
            tokens: unique("audit-tokens"),
            endpoint: moto_endpoint(),
            env: Vec::new(),
        }
    }

    fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Out {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_oauth-admin"));
        cmd.args(args)
            .env_clear()
            .env("CLIENTS_TABLE", &self.clients)
            .env("TOKENS_TABLE", &self.tokens)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("OAUTH_ADMIN_SETTLE_SECONDS", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start oauth-admin");
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

    fn run(&self, args: &[&str]) -> Out {
        self.run_with_stdin(args, b"")
    }

    /// `audit --json`, all records.
    fn audit(&self, extra: &[&str]) -> Vec<Value> {
        let mut args = vec!["audit", "--json"];
        args.extend_from_slice(extra);
        match self.run(&args).ok().json() {
            Value::Array(records) => records,
            other => panic!("not an array: {other}"),
        }
    }

    /// Runs `args` (which must succeed) and returns the one record it appended.
    fn recorded(&self, args: &[&str]) -> (Out, Value) {
        let before = self.audit(&[]).len();
        let out = self.run(args).ok();
        let mut after = self.audit(&[]);
        assert_eq!(
            after.len(),
            before + 1,
            "{args:?} appends one record: {after:#?}"
        );
        (out, after.pop().unwrap())
    }

    /// Runs `args` (which must succeed) and checks that it appended nothing.
    fn unrecorded(&self, args: &[&str]) -> Out {
        let before = self.audit(&[]).len();
        let out = self.run(args).ok();
        assert_eq!(self.audit(&[]).len(), before, "{args:?} appends nothing");
        out
    }

    async fn store(&self) -> DynamoStore {
        let client = sdk_client(&self.endpoint, Duration::from_secs(5)).await;
        DynamoStore::new(client, &self.clients, &self.tokens)
    }

    async fn clients_items(&self) -> Vec<Item> {
        raw_dynamodb()
            .await
            .scan()
            .table_name(&self.clients)
            .consistent_read(true)
            .send()
            .await
            .expect("scan clients")
            .items()
            .to_vec()
    }

    async fn audit_items(&self) -> Vec<Item> {
        self.clients_items()
            .await
            .into_iter()
            .filter(|i| key_of(i).starts_with(AUDIT_KEY_PREFIX))
            .collect()
    }

    async fn token_answer(&self, event: Value) -> Answer {
        let store = self.store().await;
        let rng = ring::rand::SystemRandom::new();
        let app = test_app(&store, &rng);
        Answer::from_event(&app.handle_event(&event).await)
    }
}

fn key_of(item: &Item) -> String {
    item.get("client_id")
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

/// The ARN moto's STS answers for these credentials, asked here directly.
async fn sts_arn() -> String {
    let config = oauth_token_service::aws::config_loader(Duration::from_secs(5))
        .endpoint_url(moto_endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    let out = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .expect("sts:GetCallerIdentity");
    out.arn().expect("an ARN").to_owned()
}

fn assert_subject(record: &Value, action: &str, client: Option<&str>, key: Option<&str>) {
    assert_eq!(record["action"], action, "{record}");
    assert_eq!(record["client_id"], json!(client), "{record}");
    assert_eq!(record["key_id"], json!(key), "{record}");
}

#[tokio::test]
async fn every_command_appends_exactly_its_record_with_the_sts_identity() {
    let admin = Admin::new();
    let arn = sts_arn().await;
    assert!(arn.starts_with("arn:aws:"), "{arn}");

    // No trail to read before the tables exist.
    admin.run(&["create-tables"]).ok();
    let first = admin.audit(&[]);
    assert_eq!(first.len(), 1, "{first:#?}");
    let r = &first[0];
    assert_subject(r, "tables.created", None, None);
    assert_eq!(
        r["changes"],
        json!({"created": [admin.clients, admin.tokens], "ttl_enabled": true})
    );
    assert_eq!(
        (r["actor"].as_str(), r["actor_source"].as_str()),
        (Some(arn.as_str()), Some("aws"))
    );
    admin.unrecorded(&["create-tables"]);

    let (out, r) = admin.recorded(&[
        "create-client",
        "--id",
        "app",
        "--name",
        "App",
        "--scope",
        "quotes:read",
        "--json",
    ]);
    let secret = out.json()["client_secret"].as_str().unwrap().to_owned();
    assert_subject(&r, "client.created", Some("app"), None);
    assert_eq!(r["changes"]["scopes"], json!(["quotes:read"]));
    assert_eq!(r["changes"]["secret_kinds"], json!(["generated"]));
    assert_eq!(r["actor"], arn.as_str());
    // Two live tokens (access and refresh) for disable-client to revoke later.
    let a = admin
        .token_answer(form_post(
            "grant_type=client_credentials",
            &[("authorization", &basic("app", &secret))],
        ))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);

    let before = admin.audit(&[]).len();
    admin
        .run_with_stdin(
            &["import-client", "--id", "legacy", "--name", "Legacy"],
            b"an old secret\n",
        )
        .ok();
    let records = admin.audit(&[]);
    assert_eq!(records.len(), before + 1);
    assert_subject(&records[before], "client.created", Some("legacy"), None);
    assert_eq!(
        records[before]["changes"]["secret_kinds"],
        json!(["imported"])
    );

    for (args, action, changes) in [
        (
            &[
                "update-client",
                "app",
                "--access-ttl",
                "120",
                "--scope",
                "quotes:read",
            ][..],
            "client.updated",
            json!({"access_ttl": {"from": null, "to": 120}}),
        ),
        (
            &["set-resource-server", "app", "true"],
            "client.updated",
            json!({"resource_server": {"from": false, "to": true}}),
        ),
        (
            &["rotate-secret", "app", "--json"],
            "secret.rotated",
            json!({
                "active_secrets": {"from": 1, "to": 2},
                "secret_kinds": {"from": ["generated"], "to": ["generated", "generated"]},
            }),
        ),
        (
            &["rotate-secret", "app", "--finish"],
            "secret.rotation_finished",
            json!({
                "active_secrets": {"from": 2, "to": 1},
                "secret_kinds": {"from": ["generated", "generated"], "to": ["generated"]},
            }),
        ),
    ] {
        let (_, r) = admin.recorded(args);
        assert_subject(&r, action, Some("app"), None);
        assert_eq!(r["changes"], changes, "{args:?}");
    }
    // Settings as they are already: nothing written, nothing recorded.
    admin.unrecorded(&["update-client", "app", "--access-ttl", "120"]);
    admin.unrecorded(&["set-resource-server", "app", "true"]);
    admin.unrecorded(&["rotate-secret", "app", "--finish"]);
    admin.unrecorded(&["list-clients"]);
    admin.unrecorded(&["show-client", "app"]);

    let (_, r) = admin.recorded(&["disable-client", "app"]);
    assert_subject(&r, "client.disabled", Some("app"), None);
    assert_eq!(
        r["changes"],
        json!({"disabled": {"from": false, "to": true}, "tokens_revoked": 2})
    );
    admin.unrecorded(&["disable-client", "app"]);
    let (_, r) = admin.recorded(&["enable-client", "app"]);
    assert_subject(&r, "client.enabled", Some("app"), None);
    assert_eq!(
        r["changes"],
        json!({"disabled": {"from": true, "to": false}})
    );
    admin.unrecorded(&["enable-client", "app"]);

    let (out, r) = admin.recorded(&["create-signing-key"]);
    let kid = r["key_id"].as_str().expect("a key id").to_owned();
    assert_subject(&r, "signing_key.created", None, Some(&kid));
    assert!(out.stdout.contains(&kid), "{out:?}");
    assert_eq!(r["changes"]["published"], json!([kid]));
    assert!(r["changes"]["kms_key_id"].is_string(), "{r}");
    admin.unrecorded(&["create-signing-key"]);
    let (out, r) = admin.recorded(&["rotate-signing-key"]);
    let next = r["key_id"].as_str().expect("a key id").to_owned();
    assert_ne!(next, kid);
    assert_subject(&r, "signing_key.rotated", None, Some(&next));
    assert!(out.stdout.contains(&next), "{out:?}");
    assert_eq!(r["changes"]["published"], json!([kid, next]));

    let (_, r) = admin.recorded(&["delete-client", "app"]);
    assert_subject(&r, "client.deleted", Some("app"), None);
    assert_eq!(
        r["changes"],
        json!({"record_deleted": true, "tokens_revoked": 0})
    );
    admin.unrecorded(&["delete-client", "app"]);

    // Every record: the caller's ARN, and both times, which agree.
    let all = admin.audit(&[]);
    assert_eq!(all.len(), 12, "{all:#?}");
    for r in &all {
        assert_eq!(r["actor"], arn.as_str());
        assert_eq!(r["actor_source"], "aws");
        let at = r["at"].as_str().unwrap();
        let ms = r["at_ms"].as_u64().unwrap();
        assert_eq!(at, oauth_token_service::admin::audit::rfc3339_ms(ms), "{r}");
        assert!(at.ends_with('Z') && at.len() == 24, "{at}");
    }
    // A failed command records nothing.
    let failed = admin.run(&["enable-client", "app"]);
    assert_eq!(failed.code, Some(1), "{failed:?}");
    assert_eq!(admin.audit(&[]).len(), 12);
}

#[tokio::test]
async fn audit_lists_oldest_first_one_line_each_and_filters_by_client() {
    let admin = Admin::new();
    admin.run(&["create-tables"]).ok();
    for id in ["one", "two"] {
        admin
            .run(&["create-client", "--id", id, "--name", id, "--json"])
            .ok();
    }
    admin.run(&["disable-client", "one"]).ok();

    let text = admin.run(&["audit"]).ok().stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    let arn = sts_arn().await;
    for (line, (action, subject)) in lines.iter().zip([
        ("tables.created", "-"),
        ("client.created", "client one"),
        ("client.created", "client two"),
        ("client.disabled", "client one"),
    ]) {
        assert!(
            line.contains(&format!("Z  {action:<24}  {subject}  by {arn}  ")),
            "{line}"
        );
    }
    assert!(
        lines[3].ends_with("disabled: false -> true"),
        "{}",
        lines[3]
    );
    // Oldest first: the times never go back.
    let times: Vec<&str> = lines.iter().map(|l| &l[..24]).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);

    let of_one = admin.run(&["audit", "--client", "one"]).ok().stdout;
    assert_eq!(of_one.lines().collect::<Vec<_>>(), [lines[1], lines[3]]);
    let newest = admin.run(&["audit", "--limit", "2"]).ok().stdout;
    assert_eq!(newest.lines().collect::<Vec<_>>(), [lines[2], lines[3]]);
    assert_eq!(
        admin.run(&["audit", "--client", "nobody"]).ok().stdout,
        "No audit records for client nobody.\n"
    );
    let json = admin.audit(&["--client", "two"]);
    assert_eq!(json.len(), 1);
    assert_eq!(json[0]["client_id"], "two");
}

#[tokio::test]
async fn records_in_the_table_hold_no_secret_and_no_hash() {
    let admin = Admin::new();
    admin.run(&["create-tables"]).ok();
    let created = admin
        .run(&["create-client", "--id", "app", "--name", "App", "--json"])
        .ok()
        .json();
    let rotated = admin.run(&["rotate-secret", "app", "--json"]).ok().json();
    let imported = "imported secret: s3cr3t";
    admin
        .run_with_stdin(
            &["import-client", "--id", "legacy", "--name", "L"],
            imported.as_bytes(),
        )
        .ok();
    let mut forbidden: Vec<String> = vec![
        created["client_secret"].as_str().unwrap().to_owned(),
        rotated["client_secret"].as_str().unwrap().to_owned(),
        imported.to_owned(),
    ];
    let items = admin.clients_items().await;
    for item in &items {
        if let Some(AttributeValue::L(hashes)) = item.get("secret_hashes") {
            forbidden.extend(hashes.iter().map(|h| h.as_s().unwrap().clone()));
        }
    }
    assert_eq!(forbidden.len(), 6, "two clients, three hashes: {items:#?}");

    let audit = admin.audit_items().await;
    assert_eq!(
        audit.len(),
        4,
        "tables, two clients, a rotation: {audit:#?}"
    );
    for item in &audit {
        let raw = format!("{item:?}");
        for f in &forbidden {
            assert!(!raw.contains(f.as_str()), "{f} in {raw}");
        }
        assert!(!raw.contains('$'), "no hash string in {raw}");
        assert!(!item.contains_key("secret_hashes"), "{raw}");
        // The layout README describes: audit#<ms>#<hex>, kind audit, both times.
        let key = key_of(item);
        let (ms, hex) = key[AUDIT_KEY_PREFIX.len()..].split_once('#').unwrap();
        assert_eq!(ms.len(), 15);
        assert_eq!(
            item["at_ms"].as_n().unwrap(),
            &ms.trim_start_matches('0').to_owned()
        );
        assert_eq!(hex.len(), 16);
        assert_eq!(item["kind"].as_s().unwrap(), "audit");
        assert!(item["at"].as_s().unwrap().ends_with('Z'));
    }
}

#[tokio::test]
async fn audit_items_stay_out_of_list_clients_and_client_reads() {
    let admin = Admin::new();
    admin.run(&["create-tables"]).ok();
    admin
        .run(&["create-client", "--id", "app", "--name", "App", "--json"])
        .ok();
    let audit = admin.audit_items().await;
    assert_eq!(audit.len(), 2);
    let listed = admin.run(&["list-clients", "--json"]).ok().json();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["app"]);
    let text = admin.run(&["list-clients"]).ok().stdout;
    assert!(!text.contains(AUDIT_KEY_PREFIX), "{text}");

    // The store passes over an audit item read by its key.
    let store = admin.store().await;
    for item in &audit {
        assert_eq!(store.get_client(&key_of(item)).await.unwrap(), None);
    }
    // And show-client refuses such an id before reading anything.
    let shown = admin.run(&["show-client", "--", &key_of(&audit[0])]);
    assert_eq!(shown.code, Some(2), "{shown:?}");
}

#[tokio::test]
async fn an_audit_key_as_client_id_is_invalid_client_at_the_token_endpoint() {
    let admin = Admin::new();
    admin.run(&["create-tables"]).ok();
    admin
        .run(&["create-client", "--id", "app", "--name", "App", "--json"])
        .ok();
    let audit = admin.audit_items().await;
    assert!(!audit.is_empty());
    for item in &audit {
        let key = key_of(item);
        // Form-encoded Basic, raw Basic (`#` as is), and the form body.
        let raw_basic = {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD;
            format!("Basic {}", b64.encode(format!("{key}:whatever")))
        };
        let events = [
            form_post(
                "grant_type=client_credentials",
                &[("authorization", &basic(&key, "whatever"))],
            ),
            form_post(
                "grant_type=client_credentials",
                &[("authorization", &raw_basic)],
            ),
            form_post(
                &format!(
                    "grant_type=client_credentials&client_id={}&client_secret=whatever",
                    form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>()
                ),
                &[],
            ),
        ];
        for event in events {
            let a = admin.token_answer(event).await;
            a.assert_error(401, "invalid_client", INVALID_CLIENT);
        }
    }
}

#[tokio::test]
async fn without_an_aws_identity_the_local_user_is_recorded() {
    let mut admin = Admin::new();
    admin.run(&["create-tables"]).ok();
    // STS on a port nobody listens on: no AWS identity to be had.
    admin.env = vec![
        (
            "AWS_ENDPOINT_URL_STS",
            format!("http://127.0.0.1:{}", free_port()),
        ),
        ("USER", "carol".to_owned()),
        ("LOGNAME", "dave".to_owned()),
    ];
    let started = std::time::Instant::now();
    admin
        .run(&["create-client", "--id", "app", "--name", "App", "--json"])
        .ok();
    assert!(started.elapsed() < Duration::from_secs(15));
    admin.env.retain(|(k, _)| *k != "USER");
    admin.run(&["disable-client", "app"]).ok();
    admin.env.retain(|(k, _)| *k != "LOGNAME");
    admin.run(&["enable-client", "app"]).ok();
    let records = admin.audit(&["--client", "app"]);
    let who: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap(),
                r["actor_source"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        who,
        [("carol", "local"), ("dave", "local"), ("unknown", "local")]
    );
    let text = admin.run(&["audit", "--client", "app"]).ok().stdout;
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains("  by carol (local user)  "),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_record_cannot_be_written_says_so_and_exits_3() {
    let admin = Admin::new();
    admin.run(&["create-tables"]).ok();
    admin
        .run(&["create-client", "--id", "app", "--name", "App", "--json"])
        .ok();
    admin.run(&["disable-client", "app"]).ok();
    // Every PutItem refused: deleting a disabled client needs none (a read, a scan of its
    // tokens, a DeleteItem), but appending its record does.
    let fake = FakeDynamo::start(Fault::Error(400, "AccessDeniedException"), Some("PutItem")).await;
    let mut faulty = admin.clone();
    faulty.env.push(("AWS_ENDPOINT_URL_DYNAMODB", fake.url()));
    let out = tokio::task::spawn_blocking(move || faulty.run(&["delete-client", "app"]))
        .await
        .unwrap();
    assert_eq!(out.code, Some(3), "{out:?}");
    assert_eq!(
        out.stdout,
        "Deleted client app; revoked its 0 live tokens.\n"
    );
    assert_eq!(
        out.stderr,
        "oauth-admin: the change was made, but it is NOT recorded in the audit trail \
         (PutItem: AccessDeniedException: injected AccessDeniedException); record it by other \
         means\n"
    );
    assert_eq!(fake.faulted(), 1);
    // The change stands, and the trail lacks it.
    assert_eq!(admin.store().await.get_client("app").await.unwrap(), None);
    let actions: Vec<Value> = admin
        .audit(&["--client", "app"])
        .iter()
        .map(|r| r["action"].clone())
        .collect();
    assert_eq!(actions, [json!("client.created"), json!("client.disabled")]);
}
