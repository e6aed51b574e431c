"""Wake-ups at risk: due soon, and not confirmed by the PBX.

A wake-up that rings within the next ``RISK_WINDOW`` (30 minutes) is *at risk* when the PBX
has not confirmed it: the room's confirmed PBX state (``RoomBooks.confirmed``: what the PBX
acknowledged, corrected by reconciliation reads) does not hold it, or does not have the
room checked in at all. The board shows such a room red, the status page names it,
``/metrics`` counts it and ``/healthz`` fails with a reason naming it, so that a hotel
learns of a wake-up call that will not ring while there is still time to call the guest.

Pure: no I/O and no clock. Times are the hotel's naive local time, as in room states.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from pmsbridge.rooms import PbxRoom, RoomState, Wakeup

RISK_WINDOW = timedelta(minutes=30)


class Books(Protocol):
    """What the computation needs of a room's books (``pmsbridge.ledger.store.RoomBooks``)."""

    state: RoomState
    confirmed: PbxRoom


@dataclass(frozen=True)
class WakeupAtRisk:
    """A wake-up of ``room`` that rings at ``rings_at`` and that the PBX has not confirmed."""

    room: str
    rings_at: datetime
    vacant_on_pbx: bool

    @property
    def reason(self) -> str:
        if self.vacant_on_pbx:
            return "not confirmed by the phone system (it has the room vacant)"
        return "not confirmed by the phone system"

    def __str__(self) -> str:
        return f"room {self.room} {self.rings_at:%H:%M} {self.reason}"


def next_ring(wakeup: Wakeup, now: datetime) -> datetime | None:
    """When ``wakeup`` rings next, at ``now`` or later; None for a single one that has passed.
    A daily wake-up rings every day at its time of day from its first day on."""
    at = wakeup.at
    if wakeup.daily and at < now:
        at = datetime.combine(now.date(), at.time())
        if at < now:
            at += timedelta(days=1)
    return at if at >= now else None


def next_wakeup(wakeups: Iterable[Wakeup], now: datetime) -> datetime | None:
    """The next time one of ``wakeups`` rings."""
    return min((at for wakeup in wakeups if (at := next_ring(wakeup, now)) is not None), default=None)


def _confirmed(wakeup: Wakeup, held: PbxRoom) -> bool:
    # A daily wake-up is the same order whatever day it was first set for.
    if wakeup.daily:
        return any(other.daily and other.at.time() == wakeup.at.time() for other in held.wakeups)
    return any(not other.daily and other.at == wakeup.at for other in held.wakeups)


def room_wakeups_at_risk(room: str, state: RoomState, confirmed: PbxRoom, now: datetime,
                         window: timedelta = RISK_WINDOW) -> list[WakeupAtRisk]:
    """The wake-ups of ``state`` that ring within ``window`` of ``now`` and that ``confirmed``
    (what the PBX acknowledged) lacks, soonest first."""
    found = []
    for wakeup in state.wakeups:
        rings_at = next_ring(wakeup, now)
        if rings_at is None or rings_at > now + window:
            continue
        if not confirmed.checked_in or not _confirmed(wakeup, confirmed):
            found.append(WakeupAtRisk(room, rings_at, vacant_on_pbx=not confirmed.checked_in))
    return sorted(found, key=lambda risk: risk.rings_at)


def wakeups_at_risk(books: Mapping[str, Books], now: datetime,
                    window: timedelta = RISK_WINDOW) -> list[WakeupAtRisk]:
    """Every room's wake-ups at risk (see ``room_wakeups_at_risk``), soonest first, then by room."""
    found = [risk for room, book in books.items()
             for risk in room_wakeups_at_risk(room, book.state, book.confirmed, now, window)]
    return sorted(found, key=lambda risk: (risk.rings_at, risk.room))
