"""Call accounting fixtures: settings with an [accounting] section, a PBX emulator in hotel time,
a ledger, and helpers that wait with a deadline."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlmodel import Session

from pmsbridge.accounting.cdr import SINCE_KEY
from pmsbridge.config import Settings, parse_settings
from pmsbridge.events import CheckIn, Guest
from pmsbridge.ledger.models import AuditEntry
from pmsbridge.service import Service, build
from pmsbridge.sim.pbx import EmulatorOptions, PbxEmulator
from tests.ledger.conftest import make_ledger

ZONE = "Europe/Berlin"
TARIFFS = [
    {"prefix": "00", "name": "International", "connection_fee": 50, "unit_price": 120, "unit_seconds": 60,
     "free_seconds": 5},
    {"prefix": "0", "name": "National", "connection_fee": 20, "unit_price": 10, "unit_seconds": 30},
    {"prefix": "", "name": "Local", "unit_price": 10, "unit_seconds": 120},
]
PBX_PLACEHOLDER = {"url": "https://127.0.0.1:9", "username": "cdrapi", "password": "a-real-secret",
                   "pms_username": "pms", "pms_password": "another-secret", "verify": False}


def settings_for(emulator: PbxEmulator | None = None, *, adapters: dict | None = None, pbx: dict | None = None,
                 sections: dict | None = None, **accounting) -> Settings:
    """A validated configuration: rooms 1{room}, accounting on with the test tariffs; ``sections``
    adds or replaces whole sections ([bridge], [web]...)."""
    if emulator is not None:
        options = emulator.options
        pbx_section = {"url": emulator.url, "username": options.username, "password": options.password,
                       "pms_username": options.pms_username, "pms_password": options.pms_password,
                       "tls_fingerprint": emulator.fingerprint, "connect_timeout": 2, "read_timeout": 5}
    else:
        pbx_section = dict(PBX_PLACEHOLDER)
    pbx_section.update(pbx or {})
    document = {
        "bridge": {"timezone": ZONE},
        "pbx": pbx_section,
        "rooms": {"extension_template": "1{room}"},
        "accounting": {"enabled": True, "tariffs": TARIFFS, **accounting},
        "adapters": adapters or {},
    }
    document.update(sections or {})
    return parse_settings(document)


def collect_from(ledger, when: dt.datetime) -> None:
    """Let the collector charge calls that started from ``when`` (hotel local time) on."""
    ledger.set_value(SINCE_KEY, when.isoformat())


def check_in(ledger, room: str, name: str = "Doe", source: str = "fias") -> None:
    ledger.record(CheckIn(source=source, room=room, guest=Guest(reservation=f"R{room}", last_name=name)), raw="")


def audit_entries(engine) -> list[tuple[str, str, str | None, str | None]]:
    """(actor, action, room, detail) of every audit entry, oldest first."""
    with Session(engine) as session:
        rows = session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
        return [(row.actor, row.action, row.room, row.detail) for row in rows]


@pytest.fixture(scope="session")
def certificate_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("pbx-certificate")


@pytest.fixture
def emulator(certificate_dir):
    options = EmulatorOptions(port=0, rooms=30, extension_template="1{room}", timezone=ZONE,
                              state_dir=certificate_dir)
    with PbxEmulator(options) as emulator:
        yield emulator


@pytest.fixture
def ledger(engine):
    return make_ledger(engine)


class Services:
    """Builds and starts services on the test database; ``sections()`` are the [bridge], [web]
    and [dispatcher] sections that point a configuration there."""

    def __init__(self, database_url: str, state_dir) -> None:
        self.database_url = database_url
        self.state_dir = state_dir
        self.started: list[Service] = []

    def sections(self, **more) -> dict:
        return {"bridge": {"timezone": ZONE, "database_url": self.database_url, "state_dir": str(self.state_dir)},
                "web": {"listen": "127.0.0.1:0"},
                "dispatcher": {"backoff_initial_seconds": 0.05, "backoff_max_seconds": 0.2}, **more}

    def build(self, settings: Settings) -> Service:
        """A service that is built but not started (stopped at the end all the same)."""
        service = build(settings)
        self.started.append(service)
        return service

    def start(self, settings: Settings, *, web: bool = False) -> Service:
        service = self.build(settings)
        service.start(web=web)
        return service

    def stop(self, service: Service) -> None:
        self.started.remove(service)
        service.stop()

    def stop_all(self) -> None:
        for service in self.started:
            service.stop()


@pytest.fixture
def services(database_url, engine, tmp_path):
    services = Services(database_url, tmp_path / "state")
    yield services
    services.stop_all()
