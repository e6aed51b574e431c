"""Ledger fixtures: every test runs on SQLite, and also on PostgreSQL when
PMSBRIDGE_TEST_DATABASE_URL names one (CI sets it to a fresh database)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from pmsbridge.config import RoomsSettings
from pmsbridge.ledger.database import create_ledger_engine, migrate
from pmsbridge.ledger.store import Ledger
from pmsbridge.mapping import RoomMapping
from pmsbridge.rooms import RoomPolicy

POSTGRES_URL = os.environ.get("PMSBRIDGE_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
ZONE = ZoneInfo("Europe/Berlin")


def reset_postgres(url: str) -> None:
    engine = create_ledger_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def engine(database_url):
    engine = create_ledger_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


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
