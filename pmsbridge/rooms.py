"""The room state machine: what a canonical event does to a room and what the PBX must be told.

``apply(states, event, policy, now)`` reads the current state of the rooms the event touches
(``rooms_touched``) and returns their new state, the pmsapi operations that bring the PBX
there (in the order they must reach it) and notes explaining every part it left out. It is
pure: no I/O and no clock; the caller passes ``now``, the hotel's local wall-clock time.

The rules, the PBX's and the hotel's:

- A room is occupied while it holds a reservation. Several reservations may share a room,
  kept in arrival order; the PBX shows one guest per extension, the *displayed guest*: the
  first arrived, or with ``shared_room_name = "primary"`` the guest flagged primary (else the
  first arrived).
- ``checkin`` goes out when a vacant room gets its first reservation, ``checkout`` when the
  last one leaves. In between, ``update`` goes out only when something the PBX shows changes
  (the displayed guest's account, name, language, VIP code, dates, credit, or the room's
  class of service); ``update`` always carries that whole set, so a PBX that blanks missing
  fields still ends up right.
- The PBX refuses ``update``, ``dnd``, ``wakeup`` and ``cfu`` for an extension that is not
  checked in, so a guest change, DND, wake-up, class of service, call forward or message
  light for a vacant room changes nothing and comes back as a note.
- Checkout makes the PBX restore the extension's defaults, so the state forgets DND,
  wake-ups, call forward, class of service and the message light with it.
- Operations are derived by comparing what the PBX is expected to hold (``PbxRoom``) with
  what the new desired state asks of it (``plan``, ``pbx_operations``), not the desired
  state before the event with the one after. A repeated event therefore sends nothing (a
  second check-in of the same reservation is a guest change, a wake-up set twice is one
  order, DND or call forward set to the value they have is a no-op), while a room whose
  earlier operation failed is sent whole by its next event.

How events map onto those rules is documented on ``apply``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pmsbridge.config import RoomsSettings
from pmsbridge.events import (
    CallForwardClear,
    CallForwardSet,
    CheckIn,
    CheckOut,
    ClassOfServiceSet,
    DndSet,
    Event,
    Guest,
    GuestChange,
    MessageWaiting,
    ResyncEnd,
    ResyncRecord,
    ResyncStart,
    RoomMove,
    RoomNumber,
    WakeupClear,
    WakeupSet,
)

SharedRoomName = Literal["first", "primary"]


def _naive(value: datetime) -> datetime:
    if value.tzinfo is not None:
        raise ValueError("hotel times are naive local datetimes")
    return value


def _minute(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M}"


class Wakeup(BaseModel):
    """One wake-up order of a room. The PBX knows minutes only, so seconds are dropped."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime = Field(description="hotel local time")
    daily: bool = False

    @field_validator("at")
    @classmethod
    def _local_minute(cls, value: datetime) -> datetime:
        return _naive(value).replace(second=0, microsecond=0)


class RoomState(BaseModel):
    """What the bridge wants the PBX to hold for one room.

    Invariants (checked on construction): reservation ids are unique within the room;
    wake-ups are sorted by time with at most one per minute; a vacant room has no DND,
    wake-up, class of service, call forward or message light (the PBX keeps none of them
    for an extension that is not checked in).

    ``shared_room_name`` is the policy's choice of displayed guest, copied in by ``apply``
    so that the state alone answers ``displayed_guest``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    room: RoomNumber
    reservations: tuple[Guest, ...] = Field(default=(), description="in arrival order")
    dnd: bool = False
    cos: int | None = Field(default=None, ge=1, le=4, description="the class of service in effect")
    wakeups: tuple[Wakeup, ...] = ()
    call_forward: str | None = None
    message_waiting: bool = False
    message_text: str | None = None
    shared_room_name: SharedRoomName = "first"

    @field_validator("wakeups")
    @classmethod
    def _sorted_wakeups(cls, value: tuple[Wakeup, ...]) -> tuple[Wakeup, ...]:
        ordered = tuple(sorted(value, key=lambda wakeup: wakeup.at))
        for earlier, later in zip(ordered, ordered[1:]):
            if earlier.at == later.at:
                raise ValueError(f"two wake-ups at {_minute(later.at)}")
        return ordered

    @field_validator("reservations")
    @classmethod
    def _unique_reservations(cls, value: tuple[Guest, ...]) -> tuple[Guest, ...]:
        ids = [guest.reservation for guest in value if guest.reservation is not None]
        duplicates = sorted({rid for rid in ids if ids.count(rid) > 1})
        if duplicates:
            raise ValueError(f"reservation {duplicates[0]} appears twice")
        return value

    @model_validator(mode="after")
    def _vacant_room_is_plain(self) -> RoomState:
        if not self.reservations and (
            self.dnd or self.wakeups or self.cos is not None or self.call_forward is not None or self.message_waiting
        ):
            raise ValueError(
                f"room {self.room} is vacant: it can hold no DND, wake-up, class of service, "
                "call forward or message light"
            )
        return self

    @property
    def occupied(self) -> bool:
        return bool(self.reservations)

    @property
    def displayed_guest(self) -> Guest | None:
        """The guest the PBX shows for the room (``None`` when vacant)."""
        index = _displayed_index(self)
        return None if index is None else self.reservations[index]


def _displayed_index(state: RoomState) -> int | None:
    if not state.reservations:
        return None
    if state.shared_room_name == "primary":
        for index, guest in enumerate(state.reservations):
            if guest.primary:
                return index
    return 0


@dataclass(frozen=True)
class RoomPolicy:
    """The hotel's choices that ``apply`` needs (from ``[rooms]``)."""

    shared_room_name: SharedRoomName = "first"
    default_stay_nights: int = 1
    default_departure_time: time = time(12, 0)
    default_cos: int = 3

    def __post_init__(self) -> None:
        if self.shared_room_name not in ("first", "primary"):
            raise ValueError(f"shared_room_name must be 'first' or 'primary', not {self.shared_room_name!r}")
        if self.default_stay_nights < 1:
            raise ValueError("default_stay_nights must be at least 1")
        if not 1 <= self.default_cos <= 4:
            raise ValueError("default_cos must be 1-4")

    @classmethod
    def from_settings(cls, settings: RoomsSettings) -> RoomPolicy:
        return cls(
            shared_room_name=settings.shared_room_name,
            default_stay_nights=settings.default_stay_nights,
            default_departure_time=time.fromisoformat(settings.default_departure_time),
            default_cos=settings.default_cos,
        )


