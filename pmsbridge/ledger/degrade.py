"""Degrade instead of failing: what to send when the PBX refuses a guest operation.

A guest with a working line and the right name beats a perfect record that never arrives.
When the PBX permanently refuses a ``checkin``, ``update`` or ``mov``, the dispatcher tries
once more without the optional fields the PBX may refuse (``OPTIONAL_GUEST_FIELDS``). Only
the room, the extension, the name and the stay dates are worth failing for.

The one retry leaves out every optional field, so that it succeeds even when the PBX would
refuse more than one of them; the room remembers as refused only the field the error named
first (or all of them when it named none). The fields left out but not refused are sent
again at once in an ``update`` (``Ledger`` queues it): each round either succeeds or learns
one more refused field, so a room converges in a few requests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from pmsbridge.rooms import OPTIONAL_GUEST_FIELDS

DEGRADABLE_OPERATIONS = frozenset({"checkin", "update", "mov"})

# How the room's flag names each field, in the hotel's words.
FIELD_LABELS = {
    "vipcode": "VIP",
    "language": "language",
    "credit": "credit limit",
    "account": "account",
    "cos": "class of service",
}

_DONE = {"checkin": "checked in", "update": "guest details sent", "mov": "moved"}


@dataclass(frozen=True)
class Reduction:
    """The fields to send instead, and the refused ones left out (field -> value)."""

    fields: dict[str, str | int]
    refused: dict[str, str | int]


def named_field(error: str) -> str | None:
    """The first optional guest field the PBX's error text names, if any."""
    found = [(match.start(), name) for name in OPTIONAL_GUEST_FIELDS
             if (match := re.search(rf"\b{name}\b", error, re.IGNORECASE))]
    return min(found)[1] if found else None


def reduce(operation: str, fields: Mapping[str, str | int], error: str) -> Reduction | None:
    """The degraded form of a refused operation, or None when there is nothing to leave out."""
    if operation not in DEGRADABLE_OPERATIONS:
        return None
    dropped = [name for name in OPTIONAL_GUEST_FIELDS if name in fields]
    if not dropped:
        return None
    named = named_field(error)
    refused = [named] if named in dropped else dropped
    return Reduction({name: value for name, value in fields.items() if name not in dropped},
                     {name: fields[name] for name in refused})


def degraded_sentence(operation: str, refused: Mapping[str, str | int]) -> str:
    """The room's flag: "checked in without VIP: the PBX refused 'V1'"."""
    labels = " and ".join(FIELD_LABELS.get(name, name) for name in refused)
    values = ", ".join(repr(str(value)) for value in refused.values())
    return f"{_DONE.get(operation, operation)} without {labels}: the PBX refused {values}"
