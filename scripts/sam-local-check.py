#!/usr/bin/env python3
"""Checks the functions as `sam local` runs them against events/expectations.json.

Run by scripts/sam-local.sh, which has started the container engine and a DynamoDB (moto)
with the tables, built the functions (`sam build`) and imported the fixed test client.
Two commands:

  sam-local-check.py events  --template T --sam-args ARGS... --dynamodb URL ...
      `sam local invoke` of every event in events/ (the token function's, then the
      authorizer's), each answer checked against its entry in events/expectations.json,
      the file tests/events.rs checks the handler against, by the same rules: status, the
      no-store headers, the error key and text, WWW-Authenticate on a 401, the body's keys,
      and for a token its shape, token_type, expires_in and scope. An event without an
      expectation, an expectation without its event, or a key this script does not know
      in an expectation fails the run, so the two checks cannot drift apart.

  sam-local-check.py api --url http://127.0.0.1:PORT
      Requests through `sam local start-api` (SAM's own API Gateway emulation, payload
      2.0 events) for what only the gateway's routes do: GET /whoami through the Lambda
      authorizer before and after revoking the token, a wrong method (405 from the
      function on its ANY route) and the metadata document. The client libraries run
      through start-api as tests/clients (scripts/sam-local.sh runs that suite first).

The fixed access token that events/authorizer-live-token.json carries is stored as
tests/events.rs stores it: under its SHA-256, for the fixed client. To stay independent
of the tokens table's layout, the item is a copy of the one the function itself wrote for
an access token it issued during the run (same client, scope, family and lifetime), under
the fixed token's hash.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import botocore.config

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
MANIFEST = "expectations.json"
FIXED_ACCESS_TOKEN = "EventsTestAccessTokenEventsTestAccessTok"
# The keys an expectation may hold (tests/events.rs: struct Expectation).
KNOWN_KEYS = {
    "status",
    "error",
    "error_description",
    "token_type",
    "scope",
    "body",
    "function",
    "authorized",
}
FUNCTIONS = {"token": "TokenFunction", "authorizer": "AuthorizerFunction"}
TOKEN_RE = re.compile(r"^[A-Za-z0-9]{40}$")


def log(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------- expectations


def load_manifest() -> dict:
    with open(EVENTS / MANIFEST) as f:
        manifest = json.load(f)
    unknown = set(manifest) - {"client", "events"}
    if unknown:
        sys.exit(f"events/{MANIFEST}: unknown top-level keys {sorted(unknown)}")
    for name, want in manifest["events"].items():
        extra = set(want) - KNOWN_KEYS
        if extra:
            sys.exit(
                f"events/{MANIFEST}: {name} has keys this check does not know: "
                f"{sorted(extra)} (teach scripts/sam-local-check.py, as tests/events.rs)"
            )
    return manifest


def event_files() -> dict[str, Path]:
    return {
        p.stem: p for p in sorted(EVENTS.glob("*.json")) if p.name != MANIFEST
    }


def header(headers: dict, name: str) -> str | None:
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def redacted(token: dict) -> str:
    """A token answer for the log, without the tokens themselves."""
    return json.dumps(
        {k: ("<40 chars>" if is_token(v) else v) for k, v in token.items()}
    )


def is_token(v) -> bool:
    return isinstance(v, str) and bool(TOKEN_RE.match(v))


def mismatches(status: int, headers: dict, body, want: dict, access_ttl: int) -> list[str]:
    """What differs between an answer and its expectation (tests/events.rs: mismatches)."""
    out = []
    if status != want["status"]:
        out.append(f"status {status} (expected {want['status']})")
    if not (
        header(headers, "Cache-Control") == "no-store"
        and header(headers, "Pragma") == "no-cache"
        and header(headers, "Content-Type") == "application/json"
    ):
        out.append(f"missing the no-store headers: {headers}")
    if not isinstance(body, dict):
        return out + [f"body is not a JSON object: {body!r}"]
    error = want.get("error")
    if error is not None:
        if body.get("error") != error:
            out.append(f"error {body.get('error')!r} (expected {error!r})")
        text = want.get("error_description")
        if text is not None and body.get("error_description") != text:
            out.append(
                f"error_description {body.get('error_description')!r} (expected {text!r})"
            )
        if want["status"] == 401 and header(headers, "WWW-Authenticate") is None:
            out.append("a 401 without WWW-Authenticate")
    elif want.get("body") is not None:
        for key, value in want["body"].items():
            if body.get(key) != value:
                out.append(f"{key} {body.get(key)!r} (expected {value!r})")
    else:
        if not is_token(body.get("access_token")):
            out.append(f"access_token {body.get('access_token')!r} is not 40 of [A-Za-z0-9]")
        token_type = want.get("token_type") or "bearer"
        if body.get("token_type") != token_type:
            out.append(f"token_type {body.get('token_type')!r} (expected {token_type!r})")
        if body.get("expires_in") != access_ttl:
            out.append(f"expires_in {body.get('expires_in')!r} (expected {access_ttl})")
        if not is_token(body.get("refresh_token")):
            out.append(f"refresh_token {body.get('refresh_token')!r} is not 40 of [A-Za-z0-9]")
        scope = want.get("scope")
        if scope is not None and body.get("scope") != scope:
            out.append(f"scope {body.get('scope')!r} (expected {scope!r})")
    return out


# ---------------------------------------------------------------- DynamoDB


def dynamodb(endpoint: str):
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        config=botocore.config.Config(retries={"max_attempts": 2}, read_timeout=20),
    )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def store_fixed_access_token(ddb, tokens_table: str, issued_access_token: str) -> None:
    """Stores FIXED_ACCESS_TOKEN as a copy of the item of an access token the function
    issued (for the fixed client), under the fixed token's hash."""
    key_name = next(
        k["AttributeName"]
        for k in ddb.describe_table(TableName=tokens_table)["Table"]["KeySchema"]
        if k["KeyType"] == "HASH"
    )
    item = ddb.get_item(
        TableName=tokens_table,
        Key={key_name: {"S": token_hash(issued_access_token)}},
        ConsistentRead=True,
    ).get("Item")
    if item is None:
        sys.exit(
            "the access token the function issued is not in the tokens table under its "
            "SHA-256: is the function using the moto endpoint?"
        )
    item[key_name] = {"S": token_hash(FIXED_ACCESS_TOKEN)}
    ddb.put_item(TableName=tokens_table, Item=item)


