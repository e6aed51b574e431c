"""The room board's rows: one ``RoomLine`` per room, from the ledger and the cached PBX view.

The rooms shown are those the configuration names plus every room the ledger has a state
for. Reading them costs three queries (room states, open and dead deliveries by room, by
move destination) whatever the hotel's size, and no PBX request: line status comes from
the ``ExtensionStatusCache`` sweep.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import get_locale, gettext
from sqlalchemy import func, select
from sqlmodel import Session

from pmsbridge.extension_status import ExtensionStatus
from pmsbridge.ledger.dead_letters import phantom_problem
from pmsbridge.ledger.models import OPEN_STATES, Delivery, DeliveryState, RoomStateRow
from pmsbridge.ledger.store import Ledger, RoomBooks
from pmsbridge.mapping import RoomMapping
from pmsbridge.rooms import RoomState
from pmsbridge.wakeup_risk import WakeupAtRisk, next_wakeup, room_wakeups_at_risk
from pmsbridge.web.differences import pbx_differences
from pmsbridge.web.formatting import local_time
from pmsbridge.web.labels import DRIFT_KINDS, label, wakeup_risk_reason

_NUMBER_PARTS = re.compile(r"(\d+)")
# Wake-up times are naive hotel time already: no zone to convert from.
HOTEL_TIME = ZoneInfo("UTC")


def room_sort_key(room: str) -> tuple:
    """Natural order: 99 < 101 < 1001, A2 < A10."""
    if room.isdigit():
        return ((0, int(room), room),)
    return tuple((0, int(part), part) if part.isdigit() else (1, 0, part)
                 for part in _NUMBER_PARTS.split(room) if part)


def floor_of(room: str) -> str:
    """The floor of a numbered room (all but the last two digits: 101 -> 1, 1204 -> 12); "" otherwise."""
    if room.isdigit() and len(room) >= 3:
        return str(int(room[:-2]))
    return ""


@dataclass(frozen=True)
class QueueCounts:
    pending: int = 0
    dead: int = 0


@dataclass(frozen=True)
class RoomLine:
    """Everything the board shows of a room (the derived values are computed once: a board
    of a thousand rooms reads each several times while it renders)."""

    room: str
    extension: str | None
    state: RoomState
    line: ExtensionStatus | None
    queue: QueueCounts
    attention: str | None
    next_wakeup: datetime | None
    drift: Sequence[Any] = field(default_factory=tuple)
    degraded: str | None = None  # what the room lacks because the PBX refused it ("checked in without VIP...")
    differences: tuple[str, ...] = ()  # how the PBX will fall short of the desired state, in words
    wakeups_at_risk: tuple[WakeupAtRisk, ...] = ()  # due soon, not confirmed by the PBX
    phantom: bool = False  # a room the hotel does not have, known from input before the door checks

    @cached_property
    def floor(self) -> str:
        return floor_of(self.room)

    @cached_property
    def guests(self) -> list[str]:
        return [guest.display_name or "(no name)" for guest in self.state.reservations]

    @cached_property
    def language(self) -> str:
        guest = self.state.displayed_guest
        return (guest.language or "") if guest else ""

    @cached_property
    def vip(self) -> str:
        guest = self.state.displayed_guest
        return (guest.vip or "") if guest else ""

    @cached_property
    def problems(self) -> list[str]:
        """What is wrong with the room, in words (dead deliveries are counted apart, in ``queue``)."""
        found = []
        if self.phantom:
            found.append(gettext("not one of the hotel's rooms"))
        if self.attention:
            found.append(self.attention)
        found.extend(self.differences)
        for risk in self.wakeups_at_risk:
            rings_at = local_time(risk.rings_at, HOTEL_TIME, get_locale(), "time")
            found.append(gettext("wake-up at risk: %(time)s %(reason)s", time=rings_at,
                                 reason=wakeup_risk_reason(risk)))
        if self.drift:
            kinds = ", ".join(sorted({label(DRIFT_KINDS, drift.kind) for drift in self.drift}))
            found.append(gettext("the PBX differs: %(kinds)s", kinds=kinds))
        if self.line is not None and self.line.out_of_service:
            found.append(gettext("out of service"))
        return found

    @cached_property
    def needs_attention(self) -> bool:
        return bool(self.queue.dead or self.problems)

    @cached_property
    def search_text(self) -> str:
        return " ".join([self.room, self.extension or "", *self.guests]).lower()

    @cached_property
    def css(self) -> str:
        classes = ["occupied" if self.state.occupied else "vacant"]
        if self.wakeups_at_risk:
            classes.append("wakeup-risk")
        if self.needs_attention:
            classes.append("problem")
        elif self.queue.pending:
            classes.append("pending")
        elif self.degraded:
            classes.append("degraded")
        return " ".join(classes)


@dataclass(frozen=True)
class BoardSummary:
    rooms: int
    occupied: int
    problems: int
    pending: int
    wakeups_at_risk: int


def queue_counts(ledger: Ledger, room: str | None = None) -> dict[str, QueueCounts]:
    """Open and dead deliveries per room (or of ``room`` only), a move's counting for both of its rooms."""
    open_states = [state.value for state in OPEN_STATES]
    counted = [*open_states, DeliveryState.DEAD.value]
    pending: Counter[str] = Counter()
    dead: Counter[str] = Counter()
    with Session(ledger.reader) as session:
        for column in (Delivery.room, Delivery.target_room):
            query = (select(column, Delivery.state, func.count(Delivery.id))
                     .where(Delivery.state.in_(counted), column.is_not(None))
                     .group_by(column, Delivery.state))
            if room is not None:
                query = query.where(column == room)
            rows = session.execute(query)
            for room, state, count in rows:
                (dead if state == DeliveryState.DEAD else pending)[room] += count
    return {room: QueueCounts(pending[room], dead[room]) for room in pending.keys() | dead.keys()}


