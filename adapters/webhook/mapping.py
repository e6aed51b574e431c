"""Turning a webhook's JSON body into a canonical event, as a source's configuration says.

``[...mapping]`` names a JMESPath expression for each part of an event; ``[...events]`` says
what each of the source's event types means. Keys of ``[...events]`` are compared without
regard to case; a key with ``*``, ``?`` or ``[`` is a glob pattern, tried (in the file's
order) when no key matches exactly, e.g. ``"reservation/*" = "needs_fetch"``.

A value found at a path is text (numbers are written as text: rooms and ids are often
numbers in JSON; a room must be text or a whole number, never a fraction); a path that
finds nothing, ``null`` or an empty string means "not sent".
Dates are read with the source's ``date_formats`` (``pmsbridge.adapters.hotel_time``); a
departure without a time of day gets ``rooms.default_departure_time``. ``occurred_at`` may
be unix seconds, unix milliseconds (numbers beyond the year 5138 in seconds) or ISO 8601
(without an offset: UTC).

The result is one of ``Mapped`` (an event to record), ``NeedsFetch`` (a thin notification
carrying ids only: kept and flagged until an adapter fetches the reservation from the PMS
API) or ``Ignored`` (e.g. Apaleo's ``system/healthcheck``). A body that cannot be mapped
raises ``PayloadNotMapped``; fields an event refuses raise pydantic's ``ValidationError``.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import jmespath
from jmespath.exceptions import JMESPathError

from pmsbridge.adapters.hotel_time import TimeNotUnderstood, parse_hotel_time
from pmsbridge.adapters.webhook.config import EventTarget, SourceSettings
from pmsbridge.events import (
    CheckIn,
    CheckOut,
    DndSet,
    Event,
    Guest,
    GuestChange,
    RoomMove,
    WakeupClear,
    WakeupSet,
)

# events.EventBase.source_key holds at most this many characters; longer ids are hashed.
MAX_SOURCE_KEY = 200
# Unix times above this are milliseconds (in seconds it would be the year 5138).
_MILLISECONDS_FROM = 1e11
_GLOB_CHARACTERS = ("*", "?", "[")
_GUEST_TEXT_FIELDS = ("reservation", "last_name", "first_name", "title", "language", "vip", "group")


class PayloadNotMapped(ValueError):
    """Raised when a body cannot be turned into an event; the message names the path or type at fault."""


@dataclass(frozen=True)
class Mapped:
    event: Event
    event_type: str


@dataclass(frozen=True)
class NeedsFetch:
    event_type: str
    source_key: str
    reservation: str | None = None
    room: str | None = None

    @property
    def problem(self) -> str:
        subject = f"reservation {self.reservation}" if self.reservation else "the reservation"
        return f"needs a fetch from the PMS API: {self.event_type} for {subject} (the notification carries ids only)"


@dataclass(frozen=True)
class Ignored:
    event_type: str


def body_key(body: bytes) -> str:
    """The idempotency key of a source without event ids: the body's SHA-256."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


