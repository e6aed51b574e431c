"""A real HTTP server on 127.0.0.1 that takes webhooks and keeps them, for the cloud PMS simulator tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

from tests.helpers import wait_for


class Received(NamedTuple):
    path: str
    headers: dict[str, str]
    body: Any


class WebhookReceiver:
    """Answers every POST with ``status`` (200 unless changed) and keeps what arrived, in order."""

    def __init__(self) -> None:
        self.status = 200
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.received.append(Received(self.path, dict(self.headers), json.loads(body)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def bodies(self) -> list[Any]:
        with self._lock:
            return [item.body for item in self.received]

    def wait_for_count(self, count: int, timeout: float = 10.0) -> list[Any]:
        """The bodies once at least ``count`` arrived; fails after ``timeout`` seconds."""
        wait_for(lambda: len(self.bodies()) >= count, timeout)
        return self.bodies()

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