# ---------------------------------------------------------------- sam local invoke


def invoke(sam_args: list[str], function: str, event: Path) -> tuple[dict, float, str]:
    """`sam local invoke FUNCTION -e EVENT` with the given arguments; returns the
    function's answer (stdout, JSON), the wall time, and its log (stderr)."""
    argv = [shutil.which("sam") or "sam", "local", "invoke", function, "-e", str(event), *sam_args]
    start = time.monotonic()
    out = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )
    took = time.monotonic() - start
    if out.returncode != 0:
        raise RuntimeError(
            f"sam local invoke {function} -e {event.name} exited {out.returncode}:\n"
            f"{out.stderr[-4000:]}"
        )
    # The answer is the last line of stdout; SAM prints nothing else there.
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError(
            f"sam local invoke {function} -e {event.name} printed no answer:\n{out.stderr[-4000:]}"
        )
    try:
        answer = json.loads(lines[-1])
    except ValueError as e:
        raise RuntimeError(
            f"sam local invoke {function} -e {event.name}: the answer is not JSON ({e}): "
            f"{lines[-1][:2000]}\n{out.stderr[-4000:]}"
        ) from None
    return answer, took, out.stderr


def proxy_answer(answer: dict) -> tuple[int, dict, object]:
    """Status, headers and parsed body of an API Gateway proxy answer (payload 1.0 or 2.0)."""
    headers = dict(answer.get("headers") or {})
    for k, v in (answer.get("multiValueHeaders") or {}).items():
        if v and header(headers, k) is None:
            headers[k] = v[0] if len(v) == 1 else ", ".join(v)
    raw = answer.get("body") or ""
    if answer.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw
    return int(answer.get("statusCode", 0)), headers, body