class PbxOperation(BaseModel):
    """One pmsapi request, before the room mapping turns rooms into extensions.

    ``fields`` holds every pmsapi field except ``address``/``room``/``d_address``/``d_room``,
    which the ledger fills from the mapping. Values:

    - ``checkin``/``update``: ``account`` (reservation id), ``firstname``, ``lastname``,
      ``language``, ``vipcode``, ``credit``, ``cos``, ``datein``/``dateout`` as
      ``YYYY-MM-DDTHH:MM``; only fields that have a value.
    - ``wakeup``: ``w_action`` 1 set / 0 cancel, ``w_mode`` 1 single / 2 daily,
      ``w_date`` ``YYYYMMDD``, ``w_time`` ``HHMM``.
    - ``dnd``: ``status`` 1 / 0.  ``cfu``: ``cfwt``, the target or ``""`` to clear.
    - ``mov``: the PBX's own move, addressed to ``room`` with ``target_room`` as destination.
      ``apply`` expresses moves as ``checkout`` + ``checkin`` instead (see ``apply``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: Literal["checkin", "update", "mov", "checkout", "wakeup", "dnd", "cfu"]
    room: RoomNumber
    target_room: RoomNumber | None = None
    fields: dict[str, str | int] = Field(default_factory=dict)


class Outcome(BaseModel):
    """What ``apply`` decided.

    ``states`` holds the new state of every room the event touches (``rooms_touched``),
    changed or not; ``operations`` go to the PBX in this order; ``notes`` say in words why
    something was left out or nothing needed sending.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    states: dict[str, RoomState]
    operations: tuple[PbxOperation, ...] = ()
    notes: tuple[str, ...] = ()


# --- operations: the difference between two states of a room -------------------------------


def _pbx_date(value: datetime | None) -> str | None:
    return None if value is None else f"{value:%Y-%m-%dT%H:%M}"


def _guest_fields(state: RoomState) -> dict[str, str | int]:
    guest = state.displayed_guest
    if guest is None:
        return {}
    pairs = (
        ("account", guest.reservation),
        ("firstname", guest.first_name),
        ("lastname", guest.last_name),
        ("language", guest.language),
        ("vipcode", guest.vip),
        ("datein", _pbx_date(guest.arrival)),
        ("dateout", _pbx_date(guest.departure)),
        ("credit", guest.credit),
        ("cos", state.cos),
    )
    return {name: value for name, value in pairs if value is not None}


def _wakeup_operation(room: str, wakeup: Wakeup, action: int) -> PbxOperation:
    return PbxOperation(
        operation="wakeup",
        room=room,
        fields={
            "w_action": action,
            "w_mode": 2 if wakeup.daily else 1,
            "w_date": f"{wakeup.at:%Y%m%d}",
            "w_time": f"{wakeup.at:%H%M}",
        },
    )


