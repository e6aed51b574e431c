"""``pmsbridge resync``: ask the PMS for a database swap, or settle one the guard held.

The command talks to the ledger only; the running bridge watches the values it writes:

- ``pmsbridge resync --config FILE`` writes ``resync.requested``; the FIAS adapter sends
  DR within a few seconds of noticing it (at once if the link is up, else at link-up);
- ``--confirm`` records the events of the held swap (actor "command line") and clears it;
- ``--discard`` clears it without recording anything.
"""

from __future__ import annotations

import argparse
from collections import Counter

from pmsbridge.adapters.fias.adapter import RESYNC_REQUESTED_KEY
from pmsbridge.adapters.fias.swap import HELD_SWAP_KEY, SwapPlan, held_from_json
from pmsbridge.config import Settings
from pmsbridge.ledger.commands import open_ledger
from pmsbridge.ledger.store import Ledger

ACTOR = "command line"


def resync(settings: Settings, args: argparse.Namespace) -> int:
    ledger = open_ledger(settings)
    try:
        if args.confirm:
            return _confirm(ledger)
        if args.discard:
            return _discard(ledger)
        return _request(ledger)
    finally:
        ledger.engine.dispose()


def _held(ledger: Ledger) -> SwapPlan:
    from pmsbridge.cli import CommandError

    plan = held_from_json(ledger.get_value(HELD_SWAP_KEY))
    if plan is None:
        raise CommandError("no database swap is held: nothing to confirm or discard")
    return plan


def _summary(plan: SwapPlan) -> str:
    kinds = Counter(item.event.kind for item in plan.events)
    listed = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())) or "no events"
    when = f" from {plan.computed_at:%Y-%m-%d %H:%M} UTC" if plan.computed_at else ""
    return f"swap{when}: {listed}; would check out {plan.vacated} of {plan.occupied} occupied rooms"


def _confirm(ledger: Ledger) -> int:
    plan = _held(ledger)
    for item in plan.events:
        ledger.record(item.event, item.raw, actor=ACTOR)
    ledger.set_value(HELD_SWAP_KEY, "")
    ledger.audit(ACTOR, "resync confirmed", detail=_summary(plan))
    print(f"confirmed the held {_summary(plan)}")
    print(f"recorded {len(plan.events)} events; the bridge sends them to the PBX")
    return 0


def _discard(ledger: Ledger) -> int:
    plan = _held(ledger)
    ledger.set_value(HELD_SWAP_KEY, "")
    ledger.audit(ACTOR, "resync discarded", detail=_summary(plan))
    print(f"discarded the held {_summary(plan)}")
    return 0


def _request(ledger: Ledger) -> int:
    requested = ledger.clock().isoformat()
    ledger.set_value(RESYNC_REQUESTED_KEY, requested)
    ledger.audit(ACTOR, "resync requested")
    print(f"database swap requested ({requested}); the running bridge asks the PMS within a few seconds")
    held = held_from_json(ledger.get_value(HELD_SWAP_KEY))
    if held is not None:
        print(f"note: a held {_summary(held)} is waiting for --confirm or --discard")
    return 0
