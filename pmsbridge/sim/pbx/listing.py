"""Request parameters shared by the list actions: numbers given as int or digit string,
paging (``page``, ``item_num``), sorting (``sidx``, ``sord``) and ``options`` (the fields wanted).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from pmsbridge.sim.pbx.errors import INVALID_PARAMETERS, ApiError

# "acs" is how the guide spells ascending; clients send either.
SORT_ORDERS = {"asc": False, "acs": False, "desc": True}


def int_param(request: dict[str, Any], name: str, default: int | None, low: int, high: int | None = None) -> int | None:
    """``request[name]`` as an int within ``low..high``; ``default`` when absent or empty."""
    value = request.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int | str) or (isinstance(value, str) and not value.isdigit()):
        raise ApiError(INVALID_PARAMETERS, f"{name} must be a whole number")
    number = int(value)
    if number < low or (high is not None and number > high):
        limit = f"{low}..{high}" if high is not None else f"at least {low}"
        raise ApiError(INVALID_PARAMETERS, f"{name} must be {limit}")
    return number


def wanted_fields(request: dict[str, Any], known: Iterable[str]) -> list[str]:
    """The known fields named in ``options`` (all of them when it is absent); unknown names are ignored."""
    known = list(known)
    options = request.get("options")
    if options is None or options == "":
        return known
    if not isinstance(options, str):
        raise ApiError(INVALID_PARAMETERS, "options must be a comma-separated string")
    named = {option.strip() for option in options.split(",")}
    return [name for name in known if name in named]


def natural_key(value: Any) -> tuple[int, int, str]:
    """Empty first, then numbers by value, then text; "101" < "1000" as on a PBX's list page."""
    if value is None:
        return (0, 0, "")
    text = str(value)
    if text.isdigit():
        return (1, int(text), text)
    return (2, 0, text)


def sorted_rows(rows: list[dict[str, Any]], request: dict[str, Any], default_key: str,
                aliases: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """``rows`` ordered by ``sidx`` (default ``default_key``) and ``sord``."""
    key = request.get("sidx") or default_key
    key = (aliases or {}).get(key, key)
    if rows and key not in rows[0]:
        raise ApiError(INVALID_PARAMETERS, f"cannot sort by {key!r}")
    order = request.get("sord") or "asc"
    if order not in SORT_ORDERS:
        raise ApiError(INVALID_PARAMETERS, "sord must be asc or desc")
    return sorted(rows, key=lambda row: natural_key(row.get(key)), reverse=SORT_ORDERS[order])


def page_of(rows: list[dict[str, Any]], request: dict[str, Any], list_key: str) -> dict[str, Any]:
    """The page asked for, as ``{list_key: [...], "page", "total_item", "total_page"}``.

    Without ``item_num`` every row is on page 1.
    """
    item_num = int_param(request, "item_num", None, 1)
    page = int_param(request, "page", 1, 1)
    per_page = item_num or max(len(rows), 1)
    start = (page - 1) * per_page
    return {
        list_key: rows[start:start + per_page],
        "page": page,
        "total_item": len(rows),
        "total_page": max(math.ceil(len(rows) / per_page), 1),
    }
