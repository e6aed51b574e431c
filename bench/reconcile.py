"""Reconciliation of a 2,000-room hotel: PBX requests per run and wall time.

    python -m bench.reconcile [--rooms 2000] [--occupied 0.6]

The emulator runs in its own process. The bridge checks guests into a share of the rooms
through the ledger and the dispatcher; then drift is introduced behind its back through
the emulator's ``/sim/rooms`` endpoint (names changed, rooms checked out, DND switched,
extensions taken out of service). Three runs follow, each with the emulator's counters
zeroed first:

1. listing only (``max_detail_requests = 0``): names and occupancy of every room;
2. the default settings: the listing plus one rotation step of detail reads, with repairs;
3. after the repairs were sent: what is left.

Target: the occupancy and name check costs only listAccount pages (ceil(rooms / page_size));
a default run at most that plus ``max_detail_requests``.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from datetime import datetime
from pathlib import Path

import requests

from bench.common import emulator_process, pbx_settings, sqlite_ledger
from pmsbridge.config import DispatcherSettings, ReconcileSettings
from pmsbridge.events import CheckIn, CheckOut, Guest
from pmsbridge.ledger.dispatcher import Dispatcher
from pmsbridge.pbx.client import PbxClient
from pmsbridge.reconcile.reconciler import Reconciler, RunReport

ARRIVAL, DEPARTURE = datetime(2026, 11, 27, 14, 0), datetime(2026, 11, 29, 11, 0)


class SimControl:
    """The emulator's /sim endpoints (its certificate is self-signed; this is 127.0.0.1)."""

    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = False
        requests.packages.urllib3.disable_warnings()

    def change(self, room: str, **changes) -> None:
        self.session.post(f"{self.url}/sim/rooms/{room}", json=changes, timeout=10).raise_for_status()

    def reset_counters(self) -> None:
        self.session.post(f"{self.url}/sim/reset-counters", json={}, timeout=10).raise_for_status()

    def counters(self) -> dict[str, int]:
        return self.session.get(f"{self.url}/sim/state", timeout=30).json()["counters"]


def check_in(room: str) -> CheckIn:
    return CheckIn(source="bench", room=room, guest=Guest(reservation=f"R{room}", first_name="Bench",
                                                          last_name=f"Guest{room}", arrival=ARRIVAL,
                                                          departure=DEPARTURE))


def introduce_drift(sim: SimControl, occupied: list[str], vacant: list[str]) -> dict[str, int]:
    """Change rooms behind the bridge's back; returns how many of each kind."""
    # DND on rooms inside the first rotation step, so that run 2 reads them.
    renamed, emptied, dnd = occupied[0:50:10], occupied[5:55:10], occupied[21:24]
    for room in renamed:
        sim.change(room, fullname="Changed By Staff")
    for room in emptied:
        sim.change(room, vacate=True)
    for room in dnd:
        sim.change(room, dnd=True)
    sim.change(vacant[0], guest={"firstname": "Walk", "lastname": "In", "datein": "2026/11/27 14:00",
                                 "dateout": "2026/11/28 11:00"})
    sim.change(vacant[1], out_of_service="yes")
    return {"name": len(renamed), "not_checked_in": len(emptied), "dnd": len(dnd),
            "not_checked_out": 1, "extension": 1}


def read_requests(counters: dict[str, int]) -> dict[str, int]:
    """The counters without the repairs the dispatcher sent meanwhile."""
    return {action: count for action, count in sorted(counters.items()) if not action.startswith("pmsapi:")}


def describe_run(title: str, report: RunReport, seconds: float, counters: dict[str, int]) -> list[str]:
    reads = read_requests(counters)
    found = ", ".join(f"{kind} {count}" for kind, count in report.counts().items() if count) or "none"
    return [
        f"{title}: {seconds:.2f} s wall time",
        f"    requests: {', '.join(f'{action} {count}' for action, count in reads.items()) or 'none'}"
        f" ({sum(reads.values())} in all)",
        f"    drifts found: {found}; rooms repaired: {len(report.repaired)}; "
        f"rooms skipped while changing: {report.rooms_skipped}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=2000)
    parser.add_argument("--occupied", type=float, default=0.6, help="share of rooms checked in")
    args = parser.parse_args()
    rooms = [str(100 + n) for n in range(1, args.rooms + 1)]
    occupied = rooms[: int(len(rooms) * args.occupied)]
    vacant = rooms[len(occupied):]
    defaults = ReconcileSettings()
    lines = []
    with tempfile.TemporaryDirectory() as tmp, emulator_process(Path(tmp) / "pbx", args.rooms) as (url, fingerprint):
        ledger = sqlite_ledger(Path(tmp))
        mapping = ledger.mapping
        pbx = pbx_settings(url, fingerprint)
        client = PbxClient(pbx)
        dispatcher = Dispatcher(ledger, client, mapping, DispatcherSettings(), pbx)
        dispatcher.start()
        started = time.perf_counter()
        for room in occupied:
            ledger.record(check_in(room), raw=room)
        for room in vacant[:2]:  # known to the ledger as vacant: checked in and out before
            ledger.record(check_in(room), raw=room)
            ledger.record(CheckOut(source="bench", room=room), raw=room)
        while ledger.stats().depth:
            time.sleep(0.05)
        lines.append(f"hotel: {args.rooms} rooms, {len(occupied)} checked in through the bridge in "
                     f"{time.perf_counter() - started:.1f} s")
        sim = SimControl(url)
        drift = introduce_drift(sim, occupied, vacant)
        lines.append("drift introduced: " + ", ".join(f"{kind} {count}" for kind, count in drift.items()))

        runs = [
            ("run 1, listing only (max_detail_requests = 0)", defaults.model_copy(update={"max_detail_requests": 0})),
            (f"run 2, defaults ({defaults.max_detail_requests} detail reads, {defaults.detail_pace_ms} ms apart)",
             defaults),
            ("run 3, after the repairs were sent", defaults),
        ]
        listing_pages = math.ceil(args.rooms / defaults.page_size)
        for title, reconcile_settings in runs:
            while ledger.stats().depth:
                time.sleep(0.05)
            reconciler = Reconciler(ledger, client, mapping, reconcile_settings, pbx, dispatcher=dispatcher)
            client.login()  # a login's two requests would otherwise land in one run's counts
            sim.reset_counters()
            begun = time.perf_counter()
            report = reconciler.run(reason="bench")
            seconds = time.perf_counter() - begun
            counters = sim.counters()
            lines.extend(describe_run(title, report, seconds, counters))
            if reconcile_settings.max_detail_requests == 0:
                only_pages = read_requests(counters) == {"listAccount": listing_pages}
                lines.append(f"    target: occupancy and names from listAccount pages only ({listing_pages}): "
                             f"{'met' if only_pages else 'NOT met'}")
            else:
                bound = listing_pages + reconcile_settings.max_detail_requests
                details = counters.get("getSIPAccount", 0)
                used = counters.get("listAccount", 0) + details
                pacing = max(0, details - 1) * reconcile_settings.detail_pace_ms / 1000
                lines.append(f"    bound: at most {bound} read requests per run: {'met' if used <= bound else 'NOT met'}"
                             f"; the pace between detail reads accounts for {pacing:.2f} s")
        steps = math.ceil(len(occupied) / defaults.max_detail_requests)
        lines.append(f"every occupied room's DND and forward are read once every {steps} runs "
                     f"({steps * defaults.interval_minutes / 60:.1f} h at {defaults.interval_minutes:g} min)")
        dispatcher.stop()
        client.close()
        ledger.engine.dispose()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
