"""The dispatcher: sends queued deliveries to the PBX, in order per room, paced, with retries.

Workers sleep until the ledger commits new deliveries (``Ledger.on_new_deliveries``) or
the earliest retry falls due; they never poll the database on a fixed interval while
there is work. Failures are sorted by scope:

- the request was refused (``PbxRequestRejected``, a permanent error): the delivery is
  dead at once, the room is flagged, and the room's later deliveries go on;
- the PBX could not be reached, is busy or rebooting (transient): the delivery retries
  with exponential backoff and jitter, honouring the PBX's retry-after, until the retry
  budget is spent; meanwhile the whole dispatcher pauses, so an outage costs one probe
  per backoff step instead of one failed request per room;
- the PBX refused our credentials or certificate (permanent for the site, not for the
  delivery): nothing goes dead, the dispatcher pauses and says why in its health.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pmsbridge.config import DispatcherSettings, PbxSettings
from pmsbridge.ledger.models import utcnow
from pmsbridge.ledger.recovery import AppliedCheck, check_applied
from pmsbridge.ledger.store import ClaimedDelivery, Ledger
from pmsbridge.mapping import RoomMapping
from pmsbridge.pbx.client import PbxClient
from pmsbridge.pbx.errors import PbxAuthError, PbxError, PbxRequestRejected, PbxTlsError
from pmsbridge.pbx.names import NamePolicy
from pmsbridge.pbx.pmsapi import build_document

log = logging.getLogger(__name__)

# A site-wide refusal (credentials, certificate) is re-probed this often, not more.
SITE_PROBLEM_PAUSE = 300.0
# Deliveries claimed by a live process on another host are taken over after this long.
CLAIM_LEASE = timedelta(minutes=10)
# While idle, look for work committed by other processes (replays from the command line,
# a second bridge on the same PostgreSQL database) this often.
IDLE_WAKEUP = 5.0


def worker_identity() -> str:
    """host:pid:boot-token, so a restarted process recognises its dead predecessor's claims."""
    return f"{socket.gethostname()}:{os.getpid()}:{random.getrandbits(32):08x}"


def claim_is_abandoned(claimed_by: str | None, claimed_at: datetime | None, *, me: str,
                       now: datetime) -> bool:
    """True when the process that claimed a delivery is gone (or silent past the lease)."""
    if claimed_by is None or claimed_by == me:
        return claimed_by is None
    host, _, rest = claimed_by.partition(":")
    pid = rest.partition(":")[0]
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        else:
            if int(pid) == os.getpid():
                return True  # our own pid with another token: a previous life of this process id
    return claimed_at is None or now - claimed_at > CLAIM_LEASE


@dataclass(frozen=True)
class DeliveryOutcome:
    """Told to outcome listeners (e.g. the FIAS adapter answering wake-ups) after each final outcome."""

    delivery: ClaimedDelivery
    delivered: bool
    error: str | None = None
    status: int | None = None


@dataclass
class DispatcherHealth:
    running: bool = False
    paused_until: datetime | None = None
    pause_reason: str | None = None
    last_delivered_at: datetime | None = None
    sent: int = 0
    failed: int = 0


