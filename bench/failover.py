"""Two servers, one bridge: kill -9 the leader in the middle of a FIAS stream, and time the takeover.

`python -m bench.failover --database-url postgresql+psycopg://... [--runs 10]` runs, per run,
two `pmsbridge run` processes with `[ha]` enabled (the defaults: an 8 s lease renewed every
2 s) on one PostgreSQL ledger, the PBX emulator and the FIAS simulator (the PMS, the
bridge connecting to it). The simulator sends 1,000 check-ins and check-outs over 50 rooms,
interleaved at random; when a random share of them reached the PBX, the leader is killed
with SIGKILL. The standby takes over, the simulator's link moves to it, and the stream ends.

Per run it prints the failover time (kill -> the new leader's first PBX request, its login)
and checks what the PBX emulator received: each operation of the ledger exactly once
(its counters), none dead, every room as the PMS has it. The database named is emptied
first. At the end: the median and the worst failover time, and the runs that lost or doubled
anything. The test suite runs one such run (tests/ops/test_ha.py).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests
from sqlalchemy import func, select, text

from bench.common import free_port
from pmsbridge.ledger.database import create_ledger_engine, migrate
from pmsbridge.ledger.models import Delivery, DeliveryState
from pmsbridge.sim.fias import FiasSimulator, SimulatorOptions
from pmsbridge.sim.pbx import EmulatorOptions, PbxEmulator

ROOMS = tuple(str(101 + number) for number in range(50))
EVENTS_PER_ROOM = 20  # check-in, check-out, ...: 1,000 events, each room vacant at the end
# A pause between two PMS records: about the pace the bridges record them at on a small test
# machine. Faster, the records pile up in the leader's socket buffer, and the kill loses them
# all (FIAS acknowledges no record: the swap asked for at the takeover repairs the rooms).
RECORD_PAUSE = 0.015
POLL = 0.05


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: still not so after {timeout:.0f} s")
        time.sleep(POLL)


def reset_database(url: str) -> None:
    """Empty the database and migrate it."""
    engine = create_ledger_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    migrate(engine)
    engine.dispose()


class Bridge:
    """One `pmsbridge run` of a pair: its own state folder and web port, the shared ledger."""

    def __init__(self, workdir: Path, name: str, database_url: str, emulator: PbxEmulator, fias_port: int | None,
                 extra: str = ""):
        self.name = name
        self.state_dir = workdir / name
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.state_dir / "service.log"
        options = emulator.options
        fias = "" if fias_port is None else f"""
[adapters.fias]
mode = "client"
host = "127.0.0.1"
port = {fias_port}
reconnect_min = 0.2
reconnect_max = 1.0
# The swap asked for at the takeover may check out the one occupied room there is near the
# end of the stream: the guard would hold it for a person to confirm.
swap_checkout_guard = 1.0
"""
        self.config = self.state_dir / "pmsbridge.toml"
        self.config.write_text(f"""
[bridge]
database_url = "{database_url}"
state_dir = "{self.state_dir}"
[pbx]
url = "{emulator.url}"
username = "{options.username}"
password = "{options.password}"
pms_username = "{options.pms_username}"
pms_password = "{options.pms_password}"
tls_fingerprint = "{emulator.fingerprint}"
connect_timeout = 2
read_timeout = 5
[rooms]
extension_template = "1{{room}}"
rooms = ["{ROOMS[0]}-{ROOMS[-1]}"]
[web]
listen = "127.0.0.1:{self.port}"
[ha]
enabled = true
member_name = "{name}"
{extra}
{fias}
""")
        self.process: subprocess.Popen | None = None

    def start(self) -> Bridge:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen([sys.executable, "-m", "pmsbridge.cli", "run", "--config",
                                             str(self.config)], stdout=output, stderr=subprocess.STDOUT)
        return self

    def role(self) -> str | None:
        """The role /healthz reports, None while it does not answer."""
        try:
            return requests.get(f"{self.url}/healthz", timeout=2).json().get("role")
        except (requests.RequestException, ValueError):
            return None

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def stop(self) -> int | None:
        """SIGTERM, then wait; the exit status (None if it had to be killed)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return None
        return self.process.returncode

    def tail(self, characters: int = 3000) -> str:
        return f"--- {self.name} ---\n" + self.log.read_text(errors="replace")[-characters:]


