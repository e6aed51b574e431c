"""SIGTERM while deliveries flow: `pmsbridge run` reports STOPPING, exits 0 within its bound,
leaves nothing in flight, and a restart delivers the rest, each operation exactly once."""

from __future__ import annotations

import random
import signal
import threading
from collections import Counter

from pmsbridge.config import parse_settings
from pmsbridge.ledger.database import create_ledger_engine
from pmsbridge.ledger.models import DeliveryState
from pmsbridge.service import STOP_GRACE
from pmsbridge.sim.pbx import PbxEmulator
from tests.ledger.conftest import make_ledger
from tests.ledger.events import check_in, check_out
from tests.ops.conftest import (
    emulator_options,
    migrated,
    settings_document,
    start_bridge,
    wait_for,
    write_config,
)
from tests.ops.test_sdnotify import NotifySocket

ROOMS = [str(101 + number) for number in range(50)]
EVENTS_PER_ROOM = 4  # check-in, check-out, check-in, check-out
# Seconds a process may take to start its interpreter and to exit, besides the stop itself.
PROCESS_OVERHEAD = 10.0


def burst() -> list:
    """Every room's events in order, the rooms interleaved at random."""
    queues = {room: [check_in(room, f"Guest{room}x{n}") if n % 2 == 0 else check_out(room)
                     for n in range(EVENTS_PER_ROOM)] for room in ROOMS}
    rng = random.Random(7)
    events = []
    while queues:
        room = rng.choice(sorted(queues))
        events.append(queues[room].pop(0))
        if not queues[room]:
            del queues[room]
    return events


def sent(emulator: PbxEmulator) -> int:
    counters = emulator.counters()
    return counters.get("pmsapi:checkin", 0) + counters.get("pmsapi:checkout", 0)


def test_sigterm_during_a_burst_loses_and_doubles_nothing(tmp_path):
    total = len(ROOMS) * EVENTS_PER_ROOM
    with PbxEmulator(emulator_options(tmp_path, rooms=len(ROOMS))) as emulator:
        document = settings_document(tmp_path, emulator)
        settings = migrated(parse_settings(document))
        stop_bound = settings.pbx.connect_timeout + settings.pbx.read_timeout + STOP_GRACE + PROCESS_OVERHEAD
        config = write_config(tmp_path / "pmsbridge.toml", document)
        engine = create_ledger_engine(settings.bridge.effective_database_url)
        ledger = make_ledger(engine)
        log = tmp_path / "service.log"
        # The burst is queued first and the PBX is slow enough that it still flows at the signal.
        for event in burst():
            ledger.record(event, raw=event.model_dump_json())
        emulator.set_faults(latency=0.02)
        notify = NotifySocket(str(tmp_path / "notify"))
        try:
            bridge = start_bridge(config, log, {"NOTIFY_SOCKET": notify.name, "WATCHDOG_USEC": "1000000"})
            wait_for(lambda: "READY=1" in notify.assignments() or bridge.poll() is not None, timeout=30)
            wait_for(lambda: sent(emulator) >= 40, timeout=60)
            bridge.send_signal(signal.SIGTERM)
            assert bridge.wait(stop_bound) == 0, log.read_text()[-3000:]
            assignments = notify.assignments()
            assert assignments[0] == "READY=1" and "WATCHDOG=1" in assignments and "STOPPING=1" in assignments
        finally:
            notify.close()

        states = Counter(delivery.state for delivery in ledger.deliveries(limit=total + 1))
        assert sum(states.values()) == total
        assert states[DeliveryState.IN_FLIGHT] == 0
        assert 40 <= states[DeliveryState.DELIVERED] < total, states  # stopped in the middle
        assert sent(emulator) == states[DeliveryState.DELIVERED]
        assert "pmsbridge stopped" in log.read_text()

        emulator.clear_faults()
        bridge = start_bridge(config, log)
        try:
            wait_for(lambda: ledger.stats().depth == 0, timeout=60)
        finally:
            bridge.send_signal(signal.SIGTERM)
            assert bridge.wait(stop_bound) == 0, log.read_text()[-3000:]

        assert {delivery.state for delivery in ledger.deliveries(limit=total + 1)} == {DeliveryState.DELIVERED}
        counters = emulator.counters()
        assert counters["pmsapi:checkin"] == counters["pmsapi:checkout"] == total // 2
        assert all(not extension["fullname"] for extension in emulator.state.snapshot()["extensions"].values())
        assert "Traceback" not in log.read_text()
    engine.dispose()


def test_a_stop_is_bounded_when_a_pbx_request_hangs(tmp_path, emulator, make_service, caplog):
    service = make_service(settings_document(tmp_path, emulator))
    emulator.set_faults(latency=2.0)
    service.ledger.record(check_in("101", "Patience"), raw="")
    wait_for(lambda: service.ledger.deliveries(state=DeliveryState.IN_FLIGHT))

    assert service.stop(timeout=0.2) is False
    assert "a PBX request was still running at the stop deadline" in caplog.text


def test_a_stop_is_bounded_when_a_scheduled_job_hangs(tmp_path, emulator, make_service, caplog):
    service = make_service(settings_document(tmp_path, emulator))
    running, release = threading.Event(), threading.Event()

    def stuck_job() -> None:
        running.set()
        release.wait(30)

    service.scheduler.add_job(stuck_job, id="stuck")
    wait_for(running.is_set)
    try:
        assert service.stop(timeout=0.2) is False
        assert "a scheduled job was still running at the stop deadline" in caplog.text
    finally:
        release.set()
