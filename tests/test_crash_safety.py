"""kill -9 the running service in the middle of a stream of events: after a restart every
operation reaches the PBX emulator exactly once, each room in order."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

from pmsbridge.ledger.database import create_ledger_engine, migrate
from pmsbridge.ledger.models import DeliveryState
from pmsbridge.sim.pbx import EmulatorOptions, PbxEmulator
from tests.ledger.conftest import make_ledger
from tests.ledger.test_dispatcher import fullname
from tests.ledger.events import check_in, check_out
from tests.helpers import free_port, wait_for

ROOMS = 100
EVENTS_PER_ROOM = 10  # check-in, check-out, ... : 1,000 events


def write_config(path: Path, database_url: str, emulator: PbxEmulator, options: EmulatorOptions) -> None:
    path.write_text(f"""
[bridge]
database_url = "{database_url}"
state_dir = "{path.parent}"
[pbx]
url = "{emulator.url}"
username = "{options.username}"
password = "{options.password}"
pms_username = "{options.pms_username}"
pms_password = "{options.pms_password}"
tls_fingerprint = "{emulator.fingerprint}"
[rooms]
extension_template = "1{{room}}"
[web]
listen = "127.0.0.1:{free_port()}"
""")


def start_service(config: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pmsbridge.cli", "run", "--config", str(config)],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


def test_kill_9_loses_and_doubles_nothing(tmp_path):
    options = EmulatorOptions(port=0, rooms=ROOMS, extension_template="1{room}", state_dir=tmp_path / "pbx")
    database_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = create_ledger_engine(database_url)
    migrate(engine)
    ledger = make_ledger(engine)
    rooms = [str(101 + n) for n in range(ROOMS)]
    # Per room: check-in of guest 0, check-out, check-in of guest 1, ... in order per room,
    # interleaved across rooms.
    queues = {room: [(check_in(room, f"G{room}x{n // 2}") if n % 2 == 0 else check_out(room))
                     for n in range(EVENTS_PER_ROOM)] for room in rooms}
    rng = random.Random(int(os.environ.get("PMSBRIDGE_CRASH_SEED", "0")) or None)
    stream = []
    while queues:
        room = rng.choice(list(queues))
        stream.append(queues[room].pop(0))
        if not queues[room]:
            del queues[room]

    with PbxEmulator(options) as emulator:
        config = tmp_path / "pmsbridge.toml"
        write_config(config, database_url, emulator, options)
        log = tmp_path / "service.log"
        service = start_service(config, log)

        def feed():
            for event in stream:
                ledger.record(event, raw=event.model_dump_json())

        feeder = threading.Thread(target=feed)
        feeder.start()
        kill_after = rng.randint(50, 600)
        wait_for(lambda: sum(emulator.counters().get(op, 0) for op in ("pmsapi:checkin", "pmsapi:checkout"))
                 >= kill_after, timeout=120)
        service.send_signal(signal.SIGKILL)
        service.wait(10)
        feeder.join(120)

        service = start_service(config, log)
        try:
            wait_for(lambda: ledger.stats().depth == 0, timeout=180)
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(30)

        deliveries = ledger.deliveries(limit=5000)
        assert len(deliveries) == ROOMS * EVENTS_PER_ROOM, log.read_text()[-3000:]
        assert {d.state for d in deliveries} == {DeliveryState.DELIVERED}, log.read_text()[-3000:]
        counters = emulator.counters()
        assert counters["pmsapi:checkin"] == ROOMS * EVENTS_PER_ROOM // 2
        assert counters["pmsapi:checkout"] == ROOMS * EVENTS_PER_ROOM // 2
        # A check-out sent before its check-in would have been refused and gone dead;
        # the last operation of every room was a check-out.
        for room in rooms:
            assert not fullname(emulator, f"1{room}")
    engine.dispose()
