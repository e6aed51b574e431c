"""Webhooks over real HTTP on 127.0.0.1: the bridge's own server (waitress, built as the service
builds it) and Werkzeug's (which passes chunked bodies without a Content-Length), posted to with
``requests``."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from werkzeug.serving import make_server

from pmsbridge.config import WebSettings
from pmsbridge.web.server import QueueWarningFilter, create_web_server

from tests.adapters.webhook.conftest import APALEO_SOURCE, FULL_SOURCE, TOKEN, check_in_body, encode, signed_headers


@pytest.fixture
def waitress_url(app_for):
    app, _ = app_for({"pms": FULL_SOURCE, "apaleo": {**APALEO_SOURCE, "max_body_bytes": 4096}})
    # A fresh warning filter: another test's burst within the last minute would fold this one's line.
    queue_logger = logging.getLogger("waitress.queue")
    queue_logger.filters = [f for f in queue_logger.filters if not isinstance(f, QueueWarningFilter)]
    server = create_web_server(app, WebSettings(listen="127.0.0.1:0"), sockets={})
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(5)


@pytest.fixture
def werkzeug_url(app_for):
    # The token travels in a header here: Werkzeug's server logs every request's path.
    app, _ = app_for({"apaleo": {**APALEO_SOURCE, "max_body_bytes": 4096, "token_header": "X-Webhook-Token"}})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def chunks(total: int, size: int = 1024):
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


def test_a_signed_check_in_over_http(waitress_url, ledger):
    body = encode(check_in_body("101"))
    with requests.Session() as session:
        reply = session.post(f"{waitress_url}/webhook/pms", data=body, headers=signed_headers(body), timeout=10)
        assert reply.status_code == 200 and reply.json()["status"] == "applied"
        again = session.post(f"{waitress_url}/webhook/pms", data=body, headers=signed_headers(body), timeout=10)
        assert again.json()["status"] == "duplicate"
    assert ledger.event(reply.json()["event_id"]).raw == body.decode()
    assert len(ledger.deliveries()) == 1


def test_a_bad_signature_over_http(waitress_url, ledger):
    body = encode(check_in_body("101"))
    reply = requests.post(f"{waitress_url}/webhook/pms", data=body, headers=signed_headers(body, key="forged-key-1234"),
                          timeout=10)
    assert reply.status_code == 401 and ledger.events() == []


def test_oversize_bodies_over_http(waitress_url, ledger):
    url = f"{waitress_url}/webhook/apaleo/{TOKEN}"
    assert requests.post(url, data=b" " * 5000, timeout=10).status_code == 413
    assert requests.post(url, data=chunks(5000), timeout=10).status_code == 413
    assert requests.post(url, json={"topic": "system", "type": "healthcheck"}, timeout=10).status_code == 200
    assert ledger.events() == []


def test_an_oversize_chunked_body_is_stopped_by_the_read(werkzeug_url, ledger):
    url, token = f"{werkzeug_url}/webhook/apaleo", {"X-Webhook-Token": TOKEN}
    reply = requests.post(url, data=chunks(64 * 1024), headers=token, timeout=10)
    assert reply.status_code == 413 and ledger.events() == []
    empty = requests.post(url, data=chunks(0), headers=token, timeout=10)
    assert empty.status_code == 202  # an empty body is not JSON: kept as a dead letter (on_bad_body = "accept")
    thin = {"topic": "Reservation", "type": "checked-out", "id": "a2", "data": {"entityId": "ABC-1"}}
    assert requests.post(url, json=thin, headers=token, timeout=10).json()["status"] == "needs_fetch"


def test_hostile_bodies_over_http_get_a_json_400(waitress_url, ledger):
    for body in (b"[" * 100_000, b'{"event": "ping", "n": ' + b"9" * 200_000 + b"}"):
        reply = requests.post(f"{waitress_url}/webhook/pms", data=body, headers=signed_headers(body), timeout=10)
        assert reply.status_code == 400 and reply.headers["Content-Type"] == "application/json"
        assert ledger.event(reply.json()["event_id"]).raw == body.decode()


def test_a_burst_of_1000_webhooks_logs_one_queue_depth_warning(waitress_url, caplog):
    body = encode({"id": "ping-1", "event": "ping"})

    def send(count: int) -> list[int]:
        with requests.Session() as session:
            return [session.post(f"{waitress_url}/webhook/pms", data=body, headers=signed_headers(body),
                                 timeout=30).status_code for _ in range(count)]

    with ThreadPoolExecutor(max_workers=40) as pool:
        answers = [status for statuses in pool.map(send, [25] * 40) for status in statuses]
    assert answers == [200] * 1000
    warnings = [record.getMessage() for record in caplog.records if "Task queue depth" in record.getMessage()]
    assert len(warnings) == 1, warnings
