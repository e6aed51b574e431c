"""Server time of the room board for a large hotel (target: under 200 ms for 1,000 rooms).

    python -m bench.board [--rooms 1000] [--requests 30]

Builds a SQLite ledger of ``--rooms`` rooms: two thirds checked in (with open deliveries,
since no dispatcher runs), some with do-not-disturb, wake-ups and shared rooms; fills the
line-status cache as a listAccount sweep would; then times GET / and the refresh fragment
GET /board/table through Flask's test client, which measures the server's work (queries
and rendering) without a network. The PBX is never contacted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench.common import percentile
from pmsbridge.config import BridgeSettings, PbxSettings, RoomsSettings, Settings
from pmsbridge.events import CheckIn, DndSet, Guest, WakeupSet
from pmsbridge.ledger.database import create_ledger_engine, migrate
from pmsbridge.ledger.store import Ledger
from pmsbridge.mapping import RoomMapping
from pmsbridge.rooms import RoomPolicy
from pmsbridge.service import build
from pmsbridge.users import UserStore
from pmsbridge.web import create_app

TARGET_MS = 200
USER, PASSWORD = "bench", "bench-password"
STATUSES = ("Idle", "Idle", "Idle", "InUse", "Busy", "Ringing", "Unavailable")


def room_numbers(count: int) -> list[str]:
    """Forty rooms a floor: 101-140, 201-240, ..."""
    return [f"{1 + n // 40}{1 + n % 40:02d}" for n in range(count)]


def settings_for(directory: Path, rooms: int) -> Settings:
    floors = (rooms + 39) // 40
    return Settings(
        bridge=BridgeSettings(state_dir=directory, database_url=f"sqlite:///{directory / 'ledger.db'}",
                              timezone="Europe/Berlin"),
        # Never contacted: the benchmark fills the status cache itself and starts no dispatcher.
        pbx=PbxSettings(url="https://127.0.0.1:9", username="cdrapi", password="bench-secret", pms_username="pms",
                        pms_password="bench-secret", tls_fingerprint="sha256:" + "00" * 32),
        rooms=RoomsSettings(extension_template="1{room}", rooms=[f"{floor}01-{floor}40" for floor in
                                                                 range(1, floors + 1)]),
    )


def fill_ledger(settings: Settings, rooms: list[str]) -> None:
    engine = create_ledger_engine(settings.bridge.effective_database_url, sqlite_synchronous="OFF")
    migrate(engine)
    ledger = Ledger(engine, policy=RoomPolicy.from_settings(settings.rooms),
                    mapping=RoomMapping.from_settings(settings.rooms), zone=settings.bridge.zone)
    arrival = datetime(2026, 11, 26, 15, 0)
    for index, room in enumerate(rooms):
        if index % 3 == 2:
            continue
        guest = Guest(reservation=f"R{room}", first_name="Guest", last_name=f"Number {room}", language="EN",
                      vip="1" if index % 17 == 0 else None, arrival=arrival, departure=arrival + timedelta(days=3))
        ledger.record(CheckIn(source="bench", room=room, guest=guest), raw="")
        if index % 11 == 0:
            ledger.record(CheckIn(source="bench", room=room, shared=True,
                                  guest=Guest(reservation=f"S{room}", last_name="Companion")), raw="")
        if index % 5 == 0:
            ledger.record(DndSet(source="bench", room=room, on=True), raw="")
        if index % 4 == 0:
            ledger.record(WakeupSet(source="bench", room=room, at=datetime(2030, 1, 1, 6, 30)), raw="")
    UserStore(engine).add(USER, "frontdesk", PASSWORD)
    engine.dispose()


def fill_status_cache(service, rooms: list[str]) -> None:
    accounts = [{"extension": f"1{room}", "status": STATUSES[index % len(STATUSES)], "fullname": None,
                 "addr": f"192.0.2.{index % 250 + 1}:5060", "out_of_service": "no", "newmsg": 0, "urgemsg": 0}
                for index, room in enumerate(rooms)]
    service.extension_status.update(accounts, {"product-model": "FCM630A", "prog-version": "1.0"})


def timed(client, path: str, count: int) -> list[float]:
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(path)
        seconds.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}")
    return seconds


def describe(name: str, seconds: list[float]) -> str:
    return (f"{name}: p50 {percentile(seconds, 0.5) * 1000:.1f} ms, p99 {percentile(seconds, 0.99) * 1000:.1f} ms, "
            f"mean {statistics.fmean(seconds) * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    rooms = room_numbers(args.rooms)
    with tempfile.TemporaryDirectory(prefix="bench-board-") as workdir:
        settings = settings_for(Path(workdir), args.rooms)
        started = time.perf_counter()
        fill_ledger(settings, rooms)
        print(f"ledger of {args.rooms} rooms filled in {time.perf_counter() - started:.1f} s")
        service = build(settings)
        try:
            fill_status_cache(service, rooms)
            client = create_app(settings, service).test_client()
            client.get("/login")
            with client.session_transaction() as session:
                token = session["csrf"]
            client.post("/login", data={"name": USER, "password": PASSWORD, "csrf_token": token})
            page = client.get("/").get_data(as_text=True)
            print(f"board: {page.count('data-room=')} rows, {len(page) // 1024} KiB")
            timed(client, "/", 3)  # warm the template cache and the connection pool
            board = timed(client, "/", args.requests)
            fragment = timed(client, "/board/table", args.requests)
        finally:
            service.stop()
    print(describe("GET / (the board)", board))
    print(describe("GET /board/table (refresh)", fragment))
    verdict = "meets" if percentile(board, 0.5) * 1000 < TARGET_MS else "MISSES"
    print(f"{verdict} the target of {TARGET_MS} ms for {args.rooms} rooms")


if __name__ == "__main__":
    main()
