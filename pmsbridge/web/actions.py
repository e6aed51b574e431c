"""Front-desk actions as canonical events: what a room page's forms become.

Each action is recorded in the ledger exactly like a PMS event (``source`` "frontdesk",
the staff user as ``actor``), so it is ordered with the PMS's events for the room,
retried and audited. Each form carries a one-time key (``action_key``): a form sent twice
(a double click, a reload) is recognised as a repeat and recorded once.

``build_event`` is pure: it turns the submitted form into an event or raises
``FormError`` with a sentence for the front desk.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from typing import Any

from flask_babel import gettext, lazy_gettext, ngettext
from pydantic import ValidationError

from pmsbridge.events import (
    CallForwardClear,
    CallForwardSet,
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
from pmsbridge.ledger.models import EventStatus
from pmsbridge.ledger.store import RecordResult

SOURCE = "frontdesk"
ACTION_KEY_FIELD = "action_key"
# Form fields that are not part of what the user asked for, left out of the raw record.
_TRANSPORT_FIELDS = frozenset({"csrf_token", ACTION_KEY_FIELD})


class FormError(ValueError):
    """Raised when a submitted form cannot become an event; the message is for the front desk."""


def _text(form: Mapping[str, str], name: str) -> str | None:
    value = (form.get(name) or "").strip()
    return value or None


def _required(form: Mapping[str, str], name: str, label: str) -> str:
    value = _text(form, name)
    if value is None:
        raise FormError(gettext("%(field)s is missing", field=label))
    return value


def _checked(form: Mapping[str, str], name: str) -> bool:
    return (form.get(name) or "").lower() in ("1", "on", "yes", "true")


def _local_datetime(value: str, label: str) -> datetime:
    try:
        return datetime.fromisoformat(value).replace(second=0, microsecond=0, tzinfo=None)
    except ValueError:
        raise FormError(gettext("%(field)s: %(value)s is not a date and time", field=label,
                                value=repr(value))) from None


def _class_of_service(form: Mapping[str, str]) -> int | None:
    value = _text(form, "cos")
    if value is None:
        return None
    if value not in ("1", "2", "3", "4"):
        raise FormError(gettext("class of service: choose 1, 2, 3 or 4"))
    return int(value)


def _check_in(room: str, form: Mapping[str, str], now: datetime, common: dict[str, Any]) -> Event:
    departure = _text(form, "departure")
    guest = Guest(
        reservation=_text(form, "reservation"),
        last_name=_required(form, "last_name", gettext("last name")),
        first_name=_text(form, "first_name"),
        language=_text(form, "language"),
        vip=_text(form, "vip"),
        departure=_local_datetime(departure, gettext("departure")) if departure else None,
        cos=_class_of_service(form),
    )
    if guest.departure is not None and guest.departure <= now:
        raise FormError(gettext("departure: choose a time after now"))
    return CheckIn(guest=guest, shared=_checked(form, "shared"), **common)


def _guest_change(room: str, form: Mapping[str, str], now: datetime, common: dict[str, Any]) -> Event:
    # A blank field is "unchanged", as in every guest change (a PMS's too).
    changes = {name: _text(form, name) for name in GUEST_FIELDS}
    if not any(changes.values()):
        raise FormError(gettext("give a name, a language or a VIP code to change"))
    return GuestChange(guest=Guest(reservation=_text(form, "reservation"), **changes), **common)


def _check_out(room: str, form: Mapping[str, str], now: datetime, common: dict[str, Any]) -> Event:
    return CheckOut(reservation=_text(form, "reservation"), **common)


def _move(room: str, form: Mapping[str, str], now: datetime, common: dict[str, Any]) -> Event:
    destination = _required(form, "to_room", gettext("destination room"))
    if destination == room:
        raise FormError(gettext("the destination is this room"))
    return RoomMove(**{**common, "room": destination}, from_room=room, reservation=_text(form, "reservation"))


def _wakeup_set(room: str, form: Mapping[str, str], now: datetime, common: dict[str, Any]) -> Event:
    day = _required(form, "date", gettext("wake-up date"))
    at = _required(form, "time", gettext("wake-up time"))
    try:
        moment = datetime.combine(date.fromisoformat(day), time.fromisoformat(at))
    except ValueError:
        raise FormError(gettext("wake-up: %(day)s %(time)s is not a date and time", day=day, time=at)) from None
    daily = _checked(form, "daily")
    if not daily and moment <= now:
        raise FormError(gettext("wake-up: %(moment)s has passed", moment=moment.strftime("%Y-%m-%d %H:%M")))
    return WakeupSet(at=moment, daily=daily, **common)


def _wakeup_clear(room: str, form: Mapping[str, str], now: datetime, common: dict[str, Any]) -> Event:
    at = _text(form, "at")
    return WakeupClear(at=_local_datetime(at, gettext("wake-up")) if at else None, **common)


def _dnd(room: str, form: Mapping[str, str], now: datetime, common: dict[str, Any]) -> Event:
    return DndSet(on=_checked(form, "on"), **common)


def _call_forward_set(room: str, form: Mapping[str, str], now: datetime, common: dict[str, Any]) -> Event:
    return CallForwardSet(target=_required(form, "target", gettext("forward target")).replace(" ", ""), **common)


def _call_forward_clear(room: str, form: Mapping[str, str], now: datetime, common: dict[str, Any]) -> Event:
    return CallForwardClear(**common)


# The guest details the front desk may correct (``_guest_change``).
GUEST_FIELDS = ("first_name", "last_name", "language", "vip")

BUILDERS: dict[str, Callable[[str, Mapping[str, str], datetime, dict[str, Any]], Event]] = {
    "checkin": _check_in,
    "checkout": _check_out,
    "guest": _guest_change,
    "move": _move,
    "wakeup": _wakeup_set,
    "wakeup-cancel": _wakeup_clear,
    "dnd": _dnd,
    "forward": _call_forward_set,
    "forward-clear": _call_forward_clear,
}

# Labels for messages and the audit log (which is written in English: see room.act).
LABELS = {
    "checkin": lazy_gettext("check-in"),
    "checkout": lazy_gettext("checkout"),
    "guest": lazy_gettext("guest details"),
    "move": lazy_gettext("room move"),
    "wakeup": lazy_gettext("wake-up"),
    "wakeup-cancel": lazy_gettext("wake-up cancel"),
    "dnd": lazy_gettext("do-not-disturb"),
    "forward": lazy_gettext("call forward"),
    "forward-clear": lazy_gettext("call forward cancel"),
}


def build_event(action: str, room: str, form: Mapping[str, str], *, user: str, now: datetime) -> Event:
    """The event for ``action`` on ``room`` from ``form``; ``now`` is hotel local time."""
    builder = BUILDERS.get(action)
    if builder is None:
        raise FormError(gettext("unknown action %(action)s", action=repr(action)))
    key = _text(form, ACTION_KEY_FIELD)
    common = {"source": SOURCE, "source_key": f"{user}:{key}" if key else None, "room": room}
    try:
        return builder(room, form, now, common)
    except ValidationError as err:
        raise FormError("; ".join(_describe(error) for error in err.errors())) from err


def _describe(error: Mapping[str, Any]) -> str:
    where = ".".join(str(part) for part in error["loc"] if part != "guest").replace("_", " ")
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "string_pattern_mismatch":
        message = gettext("contains characters that are not allowed")
    return f"{where}: {message}" if where else message


def raw_record(action: str, room: str, form: Mapping[str, str]) -> str:
    """What the user submitted, as the event's raw input in the ledger."""
    fields = {name: value for name, value in form.items() if name not in _TRANSPORT_FIELDS and value != ""}
    return json.dumps({"action": action, "room": room, "form": fields}, ensure_ascii=False, sort_keys=True)


