"""Documents for the PBX's ``pmsapi`` action: check-in, check-out, wake-up, DND and the rest.

A pmsapi request carries one operation as a document in ``data``, either XML
(``<pms_data_request><checkin>...</checkin></pms_data_request>``, the default) or JSON
(``{"checkin": {...}}``). Documents are built with lxml / json, never by string formatting,
so a guest called ``O'Brien & <Sons>`` cannot break them.

Fields follow Table 72 of the API guide and appear in the guide's order. Values may be
strings, integers or Decimals; the fields below also accept richer types:

- ``datein`` / ``dateout``: a ``datetime``, a ``date`` or an ISO string ("2026-11-27T14:00"),
  written as "YYYY/MM/DD hh:mm" in XML and "YYYYMMDD" in JSON (the forms of the guide's
  examples). The wall-clock time is used as given: pass hotel local time.
- ``w_date`` / ``w_time``: "YYYYMMDD" / "HHMM", or a ``date`` / ``time`` (ISO strings
  "2026-11-27" / "07:30" too). Instead of both, ``w_at`` may give a ``datetime`` (or ISO
  string) that is split into the two. ``w_mode`` defaults to 1 (single).
- ``w_action`` (1 set, 0 cancel) and the DND ``status`` (1 on, 0 off) accept booleans.
- ``cos`` (class of service) must be 1 to 4.
- ``firstname`` / ``lastname`` are cleaned by a :class:`NamePolicy`.
- ``cfwt`` (call-forward target) may be empty or None: that clears the forward.
- The move's destination room is given as ``d_room``; its element name is ``d_room`` (the
  guide's example) or ``r_room`` (the guide's table), whichever the firmware expects.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from lxml import etree

from pmsbridge.pbx.names import NamePolicy

FORMATS = ("xml", "json")
MOVE_DESTINATION_ELEMENTS = ("d_room", "r_room")

_GUEST_FIELDS = (
    "address", "room", "account", "firstname", "lastname", "language",
    "vipcode", "datein", "dateout", "credit", "cos",
)


@dataclass(frozen=True)
class Operation:
    """One pmsapi operation: its fields in document order and the ones it cannot do without."""

    fields: tuple[str, ...]
    required: frozenset[str]


OPERATIONS: dict[str, Operation] = {
    "checkin": Operation(_GUEST_FIELDS, frozenset({"address", "room", "datein", "dateout"})),
    "update": Operation(_GUEST_FIELDS, frozenset({"address", "room"})),
    "mov": Operation(("address", "room", "d_address", "d_room"), frozenset({"address", "room", "d_address", "d_room"})),
    "checkout": Operation(("address", "room"), frozenset({"address", "room"})),
    "wakeup": Operation(
        ("address", "room", "w_action", "w_mode", "w_date", "w_time"),
        frozenset({"address", "room", "w_action", "w_date", "w_time"}),
    ),
    "addminibar": Operation(("barcode", "barname", "prompt", "verifyskip", "listgoods"), frozenset({"barcode"})),
    "delminibar": Operation(("barcode",), frozenset({"barcode"})),
    "addminibargoods": Operation(("goodscode", "goodsname"), frozenset({"goodscode"})),
    "delminibargoods": Operation(("goodscode",), frozenset({"goodscode"})),
    "addminibarwaiter": Operation(("maidcode", "password"), frozenset({"maidcode"})),
    "delminibarwaiter": Operation(("maidcode",), frozenset({"maidcode"})),
    "cfu": Operation(("address", "room", "cfwt"), frozenset({"address", "room", "cfwt"})),
    "dnd": Operation(("address", "room", "status"), frozenset({"address", "room", "status"})),
}

# Fields whose value may be empty (or None) even though the operation requires them.
_MAY_BE_EMPTY = frozenset({"cfwt"})


def pms_token(pms_username: str, pms_password: str) -> str:
    """The pmsapi ``token``: MD5 of the PMS user name followed by its password, lower-case hex."""
    return hashlib.md5((pms_username + pms_password).encode("utf-8")).hexdigest()


def pmsapi_request(document: str, fmt: str, token: str) -> dict[str, str]:
    """The parameters of a pmsapi request (besides ``action`` and ``cookie``)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown pmsapi format {fmt!r}; expected xml or json")
    return {"format": fmt, "data": document, "token": token}


