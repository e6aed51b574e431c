"""Ledger + dispatcher throughput and latency against the PBX emulator, next to a raw client.

    python -m bench.dispatch [--events 2000]

Each measurement runs against a fresh emulator process:
1. raw: one `requests` session posting the same pmsapi check-in documents in a loop;
2. burst: N check-in events recorded as fast as possible while the dispatcher sends them;
   events/s from the first commit to the last outcome committed, and the ratio bridge/raw
   (a raw loop is measured right before each burst, as the machine's speed drifts);
3. paced: events recorded at half the raw rate, so that the queue stays short; p50/p99
   from the commit of an event to the start of its PBX request.
Bursts and paced runs are made with the SQLite ledger's synchronous = FULL (the default:
every commit synced to disk) and NORMAL (synced at checkpoints; bridge.sqlite_synchronous).
Targets on SQLite: ratio >= 0.8, p99 < 50 ms, peak RSS < 150 MB. No assertions.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.common import (
    SYNCHRONOUS_MODES,
    RawClient,
    describe,
    emulator_process,
    pbx_settings,
    peak_rss_mb,
    percentile,
    sqlite_ledger,
)
from pmsbridge.config import DispatcherSettings
from pmsbridge.events import CheckIn, Guest
from pmsbridge.ledger.dispatcher import Dispatcher
from pmsbridge.pbx.client import PbxClient
from pmsbridge.pbx.names import NamePolicy
from pmsbridge.pbx.pmsapi import build_document

ARRIVAL, DEPARTURE = datetime(2026, 11, 27, 14, 0), datetime(2026, 11, 29, 11, 0)
# Longest wait for the last outcome of a run.
RUN_TIMEOUT = 600.0


def rooms(count: int) -> list[str]:
    return [str(100 + n) for n in range(1, count + 1)]


def check_in(room: str) -> CheckIn:
    return CheckIn(source="bench", room=room, guest=Guest(reservation=f"R{room}", last_name=f"Guest{room}",
                                                          first_name="Bench", arrival=ARRIVAL, departure=DEPARTURE))


def measure_raw(workdir: Path, count: int) -> float:
    """Requests per second of the raw loop."""
    with emulator_process(workdir, count) as (url, _):
        client = RawClient(url)
        documents = [build_document("checkin", {"address": room, "room": room, "firstname": "Bench",
                                                "lastname": f"Guest{room}", "account": f"R{room}",
                                                "datein": ARRIVAL, "dateout": DEPARTURE, "cos": 3},
                                    names=NamePolicy()) for room in rooms(count)]
        started = time.perf_counter()
        for document in documents:
            client.pmsapi(document)
        return count / (time.perf_counter() - started)


class TimedDispatcher(Dispatcher):
    """Notes when each delivery's PBX request starts."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.started: dict[int, float] = {}

    def process(self, delivery):
        self.started[delivery.id] = time.perf_counter()
        super().process(delivery)


@dataclass(frozen=True)
class BridgeRun:
    rate: float  # events per second, first commit to last outcome committed
    latencies: list[float]  # seconds from commit to the start of the PBX request


def run_bridge(workdir: Path, count: int, interval: float | None, synchronous: str) -> BridgeRun:
    """Record `count` check-ins (every `interval` seconds, or at once) while they are sent."""
    with emulator_process(workdir, count) as (url, fingerprint):
        ledger = sqlite_ledger(workdir, synchronous)
        pbx = pbx_settings(url, fingerprint)
        client = PbxClient(pbx)
        client.login()
        dispatcher = TimedDispatcher(ledger, client, ledger.mapping, DispatcherSettings(), pbx)
        outcomes = 0
        done = threading.Event()

        def on_outcome(_outcome) -> None:
            nonlocal outcomes
            outcomes += 1
            if outcomes == count:
                done.set()

        dispatcher.on_outcome(on_outcome)
        dispatcher.start()
        events = [check_in(room) for room in rooms(count)]
        committed: dict[int, float] = {}
        started = time.perf_counter()
        for number, event in enumerate(events):
            if interval:
                time.sleep(max(0.0, started + number * interval - time.perf_counter()))
            result = ledger.record(event, raw=event.room)
            committed[result.deliveries[0]] = time.perf_counter()
        if not done.wait(RUN_TIMEOUT):
            raise RuntimeError(f"only {outcomes} of {count} deliveries finished in {RUN_TIMEOUT:.0f} s")
        elapsed = time.perf_counter() - started
        dispatcher.stop()
        client.close()
        ledger.engine.dispose()
        return BridgeRun(count / elapsed, [dispatcher.started[i] - committed[i] for i in committed])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    count = args.events
    paced_count = max(200, count // 4)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for synchronous in SYNCHRONOUS_MODES:
            raw_rate = measure_raw(workdir / f"raw-{synchronous}", count)
            burst = run_bridge(workdir / f"burst-{synchronous}", count, None, synchronous)
            paced = run_bridge(workdir / f"paced-{synchronous}", paced_count, 2 / raw_rate, synchronous)
            lines += [
                f"synchronous = {synchronous}:",
                f"  raw requests loop:   {raw_rate:8.1f} requests/s",
                f"  bridge, burst:       {burst.rate:8.1f} events/s",
                f"  ratio bridge/raw:    {burst.rate / raw_rate:8.2f}   (target >= 0.8)",
                f"  commit -> request, paced at half the raw rate ({paced_count} events): "
                f"{describe(paced.latencies)}   (target p99 < 50 ms)",
                f"  commit -> request, burst (queueing included): p50 {percentile(burst.latencies, 0.5):.2f} s, "
                f"p99 {percentile(burst.latencies, 0.99):.2f} s",
            ]
    print(f"events: {count} check-ins, SQLite ledger, emulator in its own process")
    print("\n".join(lines))
    print(f"peak RSS of the bridge process: {peak_rss_mb():.0f} MB   (target < 150 MB)")


if __name__ == "__main__":
    main()
