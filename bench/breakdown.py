"""Where a burst's CPU goes, per event: recording, settling, building documents, HTTP.

    python -m bench.breakdown [--events 2000] [--latency 0.002] [--sqlite FULL]

Runs ``bench.dispatch``'s burst (N check-ins recorded together while the dispatcher sends
them to the emulator in its own process) with the steps of the path FIAS record → ledger →
claim → request → outcome timed in the CPU time of the thread that runs them, and prints
microseconds per event for each, next to the rate. A step runs in one thread at a time, so
the figures add up per thread; the sender thread's own CPU is time the PBX waits.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from bench.common import DEFAULT_LATENCY
from bench.dispatch import run_bridge
from pmsbridge.ledger.dispatcher import Dispatcher
from pmsbridge.ledger.store import Ledger
from pmsbridge.pbx.client import PbxClient
from pmsbridge.pbx.transport import PbxConnections

# (class, method, what it is): the steps timed, by the thread that runs them.
STEPS: list[tuple[type, str, str]] = [
    (Ledger, "record_many", "recording (the caller's thread)"),
    (Dispatcher, "_book_loop", "bookkeeper thread, in all"),
    (Ledger, "settle", "  settlements: outcomes and claims"),
    (Dispatcher, "_prepare", "  documents for the queued deliveries"),
    (Dispatcher, "_send_loop", "sender thread, in all"),
    (PbxClient, "pmsapi_data", "  pmsapi call"),
    (PbxConnections, "post", "    of which the HTTPS exchange"),
]


def timed(method: Callable, totals: dict[str, float], name: str) -> Callable:
    def wrapper(*args, **kwargs):
        started = time.thread_time()
        try:
            return method(*args, **kwargs)
        finally:
            totals[name] += time.thread_time() - started

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=DEFAULT_LATENCY)
    parser.add_argument("--sqlite", default="FULL", help="synchronous setting, or a PostgreSQL URL")
    args = parser.parse_args()
    totals: dict[str, float] = defaultdict(float)
    for owner, method, name in STEPS:
        setattr(owner, method, timed(getattr(owner, method), totals, name))
    with tempfile.TemporaryDirectory() as tmp:
        run = run_bridge(Path(tmp), args.sqlite.upper() if "://" not in args.sqlite else args.sqlite,
                         args.events, None, args.latency)
    print(f"burst of {args.events} check-ins, emulator answering after {args.latency * 1000:g} ms: "
          f"{run.rate:.1f} events/s, CPU of the process {run.cpu * 1e6:.0f} us per event")
    for _, _, name in STEPS:
        print(f"  {name:<42} {totals[name] / args.events * 1e6:6.0f} us per event")


if __name__ == "__main__":
    main()
