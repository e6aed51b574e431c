"""The emulator's HTTPS server: HTTP/1.1 with keep-alive, one thread per connection.

The TLS handshake runs in the connection's own thread, never in the accepting one, so a
slow or broken client cannot hold up the others. Answers leave in one write (headers and
body buffered together, TCP_NODELAY set): two small writes would meet Nagle's algorithm
and the client's delayed ACK and cost tens of milliseconds per request.

Transport faults (latency, dropped connections, HTTP 500, down) apply to ``/api`` only;
the ``/sim/...`` control endpoints always answer, so a test or the demo can switch a fault
off again over HTTP.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import ssl
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

from pmsbridge.sim.pbx.actions import ApiOutcome, InspectedRequest, inspect_request
from pmsbridge.sim.pbx.cdr_formats import TextAnswer
from pmsbridge.sim.pbx.options import Faults

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0
KEEP_ALIVE_TIMEOUT = 60.0
MAX_BODY_BYTES = 1024 * 1024
QUERY_STRING = re.compile(r"\?[^\s'\"]*")
INTERNAL_ERROR_PAGE = (
    b"<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body>\r\n"
    b"<center><h1>500 Internal Server Error</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


class EmulatorBackend(Protocol):
    """What the server needs from the emulator behind it."""

    @property
    def faults(self) -> Faults: ...

    def answer_api(self, inspected: InspectedRequest, client_ip: str) -> ApiOutcome: ...

    def record_request(self, received: float, action: str | None, operation: str | None,
                       status: int | str) -> None: ...

    def control(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]: ...


class EmulatorHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that speaks TLS and can close its open connections."""

    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], ssl_context: ssl.SSLContext, backend: EmulatorBackend):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.ssl_context = ssl_context
        self.backend = backend
        self._connections: set[ssl.SSLSocket] = set()
        self._connections_lock = threading.Lock()
        self._closing = False
        super().__init__(address, EmulatorRequestHandler)

    def finish_request(self, request: socket.socket, client_address: Any) -> None:
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            connection = self.ssl_context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        except OSError as err:
            log.debug("cannot set up TLS for %s: %s", client_address[0], err)
            return
        with self._connections_lock:
            if self._closing:
                connection.close()
                return
            self._connections.add(connection)
        try:
            connection.do_handshake()
            self.RequestHandlerClass(connection, client_address, self)
        except OSError as err:
            log.debug("connection from %s ended: %s", client_address[0], err)
        finally:
            with self._connections_lock:
                self._connections.discard(connection)
            connection.close()

    def close_connections(self) -> None:
        """Wake every connection thread by shutting its socket down under it; refuse new ones."""
        with self._connections_lock:
            self._closing = True
            connections = list(self._connections)
        for connection in connections:
            # The plain socket's shutdown: SSLSocket's own would tear down the TLS
            # object while the connection's thread may be reading through it.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(connection, socket.SHUT_RDWR)


class EmulatorRequestHandler(BaseHTTPRequestHandler):
    """``POST /api`` for the firmware's API, ``/sim/...`` for tests and the demo."""

    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    timeout = KEEP_ALIVE_TIMEOUT
    # Buffered, so that headers and body are sent together (see the module docstring).
    wbufsize = 64 * 1024
    server: EmulatorHTTPServer

    def do_POST(self) -> None:
        body = self.read_body()
        if body is None:
            return
        path = urlsplit(self.path).path
        if path == "/api":
            self.serve_api(body)
        elif path.startswith("/sim/"):
            self.send_json(*self.server.backend.control("POST", path, body))
        else:
            self.send_json(404, {"error": f"no such endpoint {path}"})

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/sim/"):
            self.send_json(*self.server.backend.control("GET", path, b""))
        elif path == "/api":
            self.send_json(405, {"error": "the API takes POST requests"})
        else:
            self.send_json(404, {"error": f"no such endpoint {path}"})

    def serve_api(self, body: bytes) -> None:
        received = time.monotonic()
        backend = self.server.backend
        faults = backend.faults
        inspected = inspect_request(body)
        if faults.down:
            backend.record_request(received, inspected.action, inspected.operation, "down")
            self.reset_connection()
            return
        if faults.latency:
            time.sleep(faults.latency)
        if faults.drop_connections:
            backend.record_request(received, inspected.action, inspected.operation, "dropped")
            self.close_connection = True
            return
        if faults.http_500:
            backend.record_request(received, inspected.action, inspected.operation, "http_500")
            self.send_body(500, INTERNAL_ERROR_PAGE, "text/html")
            return
        outcome = backend.answer_api(inspected, self.client_address[0])
        backend.record_request(received, outcome.action, outcome.operation, outcome.status)
        if isinstance(outcome.body, TextAnswer):
            self.send_body(200, outcome.body.text.encode("utf-8"), outcome.body.content_type)
        else:
            self.send_json(200, outcome.body)

    def read_body(self) -> bytes | None:
        """The request body; ``None`` after answering a body the server will not read."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self.send_json(411, {"error": "send a Content-Length"})
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            self.send_json(413, {"error": f"the body must be at most {MAX_BODY_BYTES} bytes"})
            return None
        return self.rfile.read(length)

    def reset_connection(self) -> None:
        # Linger 0 makes the close send a TCP RST: what a client sees from a host that is down.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def send_json(self, status: int, payload: dict[str, Any]) -> None:
        self.send_body(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                       "application/json; charset=UTF-8")

    def send_body(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # A query string may carry a token (the legacy pmsapi URL does): never log one.
        log.debug("%s %s", self.client_address[0], QUERY_STRING.sub("?...", format % args))
