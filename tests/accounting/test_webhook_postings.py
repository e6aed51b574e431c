"""Charges posted back to a webhook PMS: a signed JSON POST to a real HTTP server on 127.0.0.1,
and what each kind of answer does to the posting."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr, ValidationError

from pmsbridge.accounting.postings import Charge, PostingStore
from pmsbridge.adapters.base import AdapterContext
from pmsbridge.adapters.webhook.adapter import WebhookAdapter
from pmsbridge.adapters.webhook.config import PostingSettings, SignatureSettings, SigningSettings
from pmsbridge.adapters.webhook.postings import PostingSender, retry_delay
from pmsbridge.adapters.webhook.signature import signature_headers, verify_signature
from tests.accounting.conftest import settings_for
from tests.helpers import wait_for
from tests.adapters.webhook.conftest import FULL_SOURCE
from tests.ledger.conftest import FrozenClock, make_ledger

KEY = "posting-key-for-the-tests-0123"
WHEN = dt.datetime(2026, 11, 27, 10, 15)


class Receiver:
    """A PMS endpoint: answers each POST with the next scripted status ("hang": never in time)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict, bytes]] = []
        self.answers: list[int | str] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                answer = receiver.answers.pop(0) if receiver.answers else 200
                if answer == "hang":
                    receiver.release.wait(10)
                    return
                payload = b'{"error": "unknown room"}' if answer == 422 else b"{}"
                self.send_response(answer)
                self.send_header("Content-Length", str(len(payload)))
                if answer == 429:
                    self.send_header("Retry-After", "120")
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/charges"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def clock():
    return FrozenClock(dt.datetime.now(dt.UTC))


@pytest.fixture
def store(engine, clock):
    return PostingStore(engine, clock=clock)


def target(url: str, **changes) -> PostingSettings:
    values = {"url": url, "timeout_seconds": 0.5,
              "signing": {"prefix": "sha256=", "template": "{timestamp}.{body}", "secret": KEY,
                          "timestamp_header": "X-Timestamp"}}
    values.update(changes)
    return PostingSettings.model_validate(values)


def sender_for(store: PostingStore, url: str, budget: dt.timedelta = dt.timedelta(hours=24)) -> PostingSender:
    return PostingSender(store, {"webhook:pms": target(url)}, budget)


def queue(store: PostingStore, amount: int | None = 290) -> int:
    return store.create(Charge(room="101", call_start=WHEN, channel="webhook:pms", amount=amount,
                               dialled="00442079460000", duration=65, tariff="International"))


def test_a_posting_is_signed_json_and_a_2xx_posts_it(store, receiver):
    posting_id = queue(store)
    assert sender_for(store, receiver.url).send_next()
    [(headers, body)] = receiver.requests
    assert json.loads(body) == {
        "posting_id": posting_id, "idempotency_key": f"pmsbridge-posting-{posting_id}.0", "room": "101",
        "amount_minor": 290, "currency": "EUR", "dialled": "00442079460000", "duration_seconds": 65,
        "call_start": "2026-11-27T10:15:00", "tariff": "International"}
    assert headers["Idempotency-Key"] == f"pmsbridge-posting-{posting_id}.0"
    checker = SignatureSettings(header="X-Signature", prefix="sha256=", template="{timestamp}.{body}",
                                secrets=[SecretStr(KEY)], timestamp_header="X-Timestamp")
    verify_signature(body, headers, checker, time.time())  # raises when it does not match
    posting = store.get(posting_id)
    assert (posting.state, posting.answer) == ("posted", "HTTP 200")
    assert not sender_for(store, receiver.url).send_next()  # nothing left


def test_a_4xx_refuses_it_with_the_answer(store, receiver):
    receiver.answers = [422]
    posting_id = queue(store)
    sender_for(store, receiver.url).send_next()
    posting = store.get(posting_id)
    assert (posting.state, posting.answer) == ("refused", 'HTTP 422: {"error": "unknown room"}')


