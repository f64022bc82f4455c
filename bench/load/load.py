"""Load generator for the token function on loopback (bench/load/run.sh runs it).

Fires COUNT client_credentials issuances over CONCURRENCY keep-alive connections, in turn as
JSON (client_secret_post), as a form with Basic (client_secret_basic) and as a form with the
credentials in the body, then checks that every answer was a 200 with a fresh token pair and
that the tokens table holds the SHA-256 of every issued token exactly once, and nothing else.
Bounded in count and in time (--deadline); only loopback addresses are accepted.

Prints the figures, and a last line `RESULT {json}`; exits 1 when a check fails.
"""

import argparse
import base64
import hashlib
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="the token endpoint, http://127.0.0.1:PORT/oauth")
    p.add_argument("--count", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--deadline", type=float, default=900, help="seconds; stops sending then")
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret", required=True)
    p.add_argument("--dynamodb-endpoint", required=True)
    p.add_argument("--tokens-table", required=True)
    a = p.parse_args()
    for what, url in (("--url", a.url), ("--dynamodb-endpoint", a.dynamodb_endpoint)):
        host = urllib.parse.urlsplit(url).hostname
        if host not in LOOPBACK:
            p.error(f"{what} must be on loopback (got {host})")
    if not (1 <= a.count <= 1_000_000 and 1 <= a.concurrency <= 256 and 0 < a.deadline <= 3600):
        p.error("count 1..1e6, concurrency 1..256, deadline 0..3600 s")
    return a


class Run:
    def __init__(self, a):
        self.a = a
        u = urllib.parse.urlsplit(a.url)
        self.host, self.port, self.path = u.hostname, u.port or 80, u.path or "/oauth"
        self.lock = threading.Lock()
        self.next = 0
        self.stop_at = time.monotonic() + a.deadline
        self.latencies = []
        self.tokens = []  # (access, refresh)
        self.errors = []
        basic = f"{a.client_id}:{a.client_secret}".encode()
        self.requests = [
            (
                json.dumps({"grant_type": "client_credentials", "client_id": a.client_id,
                            "client_secret": a.client_secret}),
                {"Content-Type": "application/json"},
            ),
            (
                "grant_type=client_credentials",
                {"Content-Type": "application/x-www-form-urlencoded",
                 "Authorization": "Basic " + base64.b64encode(basic).decode()},
            ),
            (
                urllib.parse.urlencode({"grant_type": "client_credentials",
                                        "client_id": a.client_id,
                                        "client_secret": a.client_secret}),
                {"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
            ),
        ]

    def take(self):
        with self.lock:
            if self.next >= self.a.count or time.monotonic() >= self.stop_at:
                return None
            self.next += 1
            return self.next - 1

    def worker(self):
        conn = None
        while (i := self.take()) is not None:
            body, headers = self.requests[i % len(self.requests)]
            started = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                conn.request("POST", self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                took = time.monotonic() - started
                answer = json.loads(data) if data else {}
                ok = (resp.status == 200 and len(answer.get("access_token", "")) == 40
                      and len(answer.get("refresh_token", "")) == 40
                      and resp.getheader("Cache-Control") == "no-store")
                with self.lock:
                    self.latencies.append(took)
                    if ok:
                        self.tokens.append((answer["access_token"], answer["refresh_token"]))
                    else:
                        self.errors.append(f"#{i}: {resp.status} {data[:200]!r}")
            except (OSError, http.client.HTTPException, ValueError) as e:
                with self.lock:
                    self.errors.append(f"#{i}: {type(e).__name__}: {e}")
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def fire(self):
        threads = [threading.Thread(target=self.worker, daemon=True)
                   for _ in range(self.a.concurrency)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1.0, self.stop_at - time.monotonic() + 120))
        return time.monotonic() - started


def scan_token_hashes(a):
    """Every item of the tokens table: token_hash -> (kind, client_id), and the item count."""
    import boto3  # from .tools/venv (moto brings it)

    db = boto3.client("dynamodb", endpoint_url=a.dynamodb_endpoint, region_name="us-east-1",
                      aws_access_key_id="load", aws_secret_access_key="load")
    items, start = [], None
    while True:
        kw = {"TableName": a.tokens_table, "ConsistentRead": True,
              "ProjectionExpression": "token_hash, kind, client_id"}
        if start:
            kw["ExclusiveStartKey"] = start
        page = db.scan(**kw)
        items.extend(page.get("Items", []))
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    return items


def percentile(values, q):
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def main():
    a = parse_args()
    run = Run(a)
    print(f"load: {a.count} issuances, {a.concurrency} connections, {a.url}", flush=True)
    elapsed = run.fire()
    ok = len(run.tokens)
    rate = ok / elapsed if elapsed else 0.0
    lat = run.latencies
    print(f"load: {ok} tokens issued, {len(run.errors)} errors, in {elapsed:.1f} s: "
          f"{rate:.1f} issuances/s", flush=True)
    if lat:
        print(f"load: latency ms p50 {1000 * statistics.median(lat):.1f}, "
              f"p95 {1000 * percentile(lat, 0.95):.1f}, p99 {1000 * percentile(lat, 0.99):.1f}, "
              f"max {1000 * max(lat):.1f}", flush=True)
    for e in run.errors[:10]:
        print(f"load: error {e}", flush=True)

    problems = []
    if ok + len(run.errors) < a.count:
        problems.append(f"only {ok + len(run.errors)} of {a.count} sent before the deadline")
    if run.errors:
        problems.append(f"{len(run.errors)} errors")

    issued = [t for pair in run.tokens for t in pair]
    if len(set(issued)) != len(issued):
        problems.append("a token was issued twice")
    items = scan_token_hashes(a)
    counts = {}
    for item in items:
        h = item["token_hash"]["S"]
        counts[h] = counts.get(h, 0) + 1
    missing = sum(1 for t in issued if counts.get(hashlib.sha256(t.encode()).hexdigest(), 0) != 1)
    wanted = {hashlib.sha256(t.encode()).hexdigest() for t in issued}
    extra = sum(1 for h in counts if h not in wanted)
    plain = sum(1 for t in issued[:200] if t in counts)
    print(f"load: tokens table: {len(items)} items for {len(issued)} issued tokens; "
          f"{missing} issued tokens not stored exactly once, {extra} items issued to nobody",
          flush=True)
    if missing:
        problems.append(f"{missing} issued tokens not present exactly once")
    if extra:
        problems.append(f"{extra} stored tokens that no answer carried")
    if plain:
        problems.append("tokens stored in plain text")

    result = {"count": a.count, "concurrency": a.concurrency, "issued": ok,
              "errors": len(run.errors), "seconds": round(elapsed, 2),
              "rate_per_s": round(rate, 1),
              "p50_ms": round(1000 * statistics.median(lat), 1) if lat else None,
              "p99_ms": round(1000 * percentile(lat, 0.99), 1) if lat else None,
              "table_items": len(items), "problems": problems}
    print("RESULT " + json.dumps(result), flush=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
