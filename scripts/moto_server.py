"""moto_server with DynamoDB's atomicity: one request at a time.

moto checks a ConditionExpression and applies the write without a lock, so two concurrent
conditional writes to one item can both succeed; DynamoDB guarantees that they cannot (the
refresh grant relies on it). This launcher takes moto_server's arguments and serializes
requests, so the emulator keeps that guarantee.
"""

import threading

import moto.server as server

_lock = threading.Lock()
_run_simple = server.run_simple


def _serialized(app):
    def handle(environ, start_response):
        with _lock:
            return list(app(environ, start_response))

    return handle


def _run(host, port, app, **kwargs):
    _run_simple(host, port, _serialized(app), **kwargs)


server.run_simple = _run

if __name__ == "__main__":
    server.main()
