"""What became of a wake-up call, read from the PBX's CDR, for the PMS's wake-up answer.

With ``accounting.wakeup_answers = "outcome"`` a PMS is told how the wake-up went instead
of only that the PBX took the order. The collector keeps every call that
``accounting.wakeup_call_match`` recognises as a wake-up call (verdict ``wakeup``, with the
room it rang); this module looks for the calls of one ordered wake-up:

- a call to the room answered within the window (from a minute before the ordered time to
  ``wakeup_no_answer_minutes`` after it): OK, as soon as it shows in the CDR;
- otherwise, once the window has passed (and the collector had time to read its end): BY
  when the last call found was busy, NR when it was not answered or none was found;
- a wake-up the PMS cancelled (it is no longer in the room's desired state) and that never
  rang is answered nothing.

A PBX that retries an unanswered wake-up call therefore still earns an OK when the guest
picks up the second ring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pmsbridge.accounting.postings import PostingStore
from pmsbridge.config import AccountingSettings

ANSWERED, BUSY = "ANSWERED", "BUSY"
# A wake-up call may be placed a little before the ordered minute.
EARLY = timedelta(minutes=1)


@dataclass(frozen=True)
class WakeupOutcome:
    """``status``: the FIAS answer status (OK, BY, NR), None while waiting. ``cancelled``: answer nothing."""

    status: str | None = None
    cancelled: bool = False


WAITING = WakeupOutcome()


def answer_status(disposition: str | None) -> str:
    """The FIAS answer for a wake-up call's CDR disposition."""
    value = (disposition or "").upper()
    if value == ANSWERED:
        return "OK"
    if value == BUSY:
        return "BY"
    return "NR"


class WakeupCallOutcomes:
    """Finds a wake-up's outcome among the wake-up calls the collector stored (see the module docstring)."""

    def __init__(self, store: PostingStore, settings: AccountingSettings):
        self.store = store
        self.window = timedelta(minutes=settings.wakeup_no_answer_minutes)
        # The last call of the window shows in the CDR only when it ends, and the collector
        # reads it at its next poll: the verdict waits that long past the window.
        self.read_delay = timedelta(seconds=2 * settings.poll_interval_seconds + 60)

    def outcome(self, room: str, ring_at: datetime, now: datetime, still_ordered: Callable[[], bool]) -> WakeupOutcome:
        """The outcome of the wake-up ordered for ``room`` at ``ring_at``; ``now`` is hotel local time;
        ``still_ordered()`` tells whether the room's desired state still holds that wake-up."""
        calls = self.store.wakeup_calls(room, ring_at - EARLY, ring_at + self.window)
        if any((call.disposition or "").upper() == ANSWERED for call in calls):
            return WakeupOutcome("OK")
        if now < ring_at + self.window + self.read_delay:
            return WAITING
        if not calls:
            return WakeupOutcome(cancelled=True) if not still_ordered() else WakeupOutcome("NR")
        return WakeupOutcome(answer_status(calls[-1].disposition))
