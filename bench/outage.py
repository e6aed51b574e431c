"""A long PBX outage during a stream of events: how soon do deliveries resume, and does /healthz follow?

`python -m bench.outage [--seconds 300]` runs the bridge (its default dispatcher and health
settings) against the PBX emulator in this process, records a steady stream of front-desk
events, takes the PBX down for ``--seconds`` and brings it back. It prints when /healthz
turned 503 after the PBX went down, when it turned 200 after its return, and when the first
delivery reached the PBX after its return; every room must end as desired. The test suite
runs the same scenario with a one-minute outage (tests/ops/test_outage.py).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pmsbridge.config import parse_settings
from pmsbridge.events import CheckIn, DndSet, Guest
from pmsbridge.ledger.database import create_ledger_engine, migrate
from pmsbridge.service import build
from pmsbridge.sim.pbx import EmulatorOptions, PbxEmulator
from pmsbridge.web import create_app

ROOMS = [str(room) for room in range(101, 121)]
POLL = 0.25


@dataclass(frozen=True)
class OutageFigures:
    outage: float  # seconds the PBX was down
    unhealthy_after: float  # PBX down -> /healthz 503
    healthy_after: float  # PBX back -> /healthz 200
    resumed_after: float  # PBX back -> first delivery received by the PBX
    settled_after: float  # PBX back -> nothing left to send
    events: int  # recorded during the outage
    rooms_right: int  # rooms whose PBX state is the desired one at the end


def _wait(condition, timeout: float) -> float:
    """Seconds until ``condition()`` holds (polled); raises TimeoutError after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"still not true after {timeout:.0f} s")
        time.sleep(POLL)
    return time.monotonic() - start


def _first_times(start: float, conditions: dict, timeout: float) -> dict[str, float]:
    """Seconds from ``start`` until each condition first held (all polled together)."""
    marks: dict[str, float] = {}
    while len(marks) < len(conditions):
        elapsed = time.monotonic() - start
        if elapsed > timeout:
            raise TimeoutError(f"{sorted(set(conditions) - set(marks))} still not true after {timeout:.0f} s")
        for name, condition in conditions.items():
            if name not in marks and condition():
                marks[name] = elapsed
        time.sleep(POLL)
    return marks


def settings_document(state_dir: Path, emulator: PbxEmulator) -> dict:
    options = emulator.options
    return {
        "bridge": {"state_dir": str(state_dir), "database_url": f"sqlite:///{state_dir / 'ledger.db'}"},
        "pbx": {"url": emulator.url, "username": options.username, "password": options.password,
                "pms_username": options.pms_username, "pms_password": options.pms_password,
                "tls_fingerprint": emulator.fingerprint, "connect_timeout": 2, "read_timeout": 5},
        "rooms": {"extension_template": "1{room}", "rooms": ROOMS},
        "web": {"listen": "127.0.0.1:0"},
    }


def measure_outage(state_dir: Path, outage: float) -> OutageFigures:
    """Run the scenario in ``state_dir`` with the PBX down for ``outage`` seconds."""
    options = EmulatorOptions(port=0, rooms=len(ROOMS), extension_template="1{room}", state_dir=state_dir / "pbx")
    with PbxEmulator(options) as emulator:
        settings = parse_settings(settings_document(state_dir, emulator))
        engine = create_ledger_engine(settings.bridge.effective_database_url)
        migrate(engine)
        engine.dispose()
        service = build(settings)
        service.start(web=False)
        try:
            web = create_app(service.settings, service).test_client()
            ledger = service.ledger
            arrival = datetime.now().replace(second=0, microsecond=0)
            for room in ROOMS:
                ledger.record(CheckIn(source="bench", room=room, guest=Guest(
                    last_name=f"Guest{room}", arrival=arrival, departure=arrival + timedelta(days=2))), raw="")
            _wait(lambda: ledger.stats().depth == 0 and web.get("/healthz").status_code == 200, 60)

            stop_stream = threading.Event()
            recorded = []

            def stream() -> None:
                on = True
                while not stop_stream.wait(1.0):
                    for room in ROOMS[:5]:
                        ledger.record(DndSet(source="bench", room=room, on=on), raw="")
                        recorded.append(room)
                    on = not on

            emulator.set_faults(down=True)
            down_at = time.monotonic()
            streamer = threading.Thread(target=stream, daemon=True)
            streamer.start()
            unhealthy_after = _wait(lambda: web.get("/healthz").status_code == 503, outage + 60)
            remaining = outage - (time.monotonic() - down_at)
            if remaining > 0:
                time.sleep(remaining)
            stop_stream.set()
            streamer.join()
            events = len(recorded)
            log_before = len(emulator.requests_log)
            emulator.clear_faults()
            back_at = time.monotonic()

            def delivered_since_back() -> bool:
                return any(entry.action == "pmsapi" and entry.status == 0 and entry.time >= back_at
                           for entry in emulator.requests_log[log_before:])

            marks = _first_times(back_at, {
                "resumed": delivered_since_back,
                "healthy": lambda: web.get("/healthz").status_code == 200,
                "settled": lambda: delivered_since_back() and ledger.stats().depth == 0,
            }, timeout=300)
            snapshot = emulator.state.snapshot()["rooms"]
            books = ledger.room_books()
            rooms_right = sum(
                1 for room in ROOMS
                if snapshot[room]["occupied"] and snapshot[room]["dnd"] == books[room].state.dnd
                and not books[room].differs)
            return OutageFigures(outage=outage, unhealthy_after=unhealthy_after, healthy_after=marks["healthy"],
                                 resumed_after=marks["resumed"], settled_after=marks["settled"], events=events,
                                 rooms_right=rooms_right)
        finally:
            service.stop(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="how long the PBX is down (default 300)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        figures = measure_outage(Path(directory), args.seconds)
    print(f"PBX down for {figures.outage:.0f} s, {figures.events} events recorded meanwhile")
    print(f"/healthz 503 after        {figures.unhealthy_after:6.1f} s of outage (target <= 60 s)")
    print(f"/healthz 200 after        {figures.healthy_after:6.1f} s of the PBX back (target <= 10 s)")
    print(f"first delivery after      {figures.resumed_after:6.1f} s of the PBX back (target <= 10 s)")
    print(f"queue empty after         {figures.settled_after:6.1f} s of the PBX back")
    print(f"rooms as desired          {figures.rooms_right} of {len(ROOMS)}")


if __name__ == "__main__":
    main()
