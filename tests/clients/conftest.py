"""The real token function, served over HTTP on loopback, for the client-library tests.

One session fixture, `service`, sets up everything once:

- DynamoDB: the moto server named by OAUTH_TEST_DYNAMODB_ENDPOINT (scripts/test.sh starts
  one for the whole run), or one started here through scripts/moto_server.py;
- tables with names unique to this run, and clients, through the `oauth-admin` binary,
  as an operator would create them: a generated client, the document's client `42`
  (imported with the document's secret) and a client imported with a secret that needs
  URL-encoding in Basic;
- the function, under `cargo lambda watch` (scripts/serve-function.sh), which builds it,
  waits until it answers (minutes on a fresh machine) and prints its URL.

Each server started here is a child of a shell that waits on a pipe from this process:
when pytest exits, however it exits, the pipe closes and the server is stopped by its PID.
A missing tool fails the run with a message saying how to get it; nothing is skipped.

Against a server that is already running (scripts/sam-local.sh: `sam local start-api`,
SAM's own emulation of API Gateway) instead of serving the function here:

- OAUTH_TEST_BASE_URL: its base URL, `http://127.0.0.1:PORT` (the token endpoint is
  BASE/oauth). Nothing is served here then;
- OAUTH_TEST_DYNAMODB_ENDPOINT, OAUTH_TEST_CLIENTS_TABLE, OAUTH_TEST_TOKENS_TABLE: the
  DynamoDB and the tables that server reads (required with OAUTH_TEST_BASE_URL). The
  clients and the signing key are created in them as above (`create-tables` leaves
  existing tables alone); the tables are left in place at the end;
- OAUTH_TEST_SERVER: what serves it, one of SERVER_LIMITS' keys. A test marked
  `@pytest.mark.needs(WHAT)` is skipped, with the reason written there, when that server
  cannot do WHAT; every other test runs as it does against `cargo lambda watch`.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

try:
    import boto3
    import botocore.config
except ImportError as e:  # pragma: no cover - a broken tools virtualenv
    raise ImportError(
        f"{e}: run the tests with .tools/venv/bin/pytest (scripts/tools.sh installs it)"
    ) from e

ROOT = Path(__file__).resolve().parents[2]

# Everything here talks to loopback: never through a proxy from the environment
# (requests and boto3 honour these variables; curl gets --noproxy).
for _var in ("NO_PROXY", "no_proxy"):
    os.environ[_var] = ",".join(
        v for v in (os.environ.get(_var), "127.0.0.1", "localhost") if v
    )
VENV_BIN = ROOT / ".tools" / "venv" / "bin"
# For the function to answer once built (scripts/serve-function.sh's SERVE_TIMEOUT): the
# first request compiles it again under `cargo lambda watch`, so be generous to a fresh,
# slow machine. The build before it is bounded only by a backstop twice as long.
SERVE_TIMEOUT = int(os.environ.get("OAUTH_TEST_SERVE_TIMEOUT", "600"))

# The source document's example client.
DOC_CLIENT_ID = "42"
DOC_SECRET = "IZgwaBTZ2EdtT3hT7UzG2rLQ8S0Vmu9GDxeHwcPz"
# Needs URL-encoding in Basic (RFC 6749 §2.3.1) and in a form: `+`, `:`, `%`, a space,
# `&`, `=` and a non-ASCII letter.
ODD_SECRET = "p+q:r%25s t&u=v é"
# Made only of what a form encoder writes, `+` and `%41` among it: sent as is (as authlib
# and requests send Basic), it also reads as an encoding of "a bAc".
PLUS_SECRET = "a+b%41c"

ACCESS_TTL = 604_800
REFRESH_TTL = 1_209_600

# What a server named by OAUTH_TEST_SERVER cannot do, and why: a test marked
# `@pytest.mark.needs(WHAT)` is skipped with this reason there.
SERVER_LIMITS: dict[str, dict[str, str]] = {
    # scripts/serve-function.sh, the default.
    "cargo-lambda-watch": {},
    "sam-local-start-api": {
        # KMS Decrypt of the signing key, in the function's container.
        "kms": (
            "sam local start-api: the function cannot reach KMS at moto. Its KMS client "
            "follows AWS_ENDPOINT_URL, which the template does not declare, and SAM's "
            "--env-vars sets only declared variables (--container-env-vars only when "
            "debugging), so JWT issuance cannot be tested here"
        ),
    },
}
SERVER = os.environ.get("OAUTH_TEST_SERVER") or "cargo-lambda-watch"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "needs(what): skipped, with SERVER_LIMITS' reason, where the server cannot do it",
    )
    if SERVER not in SERVER_LIMITS:
        raise pytest.UsageError(
            f"OAUTH_TEST_SERVER={SERVER!r}: unknown; one of {sorted(SERVER_LIMITS)}"
        )


def pytest_collection_modifyitems(config, items):
    limits = SERVER_LIMITS[SERVER]
    for item in items:
        for mark in item.iter_markers("needs"):
            for what in mark.args:
                if what in limits:
                    item.add_marker(pytest.mark.skip(reason=limits[what]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_tool(path: Path | str | None, what: str, how: str) -> str:
    if path is None or not Path(path).exists():
        pytest.fail(f"{what} is missing: {how}", pytrace=False)
    return str(path)


def token_hash(token: str) -> str:
    """The tokens table's key: lowercase hex SHA-256 of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Client:
    client_id: str
    # Out of the repr, which pytest prints when a test fails.
    secret: str = field(repr=False)
    scopes: list[str] = field(default_factory=list)

    def wrong_secret(self) -> str:
        """The secret with its last character changed: never the right one (a generated
        secret ends with any letter or digit, `x` included)."""
        return self.secret[:-1] + ("y" if self.secret.endswith("x") else "x")


