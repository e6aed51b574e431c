"""How dead deliveries end: what an operator does with them, from the web interface or the
command line, each step audited.

- *Replay*: ``Ledger.replay`` queues the same operation again, and behind it what the room
  still lacks.
- *Replay with corrected guest data* (``correct_guest``): the correction is recorded as a
  guest change, like any event, and the room's dead deliveries end as replaced by it. The
  order matters: the guest change is planned against what the PBX confirmed (a dead check-in
  left the room "wanted occupied, PBX vacant"), so it already queues everything the room
  lacks, with the corrected data. Replaying the dead delivery itself would send its old data
  first, and the PBX would refuse it again.
- *Dismiss* (``dismiss_and_reconcile``): the dead deliveries end with the operator's note,
  then the reconciler looks at each room on the PBX and queues what it lacks, so the room
  ends as desired (or the operator learns why not).
- *Resend* (``resend_room``): queue what a room lacks, from what the PBX confirmed.
- *Remove a phantom room* (``remove_phantom_room``): a room the hotel does not have, left
  by input from before rooms were checked at the door.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pmsbridge.events import GuestChange
from pmsbridge.ledger.models import OPEN_STATES, DeliveryState, EventStatus
from pmsbridge.ledger.store import Ledger, RecordResult
from pmsbridge.pbx.errors import PbxError

if TYPE_CHECKING:
    from pmsbridge.reconcile.reconciler import Reconciler

# The operations that carry the guest's data (see pmsbridge.rooms.PbxOperation).
GUEST_OPERATIONS = frozenset({"checkin", "update", "mov"})


class OperatorRefused(ValueError):
    """Raised when an operator's request on dead deliveries or a room cannot be carried out;
    the message says why and what to do instead."""


@dataclass(frozen=True)
class RoomRepair:
    """What looking at ``room`` on the PBX found: the repair deliveries queued, else why
    none (the reconciler's ``note``, the PBX's ``error``, or a bridge that does not
    ``reconcile``). ``str()`` says it in a sentence; the web interface words it itself."""

    room: str
    deliveries: tuple[int, ...] = ()
    note: str | None = None
    error: str | None = None
    reconciles: bool = True

    @property
    def category(self) -> str:
        """How the operator is told: "ok" (repair queued), "warn" (nothing queued), "error"."""
        return "error" if self.error is not None else "ok" if self.deliveries else "warn"

    def __str__(self) -> str:
        if not self.reconciles:
            return f"Room {self.room}: this bridge does not reconcile; resend the room to send what the PBX lacks."
        if self.error is not None:
            return f"Room {self.room}: the PBX could not be read ({self.error}); nothing was repaired."
        if self.deliveries:
            return f"Room {self.room}: repair queued (deliveries {', '.join(map(str, self.deliveries))})."
        return f"Room {self.room}: {self.note}."


@dataclass(frozen=True)
class Dismissal:
    """What ``dismiss_and_reconcile`` did: the deliveries dismissed, and per room what the
    reconciliation found."""

    dismissed: tuple[int, ...]
    reconciled: dict[str, RoomRepair]


@dataclass(frozen=True)
class Correction:
    """What ``correct_guest`` did: the guest change's record, and the dead deliveries it replaced."""

    result: RecordResult
    replaced: tuple[int, ...]


def has_open_deliveries(ledger: Ledger, room: str) -> bool:
    return any(ledger.deliveries(state=state.value, room=room, limit=1) for state in OPEN_STATES)


def repair_room(reconciler: Reconciler | None, room: str, *, actor: str) -> RoomRepair:
    """Have the reconciler look at ``room`` on the PBX now and queue what it lacks."""
    if reconciler is None:
        return RoomRepair(room, reconciles=False)
    try:
        outcome = reconciler.repair(room, actor=actor)
    except PbxError as err:
        return RoomRepair(room, error=str(err))
    return RoomRepair(room, deliveries=tuple(outcome.deliveries), note=outcome.note)


