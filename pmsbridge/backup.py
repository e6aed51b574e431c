"""``pmsbridge backup`` and ``pmsbridge restore``: a consistent copy of a SQLite ledger, and putting one back.

Backup runs while the service runs. SQLite's online backup API copies the whole database
in one step from a connection of its own, inside one read transaction: the copy is a single
consistent snapshot, and WAL lets the service go on writing meanwhile. The copy is switched
out of WAL mode (one self-contained file), checked with ``PRAGMA integrity_check``, written
under a temporary name with mode 0600 (a ledger holds guest names) and renamed into place,
so a file at the target path is always a complete backup.

Restore refuses while ``pmsbridge run`` holds the state directory's run lock (see
``runlock``) and holds that lock itself while it works; the ledger it replaces is kept
beside it as ``<ledger>.replaced-<UTC time>`` (with its WAL, if it had one).

A PostgreSQL ledger is backed up with pg_dump and restored with pg_restore (docs/OPERATIONS.md).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sqlite3
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from pmsbridge.command_errors import EXIT_FAILURE, EXIT_OK
from pmsbridge.config import Settings
from pmsbridge.runlock import AlreadyRunning, RunLock

# Companion files SQLite keeps beside a database.
SIDE_FILES = ("-wal", "-shm", "-journal")


class BackupError(Exception):
    """Raised when a backup or restore cannot be made; the message says why and what to do."""


@dataclass(frozen=True)
class LedgerCopy:
    """What a ledger file holds: its schema revision and the rows of each table."""

    path: Path
    size: int
    revision: str | None
    rows: dict[str, int]

    def describe(self) -> str:
        counted = ", ".join(f"{count} {table}" for table, count in sorted(self.rows.items()))
        return f"{self.path}: schema {self.revision or 'none'}, {self.size / 1_048_576:.1f} MiB ({counted})"


def sqlite_path(database_url: str) -> Path:
    """The file of a SQLite ledger URL; BackupError for PostgreSQL or an in-memory database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            f"the ledger is on {url.get_backend_name()} (bridge.database_url): back it up with pg_dump and "
            f"restore it with pg_restore, as docs/OPERATIONS.md shows"
        )
    if not url.database or url.database == ":memory:":
        raise BackupError("the ledger is an in-memory SQLite database (bridge.database_url): nothing to back up")
    return Path(url.database)


