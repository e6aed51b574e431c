"""The web server as the service runs it (waitress on 127.0.0.1) against hostile clients:
a slowloris, oversize bodies without a token, oversize headers, idle connections; and the
folding of waitress's queue warnings."""

from __future__ import annotations

import logging
import socket
import time

import pytest
import requests

from pmsbridge.web.server import MAX_REQUEST_BYTES, QueueWarningFilter, raise_descriptor_limit
from tests.helpers import wait_for
from tests.web.conftest import bridge_settings, start_service

SLOW_CONNECTIONS = 500
# The slow clients send a header line this often, for this many rounds.
TRICKLE_EVERY = 2.0
TRICKLE_ROUNDS = 3


@pytest.fixture
def web_service(settings):
    """The service with its web server listening, as `pmsbridge run` starts it."""
    service = start_service(settings, web=True)
    yield service, f"127.0.0.1:{service.web_server.effective_port}"
    service.stop()


def connect(address: str) -> socket.socket:
    host, port = address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def answer_of(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or 10 s pass)."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def test_healthz_answers_during_a_slowloris_of_500_connections(web_service):
    service, address = web_service
    raise_descriptor_limit(2 * SLOW_CONNECTIONS + 256)  # both ends of every connection live in this process
    slow = []
    try:
        for number in range(SLOW_CONNECTIONS):
            connection = connect(address)
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: bridge\r\n")
            slow.append(connection)
        for round_number in range(TRICKLE_ROUNDS):
            time.sleep(TRICKLE_EVERY)
            for connection in slow:
                connection.sendall(f"X-Slow-{round_number}: still coming\r\n".encode())
            reply = requests.get(f"http://{address}/healthz", timeout=5)
            assert reply.status_code in (200, 503) and "checks" in reply.json()
        # The slow ones still hold their connections: the server let the others through beside them.
        assert len(service.web_server._map) > SLOW_CONNECTIONS
    finally:
        for connection in slow:
            connection.close()


def test_a_huge_post_without_a_token_is_refused_before_its_body_is_read(web_service):
    _, address = web_service
    with connect(address) as connection:
        connection.sendall(b"POST /webhook/pms HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 900000000\r\n\r\n")
        answer = answer_of(connection)
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_a_chunked_post_is_cut_off_at_the_largest_body_a_route_takes(web_service):
    _, address = web_service
    chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
    sent = 0
    with connect(address) as connection:
        connection.sendall(b"POST /webhook/pms HTTP/1.1\r\nHost: bridge\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            while sent < 4 * MAX_REQUEST_BYTES:
                connection.sendall(chunk)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection: what it had to say is already on its way
        try:
            answer = answer_of(connection)
        except ConnectionResetError:
            # A server that closes with bytes unread resets the connection, and the reset may
            # discard its 413 on the way: the cut-off body below is what proves the cap then.
            answer = None
    assert answer is None or answer.startswith(b"HTTP/1.1 413 ")
    assert sent < 4 * MAX_REQUEST_BYTES


def test_a_form_of_the_largest_size_still_reaches_the_application(web_service):
    _, address = web_service
    reply = requests.post(f"http://{address}/login", data=b"x" * MAX_REQUEST_BYTES,
                          headers={"Content-Type": "application/octet-stream"}, timeout=10)
    assert reply.status_code == 400  # Flask's answer (no CSRF token), not the server's 413


def test_oversize_headers_are_refused(web_service):
    _, address = web_service
    reply = requests.get(f"http://{address}/healthz", headers={"X-Padding": "x" * 40_000}, timeout=10)
    assert reply.status_code == 431


def test_an_idle_connection_is_closed_after_the_channel_timeout(tmp_path, emulator, ledger_template):
    import shutil

    from tests.web.conftest import LEDGER_FILE

    shutil.copy(ledger_template, tmp_path / LEDGER_FILE)
    service = start_service(bridge_settings(tmp_path, emulator, channel_timeout=5), web=True)
    try:
        with connect(f"127.0.0.1:{service.web_server.effective_port}") as idle:
            wait_for(lambda: len(service.web_server.active_channels) == 1)
            assert idle.recv(1) == b""  # closed by the server, before the socket's own 10 s timeout
    finally:
        service.stop()


def queue_warning(depth: int) -> logging.LogRecord:
    return logging.LogRecord("waitress.queue", logging.WARNING, "task.py", 114, "Task queue depth is %d", (depth,),
                             None)


def test_queue_depth_warnings_are_folded_into_one_line_a_minute():
    now = [1000.0]
    folder = QueueWarningFilter(interval=60, clock=lambda: now[0])
    passed = [record for depth in range(1, 992) if folder.filter(record := queue_warning(depth))]
    assert [record.getMessage() for record in passed] == [
        "Task queue depth is 1 (all web threads busy; further warnings folded for 60 s)"]
    now[0] += 61
    later = queue_warning(3)
    assert folder.filter(later)
    assert later.getMessage() == "Task queue depth is 3 (990 more such warnings folded since the last line, the deepest 991)"
    other = logging.LogRecord("waitress.queue", logging.WARNING, "task.py", 1, "something else", (), None)
    assert folder.filter(other)
