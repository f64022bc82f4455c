#!/usr/bin/env python3
"""A DynamoDB endpoint for the benchmark: keeps connections alive and (optionally) speaks TLS
as DynamoDB does, counts requests by operation, and forwards each one to moto.

moto (werkzeug) answers every request with `Connection: close` and speaks plain HTTP, so a
function talking to it directly opens a new TCP connection per request and never does a TLS
handshake: neither what a connection pool buys nor what a cold one costs would show. In
front of it, this server keeps the function's connection open across requests, like
DynamoDB, and with --tls serves a certificate from a throwaway CA (the function trusts it
through SSL_CERT_FILE), so the first request on a connection pays a real TLS handshake.

    dynamodb_front.py --upstream http://127.0.0.1:PORT [--tls DIR] [--port N]
                      [--report FILE [--meter]]   (bench/load/run.sh with LOAD_FRONT=1)

Used as a module by runtime_api.py: `Front(upstream, tls_dir, metering=...).start()`, then `.url`,
`.phase(name)` to label the requests that follow, `.counts` ({phase: {operation: n}}),
and `.take_upstream()`: the time spent waiting for moto since the last call, so that a
span can be split into the emulator's share and the rest.

It also prices each request in DynamoDB's capacity units (`.units`, {phase: {"read": x,
"write": y}}), by DynamoDB's metering rules applied to the items themselves, since moto
does not meter: an item's size is the UTF-8 length of its attribute names plus their
values' sizes; a write costs one write unit per started KB of the larger of the item
before and after it (a put, an update, a delete; read from moto before the request when
the request does not carry the whole item), a read one read unit per started 4 KB if
strongly consistent, half if not; inside TransactWriteItems and TransactGetItems every
unit counts twice. A write that fails its condition still costs its units. Global
secondary indexes would add their own writes: the service's tables have none.
"""

import argparse
import base64
import http.client
import json
import math
import signal
import os
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive", "date", "server"}


def make_certificates(directory):
    """A CA and a server certificate for 127.0.0.1 signed by it (RSA 2048, as DynamoDB's
    chain is). Returns (ca.pem, server.pem, server.key); made once per directory."""
    os.makedirs(directory, exist_ok=True)
    ca_key, ca = os.path.join(directory, "ca.key"), os.path.join(directory, "ca.pem")
    key, csr, cert = (os.path.join(directory, n) for n in ("server.key", "server.csr", "server.pem"))
    if all(os.path.exists(p) for p in (ca, key, cert)):
        return ca, cert, key
    ext = os.path.join(directory, "server.ext")
    with open(ext, "w") as f:
        f.write(
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
        )

    def run(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
        "-days", "30", "-subj", "/CN=oauth-token-service bench CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "30", "-extfile", ext)
    return ca, cert, key


# --- DynamoDB's metering -------------------------------------------------------------------


def value_size(v):
    """Bytes of one AttributeValue, by DynamoDB's item-size rules."""
    (kind, x), = v.items()
    if kind == "S":
        return len(x.encode())
    if kind == "N":  # about one byte per two significant digits, plus one
        digits = x.lstrip("-").replace(".", "").lstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(base64.b64decode(x))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(e.encode()) for e in x)
    if kind == "NS":
        return sum(value_size({"N": e}) for e in x)
    if kind == "BS":
        return sum(len(base64.b64decode(e)) for e in x)
    if kind == "L":
        return 3 + sum(1 + value_size(e) for e in x)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(e) for k, e in x.items())
    return 0


def item_size(item):
    return sum(len(k.encode()) + value_size(v) for k, v in (item or {}).items())


def write_units(size):
    return max(1, math.ceil(size / 1024))


def read_units(size, consistent):
    units = max(1, math.ceil(size / 4096))
    return units if consistent else units / 2


