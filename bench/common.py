"""Shared pieces of the benchmarks: an emulator in its own process, ledgers, figures, a raw client."""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import resource
import socket
import ssl
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import text

from pmsbridge.config import PbxSettings, RoomsSettings
from pmsbridge.ledger.database import create_ledger_engine, migrate
from pmsbridge.ledger.store import Ledger
from pmsbridge.mapping import RoomMapping
from pmsbridge.rooms import RoomPolicy

HOTEL_ZONE = "Europe/Berlin"
USERNAME, PASSWORD, PMS_USERNAME, PMS_PASSWORD = "cdrapi", "cdrapi-secret", "pms", "pms-secret"
# The SQLite ledger's settings the bridge is measured with (bridge.sqlite_synchronous).
SYNCHRONOUS_MODES = ("FULL", "NORMAL")
# How late the emulator answers unless told otherwise: a fast PBX on the hotel's LAN. An
# emulator that answers at once measures the client's CPU more than the ledger's cost.
DEFAULT_LATENCY = 0.002


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def emulator_process(state_dir: Path, rooms: int, template: str = "{room}"):
    """The PBX emulator in a process of its own, as a real PBX is another machine."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pmsbridge.cli", "sim", "pbx", "--port", str(port), "--rooms", str(rooms),
         "--extension-template", template, "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    fingerprint = None
    deadline = time.monotonic() + 30
    output = []
    while time.monotonic() < deadline and fingerprint is None:
        line = process.stdout.readline()
        output.append(line)
        if match := re.search(r"sha256:[0-9a-f]{64}", line):
            fingerprint = match.group(0)
    if fingerprint is None:
        process.kill()
        raise RuntimeError("the emulator did not start:\n" + "".join(output))
    url = f"https://127.0.0.1:{port}"
    _wait_listening(port)
    try:
        yield url, fingerprint
    finally:
        process.terminate()
        process.wait(10)


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)


def set_latency(url: str, seconds: float) -> None:
    """Make the emulator wait ``seconds`` before each API answer (a real unit's pace)."""
    requests.post(f"{url}/sim/faults", json={"latency": seconds}, verify=False, timeout=30).raise_for_status()


def sqlite_ledger(folder: Path, synchronous: str = "FULL") -> Ledger:
    """A migrated SQLite ledger in ``folder``, rooms mapped to the same extension numbers."""
    return ledger_at(f"sqlite:///{folder / 'ledger.db'}", synchronous)


def ledger_at(url: str, synchronous: str = "FULL") -> Ledger:
    """A migrated, empty ledger at ``url`` (a PostgreSQL database's public schema is emptied)."""
    if url.startswith("postgresql"):
        engine = create_ledger_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    engine = create_ledger_engine(url, sqlite_synchronous=synchronous)
    migrate(engine)
    rooms = RoomsSettings()
    return Ledger(engine, policy=RoomPolicy.from_settings(rooms), mapping=RoomMapping.from_settings(rooms),
                  zone=ZoneInfo(HOTEL_ZONE))


def pbx_settings(url: str, fingerprint: str) -> PbxSettings:
    return PbxSettings(url=url, username=USERNAME, password=PASSWORD, pms_username=PMS_USERNAME,
                       pms_password=PMS_PASSWORD, tls_fingerprint=fingerprint)


class RawClient:
    """The least a client can do: one keep-alive ``http.client`` connection, one login, then
    plain POSTs (no certificate check, no error handling: the physical limit of a client)."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=30,
                                                      context=ssl._create_unverified_context())
        challenge = self.post({"action": "challenge", "user": USERNAME, "version": "1.0"})["response"]["challenge"]
        token = hashlib.md5((challenge + PASSWORD).encode()).hexdigest()
        self.cookie = self.post({"action": "login", "user": USERNAME, "token": token})["response"]["cookie"]
        self.token = hashlib.md5((PMS_USERNAME + PMS_PASSWORD).encode()).hexdigest()

    def post(self, request: dict) -> dict:
        self.connection.request("POST", "/api", body=json.dumps({"request": request}).encode(),
                                headers={"Content-Type": "application/json"})
        return json.loads(self.connection.getresponse().read())

    def close(self) -> None:
        self.connection.close()

    def pmsapi(self, document: str) -> dict:
        body = self.post({"action": "pmsapi", "cookie": self.cookie, "token": self.token, "format": "xml",
                          "data": document})
        if body.get("status") != 0:
            raise RuntimeError(f"raw request refused: {body}")
        return body


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def describe(values: list[float]) -> str:
    return (f"p50 {percentile(values, 0.5) * 1000:.1f} ms, p99 {percentile(values, 0.99) * 1000:.1f} ms, "
            f"mean {statistics.fmean(values) * 1000:.1f} ms")
