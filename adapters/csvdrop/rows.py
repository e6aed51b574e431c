"""One CSV row -> a guest (snapshot files) or a canonical event (delta files).

Delta rows name their action in the ``action`` column; the words in ``ACTION_ALIASES`` plus
the site's ``actions`` are understood (case, blanks and hyphens do not matter):

==============  ========================================================================
check_in        ``CheckIn`` with the row's guest (a second reservation shares the room)
check_out       ``CheckOut``: of the row's reservation, or of the whole room without one
guest_change    ``GuestChange``: the row's non-empty columns change
room_move       ``RoomMove`` from ``from_room`` to ``room`` (of the reservation, if given)
wakeup_set      ``WakeupSet`` at ``wakeup`` (a date and time)
wakeup_clear    ``WakeupClear`` at ``wakeup``, or of every wake-up when it is empty
dnd_on/dnd_off  ``DndSet``
==============  ========================================================================

Arrival dates without a time mean midnight, departure dates the hotel's
``rooms.default_departure_time`` (as FIAS does), so the same row read again changes nothing.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter, ValidationError

from pmsbridge.adapters.csvdrop.config import CsvDropSettings, DeltaAction, normalise_name
from pmsbridge.adapters.csvdrop.reader import CsvRow
from pmsbridge.adapters.hotel_time import TimeNotUnderstood, parse_hotel_time
from pmsbridge.events import (
    CheckIn,
    CheckOut,
    DndSet,
    Event,
    Guest,
    GuestChange,
    RoomMove,
    RoomNumber,
    WakeupClear,
    WakeupSet,
)

ACTION_ALIASES: dict[str, DeltaAction] = {
    **dict.fromkeys(("check_in", "checkin", "ci", "in", "arrival"), "check_in"),
    **dict.fromkeys(("check_out", "checkout", "co", "out", "departure"), "check_out"),
    **dict.fromkeys(("guest_change", "change", "update", "modify"), "guest_change"),
    **dict.fromkeys(("room_move", "move", "roommove"), "room_move"),
    **dict.fromkeys(("wakeup_set", "wakeup", "wake_up"), "wakeup_set"),
    **dict.fromkeys(("wakeup_clear", "wakeup_cancel", "cancel_wakeup"), "wakeup_clear"),
    **dict.fromkeys(("dnd_on", "dnd"), "dnd_on"),
    "dnd_off": "dnd_off",
}
_GUEST_TEXT_COLUMNS = ("reservation", "last_name", "first_name", "title", "language", "vip", "group")
_ROOM_NUMBER: TypeAdapter[str] = TypeAdapter(RoomNumber)


class RowRejected(ValueError):
    """Raised when a row cannot be used; the message names the column at fault."""


def _reasons(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(part) for part in item['loc']) or 'row'}: {item['msg']}"
                     for item in error.errors())


class RowReader:
    """Reads rows of one site's files (its action words, date formats and time zone)."""

    def __init__(self, settings: CsvDropSettings, zone: ZoneInfo, departure_time: time):
        self.settings = settings
        self.zone = zone
        self.departure_time = departure_time
        self.actions: dict[str, DeltaAction] = {**ACTION_ALIASES, **settings.actions}

    def room(self, row: CsvRow, column: str = "room") -> str:
        value = row.values.get(column)
        if value is None:
            raise RowRejected(f"no {column}")
        try:
            return _ROOM_NUMBER.validate_python(value)
        except ValidationError:
            raise RowRejected(f"{column} {value!r} is not a room number (letters, digits, . _ -; up to 16)") from None

    def _hotel_time(self, row: CsvRow, column: str, day_time: time = time(0)) -> datetime | None:
        value = row.values.get(column)
        if value is None:
            return None
        try:
            return parse_hotel_time(value, self.settings.date_formats, self.zone, day_time=day_time)
        except TimeNotUnderstood as err:
            raise RowRejected(f"{column}: {err}") from None

    def guest(self, row: CsvRow) -> Guest:
        values: dict[str, Any] = {name: row.values.get(name) for name in _GUEST_TEXT_COLUMNS}
        values["arrival"] = self._hotel_time(row, "arrival")
        values["departure"] = self._hotel_time(row, "departure", self.departure_time)
        try:
            return Guest(**{name: value for name, value in values.items() if value is not None})
        except ValidationError as err:
            raise RowRejected(_reasons(err)) from None

    def action(self, row: CsvRow) -> DeltaAction:
        word = row.values.get("action")
        if word is None:
            raise RowRejected("no action")
        action = self.actions.get(normalise_name(word))
        if action is None:
            raise RowRejected(f"unknown action {word!r} (add it to [adapters.csvdrop] actions)")
        return action

    def delta_event(self, row: CsvRow, *, source: str, source_key: str, occurred_at: datetime) -> Event:
        """The event a delta row describes; raises ``RowRejected``."""
        if row.problem is not None:
            raise RowRejected(row.problem)
        action = self.action(row)
        stamp = {"source": source, "source_key": source_key, "room": self.room(row), "occurred_at": occurred_at}
        try:
            return self._event(action, row, stamp)
        except ValidationError as err:
            raise RowRejected(_reasons(err)) from None

    def _event(self, action: DeltaAction, row: CsvRow, stamp: dict[str, Any]) -> Event:
        if action == "check_in":
            return CheckIn(**stamp, guest=self.guest(row))
        if action == "check_out":
            return CheckOut(**stamp, reservation=row.values.get("reservation"))
        if action == "guest_change":
            return GuestChange(**stamp, guest=self.guest(row))
        if action == "room_move":
            guest = self.guest(row)
            carries_data = any(value is not None for name, value in guest if name not in ("reservation", "primary"))
            return RoomMove(**stamp, from_room=self.room(row, "from_room"), reservation=guest.reservation,
                            guest=guest if carries_data else None)
        if action == "wakeup_set":
            at = self._hotel_time(row, "wakeup")
            if at is None:
                raise RowRejected("no wakeup (date and time)")
            return WakeupSet(**stamp, at=at)
        if action == "wakeup_clear":
            return WakeupClear(**stamp, at=self._hotel_time(row, "wakeup"))
        return DndSet(**stamp, on=action == "dnd_on")
