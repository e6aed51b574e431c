"""Ledger + dispatcher throughput and latency against the PBX emulator, next to a raw client.

    python -m bench.dispatch [--events 2000] [--latency 0.02] [--database-url postgresql+psycopg://...]

Each measurement runs against a fresh emulator process:
1. raw: one keep-alive ``http.client`` connection posting the same pmsapi check-in
   documents in a loop (no certificate check, no error handling: the cheapest client);
2. burst: N check-in events arriving together (``Ledger.record_many``, as a database swap
   or a file is recorded) while the dispatcher sends them; events/s from the start of the
   recording to the last outcome committed, and the ratio bridge/raw
   (a raw loop is measured right before each burst, as the machine's speed drifts);
3. paced: events arriving one by one at 80 % of the raw rate, each recorded (``Ledger.record``)
   from a thread of its own as webhook requests are; p50/p99 from the commit of an event to
   the start of its PBX request.
The CPU time of this process per event (all its threads) is printed for the raw loop and
the burst, and the difference: what the ledger and the dispatcher cost on top of a request.
Runs on SQLite with synchronous = FULL (the default: every commit synced to disk) and
NORMAL (bridge.sqlite_synchronous), and on the PostgreSQL database --database-url names
(its public schema is emptied). ``--latency`` makes the emulator answer that many seconds
late, as a real unit would (default 2 ms). Targets: ratio >= 0.8 (>= 0.95 with a 20 ms PBX), p99 < 50 ms,
peak RSS < 150 MB. No assertions.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.common import (
    DEFAULT_LATENCY,
    SYNCHRONOUS_MODES,
    RawClient,
    describe,
    emulator_process,
    ledger_at,
    pbx_settings,
    peak_rss_mb,
    percentile,
    set_latency,
)
from pmsbridge.config import DispatcherSettings
from pmsbridge.events import CheckIn, Guest
from pmsbridge.ledger.dispatcher import Dispatcher
from pmsbridge.ledger.store import GROUP_LIMIT, Incoming
from pmsbridge.pbx.client import PbxClient
from pmsbridge.pbx.names import NamePolicy
from pmsbridge.pbx.pmsapi import build_document

ARRIVAL, DEPARTURE = datetime(2026, 11, 27, 14, 0), datetime(2026, 11, 29, 11, 0)
# Longest wait for the last outcome of a run.
RUN_TIMEOUT = 600.0
# Threads handing in the paced run's events.
PACED_SENDERS = 8


def rooms(count: int) -> list[str]:
    return [str(100 + n) for n in range(1, count + 1)]


def check_in(room: str) -> CheckIn:
    return CheckIn(source="bench", room=room, guest=Guest(reservation=f"R{room}", last_name=f"Guest{room}",
                                                          first_name="Bench", arrival=ARRIVAL, departure=DEPARTURE))


@dataclass(frozen=True)
class RawRun:
    rate: float  # requests per second
    cpu: float  # seconds of this process's CPU per request


def measure_raw(workdir: Path, count: int, latency: float) -> RawRun:
    """The raw loop's requests per second and CPU per request."""
    with emulator_process(workdir, count) as (url, _):
        set_latency(url, latency)
        client = RawClient(url)
        documents = [build_document("checkin", {"address": room, "room": room, "firstname": "Bench",
                                                "lastname": f"Guest{room}", "account": f"R{room}",
                                                "datein": ARRIVAL, "dateout": DEPARTURE, "cos": 3},
                                    names=NamePolicy()) for room in rooms(count)]
        started, cpu = time.perf_counter(), time.process_time()
        for document in documents:
            client.pmsapi(document)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        client.close()
        return RawRun(count / elapsed, cpu / count)


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
    cpu: float  # seconds of this process's CPU per event


