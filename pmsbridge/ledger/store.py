"""The ledger: the only code that writes the ledger's tables.

Two promises are kept here:

- *Nothing lost*: ``record`` stores the inbound event, the new room state and every PBX
  operation it causes in one transaction; an adapter acknowledges its source only after
  ``record`` returned.
- *Nothing doubled*: a delivery is claimed by a conditional UPDATE that changes it only
  while it is claimable and no earlier open delivery holds one of its rooms, so two workers
  (or two processes on one PostgreSQL database) never send the same operation, and each
  room's operations reach the PBX in order.

Recording, claiming and writing outcomes run for every PMS message: they use statements
compiled once (``statements``). Events that arrive together share a transaction
(``group_commit``: ``record`` from several threads, ``record_many`` for a swap or a file).
The dispatcher writes the outcomes of several attempts and claims the next deliveries in
one transaction (``settle``).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import (
    ColumnElement,
    FromClause,
    Integer,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from pmsbridge.events import Event, parse_event
from pmsbridge.ledger import degrade
from pmsbridge.ledger.database import dialect_insert, reader
from pmsbridge.ledger.group_commit import GroupCommit
from pmsbridge.ledger.models import (
    OPEN_STATES,
    AuditEntry,
    Delivery,
    DeliveryState,
    EventStatus,
    InboundEvent,
    LedgerValue,
    RoomStateRow,
    utcnow,
)
from pmsbridge.ledger.raw_text import storable
from pmsbridge.ledger.statements import Statement, Transaction, transaction
from pmsbridge.config import Settings
from pmsbridge.mapping import RoomMapping
from pmsbridge.rooms import (
    PbxOperation,
    PbxRoom,
    RoomPolicy,
    RoomState,
    pbx_after,
    pbx_operations,
    pbx_target,
    plan,
    rooms_touched,
)
from pmsbridge.validation import EventValidator, InputRefused

log = logging.getLogger(__name__)

# The deliveries that may be claimed, and the ones that hold their rooms.
CLAIMABLE = (DeliveryState.PENDING, DeliveryState.RETRYING)
# Events written in one transaction at most: enough to pay one disk sync for many, few
# enough that the dispatcher's settlements (which wait for the write lock) are not held up
# for long.
GROUP_LIMIT = 32


@dataclass(frozen=True)
class RecordResult:
    """What ``Ledger.record`` did with an event."""

    event_id: int
    status: EventStatus
    duplicate: bool = False
    deliveries: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Incoming:
    """An event for ``Ledger.record_many``: the event, the raw input it came from, who entered it."""

    event: Event
    raw: str
    actor: str | None = None


@dataclass(frozen=True)
class _Admitted:
    """An event that passed the door, ready to be written."""

    event: Event
    raw: str  # as stored
    actor: str | None
    parsed: str
    door_notes: tuple[str, ...]


class RecordsNotWritten(Exception):
    """Raised by ``Ledger.record_many`` when some events could not be written; ``results``
    has, per event in order, its RecordResult, or None when it was not written."""

    def __init__(self, results: list[RecordResult | None]):
        missing = sum(1 for result in results if result is None)
        super().__init__(f"{missing} of {len(results)} events could not be written to the ledger")
        self.results = results


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery this worker owns until it reports the outcome."""

    id: int
    event_id: int | None
    operation: str
    room: str
    target_room: str | None
    fields: dict
    attempts: int
    created_at: datetime
    uncertain: bool

    @property
    def pbx_operation(self) -> PbxOperation:
        return PbxOperation(operation=self.operation, room=self.room, target_room=self.target_room,
                            fields=self.fields)


@dataclass(frozen=True)
class RoomBooks:
    """One room's row as the ledger keeps it: the desired state, what the PBX confirmed,
    what it will hold once the open deliveries succeed, and the optional fields it refused."""

    state: RoomState
    confirmed: PbxRoom
    expected: PbxRoom
    refused: dict[str, str | int]
    degraded: str | None = None
    """The room's flag: what the PBX or the door left out (as read with the row, else None)."""

    @classmethod
    def from_row(cls, state: str, confirmed: str | None, expected: str | None, refused: str | None,
                 degraded: str | None = None) -> RoomBooks:
        desired = RoomState.model_validate_json(state)
        refused_fields = json.loads(refused) if refused else {}
        # NULL: a row from before the PBX's state was kept, taken as holding the desired state.
        as_desired = pbx_target(desired, refused_fields)
        return cls(desired,
                   PbxRoom.model_validate_json(confirmed) if confirmed else as_desired,
                   PbxRoom.model_validate_json(expected) if expected else as_desired,
                   refused_fields, degraded)

    @property
    def target(self) -> PbxRoom:
        """What the PBX should hold."""
        return pbx_target(self.state, self.refused)

    @property
    def differs(self) -> bool:
        """The PBX will not hold the desired state even once the open deliveries succeed."""
        return self.expected != self.target


@dataclass(frozen=True)
class QueueStats:
    depth: int
    dead: int
    oldest_pending_age: float | None  # seconds