def dismiss_and_reconcile(ledger: Ledger, reconciler: Reconciler | None, ids: Iterable[int], *, note: str,
                          actor: str) -> Dismissal:
    """Dismiss the dead deliveries ``ids`` with ``note`` (required), then reconcile each of
    their rooms from what the PBX holds (audited with what was found)."""
    if not note.strip():
        raise OperatorRefused("say why the deliveries are dismissed: a note is required")
    dismissed = ledger.dismiss(ids, note=note, actor=actor)
    rooms = sorted({row.room for delivery_id in dismissed if (row := ledger.delivery(delivery_id)) is not None})
    reconciled = {}
    for room in rooms:
        reconciled[room] = repair_room(reconciler, room, actor=actor)
        ledger.audit(actor, "reconcile after dismiss", room=room, detail=str(reconciled[room]))
    return Dismissal(tuple(dismissed), reconciled)


def guest_room(ledger: Ledger, delivery_id: int) -> str:
    """The room whose guest data a dead delivery carried, when it can be corrected."""
    delivery = ledger.delivery(delivery_id)
    if delivery is None:
        raise OperatorRefused(f"there is no delivery {delivery_id}")
    if delivery.state != DeliveryState.DEAD:
        raise OperatorRefused(f"delivery {delivery_id} is {delivery.state}, not dead: there is nothing to correct")
    if delivery.operation not in GUEST_OPERATIONS:
        raise OperatorRefused(f"delivery {delivery_id} ({delivery.operation}) carries no guest data: "
                              "replay or dismiss it")
    room = delivery.target_room if delivery.operation == "mov" and delivery.target_room else delivery.room
    state = ledger.room_states([room]).get(room)
    if state is None or not state.occupied:
        raise OperatorRefused(f"room {room} is vacant now: there is no guest to correct; dismiss the delivery")
    return room


def correct_guest(ledger: Ledger, delivery_id: int, change: GuestChange, raw: str, *, actor: str) -> Correction:
    """Replay the dead guest operation ``delivery_id`` with corrected data: record ``change``
    (strictly validated, as the front desk's) and, once it is accepted, end the room's dead
    deliveries as replaced by it (see the module docstring for why not replay them)."""
    room = guest_room(ledger, delivery_id)
    if change.room != room:
        raise OperatorRefused(f"the correction is for room {change.room}, the delivery for room {room}")
    result = ledger.record(change, raw, actor=actor, strict=True)
    if result.status == EventStatus.REJECTED or result.duplicate:
        return Correction(result, ())
    dead = [row.id for row in ledger.deliveries(state=DeliveryState.DEAD.value, room=room, limit=1000)]
    replaced = ledger.dismiss(dead, note=f"replaced by corrected guest data (event {result.event_id})", actor=actor)
    return Correction(result, tuple(replaced))


def resend_room(ledger: Ledger, room: str, *, actor: str) -> tuple[int, ...]:
    """Queue what ``room`` lacks on the PBX, from what it confirmed; the deliveries queued
    (none when the PBX confirmed all the room needs; ``resent_sentence`` says which)."""
    if room not in ledger.room_states([room]):
        raise OperatorRefused(f"the ledger has no room {room}")
    if has_open_deliveries(ledger, room):
        raise OperatorRefused(f"room {room} has deliveries on their way to the PBX: resend it when they are done")
    return tuple(ledger.resend_room(room, actor=actor))


def resent_sentence(room: str, queued: tuple[int, ...]) -> str:
    """What ``resend_room`` did, in a sentence."""
    if not queued:
        return f"Room {room}: nothing to send: the PBX confirmed all the room needs."
    return f"Room {room}: queued what the PBX lacks (deliveries {', '.join(map(str, queued))})."


def phantom_problem(ledger: Ledger, room: str) -> str | None:
    """Why ``room`` is not one of the hotel's rooms, or None when it is (or nothing checks)."""
    return ledger.validator.room_problem(room) if ledger.validator is not None else None


def remove_phantom_room(ledger: Ledger, room: str, *, actor: str) -> str:
    """Remove a room the hotel does not have from the ledger (its dead deliveries dismissed);
    a sentence saying so. The hotel's own rooms are never removed."""
    if phantom_problem(ledger, room) is None:
        raise OperatorRefused(f"room {room} is one of the hotel's rooms: only a room the hotel does not have "
                              "can be removed")
    if room not in ledger.room_states([room]):
        raise OperatorRefused(f"the ledger has no room {room}")
    if not ledger.remove_room(room, actor=actor):
        raise OperatorRefused(f"room {room} has deliveries on their way to the PBX: remove it when they are done")
    return f"Room {room} is removed from the ledger (not one of the hotel's rooms); its dead deliveries are dismissed."
