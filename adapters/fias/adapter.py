"""``FiasAdapter``: the FIAS link, its records as ledger events, swaps, and the answers back.

Threads: the link's reader (one per connection) turns records into events and records
them in the ledger, in arrival order; a housekeeping thread sends what the bridge owes the
PMS (wake-up answers, postings, resync requests) and watches the ledger values the command
line writes. Everything the PMS must get even across a restart lives in the ledger (values,
and the ``posting`` table).

Inbound records, in order of precedence:

- link-layer records stay in the link (``link.py``); PA settles a posting (``answers.py``,
  postings kept in the ``posting`` table under this adapter's source as their channel);
  NS/NE (night audit) are logged only;
- DS starts a database swap: until DE, guest records (GI, GO, GC) build the in-house list
  and every other record waits; at DE the swap is planned (``swap.py``) and its events
  recorded, or held when the guard trips; then the waiting records are processed;
- any other record becomes events (``records.py``), goes through the move pairing
  (``moves.py``) and is recorded; a WR also owes the PMS a WA.

Records that cannot be understood are kept in the ledger as rejected, with the reason.
Framing faults and unreadable records are kept too, up to ``FAULTS_KEPT_PER_MINUTE`` (a
line spewing garbage would otherwise fill the ledger); beyond that they are only counted.

Resync: the PMS is asked for a swap (DR) once at the first link-up of a ledger that has
never seen one, and whenever ``resync.requested`` (written by ``pmsbridge resync`` or
``request_resync``) changes; never periodically.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from pmsbridge.accounting.models import Posting
from pmsbridge.accounting.postings import PostingStore
from pmsbridge.accounting.wakeup_outcomes import WakeupCallOutcomes
from pmsbridge.adapters.base import Adapter, AdapterContext, LinkState
from pmsbridge.adapters.fias.answers import Postings, WakeupAnswers
from pmsbridge.adapters.fias.config import FiasSettings
from pmsbridge.adapters.fias.link import FiasLink
from pmsbridge.adapters.fias.moves import MovePairing, PendingEvent
from pmsbridge.adapters.fias.protocol import AnswerStatus, Record, database_resync_request
from pmsbridge.adapters.fias.records import RecordRejected, TranslationContext, translate
from pmsbridge.adapters.fias.swap import HELD_SWAP_KEY, SwapCollector, held_from_json, held_to_json, plan_swap
from pmsbridge.events import Event, ResyncEnd, ResyncStart, parse_event
from pmsbridge.ledger.models import EventStatus
from pmsbridge.ledger.store import Incoming, RecordResult, RecordsNotWritten
from pmsbridge.rooms import Wakeup

if TYPE_CHECKING:
    from pmsbridge.ledger.dispatcher import DeliveryOutcome

log = logging.getLogger(__name__)

RESYNC_REQUESTED_KEY = "resync.requested"
RESYNC_HANDLED_KEY = "fias.resync_request_handled"
SWAP_SEEN_KEY = "fias.swap_seen"
INITIAL_RESYNC_KEY = "fias.initial_resync_sent"
HELD_EVENT_KEY = "fias.held_event"

GUEST_RECORDS = frozenset({"GI", "GO", "GC"})
NIGHT_AUDIT_RECORDS = frozenset({"NS", "NE"})

FAULTS_KEPT_PER_MINUTE = 30
# How often the housekeeping thread reads the ledger values the command line writes.
VALUE_POLL_INTERVAL = 1.0
# A ledger that cannot be written is retried this often while the reader waits.
LEDGER_RETRY_INTERVAL = 2.0
_HEX_LOGGED = 256


def _hex(data: bytes) -> str:
    shown = data[:_HEX_LOGGED].hex(" ")
    return shown + (f" ... ({len(data)} bytes)" if len(data) > _HEX_LOGGED else "")


class _FaultBudget:
    """How many faults may still be kept this minute."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._window_start = time.monotonic()
        self._used = 0

    def take(self) -> bool:
        now = time.monotonic()
        if now - self._window_start >= 60:
            self._window_start, self._used = now, 0
        self._used += 1
        return self._used <= self.per_minute


