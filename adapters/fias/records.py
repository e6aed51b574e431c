"""FIAS records -> canonical events. Pure: no I/O, no clock, no logging.

``translate(record, context, received_at)`` returns the events one record means, or
raises ``RecordRejected`` with a sentence an operator can act on (the adapter keeps the
raw record in the ledger with it). What each record becomes:

==========  ==============================================================================
GI          ``CheckIn`` (``GS`` = Y: shared). ``SF`` (swap flag) changes nothing here:
            between DS and DE the adapter collects every guest record into the
            in-house list, and outside a swap a GI with SF is a check-in like any
            other (some protel sites stream their in-house list that way).
GO          ``CheckOut``, of the reservation ``G#`` when present, else of the whole room.
GC          ``GuestChange``; with ``RO`` naming another room a ``RoomMove`` from ``RO`` to
            ``RN`` carrying the guest data.
RE          ``DN`` -> ``DndSet``, ``CS`` -> ``ClassOfServiceSet`` (through ``cos_table``),
            ``ML`` -> ``MessageWaiting``; one RE may carry several, in that order.
WR / WC     ``WakeupSet`` at DA+TI; ``WakeupClear`` of DA+TI, or of every wake-up when
            both are empty or absent.
XL / XD     ``MessageWaiting`` on with the text ``MT`` / off.
DS / DE     ``ResyncStart`` / ``ResyncEnd``.
==========  ==============================================================================

Guest fields: ``GN`` last name, ``GF`` first name, ``GT`` title, ``GL`` language (through
``language_map``; unlisted codes pass unchanged), ``GV`` VIP, ``GG`` group, ``G#``
reservation, ``CS`` class of service, ``GA``/``GD`` arrival/departure dates. Arrival is
the day's start and departure the day at ``rooms.default_departure_time``: FIAS sends
dates only, and a fixed time keeps a repeated record identical to the first, so a repeat
after a link hiccup changes nothing. An empty field counts as not sent.

FIAS records carry no message id, so events get no ``source_key``; repeats are made
harmless by the room state machine.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import ValidationError

from pmsbridge.adapters.fias.protocol import Record, parse_date, parse_datetime
from pmsbridge.events import (
    CheckIn,
    CheckOut,
    ClassOfServiceSet,
    DndSet,
    Event,
    Guest,
    GuestChange,
    MessageWaiting,
    ResyncEnd,
    ResyncStart,
    RoomMove,
    WakeupClear,
    WakeupSet,
)

if TYPE_CHECKING:
    from pmsbridge.adapters.fias.config import FiasSettings
    from pmsbridge.config import RoomsSettings

# The shape of pmsbridge.events.RoomNumber, checked here to reject with a clear reason.
_ROOM = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,15}")

_GUEST_FIELDS = {
    "GN": "last_name",
    "GF": "first_name",
    "GT": "title",
    "GV": "vip",
    "GG": "group",
}

EVENT_RECORDS: frozenset[str] = frozenset({"GI", "GO", "GC", "RE", "WR", "WC", "XL", "XD", "DS", "DE"})
"""Record types ``translate`` turns into events."""


class RecordRejected(ValueError):
    """Raised by ``translate`` for a record the bridge cannot act on.

    ``reason`` is a sentence naming the record type and the field at fault; ``room`` is the
    record's room when it has a readable one (the ledger files the rejection under it).
    """

    def __init__(self, reason: str, room: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.room = room


@dataclass(frozen=True)
class TranslationContext:
    """The site's choices ``translate`` needs."""

    source: str = "fias"
    cos_table: Mapping[str, int] = field(default_factory=lambda: {"0": 1, "1": 2, "2": 3, "3": 4})
    language_map: Mapping[str, str] = field(default_factory=dict)
    date_pivot: int = 70
    departure_time: dt.time = dt.time(12, 0)

    @classmethod
    def from_settings(cls, fias: FiasSettings, rooms: RoomsSettings) -> TranslationContext:
        """The context a site's ``[adapters.fias]`` and ``[rooms]`` sections describe."""
        return cls(
            source=fias.source,
            cos_table=dict(fias.cos_table),
            language_map=dict(fias.language_map),
            date_pivot=fias.date_pivot,
            departure_time=dt.time.fromisoformat(rooms.default_departure_time),
        )