@dataclass
class Service:
    """The served function and what it reads."""

    url: str
    clients_table: str
    tokens_table: str
    ddb: object
    clients: dict[str, Client] = field(default_factory=dict)

    def token_item(self, token: str) -> dict | None:
        out = self.ddb.get_item(
            TableName=self.tokens_table,
            Key={"token_hash": {"S": token_hash(token)}},
            ConsistentRead=True,
        )
        return out.get("Item")

    def assert_stored(self, token: dict, client_id: str, before: float, after: float):
        """Checks the tokens a library received against the tokens table: each is stored
        under its SHA-256 (never in plain text), for the right client, kind and scope, and
        expires `expires_in` seconds after the request was made (and at `expires`)."""
        access = token["access_token"]
        expires_in = int(token["expires_in"])
        assert expires_in == ACCESS_TTL, token
        item = self.token_item(access)
        assert item is not None, f"no item under the SHA-256 of access token {access!r}"
        assert item["kind"] == {"S": "access"}, item
        assert item["client_id"] == {"S": client_id}, item
        expires_at = int(item["expires_at"]["N"])
        issued = expires_at - expires_in
        assert int(before) - 2 <= issued <= after + 2, (
            f"expires_at {expires_at} - expires_in {expires_in} = {issued}, "
            f"but the request ran from {before:.0f} to {after:.0f}"
        )
        assert int(item["issued_at"]["N"]) == issued, item
        if "expires" in token:  # the document's own field, kept by the libraries
            assert expires_at == int(token["expires"]), (item, token)
        scope = token.get("scope")
        stored_scope = [v["S"] for v in item["scope"]["L"]]
        assert stored_scope == (scope.split() if scope else []), (item, token)
        assert access not in json.dumps(item), "the token itself is in the table"

        refresh = token.get("refresh_token")
        if refresh:
            r = self.token_item(refresh)
            assert r is not None, "no item under the SHA-256 of the refresh token"
            assert r["kind"] == {"S": "refresh"}, r
            assert r["client_id"] == {"S": client_id}, r
            assert int(r["expires_at"]["N"]) == issued + REFRESH_TTL, r
            assert r["family"] == item["family"], (r, item)
            assert refresh not in json.dumps(r), "the refresh token itself is in the table"