@pytest.mark.parametrize("status, pause", [(503, dt.timedelta(seconds=30)), (429, dt.timedelta(seconds=120))])
def test_a_busy_pms_is_tried_again_later_until_the_budget_is_spent(store, receiver, clock, status, pause):
    receiver.answers = [status, status]
    posting_id = queue(store)
    sender = sender_for(store, receiver.url, budget=dt.timedelta(minutes=10))
    sender.send_next()
    posting = store.get(posting_id)
    assert (posting.state, posting.last_error) == ("queued", f"the PMS answered HTTP {status}")
    assert posting.next_attempt_at == clock.now + pause
    assert not sender.send_next()  # not due yet
    clock.advance(minutes=10)
    sender.send_next()
    assert store.get(posting_id).state == "failed" and len(receiver.requests) == 2


def test_no_connection_at_all_is_tried_again(store, receiver):
    url = receiver.url
    receiver.close()  # nobody listens there any more: connection refused
    posting_id = queue(store)
    sender_for(store, url).send_next()
    posting = store.get(posting_id)
    assert posting.state == "queued" and "could not be reached" in posting.last_error


def test_a_request_cut_off_after_it_went_out_is_unknown_and_not_sent_again(store, receiver, clock):
    receiver.answers = ["hang"]
    posting_id = queue(store)
    sender = sender_for(store, receiver.url)
    sender.send_next()
    posting = store.get(posting_id)
    assert posting.state == "unknown" and "cut off" in posting.last_error
    clock.advance(hours=1)
    assert not sender.send_next() and len(receiver.requests) == 1
    store.repost(posting_id, actor="ada")
    sender.send_next()
    headers, _ = receiver.requests[-1]
    assert headers["Idempotency-Key"] == f"pmsbridge-posting-{posting_id}.1"
    assert store.get(posting_id).state == "posted"


def test_the_pause_grows_and_honours_retry_after():
    assert [retry_delay(n, None).total_seconds() for n in (1, 2, 3, 6, 10)] == [30, 60, 120, 900, 900]
    assert retry_delay(1, "600") == dt.timedelta(minutes=10)
    assert retry_delay(5, "1") == dt.timedelta(minutes=8)


def test_the_adapter_sends_its_sources_postings_on_its_own_thread(engine, receiver):
    ledger = make_ledger(engine)
    source = {**FULL_SOURCE, "posting": {"url": receiver.url, "signing": {"secret": KEY}}}
    settings = settings_for(adapters={"webhook": {"sources": {"pms": source}}})
    adapter = WebhookAdapter(settings.adapter_settings["webhook"], AdapterContext(settings, ledger))
    assert adapter.posting_channels() == frozenset({"webhook:pms"})
    adapter.start()
    try:
        store = PostingStore(engine)
        posting_id = queue(store, amount=None)
        wait_for(lambda: store.get(posting_id).state == "posted")
    finally:
        adapter.stop(timeout=3)
    [(_, body)] = receiver.requests
    assert json.loads(body)["amount_minor"] is None


@pytest.mark.parametrize("signing", [
    {"secret": KEY},
    {"secret": KEY, "algorithm": "sha512", "encoding": "base64", "prefix": "v1="},
    {"secret": KEY, "template": "{timestamp}:{body}", "timestamp_header": "X-Time", "timestamp_format": "iso"},
    {"secret": KEY, "template": "{timestamp}.{body}", "timestamp_header": "X-Time", "timestamp_format": "unix_ms"},
])
def test_what_the_bridge_signs_its_own_receivers_accept(signing):
    settings = SigningSettings.model_validate(signing)
    body, now = b'{"posting_id": 1}', time.time()
    headers = signature_headers(body, settings, now)
    checker = SignatureSettings(header=settings.header, algorithm=settings.algorithm, encoding=settings.encoding,
                                prefix=settings.prefix, template=settings.template, secrets=[SecretStr(KEY)],
                                timestamp_header=settings.timestamp_header, timestamp_format=settings.timestamp_format)
    verify_signature(body, headers, checker, now)


def test_a_posting_target_needs_an_http_url_and_a_key():
    with pytest.raises(ValidationError, match="not an http:// or https:// URL"):
        target("ftp://pms.example.com/charges")
    with pytest.raises(ValidationError, match="secret"):
        PostingSettings.model_validate({"url": "https://pms.example.com", "signing": {}})
