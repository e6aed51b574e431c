"""A database swap of 2,000 rooms from the FIAS simulator into an empty bridge, next to a raw client.

    python -m bench.fias_swap [--rooms 2000] [--latency 0.02]

1. bridge: the simulator, in a process of its own as a PMS is another machine, holds N
   in-house guests; a FiasAdapter on an empty SQLite ledger links up, asks for a swap
   (DR, as at the first link-up of a new ledger), records the
   resulting check-ins, and the dispatcher sends them to a PBX emulator in its own process.
   Timed from the adapter's start until the dispatcher reports the last check-in accepted;
   the emulator's /sim/state is then checked to show every room occupied.
2. raw: a RawClient (one keep-alive http.client connection) posts the same N check-in
   documents (those the bridge sent) to a fresh emulator process, one after another: the
   limit of any client of this PBX.
Both with the SQLite ledger's synchronous = FULL (the default) and NORMAL
(bridge.sqlite_synchronous); ``--latency`` makes the emulator answer that many seconds
late, as a real unit would (default 2 ms). Printed: the times and the ratio bridge time / raw time
(target <= 1.25). No assertions.
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path

import requests

from bench.common import (
    HOTEL_ZONE,
    DEFAULT_LATENCY,
    SYNCHRONOUS_MODES,
    RawClient,
    emulator_process,
    pbx_settings,
    set_latency,
    peak_rss_mb,
    sqlite_ledger,
)
from pmsbridge.adapters.base import AdapterContext
from pmsbridge.adapters.fias.adapter import FiasAdapter
from pmsbridge.adapters.fias.config import FiasSettings
from pmsbridge.adapters.fias.protocol import (
    FrameDecoder,
    compose_record,
    encode_frame,
    link_alive,
    link_description,
)
from pmsbridge.config import BridgeSettings, DispatcherSettings, Settings
from pmsbridge.ledger.dispatcher import Dispatcher
from pmsbridge.ledger.models import DeliveryState
from pmsbridge.pbx.client import PbxClient
from pmsbridge.validation import EventValidator
from pmsbridge.sim.fias import FiasSimulator, SimulatorOptions

TIMEOUT = 900.0


def room_numbers(count: int) -> list[str]:
    return [str(100 + n) for n in range(1, count + 1)]


def drain(sim: FiasSimulator) -> None:
    """Take the check-ins the simulator buffered while nobody was linked, so that the bridge
    gets its guests through the swap alone: a throwaway link that says LD, LA and leaves."""
    import datetime as dt

    with socket.create_connection(("127.0.0.1", sim.port), timeout=10) as sock:
        decoder = FrameDecoder()
        while not decoder.feed(sock.recv(4096)):
            pass  # the simulator's LS
        now = dt.datetime.now()
        for record in (link_description(now), link_alive(now)):
            sock.sendall(encode_frame(compose_record(record.type, record.fields, "cp1252")))
        if not sim.link_up(30):
            raise RuntimeError("the simulator did not accept the draining link")
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass  # read what it sends until it notices the close


def serve_swap(count: int, ports: Connection, stop: Event) -> None:
    """The PMS, in a process of its own (as it is another machine): a FIAS simulator holding
    ``count`` in-house guests, drained, its port sent on ``ports``; up until ``stop``."""
    sim = FiasSimulator(SimulatorOptions(rooms=room_numbers(count), link_end_wait=1.0))
    sim.start()
    for room in room_numbers(count):
        sim.check_in(room, f"Guest{room}", first_name="Bench")
    drain(sim)
    ports.send(sim.port)
    stop.wait()
    sim.stop()


@contextmanager
def pms_process(count: int):
    """The port of a FIAS simulator with ``count`` in-house guests in a process of its own."""
    context = multiprocessing.get_context("spawn")
    receiving, sending = context.Pipe(duplex=False)
    stop = context.Event()
    process = context.Process(target=serve_swap, args=(count, sending, stop), daemon=True)
    process.start()
    try:
        if not receiving.poll(120):
            raise RuntimeError("the FIAS simulator did not start")
        yield receiving.recv()
    finally:
        stop.set()
        process.join(30)


def run_bridge(workdir: Path, count: int, synchronous: str,
               latency: float) -> tuple[float, float, float, list[str], int]:
    """(seconds until the PBX holds every guest, until the swap was received (DE), until its
    events were recorded; the check-in documents sent; rooms the emulator shows occupied)."""
    with emulator_process(workdir / "bridge", count) as (url, fingerprint), pms_process(count) as pms_port:
        set_latency(url, latency)
        ledger = sqlite_ledger(workdir, synchronous)
        pbx = pbx_settings(url, fingerprint)
        settings = Settings(bridge=BridgeSettings(timezone=HOTEL_ZONE, state_dir=workdir), pbx=pbx)
        # The door's checks, as in the service: FIAS language codes become the PBX's.
        ledger.validator = EventValidator.from_settings(settings, ledger.mapping)
        client = PbxClient(pbx)
        client.login()
        dispatcher = Dispatcher(ledger, client, ledger.mapping, DispatcherSettings(), pbx)
        checked_in = 0
        done = threading.Event()

        def on_outcome(outcome) -> None:
            nonlocal checked_in
            if outcome.delivered and outcome.delivery.operation == "checkin":
                checked_in += 1
                if checked_in == count:
                    done.set()

        dispatcher.on_outcome(on_outcome)
        dispatcher.start()
        adapter = FiasAdapter(FiasSettings(port=pms_port), AdapterContext(settings, ledger, dispatcher))
        started = time.perf_counter()
        adapter.start()
        swap_received = swap_recorded = None
        while not done.wait(0.02):
            now = time.perf_counter() - started
            # The adapter counts each event recorded: DS, DE, then the swap's check-ins.
            recorded = adapter.status.counters.get("events", 0)
            if swap_received is None and recorded >= 2:
                swap_received = now
            if swap_recorded is None and recorded >= count + 2:
                swap_recorded = now
            if now > TIMEOUT:
                raise RuntimeError(f"only {checked_in} of {count} rooms reached the PBX in {TIMEOUT:.0f} s")
        elapsed = time.perf_counter() - started
        swap_received = elapsed if swap_received is None else swap_received
        swap_recorded = elapsed if swap_recorded is None else swap_recorded
        state = requests.get(f"{url}/sim/state", verify=False, timeout=30).json()
        occupied = sum(1 for room in state["rooms"].values() if room["occupied"])
        documents = [delivery.request for delivery in reversed(ledger.deliveries(state=DeliveryState.DELIVERED,
                                                                                 limit=3 * count))
                     if delivery.operation == "checkin"]
        adapter.stop()
        dispatcher.stop()
        client.close()
        ledger.engine.dispose()
        return elapsed, swap_received, swap_recorded, documents, occupied


def run_raw(workdir: Path, rooms: int, documents: list[str], latency: float) -> float:
    with emulator_process(workdir / "raw", rooms) as (url, _):
        set_latency(url, latency)
        client = RawClient(url)
        started = time.perf_counter()
        for document in documents:
            client.pmsapi(document)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=DEFAULT_LATENCY,
                        help="seconds the emulator waits before answering")
    args = parser.parse_args()
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for synchronous in SYNCHRONOUS_MODES:
            workdir = Path(tmp) / synchronous
            bridge_seconds, received_seconds, recorded_seconds, documents, occupied = run_bridge(
                workdir, args.rooms, synchronous, args.latency)
            raw_seconds = run_raw(workdir, args.rooms, documents, args.latency)
            lines += [
                f"synchronous = {synchronous}:",
                f"  swap received (DS ... DE):          {received_seconds:8.2f} s",
                f"  its {args.rooms} check-ins recorded:     {recorded_seconds:8.2f} s",
                f"  bridge, until the PBX has them all: {bridge_seconds:8.2f} s ({occupied} rooms occupied on the PBX)",
                f"  raw client, same {len(documents)} documents:  {raw_seconds:8.2f} s",
                f"  bridge time / raw time:             {bridge_seconds / raw_seconds:8.2f}   (target <= 1.25)",
            ]
    print(f"database swap of {args.rooms} in-house guests into an empty bridge (SQLite ledger, emulator in its "
          f"own process answering after {args.latency * 1000:g} ms)")
    print("\n".join(lines))
    print(f"peak RSS of the bridge process: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
