"""``CloudAdapter``: push, pull and resync for a cloud PMS, on one vendor client.

One worker thread does everything that changes room states, so that nothing races:

- **Push**: the webhook (``receiver``) keeps each notification in the ledger as ``received``
  and wakes the worker, which fetches what it names (``CloudClient.fetch``), compares each
  reservation with the ledger (``stays.stay_events``), records the events and settles the
  notification as ``fetched``. Notifications left ``received`` by a stop are taken up at the
  next start. A notification whose fetch fails stays ``received`` and is tried again (after
  a pause); one the PMS refuses for good is settled ``needs_attention`` with the reason.
- **Pull**: every ``poll_interval_seconds`` the reservations changed since the last poll
  (less ``poll_overlap_seconds``) are fetched and compared the same way; this catches what a
  dropped webhook would have brought. The cursor is the ledger value ``<adapter>.changed_since``
  (ISO 8601, UTC), moved only after a poll succeeded.
- **Resync**: the full in-house list at the first start of a ledger (no cursor yet) and
  whenever ``resync.requested`` changes (``pmsbridge resync``, the UI), planned by the FIAS
  swap's code with the mass-checkout guard: a plan that would vacate more than
  ``resync_checkout_guard`` of the occupied rooms is held in ``resync.held.<adapter>`` for
  ``pmsbridge resync --confirm|--discard``.

Postings go out on their own thread (``postings``). Events carry the adapter's name as
their source, and the fetched record as their raw text.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from abc import abstractmethod
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from flask import Blueprint, Response, jsonify, request
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from pmsbridge.accounting.postings import PostingStore
from pmsbridge.adapters.base import Adapter, AdapterContext, LinkState
from pmsbridge.adapters.cloud.client import CloudClient, Notification
from pmsbridge.adapters.cloud.config import CloudSettings
from pmsbridge.adapters.cloud.errors import PmsApiError
from pmsbridge.adapters.cloud.http import ApiSession, TokenSource
from pmsbridge.adapters.cloud.postings import CloudPostings
from pmsbridge.adapters.cloud.receiver import NotificationReceiver
from pmsbridge.adapters.cloud.stays import Stay, in_house_collector, stay_events, where_is
from pmsbridge.adapters.fias.adapter import RESYNC_REQUESTED_KEY
from pmsbridge.adapters.fias.swap import SwapPlan, held_from_json, held_to_json, plan_swap
from pmsbridge.adapters.webhook.adapter import read_at_most
from pmsbridge.config import Settings
from pmsbridge.events import ResyncEnd
from pmsbridge.held_swaps import held_key
from pmsbridge.ledger.models import EventStatus

log = logging.getLogger(__name__)

# How long the worker sleeps when nothing wakes it (it also reads resync.requested then).
IDLE_INTERVAL = 1.0
# After a failed fetch or poll, the worker waits this long before the next attempt.
FAILURE_PAUSE = 10.0
NOTIFICATIONS_PER_ROUND = 50


def held_reason(plan: SwapPlan) -> str:
    """Why a resync is held, for the status line, the log and the audit entry."""
    return (f"resync held: would check out {plan.vacated} of {plan.occupied} occupied rooms; "
            "confirm with `pmsbridge resync --confirm`")


class CloudAdapter(Adapter):
    """A cloud PMS adapter; a vendor subclass names itself and builds its client (``tokens_for``, ``client_for``)."""

    config_model: ClassVar[type[CloudSettings]]
    # The HTTP statuses that mean "credentials or rights wrong" at this vendor.
    auth_statuses: ClassVar[tuple[int, ...]] = (401, 403)

    def __init__(self, config: CloudSettings, context: AdapterContext):
        super().__init__(config, context)
        self.config: CloudSettings = config
        self.ledger = context.ledger
        self.source = self.name
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self.client = self.open_client(config, context.settings, stopping=self._stopping)
        self.session = self.client.session
        self.receiver = NotificationReceiver(self.source, config.webhook_tokens, self.client, self.ledger,
                                             self.status, on_kept=self._wake.set)
        self.postings: CloudPostings | None = None
        if config.posting and self.client.posting_unavailable() is None:
            self.postings = CloudPostings(PostingStore(self.ledger.engine, clock=self.ledger.clock), self.source,
                                          self.client, self._reservation_in,
                                          timedelta(hours=context.settings.accounting.retry_budget_hours))
        self._thread: threading.Thread | None = None
        self._next_poll = 0.0
        self._paused_until = 0.0
        self._held_reason: str | None = None
        self._detail = "starting"

    # -- what a vendor provides ----------------------------------------------------------------

    @classmethod
    @abstractmethod
    def tokens_for(cls, config: CloudSettings) -> TokenSource:
        """The credentials of the vendor's requests."""

    @classmethod
    @abstractmethod
    def client_for(cls, session: ApiSession, config: CloudSettings, settings: Settings) -> CloudClient:
        """The vendor's client on ``session``."""

    @classmethod
    def open_client(cls, config: CloudSettings, settings: Settings, *,
                    stopping: threading.Event | None = None) -> CloudClient:
        """The vendor's client on a new session paced as ``config`` says (also for ``pmsbridge pms status``)."""
        session = ApiSession(cls.name, config.api_url, tokens=cls.tokens_for(config), timeout=config.timeout_seconds,
                             requests_per_second=config.requests_per_second, max_retries=config.max_retries,
                             max_wait=config.max_retry_wait_seconds, verify=config.verify, stopping=stopping,
                             auth_statuses=cls.auth_statuses)
        return cls.client_for(session, config, settings)

    # -- keys in the ledger ---------------------------------------------------------------------

    @property
    def cursor_key(self) -> str:
        return f"{self.name}.changed_since"

    @property
    def resync_handled_key(self) -> str:
        return f"{self.name}.resync_request_handled"

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        held = held_from_json(self.ledger.get_value(held_key(self.name)))
        self._held_reason = held_reason(held) if held is not None else None
        self._show(LinkState.CONNECTING, "starting")
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        if self.postings is not None:
            self.postings.start()
        log.info("%s adapter started (%s)", self.name, self.config.api_url)

    def stop(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        self._stopping.set()
        self._wake.set()
        if self.postings is not None:
            self.postings.stop(max(0.0, deadline - time.monotonic()))
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
            self._thread = None
        self.session.close()
        self._show(LinkState.DOWN, "stopped")
        log.info("%s adapter stopped", self.name)

    # -- capabilities -----------------------------------------------------------------------------

    def request_resync(self) -> None:
        """Read the PMS's full in-house list now (in the worker), as ``pmsbridge resync`` asks."""
        self.ledger.set_value(RESYNC_REQUESTED_KEY, self.ledger.clock().isoformat())
        self._wake.set()

    def poll_now(self) -> None:
        """Run the "changed since" poll at the worker's next turn instead of at its time."""
        self._next_poll = 0.0
        self._wake.set()

    def posting_channels(self) -> frozenset[str]:
        """The posting channels this adapter sends: its source, when its PMS takes postings."""
        return frozenset({self.source}) if self.postings is not None else frozenset()

    def posting_unavailable(self) -> str | None:
        """Why this adapter sends no postings (shown on the postings page); None when it does."""
        if not self.config.posting:
            return f"posting = false in [adapters.{self.name}]"
        return self.client.posting_unavailable()

    def web_blueprint(self) -> Blueprint | None:
        if not self.config.webhook_tokens:
            return None
        blueprint = Blueprint(f"pms_{self.name}", __name__, url_prefix=f"/pms/{self.name}")

        @blueprint.post("/<token>")
        def receive(token: str) -> tuple[Response, int, dict[str, str]]:
            if self._stopping.is_set() or self._thread is None:
                return jsonify({"error": "the receiver is stopped"}), 503, {"Retry-After": "30"}
            reply = self.receiver.handle(token, request.content_length,
                                         lambda limit: read_at_most(request.stream, limit), request.remote_addr)
            return jsonify(reply.body), reply.status, reply.headers

        return blueprint

    # -- the worker ---------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.work_once()
            except PmsApiError as err:
                self._pause(f"the PMS API failed: {err}")
            except SQLAlchemyError:
                log.exception("%s: the ledger could not be read or written", self.name)
                self._pause("the ledger could not be written")
            except Exception as err:  # the worker must survive anything a PMS record throws at it
                log.exception("%s: the worker failed", self.name)
                self._pause(f"the worker failed: {err}")
            self._wake.wait(IDLE_INTERVAL)
            self._wake.clear()

    def _pause(self, reason: str) -> None:
        self._paused_until = time.monotonic() + FAILURE_PAUSE
        self.status.count("failures")
        self._show(LinkState.DOWN, reason)

    def work_once(self) -> None:
        """One turn of the worker: first resync, requested resync, notifications, poll when due."""
        if time.monotonic() < self._paused_until:
            return
        self._check_held()
        if self.ledger.get_value(self.cursor_key) is None:
            self.resync(reason="first start of this ledger")
        requested = self.ledger.get_value(RESYNC_REQUESTED_KEY)
        if requested and requested != self.ledger.get_value(self.resync_handled_key):
            self.resync(reason=f"requested {requested}")
            self.ledger.set_value(self.resync_handled_key, requested)
        self.process_notifications()
        if time.monotonic() >= self._next_poll:
            self.poll()
        self._show(LinkState.UP, self._detail)

    def process_notifications(self) -> int:
        """Fetch and apply the notifications kept as ``received``, oldest first; how many were settled."""
        settled = 0
        for row in self.ledger.notifications(self.source, limit=NOTIFICATIONS_PER_ROUND):
            if self._stopping.is_set():
                break
            notification = self._reread(row.raw)
            if notification is None:
                self.ledger.settle_notification(row.id, status=EventStatus.REJECTED,
                                                problem="the kept body can no longer be read")
                continue
            try:
                stays = self.client.fetch(notification)
            except PmsApiError as err:
                if not err.permanent:
                    raise
                self.ledger.settle_notification(row.id, status=EventStatus.NEEDS_ATTENTION,
                                                problem=f"fetching what it names failed: {err}")
                continue
            recorded = self.apply(stays, why=f"webhook event {row.id}")
            names = ", ".join(stay.reservation for stay in stays) or "nothing found"
            self.ledger.settle_notification(row.id, problem=f"fetched {names}: {recorded} events recorded")
            self.status.count("fetched")
            settled += 1
        return settled

    def _reread(self, raw: str) -> Notification | None:
        try:
            return self.client.read_notification(json.loads(raw), raw.encode("utf-8"))
        except ValueError:  # json.JSONDecodeError and NotificationNotUnderstood are ValueErrors
            return None

    def poll(self) -> int:
        """The "changed since" poll; how many events it recorded. Moves the cursor only on success."""
        until = self.ledger.clock()
        stored = self.ledger.get_value(self.cursor_key)
        since = (datetime.fromisoformat(stored) if stored else until) - timedelta(
            seconds=self.config.poll_overlap_seconds)
        stays = self.client.changed_since(since, until)
        recorded = self.apply(stays, why=f"poll of changes since {since.isoformat(timespec='seconds')}")
        self.ledger.set_value(self.cursor_key, until.isoformat())
        self._next_poll = time.monotonic() + self.config.poll_interval_seconds
        self.status.count("polls")
        if recorded:
            log.info("%s: the poll found %d changes the webhooks had not brought", self.name, recorded)
            self.status.count("recorded_by_poll", recorded)
        self._detail = f"last poll {until.astimezone(UTC):%H:%M:%S} UTC"
        return recorded

    def apply(self, stays: list[Stay], *, why: str) -> int:
        """Compare each stay with the ledger and record what differs; how many events were recorded."""
        recorded = 0
        for stay in stays:
            states = self.ledger.room_states()
            try:
                events = stay_events(states, stay, source=self.source, now_utc=self.ledger.clock())
            except (ValidationError, ValueError) as err:
                self.status.count("rejected")
                self.ledger.record_rejected(self.source, stay.raw, f"reservation {stay.reservation or '?'} ({why}) "
                                                                   f"cannot be used: {err}")
                continue
            for event in events:
                result = self.ledger.record(event, f"{stay.raw}\n({why})")
                if not result.duplicate:
                    recorded += 1
                    self.status.count("recorded")
                    self.status.last_record_at = datetime.now(UTC)
        return recorded

    # -- resync ---------------------------------------------------------------------------------------

    def resync(self, *, reason: str) -> None:
        """Read the full in-house list and bring the ledger to it, unless the guard holds the plan."""
        self._show(LinkState.SWAPPING, f"reading the in-house list ({reason})")
        started = self.ledger.clock()
        stays = self.client.in_house()
        now = self.ledger.clock()
        collector, unusable = in_house_collector(stays, source=self.source, now_utc=now)
        current = self.ledger.room_states()
        kept: set[str] = set()
        for stay, problem in unusable:
            found = where_is(current, stay.reservation)
            if found is not None:
                kept.add(found[0])
            self.status.count("rejected")
            self.ledger.record_rejected(self.source, stay.raw, f"resync: reservation {stay.reservation} cannot be "
                                                               f"used ({problem}); its room is left as it is")
        compared = {room: state for room, state in current.items() if room not in kept}
        plan = plan_swap(compared, collector, source=self.source, now_utc=now,
                         guard=self.config.resync_checkout_guard)
        summary = (f"{len(stays)} in house, {len(plan.events)} events "
                   f"({plan.vacated} of {plan.occupied} occupied rooms vacated)")
        self.ledger.record(ResyncEnd(source=self.source, occurred_at=now), f"{self.name} in-house list: {summary}")
        if plan.held:
            self.ledger.set_value(held_key(self.name), held_to_json(plan))
            self._held_reason = held_reason(plan)
            self.ledger.audit(self.name, "resync held", detail=self._held_reason)
            log.warning("%s: %s (%d events kept)", self.name, self._held_reason, len(plan.events))
        else:
            if self._held_reason is not None:
                log.info("%s: a newer resync replaces the held one", self.name)
                self.ledger.set_value(held_key(self.name), "")
                self._held_reason = None
            for pending in plan.events:
                self.ledger.record(pending.event, pending.raw)
            self.ledger.audit(self.name, "resync applied", detail=summary)
            log.info("%s: resync (%s): %s", self.name, reason, summary)
        if self.ledger.get_value(self.cursor_key) is None:
            # Changes from the start of the read on are the poll's.
            self.ledger.set_value(self.cursor_key, started.isoformat())
        self.status.count("resyncs")

    def _check_held(self) -> None:
        if self._held_reason is not None and held_from_json(self.ledger.get_value(held_key(self.name))) is None:
            log.info("%s: the held resync was confirmed or discarded", self.name)
            self._held_reason = None

    # -- helpers ------------------------------------------------------------------------------------

    def _reservation_in(self, room: str) -> str | None:
        state = self.ledger.room_states([room]).get(room)
        guest = state.displayed_guest if state is not None else None
        return guest.reservation if guest is not None else None

    def _show(self, state: LinkState, detail: str | None) -> None:
        parts = [part for part in (self._held_reason, detail) if part]
        self.status.change(state, "; ".join(parts) or None)
