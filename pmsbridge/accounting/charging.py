"""Which calls are charged, to which room, and how much: the collector's verdict on one call leg.

A leg is charged when it is an answered outside call (``userfield`` Outbound or a
``dst_trunk_name``, ``disposition`` ANSWERED, ``billsec`` > 0) from the extension of an
occupied room, on a trunk and context the site charges (``accounting.outbound_trunks``,
``outbound_contexts``), to a destination it charges (``charged_destinations``) that is not
a free number (``free_numbers``: emergency and the like, never charged). Internal calls
never are. Patterns are shell-style (``0800*``, ``outbound-route-?``), matched against the
dialled number after ``outside_line_prefix`` is taken off.

The PBX's wake-up calls (``wakeup_call_match``) are recognised first and kept for the
wake-up answers; they are never charged. Everything here is pure: the room states and
the mapping come in as arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from pmsbridge.accounting.models import CallVerdict
from pmsbridge.accounting.tariffs import Rating, TariffTable
from pmsbridge.config import AccountingSettings
from pmsbridge.mapping import RoomMapping


def text_of(record: Mapping[str, Any], name: str) -> str:
    """A CDR field as text ("" when absent): every value the PBX sends is a string, or should be."""
    value = record.get(name)
    return "" if value is None else str(value).strip()


def seconds_of(record: Mapping[str, Any], name: str) -> int:
    value = text_of(record, name)
    return int(value) if value.isdigit() else 0


def matches_any(value: str, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(value, pattern) for pattern in patterns)


@dataclass(frozen=True)
class Judgement:
    """The verdict on one call leg, with what it was judged on."""

    verdict: CallVerdict
    reason: str | None = None
    extension: str | None = None
    room: str | None = None
    dialled: str | None = None
    billsec: int = 0
    rating: Rating | None = None


class ChargePolicy:
    """The site's charging rules (``[accounting]``) and tariffs."""

    def __init__(self, settings: AccountingSettings, tariffs: TariffTable, mapping: RoomMapping):
        self.settings = settings
        self.tariffs = tariffs
        self.mapping = mapping

    def is_wakeup_call(self, record: Mapping[str, Any]) -> bool:
        match = self.settings.wakeup_call_match
        return bool(match) and all(matches_any(text_of(record, field), patterns) for field, patterns in match.items())

    def dialled_number(self, record: Mapping[str, Any]) -> str:
        number = text_of(record, "dst")
        prefix = self.settings.outside_line_prefix
        return number[len(prefix):] if prefix and number.startswith(prefix) else number

    def judge(self, record: Mapping[str, Any], occupied: Callable[[str], bool]) -> Judgement:
        """The verdict on one CDR record; ``occupied(room)`` tells whether a room has a guest now."""
        settings = self.settings
        disposition = text_of(record, "disposition").upper()
        billsec = seconds_of(record, "billsec")
        if self.is_wakeup_call(record):
            extension = text_of(record, settings.wakeup_extension_field)
            return Judgement(CallVerdict.WAKEUP, disposition or None, extension or None,
                             self.mapping.room(extension) if extension else None, billsec=billsec)
        extension = text_of(record, "channel_ext") or text_of(record, "src")
        room = self.mapping.room(extension) if extension else None
        dialled = self.dialled_number(record)

        def free(reason: str) -> Judgement:
            return Judgement(CallVerdict.FREE, reason, extension or None, room, dialled or None, billsec)

        userfield = text_of(record, "userfield").lower()
        trunk = text_of(record, "dst_trunk_name")
        if userfield == "internal" or (userfield != "outbound" and not trunk):
            return free("not an outside call")
        if disposition != "ANSWERED":
            return free(f"not answered ({disposition or 'no disposition'})")
        if billsec <= 0:
            return free("answered, but not a second was billed (billsec 0)")
        if settings.outbound_trunks and not matches_any(trunk, settings.outbound_trunks):
            return free(f"trunk {trunk or '(none)'} is not charged")
        context = text_of(record, "dcontext")
        if settings.outbound_contexts and not matches_any(context, settings.outbound_contexts):
            return free(f"context {context or '(none)'} is not charged")
        if not dialled:
            return free("no dialled number")
        if matches_any(dialled, settings.free_numbers):
            return free(f"{dialled} is a free number")
        if settings.charged_destinations and not matches_any(dialled, settings.charged_destinations):
            return free(f"{dialled} is not a charged destination")
        if room is None:
            return free(f"extension {extension or '(none)'} belongs to no room")
        if not occupied(room):
            return free(f"room {room} was vacant")
        if settings.charge_as == "call":
            return Judgement(CallVerdict.CHARGED, None, extension, room, dialled, billsec)
        rating = self.tariffs.rate(dialled, billsec)
        if rating is None:
            return Judgement(CallVerdict.UNRATED, f"no tariff for {dialled}", extension, room, dialled, billsec)
        if rating.amount == 0:
            return free(f"costs nothing under the tariff {rating.rule.name or rating.rule.prefix!r}")
        return Judgement(CallVerdict.CHARGED, None, extension, room, dialled, billsec, rating)
