"""Ledger + dispatcher throughput and latency against the PBX emulator, next to a raw client.

    python -m bench.dispatch [--events 2000]

Three measurements, each against a fresh emulator process:
1. raw: one `requests` session posting the same pmsapi check-in documents in a loop;
2. burst: N check-in events recorded as fast as possible while the dispatcher sends them;
   events/s from the first commit to the last delivery, and the ratio bridge/raw;
3. paced: events recorded at half the raw rate, so that the queue stays short; p50/p99
   from the commit of an event to the start of its PBX request.
Targets on SQLite: ratio >= 0.8, p99 < 50 ms, peak RSS < 150 MB.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.common import RawClient, describe, emulator_process, pbx_settings, peak_rss_mb, percentile
from pmsbridge.config import DispatcherSettings, RoomsSettings
from pmsbridge.events import CheckIn, Guest
from pmsbridge.ledger.database import create_ledger_engine, migrate
from pmsbridge.ledger.dispatcher import Dispatcher
from pmsbridge.ledger.store import Ledger
from pmsbridge.mapping import RoomMapping
from pmsbridge.pbx.client import PbxClient
from pmsbridge.pbx.names import NamePolicy
from pmsbridge.pbx.pmsapi import build_document
from pmsbridge.rooms import RoomPolicy

ARRIVAL, DEPARTURE = datetime(2026, 11, 27, 14, 0), datetime(2026, 11, 29, 11, 0)


def rooms(count: int) -> list[str]:
    return [str(100 + n) for n in range(1, count + 1)]


def check_in(room: str) -> CheckIn:
    return CheckIn(source="bench", room=room, guest=Guest(reservation=f"R{room}", last_name=f"Guest{room}",
                                                          first_name="Bench", arrival=ARRIVAL, departure=DEPARTURE))


def measure_raw(workdir: Path, count: int) -> float:
    with emulator_process(workdir / "raw", count) as (url, _):
        client = RawClient(url)
        documents = [build_document("checkin", {"address": room, "room": room, "firstname": "Bench",
                                                "lastname": f"Guest{room}", "account": f"R{room}",
                                                "datein": ARRIVAL, "dateout": DEPARTURE, "cos": 3},
                                    names=NamePolicy()) for room in rooms(count)]
        started = time.perf_counter()
        for document in documents:
            client.pmsapi(document)
        return time.perf_counter() - started


class TimedDispatcher(Dispatcher):
    """Notes when each delivery's PBX request starts."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.started: dict[int, float] = {}

    def process(self, delivery):
        self.started[delivery.id] = time.perf_counter()
        super().process(delivery)


def run_bridge(workdir: Path, name: str, count: int, interval: float | None) -> tuple[float, list[float]]:
    """Record `count` check-ins (every `interval` seconds, or at once); return (seconds, latencies)."""
    with emulator_process(workdir / name, count) as (url, fingerprint):
        engine = create_ledger_engine(f"sqlite:///{workdir / name / 'ledger.db'}")
        migrate(engine)
        settings = RoomsSettings()
        mapping = RoomMapping.from_settings(settings)
        ledger = Ledger(engine, policy=RoomPolicy.from_settings(settings), mapping=mapping,
                        zone=ZoneInfo("Europe/Berlin"))
        pbx = pbx_settings(url, fingerprint)
        client = PbxClient(pbx)
        client.login()
        dispatcher = TimedDispatcher(ledger, client, mapping, DispatcherSettings(), pbx)
        committed: dict[int, float] = {}
        done = threading.Event()

        def on_outcome(outcome):
            if len(dispatcher.started) == count and outcome.delivery.id == max(committed):
                done.set()

        dispatcher.on_outcome(on_outcome)
        dispatcher.start()
        started = time.perf_counter()
        for number, room in enumerate(rooms(count)):
            if interval:
                time.sleep(max(0.0, started + number * interval - time.perf_counter()))
            result = ledger.record(check_in(room), raw=room)
            committed[result.deliveries[0]] = time.perf_counter()
        while ledger.stats().depth:
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        dispatcher.stop()
        client.close()
        engine.dispose()
        latencies = [dispatcher.started[i] - committed[i] for i in committed]
        return elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        raw_seconds = measure_raw(workdir, args.events)
        raw_rate = args.events / raw_seconds
        burst_seconds, burst_latencies = run_bridge(workdir, "burst", args.events, None)
        burst_rate = args.events / burst_seconds
        paced_count = max(200, args.events // 4)
        _, paced_latencies = run_bridge(workdir, "paced", paced_count, 2 / raw_rate)
    print(f"events: {args.events} check-ins, SQLite ledger, emulator in its own process")
    print(f"raw requests loop:   {raw_rate:8.1f} requests/s ({raw_seconds:.2f} s)")
    print(f"bridge, burst:       {burst_rate:8.1f} events/s ({burst_seconds:.2f} s)")
    print(f"ratio bridge/raw:    {burst_rate / raw_rate:8.2f}   (target >= 0.8)")
    print(f"commit -> request, paced at half the raw rate ({paced_count} events): {describe(paced_latencies)}"
          f"   (target p99 < 50 ms)")
    print(f"commit -> request, burst (queueing included): p50 {percentile(burst_latencies, 0.5):.2f} s")
    print(f"peak RSS of the bridge process: {peak_rss_mb():.0f} MB   (target < 150 MB)")


if __name__ == "__main__":
    main()
