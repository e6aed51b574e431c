"""Snapshot files: the PMS's full in-house list, compared with the ledger's rooms.

A snapshot is the file-drop twin of the FIAS database swap, and is planned by the same code
(``pmsbridge.adapters.fias.swap``): its rows are collected as an in-house list, compared
with the ledger's room states through ``rooms.reconcile_in_house``, and the plan is held
when it would leave more than ``snapshot_checkout_guard`` of the occupied rooms vacant. A
held plan is kept in the ledger value ``resync.held.csvdrop`` in the FIAS swap's JSON shape
(``swap.held_to_json``) until an operator confirms or discards it.

A snapshot never checks out the hotel by accident:

- the reader refuses a file without its trailer line or whose row count disagrees with it
  (a file cut short), and this module refuses one that lists no guest at all;
- a row that cannot be read but names a readable room leaves that room as it is (neither
  compared nor changed); a row without a readable room makes the whole file rejected,
  since the guest it describes could otherwise be checked out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pmsbridge.adapters.csvdrop.reader import CsvRow, DropFile, FileRejected
from pmsbridge.adapters.csvdrop.rows import RowReader, RowRejected
from pmsbridge.adapters.fias.moves import PendingEvent
from pmsbridge.adapters.fias.swap import SwapCollector, SwapPlan, plan_swap
from pmsbridge.events import CheckIn, Guest
from pmsbridge.rooms import RoomState

HELD_SNAPSHOT_KEY = "resync.held.csvdrop"
"""The ledger value holding a snapshot plan waiting for an operator (JSON, or empty)."""


@dataclass
class SnapshotReading:
    """What a snapshot's rows say: the in-house list, and the rows that could not be read."""

    collector: SwapCollector = field(default_factory=SwapCollector)
    kept_rooms: set[str] = field(default_factory=set)
    """Rooms left as they are because one of their rows was rejected."""
    rejected: list[tuple[CsvRow, str]] = field(default_factory=list)


def read_snapshot(drop: DropFile, rows: RowReader, *, source: str, now_utc: datetime) -> SnapshotReading:
    """Collect a snapshot's rows; raises ``FileRejected`` when applying it could vacate rooms wrongly."""
    if not drop.rows:
        raise FileRejected("the snapshot lists no guest: an empty in-house list is never applied")
    reading = SnapshotReading()
    guests: list[tuple[str, CsvRow, Guest]] = []
    for row in drop.rows:
        try:
            room = rows.room(row)
        except RowRejected as err:
            raise FileRejected(
                f"line {row.line}: {err}; without its room the snapshot could check its guest out"
            ) from None
        try:
            if row.problem is not None:
                raise RowRejected(row.problem)
            guests.append((room, row, rows.guest(row)))
        except RowRejected as err:
            reading.kept_rooms.add(room)
            reading.rejected.append((row, str(err)))
    listed: set[str] = set()
    for room, row, guest in guests:
        if room in reading.kept_rooms:
            continue
        reading.collector.add(
            CheckIn(source=source, room=room, occurred_at=now_utc, guest=guest, shared=room in listed), row.raw
        )
        listed.add(room)
    if not listed:
        raise FileRejected("no row of the snapshot could be read")
    return reading


def plan_snapshot(current: Mapping[str, RoomState], reading: SnapshotReading, *, file_name: str, source: str,
                  now_utc: datetime, guard: float) -> SwapPlan:
    """The events that bring the ledger's rooms (less the kept ones) to the snapshot; held past ``guard``."""
    compared = {room: state for room, state in current.items() if room not in reading.kept_rooms}
    plan = plan_swap(compared, reading.collector, source=source, now_utc=now_utc, guard=guard)
    events = tuple(
        pending if reading.collector.raw_for(pending.event.room) is not None
        else PendingEvent(pending.event, f"snapshot {file_name}: room {pending.event.room} is not in the in-house list")
        for pending in plan.events
    )
    return dataclasses.replace(plan, events=events)


def held_reason(plan: SwapPlan) -> str:
    """Why a snapshot is held, for the status line, the log and the audit entry."""
    return (f"snapshot held: would check out {plan.vacated} of {plan.occupied} occupied rooms; "
            "confirm with `pmsbridge resync --confirm`")
