"""The database swap (resync): collect the PMS's in-house list between DS and DE, then plan.

The PMS answers a DR with DS, one GI with SF per in-house guest, and DE. Live records may
be mixed in. Between DS and DE every guest record goes into a ``SwapCollector``, which
keeps the in-house list the records describe, the last record for a room or reservation
winning:

- a check-in (GI, with or without SF) of a reservation already listed replaces it (and
  removes it from any other room: a reservation is in one room); a new reservation with
  GS=Y joins the room; one without it replaces the room's guests;
- a checkout (GO) removes its reservation, or empties the room without one;
- a guest change (GC) updates the listed guest; a move (GC with RO) moves it. Either,
  for a guest not (yet) listed, is left out: the swap resends every in-house guest, and
  a record sent later is the newer one.

At DE, ``plan_swap`` compares the list with the ledger's room states
(``rooms.reconcile_in_house``) and returns exactly the events that make them agree, none
when they match. A plan that would leave more than ``guard`` of the occupied rooms vacant
is marked held: a truncated swap must not check out the hotel. The adapter stores a held
plan (``held_to_json``) until an operator confirms or discards it.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pmsbridge.adapters.fias.moves import PendingEvent
from pmsbridge.events import CheckIn, CheckOut, Event, Guest, GuestChange, RoomMove, parse_event
from pmsbridge.rooms import RoomState, reconcile_in_house

HELD_SWAP_KEY = "resync.held.fias"
"""The ledger value holding a swap plan waiting for an operator (JSON, or empty)."""

# The raw text kept with the checkout of a room the swap did not list.
_NOT_LISTED = "database swap: room {room} is not in the in-house list"


def _merge(current: Guest, change: Guest) -> Guest:
    updates = {name: value for name, value in dict(change).items() if value is not None and name != "primary"}
    return Guest(**{**dict(current), **updates})


def _position(guests: Sequence[Guest], reservation: str | None) -> int | None:
    for index, guest in enumerate(guests):
        if guest.reservation == reservation:
            return index
    return None


class SwapCollector:
    """The in-house list of one database swap, built record by record (see the module docstring)."""

    def __init__(self) -> None:
        self._rooms: dict[str, list[Guest]] = {}
        # Reservation -> the rooms a guest of it was placed in (some may have lost it since):
        # a check-in looks there for the reservation's earlier room, not through every room.
        self._placed: dict[str, set[str]] = {}
        self._raws: dict[str, list[str]] = {}
        self.records = 0
        self.notes: list[str] = []

    @property
    def in_house(self) -> dict[str, list[Guest]]:
        """Room -> its in-house guests (an empty list: the room was emptied by a live GO)."""
        return {room: list(guests) for room, guests in self._rooms.items()}

    def raw_for(self, room: str) -> str | None:
        """The records that described ``room`` during the swap, one per line."""
        raws = self._raws.get(room)
        return "\n".join(raws) if raws else None

    def add(self, event: Event, raw: str) -> None:
        """Take a guest event (CheckIn, CheckOut, GuestChange, RoomMove) received during the swap.

        Raises ValueError for any other kind: the adapter handles those itself.
        """
        self.records += 1
        if isinstance(event, CheckIn):
            self._check_in(event.room, event.guest, event.shared)
        elif isinstance(event, CheckOut):
            self._check_out(event.room, event.reservation)
        elif isinstance(event, GuestChange):
            self._change(event.room, event.guest)
        elif isinstance(event, RoomMove):
            self._move(event)
        else:
            raise ValueError(f"a {event.kind} event is not part of an in-house list")
        for room in (event.room, getattr(event, "from_room", None)):
            if room is not None:
                self._raws.setdefault(room, []).append(raw)

    def _check_in(self, room: str, guest: Guest, shared: bool) -> None:
        if guest.reservation is not None:
            for other in self._placed.get(guest.reservation, set()) - {room}:
                guests = self._rooms[other]
                guests[:] = [listed for listed in guests if listed.reservation != guest.reservation]
            self._placed[guest.reservation] = {room}
        guests = self._rooms.setdefault(room, [])
        index = _position(guests, guest.reservation)
        if index is not None:
            guests[index] = guest
        elif shared:
            guests.append(guest)
        else:
            guests[:] = [guest]

    def _check_out(self, room: str, reservation: str | None) -> None:
        guests = self._rooms.setdefault(room, [])
        if reservation is None:
            guests.clear()
        else:
            guests[:] = [listed for listed in guests if listed.reservation != reservation]

    def _change(self, room: str, guest: Guest) -> None:
        guests = self._rooms.get(room, [])
        index = _position(guests, guest.reservation) if guest.reservation is not None else (0 if guests else None)
        if index is None:
            self.notes.append(f"room {room}: guest change for a guest not (yet) in the swap left out")
            return
        guests[index] = merged = _merge(guests[index], guest)
        if merged.reservation is not None:
            self._placed.setdefault(merged.reservation, set()).add(room)

    def _move(self, move: RoomMove) -> None:
        source = self._rooms.get(move.from_room, [])
        reservation = move.reservation or (move.guest.reservation if move.guest else None)
        if reservation is None:
            moving, source[:] = list(source), []
        else:
            moving = [guest for guest in source if guest.reservation == reservation]
            source[:] = [guest for guest in source if guest.reservation != reservation]
        if not moving:
            if move.guest is None:
                self.notes.append(f"room {move.from_room}: move to {move.room} of a guest not in the swap left out")
                return
            moving = [move.guest]
        elif move.guest is not None:
            moving[0] = _merge(moving[0], move.guest)
        for guest in moving:
            self._check_in(move.room, guest, shared=True)


@dataclass(frozen=True)
class SwapPlan:
    """The events a completed swap calls for, and whether the guard holds them back."""

    events: tuple[PendingEvent, ...]
    occupied: int
    """Rooms occupied in the ledger before the swap."""
    vacated: int
    """Of those, rooms the swap would leave vacant."""
    held: bool
    records: int = 0
    computed_at: dt.datetime | None = None

    @property
    def reason(self) -> str:
        """Why the plan is held, for the status line and the log."""
        return (
            f"database swap held: would check out {self.vacated} of {self.occupied} occupied rooms; "
            "confirm with `pmsbridge resync --confirm`"
        )


def plan_swap(
    current: Mapping[str, RoomState],
    collector: SwapCollector,
    *,
    source: str,
    now_utc: dt.datetime,
    guard: float,
) -> SwapPlan:
    """The events that bring ``current`` (the ledger's rooms) to the collected in-house list.

    Held when the occupied rooms it would leave vacant exceed the share ``guard`` of all
    occupied rooms (``guard`` 1 never holds).
    """
    in_house = collector.in_house
    events = reconcile_in_house(current, in_house, source, now_utc)
    occupied = [room for room, state in current.items() if state.occupied]
    vacated = [room for room in occupied if not in_house.get(room)]
    held = bool(occupied) and len(vacated) / len(occupied) > guard
    pending = tuple(
        PendingEvent(event, collector.raw_for(event.room) or _NOT_LISTED.format(room=event.room))
        for event in events
    )
    return SwapPlan(pending, len(occupied), len(vacated), held, collector.records, now_utc)


def held_to_json(plan: SwapPlan) -> str:
    """A held plan as the JSON kept in the ledger value ``HELD_SWAP_KEY``."""
    return json.dumps(
        {
            "computed_at": plan.computed_at.isoformat() if plan.computed_at else None,
            "occupied": plan.occupied,
            "would_check_out": plan.vacated,
            "records": plan.records,
            "events": [{"event": item.event.model_dump(mode="json"), "raw": item.raw} for item in plan.events],
        },
        ensure_ascii=False,
    )


def held_from_json(text: str | None) -> SwapPlan | None:
    """The held plan in a ledger value, or None when the value is absent or empty."""
    if not text:
        return None
    data = json.loads(text)
    events = tuple(PendingEvent(parse_event(item["event"]), item["raw"]) for item in data["events"])
    computed_at = dt.datetime.fromisoformat(data["computed_at"]) if data.get("computed_at") else None
    return SwapPlan(events, data["occupied"], data["would_check_out"], True, data.get("records", 0), computed_at)
