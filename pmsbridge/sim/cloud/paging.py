"""The two ways the vendors page a list: Mews' cursor (newest first) and page number and size."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

Item = TypeVar("Item")


def newest_first_page(everything: Sequence[Item], wanted: Sequence[Item], key: Callable[[Item], str],
                      cursor: str | None, count: int) -> tuple[list[Item], str | None]:
    """One page of ``wanted`` (a filtered part of ``everything``, both oldest first), newest first.

    Without ``cursor`` the page starts with the newest wanted item; with one, with the
    newest wanted item older than the item ``cursor`` names (which need not pass the
    filter). Returns the page and the next cursor: the key of the page's last (oldest)
    item, ``None`` for an empty page. ValueError when ``cursor`` names no item.
    """
    position = {key(item): index for index, item in enumerate(everything)}
    newest_first = sorted(wanted, key=lambda item: position[key(item)], reverse=True)
    if cursor is not None:
        if cursor not in position:
            raise ValueError(f"Invalid Limitation.Cursor {cursor!r}.")
        newest_first = [item for item in newest_first if position[key(item)] < position[cursor]]
    page = newest_first[:count]
    return page, (key(page[-1]) if page else None)


def numbered_page(items: Sequence[Item], page_number: int, page_size: int | None) -> list[Item]:
    """Page ``page_number`` (1-based) of ``page_size`` items; every item when ``page_size`` is None."""
    if page_size is None:
        return list(items)
    start = (page_number - 1) * page_size
    return list(items[start:start + page_size])