def room_rows(ledger: Ledger, rooms: Iterable[str] | None = None) -> dict[str, RoomStateRow]:
    with Session(ledger.reader) as session:
        query = select(RoomStateRow)
        if rooms is not None:
            query = query.where(RoomStateRow.room.in_(list(rooms)))
        return {row.room: row for row in session.execute(query).scalars()}


def room_line(room: str, row: RoomStateRow | None, *, mapping: RoomMapping,
              statuses: Mapping[str, ExtensionStatus], queue: Mapping[str, QueueCounts],
              drift: Mapping[str, Sequence[Any]], now: datetime, phantom: bool = False) -> RoomLine:
    books = RoomBooks.from_row(row.state, row.confirmed, row.expected, row.refused) if row is not None else None
    state = books.state if books is not None else RoomState(room=room)
    extension = mapping.extension(room)
    return RoomLine(
        room=room,
        extension=extension,
        state=state,
        line=statuses.get(extension) if extension else None,
        queue=queue.get(room, QueueCounts()),
        attention=row.attention if row is not None else None,
        next_wakeup=next_wakeup(state.wakeups, now),
        drift=tuple(drift.get(room, ())),
        degraded=row.degraded if row is not None else None,
        differences=tuple(pbx_differences(books.expected, books.target)) if books is not None and books.differs
        else (),
        wakeups_at_risk=tuple(room_wakeups_at_risk(room, books.state, books.confirmed, now)) if books is not None
        else (),
        phantom=phantom,
    )


def board_lines(ledger: Ledger, mapping: RoomMapping, configured: Iterable[str],
                statuses: Mapping[str, ExtensionStatus], drift: Mapping[str, Sequence[Any]],
                now: datetime) -> list[RoomLine]:
    """Every room's line, in natural room order. ``now`` is hotel local time."""
    rows = room_rows(ledger)
    queue = queue_counts(ledger)
    rooms = sorted(set(configured) | rows.keys(), key=room_sort_key)
    return [room_line(room, rows.get(room), mapping=mapping, statuses=statuses, queue=queue, drift=drift, now=now,
                      phantom=room in rows and phantom_problem(ledger, room) is not None)
            for room in rooms]


def summarise(lines: Sequence[RoomLine]) -> BoardSummary:
    return BoardSummary(
        rooms=len(lines),
        occupied=sum(1 for line in lines if line.state.occupied),
        problems=sum(1 for line in lines if line.needs_attention),
        pending=sum(1 for line in lines if line.queue.pending),
        wakeups_at_risk=sum(1 for line in lines if line.wakeups_at_risk),
    )
