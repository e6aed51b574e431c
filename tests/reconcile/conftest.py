"""Reconciliation fixtures: a ledger (SQLite, and PostgreSQL when configured), the PBX emulator
over real HTTPS on 127.0.0.1, a dispatcher and a reconciler wired to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pytest

from pmsbridge.config import DispatcherSettings, PbxSettings, ReconcileSettings
from pmsbridge.events import CheckIn, Guest
from pmsbridge.ledger.dispatcher import Dispatcher
from pmsbridge.ledger.store import Ledger
from pmsbridge.mapping import RoomMapping
from pmsbridge.pbx.client import PbxClient
from pmsbridge.reconcile.reconciler import Reconciler
from pmsbridge.sim.pbx import EmulatorOptions, PbxEmulator
from tests.ledger.conftest import make_ledger
from tests.helpers import pbx_settings_for as pbx_settings, wait_for

ROOMS = 30  # 101..130 on extensions 1101..1130


def check_in(room: str, last_name: str, **guest) -> CheckIn:
    return CheckIn(source="test", room=room,
                   guest=Guest(reservation=f"R{room}", last_name=last_name, first_name="Guest",
                               arrival=datetime(2026, 11, 27, 14, 0), departure=datetime(2026, 11, 29, 11, 0),
                               **guest))


@dataclass
class Hotel:
    """The bridge's parts around one emulated PBX."""

    emulator: PbxEmulator
    ledger: Ledger
    client: PbxClient
    dispatcher: Dispatcher
    pbx: PbxSettings
    reconcilers: list[Reconciler] = field(default_factory=list)

    def reconciler(self, mapping: RoomMapping | None = None, **settings) -> Reconciler:
        values = {"detail_pace_ms": 0, "max_detail_requests": 10, "page_size": 10, "after_swap_delay_seconds": 0,
                  **settings}
        reconciler = Reconciler(self.ledger, self.client, mapping or self.ledger.mapping,
                                ReconcileSettings(**values), self.pbx, dispatcher=self.dispatcher)
        self.reconcilers.append(reconciler)
        return reconciler

    def record(self, *events) -> None:
        for event in events:
            self.ledger.record(event, raw="")

    def settle(self) -> None:
        """Wait until the dispatcher has sent everything queued."""
        wait_for(lambda: self.ledger.stats().depth == 0)

    def room(self, room: str) -> dict:
        return self.emulator.state.room_summary(room)

    def fullname(self, room: str) -> str | None:
        extension = self.room(room)["extension"]
        return self.emulator.state.snapshot()["extensions"][extension]["fullname"]


@pytest.fixture
def emulator(tmp_path):
    options = EmulatorOptions(port=0, rooms=ROOMS, extension_template="1{room}", state_dir=tmp_path / "pbx")
    with PbxEmulator(options) as emulator:
        yield emulator


@pytest.fixture
def hotel(engine, emulator):
    ledger = make_ledger(engine)
    settings = pbx_settings(emulator)
    client = PbxClient(settings)
    dispatcher = Dispatcher(ledger, client, ledger.mapping,
                            DispatcherSettings(backoff_initial_seconds=0.05, backoff_max_seconds=0.2), settings)
    hotel = Hotel(emulator, ledger, client, dispatcher, settings)
    yield hotel
    for reconciler in hotel.reconcilers:
        reconciler.stop()
    dispatcher.stop()
    client.close()
