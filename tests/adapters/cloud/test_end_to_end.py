"""End to end: cloud PMS simulator -> webhooks and poll -> adapter -> ledger -> dispatcher -> PBX emulator.

After a random 300-event run (with duplicated, reordered and dropped webhooks) every room on
the PBX matches the simulator's in-house list."""

from __future__ import annotations

import pytest

from pmsbridge.config import DispatcherSettings
from pmsbridge.ledger.dispatcher import Dispatcher
from pmsbridge.pbx.client import PbxClient
from pmsbridge.sim.pbx import EmulatorOptions, PbxEmulator
from tests.adapters.cloud.conftest import Cloud
from tests.conftest import database_url  # noqa: F401 - SQLite, and PostgreSQL when set
from tests.helpers import wait_for

RANDOM_EVENTS = 300


@pytest.fixture
def emulator(tmp_path):
    with PbxEmulator(EmulatorOptions(port=0, rooms=30, extension_template="1{room}",
                                     state_dir=tmp_path / "pbx")) as emulator:
        yield emulator


def pbx_section(emulator: PbxEmulator) -> dict:
    options = emulator.options
    return {"url": emulator.url, "username": options.username, "password": options.password,
            "pms_username": options.pms_username, "pms_password": options.pms_password,
            "tls_fingerprint": emulator.fingerprint, "connect_timeout": 2, "read_timeout": 5}


def test_after_a_random_run_every_room_on_the_pbx_matches_the_pms(vendor, engine, webhooks, emulator):
    pbx = pbx_section(emulator)
    clients = []

    def dispatcher_for(ledger):
        settings = cloud.settings(pbx)
        client = PbxClient(settings.pbx)
        clients.append(client)
        return Dispatcher(ledger, client, ledger.mapping,
                          DispatcherSettings(backoff_initial_seconds=0.05, backoff_max_seconds=0.2), settings.pbx)

    cloud = Cloud(vendor, engine, webhooks)
    try:
        sim = cloud.simulator(rate_limit=None, seed=14)
        cloud.dispatcher = dispatcher_for(cloud.ledger)
        cloud.dispatcher.start()
        adapter = cloud.adapter(pbx)
        cloud.agree()
        sim.set_faults(webhook_duplicate=0.1, webhook_reorder=0.2, webhook_drop=0.05)
        done = sim.run_random(RANDOM_EVENTS, seed=300)
        assert len(done) > RANDOM_EVENTS / 2
        wait_for(lambda: sim.webhooks.wait_idle(0.1), timeout=60)
        adapter.poll_now()  # what the dropped webhooks did not bring, as the next poll would
        in_house = cloud.agree(timeout=60)
        wait_for(lambda: cloud.ledger.stats().depth == 0, timeout=60)

        rooms = emulator.state.snapshot()["rooms"]
        for room in sim.options.room_names():
            on_pbx = rooms[room]
            assert on_pbx["occupied"] == (room in in_house), room
            if on_pbx["occupied"]:
                guest = on_pbx["guest"]
                assert " ".join(part for part in (guest["firstname"], guest["lastname"]) if part) == \
                    in_house[room][0], room
        assert sim.webhooks.counts()["dropped"] > 0
    finally:
        cloud.stop()
        if cloud.dispatcher is not None:
            cloud.dispatcher.stop()
        for client in clients:
            client.close()
