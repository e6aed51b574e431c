"""Schema migrations: the models and the migrations agree, and `run` refuses an old schema."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from pmsbridge.ledger.database import (
    SchemaOutOfDate,
    create_ledger_engine,
    current_revision,
    head_revision,
    migrate,
    require_current_schema,
)


def test_migrations_create_exactly_the_models(engine):
    assert current_revision(engine) == head_revision(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_migrating_twice_changes_nothing(engine):
    before, after = migrate(engine)
    assert before == after == head_revision(engine)


def test_an_empty_database_is_refused_with_the_command_to_run(tmp_path):
    engine = create_ledger_engine(f"sqlite:///{tmp_path / 'new' / 'ledger.db'}")
    with pytest.raises(SchemaOutOfDate, match="pmsbridge migrate --config FILE"):
        require_current_schema(engine)
    engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path):
    engine = create_ledger_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    engine.dispose()
