"""Engine creation and schema migrations for the ledger.

SQLite (the default) runs in WAL mode with a busy timeout, and write transactions start
with ``BEGIN IMMEDIATE`` so that two writers queue instead of failing half-way with
"database is locked". PostgreSQL needs nothing special: row locks and conditional
UPDATEs do the work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine, make_url

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY_OPTION = "pmsbridge_read_only"


class SchemaOutOfDate(Exception):
    """Raised when the ledger's schema is not at the revision this version expects."""


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create_ledger_engine(url: str, *, sqlite_synchronous: str = "FULL",
                         idle_transaction_timeout: float | None = None) -> Engine:
    """An engine for the ledger; creates the SQLite file's folder when needed.

    ``idle_transaction_timeout`` (PostgreSQL, seconds): the database ends a session whose
    transaction waits on its client longer than this, releasing its locks (two servers: a
    frozen leader must not hold rows from the next one).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sqlalchemy.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        _configure_sqlite(engine, sqlite_synchronous)
        return engine
    connect_args = {}
    if idle_transaction_timeout is not None:
        connect_args["options"] = f"-c idle_in_transaction_session_timeout={int(idle_transaction_timeout * 1000)}"
    return sqlalchemy.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=5, connect_args=connect_args)


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001 - DB-API objects
        # The driver's own transaction handling is off; BEGIN is issued in _on_begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # noqa: ANN001
        # IMMEDIATE takes the write lock up front: a read-then-write transaction can
        # then never fail with SQLITE_BUSY half-way through. Pure readers opt out.
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def dialect_insert(dialect: Dialect) -> Callable[..., Any]:
    """The back end's own INSERT construct, the one that offers ``on_conflict_do_update``
    and ``on_conflict_do_nothing`` (SQLite and PostgreSQL spell them alike)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if dialect.name == "postgresql" else sqlite.insert


def reader(engine: Engine) -> Engine:
    """The same engine for read-only work: on SQLite its transactions take no write lock."""
    return engine.execution_options(**{READ_ONLY_OPTION: True})


def alembic_config(engine: Engine) -> AlembicConfig:
    import pmsbridge.migrations

    config = AlembicConfig()
    config.set_main_option("script_location", str(Path(pmsbridge.migrations.__file__).parent))
    config.attributes["engine"] = engine
    return config


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the schema to the newest revision; returns (before, after)."""
    before = current_revision(engine)
    command.upgrade(alembic_config(engine), "head")
    after = current_revision(engine)
    if before != after:
        log.info("ledger schema migrated from %s to %s", before or "empty", after)
    return before, after


def require_current_schema(engine: Engine) -> None:
    current, head = current_revision(engine), head_revision(engine)
    if current != head:
        where = "is empty" if current is None else f"is at revision {current}"
        raise SchemaOutOfDate(
            f"the ledger database {where}, this version needs {head}: run `pmsbridge migrate --config FILE` first"
        )
