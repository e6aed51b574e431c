"""Charges posted back to a webhook PMS: a signed JSON POST per posting, with retries.

The postings of a source with ``[...posting]`` (channel ``webhook:<name>``) are sent by one
thread, oldest first. The body::

    {"posting_id": 12, "idempotency_key": "pmsbridge-posting-12.0", "room": "101",
     "amount_minor": 150, "currency": "EUR", "dialled": "00441234567", "duration_seconds": 65,
     "call_start": "2026-11-27T10:15:00", "tariff": "UK"}

``amount_minor`` is null when the PMS rates calls itself (``accounting.charge_as = "call"``);
``call_start`` is hotel local time. The body is signed as ``[...posting.signing]`` says, and
``Idempotency-Key`` carries the key (it changes only when an operator re-posts).

What the answer means:

- 2xx: posted (the status is kept as the answer);
- 408, 429, 5xx, or no connection at all: nothing was booked; tried again with a growing
  pause (``Retry-After`` honoured) until ``accounting.retry_budget_hours`` is spent, then
  failed;
- another 4xx: refused, with the status and the start of the body;
- the connection broke or timed out after the request went out: unknown. The PMS may have
  booked it, so it is not sent again unless an operator re-posts it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime, timedelta

import requests
from urllib3.exceptions import NewConnectionError

from pmsbridge.accounting.models import Posting
from pmsbridge.accounting.postings import PostingStore
from pmsbridge.adapters.webhook.config import PostingSettings
from pmsbridge.adapters.webhook.signature import signature_headers
from pmsbridge.pbx.errors import exception_chain

log = logging.getLogger(__name__)

# Pauses between attempts: doubling from the first to the last.
FIRST_RETRY = timedelta(seconds=30)
LAST_RETRY = timedelta(minutes=15)
# How often the sender looks for due postings when nobody wakes it.
IDLE_INTERVAL = 1.0
ANSWER_SHOWN = 120


def posting_body(posting: Posting) -> dict:
    return {
        "posting_id": posting.id,
        "idempotency_key": idempotency_key(posting),
        "room": posting.room,
        "amount_minor": posting.amount,
        "currency": posting.currency,
        "dialled": posting.dialled,
        "duration_seconds": posting.duration,
        "call_start": posting.call_start.isoformat(),
        "tariff": posting.tariff,
    }


def idempotency_key(posting: Posting) -> str:
    return f"pmsbridge-posting-{posting.id}.{posting.reposts}"


def retry_delay(attempts: int, retry_after: str | None) -> timedelta:
    """The pause before the next attempt: doubling per attempt, at least what Retry-After asks."""
    delay = min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LAST_RETRY)
    if retry_after and retry_after.strip().isdigit():
        delay = max(delay, timedelta(seconds=int(retry_after.strip())))
    return delay


def never_connected(err: requests.exceptions.RequestException) -> bool:
    """Whether the request failed before any byte of it could reach the PMS."""
    if isinstance(err, requests.exceptions.ConnectTimeout | requests.exceptions.InvalidURL):
        return True
    return isinstance(err, requests.exceptions.ConnectionError) and any(
        isinstance(item, NewConnectionError) for item in exception_chain(err))


class PostingThread(ABC):
    """A thread that sends due postings one at a time (``send_next``) until none is left, then waits."""

    thread_name = "postings"

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                while not self._stopping.is_set() and self.send_next():
                    pass
            except Exception:
                log.exception("%s: sending postings failed; trying again", self.thread_name)
            self._wake.wait(IDLE_INTERVAL)
            self._wake.clear()

    @abstractmethod
    def send_next(self) -> bool:
        """Send the oldest due posting; False when there was none."""


class PostingSender(PostingThread):
    """The thread that posts the charges of the webhook sources with ``[...posting]``."""

    thread_name = "webhook-postings"

    def __init__(self, store: PostingStore, targets: Mapping[str, PostingSettings], retry_budget: timedelta):
        """``targets``: channel (``webhook:<name>``) -> where its postings go."""
        super().__init__()
        self.store = store
        self.targets = dict(targets)
        self.retry_budget = retry_budget
        self._session = requests.Session()
        # Proxies and credentials from the environment are not for the PMS.
        self._session.trust_env = False

    def stop(self, timeout: float) -> None:
        super().stop(timeout)
        self._session.close()

    def send_next(self) -> bool:
        """Send the oldest due posting; False when there was none."""
        posting = self.store.next_due(list(self.targets))
        if posting is None or not self.store.claim(posting.id):
            return False
        target = self.targets[posting.channel]
        body = json.dumps(posting_body(posting), ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": idempotency_key(posting),
                   **signature_headers(body, target.signing, time.time())}
        verify = target.ca_file or target.verify
        try:
            reply = self._session.post(target.url, data=body, headers=headers, timeout=target.timeout_seconds,
                                       verify=verify, allow_redirects=False)
        except requests.exceptions.RequestException as err:
            self._failed_request(posting, err)
            return True
        self._answered(posting, reply)
        return True

    def _answered(self, posting: Posting, reply: requests.Response) -> None:
        status = reply.status_code
        if 200 <= status < 300:
            self.store.answered(posting.id, posted=True, answer=f"HTTP {status}")
            log.info("posting %s for room %s posted to %s", posting.id, posting.room, posting.channel)
        elif status in (408, 429) or status >= 500:
            self._retry(posting, f"the PMS answered HTTP {status}", reply.headers.get("Retry-After"))
        else:
            text = " ".join(reply.text.split())[:ANSWER_SHOWN]
            self.store.answered(posting.id, posted=False, answer=f"HTTP {status}" + (f": {text}" if text else ""))

    def _failed_request(self, posting: Posting, err: requests.exceptions.RequestException) -> None:
        if never_connected(err):
            self._retry(posting, f"the PMS could not be reached ({type(err).__name__})", None)
            return
        self.store.unknown_now(posting.id, f"the request was cut off after it went out ({type(err).__name__}): "
                                           "check the folio, then re-post or settle it")
        log.error("posting %s for room %s: %s after the request went out; state unknown, not sent again",
                  posting.id, posting.room, type(err).__name__)

    def _retry(self, posting: Posting, error: str, retry_after: str | None) -> None:
        now = self.store.clock()
        if now - posting.queued_at >= self.retry_budget:
            self.store.fail(posting.id, f"{error}; gave up after {self.retry_budget}")
            return
        attempts = posting.attempts + 1
        at: datetime = now + retry_delay(attempts, retry_after)
        log.warning("posting %s for room %s: %s; trying again at %s", posting.id, posting.room, error, at)
        self.store.retry_later(posting.id, error=error, at=at)
