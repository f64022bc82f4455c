#!/usr/bin/env python3
"""A local Lambda Runtime API that times cold starts, and counts DynamoDB requests.

    runtime_api.py coldstart --moto URL --target NAME=BOOTSTRAP ... --out FILE.json
    runtime_api.py count     --moto URL --bootstrap BOOTSTRAP [--mode NAME:K=V,...] --out FILE.json
    runtime_api.py profile   --moto URL --bootstrap BOOTSTRAP --out FILE.json   (perf)
    runtime_api.py panic     --target NAME=BOOTSTRAP ... --out FILE.json

`coldstart` starts each bootstrap fresh, as Lambda does, in a clean Lambda-like
environment with AWS_LAMBDA_RUNTIME_API pointing here, hands it API Gateway v2 events (a
client_credentials request: form body, Basic credentials) and records:

- init: process start (just before fork/exec) to its first `GET .../invocation/next`;
- first invocation: the first event handed over to its response arriving;
- warm invocations: the same for the N events that follow in the same process;
- the CPU time the process spent in each phase (/proc/<pid>/task/*/schedstat);
- its peak RSS (VmHWM, read just before it is stopped) and its minor page faults in each
  phase (/proc/<pid>/stat);
- the DynamoDB requests it made in each phase.

Targets are interleaved, the order alternating each round, so that drift in the machine
or in moto hits all alike. DynamoDB is moto behind dynamodb_front.py (keep-alive, TLS
with --tls, request counting).

`panic` checks what a panic in a handler does (bench/variants' panicker), per build.

`count` runs the token function through one init, client_credentials issuances and a chain
of refresh_token grants (when refresh tokens are issued), once per --mode (a set of the
function's environment variables), and reports the DynamoDB requests of each, by
operation, and their capacity units as DynamoDB would meter them (dynamodb_front.py).

Both create the tables and a client on moto first (boto3, from moto's venv). The Runtime
API implements GET /2018-06-01/runtime/invocation/next, POST .../invocation/{id}/response,
POST .../invocation/{id}/error and POST /2018-06-01/runtime/init/error.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dynamodb_front import Front  # noqa: E402

CLIENT_ID = "bench-client"
# A generated-style secret (40 alphanumerics), stored as the fast hmac-sha256 hash.
CLIENT_SECRET = "Bk3nch5ecretBk3nch5ecretBk3nch5ecret0042"
CLIENTS_TABLE = "bench-clients"
TOKENS_TABLE = "bench-tokens"
REGION = "us-east-1"
NS = 1_000_000_000


def now_ns():
    return time.perf_counter_ns()


# --- The events -------------------------------------------------------------------------


def basic_header(client_id, secret):
    raw = f"{client_id}:{secret}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def token_event(form_body):
    """An API Gateway HTTP API (payload 2.0) POST /oauth with a form body and Basic auth, as
    API Gateway sends it (form bodies base64-encoded)."""
    return {
        "version": "2.0",
        "routeKey": "POST /oauth",
        "rawPath": "/oauth",
        "rawQueryString": "",
        "headers": {
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "user-agent": "bench",
            "content-type": "application/x-www-form-urlencoded;charset=UTF-8",
            "authorization": basic_header(CLIENT_ID, CLIENT_SECRET),
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": "POST",
                "path": "/oauth",
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "bench",
            },
            "requestId": "bench-request",
            "routeKey": "POST /oauth",
            "stage": "$default",
            "time": "27/Nov/2026:21:00:00 +0000",
            "timeEpoch": 1795813200000,
        },
        "body": base64.b64encode(form_body.encode()).decode(),
        "isBase64Encoded": True,
    }


ISSUE_EVENT = token_event("grant_type=client_credentials")


def refresh_event(refresh_token):
    return token_event(f"grant_type=refresh_token&refresh_token={refresh_token}")


# --- Tables and the client, on moto -------------------------------------------------------


_boto = {}


def setup_tables(endpoint, reset=False):
    """Creates the tables and the client; with `reset`, wipes moto first. moto copies every
    table on each TransactWriteItems (its rollback), so a write's cost grows with the items
    stored (about 0.15 ms per item here): each cold start begins from empty tables."""
    import urllib.request

    import boto3  # from moto's venv (.tools/venv)

    if reset:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    if endpoint not in _boto:
        _boto[endpoint] = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
    ddb = _boto[endpoint]
    existing = ddb.list_tables()["TableNames"]
    if CLIENTS_TABLE not in existing:
        ddb.create_table(
            TableName=CLIENTS_TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "client_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "client_id", "KeyType": "HASH"}],
        )
    if TOKENS_TABLE not in existing:
        ddb.create_table(
            TableName=TOKENS_TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "token_hash", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "token_hash", "KeyType": "HASH"}],
        )
    # src/oauth/secret.rs, hash_generated: HMAC-SHA256 keyed by a random salt.
    salt = os.urandom(16)
    tag = hmac.new(salt, CLIENT_SECRET.encode(), hashlib.sha256).digest()

    def b64(b):
        return base64.b64encode(b).decode().rstrip("=")

    now = str(int(time.time()))
    ddb.put_item(
        TableName=CLIENTS_TABLE,
        Item={
            "client_id": {"S": CLIENT_ID},
            "name": {"S": "benchmark client"},
            "secret_hashes": {"L": [{"S": f"hmac-sha256${b64(salt)}${b64(tag)}"}]},
            "grants": {"L": [{"S": "client_credentials"}, {"S": "refresh_token"}]},
            "scopes": {"L": [{"S": "quotes:read"}]},
            "default_scopes": {"L": []},
            "disabled": {"BOOL": False},
            "resource_server": {"BOOL": False},
            "created_at": {"N": now},
            "updated_at": {"N": now},
        },
    )


# --- The Runtime API ----------------------------------------------------------------------


class Session:
    """One bootstrap process's exchanges with the Runtime API."""

    def __init__(self):
        self.events = queue.Queue()  # event bytes to hand out; None ends a waiting `next`
        # ("next", t), ("sent", t): an event's last byte written, ("response", t, body),
        # ("error", t, body), ("init_error", t, body)
        self.arrivals = queue.Queue()