def translate(record: Record, context: TranslationContext, received_at: dt.datetime) -> list[Event]:
    """The events ``record`` means (see the module docstring); ``received_at`` is aware.

    Raises ``RecordRejected`` for a record type that is not in ``EVENT_RECORDS``, a missing
    or malformed room, a bad date, time, flag or class of service, or a value an event
    cannot hold (a name longer than the events allow).
    """
    handler = _HANDLERS.get(record.type)
    if handler is None:
        raise RecordRejected(f"{record.type} records are not used by the bridge")
    try:
        return handler(record, context, {"source": context.source, "occurred_at": received_at})
    except ValidationError as err:
        reasons = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in err.errors()
        )
        raise RecordRejected(f"{record.type}: {reasons}", _readable_room(record)) from err


# --- fields ----------------------------------------------------------------------------------


def _value(record: Record, field_id: str) -> str | None:
    """A field's value, with empty meaning "not sent"."""
    value = record.get(field_id)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _readable_room(record: Record) -> str | None:
    room = _value(record, "RN")
    return room if room is not None and _ROOM.fullmatch(room) else None


def _room(record: Record, field_id: str = "RN") -> str:
    room = _value(record, field_id)
    if room is None:
        raise RecordRejected(f"{record.type} without {field_id} (room number): the bridge cannot tell which room")
    if not _ROOM.fullmatch(room):
        raise RecordRejected(
            f"{record.type}: {field_id} {room!r} is not a room number (1-16 letters, digits, '.', '_' or '-')",
            _readable_room(record),
        )
    return room


def _yes_no(record: Record, field_id: str, room: str) -> bool | None:
    value = _value(record, field_id)
    if value is None:
        return None
    flag = value.upper()
    if flag not in ("Y", "N"):
        raise RecordRejected(f"{record.type}: {field_id} {value!r} is neither Y nor N", room)
    return flag == "Y"


def _cos(record: Record, context: TranslationContext, room: str) -> int | None:
    value = _value(record, "CS")
    if value is None:
        return None
    cos = context.cos_table.get(value)
    if cos is None:
        known = ", ".join(sorted(context.cos_table))
        raise RecordRejected(
            f"{record.type}: class of service CS {value!r} is not in adapters.fias.cos_table ({known})", room
        )
    return cos


def _date(record: Record, field_id: str, context: TranslationContext, room: str) -> dt.date | None:
    value = _value(record, field_id)
    if value is None:
        return None
    try:
        return parse_date(value, context.date_pivot)
    except ValueError as err:
        raise RecordRejected(f"{record.type}: {field_id}: {err}", room) from err


def _moment(record: Record, context: TranslationContext, room: str) -> dt.datetime | None:
    """DA + TI as a naive local datetime; None when both are empty or absent."""
    date_value, time_value = _value(record, "DA"), _value(record, "TI")
    if date_value is None and time_value is None:
        return None
    if date_value is None or time_value is None:
        missing = "DA" if date_value is None else "TI"
        raise RecordRejected(f"{record.type}: {missing} is missing while the other of DA/TI is given", room)
    try:
        return parse_datetime(date_value, time_value, context.date_pivot)
    except ValueError as err:
        raise RecordRejected(f"{record.type}: {err}", room) from err


def guest_of(record: Record, context: TranslationContext, room: str) -> Guest:
    """The guest data a GI or GC record carries (fields not sent stay None)."""
    values: dict[str, object] = {"reservation": _value(record, "G#")}
    for field_id, name in _GUEST_FIELDS.items():
        values[name] = _value(record, field_id)
    language = _value(record, "GL")
    if language is not None:
        values["language"] = context.language_map.get(language, language)
    arrival = _date(record, "GA", context, room)
    if arrival is not None:
        values["arrival"] = dt.datetime.combine(arrival, dt.time(0, 0))
    departure = _date(record, "GD", context, room)
    if departure is not None:
        values["departure"] = dt.datetime.combine(departure, context.departure_time)
    values["cos"] = _cos(record, context, room)
    return Guest(**values)


