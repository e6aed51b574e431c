"""Ledger fixtures; the ``engine`` fixture (SQLite and PostgreSQL) is in tests/conftest.py."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from pmsbridge.config import RoomsSettings
from pmsbridge.ledger.store import Ledger
from pmsbridge.mapping import RoomMapping
from pmsbridge.rooms import RoomPolicy

ZONE = ZoneInfo("Europe/Berlin")


class FrozenClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime | None = None):
        self.now = now or datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        from datetime import timedelta

        self.now += timedelta(**delta)


def make_ledger(engine, *, template: str = "1{room}", overrides: dict | None = None, clock=None) -> Ledger:
    rooms = RoomsSettings(extension_template=template, map=overrides or {})
    kwargs = {"clock": clock} if clock else {}
    return Ledger(engine, policy=RoomPolicy.from_settings(rooms), mapping=RoomMapping(template, overrides or {}),
                  zone=ZONE, **kwargs)


@pytest.fixture
def ledger(engine) -> Ledger:
    return make_ledger(engine)