class RuntimeApi(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.session = Session()

    @property
    def address(self):
        return f"127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    PREFIX = "/2018-06-01/runtime/"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers]
        # One write: headers and body leave in one segment.
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        self.wfile.flush()

    def do_GET(self):
        session = self.server.session
        if self.path != self.PREFIX + "invocation/next":
            self.reply(404)
            return
        session.arrivals.put(("next", now_ns()))
        event = session.events.get()
        if event is None:
            self.close_connection = True
            self.reply(500)
            return
        deadline_ms = int(time.time() * 1000) + 30_000
        self.reply(
            200,
            event,
            [
                ("Content-Type", "application/json"),
                ("Lambda-Runtime-Aws-Request-Id", str(uuid.uuid4())),
                ("Lambda-Runtime-Deadline-Ms", str(deadline_ms)),
                (
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:bench",
                ),
                ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000"),
            ],
        )
        session.arrivals.put(("sent", now_ns()))

    def do_POST(self):
        session = self.server.session
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        t = now_ns()
        path = self.path
        if path.startswith(self.PREFIX + "invocation/") and path.endswith("/response"):
            session.arrivals.put(("response", t, body))
        elif path.startswith(self.PREFIX + "invocation/") and path.endswith("/error"):
            session.arrivals.put(("error", t, body))
        elif path == self.PREFIX + "init/error":
            session.arrivals.put(("init_error", t, body))
        else:
            self.reply(404)
            return
        self.reply(202, b'{"status":"OK"}', [("Content-Type", "application/json")])


def lambda_env(runtime_api, endpoint, name, cert_bundle, front_ca=None):
    """The environment Lambda gives a provided.al2023 function, plus the service's. The
    system trust store is one PEM bundle, as on Amazon Linux 2023 (the system's bundle plus
    the benchmark's CA), rather than this machine's /etc/ssl/certs directory; the function
    trusts its compiled-in roots plus AWS_CA_BUNDLE (the front's CA alone)."""
    env = {
        "SSL_CERT_FILE": cert_bundle,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "_HANDLER": "bootstrap",
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/27/[$LATEST]0123456789abcdef",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "ASIABENCHBENCHBENCH0",
        "AWS_SECRET_ACCESS_KEY": "benchbenchbenchbenchbenchbenchbenchbench",
        "AWS_SESSION_TOKEN": "bench-session-token",
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "CLIENTS_TABLE": CLIENTS_TABLE,
        "TOKENS_TABLE": TOKENS_TABLE,
    }
    if front_ca:
        env["AWS_CA_BUNDLE"] = front_ca
    return env


def peak_rss_kib(pid):
    """VmHWM: the process's peak resident set since exec. (wait4's ru_maxrss would count
    the forking Python process's pages too.)"""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def cpu_ns(pid):
    """CPU time of every live thread of `pid`, in ns (schedstat's first field)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def minor_faults(pid):
    """Minor page faults of the process so far, its threads included (/proc/<pid>/stat's
    tenth field): pages touched for the first time, code and data alike."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[7])
    except (FileNotFoundError, ProcessLookupError):
        return 0


class Failure(Exception):
    pass


class Process:
    """A bootstrap started fresh, driven through the Runtime API one event at a time."""

    WAIT = 30  # seconds: anything slower is a failure, not a sample

    def __init__(self, api, bootstrap, env, log):
        api.session = Session()
        self.session = api.session
        self.started = now_ns()
        # Popen returns once exec succeeded; `started` is taken before the fork.
        self.proc = subprocess.Popen(
            [bootstrap],
            env=env,
            cwd=os.path.dirname(bootstrap),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )

    def arrival(self, waiting_for):
        deadline = time.monotonic() + self.WAIT
        while True:
            try:
                return self.session.arrivals.get(timeout=0.05)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise Failure(f"exited ({self.proc.returncode}) before {waiting_for}") from None
                if time.monotonic() > deadline:
                    raise Failure(f"no {waiting_for} within {self.WAIT} s") from None

    def expect(self, kind):
        item = self.arrival(kind)
        if item[0] != kind:
            detail = item[2][:300] if len(item) > 2 else b""
            raise Failure(f"expected {kind}, got {item[0]}: {detail!r}")
        return item

    def invoke(self, event):
        """Hands over `event` (the process waits in `next`); returns (duration ns, body):
        from the event's last byte written to the response's last byte read."""
        self.session.events.put(event)
        sent = response = None
        while sent is None or response is None:  # in either order: threads race
            item = self.arrival("response")
            if item[0] == "sent":
                sent = item[1]
            elif item[0] == "response":
                response = item
            else:
                detail = item[2][:300] if len(item) > 2 else b""
                raise Failure(f"expected a response, got {item[0]}: {detail!r}")
        return response[1] - sent, response[2]

    def finish(self, stop_signal=signal.SIGKILL):
        """Ends the process (waiting in `next`); returns its peak RSS in KiB."""
        try:
            rss = peak_rss_kib(self.proc.pid)
        except OSError:
            rss = 0
        self.proc.send_signal(stop_signal)
        self.session.events.put(None)
        self.proc.wait()
        return rss


def check_ok(body):
    answer = json.loads(body)
    if answer.get("statusCode") != 200:
        raise Failure(f"answer not 200: {body[:300]!r}")
    return answer


def cold_start(api, bootstrap, env, warm, log, front, name, stop_signal=signal.SIGKILL):
    """One cold start then `warm` invocations. Each span is also recorded without the time
    the DynamoDB front spent waiting for moto (`*_own`), and without DynamoDB's whole share
    as the function sees it (`*_net`: the time requests spent inside the front and moto,
    and the CPU of the TLS handshakes' server side): what the function itself took, so
    that the emulator's latency (tens of ms under load) does not hide it."""
    setup_tables(front.moto, reset=True)
    front.phase(f"{name}:init")
    front.take_upstream()
    front.take_endpoint()
    p = Process(api, bootstrap, env, log)
    try:
        _, t_next = p.expect("next")
        init = t_next - p.started
        init_own = init - front.take_upstream()
        init_net = init - front.take_endpoint()
        init_cpu = cpu_ns(p.proc.pid)
        init_faults = minor_faults(p.proc.pid)
        front.phase(f"{name}:first")
        first, body = p.invoke(json.dumps(ISSUE_EVENT).encode())
        first_own = first - front.take_upstream()
        first_net = first - front.take_endpoint()
        check_ok(body)
        p.expect("next")
        after_first_cpu = cpu_ns(p.proc.pid)
        after_first_faults = minor_faults(p.proc.pid)
        front.phase(f"{name}:warm")
        warms, warms_own, warms_net = [], [], []
        event = json.dumps(ISSUE_EVENT).encode()
        for _ in range(warm):
            d, body = p.invoke(event)
            warms.append(d)
            warms_own.append(d - front.take_upstream())
            warms_net.append(d - front.take_endpoint())
            check_ok(body)
            p.expect("next")
        end_cpu = cpu_ns(p.proc.pid)
        end_faults = minor_faults(p.proc.pid)
        front.phase("idle")
    except Failure:
        p.finish()
        raise
    rss_kib = p.finish(stop_signal)
    return {
        "init_ns": init,
        "init_own_ns": init_own,
        "first_ns": first,
        "first_own_ns": first_own,
        "start_to_first_response_ns": init + first,
        "start_to_first_response_own_ns": init_own + first_own,
        "init_net_ns": init_net,
        "first_net_ns": first_net,
        "warm_net_ns": warms_net,
        "start_to_first_response_net_ns": init_net + first_net,
        "warm_ns": warms,
        "warm_own_ns": warms_own,
        "init_cpu_ns": init_cpu,
        "first_cpu_ns": after_first_cpu - init_cpu,
        "warm_cpu_ns": (end_cpu - after_first_cpu) / warm if warm else None,
        "peak_rss_kib": rss_kib,
        "init_faults": init_faults,
        "first_faults": after_first_faults - init_faults,
        "warm_faults": (end_faults - after_first_faults) / warm if warm else None,
    }


def summary(values):
    v = sorted(values)
    n = len(v)

    def pct(p):  # linear interpolation between closest ranks (numpy's default)
        k = (n - 1) * p
        lo = int(k)
        hi = min(lo + 1, n - 1)
        return v[lo] + (v[hi] - v[lo]) * (k - lo)

    return {
        "n": n,
        "median": statistics.median(v),
        "p99": pct(0.99),
        "min": v[0],
        "max": v[-1],
        "mean": statistics.fmean(v),
    }


def cert_bundle(front, directory):
    """One PEM file: this machine's CA bundle, plus the front's CA when it speaks TLS."""
    import ssl

    paths = ssl.get_default_verify_paths()
    system = paths.cafile or paths.openssl_cafile
    os.makedirs(directory, exist_ok=True)
    bundle = os.path.abspath(os.path.join(directory, "bundle.pem"))
    with open(bundle, "wb") as out:
        with open(system, "rb") as f:
            out.write(f.read())
        if front.ca:
            with open(front.ca, "rb") as f:
                out.write(f.read())
    return bundle


def start_services(args, metering=False):
    setup_tables(args.moto, reset=True)
    tls_dir = os.path.abspath(args.tls_dir) if args.tls else None
    front = Front(args.moto, tls_dir, metering=metering).start()
    front.moto = args.moto
    api = RuntimeApi()
    threading.Thread(target=api.serve_forever, daemon=True).start()
    bundle = cert_bundle(front, args.tls_dir)
    return front, api, bundle


def per_run(front, name, phase, runs):
    ops = front.counts.get(f"{name}:{phase}", {})
    out = {"by_operation": ops, "per_invocation": sum(ops.values()) / runs}
    units = front.units.get(f"{name}:{phase}")
    if units is not None or front.metering:
        units = units or {"read": 0.0, "write": 0.0}
        out["read_units"] = units["read"] / runs
        out["write_units"] = units["write"] / runs
    return out


def cmd_coldstart(args):
    front, api, bundle = start_services(args)
    targets = []
    for spec in args.target:
        name, _, path = spec.partition("=")
        targets.append((name, os.path.abspath(path)))
    os.makedirs(args.logs, exist_ok=True)
    logs = {name: open(os.path.join(args.logs, f"{name}.log"), "wb") for name, _ in targets}
    env = {name: lambda_env(api.address, front.url, name, bundle, front.ca) for name, _ in targets}
    for spec in args.env:  # NAME:KEY=VALUE, for one target
        name, _, assignment = spec.partition(":")
        key, _, value = assignment.partition("=")
        env[name][key] = value
    stop = getattr(signal, "SIG" + args.stop_signal)
    # One unrecorded start each, so the page cache and moto are warm alike for all.
    for name, path in targets:
        cold_start(api, path, env[name], 1, logs[name], front, name, stop)
    front.counts.clear()
    samples = {name: [] for name, _ in targets}
    failures = []
    for i in range(args.cold):
        order = targets if i % 2 == 0 else list(reversed(targets))
        for name, path in order:
            while True:
                try:
                    samples[name].append(
                        cold_start(api, path, env[name], args.warm, logs[name], front, name, stop)
                    )
                    break
                except Failure as e:  # recorded, and the cold start is run again
                    failures.append({"target": name, "round": i, "error": str(e)})
                    print(f"\n{name}: {e}", file=sys.stderr)
                    if len(failures) > 5:
                        raise
        if not args.quiet:
            print(f"\rcold starts: {i + 1}/{args.cold}", end="", file=sys.stderr, flush=True)
    if not args.quiet:
        print(file=sys.stderr)
    api.shutdown()
    front.shutdown()
    result = {
        "cold": args.cold,
        "warm": args.warm,
        "tls": bool(args.tls),
        "loadavg_after": os.getloadavg(),
        "failures": failures,
        "targets": {},
    }
    for name, path in targets:
        s = samples[name]
        result["targets"][name] = {
            "bootstrap": path,
            "init_ms": summary([x["init_ns"] / 1e6 for x in s]),
            "init_own_ms": summary([x["init_own_ns"] / 1e6 for x in s]),
            "first_ms": summary([x["first_ns"] / 1e6 for x in s]),
            "first_own_ms": summary([x["first_own_ns"] / 1e6 for x in s]),
            "start_to_first_response_ms": summary(
                [x["start_to_first_response_ns"] / 1e6 for x in s]
            ),
            "start_to_first_response_own_ms": summary(
                [x["start_to_first_response_own_ns"] / 1e6 for x in s]
            ),
            "init_net_ms": summary([x["init_net_ns"] / 1e6 for x in s]),
            "first_net_ms": summary([x["first_net_ns"] / 1e6 for x in s]),
            "warm_net_ms": summary([w / 1e6 for x in s for w in x["warm_net_ns"]]),
            "start_to_first_response_net_ms": summary(
                [x["start_to_first_response_net_ns"] / 1e6 for x in s]
            ),
            "warm_ms": summary([w / 1e6 for x in s for w in x["warm_ns"]]),
            "warm_own_ms": summary([w / 1e6 for x in s for w in x["warm_own_ns"]]),
            "init_cpu_ms": summary([x["init_cpu_ns"] / 1e6 for x in s]),
            "first_cpu_ms": summary([x["first_cpu_ns"] / 1e6 for x in s]),
            "warm_cpu_ms": summary([x["warm_cpu_ns"] / 1e6 for x in s]),
            "peak_rss_mib": summary([x["peak_rss_kib"] / 1024 for x in s]),
            "init_faults": summary([x["init_faults"] for x in s]),
            "first_faults": summary([x["first_faults"] for x in s]),
            "warm_faults": summary([x["warm_faults"] for x in s]),
            "dynamodb_requests": {
                "init": per_run(front, name, "init", args.cold),
                "first": per_run(front, name, "first", args.cold),
                "warm": per_run(front, name, "warm", args.cold * args.warm),
            },
        }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


def parse_mode(spec):
    """NAME or NAME:KEY=VALUE,KEY=VALUE (the function's environment in that mode)."""
    name, _, assignments = spec.partition(":")
    env = dict(a.split("=", 1) for a in assignments.split(",") if a)
    return name, env


def create_signing_key(admin, moto):
    """A JWT signing key on moto (sealed by moto's KMS), with the admin tool."""
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ENDPOINT_URL": moto,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": REGION,
        "CLIENTS_TABLE": CLIENTS_TABLE,
        "TOKENS_TABLE": TOKENS_TABLE,
    }
    subprocess.run([admin, "create-signing-key"], env=env, check=True, capture_output=True)


