"""Suite-wide fixtures: logging hygiene, and ledger databases on SQLite and PostgreSQL.

Tests that take the ``engine`` fixture run on SQLite, and also on PostgreSQL when
PMSBRIDGE_TEST_DATABASE_URL names one (CI sets it to a fresh database; its ``public``
schema is dropped and recreated for every test).
"""

import logging
import os

import pytest
from sqlalchemy import text

from pmsbridge.ledger.database import create_ledger_engine, migrate

POSTGRES_URL = os.environ.get("PMSBRIDGE_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


def reset_postgres(url: str) -> None:
    engine = create_ledger_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def engine(database_url):
    """A migrated ledger database."""
    engine = create_ledger_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def restore_logging():
    """Commands run in-process install their own log handler; don't let it outlive the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
