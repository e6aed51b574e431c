"""Failed web logins slow down the next try, per client address and per user name.

A hard lock after a few failures lets anyone lock any staff account from anywhere. Here
each failed login counts against its client address and against the user name typed,
whether or not an account has that name (so an unknown name is throttled exactly like a
known one and the answers tell nothing). After ``free`` failures in a row for a key, the
next attempt with that key must wait ``2 ** (failures - free)`` seconds after the last
failure, up to ``longest``:

- an address gets ``ADDRESS`` (20 free, at most 5 minutes): one machine guessing at many
  names, or many guesses at one, soon gets one try every few minutes;
- a name gets ``NAME`` (5 free, at most 1 minute): guesses from many addresses at one
  account slow to one a minute, while the member of staff it belongs to waits at most a
  minute, never a quarter of an hour chosen by someone else.

Attempts refused for their wait do not count. A login that succeeds clears its address
and name; a key without a failure for ``FORGET_AFTER`` is forgotten. The counts live in the
ledger database (``login_throttle``), so a restart or a second process shares them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel

from pmsbridge.ledger.database import dialect_insert, reader
from pmsbridge.ledger.models import utcnow

FORGET_AFTER = timedelta(hours=1)
# Typed names longer than any account name are cut to this many characters in the key.
MAX_KEYED_NAME = 64


@dataclass(frozen=True)
class ThrottleRule:
    """How failures of one kind of key grow into a wait: none for ``free`` failures, then
    1 s doubling per failure up to ``longest`` seconds."""

    kind: str
    free: int
    longest: float

    def wait_after(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return min(self.longest, 2.0 ** min(failures - self.free, 32))


ADDRESS = ThrottleRule("address", free=20, longest=300.0)
NAME = ThrottleRule("name", free=5, longest=60.0)
RULES = {rule.kind: rule for rule in (ADDRESS, NAME)}


class LoginFailures(SQLModel, table=True):
    """The failed logins in a row of one address or one typed user name."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=100, description='"address:<ip>" or "name:<typed name>"')
    failures: int = 0
    last_failure_at: datetime = Field(index=True)


def name_key(name: str) -> str:
    """The key of a (normalised) typed user name."""
    return f"name:{name[:MAX_KEYED_NAME]}"


def throttle_keys(address: str | None, name: str) -> list[str]:
    """The keys a login attempt from ``address`` for the (normalised) ``name`` counts against."""
    return [f"address:{address or 'unknown'}", name_key(name)]


def _rule(key: str) -> ThrottleRule:
    return RULES[key.partition(":")[0]]


class LoginThrottle:
    """The counts in the ledger database; see the module docstring."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.reader = reader(engine)
        self.clock = clock

    def wait(self, keys: Iterable[str]) -> int:
        """Whole seconds before an attempt counted against ``keys`` may be tried; 0: now."""
        keys, now = list(keys), self.clock()
        with Session(self.reader) as session:
            rows = session.execute(select(LoginFailures).where(LoginFailures.key.in_(keys))).scalars().all()
        waits = [(row.last_failure_at - now).total_seconds() + _rule(row.key).wait_after(row.failures)
                 for row in rows]
        return max(0, math.ceil(max(waits, default=0.0)))

    def failed(self, keys: Iterable[str]) -> list[str]:
        """Count a failure against each of ``keys``; return those whose next attempt now has to wait
        for the first time (they just used up their free failures)."""
        now = self.clock()
        table = LoginFailures.__table__
        started = []
        with self.engine.begin() as connection:
            connection.execute(delete(table).where(table.c.last_failure_at < now - FORGET_AFTER))
            for key in keys:
                upsert = dialect_insert(self.engine.dialect)(table).values(key=key, failures=1, last_failure_at=now)
                upsert = upsert.on_conflict_do_update(
                    index_elements=[table.c.key],
                    set_={"failures": table.c.failures + 1, "last_failure_at": now},
                ).returning(table.c.failures)
                if connection.execute(upsert).scalar_one() == _rule(key).free:
                    started.append(key)
        return started

    def succeeded(self, keys: Iterable[str]) -> None:
        """A login counted against ``keys`` succeeded: they start again from nothing."""
        table = LoginFailures.__table__
        with self.engine.begin() as connection:
            connection.execute(delete(table).where(table.c.key.in_(list(keys))))