def count_mode(api, front, args, bundle, mode, extra_env):
    """One process through init, issuances (and a chain of refreshes when refresh tokens
    are issued): DynamoDB requests and capacity units per invocation, CPU per issuance."""
    setup_tables(args.moto, reset=True)
    if extra_env.get("TOKEN_FORMAT") == "jwt":
        if not args.admin:
            raise SystemExit("count: a jwt mode needs --admin (oauth-admin, to create a key)")
        create_signing_key(args.admin, args.moto)
    env = lambda_env(api.address, front.url, mode, bundle, front.ca)
    env["AWS_ENDPOINT_URL_KMS"] = args.moto  # moto serves KMS too (JWT keys), plain HTTP
    env.update(extra_env)
    out = os.path.abspath(args.out)
    with open(f"{out}.{mode}.log", "wb") as log:
        front.phase(f"{mode}:init")
        p = Process(api, os.path.abspath(args.bootstrap), env, log)
        refreshes = 0
        try:
            p.expect("next")
            issued = None
            cpu_before = None
            log_before = None
            for phase in ["first"] + ["issue"] * args.runs:
                if phase == "issue" and cpu_before is None:
                    cpu_before = cpu_ns(p.proc.pid)
                    log.flush()
                    log_before = os.path.getsize(log.name)
                front.phase(f"{mode}:{phase}")
                _, body = p.invoke(json.dumps(ISSUE_EVENT).encode())
                issued = json.loads(check_ok(body)["body"])
                p.expect("next")
            issue_cpu = (cpu_ns(p.proc.pid) - cpu_before) / args.runs
            log_bytes = (os.path.getsize(log.name) - log_before) / args.runs
            refresh = issued.get("refresh_token")
            if refresh:
                for _ in range(args.runs):
                    front.phase(f"{mode}:refresh")
                    _, body = p.invoke(json.dumps(refresh_event(refresh)).encode())
                    refresh = json.loads(check_ok(body)["body"])["refresh_token"]
                    p.expect("next")
                    refreshes += 1
            front.phase("idle")
        finally:
            p.finish()
    result = {
        "env": extra_env,
        "token_type": "jwt" if issued["access_token"].count(".") == 2 else "opaque",
        "refresh_token_issued": "refresh_token" in issued,
        "issue_cpu_ms": issue_cpu / 1e6,
        "log_bytes_per_issuance": log_bytes,
        "init": per_run(front, mode, "init", 1),
        "first_issuance": per_run(front, mode, "first", 1),
        "issuance": per_run(front, mode, "issue", args.runs),
    }
    if refreshes:
        result["refresh"] = per_run(front, mode, "refresh", refreshes)
    return result


