"""Fetch-and-diff: a reservation as the PMS holds it now, compared with what the ledger knows.

Cloud PMSs say *that* a reservation changed, not how. Each adapter turns the reservation it
fetched into a ``Stay`` (in house or not, its room, its guest); ``stay_events`` compares that
with the ledger's room states and returns the events that make them agree:

================================  ==========================  ==============================
the PMS says                      the ledger has it           events
================================  ==========================  ==============================
in house in room R                nowhere                     CheckIn R (shared if occupied)
in house in room R                in room Q                   RoomMove Q -> R, with the guest
in house in room R                in room R, other data       GuestChange R
in house in room R                in room R, same data        none
not in house (out, canceled...)   in room Q                   CheckOut Q of that reservation
not in house                      nowhere                     none (a cancel or no-show)
================================  ==========================  ==============================

Because the PMS's current record is the input, a duplicated or late notification finds the
ledger already in agreement and changes nothing, and notifications in any order end in the
same state. A guest in house without a room (not possible in the three PMSs, but a record
may say so) leaves the ledger as it is.

``in_house_collector`` gathers a full in-house list for the resync, planned by the FIAS swap's
code (``swap.plan_swap``) with its mass-checkout guard; a stay it cannot use is handed back, so
that the room holding that reservation is left out of the comparison instead of checked out.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from pmsbridge.adapters.fias.swap import SwapCollector
from pmsbridge.events import CheckIn, CheckOut, Event, Guest, GuestChange, RoomMove
from pmsbridge.rooms import RoomState, needs_change


@dataclass(frozen=True)
class Stay:
    """One reservation as the PMS holds it: ``guest.reservation`` is its id (required)."""

    guest: Guest
    in_house: bool
    room: str | None
    raw: str
    """The PMS's record, as fetched (kept with the events it causes)."""

    @property
    def reservation(self) -> str:
        return self.guest.reservation or ""


def where_is(states: Mapping[str, RoomState], reservation: str) -> tuple[str, Guest] | None:
    """The room holding ``reservation`` in the ledger, and its guest there; None when no room does."""
    for room, state in states.items():
        for guest in state.reservations:
            if guest.reservation == reservation:
                return room, guest
    return None


def stay_events(states: Mapping[str, RoomState], stay: Stay, *, source: str, now_utc: datetime) -> list[Event]:
    """The events that bring the ledger's rooms to ``stay``; see the module docstring's table."""
    if not stay.reservation:
        raise ValueError("a stay without a reservation id cannot be compared with the ledger")
    held = where_is(states, stay.reservation)
    stamp = {"source": source, "occurred_at": now_utc}
    if not stay.in_house:
        return [CheckOut(**stamp, room=held[0], reservation=stay.reservation)] if held else []
    if stay.room is None:
        return []
    if held is None:
        occupied = stay.room in states and states[stay.room].occupied
        return [CheckIn(**stamp, room=stay.room, guest=stay.guest, shared=occupied)]
    room, guest = held
    if room != stay.room:
        return [RoomMove(**stamp, room=stay.room, from_room=room, reservation=stay.reservation, guest=stay.guest)]
    return [GuestChange(**stamp, room=room, guest=stay.guest)] if needs_change(guest, stay.guest) else []


def in_house_collector(stays: Iterable[Stay], *, source: str,
                       now_utc: datetime) -> tuple[SwapCollector, list[tuple[Stay, str]]]:
    """The in-house list of a resync: every stay in house with a room, as the swap collects check-ins.

    Also the stays that cannot be events (a room name that is no room number...), with why: the
    caller keeps them out of the comparison rather than check their guests out.
    """
    collector = SwapCollector()
    unusable: list[tuple[Stay, str]] = []
    listed: set[str] = set()
    for stay in stays:
        if not stay.in_house or stay.room is None:
            continue
        try:
            event = CheckIn(source=source, room=stay.room, occurred_at=now_utc, guest=stay.guest,
                            shared=stay.room in listed)
        except ValidationError as err:
            unusable.append((stay, str(err.errors()[0]["msg"])))
            continue
        collector.add(event, stay.raw)
        listed.add(stay.room)
    return collector, unusable
