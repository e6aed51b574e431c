"""Canonical guest events: the one vocabulary every PMS adapter speaks.

Adapters turn their protocol's records into these models and nothing downstream knows a
PMS protocol. Every event carries

- ``source``: who sent it (``fias``, ``webhook:apaleo``, ``csv``, ``frontdesk``...);
- ``source_key``: the source's own identifier for this message where it has one, used
  with ``source`` to recognise a repeat (a webhook delivered twice); ``None`` when the
  source has none (FIAS records carry no message id, and the same bytes may legitimately
  come twice: DND on, off, on). Repeats without a key are made harmless by the room state
  machine, which turns a repeated check-in into an update or nothing;
- ``room``: the room number as the PMS writes it (a string: leading zeros are data);
- ``occurred_at``: when it happened at the source, timezone-aware.

Times that belong to the hotel's wall clock (arrival, departure, wake-up) are naive
datetimes in the hotel's local time (``bridge.timezone``), as PMSs and the PBX use them.

The models are pydantic, so an adapter that fills a field wrongly gets a
``pydantic.ValidationError`` naming the field, and the ledger stores every event as JSON
(``event.model_dump(mode="json")``) and reads it back with ``parse_event``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator


def utcnow() -> datetime:
    return datetime.now(UTC)


RoomNumber = Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[0-9A-Za-z][0-9A-Za-z._-]*$")]
# Events about the whole hotel (a resync's start and end) name every room: "*".
AllRooms = Annotated[str, Field(pattern=r"^\*$")]


class Guest(BaseModel):
    """One reservation's guest as the PBX needs it. ``None`` means "not sent"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reservation: str | None = Field(default=None, max_length=64, description="the PMS reservation id (FIAS G#)")
    last_name: str | None = Field(default=None, max_length=200)
    first_name: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=40)
    language: str | None = Field(default=None, max_length=8, description="the PMS's language code, e.g. EA, GE, en")
    vip: str | None = Field(default=None, max_length=8)
    group: str | None = Field(default=None, max_length=64)
    arrival: datetime | None = Field(default=None, description="hotel local time")
    departure: datetime | None = Field(default=None, description="hotel local time")
    cos: int | None = Field(default=None, ge=1, le=4, description="PBX class of service 1-4")
    credit: int | None = Field(default=None, ge=0, description="credit limit in minor currency units")
    primary: bool = Field(default=False, description="the room's primary guest when several share it")

    @field_validator("arrival", "departure")
    @classmethod
    def _local(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            raise ValueError("hotel times are naive local datetimes; convert before building the event")
        return value

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or ""


class EventBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(min_length=1, max_length=64)
    source_key: str | None = Field(default=None, max_length=200)
    room: RoomNumber
    occurred_at: datetime = Field(default_factory=utcnow)

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
        return value.astimezone(UTC)


class CheckIn(EventBase):
    """A guest arrives. A second check-in for an occupied room shares it (FIAS GS=Y)."""

    kind: Literal["check_in"] = "check_in"
    guest: Guest
    shared: bool = False


class CheckOut(EventBase):
    """A guest leaves; with a reservation id only that guest, otherwise the whole room."""

    kind: Literal["check_out"] = "check_out"
    reservation: str | None = None


class GuestChange(EventBase):
    """Guest data changed (name, language, VIP, dates...); fields left None are unchanged."""

    kind: Literal["guest_change"] = "guest_change"
    guest: Guest


class RoomMove(EventBase):
    """A guest moves from ``from_room`` to ``room``; wake-ups and DND go along."""

    kind: Literal["room_move"] = "room_move"
    from_room: RoomNumber
    reservation: str | None = None
    guest: Guest | None = Field(default=None, description="guest data sent with the move, if any")


class WakeupSet(EventBase):
    kind: Literal["wakeup_set"] = "wakeup_set"
    at: datetime = Field(description="hotel local time")
    daily: bool = False


class WakeupClear(EventBase):
    """Cancel one wake-up (``at``) or every wake-up of the room (``at`` None)."""

    kind: Literal["wakeup_clear"] = "wakeup_clear"
    at: datetime | None = None


class DndSet(EventBase):
    kind: Literal["dnd_set"] = "dnd_set"
    on: bool


class ClassOfServiceSet(EventBase):
    kind: Literal["cos_set"] = "cos_set"
    cos: int = Field(ge=1, le=4)


class CallForwardSet(EventBase):
    kind: Literal["call_forward_set"] = "call_forward_set"
    target: str = Field(min_length=1, max_length=32, pattern=r"^[0-9*#+]+$")


class CallForwardClear(EventBase):
    kind: Literal["call_forward_clear"] = "call_forward_clear"


class MessageWaiting(EventBase):
    """Message light on or off; kept in room state for the UI (pmsapi has no operation for it)."""

    kind: Literal["message_waiting"] = "message_waiting"
    on: bool
    text: str | None = Field(default=None, max_length=2000)


class ResyncStart(EventBase):
    """The PMS starts sending its full in-house list (FIAS DS, a snapshot file)."""

    kind: Literal["resync_start"] = "resync_start"
    room: AllRooms = "*"


class ResyncRecord(EventBase):
    """One in-house guest during a resync; the last record for a room wins."""

    kind: Literal["resync_record"] = "resync_record"
    guest: Guest


class ResyncEnd(EventBase):
    """The in-house list is complete: rooms not resent are vacant."""

    kind: Literal["resync_end"] = "resync_end"
    room: AllRooms = "*"


Event = Annotated[
    CheckIn
    | CheckOut
    | GuestChange
    | RoomMove
    | WakeupSet
    | WakeupClear
    | DndSet
    | ClassOfServiceSet
    | CallForwardSet
    | CallForwardClear
    | MessageWaiting
    | ResyncStart
    | ResyncRecord
    | ResyncEnd,
    Field(discriminator="kind"),
]

_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_KINDS: tuple[str, ...] = tuple(
    model.model_fields["kind"].default
    for model in (CheckIn, CheckOut, GuestChange, RoomMove, WakeupSet, WakeupClear, DndSet, ClassOfServiceSet,
                  CallForwardSet, CallForwardClear, MessageWaiting, ResyncStart, ResyncRecord, ResyncEnd)
)


def parse_event(data: dict) -> Event:
    """Rebuild an event from its JSON form (``model_dump(mode="json")``)."""
    return _EVENT_ADAPTER.validate_python(data)