def describe_result(action: str, result: RecordResult, problem: str | None = None) -> tuple[str, str]:
    """A (category, sentence) flash message for what the ledger did with an action;
    ``problem`` is the recorded event's problem when it needs attention. A refused action
    (``EventStatus.REJECTED``) is named with the validator's sentence."""
    label = str(LABELS.get(action, action)).capitalize()
    event = result.event_id
    if result.duplicate:
        return "warn", gettext("%(action)s was already recorded (event %(event)s); it was not repeated.",
                               action=label, event=event)
    if result.status == EventStatus.REJECTED:
        return "error", gettext("%(action)s refused: %(reasons)s", action=label, reasons="; ".join(result.notes))
    if result.status == EventStatus.NEEDS_ATTENTION:
        return "error", gettext("%(action)s recorded (event %(event)s) but needs attention: %(problem)s",
                                action=label, event=event, problem=problem)
    if result.deliveries:
        return "ok", ngettext("%(action)s recorded (event %(event)s); %(num)d PBX operation queued.",
                              "%(action)s recorded (event %(event)s); %(num)d PBX operations queued.",
                              len(result.deliveries), action=label, event=event)
    notes = "; ".join(result.notes) or gettext("the room already is that way")
    return "warn", gettext("%(action)s recorded (event %(event)s); nothing to send: %(notes)s.",
                           action=label, event=event, notes=notes)