class PbxRoom(BaseModel):
    """What one room's extension holds on the PBX, as far as pmsapi can set it.

    The ledger keeps two of these per room: *confirmed*, what the PBX acknowledged (the
    deliveries that succeeded, corrected by reconciliation reads), and *expected*, what it
    will hold once the room's open deliveries succeed. ``guest`` holds the ``checkin`` or
    ``update`` fields last sent (a PBX that blanks missing fields shows exactly these).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    room: RoomNumber
    checked_in: bool = False
    guest: dict[str, str | int] = Field(default_factory=dict)
    wakeups: tuple[Wakeup, ...] = ()
    dnd: bool = False
    call_forward: str | None = None

    @field_validator("wakeups")
    @classmethod
    def _sorted_wakeups(cls, value: tuple[Wakeup, ...]) -> tuple[Wakeup, ...]:
        return tuple(sorted({wakeup.at: wakeup for wakeup in value}.values(), key=lambda wakeup: wakeup.at))


# The guest fields the PBX may refuse while the guest can still have a working line: a
# refusal of one of them degrades the operation instead of failing it.
OPTIONAL_GUEST_FIELDS = ("vipcode", "language", "credit", "account", "cos")


def pbx_target(state: RoomState, refused: Mapping[str, str | int] | None = None) -> PbxRoom:
    """What the PBX should hold for the desired ``state``.

    ``refused`` maps optional guest fields to the value the PBX refused for this room: such
    a field is left out while the desired value is still the refused one, so that it is not
    sent (and refused) again; a new value is sent.
    """
    if not state.occupied:
        return PbxRoom(room=state.room)
    refused = refused or {}
    fields = {name: value for name, value in _guest_fields(state).items()
              if name not in refused or str(refused[name]) != str(value)}
    return PbxRoom(room=state.room, checked_in=True, guest=fields, wakeups=state.wakeups, dnd=state.dnd,
                   call_forward=state.call_forward)


def pbx_operations(held: PbxRoom, wanted: PbxRoom) -> tuple[PbxOperation, ...]:
    """The pmsapi operations that take a room's extension from ``held`` to ``wanted``.

    Order: ``checkin``/``update``, then wake-up cancels and sets, ``dnd``, ``cfu``; a room
    that empties gets a lone ``checkout``. An extension that is not checked in is checked in
    whole first (with every wake-up, DND and forward after it): the PBX refuses everything
    else for it, so nothing but a ``checkin`` ever goes to a vacant extension.
    """
    if held.room != wanted.room:
        raise ValueError(f"states of two rooms ({held.room}, {wanted.room}) cannot be compared")
    room = wanted.room
    if not wanted.checked_in:
        return (PbxOperation(operation="checkout", room=room),) if held.checked_in else ()
    if not held.checked_in:
        held = PbxRoom(room=room)
    operations: list[PbxOperation] = []
    if held.guest != wanted.guest or not held.checked_in:
        operation = "update" if held.checked_in else "checkin"
        operations.append(PbxOperation(operation=operation, room=room, fields=dict(wanted.guest)))
    target = {wakeup.at: wakeup for wakeup in wanted.wakeups}
    present = {wakeup.at: wakeup for wakeup in held.wakeups}
    operations.extend(_wakeup_operation(room, wakeup, 0) for wakeup in held.wakeups if wakeup.at not in target)
    operations.extend(_wakeup_operation(room, wakeup, 1) for wakeup in wanted.wakeups
                      if present.get(wakeup.at) != wakeup)
    if held.dnd != wanted.dnd:
        operations.append(PbxOperation(operation="dnd", room=room, fields={"status": 1 if wanted.dnd else 0}))
    if held.call_forward != wanted.call_forward:
        operations.append(PbxOperation(operation="cfu", room=room, fields={"cfwt": wanted.call_forward or ""}))
    return tuple(operations)


def pbx_after(held: PbxRoom, operation: PbxOperation) -> PbxRoom:
    """What the extension holds once the PBX carried out ``operation`` (on ``held.room``).

    A check-in starts from the extension's defaults (no wake-up, DND or forward) and a
    checkout restores them, as the PBX does; ``mov`` is not modelled (the state machine
    sends moves as checkout + check-in).
    """
    if operation.room != held.room:
        raise ValueError(f"an operation on room {operation.room} does not apply to room {held.room}")
    fields = operation.fields
    match operation.operation:
        case "checkin":
            return PbxRoom(room=held.room, checked_in=True, guest=dict(fields))
        case "update":
            return held.model_copy(update={"guest": dict(fields)})
        case "checkout":
            return PbxRoom(room=held.room)
        case "wakeup":
            at = datetime.strptime(f"{fields['w_date']}{int(fields['w_time']):04d}", "%Y%m%d%H%M")
            others = tuple(wakeup for wakeup in held.wakeups if wakeup.at != at)
            if int(fields["w_action"]) == 1:
                others = (*others, Wakeup(at=at, daily=int(fields["w_mode"]) == 2))
            return PbxRoom(**{**dict(held), "wakeups": others})
        case "dnd":
            return held.model_copy(update={"dnd": int(fields["status"]) == 1})
        case "cfu":
            return held.model_copy(update={"call_forward": str(fields["cfwt"]) or None})
    raise ValueError(f"operation {operation.operation!r} is not modelled")


def transition_operations(before: RoomState, after: RoomState) -> tuple[PbxOperation, ...]:
    """The pmsapi operations that take a room's PBX extension from ``before`` to ``after``.

    ``before`` is what the PBX holds, ``after`` what it should hold (states of the same
    room); see ``pbx_operations``. With ``before`` vacant this rebuilds a room from nothing,
    which is also how a drifted extension can be restored.
    """
    if before.room != after.room:
        raise ValueError(f"states of two rooms ({before.room}, {after.room}) cannot be compared")
    return pbx_operations(pbx_target(before), pbx_target(after))


# --- helpers on guests and states ------------------------------------------------------------


def _evolve(state: RoomState, **changes: object) -> RoomState:
    return RoomState(**{**dict(state), **changes})


def _vacated(state: RoomState) -> RoomState:
    return RoomState(room=state.room, shared_room_name=state.shared_room_name)


def _merge(current: Guest, change: Guest) -> Guest:
    """``change``'s non-None fields over ``current``.

    ``primary`` is a plain bool whose default cannot say "not sent", so only True counts;
    a guest stops being primary when another one becomes it.
    """
    updates = {name: value for name, value in dict(change).items() if name != "primary" and value is not None}
    if change.primary:
        updates["primary"] = True
    return Guest(**{**dict(current), **updates})


def _with_stay_dates(guest: Guest, room: str, policy: RoomPolicy, now: datetime, notes: list[str]) -> Guest:
    """The guest with the dates the PBX needs for a check-in.

    Arrival defaults to ``now``; departure to the arrival day plus the default stay at the
    default departure time, which is always after the arrival.
    """
    arrival = guest.arrival if guest.arrival is not None else now.replace(second=0, microsecond=0)
    default_departure = datetime.combine(
        arrival.date() + timedelta(days=policy.default_stay_nights), policy.default_departure_time
    )
    departure = guest.departure
    if departure is None:
        departure = default_departure
    elif departure <= arrival:
        notes.append(
            f"room {room}: departure {_minute(departure)} is not after arrival {_minute(arrival)}; "
            f"using {_minute(default_departure)}"
        )
        departure = default_departure
    if (arrival, departure) == (guest.arrival, guest.departure):
        return guest
    return Guest(**{**dict(guest), "arrival": arrival, "departure": departure})


def _find(state: RoomState, reservation: str) -> int | None:
    for index, guest in enumerate(state.reservations):
        if guest.reservation == reservation:
            return index
    return None


def _check_in_match(state: RoomState, reservation: str | None) -> int | None:
    """The reservation a check-in refers to: the same id, or without id the room's id-less guest."""
    if reservation is not None:
        return _find(state, reservation)
    for index, guest in enumerate(state.reservations):
        if guest.reservation is None:
            return index
    return None