def _carries_guest_data(guest: Guest) -> bool:
    return any(value is not None for name, value in dict(guest).items() if name not in ("reservation", "primary"))


# --- one handler per record type -------------------------------------------------------------

Stamp = dict[str, object]


def _guest_in(record: Record, context: TranslationContext, stamp: Stamp) -> list[Event]:
    room = _room(record)
    shared = _yes_no(record, "GS", room) or False
    return [CheckIn(**stamp, room=room, guest=guest_of(record, context, room), shared=shared)]


def _guest_out(record: Record, context: TranslationContext, stamp: Stamp) -> list[Event]:
    room = _room(record)
    return [CheckOut(**stamp, room=room, reservation=_value(record, "G#"))]


def _guest_change(record: Record, context: TranslationContext, stamp: Stamp) -> list[Event]:
    room = _room(record)
    guest = guest_of(record, context, room)
    old_room = _room(record, "RO") if _value(record, "RO") is not None else None
    if old_room is None or old_room == room:
        return [GuestChange(**stamp, room=room, guest=guest)]
    return [
        RoomMove(
            **stamp,
            room=room,
            from_room=old_room,
            reservation=guest.reservation,
            guest=guest if _carries_guest_data(guest) else None,
        )
    ]


def _room_equipment(record: Record, context: TranslationContext, stamp: Stamp) -> list[Event]:
    room = _room(record)
    events: list[Event] = []
    dnd = _yes_no(record, "DN", room)
    if dnd is not None:
        events.append(DndSet(**stamp, room=room, on=dnd))
    cos = _cos(record, context, room)
    if cos is not None:
        events.append(ClassOfServiceSet(**stamp, room=room, cos=cos))
    light = _yes_no(record, "ML", room)
    if light is not None:
        events.append(MessageWaiting(**stamp, room=room, on=light))
    if not events:
        raise RecordRejected("RE carries none of DN (do not disturb), CS (class of service), ML (message light)", room)
    return events


def _wakeup_set(record: Record, context: TranslationContext, stamp: Stamp) -> list[Event]:
    room = _room(record)
    at = _moment(record, context, room)
    if at is None:
        raise RecordRejected("WR without DA/TI: the wake-up has no time", room)
    return [WakeupSet(**stamp, room=room, at=at)]


def _wakeup_clear(record: Record, context: TranslationContext, stamp: Stamp) -> list[Event]:
    room = _room(record)
    return [WakeupClear(**stamp, room=room, at=_moment(record, context, room))]


def _message_on(record: Record, context: TranslationContext, stamp: Stamp) -> list[Event]:
    return [MessageWaiting(**stamp, room=_room(record), on=True, text=_value(record, "MT"))]


def _message_off(record: Record, context: TranslationContext, stamp: Stamp) -> list[Event]:
    return [MessageWaiting(**stamp, room=_room(record), on=False)]


def _swap_start(record: Record, context: TranslationContext, stamp: Stamp) -> list[Event]:
    return [ResyncStart(**stamp)]


def _swap_end(record: Record, context: TranslationContext, stamp: Stamp) -> list[Event]:
    return [ResyncEnd(**stamp)]


_HANDLERS: dict[str, Callable[[Record, TranslationContext, Stamp], list[Event]]] = {
    "GI": _guest_in,
    "GO": _guest_out,
    "GC": _guest_change,
    "RE": _room_equipment,
    "WR": _wakeup_set,
    "WC": _wakeup_clear,
    "XL": _message_on,
    "XD": _message_off,
    "DS": _swap_start,
    "DE": _swap_end,
}
