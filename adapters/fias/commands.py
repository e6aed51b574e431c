"""``pmsbridge resync``: ask the PMS for a database swap, or settle one the guard held.

The command talks to the ledger only; the running bridge watches the values it writes:

- ``pmsbridge resync --config FILE`` writes ``resync.requested``; the FIAS adapter sends
  DR within a few seconds of noticing it (at once if the link is up, else at link-up); the
  cloud PMS adapters (Mews, Apaleo, Cloudbeds) read the PMS's in-house list;
- ``--confirm`` records the events of every held swap (a FIAS swap, a csvdrop snapshot, a
  cloud PMS's in-house list;
  actor "command line") and clears them;
- ``--discard`` clears them without recording anything.
"""

from __future__ import annotations

import argparse

from pmsbridge import held_swaps
from pmsbridge.adapters.fias.adapter import RESYNC_REQUESTED_KEY
from pmsbridge.command_errors import CommandError
from pmsbridge.config import Settings
from pmsbridge.ledger.commands import open_ledger
from pmsbridge.ledger.store import Ledger

ACTOR = "command line"
# The adapters whose guard can hold a resync (a FIAS swap, a snapshot file, a cloud PMS's in-house list).
HOLDING_ADAPTERS = ("fias", "csvdrop", "mews", "apaleo", "cloudbeds")


def resync(settings: Settings, args: argparse.Namespace) -> int:
    ledger = open_ledger(settings)
    try:
        if args.confirm or args.discard:
            return _settle(ledger, confirm=args.confirm)
        return _request(ledger)
    finally:
        ledger.engine.dispose()


def _settle(ledger: Ledger, *, confirm: bool) -> int:
    held = held_swaps.held_swaps(ledger, HOLDING_ADAPTERS)
    if not held:
        raise CommandError("no database swap is held: nothing to confirm or discard")
    for swap in held:
        if confirm:
            held_swaps.confirm(ledger, swap.adapter, actor=ACTOR)
            print(f"confirmed the held {swap.adapter} swap: {swap.summary}")
            print(f"recorded {len(swap.plan.events)} events; the bridge sends them to the PBX")
        else:
            held_swaps.discard(ledger, swap.adapter, actor=ACTOR)
            print(f"discarded the held {swap.adapter} swap: {swap.summary}")
    return 0


def _request(ledger: Ledger) -> int:
    requested = ledger.clock().isoformat()
    ledger.set_value(RESYNC_REQUESTED_KEY, requested)
    ledger.audit(ACTOR, "resync requested")
    print(f"database swap requested ({requested}); the running bridge asks the PMS within a few seconds")
    for swap in held_swaps.held_swaps(ledger, HOLDING_ADAPTERS):
        print(f"note: a held {swap.adapter} swap ({swap.summary}) is waiting for --confirm or --discard")
    return 0