def check_events(args) -> int:
    manifest = load_manifest()
    files = event_files()
    expected = manifest["events"]
    failures = []
    for name in sorted(set(files) - set(expected)):
        failures.append(f"{name}: events/{name}.json has no entry in events/{MANIFEST}")
    for name in sorted(set(expected) - set(files)):
        failures.append(f"{name}: expected, but events/{name}.json is missing")

    sam_args = args.sam_args
    ddb = dynamodb(args.dynamodb)
    access_ttl = args.access_ttl
    names = [n for n in files if n in expected]
    for name in names:
        fn_key = expected[name].get("function") or "token"
        if fn_key not in FUNCTIONS:
            failures.append(f"{name}: unknown function {fn_key!r}")
    names = [n for n in names if (expected[n].get("function") or "token") in FUNCTIONS]
    token_events = sorted(n for n in names if expected[n].get("function") != "authorizer")
    authorizer_events = sorted(n for n in names if expected[n].get("function") == "authorizer")
    state = {"issued": None}
    timings = []

    def run(name: str) -> None:
        want = expected[name]
        fn_key = want.get("function") or "token"
        function = FUNCTIONS[fn_key]
        try:
            answer, took, stderr = invoke(sam_args, function, files[name])
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            failures.append(f"{name}: {e}")
            log(f"FAIL {name}: sam local invoke failed")
            return
        timings.append(took)
        if fn_key == "authorizer":
            got = answer.get("isAuthorized")
            problems = (
                []
                if got is want.get("authorized")
                else [f"{answer} (expected isAuthorized {want.get('authorized')})"]
            )
            summary = f"isAuthorized {got}"
        else:
            status, headers, body = proxy_answer(answer)
            problems = mismatches(status, headers, body, want, access_ttl)
            error = body.get("error", "") if isinstance(body, dict) else ""
            summary = f"{status} {error}".rstrip()
            if (
                not problems
                and isinstance(body, dict)
                and body.get("scope") == " ".join(manifest["client"]["scopes"])
                and is_token(body.get("access_token"))
            ):
                state["issued"] = state["issued"] or body["access_token"]
        if problems:
            failures.extend(f"{name}: {p}" for p in problems)
            log(f"FAIL {name} ({function}, {took:.1f} s): {summary}")
            if args.verbose:
                log(stderr[-3000:])
        else:
            log(f"ok   {name} ({function}, {took:.1f} s): {summary}")

    def run_all(batch: list[str]) -> None:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            list(pool.map(run, batch))

    # The first invocation alone: it builds SAM's emulator image on top of the base image
    # when that is missing or stale, which concurrent invocations would all try at once.
    # Then the token function's events: one of its answers provides the item the fixed
    # access token is stored as, before the authorizer's events run.
    run_all(token_events[:1])
    run_all(token_events[1:])
    if authorizer_events:
        if state["issued"] is None:
            failures.append(
                "no token event was answered with a token: cannot store the fixed access token"
            )
        else:
            store_fixed_access_token(ddb, args.tokens_table, state["issued"])
        run_all(authorizer_events)
    order = token_events + authorizer_events
    if timings:
        log(
            f"{len(timings)} invocations, {sum(timings):.0f} s in all "
            f"({min(timings):.1f}-{max(timings):.1f} s each)"
        )
    if failures:
        print("\n".join(["sam local invoke: answers that differ from events/expectations.json:", *failures]), file=sys.stderr)
        return 1
    log(
        f"every event in events/ got its expected answer under sam local invoke "
        f"({len(order)} events)"
    )
    return 0


# ---------------------------------------------------------------- sam local start-api


