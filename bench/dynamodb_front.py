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

Used as a module by runtime_api.py: `Front(upstream, tls_dir).start()`, then `.url`,
`.phase(name)` to label the requests that follow, `.counts` ({phase: {operation: n}}),
and `.take_upstream()`: the time spent waiting for moto since the last call, so that a
span can be split into the emulator's share and the rest.
"""

import argparse
import http.client
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


class Front(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream, tls_dir=None, port=0):
        super().__init__(("127.0.0.1", port), Handler)
        self.upstream = urlsplit(upstream)
        self.lock = threading.Lock()
        self.current = "start"
        self.counts = {}
        self.upstream_ns = 0  # time spent waiting for moto, since the last take_upstream()
        self.ca = None
        scheme = "http"
        if tls_dir:
            self.ca, cert, key = make_certificates(tls_dir)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.socket = ctx.wrap_socket(self.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server_address[1]}"

    def start(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def phase(self, name):
        with self.lock:
            self.current = name

    def record(self, operation):
        with self.lock:
            ops = self.counts.setdefault(self.current, {})
            ops[operation] = ops.get(operation, 0) + 1

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
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        # X-Amz-Target: DynamoDB_20120810.GetItem
        self.server.record(self.headers.get("X-Amz-Target", "?").rpartition(".")[2])
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--tls", metavar="DIR", help="serve TLS with a CA kept in DIR")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    front = Front(args.upstream, args.tls, args.port)
    print(front.url, flush=True)
    try:
        front.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
