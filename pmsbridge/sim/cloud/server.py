"""The simulators' HTTP server: plain HTTP/1.1 with keep-alive, one thread per connection.

It knows nothing of any vendor: each request becomes a :class:`Request`, the backend (the
simulator) answers it with a :class:`Response`. Answers leave in one write (headers and
body buffered together, TCP_NODELAY set), as the PBX emulator's do.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

KEEP_ALIVE_TIMEOUT = 60.0
MAX_BODY_BYTES = 1024 * 1024
QUERY_STRING = re.compile(r"\?[^\s'\"]*")


@dataclass
class Request:
    """One HTTP request as the backend sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    client_ip: str

    def param(self, name: str) -> str | None:
        """The last value of query parameter ``name`` (``None``: absent)."""
        values = self.query.get(name)
        return values[-1] if values else None

    def json(self) -> Any:
        """The body as JSON; ValueError with a sentence when it is not."""
        try:
            return json.loads(self.body) if self.body.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ValueError("the body must be JSON") from None

    def form(self) -> dict[str, list[str]]:
        """The body as ``application/x-www-form-urlencoded`` fields."""
        try:
            return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise ValueError("the form body must be UTF-8") from None


@dataclass
class Response:
    """An answer: a JSON document (``body`` not bytes), raw bytes, or nothing (``None``)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, str | None]:
        if self.body is None:
            return b"", None
        if isinstance(self.body, bytes):
            return self.body, "text/plain; charset=UTF-8"
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8"


class Backend(Protocol):
    def handle(self, request: Request) -> Response: ...


class SimulatorHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that can close its open connections on stop."""

    request_queue_size = 128
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: tuple[str, int], backend: Backend) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.backend = backend
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, SimulatorRequestHandler)

    def finish_request(self, request: socket.socket, client_address: Any) -> None:
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self._connections.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(request)

    def close_connections(self) -> None:
        """Wake every connection thread by shutting its socket down under it."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class SimulatorRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pmsbridge-sim"
    sys_version = ""
    timeout = KEEP_ALIVE_TIMEOUT
    wbufsize = 64 * 1024
    server: SimulatorHTTPServer

    def do_GET(self) -> None:
        self.serve()

    def do_POST(self) -> None:
        self.serve()

    def do_PUT(self) -> None:
        self.serve()

    def do_PATCH(self) -> None:
        self.serve()

    def do_DELETE(self) -> None:
        self.serve()

    def serve(self) -> None:
        body = self.read_body()
        if body is None:
            return
        parts = urlsplit(self.path)
        request = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True), self.headers,
                          body, self.client_address[0])
        try:
            response = self.server.backend.handle(request)
        except Exception:
            log.exception("the simulator failed on %s %s", self.command, parts.path)
            response = Response(500, {"error": "the simulator failed; see its log"})
        self.send(response)

    def read_body(self) -> bytes | None:
        """The request body; ``None`` after answering a body the server will not read."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self.send(Response(411, {"error": "send a Content-Length"}))
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            self.send(Response(413, {"error": f"the body must be at most {MAX_BODY_BYTES} bytes"}))
            return None
        return self.rfile.read(length)

    def send(self, response: Response) -> None:
        body, content_type = response.encoded()
        self.send_response(response.status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # A query string may carry credentials: never log one.
        log.debug("%s %s", self.client_address[0], QUERY_STRING.sub("?...", format % args))