def _replace_guest(reservations: tuple[Guest, ...], index: int, guest: Guest) -> tuple[Guest, ...]:
    updated = reservations[:index] + (guest,) + reservations[index + 1 :]
    if guest.primary:
        updated = tuple(
            other if position == index or not other.primary else Guest(**{**dict(other), "primary": False})
            for position, other in enumerate(updated)
        )
    return updated


def _admit(state: RoomState, guest: Guest, policy: RoomPolicy, now: datetime, notes: list[str]) -> RoomState:
    """Check ``guest`` into the room: a new (possibly sharing) reservation or a repeat of one.

    Class of service: the guest's, else the room's, else the policy's default; a class sent
    with guest data is the room's, as the extension has only one.
    """
    index = _check_in_match(state, guest.reservation)
    if index is None:
        index, arriving, reservations = len(state.reservations), guest, (*state.reservations, guest)
    else:
        arriving, reservations = _merge(state.reservations[index], guest), state.reservations
    arriving = _with_stay_dates(arriving, state.room, policy, now, notes)
    reservations = _replace_guest(reservations, index, arriving)
    cos = next(value for value in (guest.cos, state.cos, policy.default_cos) if value is not None)
    return _evolve(state, reservations=reservations, cos=cos)


# --- one handler per event kind --------------------------------------------------------------

Rooms = dict[str, RoomState]


def _vacant_note(state: RoomState, what: str) -> str:
    return f"room {state.room} is vacant: {what} not sent"


def _on_check_in(rooms: Rooms, event: CheckIn, policy: RoomPolicy, now: datetime, notes: list[str]) -> Rooms:
    return {event.room: _admit(rooms[event.room], event.guest, policy, now, notes)}