def inspect_copy(path: Path) -> LedgerCopy:
    """Check a ledger file (integrity, a pmsbridge schema) and count its rows; BackupError if unfit."""
    try:
        connection = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as err:
        raise BackupError(f"{path} cannot be opened as SQLite: {err}") from err
    try:
        verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise BackupError(f"{path} is damaged: integrity_check says {verdict}")
        tables = [row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        if "alembic_version" not in tables:
            raise BackupError(f"{path} is not a pmsbridge ledger (it has no schema revision)")
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        rows = {table: connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
                for table in tables if table != "alembic_version"}
    except sqlite3.DatabaseError as err:
        raise BackupError(f"{path} is not a readable SQLite database: {err}") from err
    finally:
        connection.close()
    return LedgerCopy(path, path.stat().st_size, revision[0] if revision else None, rows)


def _remove_with_side_files(path: Path) -> None:
    for suffix in ("", *SIDE_FILES):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()


def _create_private(path: Path) -> None:
    """Create an empty file only its owner may read: ledger copies hold guest names, and
    sqlite3 or shutil would create it with the umask's mode."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _take_over_ownership(path: Path, replaced: Path) -> None:
    """Give ``path`` the mode and (when we may) the owner of the ledger it replaces: a restore
    run as root must leave the ledger to the service's own user."""
    status = replaced.stat()
    os.chmod(path, status.st_mode & 0o777)
    if os.geteuid() == 0:
        os.chown(path, status.st_uid, status.st_gid)


def backup_ledger(database_url: str, target: Path) -> LedgerCopy:
    """Copy the live SQLite ledger of ``database_url`` to ``target`` (replaced if it exists)."""
    source = sqlite_path(database_url)
    if not source.is_file():
        raise BackupError(f"there is no ledger at {source} (bridge.database_url / bridge.state_dir)")
    target = target.absolute()
    if target.is_dir():
        raise BackupError(f"{target} is a directory; name the backup file, e.g. {target / 'ledger.db'}")
    if not target.parent.is_dir():
        raise BackupError(f"the folder {target.parent} does not exist")
    if target.exists() and target.resolve() == source.resolve():
        raise BackupError(f"{target} is the live ledger itself; choose another file")

    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    _remove_with_side_files(partial)
    try:
        _create_private(partial)
        live = sqlite3.connect(source, timeout=30)
        try:
            copy = sqlite3.connect(partial)
            try:
                live.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")
            finally:
                copy.close()
        finally:
            live.close()
        copied = inspect_copy(partial)
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
        _fsync_directory(target.parent)
    except sqlite3.Error as err:
        raise BackupError(f"the backup of {source} failed: {err}") from err
    except OSError as err:
        raise BackupError(f"cannot write {target}: {err.strerror or err}") from err
    finally:
        _remove_with_side_files(partial)
    return LedgerCopy(target, copied.size, copied.revision, copied.rows)


def restore_ledger(database_url: str, backup: Path, state_dir: Path, *,
                   now: datetime | None = None) -> tuple[LedgerCopy, Path | None]:
    """Put ``backup`` in place of the SQLite ledger; returns what was restored and where the old ledger went.

    Raises BackupError while the service runs, or when ``backup`` is not a sound ledger.
    """
    target = sqlite_path(database_url).absolute()
    if not backup.is_file():
        raise BackupError(f"{backup}: no such file")
    restored = inspect_copy(backup)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    partial = target.with_name(f".{target.name}.restoring-{os.getpid()}")
    kept = None
    try:
        with RunLock(state_dir, purpose="pmsbridge restore"):
            target.parent.mkdir(parents=True, exist_ok=True)
            _create_private(partial)
            shutil.copyfile(backup, partial)
            if target.exists():
                kept = target.with_name(f"{target.name}.replaced-{stamp}")
                _take_over_ownership(partial, target)
                for suffix in ("", *SIDE_FILES):
                    side = Path(f"{target}{suffix}")
                    if side.exists():
                        os.replace(side, f"{kept}{suffix}")
            os.replace(partial, target)
            _fsync_directory(target.parent)
    except AlreadyRunning as err:
        raise BackupError(str(err)) from None
    except OSError as err:
        raise BackupError(f"cannot restore {target}: {err.strerror or err}") from err
    finally:
        _remove_with_side_files(partial)
    return LedgerCopy(target, restored.size, restored.revision, restored.rows), kept


def run_backup(settings: Settings, args: argparse.Namespace) -> int:
    """``pmsbridge backup --to FILE``."""
    try:
        copy = backup_ledger(settings.bridge.effective_database_url, Path(args.to))
    except BackupError as err:
        print(f"pmsbridge: {err}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"ledger backed up to {copy.describe()}")
    return EXIT_OK


def run_restore(settings: Settings, args: argparse.Namespace) -> int:
    """``pmsbridge restore --from FILE``."""
    try:
        copy, kept = restore_ledger(settings.bridge.effective_database_url, Path(args.source),
                                    settings.bridge.state_dir)
    except BackupError as err:
        print(f"pmsbridge: {err}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"ledger restored: {copy.describe()}")
    if kept is not None:
        print(f"the ledger it replaced is kept as {kept}")
    print("next: start the service (its ExecStartPre migrates an older schema), then run `pmsbridge resync` and "
          "`pmsbridge reconcile` so that the PMS and the PBX catch up with what happened since the backup")
    return EXIT_OK