def cmd_count(args):
    front, api, bundle = start_services(args, metering=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    modes = [parse_mode(m) for m in (args.mode or ["token"])]
    front.counts.clear()
    result = {"runs": args.runs, "modes": {}}
    for mode, extra_env in modes:
        result["modes"][mode] = count_mode(api, front, args, bundle, mode, extra_env)
    api.shutdown()
    front.shutdown()
    # The first mode's figures stay where the report has always read them.
    first = result["modes"][modes[0][0]]
    result.update({k: first[k] for k in ("init", "first_issuance", "issuance", "refresh") if k in first})
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


def crate_of(symbol):
    """The crate (or [kernel], libc) a perf symbol belongs to, for grouping."""
    sym = symbol.strip()
    if sym.startswith("[k]"):
        return "kernel"
    sym = sym.removeprefix("[.]").strip()
    for prefix in ("<", "_<"):
        sym = sym.removeprefix(prefix)
    name = sym.split("::", 1)[0] if "::" in sym else None
    if name and name.replace("_", "").isalnum():
        return name
    if sym.startswith(("__memcpy", "__memmove", "__memset", "memcpy", "memmove", "malloc",
                       "free", "_int_", "cfree", "realloc", "__libc", "__GI", "pthread")):
        return "libc (allocator, memcpy)"
    return "other"


def cmd_profile(args):
    """perf over warm issuances only: the process is started and served one issuance
    first, then perf attaches to it for --invocations more."""
    front, api, bundle = start_services(args)
    env = lambda_env(api.address, front.url, "token", bundle, front.ca)
    log = open(args.out + ".log", "wb")
    setup_tables(args.moto, reset=True)
    p = Process(api, os.path.abspath(args.bootstrap), env, log)
    event = json.dumps(ISSUE_EVENT).encode()
    try:
        p.expect("next")
        for _ in range(3):
            check_ok(p.invoke(event)[1])
            p.expect("next")
        perf = subprocess.Popen(
            ["perf", "record", "-F", "4999", "--call-graph", "fp", "-o", args.perf_data,
             "-p", str(p.proc.pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # perf attached
        cpu0 = cpu_ns(p.proc.pid)
        for _ in range(args.invocations):
            check_ok(p.invoke(event)[1])
            p.expect("next")
        cpu = (cpu_ns(p.proc.pid) - cpu0) / args.invocations
        perf.send_signal(signal.SIGINT)
        perf.wait()
    finally:
        p.finish()
    api.shutdown()
    front.shutdown()
    report = subprocess.run(
        ["perf", "report", "-i", args.perf_data, "--stdio", "--no-children", "--sort", "sym",
         "-g", "none", "--percent-limit", "0"],
        capture_output=True, text=True, check=True).stdout
    symbols = []
    for line in report.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "%" not in line.split()[0]:
            continue
        pct, _, sym = line.partition("%")
        try:
            symbols.append((float(pct), sym.strip()))
        except ValueError:
            continue
    crates = {}
    for pct, sym in symbols:
        c = crate_of(sym)
        crates[c] = crates.get(c, 0.0) + pct
    result = {
        "invocations": args.invocations,
        "cpu_ms_per_invocation": cpu / 1e6,
        "top_symbols": symbols[:25],
        "by_crate": sorted(crates.items(), key=lambda kv: -kv[1]),
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


def cmd_panic(args):
    """What a panic in the handler does: an invocation error and the process lives on
    (unwind: lambda_runtime catches it), or the process dies (abort: Lambda would report
    Runtime.ExitError and the next request would pay a cold start)."""
    api = RuntimeApi()
    threading.Thread(target=api.serve_forever, daemon=True).start()
    result = {}
    for spec in args.target:
        name, _, path = spec.partition("=")
        env = lambda_env(api.address, "http://127.0.0.1:9", name, "/dev/null")
        with open(args.out + f".{name}.log", "wb") as log:
            p = Process(api, os.path.abspath(path), env, log)
            p.expect("next")
            p.session.events.put(b'{"panic": true}')
            outcome = {"error_posted": None, "exit_status": None, "served_next": False}
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    item = p.session.arrivals.get(timeout=0.05)
                except queue.Empty:
                    if p.proc.poll() is not None:
                        outcome["exit_status"] = p.proc.returncode
                        break
                    continue
                if item[0] == "error":
                    outcome["error_posted"] = json.loads(item[2]).get("errorType")
                elif item[0] == "next":
                    _, body = p.invoke(b'{"panic": false}')
                    outcome["served_next"] = json.loads(body).get("statusCode") == 200
                    p.expect("next")
                    break
            if p.proc.poll() is None:
                p.finish()
            result[name] = outcome
    api.shutdown()
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("coldstart", "count", "profile"):
        c = sub.add_parser(name)
        c.add_argument("--moto", required=True, help="moto's endpoint, http://127.0.0.1:PORT")
        c.add_argument("--tls", action="store_true", help="DynamoDB over TLS (dynamodb_front.py)")
        c.add_argument("--tls-dir", default="target/bench/tls", help="CA and bundle go here")
        c.add_argument("--out", required=True)
    c = sub.choices["coldstart"]
    c.add_argument("--target", action="append", required=True, help="NAME=BOOTSTRAP")
    c.add_argument("--cold", type=int, default=20, help="cold starts per target")
    c.add_argument("--warm", type=int, default=20, help="warm invocations per cold start")
    c.add_argument("--logs", default="target/bench/logs", help="the functions' output")
    c.add_argument("--stop-signal", default="KILL", help="KILL, or TERM under a profiler")
    c.add_argument("--env", action="append", default=[], help="NAME:KEY=VALUE for one target")
    c.add_argument("--quiet", action="store_true")
    c = sub.choices["profile"]
    c.add_argument("--bootstrap", required=True, help="a build with symbols")
    c.add_argument("--invocations", type=int, default=2000)
    c.add_argument("--perf-data", default="target/bench/perf.data")
    c = sub.add_parser("panic")
    c.add_argument("--target", action="append", required=True, help="NAME=BOOTSTRAP")
    c.add_argument("--out", required=True)
    c = sub.choices["count"]
    c.add_argument("--bootstrap", required=True)
    c.add_argument("--runs", type=int, default=5, help="issuances and refreshes")
    c.add_argument("--mode", action="append", help="NAME[:KEY=VALUE,...]: a configuration")
    c.add_argument("--admin", help="oauth-admin, to create a JWT signing key on moto")
    args = ap.parse_args()
    commands = {"coldstart": cmd_coldstart, "count": cmd_count, "profile": cmd_profile,
                "panic": cmd_panic}
    commands[args.cmd](args)


if __name__ == "__main__":
    main()
