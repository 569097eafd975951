"""Helpers for the stack tests: small real processes and a real HTTP server standing in for a model server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class StatusServer:
    """Answers GET /v1/models/<name> like TF Serving's REST status, with the states a test sets."""

    def __init__(self) -> None:
        self.states: dict[str, list[str]] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                if name not in owner.states:
                    self.send_response(404)
                    self.end_headers()
                    return
                body = json.dumps(
                    {"model_version_status": [{"version": "1", "state": s} for s in owner.states[name]]}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def status_server() -> Iterator[StatusServer]:
    server = StatusServer()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
