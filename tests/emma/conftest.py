"""Fixtures of the task tests."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@pytest.fixture
def receiver():
    """A loopback HTTP server that records what it receives; it answers 503 `fail_first` times."""

    class Handler(BaseHTTPRequestHandler):
        received = []
        fail_first = 0

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            type(self).received.append({"body": body, "idempotency_key": self.headers.get("Idempotency-Key")})
            status = 503 if len(type(self).received) <= type(self).fail_first else 200
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Handler.url = f"http://127.0.0.1:{server.server_port}/hook"
    yield Handler
    server.shutdown()