def stream(seed: int) -> list[tuple[str, int]]:
    """(room, n): the n-th record of the room, check-in for even n, check-out for odd; rooms
    interleaved at random, each room's records in order."""
    rng = random.Random(seed)
    left = {room: 0 for room in ROOMS}
    records = []
    while left:
        room = rng.choice(list(left))
        records.append((room, left[room]))
        left[room] += 1
        if left[room] == EVENTS_PER_ROOM:
            del left[room]
    return records


def feed(simulator: FiasSimulator, records: list[tuple[str, int]]) -> None:
    for room, number in records:
        if number % 2 == 0:
            simulator.check_in(room, f"Guest{room}x{number // 2}", "Ann")
        else:
            simulator.check_out(room)
        time.sleep(RECORD_PAUSE)


@dataclass(frozen=True)
class FailoverRun:
    failover_seconds: float  # SIGKILL of the leader -> the new leader's first PBX request
    killed_after: int  # PBX operations received before the kill
    operations: int  # deliveries in the ledger
    lost_in_transit: int  # PMS records the killed leader had received but not recorded
    doubled: int  # PBX operations received beyond the ledger's deliveries
    lost: int  # deliveries not delivered (dead or never sent)
    rooms_wrong: int  # rooms whose PBX state is not the PMS's

    @property
    def clean(self) -> bool:
        return self.doubled == 0 and self.lost == 0 and self.rooms_wrong == 0


def stream_events(url: str) -> int:
    """Guest events recorded from the stream: FIAS check-ins and check-outs, less those a
    database swap made (recorded between its start and its end)."""
    engine = create_ledger_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("""
                SELECT count(*) FROM inbound_event AS event
                WHERE event.source = 'fias' AND event.kind IN ('check_in', 'check_out')
                AND NOT EXISTS (SELECT 1 FROM inbound_event AS swap_start WHERE swap_start.kind = 'resync_start'
                    AND swap_start.id < event.id
                    AND NOT EXISTS (SELECT 1 FROM inbound_event AS swap_end WHERE swap_end.kind = 'resync_end'
                                    AND swap_end.id > swap_start.id AND swap_end.id < event.id))
            """)).scalar_one()
    finally:
        engine.dispose()


def ledger_operations(url: str) -> dict[str, dict[str, int]]:
    """operation -> delivery state -> count."""
    engine = create_ledger_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(Delivery.operation, Delivery.state, func.count())
                                      .group_by(Delivery.operation, Delivery.state)).all()
    finally:
        engine.dispose()
    counts: dict[str, dict[str, int]] = {}
    for operation, state, count in rows:
        counts.setdefault(operation, {})[str(state)] = count
    return counts


def open_deliveries(url: str) -> int:
    engine = create_ledger_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(Delivery).where(
                Delivery.state.in_([DeliveryState.PENDING, DeliveryState.IN_FLIGHT, DeliveryState.RETRYING])
            )).scalar_one()
    finally:
        engine.dispose()