class FiasAdapter(Adapter):
    """The FIAS (Oracle Hospitality IFC8 and compatibles) adapter; see the module docstring.

    Beyond the ``Adapter`` contract: ``request_resync()`` asks the PMS for a database swap,
    ``post_charge(...)`` queues a posting for a guest's folio and ``posting(id)`` tells what
    became of it; ``posting_channels()`` names the postings it sends (those of its source).
    """

    name = "fias"
    config_model = FiasSettings

    def __init__(self, config: FiasSettings, context: AdapterContext) -> None:
        super().__init__(config, context)
        self.config: FiasSettings = config
        self.ledger = context.ledger
        self.zone = context.settings.bridge.zone
        self.translation = TranslationContext.from_settings(config, context.settings.rooms)
        self.link = FiasLink(config, self, self._local_now)
        self.pairing = MovePairing(config.move_pair_window)
        self.wakeups: WakeupAnswers | None = None
        self.postings: Postings | None = None
        self._inbound = threading.RLock()
        self._swap: SwapCollector | None = None
        self._waiting: list[tuple[Record, bytes, dt.datetime]] = []
        self._held_event: PendingEvent | None = None
        self._fault_budget = _FaultBudget(FAULTS_KEPT_PER_MINUTE)
        self._link_state = LinkState.DOWN
        self._link_detail: str | None = None
        self._held_reason: str | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._poll_now = threading.Event()
        self._housekeeper: threading.Thread | None = None

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        accounting = self.context.settings.accounting
        store = PostingStore(self.ledger.engine, clock=self.ledger.clock)
        outcomes = WakeupCallOutcomes(store, accounting) if accounting.wakeup_answers == "outcome" else None
        self.wakeups = WakeupAnswers(self.ledger, self._send, ready=self._wake.set, outcomes=outcomes,
                                     local_now=self._local_now)
        self.postings = Postings(self.ledger, store, self.config.source, self.config.posting_timeout,
                                 self.config.encoding, accounting.currency)
        held = held_from_json(self.ledger.get_value(HELD_SWAP_KEY))
        self._held_reason = held.reason if held is not None else None
        self._record_event_held_at_last_stop()
        if self.context.dispatcher is not None:
            self.context.dispatcher.on_outcome(self._on_outcome)
        self.link.start()
        self._housekeeper = threading.Thread(target=self._housekeeping, name="fias-housekeeping", daemon=True)
        self._housekeeper.start()
        log.info("FIAS adapter started (%s mode, %s)", self.config.mode, self.config.encoding)

    def stop(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        self._stopping.set()
        if self.context.dispatcher is not None:
            self.context.dispatcher.remove_outcome(self._on_outcome)
        self._wake.set()
        self.link.stop(max(0.0, deadline - time.monotonic() - 0.2))
        if self._housekeeper is not None:
            self._housekeeper.join(max(0.0, deadline - time.monotonic()))
            self._housekeeper = None
        self._show(LinkState.DOWN, "stopped")
        log.info("FIAS adapter stopped")

    @property
    def port(self) -> int | None:
        """The port listened on in server mode."""
        return self.link.port

    # -- capabilities -----------------------------------------------------------------------

    def request_resync(self) -> None:
        """Ask the PMS for a database swap (DR), now if the link is up, else once it is."""
        self.ledger.set_value(RESYNC_REQUESTED_KEY, self.ledger.clock().isoformat())
        self._poll_now.set()
        self._wake.set()

    def post_charge(self, room: str, amount_minor: int | None = None, dialled: str | None = None,
                    duration: dt.timedelta | None = None, when: dt.datetime | None = None) -> int:
        """Queue a charge for the guest's folio in ``room``; returns the posting id.

        ``amount_minor`` makes it a direct charge; without it the PMS rates the call from
        ``dialled`` and ``duration``. ``when`` is the call's start, hotel local time
        (default: now). Raises ValueError for what FIAS cannot carry, RuntimeError before
        ``start``.
        """
        if self.postings is None:
            raise RuntimeError("the FIAS adapter is not started")
        posting_id = self.postings.post(room, when or self._local_now(), amount=amount_minor, dialled=dialled,
                                        duration=duration)
        self._wake.set()
        return posting_id

    def posting(self, posting_id: int) -> Posting | None:
        """What became of a posting: queued, sent, posted, refused, unknown, failed or settled."""
        return self.postings.get(posting_id) if self.postings is not None else None

    def posting_channels(self) -> frozenset[str]:
        """The posting channels this adapter sends: its ledger source."""
        return frozenset({self.config.source})

    # -- LinkHandler --------------------------------------------------------------------------

    def on_state(self, state: LinkState, detail: str | None) -> None:
        self._show(state, detail)

    def on_up(self) -> None:
        self.status.count("link_ups")
        with self._inbound:
            self._ask_for_first_swap()
        self._wake.set()

    def on_down(self) -> None:
        self.status.count("link_downs")
        with self._inbound:
            if self._swap is not None:
                log.warning("FIAS: database swap interrupted by the link after %d records; nothing applied",
                            self._swap.records)
                self.ledger.audit("fias", "resync interrupted",
                                  detail=f"link lost after {self._swap.records} swap records; nothing applied")
                self._end_swap_window()
            self._record_all(self.pairing.release())
            self._remember_held_event()

    def on_tick(self) -> None:
        with self._inbound:
            due = self.pairing.due(time.monotonic())
            if due:
                self._record_all(due)
                self._remember_held_event()

    def on_fault(self, problem: str, data: bytes) -> None:
        self.status.count("faults")
        if not self._fault_budget.take():
            self.status.count("faults_not_kept")
            log.debug("FIAS: %s (not kept: fault budget spent): %s", problem, _hex(data))
            return
        log.warning("FIAS: %s; bytes: %s", problem, _hex(data))
        self._reject(self._text(data), problem)

    def on_record(self, record: Record, payload: bytes) -> None:
        self.status.count("records")
        self.status.last_record_at = self.ledger.clock()
        raw = self._text(payload)
        log.debug("FIAS received %s", raw)
        with self._inbound:
            if record.type == "PA":
                self.postings.on_answer(record)
                self._wake.set()
            elif record.type in NIGHT_AUDIT_RECORDS:
                log.info("FIAS: night audit %s", "started" if record.type == "NS" else "ended")
            elif record.type == "DS":
                self._start_swap(record, raw)
            elif record.type == "DE":
                self._finish_swap(record, raw)
            elif self._swap is not None and record.type in GUEST_RECORDS:
                self._collect(record, raw)
            elif self._swap is not None:
                self._waiting.append((record, payload, self.ledger.clock()))
            else:
                self._process(record, raw, self.ledger.clock())

    # -- live records ---------------------------------------------------------------------

    def _process(self, record: Record, raw: str, received_at: dt.datetime) -> None:
        try:
            events = translate(record, self.translation, received_at)
        except RecordRejected as err:
            self._reject(raw, err.reason, room=err.room)
            if record.type == "WR" and err.room is not None:
                self.wakeups.answer(err.room, record.get("DA") or "", record.get("TI") or "",
                                    AnswerStatus.UNPROCESSABLE)
            return
        for event in events:
            for pending in self.pairing.offer(event, raw, time.monotonic()):
                result = self._record(pending)
                if record.type == "WR" and pending.event is event:
                    self._answer_wakeup(record, event, result)
        self._remember_held_event()

    def _wakeup_delivery(self, result: RecordResult | None) -> int | None:
        """The delivery that orders the event's wake-up: its last ``wakeup`` operation (cancels
        come first). A room the PBX holds vacant is sent whole, so DND or a forward may follow it."""
        if result is None:
            return None
        for delivery_id in reversed(result.deliveries):
            row = self.ledger.delivery(delivery_id)
            if row is not None and row.operation == "wakeup":
                return delivery_id
        return None

    def _answer_wakeup(self, record: Record, event: Event, result: RecordResult | None) -> None:
        date, time_of_day = record.get("DA") or "", record.get("TI") or ""
        ordered = self._wakeup_delivery(result)
        if ordered is not None:
            self.wakeups.expect(ordered, event.room, date, time_of_day, ring_at=event.at)
            return
        state = self.ledger.room_states([event.room]).get(event.room)
        already_set = (result is not None and state is not None and state.occupied
                       and any(held.at == Wakeup(at=event.at).at for held in state.wakeups))
        self.wakeups.answer(event.room, date, time_of_day,
                            AnswerStatus.OK if already_set else AnswerStatus.UNPROCESSABLE, ring_at=event.at)

    def _record_all(self, pending: list[PendingEvent]) -> None:
        """Record events that came together (a swap's) in shared transactions: one commit,
        and one sync to disk, for many. Those the ledger could not write are recorded one by
        one, in order, waiting out the ledger."""
        try:
            results = self.ledger.record_many([Incoming(item.event, item.raw) for item in pending])
        except RecordsNotWritten as err:
            log.error("FIAS: the ledger could not record %d events together (%s); recording them one by one",
                      err.results.count(None), err.__cause__)
            results = err.results
        except SQLAlchemyError as err:
            log.error("FIAS: the ledger could not record %d events together (%s); recording them one by one",
                      len(pending), err)
            results = [None] * len(pending)
        for item, result in zip(pending, results):
            if result is None:
                self._record(item)
            else:
                self._count(result)

    def _record(self, pending: PendingEvent) -> RecordResult | None:
        """Record an event, waiting out a ledger that cannot be written; None only when stopped meanwhile."""
        while True:
            try:
                result = self.ledger.record(pending.event, pending.raw)
            except SQLAlchemyError as err:
                # FIAS has no acknowledgement to withhold: the record is held here (and the
                # PMS's further records in its socket buffer) until the ledger is back.
                if self._stopping.is_set():
                    log.error("FIAS: stopping while the ledger cannot be written; event lost: %s", pending.raw)
                    return None
                log.error("FIAS: the ledger cannot record a %s event for room %s (%s); retrying",
                          pending.event.kind, pending.event.room, err)
                self._stopping.wait(LEDGER_RETRY_INTERVAL)
                continue
            self._count(result)
            return result

    def _count(self, result: RecordResult) -> None:
        self.status.count("rejected" if result.status == EventStatus.REJECTED else "events")

    def _reject(self, raw: str, problem: str, *, room: str | None = None) -> None:
        self.status.count("rejected")
        try:
            self.ledger.record_rejected(self.config.source, raw, problem, room=room)
        except SQLAlchemyError:
            log.exception("FIAS: could not keep a rejected record in the ledger: %s", raw)

    # -- events held for move pairing ----------------------------------------------------------------

    def _remember_held_event(self) -> None:
        """Keep the event the move pairing holds in the ledger, so a crash cannot lose it."""
        held = self.pairing.held
        if held is self._held_event:
            return
        value = "" if held is None else json.dumps({"event": held.event.model_dump(mode="json"), "raw": held.raw})
        self.ledger.set_value(HELD_EVENT_KEY, value)
        self._held_event = held

    def _record_event_held_at_last_stop(self) -> None:
        value = self.ledger.get_value(HELD_EVENT_KEY)
        if not value:
            return
        data = json.loads(value)
        log.info("FIAS: recording the event held for move pairing when the bridge stopped")
        self._record(PendingEvent(parse_event(data["event"]), data["raw"]))
        self.ledger.set_value(HELD_EVENT_KEY, "")

    # -- database swap --------------------------------------------------------------------------

    def _start_swap(self, record: Record, raw: str) -> None:
        if self._swap is not None:
            log.warning("FIAS: DS during a database swap after %d records; starting over", self._swap.records)
        self._record_all(self.pairing.release())
        self._remember_held_event()
        self._record(PendingEvent(ResyncStart(source=self.config.source, occurred_at=self.ledger.clock()), raw))
        self.ledger.set_value(SWAP_SEEN_KEY, self.ledger.clock().isoformat())
        self._swap = SwapCollector()
        self._show()
        log.info("FIAS: database swap started")

    def _collect(self, record: Record, raw: str) -> None:
        try:
            events = translate(record, self.translation, self.ledger.clock())
        except RecordRejected as err:
            self._reject(raw, err.reason, room=err.room)
            return
        for event in events:
            self._swap.add(event, raw)

    def _finish_swap(self, record: Record, raw: str) -> None:
        swap = self._swap
        if swap is None:
            self._reject(raw, "DE without a DS before it: no database swap was in progress")
            return
        now = self.ledger.clock()
        self._record(PendingEvent(ResyncEnd(source=self.config.source, occurred_at=now),
                                  f"{raw}\n({swap.records} records in the swap)"))
        plan = plan_swap(self.ledger.room_states(), swap, source=self.config.source, now_utc=now,
                         guard=self.config.swap_checkout_guard)
        for note in swap.notes:
            log.info("FIAS swap: %s", note)
        if plan.held:
            self.ledger.set_value(HELD_SWAP_KEY, held_to_json(plan))
            self.ledger.audit("fias", "resync held", detail=plan.reason)
            log.warning("FIAS: %s (%d events kept)", plan.reason, len(plan.events))
            self._held_reason = plan.reason
        else:
            if self._held_reason is not None:
                log.info("FIAS: a newer database swap replaces the held one")
                self.ledger.set_value(HELD_SWAP_KEY, "")
                self._held_reason = None
                self._show()
            self._record_all(list(plan.events))
            self.ledger.audit("fias", "resync applied",
                              detail=f"{swap.records} records, {len(plan.events)} events"
                                     f" ({plan.vacated} of {plan.occupied} occupied rooms vacated)")
            log.info("FIAS: database swap of %d records applied: %d events", swap.records, len(plan.events))
        self._end_swap_window()

    def _end_swap_window(self) -> None:
        """Leave swap mode and process the records that waited for it, in order."""
        self._swap = None
        self._show()
        waiting, self._waiting = self._waiting, []
        for record, payload, received_at in waiting:
            self._process(record, self._text(payload), received_at)

    def _ask_for_first_swap(self) -> None:
        if self.ledger.get_value(SWAP_SEEN_KEY) is None and self.ledger.get_value(INITIAL_RESYNC_KEY) is None:
            if self._send(database_resync_request(self._local_now())):
                self.ledger.set_value(INITIAL_RESYNC_KEY, self.ledger.clock().isoformat())
                log.info("FIAS: asked the PMS for its in-house list (first link-up of this ledger)")

    # -- housekeeping ----------------------------------------------------------------------------

    def _housekeeping(self) -> None:
        next_poll = 0.0
        while not self._stopping.is_set():
            try:
                if time.monotonic() >= next_poll or self._poll_now.is_set():
                    self._poll_now.clear()
                    next_poll = time.monotonic() + VALUE_POLL_INTERVAL
                    self._poll_values()
                    self.wakeups.sweep()
                    self.wakeups.check_calls(self._still_ordered)
                self.wakeups.flush()
                self.postings.expire()
                if self._may_send():
                    self.postings.send_next(self._send)
            except Exception:
                log.exception("FIAS housekeeping failed; trying again")
            self._wake.wait(0.5)
            self._wake.clear()

    def _poll_values(self) -> None:
        requested = self.ledger.get_value(RESYNC_REQUESTED_KEY)
        if requested and requested != self.ledger.get_value(RESYNC_HANDLED_KEY) and self._may_send():
            if self._send(database_resync_request(self._local_now())):
                self.ledger.set_value(RESYNC_HANDLED_KEY, requested)
                log.info("FIAS: asked the PMS for a database swap (requested %s)", requested)
        if self._held_reason is not None and held_from_json(self.ledger.get_value(HELD_SWAP_KEY)) is None:
            log.info("FIAS: the held database swap was confirmed or discarded")
            self._held_reason = None
            self._show()

    def _still_ordered(self, room: str, at: dt.datetime) -> bool:
        state = self.ledger.room_states([room]).get(room)
        return state is not None and any(wakeup.at == Wakeup(at=at).at for wakeup in state.wakeups)

    def _on_outcome(self, outcome: DeliveryOutcome) -> None:
        if self._stopping.is_set() or self.wakeups is None:
            return
        self.wakeups.on_outcome(outcome)

    # -- sending ---------------------------------------------------------------------------------

    def _may_send(self) -> bool:
        # Between DS and DE the PMS expects nothing from us.
        return self.link.up and self._swap is None

    def _send(self, record: Record) -> bool:
        if not self._may_send():
            return False
        sent = self.link.send(record)
        if sent:
            self.status.count(f"sent_{record.type}")
        return sent

    # -- helpers ---------------------------------------------------------------------------------

    def _show(self, state: LinkState | None = None, detail: str | None = None) -> None:
        if state is not None:
            self._link_state, self._link_detail = state, detail
        shown = self._link_state
        if shown is LinkState.UP and self._swap is not None:
            shown = LinkState.SWAPPING
        parts = [part for part in (self._held_reason, self._link_detail) if part]
        self.status.change(shown, "; ".join(parts) or None)

    def _local_now(self) -> dt.datetime:
        return self.ledger.clock().astimezone(self.zone).replace(tzinfo=None)

    def _text(self, payload: bytes) -> str:
        return payload.decode(self.config.encoding, errors="backslashreplace")