def _on_check_out(rooms: Rooms, event: CheckOut, policy: RoomPolicy, now: datetime, notes: list[str]) -> Rooms:
    state = rooms[event.room]
    if not state.occupied:
        notes.append(f"room {event.room}: checkout of an empty room: nothing to do")
        return rooms
    if event.reservation is None:
        return {event.room: _vacated(state)}
    index = _find(state, event.reservation)
    if index is None:
        notes.append(f"room {event.room}: reservation {event.reservation} is not in the room: checkout ignored")
        return rooms
    remaining = state.reservations[:index] + state.reservations[index + 1 :]
    return {event.room: _evolve(state, reservations=remaining) if remaining else _vacated(state)}


def _change_guest(state: RoomState, guest: Guest, policy: RoomPolicy, now: datetime, notes: list[str]) -> RoomState:
    if not state.occupied:
        notes.append(f"room {state.room} is vacant: guest change not sent (the PBX updates only checked-in rooms)")
        return state
    if guest.reservation is None:
        index = _displayed_index(state)
    else:
        index = _find(state, guest.reservation)
        if index is None:
            notes.append(f"room {state.room}: reservation {guest.reservation} is not in the room: guest change ignored")
            return state
    merged = _with_stay_dates(_merge(state.reservations[index], guest), state.room, policy, now, notes)
    cos = guest.cos if guest.cos is not None else state.cos
    return _evolve(state, reservations=_replace_guest(state.reservations, index, merged), cos=cos)


def _on_guest_change(rooms: Rooms, event: GuestChange, policy: RoomPolicy, now: datetime, notes: list[str]) -> Rooms:
    return {event.room: _change_guest(rooms[event.room], event.guest, policy, now, notes)}


def _on_room_move(rooms: Rooms, event: RoomMove, policy: RoomPolicy, now: datetime, notes: list[str]) -> Rooms:
    # The move's own reservation id names who moves; guest data sent with it is that guest's.
    reservation = event.reservation
    guest = event.guest
    if guest is not None and reservation is not None and guest.reservation != reservation:
        guest = Guest(**{**dict(guest), "reservation": reservation})
    if reservation is None and guest is not None:
        reservation = guest.reservation
    if event.from_room == event.room:
        if guest is None:
            notes.append(f"room {event.room}: move into the same room without guest data: nothing to do")
            return rooms
        notes.append(f"room {event.room}: move into the same room treated as a guest change")
        return {event.room: _change_guest(rooms[event.room], guest, policy, now, notes)}

    source, destination = rooms[event.from_room], rooms[event.room]
    if not source.occupied:
        if guest is None:
            notes.append(f"room {source.room} is vacant and the move has no guest data: move to {event.room} ignored")
            return rooms
        notes.append(f"room {source.room} is vacant: move treated as a check-in of room {event.room}")
        return {source.room: source, destination.room: _admit(destination, guest, policy, now, notes)}

    whole_room = reservation is None or [g.reservation for g in source.reservations] == [reservation]
    if whole_room:
        return _move_room(source, destination, guest, policy, now, notes)
    index = _find(source, reservation)
    if index is None:
        notes.append(f"room {source.room}: reservation {reservation} is not in the room: move to {event.room} ignored")
        return rooms
    moving = source.reservations[index]
    if guest is not None:
        moving = _with_stay_dates(_merge(moving, guest), destination.room, policy, now, notes)
    remaining = source.reservations[:index] + source.reservations[index + 1 :]
    return {
        source.room: _evolve(source, reservations=remaining),
        destination.room: _admit(destination, moving, policy, now, notes),
    }


def _move_room(
    source: RoomState, destination: RoomState, guest: Guest | None, policy: RoomPolicy, now: datetime, notes: list[str]
) -> Rooms:
    """Every reservation of ``source`` moves, with its wake-ups, DND, class, forward and messages.

    Into an occupied room the guests already there keep their class of service and call
    forward (changing them would change their phone), while DND and wake-ups are added.
    A single wake-up whose time has passed is not carried: it has rung (or was missed) already.
    """
    moving = source
    if guest is not None:
        moving = _change_guest(source, guest, policy, now, notes)
    pending = []
    for wakeup in moving.wakeups:
        if wakeup.daily or wakeup.at >= now:
            pending.append(wakeup)
        else:
            notes.append(
                f"room {source.room}: wake-up at {_minute(wakeup.at)} has passed; not carried to {destination.room}"
            )
    if not destination.occupied:
        moved = _evolve(
            moving,
            room=destination.room,
            wakeups=tuple(pending),
            shared_room_name=destination.shared_room_name,
        )
        return {source.room: _vacated(source), destination.room: moved}

    reservations = destination.reservations
    for arriving in moving.reservations:
        index = None if arriving.reservation is None else _find(destination, arriving.reservation)
        if index is None:
            reservations = (*reservations, arriving)
        else:
            reservations = _replace_guest(reservations, index, _merge(reservations[index], arriving))
    held = {wakeup.at for wakeup in destination.wakeups}
    wakeups = destination.wakeups + tuple(wakeup for wakeup in pending if wakeup.at not in held)
    cos = guest.cos if guest is not None and guest.cos is not None else destination.cos
    if moving.cos != cos:
        notes.append(f"room {destination.room} is occupied: it keeps its class of service {cos}")
    if moving.call_forward is not None and moving.call_forward != destination.call_forward:
        notes.append(f"room {destination.room} is occupied: it keeps its call forward")
    merged = _evolve(
        destination,
        reservations=reservations,
        wakeups=wakeups,
        dnd=destination.dnd or moving.dnd,
        cos=cos,
        message_waiting=destination.message_waiting or moving.message_waiting,
        message_text=destination.message_text if destination.message_waiting else moving.message_text,
    )
    return {source.room: _vacated(source), destination.room: merged}


