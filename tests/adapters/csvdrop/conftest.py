"""File-drop fixtures: a migrated ledger (SQLite, and PostgreSQL when
PMSBRIDGE_TEST_DATABASE_URL is set), settings built through the real configuration loader,
and an adapter whose settle clock the test moves by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmsbridge.adapters.base import AdapterContext
from pmsbridge.adapters.csvdrop.adapter import CsvDropAdapter
from pmsbridge.config import parse_settings
from tests.ledger.conftest import FrozenClock, make_ledger

PBX = {"url": "https://192.0.2.10:8089", "username": "cdrapi", "password": "s3cret-api", "pms_username": "pms",
       "pms_password": "s3cret-pms", "tls_fingerprint": "sha256:" + "ab" * 32}


class ManualClock:
    """A monotonic clock for the settle time, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def settings_for(folder: Path, **csvdrop):
    document = {"bridge": {"timezone": "Europe/Berlin"}, "pbx": dict(PBX), "rooms": {"default_departure_time": "11:00"},
                "adapters": {"csvdrop": {"folder": str(folder), "settle_seconds": 0, **csvdrop}}}
    return parse_settings(document)


@pytest.fixture
def ledger(engine):
    return make_ledger(engine, clock=FrozenClock())


@pytest.fixture
def drop(tmp_path) -> Path:
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder


@pytest.fixture
def settle_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_adapter(ledger, drop, settle_clock):
    """An adapter on the ``drop`` folder, prepared but not polling: tests call ``poll_once``."""

    def build(**csvdrop) -> CsvDropAdapter:
        settings = settings_for(drop, **csvdrop)
        adapter = CsvDropAdapter(settings.adapter_settings["csvdrop"], AdapterContext(settings, ledger),
                                 clock=settle_clock)
        adapter.folder.prepare()
        return adapter

    return build


@pytest.fixture
def adapter(make_adapter):
    return make_adapter()
