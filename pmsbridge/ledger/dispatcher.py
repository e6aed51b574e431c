"""The dispatcher: sends queued deliveries to the PBX, in order per room, paced, with retries.

``max_in_flight`` sender threads each send one delivery at a time from a small local
queue of claimed deliveries, and one bookkeeper thread keeps the ledger meanwhile: in
one transaction it records the outcomes of the requests sent since its last settlement,
puts back claims that will not be sent soon (the dispatcher paused or stops), and claims
the next room heads before the queue runs dry. So the database works while a request is
in flight: the outcome of request N-1 is written and request N+1 is claimed while N waits
for the PBX. A delivery is ``in_flight`` in the ledger before its request is sent, so a
crash leaves it uncertain, to be checked against the PBX before it is sent again; an
outcome is committed before listeners hear of it, and a room's next delivery cannot be
claimed before its previous outcome is committed. One transaction serves many requests,
and the threads wake each other only when a settlement is due or claims are ready, not
for every request (in CPython every hand-over of the interpreter costs as much as a
short transaction).

The threads sleep until the ledger commits new deliveries (``Ledger.on_new_deliveries``) or
the earliest retry falls due; they never poll the database on a fixed interval while
there is work. Failures are sorted by scope:

- the request was refused (``PbxRequestRejected``, a permanent error): a check-in, update
  or move is sent once more without its optional fields (``degrade``) and delivered with
  the room flagged; otherwise, or when that is refused too, the delivery is dead at once,
  the room is flagged, and the room's later open deliveries are skipped (its next event,
  a replay or a repair sends what the PBX lacks);
- the PBX could not be reached, is busy or rebooting (transient): the delivery retries
  with exponential backoff and jitter, or after the PBX's retry-after as given, until the
  retry budget is spent; meanwhile the whole dispatcher pauses (at most ``OUTAGE_PAUSE``
  while the PBX is out of reach), so an outage costs one probe per pause instead of one
  failed request per room, and the health probe's first answer ends the wait
  (``resume_now``);
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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from pmsbridge.config import DispatcherSettings, PbxSettings
from pmsbridge.ledger import degrade
from pmsbridge.ledger.models import DeliveryState, utcnow
from pmsbridge.ledger.recovery import AppliedCheck, check_applied
from pmsbridge.ledger.store import ClaimedDelivery, DeliveryResult, Ledger
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
# Deliveries claimed ahead of the requests, so that one transaction serves several of
# them; with pacing, no more than CLAIM_AHEAD_SECONDS of sending, so that a claim does
# not sit in flight for long.
CLAIM_AHEAD = 16
CLAIM_AHEAD_SECONDS = 1.0
# While claimed deliveries wait to be sent, outcomes are written together: once this
# many are waiting, or the oldest has waited this long (listeners hear of them, rooms
# free up). With nothing left to send they are written at once.
RESULT_BATCH = 16
RESULT_DELAY = 0.05
# The bookkeeper claims more once no more than this share of the claims ahead is left,
# so that the senders find the next delivery claimed when they finish one.
CLAIM_REFILL = 0.5
# While the PBX cannot be reached, the dispatcher waits at most this long before it tries
# again (the health probe ends the wait sooner, as soon as the PBX answers).
OUTAGE_PAUSE = 10.0
# A stop waits at most this long for the senders to take the claims just made for them,
# looking this often.
HANDOVER_WAIT = 1.0
HANDOVER_CHECK = 0.005
# After the ledger could not be written (or a delivery not processed), wait this long.
TROUBLE_PAUSE = 5.0
# The shortest sleep until a retry falls due: a due time already past (clocks that
# disagree) must not turn a worker into a loop of claims that find nothing.
SHORTEST_DUE_WAIT = 0.05


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
    degraded: int = 0  # delivered without optional fields the PBX refused


@dataclass(frozen=True)
class _Books:
    """One settlement's worth of work, taken by the worker that writes it."""

    results: list[tuple[DeliveryResult, DeliveryOutcome | None]]
    release: list[ClaimedDelivery]
    claim: int
    hints: int


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
        self.names = NamePolicy.from_settings(pbx_settings)
        self.clock = clock
        self.identity = identity or worker_identity()
        self.health = DispatcherHealth()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []  # the senders
        self._bookkeeper: threading.Thread | None = None
        self._pace_lock = threading.Lock()
        self._last_request = 0.0
        self._listeners_lock = threading.Lock()
        self._outcome_listeners: tuple[Callable[[DeliveryOutcome], None], ...] = ()
        interval = settings.min_interval_ms / 1000
        ahead = min(CLAIM_AHEAD, int(CLAIM_AHEAD_SECONDS / interval)) if interval else CLAIM_AHEAD
        # Claimed deliveries held at most: those being sent plus those queued.
        self._capacity = settings.max_in_flight + max(1, ahead)
        self._refill_at = max(settings.max_in_flight, int(max(1, ahead) * CLAIM_REFILL))
        # Everything below is guarded by _changed's lock.
        self._changed = threading.Condition()
        self._queue: deque[ClaimedDelivery] = deque()
        self._results: list[tuple[DeliveryResult, DeliveryOutcome | None]] = []
        self._results_since = 0.0  # time.monotonic() of the oldest result waiting
        self._look = True  # claimable work may be waiting
        # Things that may have made deliveries claimable (commits, outcomes) so far: one
        # arriving while a claim runs keeps _look set even when that claim came back short.
        self._hints = 0
        self._due: datetime | None = None  # the earliest retry, when nothing else will wake us
        self._settling = False  # the bookkeeper is writing to the ledger
        self._sending = 0  # senders busy with a delivery
        self._outage = False  # the last failure was the PBX out of reach (cleared by resume_now)
        # Documents of queued deliveries, built by the bookkeeper while a request is in flight
        # so that a sender goes straight to the PBX (by delivery id; a sender that finds none
        # builds its own).
        self._documents: dict[int, str] = {}
        ledger.on_new_deliveries(self.wake)

    # -- life cycle -----------------------------------------------------------------

    def start(self) -> None:
        self._documents.clear()
        self.recover()
        self._stopping.clear()
        self.health.running = True
        with self._changed:
            self._look = True
        self._bookkeeper = threading.Thread(target=self._book_loop, name="dispatcher-books", daemon=True)
        self._bookkeeper.start()
        for number in range(self.settings.max_in_flight):
            thread = threading.Thread(target=self._send_loop, name=f"dispatcher-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming; a request in flight finishes (bounded by the client's timeouts), and
        so does one just claimed for a sender that was waiting for it; the outcomes are
        recorded and the claims not sent go back to the queue."""
        deadline = time.monotonic() + timeout
        with self._changed:
            # A claim just committed for an idle sender goes out, as the request in flight
            # does (it is in flight in the ledger already); claims queued beyond the senders
            # go back. The senders take theirs within moments: wait for that, boundedly.
            handover_ends = time.monotonic() + min(timeout, HANDOVER_WAIT)
            while not self._handed_over() and time.monotonic() < handover_ends:
                self._changed.wait(HANDOVER_CHECK)
            self._stopping.set()
            self._changed.notify_all()
        for thread in (*self._threads, *([self._bookkeeper] if self._bookkeeper else [])):
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()
        self._bookkeeper = None
        self.health.running = False

    def _handed_over(self) -> bool:
        """No claim is on its way to an idle sender (the lock held)."""
        idle = self.settings.max_in_flight - self._sending
        return (not self._threads or self._pause_remaining() > 0
                or not (self._settling or (self._queue and idle > 0)))

    @property
    def workers(self) -> tuple[threading.Thread, ...]:
        """The sender threads of the running dispatcher (none before ``start`` or after ``stop``):
        every one of them is alive while it works. A sender leaves when the bookkeeper is gone
        (nobody would write its outcomes), so their liveness is the whole dispatcher's."""
        return tuple(self._threads)

    def recover(self) -> list[int]:
        """Put deliveries abandoned mid-request by a dead process back in the queue."""
        now = self.clock()
        return self.ledger.release_interrupted(
            lambda claimed_by, claimed_at: claim_is_abandoned(claimed_by, claimed_at, me=self.identity, now=now)
        )

    def wake(self) -> None:
        """New deliveries may be claimable (cheap: called by the ledger after each commit)."""
        with self._changed:
            self._note_hint()
            self._changed.notify_all()  # the bookkeeper claims; senders waiting on it sleep on

    def _note_hint(self) -> None:
        self._look = True
        self._hints += 1

    def on_outcome(self, callback: Callable[[DeliveryOutcome], None]) -> None:
        """Tell ``callback`` each final outcome (delivered or dead) once it is committed,
        from a dispatcher thread."""
        with self._listeners_lock:
            self._outcome_listeners = (*self._outcome_listeners, callback)

    def remove_outcome(self, callback: Callable[[DeliveryOutcome], None]) -> None:
        """Stop telling ``callback``; one never added is ignored."""
        with self._listeners_lock:
            listeners = list(self._outcome_listeners)
            if callback in listeners:
                listeners.remove(callback)
            self._outcome_listeners = tuple(listeners)

    # -- the threads ----------------------------------------------------------------

    def _send_loop(self) -> None:
        try:
            while (delivery := self._next_delivery()) is not None:
                try:
                    self._pace()
                    self.process(delivery)
                except Exception:
                    # The delivery stays in flight and is checked against the PBX at the next start.
                    log.exception("delivery %s: could not be processed", delivery.id)
                    self._sleep(TROUBLE_PAUSE)
                finally:
                    with self._changed:
                        self._sending -= 1
                        # A claim may be due now, or a stopping bookkeeper waits for the last sender.
                        if self._stopping.is_set() or (
                                not self._settling and self._books_wanted(self._pause_remaining() > 0)):
                            self._changed.notify_all()
        finally:
            with self._changed:
                self._changed.notify_all()

    def _next_delivery(self) -> ClaimedDelivery | None:
        """The next claimed delivery to send, once there is one; None to stop."""
        with self._changed:
            while not self._stopping.is_set() and self._bookkeeper is not None and self._bookkeeper.is_alive():
                holding = self._pause_remaining() > 0
                if not holding and self._queue:
                    self._sending += 1
                    delivery = self._queue.popleft()
                    if not self._settling and self._books_wanted(False):
                        self._changed.notify_all()  # the queue runs low: the bookkeeper claims more
                    return delivery
                self._changed.wait(self._pause_remaining() if holding else None)
            return None

    def _book_loop(self) -> None:
        try:
            while (books := self._next_books()) is not None:
                self._settle(books)
        finally:
            with self._changed:
                self._changed.notify_all()

    def _next_books(self) -> _Books | None:
        """The next settlement's work, once one is due; None to stop (all results written)."""
        with self._changed:
            while True:
                stopping = self._stopping.is_set()
                holding = stopping or self._pause_remaining() > 0
                books = self._books_due(holding)
                if books is not None:
                    self._settling = True
                    return books
                if stopping and not self._sending:
                    return None
                timeout = self._idle_timeout(holding)
                if not self._changed.wait(timeout) and timeout is not None and not self._results:
                    # A retry fell due, the pause ended, or it is time to look for others' work.
                    self._look, self._due = True, None

    def _books_wanted(self, holding: bool) -> bool:
        """Whether a settlement is due now (the lock held)."""
        free = 0 if holding else self._capacity - len(self._queue) - self._sending
        return bool(
            (self._results and (holding or not self._queue or len(self._results) >= RESULT_BATCH
                                or time.monotonic() - self._results_since >= RESULT_DELAY))
            or (holding and self._queue)
            # Claim before the senders find the queue empty.
            or (self._look and free > 0 and len(self._queue) <= self._refill_at)
        )

    def _books_due(self, holding: bool) -> _Books | None:
        """The work for a settlement, if one is due now (the lock held)."""
        if not self._books_wanted(holding):
            return None
        release = list(self._queue) if holding else []
        free = 0 if holding else self._capacity - len(self._queue) - self._sending
        # Top the queue up whenever writing anyway.
        books = _Books(self._results, release, free if self._look and free > 0 else 0, self._hints)
        self._results = []
        if release:
            self._queue.clear()
        return books

    def _idle_timeout(self, holding: bool) -> float | None:
        """How long the bookkeeper may sleep before something falls due by the clock."""
        if self._stopping.is_set():
            return None  # the senders leaving notify
        if holding:
            return min(IDLE_WAKEUP, self._pause_remaining())
        timeout = IDLE_WAKEUP
        if self._results:
            timeout = max(0.0, self._results_since + RESULT_DELAY - time.monotonic())
        if self._due is not None:
            timeout = min(timeout, max(SHORTEST_DUE_WAIT, (self._due - self.clock()).total_seconds()))
        return timeout

    def _settle(self, books: _Books) -> None:
        """Write ``books`` in one transaction, then tell the outcomes and queue the claims."""
        results = [result for result, _ in books.results]
        try:
            settled = self.ledger.settle(self.identity, results, release=books.release, claim=books.claim)
        except Exception:
            log.exception("cannot write the dispatcher's outcomes and claims to the ledger")
            stopping = self._stopping.is_set()
            with self._changed:
                # When stopping they are left: what stays in flight is checked against the
                # PBX at the next start.
                if not stopping:
                    self._results[:0] = books.results
                    self._results_since = time.monotonic()
                    self._queue.extendleft(reversed(books.release))
                self._settling = False
                self._changed.notify_all()
            if not stopping:
                self._sleep(TROUBLE_PAUSE)
            return
        for _, outcome in books.results:
            if outcome is not None:
                self._tell(outcome)
        for delivery in books.release:
            self._documents.pop(delivery.id, None)
        short = len(settled.claimed) < books.claim
        with self._changed:
            self._settling = False
            self._queue.extend(settled.claimed)
            if short and self._hints == books.hints:
                self._look = False
            idle = short and not (self._queue or self._sending or self._results)
            self._changed.notify_all()
        if idle:
            self._note_due()
        self._prepare(settled.claimed)

    def _prepare(self, claimed: list[ClaimedDelivery]) -> None:
        """Build the documents of deliveries just queued. One a sender took meanwhile has
        built its own and is not kept: it would be stale when the delivery comes back."""
        for delivery in claimed:
            try:
                document = self.document_for(delivery)
            except (UnmappedRoom, ValueError):
                continue  # the sender meets the same error and records it
            with self._changed:
                if any(queued is delivery for queued in self._queue):
                    self._documents[delivery.id] = document

    def _note_due(self) -> None:
        """With nothing claimable and nothing in hand, find when the earliest retry falls due."""
        try:
            due = self.ledger.next_due()
        except Exception:
            log.exception("cannot read the ledger's next retry time")
            due = None
        with self._changed:
            self._due = due

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _pause_remaining(self) -> float:
        paused_until = self.health.paused_until
        if paused_until is None:
            return 0.0
        remaining = (paused_until - self.clock()).total_seconds()
        if remaining <= 0:
            self.health.paused_until = None
            return 0.0
        return remaining

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
        """Send one claimed delivery; its outcome is recorded (and then told) by the bookkeeper."""
        document = self._documents.pop(delivery.id, None)
        if document is None:
            try:
                document = self.document_for(delivery)
            except (UnmappedRoom, ValueError) as err:
                self._dead(delivery, str(err), None, None)
                return
        if delivery.uncertain:
            check = self._already_applied(delivery)
            if check is AppliedCheck.APPLIED:
                self._report(DeliveryResult(delivery.id, DeliveryState.DELIVERED, request=document,
                                            error="found applied on the PBX after an interrupted attempt",
                                            applied=delivery.pbx_operation),
                             DeliveryOutcome(delivery, delivered=True))
                return
        try:
            self.client.pmsapi_data(document, self.pbx_settings.pmsapi_format)
        except PbxRequestRejected as err:
            reduction = degrade.reduce(delivery.operation, delivery.fields, str(err))
            if reduction is None:
                self._dead(delivery, str(err), err.status, document)
            else:
                self._send_degraded(delivery, reduction, err)
        except (PbxAuthError, PbxTlsError) as err:
            self._pause(SITE_PROBLEM_PAUSE, str(err))
            self._report(DeliveryResult(delivery.id, DeliveryState.RETRYING, request=document, error=str(err),
                                        status=err.status, next_attempt_at=self.health.paused_until,
                                        uncertain=delivery.uncertain), None)
        except PbxError as err:
            self._retry(delivery, err, document)
        else:
            self.health.sent += 1
            self.health.last_delivered_at = self.clock()
            self.health.pause_reason = None
            self._report(DeliveryResult(delivery.id, DeliveryState.DELIVERED, request=document,
                                        applied=delivery.pbx_operation),
                         DeliveryOutcome(delivery, delivered=True))

    def _send_degraded(self, delivery: ClaimedDelivery, reduction: degrade.Reduction,
                       refusal: PbxRequestRejected) -> None:
        """Send a refused guest operation once more without the optional fields the PBX may refuse."""
        reduced = replace(delivery, fields=reduction.fields)
        document = self.document_for(reduced)
        try:
            self.client.pmsapi_data(document, self.pbx_settings.pmsapi_format)
        except PbxRequestRejected as err:
            self._dead(delivery, f"{refusal}; without {', '.join(reduction.refused)} too: {err}", err.status,
                       document)
            return
        except PbxError as err:
            # The full form was refused for good: retry the reduced one (checked first if uncertain).
            self._retry(reduced, err, document)
            return
        sentence = degrade.degraded_sentence(delivery.operation, reduction.refused)
        self.health.sent += 1
        self.health.degraded += 1
        self.health.last_delivered_at = self.clock()
        log.warning("delivery %s (%s room %s): %s (%s)", delivery.id, delivery.operation, delivery.room, sentence,
                    refusal)
        self._report(DeliveryResult(delivery.id, DeliveryState.DELIVERED, request=document,
                                    error=f"{sentence} ({refusal})", applied=reduced.pbx_operation,
                                    refused=reduction.refused),
                     DeliveryOutcome(delivery, delivered=True))

    def _report(self, result: DeliveryResult, outcome: DeliveryOutcome | None) -> None:
        """Keep a result for the next settlement (which then tells its outcome)."""
        with self._changed:
            if not self._results:
                self._results_since = time.monotonic()
            self._results.append((result, outcome))
            self._note_hint()  # the delivery's rooms are free once its result is written
            if not self._settling and self._books_wanted(self._pause_remaining() > 0):
                self._changed.notify_all()

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
        if err.retry_after:
            self._pause(delay, str(err))  # the PBX said when: honoured as given
        else:
            # The PBX cannot be reached: wait a short while, not the delivery's backoff. The
            # health probe asks it every few seconds meanwhile, and its first answer ends the
            # wait at once (``resume_now``), however long the outage lasted.
            self._pause(min(delay, OUTAGE_PAUSE), str(err))
            self._outage = True
        # A request whose answer was lost may have been carried out: check before resending.
        self._report(DeliveryResult(delivery.id, DeliveryState.RETRYING, request=document, error=str(err),
                                    status=err.status, next_attempt_at=at,
                                    uncertain=err.maybe_applied or delivery.uncertain), None)
        log.warning("delivery %s (%s room %s) failed, retry in %.0f s: %s", delivery.id, delivery.operation,
                    delivery.room, delay, err)

    def backoff(self, attempts: int, retry_after: float | None) -> float:
        """The PBX's retry-after as given, else exponential backoff with full jitter in its upper half."""
        if retry_after:
            return retry_after
        ceiling = min(self.settings.backoff_max_seconds,
                      self.settings.backoff_initial_seconds * 2 ** max(0, attempts - 1))
        return random.uniform(ceiling / 2, ceiling)

    def resume_now(self) -> None:
        """The PBX answers again (told by the health probe): end an outage's wait and make the
        deliveries it put off due now. A retry-after the PBX asked for is not cut short."""
        if not self._outage:
            return
        self._outage = False
        self.health.paused_until = None
        self.health.pause_reason = None
        try:
            due = self.ledger.retry_now()
        except Exception:
            log.exception("cannot make the deliveries put off by the PBX outage due again")
            return
        log.info("the PBX answers again: %d deliveries put off by the outage are due now", due)
        self.wake()

    def _dead(self, delivery: ClaimedDelivery, error: str, status: int | None, document: str | None) -> None:
        self.health.failed += 1
        self._report(DeliveryResult(delivery.id, DeliveryState.DEAD, request=document, error=error, status=status),
                     DeliveryOutcome(delivery, delivered=False, error=error, status=status))

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
