"""Reading the dates and times that PMS exports and webhooks write, as hotel wall-clock time.

Canonical events hold arrival, departure and wake-up times as naive datetimes in the
hotel's local time (``pmsbridge.events``). Sources write them in many shapes, so adapters
that take text from a site (the webhook and file-drop adapters) are configured with a list
of formats, tried in order:

- ``"iso"``: ISO 8601, a date (``2026-11-27``) or a date and time, with or without an
  offset (``2026-11-27T14:00:00+01:00``, ``...Z``);
- anything else is a ``datetime.strptime`` pattern, e.g. ``"%d.%m.%Y %H:%M"``.

A value with an offset is converted to the hotel's time zone. A value without a time of day
gets ``day_time``: midnight for an arrival, ``rooms.default_departure_time`` for a
departure, so that the same date read twice gives the same datetime and a repeated record
changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

ISO = "iso"
# strptime directives that carry a time of day; a pattern with none of them reads a date.
_TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%X", "%c", "%T", "%R", "%p")


class TimeNotUnderstood(ValueError):
    """Raised when a value matches none of the configured date formats."""


def check_format(pattern: str) -> str:
    """Validate one configured format (for config validators); returns it unchanged."""
    if pattern != ISO and "%" not in pattern:
        raise ValueError(f"{pattern!r} is neither \"iso\" nor a strptime pattern such as \"%d.%m.%Y\"")
    return pattern


def _read(text: str, pattern: str) -> tuple[datetime, bool] | None:
    """The value read with one format and whether it carried a time of day; None if it does not fit."""
    try:
        if pattern == ISO:
            try:
                return datetime.combine(date.fromisoformat(text), time(0)), False
            except ValueError:
                return datetime.fromisoformat(text), True
        return datetime.strptime(text, pattern), any(directive in pattern for directive in _TIME_DIRECTIVES)
    except ValueError:
        return None


def parse_hotel_time(value: str, formats: Sequence[str], zone: ZoneInfo, *, day_time: time = time(0)) -> datetime:
    """``value`` as a naive datetime in the hotel's local time; see the module docstring."""
    text = value.strip()
    for pattern in formats:
        read = _read(text, pattern)
        if read is None:
            continue
        moment, has_time = read
        if moment.tzinfo is not None:
            moment = moment.astimezone(zone).replace(tzinfo=None)
        if not has_time:
            moment = datetime.combine(moment.date(), day_time)
        return moment
    raise TimeNotUnderstood(f"{value!r} matches none of the date formats ({', '.join(formats)})")