class Meter:
    """Capacity units of one request, from its body and, where the request does not hold
    the whole item (UpdateItem, DeleteItem, a put replacing an item), moto's copy of it."""

    def __init__(self, upstream_post):
        self.post = upstream_post  # (operation, body dict) -> response dict

    def stored(self, table, key):
        got = self.post("GetItem", {"TableName": table, "Key": key, "ConsistentRead": True})
        return (got or {}).get("Item")

    def key_of(self, table, item):
        desc = self.post("DescribeTable", {"TableName": table})
        names = [k["AttributeName"] for k in desc["Table"]["KeySchema"]]
        return {n: item[n] for n in names if n in item}

    def before(self, op, req):
        """Writes that depend on the stored item: their sizes before the request."""
        out = []
        if op == "PutItem":
            out.append(self.stored(req["TableName"], self.key_of(req["TableName"], req["Item"])))
        elif op in ("UpdateItem", "DeleteItem"):
            out.append(self.stored(req["TableName"], req["Key"]))
        elif op == "TransactWriteItems":
            for w in req["TransactItems"]:
                (kind, body), = w.items()
                if kind == "Put":
                    out.append(self.stored(body["TableName"], self.key_of(body["TableName"], body["Item"])))
                elif kind in ("Update", "Delete"):
                    out.append(self.stored(body["TableName"], body["Key"]))
                else:
                    out.append(None)
        elif op == "BatchWriteItem":
            for table, ws in req["RequestItems"].items():
                for w in ws:
                    if "DeleteRequest" in w:
                        out.append(self.stored(table, w["DeleteRequest"]["Key"]))
                    else:
                        item = w["PutRequest"]["Item"]
                        out.append(self.stored(table, self.key_of(table, item)))
        return out

    def units(self, op, req, before, resp):
        """(read units, write units) of a request, given `before` and moto's answer."""
        reads = writes = 0.0
        if op == "GetItem":
            reads = read_units(item_size((resp or {}).get("Item")), req.get("ConsistentRead", False))
        elif op == "BatchGetItem":
            for table, items in (resp or {}).get("Responses", {}).items():
                consistent = req["RequestItems"][table].get("ConsistentRead", False)
                # each key asked for costs at least one unit, found or not
                asked = len(req["RequestItems"][table]["Keys"])
                reads += sum(read_units(item_size(i), consistent) for i in items)
                reads += (asked - len(items)) * read_units(0, consistent)
        elif op == "TransactGetItems":
            for g in req["TransactItems"]:
                reads += 2 * read_units(0, True)  # items here are small (under 4 KB)
        elif op == "PutItem":
            writes = write_units(max(item_size(req["Item"]), item_size(before[0])))
        elif op in ("UpdateItem", "DeleteItem"):
            after = self.stored(req["TableName"], req["Key"]) if op == "UpdateItem" else None
            writes = write_units(max(item_size(before[0]), item_size(after)))
        elif op == "BatchWriteItem":
            i = 0
            for table, ws in req["RequestItems"].items():
                for w in ws:
                    new = w.get("PutRequest", {}).get("Item")
                    writes += write_units(max(item_size(new), item_size(before[i])))
                    i += 1
        elif op == "TransactWriteItems":
            for w, old in zip(req["TransactItems"], before):
                (kind, body), = w.items()
                if kind == "Put":
                    size = max(item_size(body["Item"]), item_size(old))
                elif kind == "Update":
                    size = max(item_size(old), item_size(self.stored(body["TableName"], body["Key"])))
                elif kind == "Delete":
                    size = item_size(old)
                else:  # ConditionCheck: a read
                    reads += 2 * read_units(item_size(old), True)
                    continue
                writes += 2 * write_units(size)
        return reads, writes