def _on_wakeup_set(rooms: Rooms, event: WakeupSet, policy: RoomPolicy, now: datetime, notes: list[str]) -> Rooms:
    state = rooms[event.room]
    if not state.occupied:
        notes.append(_vacant_note(state, "wake-up"))
        return rooms
    wakeup = Wakeup(at=event.at, daily=event.daily)
    if wakeup in state.wakeups:
        notes.append(f"room {event.room}: wake-up at {_minute(wakeup.at)} is already set")
        return rooms
    others = tuple(held for held in state.wakeups if held.at != wakeup.at)
    return {event.room: _evolve(state, wakeups=(*others, wakeup))}


def _on_wakeup_clear(rooms: Rooms, event: WakeupClear, policy: RoomPolicy, now: datetime, notes: list[str]) -> Rooms:
    state = rooms[event.room]
    if event.at is None:
        if not state.wakeups:
            notes.append(f"room {event.room}: no wake-up is set: nothing to clear")
            return rooms
        return {event.room: _evolve(state, wakeups=())}
    at = Wakeup(at=event.at).at
    remaining = tuple(held for held in state.wakeups if held.at != at)
    if remaining == state.wakeups:
        notes.append(f"room {event.room}: no wake-up is set at {_minute(at)}: nothing to clear")
        return rooms
    return {event.room: _evolve(state, wakeups=remaining)}


def _on_dnd(rooms: Rooms, event: DndSet, policy: RoomPolicy, now: datetime, notes: list[str]) -> Rooms:
    state = rooms[event.room]
    if not state.occupied:
        notes.append(_vacant_note(state, "DND"))
        return rooms
    if state.dnd == event.on:
        notes.append(f"room {event.room}: DND is already {'on' if event.on else 'off'}")
        return rooms
    return {event.room: _evolve(state, dnd=event.on)}


def _on_cos(rooms: Rooms, event: ClassOfServiceSet, policy: RoomPolicy, now: datetime, notes: list[str]) -> Rooms:
    state = rooms[event.room]
    if not state.occupied:
        notes.append(_vacant_note(state, "class of service"))
        return rooms
    if state.cos == event.cos:
        notes.append(f"room {event.room}: class of service is already {event.cos}")
        return rooms
    return {event.room: _evolve(state, cos=event.cos)}


def _forward(rooms: Rooms, room: str, target: str | None, notes: list[str]) -> Rooms:
    state = rooms[room]
    if not state.occupied:
        notes.append(_vacant_note(state, "call forward"))
        return rooms
    if state.call_forward == target:
        notes.append(f"room {room}: call forward is already {target or 'off'}")
        return rooms
    return {room: _evolve(state, call_forward=target)}


def _on_forward_set(rooms: Rooms, event: CallForwardSet, policy: RoomPolicy, now: datetime, notes: list[str]) -> Rooms:
    return _forward(rooms, event.room, event.target, notes)


def _on_forward_clear(
    rooms: Rooms, event: CallForwardClear, policy: RoomPolicy, now: datetime, notes: list[str]
) -> Rooms:
    return _forward(rooms, event.room, None, notes)


def _on_message(rooms: Rooms, event: MessageWaiting, policy: RoomPolicy, now: datetime, notes: list[str]) -> Rooms:
    state = rooms[event.room]
    if not state.occupied:
        notes.append(f"room {event.room} is vacant: message waiting not kept")
        return rooms
    return {event.room: _evolve(state, message_waiting=event.on, message_text=event.text if event.on else None)}


def _on_resync(
    rooms: Rooms, event: ResyncStart | ResyncRecord | ResyncEnd, policy: RoomPolicy, now: datetime, notes: list[str]
) -> Rooms:
    notes.append(f"{event.kind}: the adapter collects the in-house list and compares it with reconcile_in_house")
    return rooms


Handler = Callable[[Rooms, Event, RoomPolicy, datetime, list[str]], Rooms]

