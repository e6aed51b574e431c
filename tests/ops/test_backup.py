"""`pmsbridge backup` of a live SQLite ledger and `pmsbridge restore`, which waits for the bridge to stop."""

from __future__ import annotations

import signal
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from pmsbridge.backup import BackupError, backup_ledger, inspect_copy
from pmsbridge.cli import main
from pmsbridge.config import parse_settings
from pmsbridge.ledger.database import create_ledger_engine
from pmsbridge.runlock import AlreadyRunning, RunLock
from pmsbridge.sim.pbx import PbxEmulator
from tests.ledger.conftest import make_ledger
from tests.ledger.events import check_in, check_out
from tests.helpers import wait_for
from tests.ops.conftest import emulator_options, migrated, settings_document, start_bridge, write_config
from tests.ops.test_sdnotify import NotifySocket

PBX = {"url": "https://192.0.2.10:8089", "username": "cdrapi", "password": "api-secret-for-backups",
       "pms_username": "pms", "pms_password": "pms-secret-for-backups", "tls_fingerprint": "sha256:" + "ab" * 32}


def ledger_document(tmp_path: Path) -> dict:
    return {"bridge": {"state_dir": str(tmp_path / "state"), "database_url": f"sqlite:///{tmp_path / 'ledger.db'}"},
            "pbx": dict(PBX), "rooms": {"extension_template": "1{room}"}}


@pytest.fixture
def site(tmp_path):
    """A migrated SQLite ledger, its configuration file, and a Ledger writing to it."""
    document = ledger_document(tmp_path)
    settings = migrated(parse_settings(document))
    engine = create_ledger_engine(settings.bridge.effective_database_url)
    config = write_config(tmp_path / "pmsbridge.toml", document)
    yield config, tmp_path / "ledger.db", make_ledger(engine)
    engine.dispose()