def run_bridge(workdir: Path, database: str, count: int, interval: float | None, latency: float) -> BridgeRun:
    """Record `count` check-ins (every `interval` seconds, or at once) while they are sent.

    ``database`` is FULL or NORMAL (a SQLite ledger in ``workdir`` with that synchronous
    setting) or the URL of a PostgreSQL database."""
    with emulator_process(workdir, count) as (url, fingerprint):
        set_latency(url, latency)
        workdir.mkdir(parents=True, exist_ok=True)
        ledger = (ledger_at(f"sqlite:///{workdir / 'ledger.db'}", database) if database in SYNCHRONOUS_MODES
                  else ledger_at(database))
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

        def record(event: CheckIn) -> None:
            result = ledger.record(event, raw=event.room)
            committed[result.deliveries[0]] = time.perf_counter()

        started, cpu = time.perf_counter(), time.process_time()
        if interval:
            # Each event on its own, from a thread of its own as webhook requests come in.
            with ThreadPoolExecutor(PACED_SENDERS) as senders:
                for number, event in enumerate(events):
                    time.sleep(max(0.0, started + number * interval - time.perf_counter()))
                    senders.submit(record, event)
        else:
            # A group arrival: the events come in together, as a swap's or a file's do.
            for first in range(0, count, GROUP_LIMIT):
                results = ledger.record_many([Incoming(event, event.room) for event in events[first:first + GROUP_LIMIT]])
                now = time.perf_counter()
                committed.update((result.deliveries[0], now) for result in results)
        if not done.wait(RUN_TIMEOUT):
            raise RuntimeError(f"only {outcomes} of {count} deliveries finished in {RUN_TIMEOUT:.0f} s")
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        dispatcher.stop()
        client.close()
        ledger.engine.dispose()
        return BridgeRun(count / elapsed, [dispatcher.started[i] - committed[i] for i in committed], cpu / count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=DEFAULT_LATENCY,
                        help="seconds the emulator waits before answering")
    parser.add_argument("--database-url", help="also measure on this PostgreSQL database (emptied first)")
    parser.add_argument("--sqlite", default=",".join(SYNCHRONOUS_MODES),
                        help="SQLite synchronous settings to measure, comma-separated (none: empty)")
    args = parser.parse_args()
    count = args.events
    paced_count = max(200, count // 4)
    databases = [mode for mode in args.sqlite.upper().split(",") if mode]
    if args.database_url:
        databases.append(args.database_url)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for number, database in enumerate(databases):
            name = f"SQLite, synchronous = {database}" if database in SYNCHRONOUS_MODES else "PostgreSQL"
            raw = measure_raw(workdir / f"raw-{number}", count, args.latency)
            burst = run_bridge(workdir / f"burst-{number}", database, count, None, args.latency)
            paced = run_bridge(workdir / f"paced-{number}", database, paced_count, 1 / (0.8 * raw.rate),
                               args.latency)
            lines += [
                f"{name}:",
                f"  raw http.client loop: {raw.rate:8.1f} requests/s",
                f"  bridge, burst:        {burst.rate:8.1f} events/s",
                f"  ratio bridge/raw:     {burst.rate / raw.rate:8.2f}   (target >= 0.8; >= 0.95 with a 20 ms PBX)",
                f"  CPU per event:        raw {raw.cpu * 1e6:.0f} us, bridge {burst.cpu * 1e6:.0f} us, "
                f"bridge - raw {(burst.cpu - raw.cpu) * 1e6:.0f} us",
                f"  commit -> request, paced at 80 % of the raw rate ({paced_count} events): "
                f"{describe(paced.latencies)}   (target p99 < 50 ms)",
                f"  commit -> request, burst (queueing included): p50 {percentile(burst.latencies, 0.5):.2f} s, "
                f"p99 {percentile(burst.latencies, 0.99):.2f} s",
            ]
    print(f"events: {count} check-ins, emulator in its own process answering after {args.latency * 1000:g} ms")
    print("\n".join(lines))
    print(f"peak RSS of the bridge process: {peak_rss_mb():.0f} MB   (target < 150 MB)")


if __name__ == "__main__":
    main()
