"""How pages write times and durations: the hotel's local time in the reader's locale, ages in words.

Dates and times follow the locale's own patterns (Babel's CLDR data): 03/12/2026 in Britain,
12/3/2026 in the United States, 03.12.2026 in Germany; the time of day in 24 or 12 hours as
the locale writes it. A style names what a page needs; the locale decides how it looks.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_skeleton, format_time
from flask import Flask
from flask_babel import get_locale, gettext

# style: (the date's CLDR skeleton or None, the locale's time format or None)
STYLES: dict[str, tuple[str | None, str | None]] = {
    "datetime": ("yMd", "short"),  # 03/12/2026, 08:36
    "datetime_seconds": ("yMd", "medium"),  # 03/12/2026, 08:36:42
    "moment": ("Md", "medium"),  # 03/12, 08:36:42: rows of recent history
    "short_moment": ("Md", "short"),  # 03/12, 08:36
    "time": (None, "short"),  # 08:36
    "time_seconds": (None, "medium"),  # 08:36:42
    "day_time": ("yMEd", "short"),  # Fri, 04/12/2026, 06:30
    "weekday_time": ("E", "short"),  # Fri, 06:30
}


def local_time(value: datetime | None, zone: ZoneInfo, locale: Locale | str = "en",
               style: str = "datetime") -> str:
    """An aware time in the hotel's zone (a naive one is hotel time already), in ``style``."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(zone).replace(tzinfo=None)
    locale = Locale.parse(locale)
    date_skeleton, time_format = STYLES[style]
    time_part = format_time(value, time_format, locale=locale) if time_format else ""
    if date_skeleton is None:
        return time_part
    date_part = format_skeleton(date_skeleton, value, locale=locale)
    if not time_part:
        return date_part
    return locale.datetime_formats[time_format].format(time_part, date_part)


def wakeup_time(value: datetime, now: datetime, locale: Locale | str = "en") -> str:
    """When a wake-up rings, in hotel time: the weekday within the coming week ("Fri, 06:30"),
    with the date beyond it, when a weekday alone would name the wrong week."""
    within_the_week = value.date() < (now + timedelta(days=7)).date()
    return local_time(value, ZoneInfo("UTC"), locale, "weekday_time" if within_the_week else "day_time")


def duration(seconds: float | None) -> str:
    """A span the way staff say it: 42 s, 7 min, 3 h 05 min, 2 d 4 h."""
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return gettext("%(seconds)d s", seconds=seconds)
    minutes = seconds // 60
    if minutes < 60:
        return gettext("%(minutes)d min", minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return gettext("%(hours)d h %(minutes)02d min", hours=hours, minutes=minutes)
    days, hours = divmod(hours, 24)
    return gettext("%(days)d d %(hours)d h", days=days, hours=hours)


def install_filters(app: Flask, zone: ZoneInfo) -> None:
    app.jinja_env.filters["local"] = lambda value, style="datetime": local_time(value, zone, get_locale(), style)
    app.jinja_env.filters["wakeup_time"] = lambda value, now: wakeup_time(value, now, get_locale())
    app.jinja_env.filters["duration"] = duration