class Front(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream, tls_dir=None, port=0, metering=False):
        super().__init__(("127.0.0.1", port), Handler)
        # Metering reads items from moto around each write: off where latency is measured.
        self.metering = metering
        self.upstream = urlsplit(upstream)
        self.lock = threading.Lock()
        self.current = "start"
        self.counts = {}
        self.units = {}  # {phase: {"read": units, "write": units}}
        self.meter = Meter(self.upstream_post)
        self.upstream_ns = 0  # time spent waiting for moto, since the last take_upstream()
        # time requests spent inside this endpoint (front and moto: from a request's headers
        # read to its answer written) plus the CPU of TLS handshakes' server side, since the
        # last take_endpoint(): DynamoDB's share of a span, as the function sees it
        self.endpoint_ns = 0
        self.ca = None
        scheme = "http"
        if tls_dir:
            self.ca, cert, key = make_certificates(tls_dir)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.socket = ctx.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server_address[1]}"

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.ca:  # TLS: the handshake here, its server-side CPU counted as DynamoDB's
            started = time.thread_time_ns()
            try:
                sock.do_handshake()
            finally:
                self.add_endpoint(time.thread_time_ns() - started)
        return sock, addr

    def add_endpoint(self, ns):
        with self.lock:
            self.endpoint_ns += ns

    def take_endpoint(self):
        """ns of DynamoDB's share (front, moto, TLS server CPU) since the last call."""
        with self.lock:
            ns, self.endpoint_ns = self.endpoint_ns, 0
        return ns

    def start(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def phase(self, name):
        with self.lock:
            self.current = name

    def record(self, operation):
        """Counts a request in the current phase; returns that phase (its units go there
        too, even when metered after the phase has moved on)."""
        with self.lock:
            ops = self.counts.setdefault(self.current, {})
            ops[operation] = ops.get(operation, 0) + 1
            return self.current

    def add_units(self, phase, reads, writes):
        with self.lock:
            u = self.units.setdefault(phase, {"read": 0.0, "write": 0.0})
            u["read"] += reads
            u["write"] += writes

    def upstream_post(self, operation, body):
        """A request of the front's own to moto (metering), neither counted nor timed."""
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        try:
            conn.request("POST", "/", body=json.dumps(body), headers={
                "X-Amz-Target": f"DynamoDB_20120810.{operation}",
                "Content-Type": "application/x-amz-json-1.0",
                "Authorization": "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/dynamodb/"
                "aws4_request, SignedHeaders=host, Signature=0",
            })
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        return json.loads(data) if data else {}

    def add_upstream(self, ns):
        with self.lock:
            self.upstream_ns += ns

    def take_upstream(self):
        """ns spent waiting for moto since the last call: the emulator's share of a span."""
        with self.lock:
            ns, self.upstream_ns = self.upstream_ns, 0
        return ns


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as DynamoDB
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_POST(self):
        entered = time.perf_counter_ns()
        try:
            self.forward()
        finally:
            self.server.add_endpoint(time.perf_counter_ns() - entered)

    def forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        # X-Amz-Target: DynamoDB_20120810.GetItem
        operation = self.headers.get("X-Amz-Target", "?").rpartition(".")[2]
        phase = self.server.record(operation)
        request, before = None, []
        if self.server.metering:
            try:
                request = json.loads(body) if body else {}
                before = self.server.meter.before(operation, request)
            except (ValueError, KeyError, TypeError):
                request, before = None, []
        up = self.server.upstream
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        headers["Host"] = up.netloc
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
        started = time.perf_counter_ns()
        try:
            conn.request("POST", self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            status, resp_headers = resp.status, resp.getheaders()
        finally:
            conn.close()
            self.server.add_upstream(time.perf_counter_ns() - started)
        head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(data)}"]
        head += [f"{k}: {v}" for k, v in resp_headers if k.lower() not in HOP_BY_HOP]
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        self.wfile.flush()
        if request is not None:  # after the answer: metering adds no latency to it
            conditional_failure = status == 400 and b"ConditionalCheckFailed" in data
            if status == 200 or conditional_failure or b"TransactionCanceled" in data:
                try:
                    answer = json.loads(data) if status == 200 else {}
                    units = self.server.meter.units(operation, request, before, answer)
                    self.server.add_units(phase, *units)
                except (ValueError, KeyError, TypeError) as e:
                    print(f"dynamodb_front: cannot meter {operation}: {e!r}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--tls", metavar="DIR", help="serve TLS with a CA kept in DIR")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--report", metavar="FILE", help="on SIGTERM, write the requests per "
                    "operation and per second since the last SIGUSR1 (or the start) as JSON")
    ap.add_argument("--meter", action="store_true", help="also count capacity units")
    args = ap.parse_args()
    front = Front(args.upstream, args.tls, args.port, metering=args.meter)
    front.phase("load")
    since = [time.monotonic()]

    def reset(*_):
        with front.lock:
            front.counts.clear()
            front.units.clear()
            since[0] = time.monotonic()

    def report(*_):
        elapsed = time.monotonic() - since[0]
        with front.lock:
            ops = dict(front.counts.get("load", {}))
            units = dict(front.units.get("load", {}))
        out = {
            "seconds": round(elapsed, 3),
            "requests": ops,
            "per_second": {k: round(v / elapsed, 2) for k, v in ops.items()},
            "units": units,
        }
        if args.report:
            with open(args.report, "w") as f:
                json.dump(out, f, indent=1)
        raise SystemExit(0)

    signal.signal(signal.SIGUSR1, reset)
    signal.signal(signal.SIGTERM, report)
    print(front.url, flush=True)
    try:
        front.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
