//! The README's first command, `make dev` (scripts/dev.sh): it becomes ready, its printed
//! curl line gets a token over HTTP, and SIGTERM stops everything it started.

mod common;

use common::*;
use serde_json::{Value, json};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The first build of the function can take minutes on a small machine.
const READY_WITHIN: Duration = Duration::from_secs(15 * 60);

/// The running script; stopped (SIGTERM, then SIGKILL) if a test fails halfway.
struct Dev {
    child: Child,
    log: PathBuf,
}

impl Dev {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status();
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        None
    }

    /// The end of the script's stderr, for failure messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal("-TERM");
            if self.wait_exit(Duration::from_secs(60)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).is_ok()
}

/// PIDs of live processes whose environment holds `marker` (every descendant of the
/// script inherits it). Linux only; elsewhere the port checks stand alone.
fn processes_with(marker: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let needle = format!("OAUTH_DEV_TEST_MARKER={marker}");
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(Path::new("/proc").join(pid.to_string()).join("environ"))
                .map(|env| env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// Runs curl (argv, no shell) or a printed line (through sh) and parses its JSON; retried
/// while cargo-lambda answers for a function it is restarting after an edit.
fn curl_json(mut command: impl FnMut() -> Command) -> Value {
    for _ in 0..10 {
        let out = command().output().expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("httpstatuses.com/500") {
            std::thread::sleep(Duration::from_secs(2));
            continue;
        }
        return serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{e}: curl printed {text:?} ({:?})", out.status));
    }
    panic!("cargo-lambda kept answering 500")
}

fn assert_token(v: &Value) {
    assert_eq!(v["token_type"], "bearer", "{v}");
    assert_eq!(v["access_token"].as_str().map(str::len), Some(40), "{v}");
    assert_eq!(v["scope"], "quotes:read", "{v}");
}

#[test]
fn dev_command_serves_tokens_and_stops_everything_on_sigterm() {
    let dev_port = free_port();
    let db_port = (0..10)
        .map(|_| free_port())
        .find(|p| *p != dev_port)
        .expect("a second free port");
    let marker = unique("dev");
    let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("dev-command-{marker}.log"));
    let mut command = Command::new(root().join("scripts/dev.sh"));
    // As a user runs it: without what cargo sets for a test, which build scripts (ring's)
    // watch, so that handing it on would rebuild them and then rebuild them back.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_MANIFEST_")
            || name.starts_with("CARGO_PKG_")
            || [
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
            ]
            .contains(&name.as_ref())
        {
            command.env_remove(name.as_ref());
        }
    }
    let child = command
        .current_dir(root())
        .env("OAUTH_DEV_PORT", dev_port.to_string())
        .env("OAUTH_DEV_DYNAMODB_PORT", db_port.to_string())
        .env(
            "OAUTH_DEV_READY_TIMEOUT",
            READY_WITHIN.as_secs().to_string(),
        )
        .env("OAUTH_DEV_TEST_MARKER", &marker)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(&log).expect("create the log"))
        .spawn()
        .expect("start scripts/dev.sh");
    let mut dev = Dev { child, log };

    let stdout = dev.child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    // Wait for the ready line, keeping what came before it.
    let start = Instant::now();
    let mut printed = Vec::new();
    loop {
        let left = READY_WITHIN.saturating_sub(start.elapsed());
        match rx.recv_timeout(left.min(Duration::from_secs(5))) {
            Ok(line) => {
                let ready = line.contains("ready");
                printed.push(line);
                if ready {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => {}
            Err(e) => panic!(
                "no ready line after {:?} ({e:?}); stdout: {printed:?}; stderr:\n{}",
                start.elapsed(),
                dev.log_tail()
            ),
        }
    }
    note(&format!("dev.sh ready after {:?}", start.elapsed()));
    let url = format!("http://127.0.0.1:{dev_port}/oauth");
    assert!(
        printed
            .iter()
            .any(|l| l.contains("ready") && l.contains(&url)),
        "{printed:?}"
    );
    let field = |name: &str| {
        printed
            .iter()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {name} line in {printed:?}"))
    };
    let id = field("client_id:");
    let secret = field("client_secret:");
    let curl_line = printed
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("curl "))
        .unwrap_or_else(|| panic!("no curl line in {printed:?}"))
        .to_owned();
    assert!(curl_line.contains(&url), "{curl_line}");

    // The printed line, exactly as a user would paste it.
    assert_token(&curl_json(|| {
        let mut c = Command::new("sh");
        c.args(["-c", &curl_line]);
        c
    }));
    // The printed id and secret, sent as a JSON body.
    let body =
        json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret});
    assert_token(&curl_json(|| {
        let mut c = Command::new("curl");
        c.args([
            "-s",
            "-H",
            "content-type: application/json",
            "--data-binary",
        ])
        .arg(body.to_string())
        .arg(&url);
        c
    }));
    let wrong = curl_json(|| {
        let mut c = Command::new("curl");
        c.args([
            "-s",
            "-u",
            &format!("{id}:wrong"),
            "-d",
            "grant_type=client_credentials",
        ])
        .arg(&url);
        c
    });
    assert_eq!(wrong["error"], "invalid_client", "{wrong}");

    // The JWT demo client's printed line gets a signed JWT (the key sealed by moto's KMS).
    let jwt_line = printed
        .iter()
        .map(|l| l.trim())
        .filter(|l| l.starts_with("curl "))
        .nth(1)
        .unwrap_or_else(|| panic!("no JWT client's curl line in {printed:?}"))
        .to_owned();
    let jwt = curl_json(|| {
        let mut c = Command::new("sh");
        c.args(["-c", &jwt_line]);
        c
    });
    let access = jwt["access_token"].as_str().unwrap_or_default();
    assert!(
        oauth_token_service::oauth::jwt::looks_like_jwt(access),
        "{jwt}"
    );

    // SIGTERM to the script alone stops everything it started.
    assert!(!processes_with(&marker).is_empty() || !Path::new("/proc").exists());
    dev.signal("-TERM");
    let status = dev.wait_exit(Duration::from_secs(60)).unwrap_or_else(|| {
        panic!(
            "dev.sh still running 60 s after SIGTERM:\n{}",
            dev.log_tail()
        )
    });
    assert_eq!(status.code(), Some(143), "{status:?}\n{}", dev.log_tail());

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = processes_with(&marker);
        let ports = [dev_port, db_port]
            .into_iter()
            .filter(|p| listening(*p))
            .collect::<Vec<_>>();
        if left.is_empty() && ports.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: processes {left:?}, listening ports {ports:?}\n{}",
            dev.log_tail()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}
