"""Refuse at the door, in one place: what the PBX or the hotel would refuse never enters the ledger.

Every event, from FIAS, a webhook, a CSV drop, a cloud PMS or the front desk, is checked by
``EventValidator.check`` inside ``Ledger.record`` before it is applied, so the rules are
the same for every source:

- every room it names is one of the hotel's: in ``rooms.rooms``, ``rooms.map`` or the map
  file when the configuration lists rooms (``rooms.rooms`` or ``rooms.map_file``), and with
  an extension the PBX can use in any case. A move to room 999 or "abc" is refused, and the guest keeps the old room's phone;
- a call forward does not point at the room's own extension;
- a wake-up lies ahead, by at most ``validation.wakeup_horizon_days``;
- guest names are cleaned (no control or invisible characters, single spaces);
- a VIP code becomes the PBX's digits through ``validation.vip_map`` (digits pass as they
  are) and a language one of the PBX's prompt languages through ``validation.language_map``
  and the built-in PMS codes. A PMS's code that maps onto nothing is *left out* with a note
  (the guest still gets a working line); the front desk, which can correct it, is refused.

A refused event is kept raw in the ledger with the sentence (``EventStatus.REJECTED``).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from pmsbridge.config import Settings, ValidationSettings
from pmsbridge.events import (
    CallForwardSet,
    CheckIn,
    Event,
    Guest,
    GuestChange,
    ResyncRecord,
    RoomMove,
    WakeupSet,
)
from pmsbridge.languages import PMS_LANGUAGE_CODES
from pmsbridge.mapping import RoomMapping
from pmsbridge.pbx.names import NamePolicy

# A wake-up set for the current minute still rings; older ones are refused.
WAKEUP_GRACE = timedelta(minutes=1)
_VIP_DIGITS = re.compile(r"[0-9]{1,16}")
_NAME_FIELDS = ("last_name", "first_name", "title")


class InputRefused(ValueError):
    """Raised when an event asks for something the PBX or the hotel would refuse; the
    message is one sentence saying what was wrong and what to do."""


@dataclass(frozen=True)
class Checked:
    """An accepted event, normalised, and what was left out of it (one sentence each)."""

    event: Event
    notes: tuple[str, ...] = ()


class EventValidator:
    """The hotel's and the PBX's rules for incoming events (see the module docstring)."""

    def __init__(self, mapping: RoomMapping, settings: ValidationSettings | None = None,
                 hotel_rooms: Collection[str] = ()):
        self.mapping = mapping
        self.settings = settings or ValidationSettings()
        # A room list makes the rooms the mapping names by hand the hotel's too; without one,
        # the overrides are exceptions to the template, not a list of every room.
        self.hotel_rooms = frozenset([*hotel_rooms, *mapping.overridden_rooms()]) if hotel_rooms else frozenset()
        self._languages = {**PMS_LANGUAGE_CODES, **self.settings.language_map}
        self._prompts = frozenset(self.settings.prompt_languages)
        self._names = NamePolicy()

    @classmethod
    def from_settings(cls, settings: Settings, mapping: RoomMapping) -> EventValidator:
        rooms = settings.rooms
        # A map file is the hotel's list of rooms; rooms.map alone only corrects the template.
        listed = [*rooms.listed_rooms, *(mapping.overridden_rooms() if rooms.map_file is not None else ())]
        return cls(mapping, settings.validation, listed)

    # -- rooms -------------------------------------------------------------------------

    def room_problem(self, room: str) -> str | None:
        """Why ``room`` is not one of the hotel's rooms, or None when it is."""
        if self.mapping.has_no_phone(room):
            return None  # the hotel's room; the ledger flags what cannot reach the PBX
        if self.hotel_rooms and room not in self.hotel_rooms:
            return (f"room {room} is not one of the hotel's rooms (rooms.rooms, rooms.map): check the room "
                    "number, or add the room to the configuration if it exists")
        if self.mapping.extension(room) is None:
            return (f"room {room} has no phone extension (rooms.extension_template, rooms.map): check the room "
                    "number, or map the room to its extension")
        return None

    def is_hotel_room(self, room: str) -> bool:
        return self.room_problem(room) is None

    # -- events ------------------------------------------------------------------------

    def check(self, event: Event, now: datetime, *, strict: bool = False) -> Checked:
        """The event as it may be recorded, or ``InputRefused`` saying why it may not.

        ``now`` is the hotel's local time (naive). ``strict`` (the front desk) refuses what
        a PMS's event would have left out: a VIP code or language the PBX cannot take.
        """
        for room in _rooms_named(event):
            problem = self.room_problem(room)
            if problem is not None:
                raise InputRefused(problem)
        if isinstance(event, CallForwardSet) and event.target == self.mapping.extension(event.room):
            raise InputRefused(f"room {event.room}: a call forward to the room's own extension {event.target} "
                               "would loop; forward to another number")
        if isinstance(event, WakeupSet):
            self._check_wakeup(event, now)
        guest = getattr(event, "guest", None)
        if not isinstance(event, CheckIn | GuestChange | RoomMove | ResyncRecord) or guest is None:
            return Checked(event)
        problems: list[str] = []
        cleaned = self._guest(guest, event.room, problems)
        if problems and strict:
            raise InputRefused("; ".join(problems) + ": correct it or leave it empty")
        notes = tuple(f"{problem}: left out" for problem in problems)
        if cleaned == guest:
            return Checked(event, notes)
        return Checked(event.model_copy(update={"guest": cleaned}), notes)

    def _check_wakeup(self, event: WakeupSet, now: datetime) -> None:
        at = event.at.replace(second=0, microsecond=0)
        if at < now - WAKEUP_GRACE:
            raise InputRefused(f"room {event.room}: the wake-up at {at:%Y-%m-%d %H:%M} is in the past "
                               f"(hotel time is {now:%Y-%m-%d %H:%M}); set a time ahead")
        horizon = timedelta(days=self.settings.wakeup_horizon_days)
        if at > now + horizon:
            raise InputRefused(f"room {event.room}: the wake-up at {at:%Y-%m-%d %H:%M} is more than "
                               f"{self.settings.wakeup_horizon_days} days ahead "
                               "(validation.wakeup_horizon_days); check the date")

    def _guest(self, guest: Guest, room: str, notes: list[str]) -> Guest:
        changes: dict[str, object] = {}
        for name in _NAME_FIELDS:
            value = getattr(guest, name)
            if value is not None:
                cleaned = self._names.clean(value)
                if cleaned != value:
                    changes[name] = cleaned or None
        if guest.vip is not None:
            vip = self.vip(guest.vip)
            if vip is None:
                notes.append(f"room {room}: VIP code {guest.vip!r} is not one the PBX takes (digits) and not in "
                             "validation.vip_map")
            if vip != guest.vip:
                changes["vip"] = vip
        if guest.language is not None:
            language = self.language(guest.language)
            if language is None:
                notes.append(f"room {room}: language {guest.language!r} is not one of the PBX's prompt languages "
                             "(validation.language_map, validation.prompt_languages)")
            if language != guest.language:
                changes["language"] = language
        return guest.model_copy(update=changes) if changes else guest

    def vip(self, code: str) -> str | None:
        """The PBX's VIP digits for a PMS's code, or None when it has none."""
        code = code.strip()
        if code in self.settings.vip_map:
            return self.settings.vip_map[code]
        for mapped, digits in self.settings.vip_map.items():
            if mapped.upper() == code.upper():
                return digits
        return code if _VIP_DIGITS.fullmatch(code) else None

    def language(self, code: str) -> str | None:
        """The PBX's prompt language for a PMS's code, or None when it has none."""
        code = code.strip()
        lowered = code.lower()
        if lowered in self._prompts:
            return lowered
        mapped = self._languages.get(code.upper())
        if mapped is None and "-" in code:  # en-GB, de-AT
            mapped = self._languages.get(code.split("-")[0].upper()) or code.split("-")[0].lower()
        return mapped if mapped in self._prompts else None


def _rooms_named(event: Event) -> tuple[str, ...]:
    rooms = () if event.room == "*" else (event.room,)
    if isinstance(event, RoomMove) and event.from_room != event.room:
        rooms = (event.from_room, *rooms)
    return rooms
