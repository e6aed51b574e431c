"""Fixtures of the FIAS adapter tests: a ledger, settings, simulators and adapters that clean up."""

from __future__ import annotations

import time

import pytest

from pmsbridge.adapters.base import AdapterContext
from pmsbridge.adapters.fias.adapter import SWAP_SEEN_KEY, FiasAdapter
from pmsbridge.adapters.fias.config import FiasSettings
from pmsbridge.config import Settings, parse_settings
from pmsbridge.sim.fias import FiasSimulator, SimulatorOptions
from tests.ledger.conftest import make_ledger

ROOMS = [str(number) for number in range(101, 121)]


def bridge_settings(pbx: dict | None = None, **sections) -> Settings:
    """A validated configuration (the PBX section only matters end to end)."""
    document = {
        "bridge": {"timezone": "Europe/Berlin"},
        "pbx": pbx or {"url": "https://127.0.0.1:9", "username": "cdrapi", "password": "a-real-secret",
                       "pms_username": "pms", "pms_password": "another-secret", "verify": False},
        "rooms": {"extension_template": "1{room}"},
        **sections,
    }
    return parse_settings(document)


def fias_settings(**overrides) -> FiasSettings:
    """Settings for tests: quick reconnects, a short pairing window."""
    values = {"reconnect_min": 0.05, "reconnect_max": 0.2, "connect_timeout": 2.0, "move_pair_window": 0.3}
    values.update(overrides)
    return FiasSettings(**values)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02):
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


@pytest.fixture
def database_url(tmp_path) -> str:
    """SQLite: the adapter reaches the database only through the ledger, whose own tests (and
    test_end_to_end here, which overrides this fixture) also run on PostgreSQL."""
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def ledger(engine):
    return make_ledger(engine)


@pytest.fixture
def simulator():
    """Start simulators (server mode on 127.0.0.1, port 0 by default); all stopped afterwards."""
    started: list[FiasSimulator] = []

    def start(**options) -> FiasSimulator:
        options.setdefault("rooms", ROOMS)
        options.setdefault("link_end_wait", 0.5)
        sim = FiasSimulator(SimulatorOptions(**options))
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def adapter(ledger):
    """Build and start FiasAdapters on the test ledger; all stopped afterwards."""
    made: list[FiasAdapter] = []

    def start(settings: FiasSettings, *, dispatcher=None, bridge: Settings | None = None, use_ledger=None,
              first_link_up: bool = False) -> FiasAdapter:
        """``first_link_up``: leave the ledger as if it never saw a swap (the adapter then sends DR)."""
        use_ledger = use_ledger or ledger
        if not first_link_up and use_ledger.get_value(SWAP_SEEN_KEY) is None:
            use_ledger.set_value(SWAP_SEEN_KEY, "before the test")
        context = AdapterContext(settings=bridge or bridge_settings(), ledger=use_ledger, dispatcher=dispatcher)
        fias = FiasAdapter(settings, context)
        made.append(fias)
        fias.start()
        return fias

    yield start
    for fias in made:
        fias.stop(timeout=3)


def linked(sim: FiasSimulator, fias: FiasAdapter, timeout: float = 10.0) -> None:
    """Wait until both ends consider the link up."""
    assert sim.link_up(timeout)
    wait_until(lambda: fias.link.up, timeout)


def events_of(ledger, kind: str | None = None, room: str | None = None):
    """Inbound events oldest first, optionally of one kind and room."""
    rows = list(reversed(ledger.events(room=room, limit=10_000)))
    return [row for row in rows if kind is None or row.kind == kind]