class Background:
    """A server run by a shell that stops it (by PID) when its stdin closes."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]):
        self.name = name
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for_line(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail(f"did not print {prefix!r} within {timeout:.0f} s")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait()
                self.fail(f"exited with status {self.proc.returncode}")
            self.output.append(line)
            if line.startswith(prefix):
                return line

    def fail(self, why: str):
        self.stop()
        tail = "\n".join(self.output[-60:])
        pytest.fail(f"{self.name} {why}; its output:\n{tail}", pytrace=False)

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # the shell stops the server and exits
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()


def start_moto(env: dict[str, str]) -> tuple[Background, str]:
    python = require_tool(
        VENV_BIN / "python", ".tools/venv", "run scripts/tools.sh (or `make test`)"
    )
    require_tool(VENV_BIN / "moto_server", "moto_server", "run scripts/tools.sh")
    port = free_port()
    launcher = ROOT / "scripts" / "moto_server.py"
    script = (
        f'"{python}" "{launcher}" -H 127.0.0.1 -p {port} >/dev/null 2>&1 & pid=$!; '
        f'echo "started"; read -r _; kill "$pid"; wait "$pid"'
    )
    moto = Background("moto_server", ["bash", "-c", script], env)
    moto.wait_for_line("started", 30)
    return moto, f"http://127.0.0.1:{port}"


def dynamodb(endpoint: str):
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=botocore.config.Config(
            retries={"max_attempts": 2}, connect_timeout=2, read_timeout=20
        ),
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            client.list_tables(Limit=1)
            return client
        except Exception as e:  # noqa: BLE001 - not up yet, whatever the error
            if time.monotonic() > deadline:
                pytest.fail(f"no DynamoDB answers at {endpoint}: {e}", pytrace=False)
            time.sleep(0.2)


def cargo_target_dir(cargo: str) -> Path:
    out = subprocess.run(
        [cargo, "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(json.loads(out.stdout)["target_directory"])


def running_server() -> dict[str, str] | None:
    """OAUTH_TEST_BASE_URL and what goes with it (see the top of this file), or None."""
    base = os.environ.get("OAUTH_TEST_BASE_URL", "").rstrip("/")
    if not base:
        return None
    wanted = {
        "endpoint": "OAUTH_TEST_DYNAMODB_ENDPOINT",
        "clients_table": "OAUTH_TEST_CLIENTS_TABLE",
        "tokens_table": "OAUTH_TEST_TOKENS_TABLE",
    }
    missing = [var for var in wanted.values() if not os.environ.get(var)]
    if missing:
        pytest.fail(
            f"OAUTH_TEST_BASE_URL={base} needs {', '.join(missing)}: the DynamoDB and "
            "tables that server reads",
            pytrace=False,
        )
    if base.endswith("/oauth"):
        pytest.fail(
            f"OAUTH_TEST_BASE_URL={base}: give the base URL, without /oauth", pytrace=False
        )
    return {"base": base, **{k: os.environ[v] for k, v in wanted.items()}}


@pytest.fixture(scope="session")
def service():
    cargo = require_tool(
        shutil.which("cargo"), "cargo", "install Rust with rustup (https://rustup.rs)"
    )
    running = running_server()
    if running is None:
        require_tool(
            VENV_BIN / "cargo-lambda", "cargo-lambda", "run scripts/tools.sh (or `make test`)"
        )
    require_tool(shutil.which("curl"), "curl", "apt-get install curl")

    # The children see no AWS profile or credentials from this machine, only the dummy
    # ones set below.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    started: list[Background] = []
    try:
        endpoint = running["endpoint"] if running else os.environ.get(
            "OAUTH_TEST_DYNAMODB_ENDPOINT"
        )
        if not endpoint:
            moto, endpoint = start_moto(env)
            started.append(moto)
        ddb = dynamodb(endpoint)

        run = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        env.update(
            CLIENTS_TABLE=running["clients_table"] if running else f"clients-libs-{run}",
            TOKENS_TABLE=running["tokens_table"] if running else f"tokens-libs-{run}",
            AWS_ENDPOINT_URL_DYNAMODB=endpoint,
            # KMS (the JWT signing key's seal) at the same moto server.
            AWS_ENDPOINT_URL=endpoint,
            AWS_REGION="us-east-1",
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
        )

        # The admin tool, as an operator would use it.
        build = subprocess.run(
            [cargo, "build", "--features", "admin", "--bin", "oauth-admin"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if build.returncode != 0:
            pytest.fail(
                f"cargo build --features admin --bin oauth-admin failed:\n{build.stderr[-4000:]}",
                pytrace=False,
            )
        admin_bin = cargo_target_dir(cargo) / "debug" / "oauth-admin"

        def admin(*args: str, stdin: bytes | None = None) -> str:
            out = subprocess.run(
                [str(admin_bin), *args],
                cwd=ROOT,
                env=env,
                input=stdin,
                capture_output=True,
                timeout=120,
            )
            if out.returncode != 0:
                pytest.fail(
                    f"oauth-admin {' '.join(args)} exited {out.returncode}: "
                    f"{out.stderr.decode(errors='replace')}",
                    pytrace=False,
                )
            return out.stdout.decode()

        admin("create-tables")
        scopes = ["quotes", "profile"]
        created = json.loads(
            admin(
                "create-client",
                "--name",
                "client-library tests",
                *[a for s in scopes for a in ("--scope", s)],
                "--default-scope",
                "quotes",
                "--json",
            )
        )
        svc = Service(
            url="",
            clients_table=env["CLIENTS_TABLE"],
            tokens_table=env["TOKENS_TABLE"],
            ddb=ddb,
        )
        svc.clients["generated"] = Client(
            created["client_id"], created["client_secret"], scopes
        )
        for name, client_id, secret in [
            ("document", DOC_CLIENT_ID, DOC_SECRET),
            ("odd", "odd-secret", ODD_SECRET),
            ("plus", "plus-secret", PLUS_SECRET),
        ]:
            admin(
                "import-client",
                "--id",
                client_id,
                "--name",
                f"{name} (client-library tests)",
                "--scope",
                "quotes",
                stdin=secret.encode(),
            )
            svc.clients[name] = Client(client_id, secret, ["quotes"])

        # A signing key and a JWT client, as an operator sets them up.
        admin("create-signing-key")
        jwt_created = json.loads(
            admin(
                "create-client",
                "--name",
                "JWT client (client-library tests)",
                "--scope",
                "quotes",
                "--token-format",
                "jwt",
                "--audience",
                "https://api.example.com",
                "--json",
            )
        )
        svc.clients["jwt"] = Client(
            jwt_created["client_id"], jwt_created["client_secret"], ["quotes"]
        )

        if running:
            svc.url = f"{running['base']}/oauth"
            print(f"\ntesting {svc.url} ({SERVER})", file=sys.stderr)
            yield svc
            return

        env["SERVE_TIMEOUT"] = str(SERVE_TIMEOUT)
        env["SERVE_LOG"] = str(ROOT / ".tools" / "serve-function-clients.log")
        server = Background(
            "scripts/serve-function.sh",
            ["bash", str(ROOT / "scripts" / "serve-function.sh")],
            env,
        )
        started.append(server)
        svc.url = server.wait_for_line("ready ", 2 * SERVE_TIMEOUT).split()[1]
        print(f"\nserving {svc.url} for the client-library tests", file=sys.stderr)

        yield svc

        for table in (svc.clients_table, svc.tokens_table):
            ddb.delete_table(TableName=table)
    finally:
        for bg in reversed(started):
            bg.stop()
