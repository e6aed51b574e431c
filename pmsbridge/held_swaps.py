"""Database swaps (and snapshot files) an adapter's mass-checkout guard held back.

A held swap is the JSON of ``adapters.fias.swap.held_to_json`` in the ledger value
``resync.held.<adapter>`` (empty once settled). Confirming records its events through the
ledger with the operator as actor; the running adapter notices the cleared value and
drops its warning. Used by ``pmsbridge resync --confirm|--discard`` and the ledger page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from pmsbridge.adapters.fias.swap import SwapPlan, held_from_json
from pmsbridge.ledger.store import Ledger


def held_key(adapter: str) -> str:
    return f"resync.held.{adapter}"


@dataclass(frozen=True)
class HeldSwap:
    adapter: str
    plan: SwapPlan

    @property
    def summary(self) -> str:
        kinds = Counter(item.event.kind for item in self.plan.events)
        listed = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())) or "no events"
        return (f"{listed}; would check out {self.plan.vacated} of {self.plan.occupied} occupied rooms "
                f"({self.plan.records} records received)")


class NoHeldSwap(LookupError):
    """Raised when an adapter has no held swap to confirm or discard."""


def held_swaps(ledger: Ledger, adapters: Iterable[str]) -> list[HeldSwap]:
    found = []
    for adapter in sorted(adapters):
        plan = held_from_json(ledger.get_value(held_key(adapter)))
        if plan is not None:
            found.append(HeldSwap(adapter, plan))
    return found


def _held(ledger: Ledger, adapter: str) -> HeldSwap:
    plan = held_from_json(ledger.get_value(held_key(adapter)))
    if plan is None:
        raise NoHeldSwap(f"no database swap of {adapter} is held (confirmed or discarded meanwhile?)")
    return HeldSwap(adapter, plan)


def confirm(ledger: Ledger, adapter: str, *, actor: str) -> HeldSwap:
    """Record the held swap's events (actor ``actor``) and clear it."""
    held = _held(ledger, adapter)
    for item in held.plan.events:
        ledger.record(item.event, item.raw, actor=actor)
    ledger.set_value(held_key(adapter), "")
    ledger.audit(actor, "resync confirmed", detail=f"{adapter}: {held.summary}")
    return held


def discard(ledger: Ledger, adapter: str, *, actor: str) -> HeldSwap:
    """Drop the held swap without recording anything."""
    held = _held(ledger, adapter)
    ledger.set_value(held_key(adapter), "")
    ledger.audit(actor, "resync discarded", detail=f"{adapter}: {held.summary}")
    return held