def rows(path: Path) -> dict[str, list[tuple]]:
    connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        tables = [name for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {table: connection.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall() for table in tables}
    finally:
        connection.close()


def record_stays(ledger, first: int, count: int) -> None:
    for number in range(first, first + count):
        room = str(101 + number % 40)
        ledger.record(check_in(room, f"Guest{number}", key=f"stay-{number}"), raw=f"GI {number}")
        ledger.record(check_out(room), raw=f"GO {number}")


def test_backup_copies_a_ledger_in_use_row_for_row(site, tmp_path, capsys):
    config, database, ledger = site
    record_stays(ledger, 0, 30)
    # The service's connections stay open: recent commits live in the WAL, not yet in the file.
    assert Path(f"{database}-wal").stat().st_size > 0
    target = tmp_path / "backups" / "ledger-monday.db"
    target.parent.mkdir()

    assert main(["backup", "--to", str(target), "--config", str(config)]) == 0

    assert capsys.readouterr().out.startswith(f"ledger backed up to {target}: schema ")
    assert rows(target) == rows(database)
    assert len(rows(target)["inbound_event"]) == 60
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # guest names
    # One self-contained file: no WAL to carry along.
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert sorted(path.name for path in target.parent.iterdir()) == ["ledger-monday.db"]


def test_a_backup_taken_while_events_arrive_is_one_consistent_snapshot(site, tmp_path):
    config, database, ledger = site
    record_stays(ledger, 0, 5)
    writing = threading.Event()
    writing.set()

    def write() -> None:
        number = 1000
        while writing.is_set():
            record_stays(ledger, number, 1)
            number += 1

    writer = threading.Thread(target=write)
    writer.start()
    copies = []
    try:
        for number in range(3):
            wait_for(lambda n=number: len(ledger.events(limit=10_000)) >= 10 + 4 * (n + 1))
            copies.append(backup_ledger(f"sqlite:///{database}", tmp_path / f"copy-{number}.db"))
    finally:
        writing.clear()
        writer.join()

    final = rows(database)
    deliveries_of = {}
    for delivery in final["delivery"]:
        deliveries_of.setdefault(delivery[1], []).append(delivery[0])
    for copy in copies:
        copied = rows(copy.path)
        assert inspect_copy(copy.path).rows == {table: len(found) for table, found in copied.items()
                                                if table != "alembic_version"}
        # Every event is there with all the deliveries its transaction made, and nothing half-written.
        copied_deliveries = {}
        for delivery in copied["delivery"]:
            copied_deliveries.setdefault(delivery[1], []).append(delivery[0])
        assert copied_deliveries == {event: deliveries_of[event] for event in copied_deliveries}
        assert set(copied_deliveries) == {event[0] for event in copied["inbound_event"]}
        assert copied["inbound_event"] == final["inbound_event"][:len(copied["inbound_event"])]


def test_restore_puts_a_backup_back_and_keeps_the_ledger_it_replaces(site, tmp_path, capsys):
    config, database, ledger = site
    record_stays(ledger, 0, 10)
    backup = tmp_path / "ledger-backup.db"
    assert main(["backup", "--to", str(backup), "--config", str(config)]) == 0
    record_stays(ledger, 10, 5)
    newer = rows(database)
    ledger.engine.dispose()  # the service is stopped

    assert main(["restore", "--from", str(backup), "--config", str(config)]) == 0

    out = capsys.readouterr().out
    assert "ledger restored:" in out and "pmsbridge resync" in out and "pmsbridge reconcile" in out
    assert rows(database) == rows(backup)
    [kept] = tmp_path.glob("ledger.db.replaced-*")
    assert f"the ledger it replaced is kept as {kept}" in out
    assert rows(kept) == newer
    assert not Path(f"{database}-wal").exists()


def test_restore_refuses_a_file_that_is_not_a_ledger(site, tmp_path, capsys):
    config, database, _ledger = site
    junk = tmp_path / "notes.db"
    junk.write_text("not a database at all, just some notes\n" * 20)
    before = rows(database)
    assert main(["restore", "--from", str(junk), "--config", str(config)]) == 1
    assert "is not a readable SQLite database" in capsys.readouterr().err
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    assert main(["restore", "--from", str(empty), "--config", str(config)]) == 1
    assert "is not a pmsbridge ledger" in capsys.readouterr().err
    assert rows(database) == before


def test_backup_refuses_to_overwrite_the_live_ledger(site, capsys):
    config, database, _ledger = site
    assert main(["backup", "--to", str(database), "--config", str(config)]) == 1
    assert "is the live ledger itself" in capsys.readouterr().err


def test_a_postgresql_ledger_is_backed_up_with_pg_dump(tmp_path, capsys):
    document = ledger_document(tmp_path)
    document["bridge"]["database_url"] = "postgresql+psycopg://pmsbridge@127.0.0.1/pmsbridge"
    config = write_config(tmp_path / "pmsbridge.toml", document)
    assert main(["backup", "--to", str(tmp_path / "x.db"), "--config", str(config)]) == 1
    assert "back it up with pg_dump" in capsys.readouterr().err
    with pytest.raises(BackupError, match="pg_dump"):
        backup_ledger(document["bridge"]["database_url"], tmp_path / "x.db")


def test_a_running_bridge_is_backed_up_but_not_restored_over(tmp_path, capsys):
    with PbxEmulator(emulator_options(tmp_path)) as emulator:
        document = settings_document(tmp_path, emulator)
        settings = migrated(parse_settings(document))
        config = write_config(tmp_path / "pmsbridge.toml", document)
        engine = create_ledger_engine(settings.bridge.effective_database_url)
        record_stays(make_ledger(engine), 0, 10)
        engine.dispose()
        log = tmp_path / "service.log"
        notify = NotifySocket(str(tmp_path / "notify"))
        bridge = start_bridge(config, log, {"NOTIFY_SOCKET": notify.name})
        try:
            wait_for(lambda: "READY=1" in notify.assignments() or bridge.poll() is not None, timeout=30)
            backup = tmp_path / "ledger-live.db"
            assert main(["backup", "--to", str(backup), "--config", str(config)]) == 0
            assert main(["restore", "--from", str(backup), "--config", str(config)]) == 1
            assert "the bridge is running with this state directory" in capsys.readouterr().err
            # A second bridge on the same state directory is refused the same way.
            second = start_bridge(config, tmp_path / "second.log")
            assert second.wait(30) == 1
            assert "stop it first" in (tmp_path / "second.log").read_text()
        finally:
            bridge.send_signal(signal.SIGTERM)
            assert bridge.wait(30) == 0, log.read_text()[-3000:]
            notify.close()
        assert inspect_copy(backup).rows["inbound_event"] == 20
        assert main(["restore", "--from", str(backup), "--config", str(config)]) == 0


def test_the_run_lock_is_free_again_once_released(tmp_path):
    with RunLock(tmp_path), pytest.raises(AlreadyRunning, match="stop it first"):
        RunLock(tmp_path, purpose="pmsbridge restore").acquire()
    with RunLock(tmp_path):
        pass