class Dispatcher:
    def __init__(
        self,
        ledger: Ledger,
        client: PbxClient,
        mapping: RoomMapping,
        settings: DispatcherSettings,
        pbx_settings: PbxSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
        identity: str | None = None,
    ):
        self.ledger = ledger
        self.client = client
        self.mapping = mapping
        self.settings = settings
        self.pbx_settings = pbx_settings
        self.names = NamePolicy(ascii_only=pbx_settings.name_ascii, max_length=pbx_settings.name_max_length)
        self.clock = clock
        self.identity = identity or worker_identity()
        self.health = DispatcherHealth()
        self._wake = threading.Condition()
        self._pending_wake = False
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pace_lock = threading.Lock()
        self._last_request = 0.0
        self._outcome_listeners: list[Callable[[DeliveryOutcome], None]] = []
        ledger.on_new_deliveries(self.wake)

    # -- life cycle -----------------------------------------------------------------

    def start(self) -> None:
        self.recover()
        self._stopping.clear()
        self.health.running = True
        for number in range(self.settings.max_in_flight):
            thread = threading.Thread(target=self._run, name=f"dispatcher-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming; a request in flight finishes (bounded by the client's timeouts)."""
        self._stopping.set()
        self.wake()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()
        self.health.running = False

    def recover(self) -> list[int]:
        """Put deliveries abandoned mid-request by a dead process back in the queue."""
        now = self.clock()
        return self.ledger.release_interrupted(
            lambda claimed_by, claimed_at: claim_is_abandoned(claimed_by, claimed_at, me=self.identity, now=now)
        )

    def wake(self) -> None:
        with self._wake:
            self._pending_wake = True
            self._wake.notify_all()

    def on_outcome(self, callback: Callable[[DeliveryOutcome], None]) -> None:
        self._outcome_listeners.append(callback)

    # -- the loop -------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self._wait_while_paused():
                continue
            try:
                delivery = self.ledger.claim_next(self.identity)
            except Exception:
                log.exception("cannot claim deliveries from the ledger; trying again shortly")
                self._sleep(5.0)
                continue
            if delivery is None:
                self._sleep_until_work()
                continue
            self._pace()
            try:
                self.process(delivery)
            except Exception:
                # The outcome could not be written: the row stays in flight and is
                # released as uncertain at the next start or lease expiry.
                log.exception("delivery %s: outcome not recorded", delivery.id)
                self._sleep(5.0)

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _sleep_until_work(self) -> None:
        due = self.ledger.next_due()
        timeout = IDLE_WAKEUP
        if due is not None:
            timeout = min(timeout, max(0.0, (due - self.clock()).total_seconds()))
        with self._wake:
            if not self._pending_wake and not self._stopping.is_set():
                self._wake.wait(timeout)
            self._pending_wake = False

    def _wait_while_paused(self) -> bool:
        paused_until = self.health.paused_until
        if paused_until is None:
            return False
        remaining = (paused_until - self.clock()).total_seconds()
        if remaining <= 0:
            self.health.paused_until = None
            return False
        self._sleep(min(remaining, 1.0))
        return True

    def _pace(self) -> None:
        interval = self.settings.min_interval_ms / 1000
        if not interval:
            return
        with self._pace_lock:
            wait = self._last_request + interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_request = time.monotonic()

    # -- one delivery ---------------------------------------------------------------

    def document_for(self, delivery: ClaimedDelivery) -> str:
        """The pmsapi document for a delivery, with extensions resolved now (mapping changes apply)."""
        fields = dict(delivery.fields)
        fields["address"] = self._extension(delivery.room)
        fields["room"] = delivery.room
        if delivery.target_room is not None:
            fields["d_address"] = self._extension(delivery.target_room)
            fields["d_room"] = delivery.target_room
        return build_document(
            delivery.operation,
            fields,
            fmt=self.pbx_settings.pmsapi_format,
            move_destination_element=self.pbx_settings.move_destination_element,
            names=self.names,
        )

    def _extension(self, room: str) -> str:
        extension = self.mapping.extension(room)
        if extension is None:
            raise UnmappedRoom(f"room {room} has no extension: add it to rooms.map or fix rooms.extension_template,"
                               " then replay")
        return extension

    def process(self, delivery: ClaimedDelivery) -> None:
        try:
            document = self.document_for(delivery)
        except (UnmappedRoom, ValueError) as err:
            self._dead(delivery, str(err), None, None)
            return
        if delivery.uncertain:
            check = self._already_applied(delivery)
            if check is AppliedCheck.APPLIED:
                self.ledger.mark_delivered(delivery.id, self.identity, request=document,
                                           note="found applied on the PBX after an interrupted attempt")
                self._tell(DeliveryOutcome(delivery, delivered=True))
                return
        try:
            self.client.pmsapi_data(document, self.pbx_settings.pmsapi_format)
        except PbxRequestRejected as err:
            self._dead(delivery, str(err), err.status, document)
        except (PbxAuthError, PbxTlsError) as err:
            self._pause(SITE_PROBLEM_PAUSE, str(err))
            self.ledger.mark_retry(delivery.id, self.identity, error=str(err), status=err.status,
                                   at=self.health.paused_until, request=document)
        except PbxError as err:
            self._retry(delivery, err, document)
        else:
            self.health.sent += 1
            self.health.last_delivered_at = self.clock()
            self.health.pause_reason = None
            self.ledger.mark_delivered(delivery.id, self.identity, request=document)
            self._tell(DeliveryOutcome(delivery, delivered=True))

    def _already_applied(self, delivery: ClaimedDelivery) -> AppliedCheck:
        try:
            return check_applied(self.client, delivery, self.mapping, self.names)
        except PbxError as err:
            log.info("delivery %s: cannot check the PBX before resending (%s); resending", delivery.id, err)
            return AppliedCheck.UNKNOWN

    def _retry(self, delivery: ClaimedDelivery, err: PbxError, document: str) -> None:
        self.health.failed += 1
        now = self.clock()
        budget = timedelta(hours=self.settings.retry_budget_hours)
        if now - delivery.created_at >= budget:
            self._dead(delivery, f"gave up after {delivery.attempts} attempts over {budget}: {err}", err.status,
                       document)
            return
        delay = self.backoff(delivery.attempts, err.retry_after)
        at = now + timedelta(seconds=delay)
        # A request whose answer was lost may have been carried out: check before resending.
        self.ledger.mark_retry(delivery.id, self.identity, error=str(err), status=err.status, at=at,
                               request=document, uncertain=err.maybe_applied or delivery.uncertain)
        self._pause(delay, str(err))
        log.warning("delivery %s (%s room %s) failed, retry in %.0f s: %s", delivery.id, delivery.operation,
                    delivery.room, delay, err)

    def backoff(self, attempts: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter in its upper half, never below the PBX's retry-after."""
        ceiling = min(self.settings.backoff_max_seconds,
                      self.settings.backoff_initial_seconds * 2 ** max(0, attempts - 1))
        delay = random.uniform(ceiling / 2, ceiling)
        return max(delay, retry_after or 0.0)

    def _dead(self, delivery: ClaimedDelivery, error: str, status: int | None, document: str | None) -> None:
        self.health.failed += 1
        self.ledger.mark_dead(delivery.id, self.identity, error=error, status=status, request=document)
        self._tell(DeliveryOutcome(delivery, delivered=False, error=error, status=status))

    def _pause(self, seconds: float, reason: str) -> None:
        until = self.clock() + timedelta(seconds=seconds)
        if self.health.paused_until is None or until > self.health.paused_until:
            self.health.paused_until = until
        self.health.pause_reason = reason

    def _tell(self, outcome: DeliveryOutcome) -> None:
        for listener in self._outcome_listeners:
            try:
                listener(outcome)
            except Exception:
                log.exception("delivery outcome listener failed")


class UnmappedRoom(Exception):
    """Raised when a delivery's room has no extension at the time of sending."""
