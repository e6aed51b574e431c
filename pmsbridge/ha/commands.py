"""``pmsbridge ha status``: who leads, since when, how fresh the lease is, who else is there."""

from __future__ import annotations

import argparse

from pmsbridge.command_errors import CommandError
from pmsbridge.config import Settings
from pmsbridge.ha import lease
from pmsbridge.ha.leadership import LEADER, STANDBY
from pmsbridge.ledger.database import create_ledger_engine, is_sqlite, require_current_schema

# Members seen within this many lease lengths are listed.
RECENT_LEASES = 5


def status(settings: Settings, _args: argparse.Namespace) -> int:
    """Print the lease and the members seen recently; exit status 1 when nobody leads."""
    engine = create_ledger_engine(settings.bridge.effective_database_url,
                                  sqlite_synchronous=settings.bridge.sqlite_synchronous)
    try:
        if is_sqlite(engine):
            raise CommandError("the ledger is SQLite: one server only, nobody is elected; two servers share a "
                               "PostgreSQL ledger with [ha] enabled = true (docs/INSTALL.md, \"Two servers\")")
        require_current_schema(engine)
        recent = settings.ha.lease_seconds * RECENT_LEASES
        with engine.connect() as connection:
            current = lease.read_lease(connection)
            members = lease.read_members(connection, recent)
    finally:
        engine.dispose()
    if not settings.ha.enabled:
        print("ha.enabled is false in this configuration: a bridge started with it runs alone")
    if current is None:
        print("leader: none yet (no server with [ha] enabled has run on this ledger)")
    elif current.lapsed:
        print(f"leader: none; the lease of {current.member_name} lapsed {-_seconds(current):.0f} s ago "
              f"(term {current.token}); a standby takes over at its next look")
    else:
        print(f"leader: {current.member_name} ({current.holder}), term {current.token}, "
              f"since {current.since.isoformat(timespec='seconds')}")
        print(f"lease: renewed {current.age:.1f} s ago, expires in {_seconds(current):.1f} s")
    print(f"members seen in the last {recent:g} s:")
    for member in members:
        role = LEADER if current is not None and not current.lapsed and member.member == current.holder \
            else STANDBY
        print(f"  {member.member_name:20} {role:8} seen {member.seen_ago:5.1f} s ago  started "
              f"{member.started_at.isoformat(timespec='seconds')}  {member.member}")
    if not members:
        print("  none")
    return 0 if current is not None and not current.lapsed else 1


def _seconds(current: lease.LeaseView) -> float:
    """Seconds until the lease expires (negative: since it lapsed)."""
    return (current.expires_at - current.now).total_seconds()
