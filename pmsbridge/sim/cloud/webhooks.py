"""Thin webhooks a simulator pushes to the configured URL, late, twice, out of order or never.

One thread sends them in the order they fall due. The faults (see :class:`Faults`) are
decided when a webhook is queued, with the simulator's seeded random generator:

- drop: it is recorded in ``dropped`` and never sent;
- delay: it falls due ``webhook_delay`` seconds after it was queued;
- duplicate: the same body is queued a second time, right after the first;
- reorder: it is held back until the next webhook has been sent (or, when none comes,
  for ``REORDER_MAX_HOLD`` seconds); while one is held the next is never held too, so
  with probability 1 every pair arrives swapped.

A webhook the receiver does not take (no answer within ``SEND_TIMEOUT``, or a status
outside 2xx) is recorded as failed and not retried.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import requests

from pmsbridge.sim.cloud.options import Faults

log = logging.getLogger(__name__)

SEND_TIMEOUT = 5.0
REORDER_MAX_HOLD = 2.0
DUPLICATE_GAP = 0.01


class Delivery(NamedTuple):
    """One attempt: the body sent, the HTTP status (``None`` when there was no answer), why it failed."""

    body: dict[str, Any]
    status: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _Queued(NamedTuple):
    due: float
    order: int
    body: dict[str, Any]
    headers: dict[str, str]


class WebhookPusher:
    """Queues webhooks for the URL ``target()`` names when each is sent (none: not sent)."""

    def __init__(self, target: Callable[[], str | None], faults: Callable[[], Faults], seed: int | None,
                 name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._target = target
        self._faults = faults
        self._random = random.Random(seed)
        self._clock = clock
        self._order = itertools.count()
        self._condition = threading.Condition()
        self._queue: list[_Queued] = []
        self._held: _Queued | None = None
        self._held_since = 0.0
        self._sending = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"{name}-webhooks", daemon=True)
        self._session = requests.Session()
        self._session.trust_env = False
        self._deliveries: list[Delivery] = []
        self._dropped: list[dict[str, Any]] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._thread.is_alive():
            self._thread.join()
        self._session.close()

    # ------------------------------------------------------------------ what happened

    @property
    def deliveries(self) -> list[Delivery]:
        """Every attempt so far, in the order they were made."""
        with self._condition:
            return list(self._deliveries)

    @property
    def dropped(self) -> list[dict[str, Any]]:
        """The bodies the drop fault swallowed."""
        with self._condition:
            return list(self._dropped)

    def counts(self) -> dict[str, int]:
        with self._condition:
            delivered = sum(1 for delivery in self._deliveries if delivery.delivered)
            return {"delivered": delivered, "failed": len(self._deliveries) - delivered,
                    "dropped": len(self._dropped), "queued": len(self._queue) + (self._held is not None)}

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued, held or being sent; False when ``timeout`` ran out first."""
        deadline = self._clock() + timeout
        with self._condition:
            while self._queue or self._held is not None or self._sending:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return False
                self._condition.wait(min(remaining, 0.05))
            return True

    # ------------------------------------------------------------------ queueing

    def push(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        """Queue one webhook, applying the faults in force now; nothing while no URL is set."""
        if not self._target():
            return
        faults = self._faults()
        with self._condition:
            if self._random.random() < faults.webhook_drop:
                self._dropped.append(body)
                log.info("webhook dropped (fault): %s", body)
                return
            now = self._clock()
            item = _Queued(now + faults.webhook_delay, next(self._order), body, dict(headers or {}))
            copies = [item]
            if self._random.random() < faults.webhook_duplicate:
                copies.append(item._replace(due=item.due + DUPLICATE_GAP, order=next(self._order)))
            if self._held is None and self._random.random() < faults.webhook_reorder:
                self._held, self._held_since = copies.pop(0), now
            elif self._held is not None:
                # The held one goes right after this one: the two arrive swapped.
                last = copies[-1]
                copies.append(self._held._replace(due=last.due + DUPLICATE_GAP, order=next(self._order)))
                self._held = None
            for copy in copies:
                heapq.heappush(self._queue, copy)
            self._condition.notify_all()

    # ------------------------------------------------------------------ sending

    def _next_due(self) -> _Queued | None:
        """Under the lock: the item to send now, or None after waiting a little."""
        now = self._clock()
        if self._held is not None and now - self._held_since >= REORDER_MAX_HOLD:
            heapq.heappush(self._queue, self._held._replace(due=now))
            self._held = None
        if self._queue and self._queue[0].due <= now:
            return heapq.heappop(self._queue)
        wait = 0.05
        if self._queue:
            wait = min(wait, self._queue[0].due - now)
        self._condition.wait(max(wait, 0.001))
        return None

    def _run(self) -> None:
        while True:
            with self._condition:
                if self._stopping:
                    return
                item = self._next_due()
                if item is None:
                    continue
                self._sending = True
            delivery = None
            try:
                delivery = self._send(item)
            finally:
                with self._condition:
                    if delivery is not None:
                        self._deliveries.append(delivery)
                    self._sending = False
                    self._condition.notify_all()

    def _send(self, item: _Queued) -> Delivery | None:
        url = self._target()
        if not url:
            return None
        try:
            reply = self._session.post(url, json=item.body, headers=item.headers, timeout=SEND_TIMEOUT)
        except requests.exceptions.RequestException as err:
            log.info("webhook to %s not delivered: %s", url, err)
            return Delivery(item.body, None, str(err))
        if not 200 <= reply.status_code < 300:
            log.info("webhook to %s answered HTTP %s", url, reply.status_code)
            return Delivery(item.body, reply.status_code, f"HTTP {reply.status_code}")
        return Delivery(item.body, reply.status_code, None)
