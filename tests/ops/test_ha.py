"""Two servers, one bridge: two real `pmsbridge run` processes on one PostgreSQL ledger, the PBX
emulator over HTTPS and the FIAS simulator over TCP, all on 127.0.0.1.

All but the SQLite one need PostgreSQL (CI sets PMSBRIDGE_TEST_DATABASE_URL); without it
they are skipped.
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
from pmsbridge.config import HaSettings, parse_settings
from pmsbridge.ha import lease
from pmsbridge.ha.leadership import Leadership
from pmsbridge.ledger.statements import Statement, transaction
from pmsbridge.pbx.client import PbxClient
from pmsbridge.pbx.errors import PbxUnreachable
from pmsbridge.service import EXIT_DEPOSED, build
from pmsbridge.sim.fias import FiasSimulator, SimulatorOptions
from pmsbridge.sim.pbx import EmulatorOptions, PbxEmulator
from pmsbridge.users import UserStore
from tests.conftest import POSTGRES_URL
from tests.helpers import pbx_settings_for
from tests.ops.conftest import migrated, settings_document

needs_postgres = pytest.mark.skipif(not POSTGRES_URL,
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


@needs_postgres
def test_kill_9_of_the_leader_mid_stream_loses_and_doubles_nothing(database_url, tmp_path, capsys):
    run = run_once(database_url, tmp_path, seed=int(time.time()))
    with capsys.disabled():
        print(f"\nfailover: {run.failover_seconds:.1f} s (kill -9 -> the new leader's first PBX request); "
              f"{run.operations} operations, {run.lost_in_transit} PMS records lost in transit")
    assert (run.doubled, run.lost, run.rooms_wrong) == (0, 0, 0)
    assert run.operations > 900


def pbx_quiet_for(emulator, seconds: float) -> bool:
    """No request with a pmsapi operation reached the emulator in the last ``seconds``."""
    recent = [request for request in emulator.requests_log if request.operation]
    return not recent or time.monotonic() - recent[-1].time >= seconds


@needs_postgres
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
    # The new leader's own follow-ups (the takeover's swap, a reconciliation) are over too
    # once the PBX has heard nothing for a while: what comes after the thaw is the old leader's.
    wait_until(lambda: pbx_quiet_for(emulator, 3.0) and open_deliveries(database_url) == 0, 120,
               "the PBX hears nothing more from server-b")
    before = len(emulator.requests_log)
    first.signal(signal.SIGCONT)
    assert first.process.wait(60) == EXIT_DEPOSED
    assert "this server no longer leads" in first.log.read_text()
    # What the frozen leader held was refused at the gate, not sent: nothing doubled.
    assert not any(request.operation for request in emulator.requests_log[before:])
    no_doubles_and_nothing_lost(database_url, emulator)
    assert rooms_wrong(emulator, simulator) == 0
    assert second.role() == "leader"


@needs_postgres
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


@needs_postgres
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


@needs_postgres
def test_the_lease_changes_hands_only_once_lapsed_and_fences_the_old_term(database_url):
    engine = lease.lease_engine(database_url, 2.0)
    try:
        with engine.begin() as connection:
            assert lease.acquire(connection, "a", "server-a", 3) == 1
        with engine.begin() as connection:
            assert lease.acquire(connection, "b", "server-b", 3) is None
            assert lease.renew(connection, "a", 1, 3)
        time.sleep(3.2)
        with engine.begin() as connection:
            assert lease.acquire(connection, "b", "server-b", 3) == 2
            assert not lease.renew(connection, "a", 1, 3)
        fence = Statement(lease.fence_statement(), engine.dialect)
        with transaction(engine, write=False) as tx:
            assert tx.scalar(fence, fence_token=1, fence_holder="a") is None
            assert tx.scalar(fence, fence_token=2, fence_holder="b") == 2
    finally:
        engine.dispose()


@needs_postgres
def test_a_standby_sends_nothing_and_a_stopping_leader_hands_over_at_once(database_url, emulator):
    settings = HaSettings(enabled=True, lease_seconds=3, renew_seconds=1)
    first, second = Leadership(database_url, settings, "a:1:x"), Leadership(database_url, settings, "b:2:y")
    first.start()
    try:
        wait_until(lambda: first.leading, 10, "the first leads")
        second.start()
        client = PbxClient(pbx_settings_for(emulator), gate=second.refusal)
        with pytest.raises(PbxUnreachable, match="standby"):
            client.system_status()
        assert emulator.requests_log == []
        first.stop()  # resigns: no wait for the lease to lapse
        wait_until(lambda: second.leading, 2.5, "the second leads")
        client.system_status()
        assert (second.failovers, second.token) == (1, 2)
        client.close()
    finally:
        first.stop()
        second.stop()


def test_ha_on_the_sqlite_ledger_runs_alone_and_says_so(tmp_path, emulator, caplog):
    settings = migrated(parse_settings(settings_document(tmp_path, emulator, ha={"enabled": True})))
    service = build(settings)
    try:
        assert service.leadership is None
        assert "the SQLite ledger serves one server only" in caplog.text
    finally:
        service.stop(timeout=5)
