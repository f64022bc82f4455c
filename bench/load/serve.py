"""Serves a Lambda function binary over HTTP on loopback, as a Function URL does (payload 2.0),
with several instances of it, for the load test (bench/load/run.sh).

    serve.py --binary target/release/token --port 9000 --instances 2

It runs a minimal Lambda Runtime API (next / response / error) on a loopback port of its
own and starts INSTANCES copies of the binary against it, each inheriting this process's
environment (tables, DynamoDB endpoint, credentials). Every HTTP request becomes one event;
form bodies are base64-encoded, as API Gateway and Function URLs send them. Prints
`ready http://127.0.0.1:PORT/oauth` once listening, and serves until SIGTERM (or, with
--watch-stdin, until stdin closes); then it stops its instances by PID.
"""

import argparse
import base64
import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TEXT_TYPES = ("application/json", "text/")


class Broker:
    """Events waiting for an instance, and answers waiting for their request."""

    def __init__(self):
        self.events = queue.Queue()
        self.waiting = {}
        self.lock = threading.Lock()
        self.ids = itertools.count()

    def invoke(self, event, timeout=30.0):
        rid = f"load-{next(self.ids)}"
        done = threading.Event()
        slot = {"done": done, "answer": None}
        with self.lock:
            self.waiting[rid] = slot
        self.events.put((rid, event))
        if not done.wait(timeout):
            with self.lock:
                self.waiting.pop(rid, None)
            return None
        return slot["answer"]

    def answer(self, rid, answer):
        with self.lock:
            slot = self.waiting.pop(rid, None)
        if slot:
            slot["answer"] = answer
            slot["done"].set()


class Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def runtime_handler(broker):
    class Runtime(Quiet):
        def do_GET(self):
            if not self.path.endswith("/runtime/invocation/next"):
                return self.send(404, b"{}")
            rid, event = broker.events.get()
            deadline = int(time.time() * 1000) + 30_000
            self.send(200, json.dumps(event).encode(), [
                ("Content-Type", "application/json"),
                ("Lambda-Runtime-Aws-Request-Id", rid),
                ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                ("Lambda-Runtime-Invoked-Function-Arn",
                 "arn:aws:lambda:us-east-1:123456789012:function:token"),
            ])

        def do_POST(self):
            data = self.body()
            parts = self.path.split("/")
            # /2018-06-01/runtime/invocation/{id}/response|error
            if len(parts) >= 6 and parts[3] == "invocation":
                rid, kind = parts[4], parts[5]
                try:
                    answer = json.loads(data) if kind == "response" else None
                except ValueError:
                    answer = None
                broker.answer(rid, answer)
            self.send(202, b'{"status":"OK"}')

    return Runtime


def front_handler(broker):
    class Front(Quiet):
        def handle_any(self):
            raw = self.body()
            path, _, query = self.path.partition("?")
            headers = {}
            for k, v in self.headers.items():
                k = k.lower()
                headers[k] = f"{headers[k]},{v}" if k in headers else v
            ctype = headers.get("content-type", "")
            text = ctype.startswith(TEXT_TYPES) or not raw
            body = raw.decode("utf-8", "replace") if text else base64.b64encode(raw).decode()
            event = {
                "version": "2.0", "routeKey": "$default", "rawPath": path,
                "rawQueryString": query, "headers": headers,
                "requestContext": {
                    "requestId": f"front-{time.monotonic_ns()}",
                    "domainName": headers.get("host", "127.0.0.1"),
                    "http": {"method": self.command, "path": path, "protocol": "HTTP/1.1",
                             "sourceIp": self.client_address[0],
                             "userAgent": headers.get("user-agent", "")},
                },
                "body": body if raw else None,
                "isBase64Encoded": not text,
            }
            answer = broker.invoke(event)
            if not isinstance(answer, dict) or "statusCode" not in answer:
                return self.send(502, b'{"message":"Internal Server Error"}',
                                 [("Content-Type", "application/json")])
            out = answer.get("body") or ""
            out = base64.b64decode(out) if answer.get("isBase64Encoded") else out.encode()
            self.send(int(answer["statusCode"]), out, list((answer.get("headers") or {}).items()))

        do_GET = do_POST = do_PUT = do_DELETE = handle_any

    return Front


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--instances", type=int, default=2)
    p.add_argument("--watch-stdin", action="store_true", help="also stop when stdin closes")
    a = p.parse_args()
    if not 1 <= a.instances <= 64:
        p.error("instances: 1..64")

    broker = Broker()
    ThreadingHTTPServer.daemon_threads = True
    runtime = ThreadingHTTPServer(("127.0.0.1", 0), runtime_handler(broker))
    front = ThreadingHTTPServer(("127.0.0.1", a.port), front_handler(broker))
    for server in (runtime, front):
        threading.Thread(target=server.serve_forever, daemon=True).start()

    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{runtime.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "token", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    })
    procs = [subprocess.Popen([a.binary], env=env, stdin=subprocess.DEVNULL)
             for _ in range(a.instances)]

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    if a.watch_stdin:
        threading.Thread(target=lambda: (sys.stdin.read(), stopping.set()), daemon=True).start()

    print(f"ready http://127.0.0.1:{a.port}/oauth", flush=True)
    while not stopping.wait(0.5):
        dead = [pr for pr in procs if pr.poll() is not None]
        if dead:
            print(f"serve.py: an instance exited ({dead[0].returncode})", file=sys.stderr)
            break
    for pr in procs:
        if pr.poll() is None:
            pr.terminate()
    for pr in procs:
        try:
            pr.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pr.kill()
            pr.wait()
    front.shutdown()
    runtime.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
