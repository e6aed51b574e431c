"""Room moves sent as a checkout plus a check-in: recognised and turned into one ``RoomMove``.

Room-based PMSs often express a move as ``GO`` from the old room and ``GI`` into the new
one, in either order, instead of a ``GC`` with ``RO``. Taken literally that is a checkout
(after which the PBX forgets the room's wake-ups and DND) and a check-in. When both
records name the same reservation (``G#``), follow each other directly and arrive within
``window`` seconds, they are one move, and the ledger records one ``RoomMove`` from the
old room into the new, so wake-ups, DND and the class of service go along.

So a checkout or check-in with a reservation id is held back until the next event: if
that is its other half, the two become the move; anything else, or the window passing,
releases the held event unchanged, before that next event, so the order of events is
kept. The move carries the check-in's guest data, which is newer than the old room's.
Records without ``G#`` are never paired or held: without an id nothing says the two
guests are one.

Pure: the caller passes a monotonic ``now`` and records what comes back, in order.
"""

from __future__ import annotations

from dataclasses import dataclass

from pmsbridge.events import CheckIn, CheckOut, Event, RoomMove


@dataclass(frozen=True)
class PendingEvent:
    """An event to record, with the raw FIAS text it came from."""

    event: Event
    raw: str


def _reservation(event: Event) -> str | None:
    if isinstance(event, CheckOut):
        return event.reservation
    if isinstance(event, CheckIn):
        return event.guest.reservation
    return None


class MovePairing:
    """Pairs GO + GI (either order) of one reservation into a ``RoomMove``; see the module docstring.

    ``window`` 0 turns pairing off: every event passes through at once.
    """

    def __init__(self, window: float) -> None:
        if window < 0:
            raise ValueError(f"the pairing window cannot be negative ({window})")
        self.window = window
        self._held: PendingEvent | None = None
        self._held_at = 0.0

    @property
    def held(self) -> PendingEvent | None:
        """The checkout or check-in waiting for its other half, if any."""
        return self._held

    def offer(self, event: Event, raw: str, now: float) -> list[PendingEvent]:
        """Take the next event; return what is to be recorded now, in order."""
        if self._held is not None and now - self._held_at <= self.window:
            move = self._pair(self._held, PendingEvent(event, raw))
            if move is not None:
                self._held = None
                return [move]
        ready = self.release()
        if self.window > 0 and _reservation(event) is not None:
            self._held, self._held_at = PendingEvent(event, raw), now
            return ready
        return [*ready, PendingEvent(event, raw)]

    def due(self, now: float) -> list[PendingEvent]:
        """The held event once its window has passed (to be recorded), else nothing."""
        if self._held is not None and now - self._held_at > self.window:
            return self.release()
        return []

    def release(self) -> list[PendingEvent]:
        """Give up waiting: the held event, if any, is to be recorded as it is."""
        held, self._held = self._held, None
        return [held] if held is not None else []

    @staticmethod
    def _pair(first: PendingEvent, second: PendingEvent) -> PendingEvent | None:
        """The move two adjacent events make, or None when they are not two halves of one."""
        kinds = {type(first.event), type(second.event)}
        if kinds != {CheckIn, CheckOut} or _reservation(first.event) != _reservation(second.event):
            return None
        checkout, checkin = (first, second) if isinstance(first.event, CheckOut) else (second, first)
        if checkout.event.room == checkin.event.room:
            return None
        move = RoomMove(
            source=checkin.event.source,
            room=checkin.event.room,
            from_room=checkout.event.room,
            reservation=checkout.event.reservation,
            guest=checkin.event.guest,
            occurred_at=second.event.occurred_at,
        )
        return PendingEvent(move, f"{first.raw}\n{second.raw}")
