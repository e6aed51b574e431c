"""The lease row and the members' table in SQL: PostgreSQL only, every time the database's own.

A lease row rather than a session advisory lock: an advisory lock lives as long as its
session, and after a power loss or a network cut the database notices the dead session only
when TCP gives up on it (minutes, or never without keepalives). A lease with an expiry in the
database's clock lapses on time whatever happened to its holder, and its term number is the
fencing token the ledger's writes are checked against.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.engine import Connection, Engine

from pmsbridge.ha.models import LeaderLease

LEASE_NAME = "leader"
# Members not seen for this long are forgotten.
MEMBER_RETENTION = "1 day"

# Taken only when nobody holds it, or its holder let it lapse; the term number grows by one.
_ACQUIRE = text("""
    INSERT INTO ha_lease (name, holder, member_name, token, since, renewed_at, expires_at)
    VALUES (:name, :me, :member_name, 1, now(), now(), now() + make_interval(secs => :lease))
    ON CONFLICT (name) DO UPDATE
    SET holder = excluded.holder, member_name = excluded.member_name, token = ha_lease.token + 1,
        since = now(), renewed_at = now(), expires_at = excluded.expires_at
    WHERE ha_lease.expires_at <= now()
    RETURNING token
""")
# Renewed only within the term and before it lapsed: a lapsed lease is lost, even if nobody took it.
_RENEW = text("""
    UPDATE ha_lease SET renewed_at = now(), expires_at = now() + make_interval(secs => :lease)
    WHERE name = :name AND holder = :me AND token = :token AND expires_at > now()
    RETURNING token
""")
_RESIGN = text("UPDATE ha_lease SET expires_at = now() WHERE name = :name AND holder = :me AND token = :token")
_HEARTBEAT = text("""
    INSERT INTO ha_member (member, member_name, role, started_at, seen_at)
    VALUES (:me, :member_name, :role, :started_at, now())
    ON CONFLICT (member) DO UPDATE SET role = excluded.role, member_name = excluded.member_name, seen_at = now()
""")
_FORGET = text(f"DELETE FROM ha_member WHERE seen_at < now() - interval '{MEMBER_RETENTION}'")


def fence_statement() -> sqlalchemy.Select:
    """SQL: the lease's token when the term ``fence_token`` of ``fence_holder`` still runs.

    The ledger runs it first in each transaction of the dispatcher (claims and outcomes):
    no row means another term began, and the transaction must write nothing.
    """
    lease = LeaderLease.__table__
    return select(lease.c.token).where(lease.c.name == LEASE_NAME, lease.c.token == bindparam("fence_token"),
                                       lease.c.holder == bindparam("fence_holder"), lease.c.expires_at > func.now())


def lease_engine(url: str, timeout: float) -> Engine:
    """A dedicated connection for the lease: never queued behind the ledger's work, and no
    statement or connection attempt outlasting ``timeout`` seconds (a cut network)."""
    milliseconds = int(timeout * 1000)
    return sqlalchemy.create_engine(
        url, pool_size=1, max_overflow=0, pool_pre_ping=True,
        connect_args={"connect_timeout": max(1, int(timeout)),
                      "options": f"-c statement_timeout={milliseconds} -c lock_timeout={milliseconds}"},
    )


def acquire(connection: Connection, me: str, member_name: str, lease: float) -> int | None:
    """The new term's token when the lease was free or lapsed, else None."""
    return connection.execute(_ACQUIRE, dict(name=LEASE_NAME, me=me, member_name=member_name, lease=lease)).scalar()


def renew(connection: Connection, me: str, token: int, lease: float) -> bool:
    """True when the term ``token`` still ran and now runs ``lease`` seconds more."""
    row = connection.execute(_RENEW, dict(name=LEASE_NAME, me=me, token=token, lease=lease)).first()
    return row is not None


def resign(connection: Connection, me: str, token: int) -> None:
    """End the term now, so that a standby takes over at its next look instead of at the expiry."""
    connection.execute(_RESIGN, dict(name=LEASE_NAME, me=me, token=token))


def heartbeat(connection: Connection, me: str, member_name: str, role: str, started_at: datetime) -> None:
    connection.execute(_HEARTBEAT, dict(me=me, member_name=member_name, role=role, started_at=started_at))
    connection.execute(_FORGET)


@dataclass(frozen=True)
class LeaseView:
    """The lease as the database sees it now (``pmsbridge ha status``, /healthz)."""

    holder: str
    member_name: str
    token: int
    since: datetime
    renewed_at: datetime
    expires_at: datetime
    now: datetime

    @property
    def lapsed(self) -> bool:
        return self.expires_at <= self.now

    @property
    def age(self) -> float:
        """Seconds since the last renewal."""
        return (self.now - self.renewed_at).total_seconds()


@dataclass(frozen=True)
class MemberView:
    member: str
    member_name: str
    role: str
    started_at: datetime
    seen_ago: float


def read_lease(connection: Connection) -> LeaseView | None:
    row = connection.execute(text(
        "SELECT holder, member_name, token, since, renewed_at, expires_at, now() FROM ha_lease WHERE name = :name"
    ), dict(name=LEASE_NAME)).first()
    return None if row is None else LeaseView(*row)


def read_members(connection: Connection, within_seconds: float) -> list[MemberView]:
    """The members seen in the last ``within_seconds``, most recently seen first."""
    rows = connection.execute(text(
        "SELECT member, member_name, role, started_at, extract(epoch FROM now() - seen_at) FROM ha_member "
        "WHERE seen_at > now() - make_interval(secs => :within) ORDER BY seen_at DESC"
    ), dict(within=within_seconds)).all()
    return [MemberView(row[0], row[1], row[2], row[3], float(row[4])) for row in rows]