@dataclass
class _Listeners:
    callbacks: list[Callable[[], None]] = field(default_factory=list)

    def fire(self) -> None:
        for callback in self.callbacks:
            try:
                callback()
            except Exception:  # a broken listener must not undo a committed event
                log.exception("delivery listener failed")


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one attempt at a claimed delivery, as ``Ledger.settle`` records it.

    ``state`` is DELIVERED, RETRYING (again at ``next_attempt_at``) or DEAD; ``error`` is
    the failure, or for a delivered one a note (kept as the delivery's last error);
    ``status`` the PBX's status code of a failed attempt; ``request`` the document sent;
    ``uncertain`` (RETRYING only) that the PBX may have carried it out already.
    For a delivered one, ``applied`` is the operation as the PBX carried it out (the
    delivery's own, or its degraded form) and ``refused`` the optional fields the PBX
    refused, which were left out.
    """

    delivery_id: int
    state: DeliveryState
    request: str | None = None
    error: str | None = None
    status: int | None = None
    next_attempt_at: datetime | None = None
    uncertain: bool = False
    applied: PbxOperation | None = None
    refused: dict[str, str | int] | None = None


@dataclass(frozen=True)
class Settlement:
    """What ``Ledger.settle`` did: per result whether it was recorded (False: the delivery
    was no longer held by the worker), and the deliveries claimed, oldest first."""

    recorded: tuple[bool, ...]
    claimed: tuple[ClaimedDelivery, ...]


_ROOM_SHAPE = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,15}")


def _room_column(room: str | None) -> str | None:
    """The room of unusable input as the events table holds it: only a room number's shape
    (what a room field held otherwise is in the raw input)."""
    return room if room is not None and _ROOM_SHAPE.fullmatch(room) else None


def _in_states(column: ColumnElement, states: Iterable[DeliveryState]) -> ColumnElement[bool]:
    """``column IN ('pending', ...)`` with the states written into the SQL: a fixed list that
    compiles once, and that the planner can match against the (state, ...) indexes."""
    return column.in_([literal_column(f"'{state.value}'") for state in states])


def _claim_guard(target: FromClause) -> ColumnElement[bool]:
    """SQL: no earlier open delivery shares a room with ``target``'s row (``target`` is the
    delivery table or an alias of it).

    One NOT EXISTS per pair of room columns rather than one with an OR, so that each
    probe is an index lookup on (room, state) or (target_room, state).
    """
    table = Delivery.__table__

    def earlier_holding(column: str, room: ColumnElement) -> ColumnElement[bool]:
        earlier = table.alias(f"earlier_{column}")
        return exists(select(literal_column("1")).where(
            earlier.c[column] == room, _in_states(earlier.c.state, OPEN_STATES), earlier.c.id < target.c.id))

    moved_to = target.c.target_room
    return and_(
        ~earlier_holding("room", target.c.room),
        ~earlier_holding("target_room", target.c.room),
        or_(moved_to.is_(None), and_(~earlier_holding("room", moved_to), ~earlier_holding("target_room", moved_to))),
    )


class _HotStatements:
    """The statements of recording, claiming and settling, compiled for one dialect."""

    def __init__(self, dialect: Dialect):
        events, deliveries, rooms = InboundEvent.__table__, Delivery.__table__, RoomStateRow.__table__
        audit = AuditEntry.__table__
        value = bindparam

        def compiled(statement) -> Statement:  # noqa: ANN001
            return Statement(statement, dialect)

        def new_id(statement):  # noqa: ANN001, ANN202
            # SQLite hands out the new row's id without RETURNING, in one step less.
            return statement if dialect.name == "sqlite" else statement.returning(statement.table.c.id)

        # -- recording
        self.event_by_key = compiled(
            select(events.c.id, events.c.status)
            .where(events.c.source == value("source"), events.c.source_key == value("source_key"))
            .order_by(events.c.id).limit(1)
        )
        self.insert_event = compiled(new_id(
            insert(events).values(received_at=value("now"), source=value("event_source"),
                                  source_key=value("event_source_key"), kind=value("event_kind"),
                                  room=value("event_room"), actor=value("event_actor"), raw=value("event_raw"),
                                  parsed=value("event_parsed"), status=EventStatus.APPLIED.value)
        ))
        self.flag_event = compiled(update(events).where(events.c.id == value("event_id"))
                                   .values(status=value("new_status"), problem=value("new_problem")))
        # FOR UPDATE holds the row on PostgreSQL; SQLite's IMMEDIATE transaction already
        # holds the whole database, and the clause is left out there.
        self.room_state = compiled(
            select(rooms.c.state, rooms.c.confirmed, rooms.c.expected, rooms.c.refused, rooms.c.degraded)
            .where(rooms.c.room == value("room_name")).with_for_update())
        self.insert_room = compiled(
            dialect_insert(dialect)(rooms).values(room=value("room_name"), state=value("new_state"),
                                                  confirmed=value("new_pbx"), expected=value("new_pbx"),
                                                  updated_at=value("now"))
            .on_conflict_do_nothing(index_elements=["room"])
        )
        self.store_room_state = compiled(update(rooms).where(rooms.c.room == value("room_name"))
                                         .values(state=value("new_state"), expected=value("new_expected"),
                                                 updated_at=value("now")))
        self.store_room_pbx = compiled(update(rooms).where(rooms.c.room == value("room_name"))
                                       .values(confirmed=value("new_confirmed"), expected=value("new_expected"),
                                               refused=value("new_refused"), degraded=value("new_degraded")))
        self.open_of_room = compiled(
            select(deliveries.c.id, deliveries.c.operation, deliveries.c.fields)
            .where(deliveries.c.room == value("room_name"), _in_states(deliveries.c.state, OPEN_STATES))
            .order_by(deliveries.c.id))
        self.skip_open_of_room = compiled(
            update(deliveries)
            .where(deliveries.c.room == value("room_name"), _in_states(deliveries.c.state, CLAIMABLE))
            .values(state=DeliveryState.SKIPPED.value, note=value("new_note")))
        self.flag_degraded = compiled(update(rooms).where(rooms.c.room == value("room_name"))
                                      .values(degraded=value("new_degraded")))
        self.flag_room = compiled(update(rooms).where(rooms.c.room == value("room_name"))
                                  .values(attention=value("new_attention")))
        self.insert_delivery = compiled(new_id(
            insert(deliveries).values(event_id=value("for_event"), created_at=value("now"),
                                      next_attempt_at=value("now"), operation=value("new_operation"),
                                      room=value("new_room"), target_room=value("new_target_room"),
                                      fields=value("new_fields"), state=DeliveryState.PENDING.value, attempts=0,
                                      uncertain=False)
        ))
        self.room_busy = compiled(
            select(literal_column("1")).where(or_(deliveries.c.room == value("room_name"),
                                         deliveries.c.target_room == value("room_name")),
                                     _in_states(deliveries.c.state, OPEN_STATES)).limit(1)
        )
        self.insert_audit = compiled(insert(audit).values(at=value("now"), actor=value("new_actor"),
                                                          action=value("new_action"), room=value("room_name"),
                                                          detail=value("new_detail")))

        # -- claiming: the oldest due room heads, re-checked by the UPDATE itself
        candidate, opened = deliveries.alias("candidate"), deliveries.alias("open_delivery")
        # The lower bound lets SQLite walk (state, id) in id order and stop at the limit,
        # instead of testing the guard on every due row and sorting them.
        oldest_open = select(func.min(opened.c.id)).where(_in_states(opened.c.state, OPEN_STATES)).scalar_subquery()
        candidates = (
            select(candidate.c.id)
            .where(candidate.c.id >= oldest_open, _in_states(candidate.c.state, CLAIMABLE),
                   candidate.c.next_attempt_at <= value("now"), _claim_guard(candidate))
            .order_by(candidate.c.id)
            .limit(value("claim_limit", type_=Integer))
            # PostgreSQL: a second process passes over the rows the first is claiming
            # instead of waiting for them and then finding them taken.
            .with_for_update(skip_locked=True)
            # Chosen once: as a plain subquery PostgreSQL may run it again for each row
            # it updates, and a LIMIT in it would then not bound the claim.
            .cte("candidates").prefix_with("MATERIALIZED")
        )
        self.claim = compiled(
            update(deliveries)
            .where(deliveries.c.id.in_(select(candidates.c.id)), _in_states(deliveries.c.state, CLAIMABLE),
                   _claim_guard(deliveries))
            .values(state=DeliveryState.IN_FLIGHT.value, claimed_by=value("worker"), claimed_at=value("now"),
                    attempts=deliveries.c.attempts + 1)
            .returning(deliveries.c.id, deliveries.c.event_id, deliveries.c.operation, deliveries.c.room,
                       deliveries.c.target_room, deliveries.c.fields, deliveries.c.attempts, deliveries.c.created_at,
                       deliveries.c.uncertain)
        )
        self.next_due = compiled(
            select(func.min(deliveries.c.next_attempt_at))
            .where(_in_states(deliveries.c.state, CLAIMABLE), _claim_guard(deliveries))
        )

        # -- settling: each only while the worker still holds the delivery
        held = and_(deliveries.c.id == value("delivery_id"), deliveries.c.state == DeliveryState.IN_FLIGHT.value,
                    deliveries.c.claimed_by == value("worker"))
        self.delivered = compiled(
            update(deliveries).where(held)
            .values(state=DeliveryState.DELIVERED.value, delivered_at=value("now"), request=value("sent"),
                    last_error=value("error"), last_status=0, uncertain=False)
        )
        self.retrying = compiled(
            update(deliveries).where(held)
            .values(state=DeliveryState.RETRYING.value, next_attempt_at=value("again_at"), last_error=value("error"),
                    last_status=value("status"), request=value("sent"), uncertain=value("maybe_applied"))
        )
        self.dead = compiled(
            update(deliveries).where(held)
            .values(state=DeliveryState.DEAD.value, last_error=value("error"), last_status=value("status"),
                    request=value("sent"), uncertain=False)
            .returning(deliveries.c.room)
        )
        self.unclaim = compiled(
            update(deliveries).where(held)
            .values(state=value("back_to"), attempts=deliveries.c.attempts - 1)
        )


class Ledger:
    def __init__(
        self,
        engine: Engine,
        *,
        policy: RoomPolicy,
        mapping: RoomMapping,
        zone: ZoneInfo,
        clock: Callable[[], datetime] = utcnow,
        validator: EventValidator | None = None,
    ):
        self.engine = engine
        self.reader = reader(engine)
        self.policy = policy
        self.mapping = mapping
        self.validator = validator
        self.zone = zone
        self.clock = clock
        self._listeners = _Listeners()
        self._sql = _HotStatements(engine.dialect)
        # SQLite serialises writers anyway; this keeps one process's threads (adapters,
        # the dispatcher) queueing on a cheap lock instead of on the database's busy
        # timeout, which sleeps in steps of milliseconds.
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else None
        # Two servers on one ledger: run first in every claim and outcome transaction, it
        # raises when this process's term as leader ended (``pmsbridge.ha.leadership``).
        self.fence: Callable[[Transaction], None] | None = None
        self._group: GroupCommit[_Admitted, RecordResult] = GroupCommit(self._write_events, limit=GROUP_LIMIT)

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine) -> Ledger:
        """The ledger of a configuration, with its room policy, mapping, time zone and door checks."""
        mapping = RoomMapping.from_settings(settings.rooms)
        return cls(engine, policy=RoomPolicy.from_settings(settings.rooms), mapping=mapping,
                   zone=settings.bridge.zone, validator=EventValidator.from_settings(settings, mapping))

    def _writing(self) -> AbstractContextManager:
        return self._write_lock if self._write_lock is not None else nullcontext()

    # -- inbound ---------------------------------------------------------------------

    def on_new_deliveries(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (cheaply, from the committing thread) after deliveries are committed."""
        self._listeners.callbacks.append(callback)

    def record(self, event: Event, raw: str, *, actor: str | None = None, strict: bool = False) -> RecordResult:
        """Store an event, apply it to the room state and queue its PBX operations, atomically.

        Returns once the transaction is committed. A repeat of (source, source_key) changes
        nothing and returns the first event's id with ``duplicate=True``. The validator
        checks the event first (``strict`` for the front desk, see ``pmsbridge.validation``):
        a refused event is kept raw, ``REJECTED`` with the reason as its only note.

        Events recorded by several threads at once share transactions (``group_commit``):
        one arriving while another commits is written with the others that waited, in the
        next commit; one arriving alone is written at once.
        """
        admitted = self._admit(Incoming(event, raw, actor), strict)
        if isinstance(admitted, RecordResult):
            return admitted
        (outcome,) = self._group.submit([admitted])
        return self._recorded(outcome)

    def record_many(self, items: Sequence[Incoming]) -> list[RecordResult]:
        """Record events that arrived together (a database swap, a file), in order, in as few
        transactions as they fit in (``GROUP_LIMIT`` events each); returns once all are committed.

        Each event is handled as ``record`` would (duplicates, the door's checks). A
        transaction is all or nothing; one that fails is done again event by event. When
        an event cannot be written, the events before it stay committed and the ones after
        it are not written, so that a caller can record the rest again in order:
        ``RecordsNotWritten`` is raised with the results (None for each event not written)
        and the failure as its cause.
        """
        admitted = [self._admit(item, False) for item in items]
        outcomes = iter(self._group.submit([entry for entry in admitted if isinstance(entry, _Admitted)]))
        results: list[RecordResult | None] = []
        failure: Exception | None = None
        for entry in admitted:
            if isinstance(entry, RecordResult):
                results.append(entry)
                continue
            try:
                results.append(self._recorded(next(outcomes)))
            except Exception as err:
                results.append(None)
                failure = failure or err
        if failure is not None:
            raise RecordsNotWritten(results) from failure
        return results

    def _admit(self, item: Incoming, strict: bool) -> RecordResult | _Admitted:
        """An event ready to be written, or what recording it came to without a write
        transaction: a duplicate's first event, or the door's refusal (kept)."""
        event = item.event
        if event.source_key is not None:
            first = self._find_by_key(event.source, event.source_key)
            if first is not None:
                return RecordResult(first[0], EventStatus(first[1]), duplicate=True)
        door_notes: tuple[str, ...] = ()
        if self.validator is not None:
            try:
                checked = self.validator.check(event, self._local_now(), strict=strict)
            except InputRefused as err:
                return self._refuse(event, item.raw, item.actor, str(err))
            event, door_notes = checked.event, checked.notes
        return _Admitted(event, storable(item.raw), item.actor, event.model_dump_json(), door_notes)

    def _write_events(self, events: list[_Admitted]) -> list[RecordResult]:
        """Write admitted events in one transaction (the group commit's writer)."""
        try:
            with self._writing(), transaction(self.engine) as tx:
                if len(events) > 1 and self._write_lock is None:
                    # PostgreSQL: every room of the group locked first, in the fixed order that
                    # settle() uses, so that the two never wait on each other in a circle.
                    self._lock_rooms(tx, sorted({room for entry in events for room in rooms_touched(entry.event)}),
                                     self.clock())
                results = [self._record_in(tx, entry.event, entry.raw, entry.actor, entry.parsed, entry.door_notes)
                           for entry in events]
        except IntegrityError:
            # Another thread or process stored the same (source, source_key) first. In a
            # group, each event is then written again alone and this finds which.
            event = events[0].event
            first = self._find_by_key(event.source, event.source_key) if len(events) == 1 and event.source_key else None
            if first is None:
                raise
            return [RecordResult(first[0], EventStatus(first[1]), duplicate=True)]
        if any(result.deliveries for result in results):
            self._listeners.fire()
        return results

    @staticmethod
    def _recorded(outcome: RecordResult | BaseException) -> RecordResult:
        """The result of an admitted event once written; raises what kept it from being written."""
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _local_now(self) -> datetime:
        return self.clock().astimezone(self.zone).replace(tzinfo=None)

    def _refuse(self, event: Event, raw: str, actor: str | None, problem: str) -> RecordResult:
        """Keep an event the validator refused, raw and parsed, with the sentence; no source key
        (a resend after the cause was fixed must be applied, not answered as a duplicate)."""
        with Session(self.engine) as session:
            row = InboundEvent(received_at=self.clock(), source=event.source, kind=event.kind,
                               room=event.room if event.room != "*" else None, actor=actor, raw=storable(raw),
                               parsed=event.model_dump_json(), status=EventStatus.REJECTED, problem=problem)
            session.add(row)
            session.commit()
            event_id = row.id
        log.warning("refused %s event from %s (event %s): %s", event.kind, event.source, event_id, problem)
        return RecordResult(event_id, EventStatus.REJECTED, notes=(problem,))

    def _record_in(self, tx: Transaction, event: Event, raw: str, actor: str | None, parsed: str,
                   door_notes: tuple[str, ...] = ()) -> RecordResult:
        sql = self._sql
        now = self.clock()
        now_local = now.astimezone(self.zone).replace(tzinfo=None)
        event_id = tx.insert(sql.insert_event, now=now, event_source=event.source, event_source_key=event.source_key,
                             event_kind=event.kind, event_room=event.room, event_actor=actor, event_raw=raw,
                             event_parsed=parsed)

        books = self._lock_rooms(tx, rooms_touched(event), now)
        outcome = plan({room: book.state for room, book in books.items()},
                       {room: book.expected for room, book in books.items()}, event, self.policy, now_local,
                       {room: book.refused for room, book in books.items()})

        for room, state in outcome.states.items():
            tx.execute(sql.store_room_state, room_name=room, new_state=state.model_dump_json(),
                       new_expected=outcome.expected[room].model_dump_json(), now=now)
        operation_rooms = (room for op in outcome.operations for room in (op.room, op.target_room) if room)
        problems = []
        for room in dict.fromkeys(operation_rooms):
            if self.mapping.extension(room) is None:
                problem = f"room {room} has no extension (rooms.extension_template or rooms.map)"
                tx.execute(sql.flag_room, room_name=room, new_attention=problem)
                problems.append(problem)
        delivery_ids = tuple(
            tx.insert(sql.insert_delivery, for_event=event_id, now=now, new_operation=operation.operation,
                      new_room=operation.room, new_target_room=operation.target_room,
                      new_fields=json.dumps(operation.fields, sort_keys=True))
            for operation in outcome.operations
        )
        status = EventStatus.NEEDS_ATTENTION if problems else EventStatus.APPLIED
        notes = (*door_notes, *outcome.notes)
        if getattr(event, "guest", None) is not None and event.room in outcome.states:
            # Guest data that passed the door clears a flag the door set; the PBX's refusals stay
            # flagged until it takes the field (see _book_outcomes).
            if door_notes and outcome.states[event.room].occupied:
                tx.execute(sql.flag_degraded, room_name=event.room, new_degraded="; ".join(door_notes))
            elif not door_notes and not books[event.room].refused and books[event.room].degraded is not None:
                tx.execute(sql.flag_degraded, room_name=event.room, new_degraded=None)
        problem = "; ".join(problems or notes) or None
        if problem or problems:
            tx.execute(sql.flag_event, event_id=event_id, new_status=status.value, new_problem=problem)
        return RecordResult(event_id, status, deliveries=delivery_ids, notes=notes)

    def _lock_rooms(self, tx: Transaction, rooms: Sequence[str], now: datetime) -> dict[str, RoomBooks]:
        """The current books of ``rooms``, locked until the transaction ends.

        A room never seen before is created vacant (ON CONFLICT DO NOTHING: another
        transaction may be creating it too), so that PostgreSQL has a row to lock. Rooms
        are taken in a fixed order, so that two moves cannot deadlock. On SQLite the
        IMMEDIATE transaction already holds the database's write lock.
        """
        sql = self._sql
        states = {}
        for room in sorted(rooms):
            stored = tx.first(sql.room_state, room_name=room)
            if stored is None:
                vacant, nothing = RoomState(room=room), PbxRoom(room=room)
                if tx.execute(sql.insert_room, room_name=room, new_state=vacant.model_dump_json(),
                              new_pbx=nothing.model_dump_json(), now=now) == 1:
                    states[room] = RoomBooks(vacant, nothing, nothing, {})
                    continue
                stored = tx.first(sql.room_state, room_name=room)
            states[room] = RoomBooks.from_row(*stored)
        return states

    def record_rejected(self, source: str, raw: str, problem: str, *, room: str | None = None) -> int:
        """Keep input that could not be understood, with the reason, for an operator to inspect.

        A rejected row never holds the source's idempotency key: when the sender retries
        after the cause was fixed (a corrected mapping), the retry must be applied, not
        answered as a duplicate of the rejection.
        """
        with Session(self.engine) as session:
            row = InboundEvent(received_at=self.clock(), source=source, raw=storable(raw), room=_room_column(room),
                               status=EventStatus.REJECTED, problem=storable(problem))
            session.add(row)
            session.commit()
            log.warning("rejected input from %s (event %s): %s", source, row.id, problem)
            return row.id

    def record_invalid(self, source: str, raw: str, error: ValidationError) -> int:
        """Keep an event whose fields failed validation, naming each bad field."""
        reasons = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        return self.record_rejected(source, raw, f"invalid event: {reasons}")

    def record_needs_attention(self, source: str, raw: str, problem: str, *, source_key: str | None = None,
                               room: str | None = None) -> RecordResult:
        """Keep input that was understood but cannot be applied by itself, flagged for an operator.

        For a thin webhook that only names a reservation the bridge would first have to fetch
        from the PMS's API. No event is applied and no room state changes. A repeat of
        (source, source_key) changes nothing and returns the first row's id with ``duplicate=True``.
        """
        result = self._keep(source, raw, EventStatus.NEEDS_ATTENTION, problem, source_key=source_key, room=room)
        if not result.duplicate:
            log.warning("input from %s needs attention (event %s): %s", source, result.event_id, problem)
        return result

    def record_notification(self, source: str, raw: str, *, source_key: str | None = None) -> RecordResult:
        """Keep a thin notification (a webhook naming a reservation), ``received``, before it is answered.

        The adapter that received it fetches what it names from the PMS, records what changed
        as events of their own and settles it with ``settle_notification``; one it could not
        settle (the bridge stopped) is found again with ``notifications``. A repeat of (source,
        source_key) changes nothing and returns the first row's id with ``duplicate=True``.
        """
        return self._keep(source, raw, EventStatus.RECEIVED, None, source_key=source_key)

    def notifications(self, source: str, *, limit: int = 100) -> list[InboundEvent]:
        """The notifications of ``source`` still ``received`` (not yet settled), oldest first."""
        with Session(self.reader) as session:
            return list(session.execute(
                select(InboundEvent).where(InboundEvent.source == source,
                                           InboundEvent.status == EventStatus.RECEIVED.value)
                .order_by(InboundEvent.id).limit(limit)).scalars())

    def settle_notification(self, event_id: int, *, problem: str | None = None,
                            status: EventStatus = EventStatus.FETCHED) -> None:
        """Mark a received notification as handled: ``fetched`` (``problem`` may say what came of it),
        or ``needs_attention``/``rejected`` with the reason."""
        with Session(self.engine) as session:
            row = session.get(InboundEvent, event_id)
            if row is None or row.status != EventStatus.RECEIVED.value:
                return
            row.status, row.problem = status.value, problem
            session.add(row)
            session.commit()

    def _keep(self, source: str, raw: str, status: EventStatus, problem: str | None, *,
              source_key: str | None = None, room: str | None = None) -> RecordResult:
        """Store input that applies no event, unless (source, source_key) was stored before."""
        if source_key is not None:
            first = self._find_by_key(source, source_key)
            if first is not None:
                return RecordResult(first[0], EventStatus(first[1]), duplicate=True)
        try:
            with Session(self.engine) as session:
                row = InboundEvent(received_at=self.clock(), source=source, source_key=source_key,
                                   raw=storable(raw), room=_room_column(room), status=status,
                                   problem=storable(problem) if problem is not None else None)
                session.add(row)
                session.commit()
                event_id = row.id
        except IntegrityError:
            first = self._find_by_key(source, source_key) if source_key else None
            if first is None:
                raise
            return RecordResult(first[0], EventStatus(first[1]), duplicate=True)
        return RecordResult(event_id, status, notes=(problem,) if problem else ())

    def _find_by_key(self, source: str, source_key: str) -> tuple[int, str] | None:
        """(id, status) of the event stored with this (source, source_key), if any."""
        with transaction(self.engine, write=False) as tx:
            return tx.first(self._sql.event_by_key, source=source, source_key=source_key)

    # -- dispatch --------------------------------------------------------------------

    def claim_next(self, worker: str) -> ClaimedDelivery | None:
        """Claim the oldest due delivery whose rooms are free; None when there is none."""
        claimed = self.settle(worker, claim=1).claimed
        return claimed[0] if claimed else None

    def settle(self, worker: str, results: Sequence[DeliveryResult] = (), *,
               release: Sequence[ClaimedDelivery] = (), claim: int = 0) -> Settlement:
        """In one transaction: record ``results``, put ``release`` (claimed, never sent) back
        in the queue, and claim up to ``claim`` of the oldest due deliveries whose rooms are free.

        Everything applies only to deliveries ``worker`` holds. A claim is one conditional
        UPDATE that re-checks each row (still claimable, no earlier open delivery of its
        rooms), so that of two workers racing for a row only one gets it; a claimed row is
        ``in_flight`` from the commit on. A released one returns to pending (or retrying)
        with its attempt uncounted. Results are durable when this returns. With a ``fence``,
        nothing is written once this process no longer leads (the fence raises).
        """
        if not (results or release or claim > 0):
            return Settlement((), ())
        sql = self._sql
        now = self.clock()
        with self._writing(), transaction(self.engine) as tx:
            if self.fence is not None:
                self.fence(tx)
            dead_rooms: dict[str, str] = {}
            recorded = tuple(self._record_result(tx, worker, result, now, dead_rooms) for result in results)
            delivered: dict[str, list[DeliveryResult]] = {}
            for result, done in zip(results, recorded):
                if done and result.state == DeliveryState.DELIVERED and result.applied is not None:
                    delivered.setdefault(result.applied.room, []).append(result)
            # Rooms last and in a fixed order, so that this and record() (rooms, then new
            # deliveries) never wait on each other in a circle on PostgreSQL.
            for room in sorted({*delivered, *dead_rooms}):
                self._book_outcomes(tx, room, delivered.get(room, ()), dead_rooms.get(room))
            for delivery in release:
                back_to = DeliveryState.RETRYING if delivery.attempts > 1 else DeliveryState.PENDING
                tx.execute(sql.unclaim, delivery_id=delivery.id, worker=worker, back_to=back_to.value)
            rows = tx.rows(sql.claim, worker=worker, now=now, claim_limit=claim) if claim > 0 else []
        for result, done in zip(results, recorded):
            if result.state == DeliveryState.DEAD and done:
                log.error("delivery %s is dead: %s", result.delivery_id, result.error)
            elif not done:
                log.warning("delivery %s was no longer held by %s when its outcome arrived", result.delivery_id,
                            worker)
        claimed = sorted(
            (ClaimedDelivery(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6], row[7], row[8])
             for row in rows),
            key=lambda delivery: delivery.id,
        )
        return Settlement(recorded, tuple(claimed))

    def _book_outcomes(self, tx: Transaction, room: str, delivered: Sequence[DeliveryResult],
                       death: str | None) -> None:
        """Bring a room's PBX books up to date with outcomes just recorded (the transaction open).

        Delivered operations move *confirmed*; refused optional fields are remembered and the
        room flagged as degraded. When a delivery died, the room's later open deliveries are
        skipped and *expected* falls back to *confirmed*: the room's next event, a replay or a
        repair then sends what the PBX lacks, worked out from what it holds.
        """
        sql = self._sql
        stored = tx.first(sql.room_state, room_name=room)
        if stored is None:
            return
        books = RoomBooks.from_row(*stored)
        confirmed, expected, refused = books.confirmed, books.expected, dict(books.refused)
        degraded = books.degraded
        for result in sorted(delivered, key=lambda result: result.delivery_id):
            confirmed = pbx_after(confirmed, result.applied)
            if result.applied.operation == "checkout":
                refused, degraded = {}, None
            taken = [name for name in refused if name in result.applied.fields and not (
                result.refused and name in result.refused)]
            if taken:  # the PBX took a field it refused before (a new value): no longer refused
                refused = {name: value for name, value in refused.items() if name not in taken}
                degraded = degrade.degraded_sentence("checkin", refused) if refused else None
            if result.refused:
                refused.update(result.refused)
                degraded = degrade.degraded_sentence("checkin", refused)
        if death is not None:
            tx.execute(sql.flag_room, room_name=room, new_attention=death)
            tx.execute(sql.skip_open_of_room, room_name=room,
                       new_note="not sent: an earlier operation of the room failed; the room is sent whole "
                                "with its next event, a replay or a repair")
            expected = confirmed
        elif any(result.refused for result in delivered):
            # The degraded operation left out more than the PBX refused: what the room still
            # lacks (the fields not refused) follows the open deliveries at once.
            expected = confirmed
            for _, operation, fields in tx.rows(sql.open_of_room, room_name=room):
                expected = pbx_after(expected, PbxOperation(operation=operation, room=room,
                                                            fields=json.loads(fields)))
            target = pbx_target(books.state, refused)
            for operation in pbx_operations(expected, target):
                tx.insert(sql.insert_delivery, for_event=None, now=self.clock(), new_operation=operation.operation,
                          new_room=room, new_target_room=None, new_fields=json.dumps(operation.fields, sort_keys=True))
            expected = target
        tx.execute(sql.store_room_pbx, room_name=room, new_confirmed=confirmed.model_dump_json(),
                   new_expected=expected.model_dump_json(), new_refused=json.dumps(refused) if refused else None,
                   new_degraded=degraded)

    def _record_result(self, tx: Transaction, worker: str, result: DeliveryResult, now: datetime,
                       dead_rooms: dict[str, str]) -> bool:
        sql = self._sql
        held = dict(delivery_id=result.delivery_id, worker=worker, sent=result.request, error=result.error)
        if result.state == DeliveryState.DELIVERED:
            return tx.execute(sql.delivered, now=now, **held) == 1
        if result.state == DeliveryState.RETRYING:
            return tx.execute(sql.retrying, again_at=result.next_attempt_at, status=result.status,
                              maybe_applied=result.uncertain, **held) == 1
        if result.state == DeliveryState.DEAD:
            room = tx.scalar(sql.dead, status=result.status, **held)
            if room is not None:
                dead_rooms[room] = f"delivery {result.delivery_id} is dead: {result.error}"
            return room is not None
        raise ValueError(f"an attempt ends delivered, retrying or dead, not {result.state}")

    def retry_now(self) -> int:
        """Make the deliveries an outage put off due now (the PBX is back); returns how many."""
        now = self.clock()
        with self._writing(), Session(self.engine) as session:
            # Only those put off by the outage (no PBX status): a retry-after the PBX asked
            # for with its status code is honoured as given.
            count = session.execute(update(Delivery).where(Delivery.state == DeliveryState.RETRYING,
                                                           Delivery.last_status.is_(None),
                                                           Delivery.next_attempt_at > now)
                                    .values(next_attempt_at=now)).rowcount
            session.commit()
        if count:
            self._listeners.fire()
        return count

    def next_due(self) -> datetime | None:
        """When the earliest claimable delivery becomes due (for the worker's sleep).

        Deliveries held behind an earlier one of their room are not counted: they become
        claimable when that one finishes, which wakes the worker anyway.
        """
        with transaction(self.engine, write=False) as tx:
            return tx.scalar(self._sql.next_due)

    def mark_delivered(self, delivery_id: int, worker: str, *, request: str | None = None,
                       note: str | None = None) -> bool:
        result = DeliveryResult(delivery_id, DeliveryState.DELIVERED, request=request, error=note)
        return self.settle(worker, [result]).recorded[0]

    def mark_retry(self, delivery_id: int, worker: str, *, error: str, status: int | None, at: datetime,
                   request: str | None = None, uncertain: bool = False) -> bool:
        result = DeliveryResult(delivery_id, DeliveryState.RETRYING, request=request, error=error, status=status,
                                next_attempt_at=at, uncertain=uncertain)
        return self.settle(worker, [result]).recorded[0]

    def mark_dead(self, delivery_id: int, worker: str, *, error: str, status: int | None,
                  request: str | None = None) -> bool:
        result = DeliveryResult(delivery_id, DeliveryState.DEAD, request=request, error=error, status=status)
        return self.settle(worker, [result]).recorded[0]

    def release_interrupted(self, is_abandoned: Callable[[str | None, datetime | None], bool]) -> list[int]:
        """Return in-flight deliveries whose worker died to the queue, flagged uncertain.

        ``is_abandoned(claimed_by, claimed_at)`` decides; the PBX is asked whether an
        uncertain operation took effect before it is sent again.
        """
        with Session(self.engine) as session:
            rows = session.execute(select(Delivery).where(Delivery.state == DeliveryState.IN_FLIGHT)).scalars().all()
            released = []
            for row in rows:
                if not is_abandoned(row.claimed_by, row.claimed_at):
                    continue
                changed = session.execute(
                    update(Delivery)
                    .where(Delivery.id == row.id, Delivery.state == DeliveryState.IN_FLIGHT,
                           Delivery.claimed_by == row.claimed_by)
                    .values(state=DeliveryState.RETRYING, uncertain=True, next_attempt_at=self.clock(),
                            last_error=f"interrupted while {row.claimed_by} was sending it")
                ).rowcount
                if changed:
                    released.append(row.id)
            session.commit()
        if released:
            log.warning("released %d interrupted deliveries: %s", len(released), released)
            self._listeners.fire()
        return released

    # -- operators -------------------------------------------------------------------

    def replay(self, *, ids: Iterable[int] = (), room: str | None = None, all_dead: bool = False,
               actor: str = "operator") -> list[int]:
        """Queue dead deliveries again (by id, by room or all); returns the ids queued.

        Each room's books follow: the replayed operations are expected to succeed, and what
        the room still lacks after them (operations skipped after the death, changes since)
        is queued behind them, so that the room ends as desired.
        """
        ids = list(ids)
        if not (ids or room or all_dead):
            raise ValueError("say which deliveries to replay: ids, a room or all dead ones")
        now = self.clock()
        query = select(Delivery.id, Delivery.room, Delivery.operation, Delivery.fields).where(
            Delivery.state == DeliveryState.DEAD)
        if ids:
            query = query.where(Delivery.id.in_(ids))
        if room:
            query = query.where(or_(Delivery.room == room, Delivery.target_room == room))
        with self._writing(), Session(self.engine) as session:
            chosen = session.execute(query.order_by(Delivery.id)).all()
            if not chosen:
                return []
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_([row.id for row in chosen]), Delivery.state == DeliveryState.DEAD)
                .values(state=DeliveryState.PENDING, next_attempt_at=now, attempts=0, created_at=now,
                        claimed_by=None)
            )
            session.flush()
            connection = session.connection()
            for room_name in sorted({row.room for row in chosen}):
                replayed = [PbxOperation(operation=row.operation, room=room_name, fields=json.loads(row.fields))
                            for row in chosen if row.room == room_name]
                self._queue_rest(connection, room_name, replayed, now)
            session.add(AuditEntry(actor=actor, action="replay", room=room,
                                   detail=f"deliveries {', '.join(str(row.id) for row in chosen)}"))
            session.commit()
        self._listeners.fire()
        return [row.id for row in chosen]

    def _queue_rest(self, connection, room: str, replayed: Sequence[PbxOperation], now: datetime,  # noqa: ANN001
                    *, confirmed: PbxRoom | None = None) -> list[int]:
        """In an open transaction: fold ``replayed`` (already queued again) into ``room``'s
        expected state, then queue what the room still lacks; clears the room's flag.

        With ``confirmed`` (what the PBX was just seen to hold), the books start from it."""
        row = connection.execute(
            select(RoomStateRow.state, RoomStateRow.confirmed, RoomStateRow.expected, RoomStateRow.refused)
            .where(RoomStateRow.room == room).with_for_update()).first()
        if row is None:
            return []
        books = RoomBooks.from_row(*row)
        expected = confirmed if confirmed is not None else books.expected
        for operation in replayed:
            expected = pbx_after(expected, operation)
        queued = []
        for operation in pbx_operations(expected, books.target):
            queued.append(connection.execute(insert(Delivery.__table__).values(
                event_id=None, created_at=now, next_attempt_at=now, operation=operation.operation, room=room,
                target_room=None, fields=json.dumps(operation.fields, sort_keys=True),
                state=DeliveryState.PENDING.value, attempts=0, uncertain=False)).inserted_primary_key[0])
        values = {"expected": books.target.model_dump_json(), "attention": None}
        if confirmed is not None:
            values["confirmed"] = confirmed.model_dump_json()
        connection.execute(update(RoomStateRow.__table__).where(RoomStateRow.room == room).values(**values))
        return queued

    def resend_room(self, room: str, *, actor: str = "operator") -> list[int]:
        """Queue what ``room`` lacks on the PBX, worked out from what it confirmed (after a
        dead or dismissed delivery); returns the deliveries queued."""
        now = self.clock()
        with self._writing(), Session(self.engine) as session:
            if session.execute(select(Delivery.id).where(
                    or_(Delivery.room == room, Delivery.target_room == room),
                    Delivery.state.in_([s.value for s in OPEN_STATES])).limit(1)).first() is not None:
                return []
            row = session.get(RoomStateRow, room)
            if row is None:
                return []
            connection = session.connection()
            books = RoomBooks.from_row(row.state, row.confirmed, row.expected, row.refused)
            queued = self._queue_rest(connection, room, (), now, confirmed=books.confirmed)
            session.add(AuditEntry(actor=actor, action="resend", room=room,
                                   detail=f"deliveries {', '.join(map(str, queued))}" if queued else "nothing lacking"))
            session.commit()
        if queued:
            self._listeners.fire()
        return queued

    def dismiss(self, ids: Iterable[int], *, note: str, actor: str = "operator") -> list[int]:
        """End dead deliveries with an operator's ``note`` (audited); returns the ids dismissed.

        The room keeps what the PBX confirmed as its expected state, so its next event, a
        repair or ``resend_room`` sends only what the PBX really lacks; the room's flag is
        cleared once no dead delivery is left for it."""
        note = note.strip()
        if not note:
            raise ValueError("say why the deliveries are dismissed: a note is required")
        ids = list(ids)
        with self._writing(), Session(self.engine) as session:
            chosen = session.execute(select(Delivery.id, Delivery.room).where(
                Delivery.id.in_(ids), Delivery.state == DeliveryState.DEAD).order_by(Delivery.id)).all()
            if not chosen:
                return []
            session.execute(update(Delivery).where(Delivery.id.in_([row.id for row in chosen]),
                                                   Delivery.state == DeliveryState.DEAD)
                            .values(state=DeliveryState.DISMISSED, note=f"dismissed by {actor}: {note}"))
            for room_name in sorted({row.room for row in chosen}):
                still_dead = session.execute(select(Delivery.id).where(
                    Delivery.room == room_name, Delivery.state == DeliveryState.DEAD).limit(1)).first()
                if still_dead is None:
                    session.execute(update(RoomStateRow).where(RoomStateRow.room == room_name)
                                    .values(attention=None))
                session.add(AuditEntry(actor=actor, action="dismiss", room=room_name,
                                       detail=f"deliveries {', '.join(str(r.id) for r in chosen if r.room == room_name)}"
                                              f": {note}"))
            session.commit()
        return [row.id for row in chosen]

    def remove_room(self, room: str, *, actor: str = "operator") -> bool:
        """Forget a room the hotel does not have (a phantom left by input from before rooms were
        checked at the door): its row goes, its dead deliveries are dismissed; audited.

        Refused (False) while the room has open deliveries. The caller decides that the room
        is not the hotel's (``pmsbridge.validation``)."""
        with self._writing(), Session(self.engine) as session:
            touching = or_(Delivery.room == room, Delivery.target_room == room)
            if session.execute(select(Delivery.id).where(
                    touching, Delivery.state.in_([s.value for s in OPEN_STATES])).limit(1)).first() is not None:
                return False
            row = session.get(RoomStateRow, room)
            if row is None:
                return False
            session.execute(update(Delivery).where(touching, Delivery.state == DeliveryState.DEAD)
                            .values(state=DeliveryState.DISMISSED, note=f"room {room} removed by {actor}"))
            session.delete(row)
            session.add(AuditEntry(actor=actor, action="remove room", room=room,
                                   detail=f"room {room} is not one of the hotel's rooms"))
            session.commit()
        return True

    def audit(self, actor: str, action: str, *, room: str | None = None, detail: str | None = None) -> None:
        with Session(self.engine) as session:
            session.add(AuditEntry(actor=actor, action=action, room=room, detail=detail))
            session.commit()

    def prune(self, older_than: timedelta) -> int:
        """Delete delivered rows (and events left with no open delivery) older than ``older_than``."""
        cutoff = self.clock() - older_than
        with Session(self.engine) as session:
            removed = session.execute(
                delete(Delivery).where(Delivery.state == DeliveryState.DELIVERED, Delivery.delivered_at < cutoff)
            ).rowcount
            session.execute(
                delete(InboundEvent).where(
                    InboundEvent.received_at < cutoff,
                    InboundEvent.status.in_([EventStatus.APPLIED.value]),
                    ~exists(select(literal(1)).where(Delivery.event_id == InboundEvent.id)),
                )
            )
            session.commit()
        if removed:
            log.info("pruned %d delivered rows older than %s", removed, older_than)
        return removed

    # -- reconciliation --------------------------------------------------------------

    def rooms_in_motion(self, since: datetime) -> set[str]:
        """Rooms whose PBX state may have changed under a reader that started at ``since``:
        they have an open delivery, or one claimed or delivered since then."""
        with Session(self.reader) as session:
            rows = session.execute(
                select(Delivery.room, Delivery.target_room).where(or_(
                    Delivery.state.in_([s.value for s in OPEN_STATES]),
                    Delivery.claimed_at >= since,
                    Delivery.delivered_at >= since,
                ))
            ).all()
        return {room for row in rows for room in row if room}

    def enqueue_repair(self, room: str, observed: Callable[[PbxRoom, PbxRoom], PbxRoom], *, based_on: RoomState,
                       actor: str = "reconcile", reason: str | None = None) -> tuple[int, ...]:
        """Take in what a read of the PBX showed of ``room`` and queue the operations that bring
        its extension from that back to its desired state, as deliveries without an inbound
        event, so that order, pacing and retries apply.

        ``observed(target, confirmed)`` is what the read showed, told as the difference from the
        target (the desired state less the fields the PBX refused) and from what the PBX had
        confirmed before (for what a read cannot see: wake-ups). The room's confirmed state
        becomes that, even when nothing needs sending, and the operations are worked out from
        it, so a refused field is not sent again. ``based_on`` is the desired state the read
        was compared with. Nothing is taken in, and () returned, when the room's desired state
        is no longer that (an event changed it meanwhile) or the room has open deliveries: a
        repair for a state that is gone would undo the newer one.
        """
        sql = self._sql
        now = self.clock()
        with self._writing(), transaction(self.engine) as tx:
            books = self._lock_rooms(tx, [room], now)[room]
            if books.state != based_on or tx.first(sql.room_busy, room_name=room) is not None:
                tx.rollback()
                return ()
            seen = observed(books.target, books.confirmed)
            operations = pbx_operations(seen, books.target)
            ids = tuple(
                tx.insert(sql.insert_delivery, for_event=None, now=now, new_operation=operation.operation,
                          new_room=room, new_target_room=None, new_fields=json.dumps(operation.fields, sort_keys=True))
                for operation in operations
            )
            tx.execute(sql.store_room_pbx, room_name=room, new_confirmed=seen.model_dump_json(),
                       new_expected=books.target.model_dump_json(),
                       new_refused=json.dumps(books.refused) if books.refused else None,
                       new_degraded=books.degraded)
            if operations:
                summary = ", ".join(op.operation for op in operations)
                tx.execute(sql.insert_audit, now=now, new_actor=actor, new_action="repair", room_name=room,
                           new_detail=f"{reason}: {summary}" if reason else summary)
        if ids:
            self._listeners.fire()
        return ids

    def room_books(self, rooms: Iterable[str] | None = None) -> dict[str, RoomBooks]:
        """Each room's desired state, confirmed and expected PBX state and refused fields."""
        table = RoomStateRow.__table__
        query = select(table.c.room, table.c.state, table.c.confirmed, table.c.expected, table.c.refused)
        if rooms is not None:
            query = query.where(table.c.room.in_(list(rooms)))
        with self.reader.connect() as connection:
            return {row[0]: RoomBooks.from_row(*row[1:]) for row in connection.execute(query)}

    # -- reading ---------------------------------------------------------------------

    def room_states(self, rooms: Iterable[str] | None = None) -> dict[str, RoomState]:
        with Session(self.reader) as session:
            query = select(RoomStateRow)
            if rooms is not None:
                query = query.where(RoomStateRow.room.in_(list(rooms)))
            return {row.room: RoomState.model_validate_json(row.state) for row in session.execute(query).scalars()}

    def room_rows(self) -> list[RoomStateRow]:
        with Session(self.reader) as session:
            return list(session.execute(select(RoomStateRow).order_by(RoomStateRow.room)).scalars())

    def deliveries(self, *, state: str | None = None, room: str | None = None, limit: int = 100,
                   before_id: int | None = None) -> list[Delivery]:
        with Session(self.reader) as session:
            query = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
            if state:
                query = query.where(Delivery.state == state)
            if room:
                query = query.where(or_(Delivery.room == room, Delivery.target_room == room))
            if before_id:
                query = query.where(Delivery.id < before_id)
            return list(session.execute(query).scalars())

    def events(self, *, status: str | None = None, room: str | None = None, limit: int = 100) -> list[InboundEvent]:
        with Session(self.reader) as session:
            query = select(InboundEvent).order_by(InboundEvent.id.desc()).limit(limit)
            if status:
                query = query.where(InboundEvent.status == status)
            if room:
                query = query.where(InboundEvent.room == room)
            return list(session.execute(query).scalars())

    def delivery(self, delivery_id: int) -> Delivery | None:
        with Session(self.reader) as session:
            return session.get(Delivery, delivery_id)

    def event(self, event_id: int) -> InboundEvent | None:
        with Session(self.reader) as session:
            return session.get(InboundEvent, event_id)

    def parsed_event(self, event_id: int) -> Event | None:
        row = self.event(event_id)
        return parse_event(json.loads(row.parsed)) if row and row.parsed else None

    def stats(self) -> QueueStats:
        with Session(self.reader) as session:
            open_states = [s.value for s in OPEN_STATES]
            depth, oldest = session.execute(
                select(func.count(Delivery.id), func.min(Delivery.created_at)).where(Delivery.state.in_(open_states))
            ).one()
            dead = session.execute(
                select(func.count(Delivery.id)).where(Delivery.state == DeliveryState.DEAD)
            ).scalar()
        age = (self.clock() - oldest).total_seconds() if oldest else None
        return QueueStats(depth=depth, dead=dead, oldest_pending_age=age)

    def get_value(self, name: str) -> str | None:
        with Session(self.reader) as session:
            row = session.get(LedgerValue, name)
            return row.value if row else None

    def set_value(self, name: str, value: str) -> None:
        """Store ``value`` under ``name``; one statement, so concurrent writers cannot collide."""
        table = LedgerValue.__table__
        upsert = dialect_insert(self.engine.dialect)(table).values(name=name, value=value, updated_at=utcnow())
        upsert = upsert.on_conflict_do_update(index_elements=[table.c.name],
                                              set_={"value": upsert.excluded.value,
                                                    "updated_at": upsert.excluded.updated_at})
        with self.engine.begin() as connection:
            connection.execute(upsert)