def _text(field: str, value: object) -> str:
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected a string or number, not {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{field}: {value!r} is not a number the PBX can store")
    if isinstance(value, int | float | Decimal):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected a string or number, not {type(value).__name__}")
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
        raise ValueError(f"{field}: {value!r} contains control characters")
    return value


def _name(field: str, value: object, names: NamePolicy) -> str:
    # Names are cleaned rather than refused: the front desk cannot fix what a channel sent.
    return names.clean(value) if isinstance(value, str) else _text(field, value)


def _choice(field: str, value: object, allowed: tuple[int, ...]) -> str:
    number = int(value) if isinstance(value, bool) else value
    if isinstance(number, str) and number.strip().isdigit():
        number = int(number)
    if not isinstance(number, int) or number not in allowed:
        wanted = ", ".join(str(option) for option in allowed)
        raise ValueError(f"{field}: {value!r} is not one of {wanted}")
    return str(number)


def _as_datetime(field: str, value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{field}: {value!r} is not a date/time such as 2026-11-27T14:00")


def _stay_date(field: str, value: object, fmt: str) -> str:
    moment = _as_datetime(field, value)
    if fmt == "json":
        return f"{moment.year:04d}{moment.month:02d}{moment.day:02d}"
    return f"{moment.year:04d}/{moment.month:02d}/{moment.day:02d} {moment.hour:02d}:{moment.minute:02d}"


def _wakeup_date(field: str, value: object) -> str:
    if isinstance(value, str) and re.fullmatch(r"\d{8}", value.strip()):
        try:
            value = datetime.strptime(value.strip(), "%Y%m%d")
        except ValueError:
            raise ValueError(f"{field}: {value!r} is not a valid date (YYYYMMDD)") from None
    elif isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{field}: {value!r} is not a date (YYYYMMDD or 2026-11-27)") from None
    if not isinstance(value, date):
        raise ValueError(f"{field}: {value!r} is not a date (YYYYMMDD or 2026-11-27)")
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def _wakeup_time(field: str, value: object) -> str:
    if isinstance(value, str):
        text = value.strip()
        pattern = "%H%M" if re.fullmatch(r"\d{4}", text) else "%H:%M"
        try:
            value = datetime.strptime(text, pattern).time()
        except ValueError:
            raise ValueError(f"{field}: {value!r} is not a time of day (HHMM or 07:30)") from None
    if isinstance(value, datetime):
        value = value.time()
    if not isinstance(value, time):
        raise ValueError(f"{field}: {value!r} is not a time of day (HHMM or 07:30)")
    return f"{value.hour:02d}{value.minute:02d}"


def _split_wakeup_moment(fields: Mapping[str, object]) -> dict[str, object]:
    """Replace ``w_at`` by ``w_date`` and ``w_time``."""
    fields = dict(fields)
    moment = fields.pop("w_at")
    clashing = sorted({"w_date", "w_time"} & fields.keys())
    if clashing:
        raise ValueError(f"wakeup: give either w_at or {' and '.join(clashing)}, not both")
    moment = _as_datetime("w_at", moment)
    fields["w_date"], fields["w_time"] = moment.date(), moment.time()
    return fields


def _formatters(fmt: str, names: NamePolicy) -> dict[str, Callable[[str, object], str]]:
    return {
        "datein": lambda field, value: _stay_date(field, value, fmt),
        "dateout": lambda field, value: _stay_date(field, value, fmt),
        "cos": lambda field, value: _choice(field, value, (1, 2, 3, 4)),
        "w_action": lambda field, value: _choice(field, value, (0, 1)),
        "w_mode": lambda field, value: _choice(field, value, (1, 2)),
        "w_date": _wakeup_date,
        "w_time": _wakeup_time,
        "status": lambda field, value: _choice(field, value, (0, 1)),
        "firstname": lambda field, value: _name(field, value, names),
        "lastname": lambda field, value: _name(field, value, names),
    }


def _document_values(
    operation: str, fields: Mapping[str, object], fmt: str, names: NamePolicy
) -> list[tuple[str, str]]:
    """Validate ``fields`` for ``operation`` and return (field, text) pairs in document order.

    Raises ValueError naming unknown fields, missing mandatory ones and bad values.
    """
    spec = OPERATIONS.get(operation)
    if spec is None:
        raise ValueError(f"unknown pmsapi operation {operation!r}; known: {', '.join(OPERATIONS)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown pmsapi format {fmt!r}; expected xml or json")
    if operation == "wakeup":
        if "w_at" in fields:
            fields = _split_wakeup_moment(fields)
        fields = {"w_mode": 1, **fields}
    unknown = sorted(set(fields) - set(spec.fields))
    if unknown:
        raise ValueError(f"{operation}: unknown field(s) {', '.join(unknown)}; known: {', '.join(spec.fields)}")
    missing = sorted(
        name
        for name in spec.required
        if name not in fields or (name not in _MAY_BE_EMPTY and fields[name] in (None, ""))
    )
    if missing:
        raise ValueError(f"{operation}: missing mandatory field(s) {', '.join(missing)}")

    formatters = _formatters(fmt, names)
    values = []
    for name in spec.fields:
        if name not in fields:
            continue
        value = fields[name]
        if value is None and name not in _MAY_BE_EMPTY:
            continue
        if value is None or value == "":
            values.append((name, ""))
        else:
            try:
                values.append((name, formatters.get(name, _text)(name, value)))
            except ValueError as err:
                raise ValueError(f"{operation}.{err}") from None
    return values


def build_document(
    operation: str,
    fields: Mapping[str, object],
    *,
    fmt: str = "xml",
    move_destination_element: str = "d_room",
    names: NamePolicy = NamePolicy(),
) -> str:
    """The ``data`` document of a pmsapi request for ``operation`` with ``fields``.

    ``fmt`` is "xml" or "json"; ``move_destination_element`` names the element carrying a
    move's destination room (pbx.move_destination_element); ``names`` cleans guest names.
    Optional fields given as None are left out. Raises ValueError for unknown operations,
    unknown or missing fields and invalid values.
    """
    if move_destination_element not in MOVE_DESTINATION_ELEMENTS:
        raise ValueError(f"move_destination_element must be d_room or r_room, not {move_destination_element!r}")
    values = _document_values(operation, fields, fmt, names)
    elements = [(move_destination_element if name == "d_room" else name, text) for name, text in values]
    if fmt == "json":
        return json.dumps({operation: dict(elements)}, ensure_ascii=False)
    root = etree.Element("pms_data_request")
    body = etree.SubElement(root, operation)
    for name, text in elements:
        try:
            etree.SubElement(body, name).text = text
        except ValueError as err:
            raise ValueError(f"{operation}.{name}: {text!r} cannot be written to XML ({err})") from err
    return etree.tostring(root, encoding="unicode")
