"""How pages write times and durations: the hotel's local time, ages in words."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask


def local_time(value: datetime | None, zone: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An aware time in the hotel's zone; a naive one is hotel time already."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(zone)
    return value.strftime(fmt)


def wakeup_time(value: datetime, now: datetime) -> str:
    """When a wake-up rings, in hotel time: the weekday within the coming week ("Fri 06:30"),
    the date beyond it, when a weekday alone would name the wrong week."""
    if value.date() < (now + timedelta(days=7)).date():
        return value.strftime("%a %H:%M")
    return value.strftime("%a %Y-%m-%d %H:%M")


def duration(seconds: float | None) -> str:
    """A span the way staff say it: 42 s, 7 min, 3 h 05 min, 2 d 4 h."""
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def install_filters(app: Flask, zone: ZoneInfo) -> None:
    app.jinja_env.filters["local"] = lambda value, fmt="%Y-%m-%d %H:%M": local_time(value, zone, fmt)
    app.jinja_env.filters["duration"] = duration
    app.jinja_env.filters["wakeup_time"] = wakeup_time
