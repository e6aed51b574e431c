"""Fixed statements compiled once and run on the driver's connection: the ledger's hot path.

Recording an event, claiming deliveries and writing their outcomes run the same dozen
statements for every PMS message. Through SQLAlchemy's execution layer each of them costs
more Python than the database needs to run it (cache key, execution context, result
objects), and the dispatcher and the adapters share one interpreter lock with the PBX
client. Compiled once per dialect, with its type processors looked up once, a statement
costs a few microseconds more than the driver call itself. Everything else in the ledger
uses SQLAlchemy as usual.

Driver errors leave as SQLAlchemy's (``sqlalchemy.exc.DBAPIError`` and its subclasses such
as ``IntegrityError``), so callers catch the same exceptions on either path, and a
connection the database dropped is invalidated as the engine would do it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement


class Statement:
    """A Core statement compiled for one dialect.

    Values are named with ``bindparam(name)`` and given as keywords when the statement
    runs; constants in the statement (``.values(state="pending")``) are bound once here.
    Statements that return rows (SELECT, ... RETURNING) get their columns converted by the
    column types, as SQLAlchemy would (times come back timezone-aware, booleans as bool).
    """

    def __init__(self, statement: ClauseElement, dialect: Dialect):
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self._positional = compiled.positional
        names = compiled.positiontup if compiled.positional else list(compiled.binds)
        self._names = tuple(names)
        # (name, processor, is_value, constant): one entry per placeholder, in order.
        self._binds: list[tuple[str, Any, bool, Any]] = []
        for name in names:
            bind = compiled.binds[name]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.required:
                self._binds.append((name, process, True, None))
            else:
                constant = bind.effective_value
                self._binds.append((name, None, False, process(constant) if process else constant))
        columns = list(getattr(statement, "exported_columns", ()))
        self.returns_rows = bool(columns)
        processors = [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns]
        self._results = processors if any(processors) else None

    def parameters(self, values: Mapping[str, Any]) -> tuple | dict:
        """The driver's parameters for ``values`` (a KeyError names a value not given)."""
        bound = [
            ((process(values[name]) if process else values[name]) if is_value else constant)
            for name, process, is_value, constant in self._binds
        ]
        if self._positional:
            return tuple(bound)
        return dict(zip(self._names, bound))

    def convert(self, row: tuple) -> tuple:
        if self._results is None:
            return row
        return tuple(process(value) if process else value for process, value in zip(self._results, row))


class Transaction:
    """Runs compiled statements inside one transaction; made by ``transaction``."""

    def __init__(self, engine: Engine, connection: Any, cursor: Any):
        self._dialect = engine.dialect
        self._connection = connection
        self._cursor = cursor
        self.rolled_back = False

    def execute(self, statement: Statement, **values: Any) -> int:
        """Run a statement; returns the number of rows it changed."""
        self._run(statement.sql, statement.parameters(values))
        return self._cursor.rowcount

    def rows(self, statement: Statement, **values: Any) -> list[tuple]:
        self._run(statement.sql, statement.parameters(values))
        return [statement.convert(row) for row in self._fetch_all(statement.sql)]

    def insert(self, statement: Statement, **values: Any) -> int:
        """Run an INSERT of one row and return its primary key: from RETURNING where the
        statement has it, else the driver's ``lastrowid`` (SQLite: one step less)."""
        if statement.returns_rows:
            return self.scalar(statement, **values)
        self._run(statement.sql, statement.parameters(values))
        return self._cursor.lastrowid

    def first(self, statement: Statement, **values: Any) -> tuple | None:
        rows = self.rows(statement, **values)
        return rows[0] if rows else None

    def scalar(self, statement: Statement, **values: Any) -> Any:
        row = self.first(statement, **values)
        return None if row is None else row[0]

    def rollback(self) -> None:
        """End the transaction without its changes (the block then just ends)."""
        self._guarded("ROLLBACK", self._connection.rollback)
        self.rolled_back = True

    def _run(self, sql: str, parameters: tuple | dict) -> None:
        self._guarded(sql, lambda: self._cursor.execute(sql, parameters), parameters)

    def _fetch_all(self, sql: str) -> list[tuple]:
        return self._guarded(sql, self._cursor.fetchall)

    def _guarded(self, sql: str, call, parameters: tuple | dict | None = None):  # noqa: ANN001, ANN202
        try:
            return call()
        except self._dialect.loaded_dbapi.Error as err:
            raise self._translated(err, sql, parameters) from err

    def _translated(self, err: Exception, sql: str, parameters: tuple | dict | None) -> BaseException:
        dropped = self._dialect.is_disconnect(err, self._connection.dbapi_connection, self._cursor)
        if dropped:
            self._connection.invalidate(err)
        return DBAPIError.instance(sql, parameters, err, self._dialect.loaded_dbapi.Error,
                                   connection_invalidated=dropped, dialect=self._dialect)


@contextmanager
def transaction(engine: Engine, *, write: bool = True) -> Iterator[Transaction]:
    """A transaction on a driver connection from ``engine``'s pool.

    Committed when the block ends normally; rolled back when it raises, when it called
    ``Transaction.rollback``, and always for ``write=False``. On SQLite a writing
    transaction starts with ``BEGIN IMMEDIATE`` like every write transaction of the
    ledger (see ``database``); PostgreSQL's driver opens the transaction by itself.
    """
    connection = engine.raw_connection()
    cursor = connection.cursor()
    current = Transaction(engine, connection, cursor)
    try:
        if engine.dialect.name == "sqlite":
            current._run("BEGIN IMMEDIATE" if write else "BEGIN", ())
        yield current
        if not current.rolled_back:
            if write:
                current._guarded("COMMIT", connection.commit)
            else:
                current.rollback()
    except BaseException:
        if not current.rolled_back and connection.dbapi_connection is not None:
            try:
                connection.rollback()
            except engine.dialect.loaded_dbapi.Error:
                connection.invalidate()
        raise
    finally:
        if connection.dbapi_connection is not None:  # None once invalidated: the cursor went with it
            cursor.close()
        connection.close()