def check_api(args) -> int:
    import requests

    manifest = load_manifest()
    client = manifest["client"]
    base = args.url.rstrip("/")
    token_url = f"{base}/oauth"
    scope = " ".join(client["scopes"])
    session = requests.Session()
    session.trust_env = False  # loopback: never through a proxy from the environment
    failures = []

    def expect(what: str, ok: bool, detail: str) -> None:
        log(f"{'ok  ' if ok else 'FAIL'} {what}: {detail}")
        if not ok:
            failures.append(f"{what}: {detail}")

    def no_store(r) -> bool:
        return r.headers.get("Cache-Control") == "no-store" and r.headers.get("Pragma") == "no-cache"

    # A token for the fixed client (the client libraries are tests/clients' business).
    r = session.post(
        token_url, data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]), timeout=120,
    )
    token = r.json() if r.headers.get("Content-Type") == "application/json" else {}
    expect(
        "POST /oauth, the fixed client (Basic)",
        r.status_code == 200 and is_token(token.get("access_token")) and token.get("scope") == scope,
        f"{r.status_code} {redacted(token) if token else r.text[:300]}",
    )
    access = token.get("access_token", "")

    # The protected route through SAM's emulation of the Lambda authorizer.
    r = session.get(f"{base}/whoami", headers={"Authorization": f"Bearer {access}"}, timeout=120)
    expect(
        "GET /whoami with the token (authorizer allows)",
        r.status_code == 200 and r.json() == {"client_id": client["client_id"], "scope": scope},
        f"{r.status_code} {r.text[:300]}",
    )

    # Revoke it (RFC 7009), then the authorizer refuses it.
    r = session.post(
        f"{base}/oauth/revoke", data={"token": access},
        auth=(client["client_id"], client["client_secret"]), timeout=120,
    )
    expect("POST /oauth/revoke", r.status_code == 200 and no_store(r), f"{r.status_code} {r.text[:300]}")
    r = session.get(f"{base}/whoami", headers={"Authorization": f"Bearer {access}"}, timeout=120)
    expect(
        "GET /whoami with the revoked token (authorizer denies)",
        r.status_code == 403,
        f"{r.status_code} {r.text[:300]}",
    )

    # A wrong method reaches the function (ANY route), which answers 405 with Allow.
    r = session.get(token_url, timeout=120)
    expect(
        "GET /oauth (405 from the function)",
        r.status_code == 405 and r.headers.get("Allow") == "POST" and no_store(r),
        f"{r.status_code} Allow={r.headers.get('Allow')} {r.text[:200]}",
    )

    # The metadata document names the emulator's own base URL.
    r = session.get(f"{base}/.well-known/oauth-authorization-server", timeout=120)
    meta = r.json() if r.status_code == 200 else {}
    expect(
        "GET /.well-known/oauth-authorization-server",
        r.status_code == 200 and meta.get("issuer") == base
        and meta.get("token_endpoint") == token_url,
        f"{r.status_code} issuer={meta.get('issuer')!r} token_endpoint={meta.get('token_endpoint')!r}",
    )

    if failures:
        print("\n".join(["sam local start-api: failed requests:", *failures]), file=sys.stderr)
        return 1
    log("sam local start-api answered every request as expected")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("events", help="sam local invoke every event in events/")
    ev.add_argument("--dynamodb", required=True, help="the DynamoDB endpoint (moto)")
    ev.add_argument("--tokens-table", required=True)
    ev.add_argument("--access-ttl", type=int, default=604800)
    ev.add_argument("--verbose", action="store_true", help="print the log of a failed invocation")
    ev.add_argument("--jobs", type=int, default=3, help="invocations at a time (default 3)")
    ev.add_argument("sam_args", nargs=argparse.REMAINDER, help="-- then arguments for sam local invoke")
    api = sub.add_parser("api", help="requests through sam local start-api")
    api.add_argument("--url", required=True)
    api.add_argument("--access-ttl", type=int, default=604800)
    args = parser.parse_args()
    if args.command == "events":
        if args.sam_args and args.sam_args[0] == "--":
            args.sam_args = args.sam_args[1:]
        return check_events(args)
    return check_api(args)


if __name__ == "__main__":
    sys.exit(main())