_HANDLERS: dict[type, Handler] = {
    CheckIn: _on_check_in,
    CheckOut: _on_check_out,
    GuestChange: _on_guest_change,
    RoomMove: _on_room_move,
    WakeupSet: _on_wakeup_set,
    WakeupClear: _on_wakeup_clear,
    DndSet: _on_dnd,
    ClassOfServiceSet: _on_cos,
    CallForwardSet: _on_forward_set,
    CallForwardClear: _on_forward_clear,
    MessageWaiting: _on_message,
    ResyncStart: _on_resync,
    ResyncRecord: _on_resync,
    ResyncEnd: _on_resync,
}


# --- the contract ----------------------------------------------------------------------------


def rooms_touched(event: Event) -> tuple[str, ...]:
    """The rooms whose state ``apply`` needs for ``event``: a move's source then destination.

    Resync events touch none (see ``apply``).
    """
    if isinstance(event, ResyncStart | ResyncRecord | ResyncEnd):
        return ()
    if isinstance(event, RoomMove) and event.from_room != event.room:
        return (event.from_room, event.room)
    return (event.room,)


def apply(states: Mapping[str, RoomState], event: Event, policy: RoomPolicy, now: datetime) -> Outcome:
    """Apply one event to the rooms it touches.

    ``states`` holds the current state of the rooms in ``rooms_touched(event)``; a room
    missing from it is vacant. ``now`` is the hotel's local time (naive), used for default
    arrival and departure dates and to drop past wake-ups from a move. Nothing is mutated.

    - ``CheckIn``: a vacant room is checked in. Dates missing are filled (arrival ``now``,
      departure after ``policy.default_stay_nights`` at ``default_departure_time``), and a
      departure not after the arrival is replaced the same way, with a note. Into an occupied
      room, the same reservation id (or, without id, the room's guest without id) is a guest
      change; another reservation joins the room (the id decides, the ``shared`` flag is not
      needed), with ``update`` only if the displayed guest changes.
    - ``CheckOut``: with a reservation id only that guest leaves; without one the room
      empties. An empty room or an unknown reservation is a no-op with a note.
    - ``GuestChange``: non-None fields merge into the reservation with that id, or without
      id into the displayed guest; ``update`` if the PBX-visible data changed.
    - ``RoomMove``: when the whole room moves (no reservation id, or the source's only one)
      the source is checked out and the destination checked in (or updated when occupied),
      then wake-ups, DND and call forward are set again on it: unlike the PBX's ``mov``, this
      also works into an occupied room. One reservation of a shared room moves alone; its
      old room keeps the others. A vacant source makes the move a check-in of the
      destination when guest data comes with it, a no-op otherwise (with a note).
    - ``WakeupSet``/``WakeupClear``, ``DndSet``, ``ClassOfServiceSet`` (sent as ``update``),
      ``CallForwardSet``/``CallForwardClear``: only on occupied rooms; no-ops when the room
      already is that way. Clearing every wake-up cancels each one set.
    - ``MessageWaiting``: kept in the state for the UI; pmsapi has no operation for it.
    - ``ResyncStart``/``ResyncRecord``/``ResyncEnd``: no-ops with a note. The adapter collects
      the in-house list and turns it into events with ``reconcile_in_house``.
    """
    if now.tzinfo is not None:
        raise ValueError("now must be the hotel's naive local time")
    touched = rooms_touched(event)
    before: Rooms = {}
    for room in touched:
        state = states.get(room)
        if state is None:
            state = RoomState(room=room)
        elif state.room != room:
            raise ValueError(f"the state given for room {room} is room {state.room}'s")
        before[room] = state
    # The policy may have changed since a state was stored; comparing with `before` as stored
    # then sends the update that makes the PBX show the guest the policy now names.
    current = {room: _evolve(state, shared_room_name=policy.shared_room_name) for room, state in before.items()}
    notes: list[str] = []
    after = {**current, **_HANDLERS[type(event)](current, event, policy, now, notes)}
    operations = tuple(op for room in touched for op in transition_operations(before[room], after[room]))
    if not operations and not notes:
        notes.append(f"room {event.room}: nothing to send to the PBX")
    return Outcome(states=after, operations=operations, notes=tuple(notes))


@dataclass(frozen=True)
class Plan:
    """What an event does to its rooms, against what the PBX holds (see ``plan``).

    ``states``: the new desired state of every room touched; ``expected``: what each will
    hold on the PBX once ``operations`` succeed; ``notes``: why something was left out.
    """

    states: dict[str, RoomState]
    expected: dict[str, PbxRoom]
    operations: tuple[PbxOperation, ...]
    notes: tuple[str, ...]