class PayloadMapper:
    """Maps one source's bodies; built once per source from its settings."""

    def __init__(self, source: str, settings: SourceSettings, zone: ZoneInfo, departure_time: time):
        self.source = source
        self.settings = settings
        self.zone = zone
        self.departure_time = departure_time
        self._paths = {
            name: jmespath.compile(expression)
            for name, expression in settings.mapping.model_dump().items()
            if expression is not None
        }
        self._exact: dict[str, EventTarget] = {}
        self._patterns: list[tuple[str, EventTarget]] = []
        for key, target in settings.events.items():
            if any(char in key for char in _GLOB_CHARACTERS):
                self._patterns.append((key.casefold(), target))
            else:
                self._exact[key.casefold()] = target

    # -- reading values -----------------------------------------------------------------

    def _found(self, payload: Any, name: str) -> Any:
        path = self._paths.get(name)
        if path is None:
            return None
        try:
            return path.search(payload)
        except JMESPathError as err:
            raise PayloadNotMapped(f"mapping.{name} ({path.expression}): {err}") from err

    def text(self, payload: Any, name: str) -> str | None:
        """The text at the path configured for ``name``; None when not configured or not sent."""
        value = self._found(payload, name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            kind = {dict: "an object", list: "a list", bool: "true/false"}.get(type(value), type(value).__name__)
            raise PayloadNotMapped(f"mapping.{name} ({self._paths[name].expression}) found {kind}, expected text")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = str(value).strip()
        return text or None

    def room(self, payload: Any, name: str, *, required: bool = False) -> str | None:
        """A room at the path configured for ``name``: text or a whole number, never a fraction."""
        value = self._found(payload, name)
        if isinstance(value, float | bool):
            raise PayloadNotMapped(f"mapping.{name} ({self._paths[name].expression}) found {value!r}, "
                                   "expected a room number as text or a whole number")
        return self._required_text(payload, name) if required else self.text(payload, name)

    def _required_text(self, payload: Any, name: str) -> str:
        value = self.text(payload, name)
        if value is None:
            raise PayloadNotMapped(f"mapping.{name} ({self._paths[name].expression}) found nothing")
        return value

    def _hotel_time(self, payload: Any, name: str, day_time: time = time(0), *,
                    required: bool = False) -> datetime | None:
        value = self._required_text(payload, name) if required else self.text(payload, name)
        if value is None:
            return None
        try:
            return parse_hotel_time(value, self.settings.date_formats, self.zone, day_time=day_time)
        except TimeNotUnderstood as err:
            raise PayloadNotMapped(f"mapping.{name}: {err}") from err

    def _occurred_at(self, payload: Any, now_utc: datetime) -> datetime:
        value = self._found(payload, "occurred_at")
        if value is None:
            return now_utc
        try:
            if isinstance(value, int | float) and not isinstance(value, bool):
                seconds = value / 1000 if value >= _MILLISECONDS_FROM else value
                return datetime.fromtimestamp(seconds, UTC)
            moment = datetime.fromisoformat(str(value).strip())
        except (ValueError, OverflowError, OSError) as err:
            raise PayloadNotMapped(f"mapping.occurred_at: {str(value)[:40]!r} is not a unix or ISO 8601 time") from err
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    def _guest(self, payload: Any) -> Guest:
        values: dict[str, Any] = {name: self.text(payload, name) for name in _GUEST_TEXT_FIELDS}
        values["arrival"] = self._hotel_time(payload, "arrival")
        values["departure"] = self._hotel_time(payload, "departure", self.departure_time)
        return Guest(**{name: value for name, value in values.items() if value is not None})

    # -- the contract -------------------------------------------------------------------

    def event_type(self, payload: Any) -> str:
        return self._required_text(payload, "event_type")

    def target(self, event_type: str) -> EventTarget | None:
        """What ``event_type`` means for this source; None when [events] does not list it."""
        folded = event_type.casefold()
        if folded in self._exact:
            return self._exact[folded]
        for pattern, target in self._patterns:
            if fnmatch.fnmatchcase(folded, pattern):
                return target
        return None

    def source_key(self, payload: Any, body: bytes) -> str:
        """The delivery's id at mapping.idempotency_key, else the body's hash."""
        key = self.text(payload, "idempotency_key")
        if key is None:
            return body_key(body)
        return key if len(key) <= MAX_SOURCE_KEY else body_key(key.encode("utf-8"))

    def map(self, payload: Any, body: bytes, now_utc: datetime) -> Mapped | NeedsFetch | Ignored:
        """What ``payload`` (the parsed ``body``) means; see the module docstring."""
        if not isinstance(payload, Mapping | list):
            raise PayloadNotMapped("the body is JSON but neither an object nor a list")
        event_type = self.event_type(payload)
        target = self.target(event_type)
        if target is None:
            raise PayloadNotMapped(f"event type {event_type!r} is not listed in [events]")
        if target == "ignore":
            return Ignored(event_type)
        source_key = self.source_key(payload, body)
        if target == "needs_fetch":
            return NeedsFetch(event_type, source_key, self.text(payload, "reservation"), self.room(payload, "room"))
        stamp = {
            "source": self.source,
            "source_key": source_key,
            "room": self.room(payload, "room", required=True),
            "occurred_at": self._occurred_at(payload, now_utc),
        }
        return Mapped(self._event(target, payload, stamp), event_type)

    def _event(self, target: EventTarget, payload: Any, stamp: dict[str, Any]) -> Event:
        if target == "check_in":
            return CheckIn(**stamp, guest=self._guest(payload))
        if target == "check_out":
            return CheckOut(**stamp, reservation=self.text(payload, "reservation"))
        if target == "guest_change":
            return GuestChange(**stamp, guest=self._guest(payload))
        if target == "room_move":
            guest = self._guest(payload)
            carries_data = any(value is not None for name, value in guest if name not in ("reservation", "primary"))
            return RoomMove(**stamp, from_room=self.room(payload, "from_room", required=True),
                            reservation=guest.reservation, guest=guest if carries_data else None)
        if target == "wakeup_set":
            return WakeupSet(**stamp, at=self._hotel_time(payload, "wakeup_at", required=True))
        if target == "wakeup_clear":
            return WakeupClear(**stamp, at=self._hotel_time(payload, "wakeup_at"))
        return DndSet(**stamp, on=target == "dnd_on")
