"""`pmsbridge demo`: its ports are options, a taken one is one sentence, and a restart starts a consistent hotel."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pmsbridge.cli import main
from tests.helpers import free_port, wait_for

ROOT = Path(__file__).parent.parent


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


@pytest.mark.parametrize("which, option, what", [
    ("web", "--listen", "the web interface"),
    ("pbx", "--pbx-port", "the PBX emulator"),
    ("fias", "--fias-port", "the FIAS PMS simulator"),
])
def test_a_taken_port_is_one_sentence_naming_its_option(tmp_path, taken_port, capsys, which, option, what):
    ports = {"web": free_port(), "pbx": free_port(), "fias": free_port(), which: taken_port}
    arguments = ["demo", "--state-dir", str(tmp_path), "--listen", f"127.0.0.1:{ports['web']}",
                 "--pbx-port", str(ports["pbx"]), "--fias-port", str(ports["fias"])]
    assert main(arguments) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"pmsbridge: port {taken_port} ({what}) is already in use by another program")
    assert f"choose another with {option}" in err and f'make demo DEMO_ARGS="{option}' in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "pmsbridge.toml").exists()  # nothing was started


def test_a_bad_listen_address_is_named(tmp_path, capsys):
    assert main(["demo", "--state-dir", str(tmp_path), "--listen", "9000"]) == 1
    assert "--listen '9000' is not HOST:PORT" in capsys.readouterr().err


def deliveries(ledger: Path, since: datetime | None = None) -> dict[str, int]:
    """Delivery rows per state in the demo's ledger, created from ``since`` (UTC) on; {} before there is one."""
    if not ledger.exists():
        return {}
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=5) as connection:
        try:
            rows = connection.execute("select state, count(*) from delivery where created_at >= ? group by state",
                                      (f"{since or datetime.min:%Y-%m-%d %H:%M:%S.%f}",)).fetchall()
        except sqlite3.OperationalError:  # not there or not migrated yet
            return {}
    return dict(rows)


def run_demo_until_delivered(state_dir: Path, log: Path, count: int) -> dict[str, int]:
    """Start the demo on free ports, wait for ``count`` operations it delivered, stop it with Ctrl-C.

    Returns the deliveries per state, every row of the ledger counted."""
    since = datetime.now(UTC).replace(tzinfo=None)
    arguments = [sys.executable, "-m", "pmsbridge.cli", "demo", "--state-dir", str(state_dir),
                 "--listen", f"127.0.0.1:{free_port()}", "--pbx-port", str(free_port()),
                 "--fias-port", str(free_port()), "--activity-interval", "0.2"]
    with log.open("a") as output:
        process = subprocess.Popen(arguments, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            wait_for(lambda: deliveries(state_dir / "ledger.db", since).get("delivered", 0) >= count,
                     timeout=60, interval=0.2)
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0
    everything = deliveries(state_dir / "ledger.db")
    assert everything == deliveries(state_dir / "ledger.db", since), "the ledger kept rows of an earlier run"
    return everything


def test_a_restarted_demo_has_no_dead_deliveries(tmp_path):
    """The emulator and the simulator start empty, so the ledger does too: nothing is sent for
    guests the PBX never saw, and nothing goes dead."""
    state_dir, log = tmp_path / "demo", tmp_path / "demo.log"
    first = run_demo_until_delivered(state_dir, log, 10)
    fingerprint = (state_dir / "pmsbridge.toml").read_text().split("tls_fingerprint = ")[1].split("\n")[0]
    second = run_demo_until_delivered(state_dir, log, 10)
    assert first.get("dead", 0) == second.get("dead", 0) == 0, log.read_text()[-3000:]
    # Kept across the restart: the emulator's certificate.
    assert f"tls_fingerprint = {fingerprint}" in (state_dir / "pmsbridge.toml").read_text()
    assert "Traceback" not in log.read_text()