def run_once(database_url: str, workdir: Path, seed: int, say: Callable[[str], None] = print) -> FailoverRun:
    """One run: a leader killed in the middle of the stream; see the module docstring."""
    reset_database(database_url)
    rng = random.Random(seed)
    records = stream(seed)
    emulator_options = EmulatorOptions(port=0, rooms=len(ROOMS), extension_template="1{room}",
                                       state_dir=workdir / "pbx")
    with PbxEmulator(emulator_options) as emulator, \
            FiasSimulator(SimulatorOptions(rooms=ROOMS)) as simulator:
        first = Bridge(workdir, "server-a", database_url, emulator, simulator.port).start()
        second = Bridge(workdir, "server-b", database_url, emulator, simulator.port)
        bridges = [first, second]
        try:
            wait_until(lambda: first.role() == "leader", 60, "server-a leads")
            second.start()
            wait_until(lambda: second.role() == "standby", 60, "server-b stands by")
            wait_until(simulator.link_up, 30, "the FIAS link is up")
            feeder = threading.Thread(target=feed, args=(simulator, records), daemon=True)
            feeder.start()

            def sent() -> int:
                counters = emulator.counters()
                return counters.get("pmsapi:checkin", 0) + counters.get("pmsapi:checkout", 0)

            kill_after = rng.randint(100, 600)
            wait_until(lambda: sent() >= kill_after, 120, f"{kill_after} operations reached the PBX")
            killed_at = time.monotonic()
            first.signal(signal.SIGKILL)
            first.process.wait(10)
            wait_until(lambda: any(request.time > killed_at and request.action == "login"
                                   for request in emulator.requests_log), 60, "the new leader logs in")
            login = min(request.time for request in emulator.requests_log
                        if request.time > killed_at and request.action == "login")
            failover = login - killed_at
            say(f"  killed the leader after {kill_after} operations; the new leader's first PBX request "
                f"{failover:.1f} s later")
            feeder.join(120)
            wait_until(lambda: second.role() == "leader", 30, "server-b leads")
            wait_until(simulator.link_up, 30, "the FIAS link moved to server-b")
            # Settled: nothing open, and the PBX matching the PMS (the swap asked for at the
            # takeover may still be arriving).
            wait_until(lambda: open_deliveries(database_url) == 0 and rooms_wrong(emulator, simulator) == 0, 180,
                       "every delivery settled and every room as the PMS has it")
        except Exception:
            for bridge in bridges:
                say(bridge.tail())
            raise
        finally:
            for bridge in bridges:
                bridge.stop()
        operations = ledger_operations(database_url)
        counters = emulator.counters()
        doubled = sum(max(0, counters.get(f"pmsapi:{operation}", 0) - states.get("delivered", 0))
                      for operation, states in operations.items())
        lost = sum(count for states in operations.values() for state, count in states.items()
                   if state != "delivered")
        return FailoverRun(failover, kill_after, sum(sum(states.values()) for states in operations.values()),
                           len(records) - stream_events(database_url), doubled, lost,
                           rooms_wrong(emulator, simulator))


def rooms_wrong(emulator: PbxEmulator, simulator: FiasSimulator) -> int:
    """Rooms whose guest name on the PBX is not the PMS's in-house guest's."""
    in_house = dict(simulator.hotel.in_house())
    wrong = 0
    for room in ROOMS:
        guest = emulator.state.room_summary(room).get("guest") or {}
        shown = " ".join(part for part in (guest.get("firstname"), guest.get("lastname")) if part)
        expected = in_house.get(room)
        expected_name = "" if expected is None else f"{expected.first_name} {expected.last_name}"
        if shown != expected_name:
            wrong += 1
    return wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("PMSBRIDGE_TEST_DATABASE_URL"),
                        help="a PostgreSQL database to empty and use (default: $PMSBRIDGE_TEST_DATABASE_URL)")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    if not args.database_url or args.database_url.startswith("sqlite"):
        parser.error("two servers need a PostgreSQL database: --database-url postgresql+psycopg://...")
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    runs = []
    for number in range(args.runs):
        print(f"run {number + 1} (seed {seed + number}):", flush=True)
        with tempfile.TemporaryDirectory() as workdir:
            run = run_once(args.database_url, Path(workdir), seed + number)
        print(f"  {run.operations} operations, {run.doubled} doubled, {run.lost} lost or dead, "
              f"{run.rooms_wrong} rooms wrong; {run.lost_in_transit} PMS records lost in transit", flush=True)
        runs.append(run)
    times = [run.failover_seconds for run in runs]
    print(f"failover over {len(runs)} runs: median {statistics.median(times):.1f} s, worst {max(times):.1f} s; "
          f"{sum(not run.clean for run in runs)} runs lost or doubled anything")


if __name__ == "__main__":
    main()
