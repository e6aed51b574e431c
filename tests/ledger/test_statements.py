"""Compiled statements on the driver's connection: values, ids, errors and transactions as SQLAlchemy has them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from pmsbridge.ledger.models import Delivery, LedgerValue
from pmsbridge.ledger.statements import Statement, transaction

WHEN = datetime(2026, 11, 27, 9, 30, 15, 250000, tzinfo=UTC)


def values_statements(engine) -> tuple[Statement, Statement]:
    table = LedgerValue.__table__
    add = Statement(insert(table).values(name=bindparam("key"), value=bindparam("text"), updated_at=bindparam("at")),
                    engine.dialect)
    read = Statement(select(table.c.value, table.c.updated_at).where(table.c.name == bindparam("key")),
                     engine.dialect)
    return add, read


def test_rows_come_back_converted_as_sqlalchemy_does(engine):
    table = Delivery.__table__
    add = Statement(insert(table).values(created_at=bindparam("at"), next_attempt_at=bindparam("at"),
                                         operation="checkin", room="101", fields="{}", state="pending", attempts=0,
                                         uncertain=bindparam("flag")).returning(table.c.id), engine.dialect)
    read = Statement(select(table.c.created_at, table.c.uncertain).where(table.c.id == bindparam("delivery")),
                     engine.dialect)
    with transaction(engine) as tx:
        delivery_id = tx.insert(add, at=WHEN, flag=True)
    with transaction(engine, write=False) as tx:
        created_at, uncertain = tx.first(read, delivery=delivery_id)
    assert created_at == WHEN and created_at.tzinfo is not None
    assert uncertain is True


def test_an_insert_gives_the_new_rows_id(engine):
    table = Delivery.__table__
    add = insert(table).values(created_at=bindparam("at"), next_attempt_at=bindparam("at"), operation="dnd",
                               room=bindparam("room_name"), fields="{}", state="pending", attempts=0, uncertain=False)
    # RETURNING everywhere; SQLite's driver also knows the id without it (PostgreSQL's does not).
    forms = [add.returning(table.c.id)] + ([add] if engine.dialect.name == "sqlite" else [])
    ids = []
    with transaction(engine) as tx:
        for number, form in enumerate(forms):
            ids.append(tx.insert(Statement(form, engine.dialect), at=WHEN, room_name=f"10{number}"))
    with transaction(engine, write=False) as tx:
        rows = tx.rows(Statement(select(table.c.id, table.c.room).order_by(table.c.id), engine.dialect))
    assert rows == [(delivery_id, f"10{number}") for number, delivery_id in enumerate(ids)]


def test_a_driver_error_leaves_as_sqlalchemys_and_undoes_the_transaction(engine):
    add, read = values_statements(engine)
    with pytest.raises(IntegrityError), transaction(engine) as tx:
        tx.execute(add, key="fias.sequence", text="1", at=WHEN)
        tx.execute(add, key="fias.sequence", text="2", at=WHEN)
    with transaction(engine) as tx:  # the pool's connection is usable again
        assert tx.first(read, key="fias.sequence") is None
        tx.execute(add, key="fias.sequence", text="3", at=WHEN)
    with transaction(engine, write=False) as tx:
        assert tx.first(read, key="fias.sequence") == ("3", WHEN)


def test_rollback_ends_the_block_without_its_changes(engine):
    add, read = values_statements(engine)
    with transaction(engine) as tx:
        tx.execute(add, key="kept", text="no", at=WHEN)
        tx.rollback()
    with transaction(engine, write=False) as tx:
        tx.execute(add, key="read-only", text="no", at=WHEN)
    with transaction(engine, write=False) as tx:
        assert tx.first(read, key="kept") is None and tx.first(read, key="read-only") is None


def test_a_value_not_given_is_named(engine):
    add, _ = values_statements(engine)
    with pytest.raises(KeyError, match="text"), transaction(engine) as tx:
        tx.execute(add, key="incomplete", at=WHEN)
