"""The ledger: the only code that writes the ledger's tables.

Two promises are kept here:

- *Nothing lost*: ``record`` stores the inbound event, the new room state and every PBX
  operation it causes in one transaction; an adapter acknowledges its source only after
  ``record`` returned.
- *Nothing doubled*: a delivery is claimed by a conditional UPDATE that changes exactly
  one row, and only when no earlier open delivery holds one of its rooms, so two workers
  (or two processes on one PostgreSQL database) never send the same operation, and each
  room's operations reach the PBX in order.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import and_, delete, exists, func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from pmsbridge.events import Event, parse_event
from pmsbridge.ledger.database import reader
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
from pmsbridge.mapping import RoomMapping
from pmsbridge.rooms import PbxOperation, RoomPolicy, RoomState, apply, rooms_touched

log = logging.getLogger(__name__)

# The deliveries that may be claimed, and the ones that hold their rooms.
CLAIMABLE = (DeliveryState.PENDING, DeliveryState.RETRYING)


@dataclass(frozen=True)
class RecordResult:
    """What ``Ledger.record`` did with an event."""

    event_id: int
    status: EventStatus
    duplicate: bool = False
    deliveries: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()


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


@functools.cache
def _delivery_claim_guard(table=Delivery.__table__):
    """SQL: no earlier open delivery shares a room with this one.

    One NOT EXISTS per pair of room columns rather than one with an OR, so that each
    probe is an index lookup on (room, state) or (target_room, state).
    """
    open_states = [s.value for s in OPEN_STATES]

    def earlier_holding(column: str, room):
        earlier = table.alias(f"earlier_{column}")
        return exists(select(literal(1)).where(earlier.c[column] == room, earlier.c.state.in_(open_states),
                                               earlier.c.id < table.c.id))

    return and_(
        ~earlier_holding("room", table.c.room),
        ~earlier_holding("target_room", table.c.room),
        or_(table.c.target_room.is_(None),
            and_(~earlier_holding("room", table.c.target_room), ~earlier_holding("target_room", table.c.target_room))),
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
    ):
        self.engine = engine
        self.reader = reader(engine)
        self.policy = policy
        self.mapping = mapping
        self.zone = zone
        self.clock = clock
        self._listeners = _Listeners()
        # SQLite serialises writers anyway; this keeps one process's threads from
        # queueing on the database's busy timeout instead of on a cheap lock.
        self._record_lock = threading.Lock()

    # -- inbound ---------------------------------------------------------------------

    def on_new_deliveries(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (cheaply, from the committing thread) after deliveries are committed."""
        self._listeners.callbacks.append(callback)

    def record(self, event: Event, raw: str, *, actor: str | None = None) -> RecordResult:
        """Store an event, apply it to the room state and queue its PBX operations, atomically.

        A repeat of (source, source_key) changes nothing and returns the first event's id
        with ``duplicate=True``.
        """
        if event.source_key is not None:
            first = self._find_by_key(event.source, event.source_key)
            if first is not None:
                return RecordResult(first.id, EventStatus(first.status), duplicate=True)
        try:
            with self._record_lock, self.engine.begin() as connection:
                result = self._record_in(connection, event, raw, actor)
        except IntegrityError:
            # Another thread or process stored the same (source, source_key) first.
            first = self._find_by_key(event.source, event.source_key) if event.source_key else None
            if first is None:
                raise
            return RecordResult(first.id, EventStatus(first.status), duplicate=True)
        if result.deliveries:
            self._listeners.fire()
        return result

    # The record path runs for every PMS message: it uses SQLAlchemy Core on one
    # connection, without the ORM's unit of work, which costs several times more.
    def _record_in(self, connection: Connection, event: Event, raw: str, actor: str | None) -> RecordResult:
        now = self.clock()
        now_local = now.astimezone(self.zone).replace(tzinfo=None)
        events, deliveries, room_states = InboundEvent.__table__, Delivery.__table__, RoomStateRow.__table__
        event_id = connection.execute(
            insert(events).returning(events.c.id),
            dict(received_at=now, source=event.source, source_key=event.source_key, kind=event.kind, room=event.room,
                 actor=actor, raw=raw, parsed=event.model_dump_json(), status=EventStatus.APPLIED.value),
        ).scalar_one()

        states = self._lock_rooms(connection, rooms_touched(event), now)
        outcome = apply(states, event, self.policy, now_local)

        for room, state in outcome.states.items():
            connection.execute(update(room_states).where(room_states.c.room == room)
                               .values(state=state.model_dump_json(), updated_at=now))
        operation_rooms = (room for op in outcome.operations for room in (op.room, op.target_room) if room)
        problems = []
        for room in dict.fromkeys(operation_rooms):
            if self.mapping.extension(room) is None:
                problem = f"room {room} has no extension (rooms.extension_template or rooms.map)"
                connection.execute(update(room_states).where(room_states.c.room == room).values(attention=problem))
                problems.append(problem)
        delivery_ids = tuple(
            connection.execute(
                insert(deliveries).returning(deliveries.c.id),
                dict(event_id=event_id, created_at=now, next_attempt_at=now, operation=operation.operation,
                     room=operation.room, target_room=operation.target_room,
                     fields=json.dumps(operation.fields, sort_keys=True), state=DeliveryState.PENDING.value,
                     attempts=0, uncertain=False),
            ).scalar_one()
            for operation in outcome.operations
        )
        status = EventStatus.NEEDS_ATTENTION if problems else EventStatus.APPLIED
        notes = tuple(outcome.notes)
        problem = "; ".join(problems or notes) or None
        if problem or problems:
            connection.execute(update(events).where(events.c.id == event_id)
                               .values(status=status.value, problem=problem))
        return RecordResult(event_id, status, deliveries=delivery_ids, notes=notes)

    def _lock_rooms(self, connection: Connection, rooms: Sequence[str], now: datetime) -> dict[str, RoomState]:
        """The current state of ``rooms``, locked until the transaction ends.

        Rooms are created vacant first (ON CONFLICT DO NOTHING), so that PostgreSQL can
        lock a row even for a room never seen before. On SQLite the IMMEDIATE
        transaction already holds the database's write lock.
        """
        if not rooms:
            return {}
        table = RoomStateRow.__table__
        dialect_insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        for room in sorted(rooms):  # a fixed order, so two moves cannot deadlock
            connection.execute(
                dialect_insert(table)
                .values(room=room, state=RoomState(room=room).model_dump_json(), updated_at=now)
                .on_conflict_do_nothing(index_elements=["room"])
            )
        rows = connection.execute(
            select(table.c.room, table.c.state).where(table.c.room.in_(rooms)).order_by(table.c.room)
            .with_for_update()
        )
        return {room: RoomState.model_validate_json(state) for room, state in rows}

    def record_rejected(self, source: str, raw: str, problem: str, *, room: str | None = None) -> int:
        """Keep input that could not be understood, with the reason, for an operator to inspect.

        A rejected row never holds the source's idempotency key: when the sender retries
        after the cause was fixed (a corrected mapping), the retry must be applied, not
        answered as a duplicate of the rejection.
        """
        with Session(self.engine) as session:
            row = InboundEvent(received_at=self.clock(), source=source, raw=raw, room=room,
                               status=EventStatus.REJECTED, problem=problem)
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
        if source_key is not None:
            first = self._find_by_key(source, source_key)
            if first is not None:
                return RecordResult(first.id, EventStatus(first.status), duplicate=True)
        try:
            with Session(self.engine) as session:
                row = InboundEvent(source=source, source_key=source_key, raw=raw, room=room,
                                   status=EventStatus.NEEDS_ATTENTION, problem=problem)
                session.add(row)
                session.commit()
                event_id = row.id
        except IntegrityError:
            first = self._find_by_key(source, source_key) if source_key else None
            if first is None:
                raise
            return RecordResult(first.id, EventStatus(first.status), duplicate=True)
        log.warning("input from %s needs attention (event %s): %s", source, event_id, problem)
        return RecordResult(event_id, EventStatus.NEEDS_ATTENTION, notes=(problem,))

    def _find_by_key(self, source: str, source_key: str) -> InboundEvent | None:
        with Session(self.reader) as session:
            return session.execute(
                select(InboundEvent).where(InboundEvent.source == source, InboundEvent.source_key == source_key)
            ).scalars().first()

    # -- dispatch --------------------------------------------------------------------

    def claim_next(self, worker: str, *, limit: int = 8) -> ClaimedDelivery | None:
        """Claim the oldest due delivery whose rooms are free; None when there is none.

        The UPDATE repeats the conditions, so that of two workers racing for a row only
        one changes it; the loser moves on to the next candidate.
        """
        now = self.clock()
        table = Delivery.__table__
        guard = _delivery_claim_guard(table)
        claimable = [s.value for s in CLAIMABLE]
        with self.engine.begin() as connection:
            candidates = connection.execute(
                select(table.c.id)
                .where(table.c.state.in_(claimable), table.c.next_attempt_at <= now, guard)
                .order_by(table.c.id)
                .limit(limit)
            ).scalars().all()
            for delivery_id in candidates:
                claimed = connection.execute(
                    update(table)
                    .where(table.c.id == delivery_id, table.c.state.in_(claimable), guard)
                    .values(state=DeliveryState.IN_FLIGHT.value, claimed_by=worker, claimed_at=now,
                            attempts=table.c.attempts + 1)
                ).rowcount
                if claimed == 1:
                    row = connection.execute(select(table).where(table.c.id == delivery_id)).one()
                    return ClaimedDelivery(row.id, row.event_id, row.operation, row.room, row.target_room,
                                           json.loads(row.fields), row.attempts, row.created_at, row.uncertain)
        return None

    def next_due(self) -> datetime | None:
        """When the earliest claimable delivery becomes due (for the worker's sleep).

        Deliveries held behind an earlier one of their room are not counted: they become
        claimable when that one finishes, which wakes the worker anyway.
        """
        table = Delivery.__table__
        with Session(self.reader) as session:
            return session.execute(
                select(func.min(table.c.next_attempt_at))
                .where(table.c.state.in_([s.value for s in CLAIMABLE]), _delivery_claim_guard(table))
            ).scalar()

    def _finish(self, delivery_id: int, worker: str, **values) -> bool:
        table, room_states = Delivery.__table__, RoomStateRow.__table__
        with self.engine.begin() as connection:
            changed = connection.execute(
                update(table)
                .where(table.c.id == delivery_id, table.c.state == DeliveryState.IN_FLIGHT.value,
                       table.c.claimed_by == worker)
                .values(**values)
            ).rowcount
            if changed == 1 and values.get("state") == DeliveryState.DEAD:
                room = connection.execute(select(table.c.room).where(table.c.id == delivery_id)).scalar_one()
                connection.execute(
                    update(room_states).where(room_states.c.room == room)
                    .values(attention=f"delivery {delivery_id} is dead: {values.get('last_error')}")
                )
        if changed != 1:
            log.warning("delivery %s was no longer held by %s when its outcome arrived", delivery_id, worker)
        return changed == 1

    def mark_delivered(self, delivery_id: int, worker: str, *, request: str | None = None,
                       note: str | None = None) -> bool:
        return self._finish(delivery_id, worker, state=DeliveryState.DELIVERED, delivered_at=self.clock(),
                            request=request, last_error=note, last_status=0, uncertain=False)

    def mark_retry(self, delivery_id: int, worker: str, *, error: str, status: int | None, at: datetime,
                   request: str | None = None, uncertain: bool = False) -> bool:
        return self._finish(delivery_id, worker, state=DeliveryState.RETRYING, next_attempt_at=at,
                            last_error=error, last_status=status, request=request, uncertain=uncertain)

    def mark_dead(self, delivery_id: int, worker: str, *, error: str, status: int | None,
                  request: str | None = None) -> bool:
        log.error("delivery %s is dead: %s", delivery_id, error)
        return self._finish(delivery_id, worker, state=DeliveryState.DEAD, last_error=error, last_status=status,
                            request=request, uncertain=False)

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
        """Queue dead deliveries again (by id, by room or all); returns the ids queued."""
        ids = list(ids)
        if not (ids or room or all_dead):
            raise ValueError("say which deliveries to replay: ids, a room or all dead ones")
        with Session(self.engine) as session:
            query = select(Delivery.id).where(Delivery.state == DeliveryState.DEAD)
            if ids:
                query = query.where(Delivery.id.in_(ids))
            if room:
                query = query.where(or_(Delivery.room == room, Delivery.target_room == room))
            chosen = list(session.execute(query.order_by(Delivery.id)).scalars())
            if chosen:
                session.execute(
                    update(Delivery)
                    .where(Delivery.id.in_(chosen), Delivery.state == DeliveryState.DEAD)
                    .values(state=DeliveryState.PENDING, next_attempt_at=self.clock(), attempts=0,
                            created_at=self.clock(), claimed_by=None)
                )
                for room_name in {session.get(Delivery, i).room for i in chosen}:
                    state_row = session.get(RoomStateRow, room_name)
                    if state_row is not None:
                        state_row.attention = None
                        session.add(state_row)
                session.add(AuditEntry(actor=actor, action="replay", room=room,
                                       detail=f"deliveries {', '.join(map(str, chosen))}"))
            session.commit()
        if chosen:
            self._listeners.fire()
        return chosen

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

    def enqueue_repair(self, room: str, operations: Sequence[PbxOperation], *, based_on: RoomState,
                       actor: str = "reconcile", reason: str | None = None) -> tuple[int, ...]:
        """Queue ``operations`` that bring ``room``'s extension back to its desired state, as
        deliveries without an inbound event, so that order, pacing and retries apply.

        ``based_on`` is the desired state the operations were worked out from. Nothing is
        queued, and () returned, when the room's desired state is no longer that (an event
        changed it meanwhile) or the room has open deliveries: a repair for a state that
        is gone would undo the newer one.
        """
        if any(op.room != room or op.target_room is not None for op in operations):
            raise ValueError(f"a repair of room {room} can only hold operations on that room alone")
        if not operations:
            return ()
        now = self.clock()
        deliveries, audit = Delivery.__table__, AuditEntry.__table__
        with self._record_lock, self.engine.connect() as connection, connection.begin() as transaction:
            state = self._lock_rooms(connection, [room], now)[room]
            busy = connection.execute(
                select(literal(1)).where(or_(deliveries.c.room == room, deliveries.c.target_room == room),
                                         deliveries.c.state.in_([s.value for s in OPEN_STATES])).limit(1)
            ).first()
            if state != based_on or busy is not None:
                transaction.rollback()
                return ()
            ids = tuple(
                connection.execute(
                    insert(deliveries).returning(deliveries.c.id),
                    dict(event_id=None, created_at=now, next_attempt_at=now, operation=operation.operation, room=room,
                         target_room=None, fields=json.dumps(operation.fields, sort_keys=True),
                         state=DeliveryState.PENDING.value, attempts=0, uncertain=False),
                ).scalar_one()
                for operation in operations
            )
            summary = ", ".join(op.operation for op in operations)
            connection.execute(insert(audit), dict(at=now, actor=actor, action="repair", room=room,
                                                   detail=f"{reason}: {summary}" if reason else summary))
        self._listeners.fire()
        return ids

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
        with Session(self.engine) as session:
            row = session.get(LedgerValue, name) or LedgerValue(name=name, value=value)
            row.value, row.updated_at = value, utcnow()
            session.add(row)
            session.commit()
