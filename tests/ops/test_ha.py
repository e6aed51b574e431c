"""Two servers, one bridge: two real `pmsbridge run` processes on one PostgreSQL ledger, the PBX
emulator over HTTPS and the FIAS simulator over TCP, all on 127.0.0.1.

These need PostgreSQL (CI sets PMSBRIDGE_TEST_DATABASE_URL); without it they are skipped.
"""

from __future__ import annotations

import re
import signal
import time

import pytest
import requests

from bench.failover import (
    ROOMS,
    Bridge,
    feed,
    ledger_operations,
    open_deliveries,
    reset_database,
    rooms_wrong,
    run_once,
    stream,
    stream_events,
    wait_until,
)
from pmsbridge.cli import main
from pmsbridge.service import EXIT_DEPOSED
from pmsbridge.sim.fias import FiasSimulator, SimulatorOptions
from pmsbridge.sim.pbx import EmulatorOptions, PbxEmulator
from pmsbridge.users import UserStore
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.skipif(POSTGRES_URL is None,
                                reason="two servers need PostgreSQL: set PMSBRIDGE_TEST_DATABASE_URL")


@pytest.fixture
def database_url() -> str:
    reset_database(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def emulator(tmp_path):
    options = EmulatorOptions(port=0, rooms=len(ROOMS), extension_template="1{room}", state_dir=tmp_path / "pbx")
    with PbxEmulator(options) as running:
        yield running


@pytest.fixture
def simulator():
    with FiasSimulator(SimulatorOptions(rooms=ROOMS)) as running:
        yield running


@pytest.fixture
def bridges():
    """Bridges to stop at the end, whatever happened (a frozen one is let go on first)."""
    started: list[Bridge] = []
    yield started
    for bridge in started:
        bridge.stop()


def no_doubles_and_nothing_lost(database_url: str, emulator: PbxEmulator) -> None:
    operations = ledger_operations(database_url)
    counters = emulator.counters()
    assert operations, "nothing was recorded"
    for operation, states in operations.items():
        assert set(states) == {"delivered"}, (operation, states)
        assert counters.get(f"pmsapi:{operation}", 0) == states["delivered"], (operation, counters)


def test_kill_9_of_the_leader_mid_stream_loses_and_doubles_nothing(database_url, tmp_path, capsys):
    run = run_once(database_url, tmp_path, seed=int(time.time()))
    with capsys.disabled():
        print(f"\nfailover: {run.failover_seconds:.1f} s (kill -9 -> the new leader's first PBX request); "
              f"{run.operations} operations, {run.lost_in_transit} PMS records lost in transit")
    assert (run.doubled, run.lost, run.rooms_wrong) == (0, 0, 0)
    assert run.operations > 900


def test_a_frozen_leader_sends_nothing_after_the_takeover_and_steps_down(database_url, tmp_path, emulator,
                                                                           simulator, bridges):
    first = Bridge(tmp_path, "server-a", database_url, emulator, simulator.port).start()
    second = Bridge(tmp_path, "server-b", database_url, emulator, simulator.port)
    bridges += [first, second]
    wait_until(lambda: first.role() == "leader", 60, "server-a leads")
    second.start()
    wait_until(lambda: second.role() == "standby", 60, "server-b stands by")
    wait_until(simulator.link_up, 30, "the FIAS link is up")
    # A slow PBX: the leader holds claimed deliveries, one of them in flight, when it freezes.
    # The stream is all recorded first: PMS records sent to a frozen leader are lost to
    # FIAS, which is not what this test is about.
    emulator.set_faults(latency=0.1)
    records = stream(7)[:200]
    feed(simulator, records)
    wait_until(lambda: stream_events(database_url) == len(records), 60, "the stream is recorded")
    wait_until(lambda: emulator.counters().get("pmsapi:checkin", 0) >= 10, 60, "the stream reaches the PBX")

    first.signal(signal.SIGSTOP)
    wait_until(lambda: second.role() == "leader", 60, "server-b takes over")
    emulator.set_faults(latency=0.0)
    wait_until(lambda: open_deliveries(database_url) == 0, 120, "server-b settles everything")
    before = len(emulator.requests_log)
    first.signal(signal.SIGCONT)
    assert first.process.wait(60) == EXIT_DEPOSED
    assert "this server no longer leads" in first.log.read_text()
    # What the frozen leader held was refused at the gate, not sent: nothing doubled.
    assert not any(request.operation for request in emulator.requests_log[before:])
    no_doubles_and_nothing_lost(database_url, emulator)
    assert rooms_wrong(emulator, simulator) == 0
    assert second.role() == "leader"


def test_both_started_at_once_exactly_one_leads(database_url, tmp_path, emulator, bridges, capsys):
    pair = [Bridge(tmp_path, name, database_url, emulator, None) for name in ("server-a", "server-b")]
    bridges += [bridge.start() for bridge in pair]
    wait_until(lambda: all(bridge.role() in ("leader", "standby") for bridge in pair), 60, "both answer")
    # Several looks, one renewal apart: the lead does not pass back and forth.
    for _ in range(3):
        assert sorted(bridge.role() for bridge in pair) == ["leader", "standby"]
        time.sleep(2)
    leader = next(bridge for bridge in pair if bridge.role() == "leader")
    metrics = requests.get(f"{leader.url}/metrics", timeout=5).text
    assert 'pmsbridge_ha_role{role="leader"} 1.0' in metrics
    assert "pmsbridge_ha_failovers_total 0.0" in metrics
    capsys.readouterr()
    assert main(["ha", "status", "--config", str(leader.config)]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^leader: {leader.name} \(", out, re.M)
    assert re.search(r"^  server-a +(leader|standby) ", out, re.M)
    assert re.search(r"^  server-b +(leader|standby) ", out, re.M)


def test_a_front_desk_action_on_the_standby_reaches_the_pbx_through_the_leader(database_url, tmp_path, emulator,
                                                                               bridges):
    leader = Bridge(tmp_path, "server-a", database_url, emulator, None).start()
    bridges.append(leader)
    wait_until(lambda: leader.role() == "leader", 60, "server-a leads")
    standby = Bridge(tmp_path, "server-b", database_url, emulator, None).start()
    bridges.append(standby)
    wait_until(lambda: standby.role() == "standby", 60, "server-b stands by")
    health = requests.get(f"{standby.url}/healthz", timeout=5)
    assert (health.status_code, health.json()["role"]) == (200, "standby")

    from pmsbridge.ledger.database import create_ledger_engine

    engine = create_ledger_engine(database_url)
    UserStore(engine).add("desk", "frontdesk", "a long front desk password")
    engine.dispose()
    browser = requests.Session()
    page = browser.get(f"{standby.url}/login", timeout=5).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = browser.post(f"{standby.url}/login", timeout=5,
                          data={"name": "desk", "password": "a long front desk password", "csrf_token": csrf})
    assert answer.ok and "/login" not in answer.url
    # The session (and its CSRF token) is a new one after the login.
    page = browser.get(f"{standby.url}/rooms/105", timeout=5).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = browser.post(f"{standby.url}/rooms/105/actions/checkin", timeout=10,
                          data={"csrf_token": csrf, "action_key": "standby-1", "first_name": "Jane",
                                "last_name": "Doe"})
    assert answer.ok
    wait_until(lambda: (emulator.state.room_summary("105").get("guest") or {}).get("lastname") == "Doe", 30,
               "the check-in reaches the PBX")
    assert emulator.counters().get("pmsapi:checkin") == 1
