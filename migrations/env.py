"""Alembic environment: the ledger's models are the schema; SQLite migrates in batch mode."""

from alembic import context
from sqlmodel import SQLModel

import pmsbridge.ledger.models  # noqa: F401  (registers the tables on SQLModel.metadata)
import pmsbridge.accounting.models  # noqa: F401
import pmsbridge.reconcile.models  # noqa: F401
import pmsbridge.minibar  # noqa: F401  (the web interface's tables)
import pmsbridge.users  # noqa: F401
import pmsbridge.login_throttle  # noqa: F401
import pmsbridge.ha.models  # noqa: F401  (leader election)

config = context.config
# The advisory lock key migrations hold on PostgreSQL (any number the ledger uses for nothing else).
MIGRATION_LOCK = 4_751_820_917
target_metadata = SQLModel.metadata


def run_migrations() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        from pmsbridge.ledger.database import create_ledger_engine

        engine = create_ledger_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Two servers starting at once: one migrates, the other waits for it here
                # and then finds the schema current.
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            context.run_migrations()


run_migrations()