def plan(states: Mapping[str, RoomState], held: Mapping[str, PbxRoom], event: Event, policy: RoomPolicy,
         now: datetime, refused: Mapping[str, Mapping[str, str | int]] | None = None) -> Plan:
    """Apply ``event`` (see ``apply``) and derive the operations from what the PBX is expected
    to hold (``held``, per room; a room missing is taken as vacant), not from the desired
    state before the event.

    A room whose earlier operation failed is thereby sent whole with its next event: a
    check-in that died leaves the room "wanted occupied, PBX vacant", and any later event
    for it sends a complete check-in, never an update or a wake-up to a vacant extension.
    ``refused`` holds, per room, the optional fields the PBX refused (see ``pbx_target``).
    """
    outcome = apply(states, event, policy, now)
    refused = refused or {}
    expected: dict[str, PbxRoom] = {}
    operations: list[PbxOperation] = []
    notes = [note for note in outcome.notes if not note.endswith(": nothing to send to the PBX")]
    for room in rooms_touched(event):
        holding = held.get(room) or PbxRoom(room=room)
        if holding != pbx_target(states.get(room) or RoomState(room=room), refused.get(room)):
            notes.append(f"room {room}: the PBX does not hold the desired state: sending what it lacks")
        wanted = pbx_target(outcome.states[room], refused.get(room))
        operations.extend(pbx_operations(holding, wanted))
        expected[room] = wanted
    if not operations and not notes:
        notes.append(f"room {event.room}: nothing to send to the PBX")
    return Plan(states=outcome.states, expected=expected, operations=tuple(operations), notes=tuple(notes))


# --- resync ----------------------------------------------------------------------------------


def _latest_per_reservation(guests: Sequence[Guest]) -> list[Guest]:
    """One guest per reservation id (and one without id): the last record wins, first position kept.

    Only the last guest flagged primary keeps the flag, as ``apply`` would leave it.
    """
    latest: dict[str | None, Guest] = {}
    for guest in guests:
        latest[guest.reservation] = guest
    wanted = list(latest.values())
    primaries = [position for position, guest in enumerate(wanted) if guest.primary]
    for position in primaries[:-1]:
        wanted[position] = Guest(**{**dict(wanted[position]), "primary": False})
    return wanted


def needs_change(current: Guest, wanted: Guest) -> bool:
    """Whether applying ``wanted``'s data to ``current`` would change the guest (None fields count as unchanged)."""
    merged = _merge(current, wanted)
    # apply replaces a departure that is not after the arrival, so such a value can never
    # match; comparing it would send the same change at every resync.
    if wanted.departure is not None and merged.arrival is not None and wanted.departure <= merged.arrival:
        merged = Guest(**{**dict(merged), "departure": current.departure})
    return merged != current


def _reconcile_room(state: RoomState, wanted: list[Guest], source: str, now_utc: datetime) -> list[Event]:
    room = state.room
    stamp = {"source": source, "room": room, "occurred_at": now_utc}
    check_ins = [CheckIn(**stamp, guest=guest, shared=position > 0) for position, guest in enumerate(wanted)]
    if not wanted:
        return [CheckOut(**stamp)] if state.occupied else []
    if not state.occupied:
        return check_ins
    matches = {position: _check_in_match(state, guest.reservation) for position, guest in enumerate(wanted)}
    staying = set(matches.values())
    departed = [guest for index, guest in enumerate(state.reservations) if index not in staying]
    # Only an id can take one guest out of a shared room; otherwise the room starts over.
    if len(departed) == len(state.reservations) or any(guest.reservation is None for guest in departed):
        return [CheckOut(**stamp), *check_ins]
    events: list[Event] = [CheckOut(**stamp, reservation=guest.reservation) for guest in departed]
    for position, guest in enumerate(wanted):
        index = matches[position]
        if index is None:
            events.append(CheckIn(**stamp, guest=guest, shared=True))
        elif needs_change(state.reservations[index], guest):
            # Without an id a guest change would address the displayed guest; a repeated
            # check-in addresses the id-less guest, which is the one meant.
            if guest.reservation is None:
                events.append(CheckIn(**stamp, guest=guest, shared=True))
            else:
                events.append(GuestChange(**stamp, guest=guest))
    return events


def reconcile_in_house(
    current: Mapping[str, RoomState], in_house: Mapping[str, Sequence[Guest]], source: str, now_utc: datetime
) -> list[Event]:
    """The events that bring ``current`` to the PMS's in-house list; none when they match.

    ``in_house`` maps each room to its in-house guests (several for a shared room; for one
    reservation id, or for guests without id, the last record wins). Occupied rooms absent
    from it, or listed with no guest, get a ``CheckOut``; vacant rooms get a ``CheckIn`` per
    guest; occupied rooms get a ``CheckOut`` per reservation that left, a ``GuestChange``
    where a guest's data differs (fields the record leaves out count as unchanged) and a
    ``CheckIn`` per new guest. When a guest without reservation id has left, or every guest
    has, the room is checked out whole and checked in again. Events carry ``source`` and
    ``occurred_at=now_utc`` (timezone-aware), rooms in sorted order.
    """
    events: list[Event] = []
    for room in sorted({*current, *in_house}):
        state = current.get(room) or RoomState(room=room)
        events.extend(_reconcile_room(state, _latest_per_reservation(in_house.get(room, ())), source, now_utc))
    return events
