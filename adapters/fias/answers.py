"""What the bridge tells the PMS back: wake-up answers (WA) and postings (PS, answered by PA).

Both survive a restart: wake-up answers owed live in a ledger value as JSON, postings in the
``posting`` table (``pmsbridge.accounting.postings``). Nothing here touches a socket; the
adapter passes a ``send(record) -> bool`` that returns False when the link is not up, and
calls ``flush`` or ``send_next`` again when it is.

Wake-up answers: every WR gets exactly one WA, with the WR's own DA/TI echoed so the PMS
recognises it. With ``accounting.wakeup_answers = "acceptance"`` (the default):

- ``OK`` once the PBX accepted the wake-up order (the dispatcher reports the delivery
  delivered), or at once when the room already had that wake-up (nothing to send);
- ``UR`` (unprocessable, do not retry) when the PBX refused the order for good (the
  delivery went dead), when the room is vacant, or when the WR itself was unreadable.

With ``"outcome"`` the acceptance is not answered: once the PBX took the order the answer
waits for the wake-up call to show in the CDR (``OK`` answered, ``BY`` busy, ``NR`` no
answer, or ``NR`` when no call showed within the window; see
``pmsbridge.accounting.wakeup_outcomes``). A wake-up the PMS cancelled before it rang is
answered nothing. Refusals are answered ``UR`` at once, as in acceptance mode.

Postings: one PS in flight at a time. ``post`` queues a charge as a posting row of this
adapter's channel (its ledger source); the adapter sends the oldest queued one when the link
is up and none is waiting for its PA, under the next posting number P# (1-99999999,
persisted in ``fias.posting_sequence``; a posting re-sent by an operator gets a new one). A
PA with that P# settles it (``posted`` for AS OK, else ``refused`` with the status); without
a PA within ``timeout`` seconds its state becomes ``unknown``: the PMS may or may not have
booked it, so it is never sent again automatically (reposting could charge the guest
twice); a PA arriving later still settles it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from pmsbridge.accounting.models import Posting
from pmsbridge.accounting.postings import Charge, PostingStore
from pmsbridge.adapters.fias.protocol import AnswerStatus, Record, compose_record, posting_simple, wakeup_answer
from pmsbridge.ledger.models import DeliveryState

if TYPE_CHECKING:
    from pmsbridge.accounting.wakeup_outcomes import WakeupCallOutcomes
    from pmsbridge.ledger.dispatcher import DeliveryOutcome
    from pmsbridge.ledger.store import Ledger

log = logging.getLogger(__name__)

WAKEUP_ANSWERS_KEY = "fias.wakeup_answers"
POSTING_SEQUENCE_KEY = "fias.posting_sequence"

MAX_POSTING_SEQUENCE = 99_999_999

Send = Callable[[Record], bool]


# --- wake-up answers -------------------------------------------------------------------------


@dataclasses.dataclass
class WakeupAnswer:
    """One WR's answer: waiting for delivery ``delivery``, then (outcome mode) for the call
    ordered at ``ring_at`` (ISO, hotel local time), or ready with ``status``."""

    room: str
    date: str
    time: str
    delivery: int | None = None
    status: str | None = None
    ring_at: str | None = None


class WakeupAnswers:
    """The WA answers owed to the PMS (see the module docstring)."""

    def __init__(self, ledger: Ledger, send: Send, ready: Callable[[], None] = lambda: None, *,
                 outcomes: WakeupCallOutcomes | None = None,
                 local_now: Callable[[], dt.datetime] | None = None) -> None:
        """``ready`` is told (cheaply, from the dispatcher's thread) when an answer can go out.
        ``outcomes`` (with ``local_now``, hotel local time) turns on outcome mode."""
        self._ledger = ledger
        self._send = send
        self._ready = ready
        self._outcomes = outcomes
        self._local_now = local_now
        self._lock = threading.RLock()
        self._answers: list[WakeupAnswer] = [
            WakeupAnswer(**item) for item in json.loads(ledger.get_value(WAKEUP_ANSWERS_KEY) or "[]")
        ]

    @property
    def outcome_mode(self) -> bool:
        return self._outcomes is not None

    def answer(self, room: str, date: str, time: str, status: AnswerStatus, *, ring_at: dt.datetime | None = None
               ) -> None:
        """Owe an answer whose status is known now, sent at once when the link is up; in outcome
        mode an OK for a wake-up at ``ring_at`` waits for its call instead."""
        with self._lock:
            if self.outcome_mode and status == AnswerStatus.OK and ring_at is not None:
                self._answers.append(WakeupAnswer(room, date, time, ring_at=ring_at.isoformat()))
            else:
                self._answers.append(WakeupAnswer(room, date, time, status=AnswerStatus(status).value))
            self._save()
        self.flush()

    def expect(self, delivery: int, room: str, date: str, time: str, *, ring_at: dt.datetime | None = None) -> None:
        """Owe an answer that depends on delivery ``delivery``'s final outcome (and, in outcome
        mode, on the call ordered at ``ring_at``)."""
        with self._lock:
            self._answers.append(WakeupAnswer(room, date, time, delivery=delivery,
                                              ring_at=ring_at.isoformat() if ring_at is not None else None))
            self._save()
        # The dispatcher may have finished the delivery before it was expected here.
        self.sweep()
        self.flush()

    def on_outcome(self, outcome: DeliveryOutcome) -> None:
        """Dispatcher listener: settle the answer waiting for this delivery, if any.

        Nothing is sent from here: the dispatcher's thread must not wait on the PMS's link.
        """
        if self._settle(outcome.delivery.id, outcome.delivered):
            self._ready()

    def sweep(self) -> None:
        """Settle waiting answers whose delivery already ended (outcomes missed while stopped);
        ``flush`` sends them."""
        with self._lock:
            waiting = [answer.delivery for answer in self._answers
                       if answer.status is None and answer.delivery is not None]
        for delivery_id in waiting:
            row = self._ledger.delivery(delivery_id)
            if row is None or row.state == DeliveryState.DELIVERED:
                # Only delivered rows are ever pruned from the ledger.
                self._settle(delivery_id, True)
            elif row.state in (DeliveryState.DEAD, DeliveryState.SKIPPED, DeliveryState.DISMISSED):
                self._settle(delivery_id, False)

    def _settle(self, delivery_id: int, delivered: bool) -> bool:
        """Settle the answers waiting for a delivery; True when one became ready to send."""
        with self._lock:
            changed = ready = False
            for answer in self._answers:
                if answer.delivery != delivery_id or answer.status is not None:
                    continue
                answer.delivery, changed = None, True
                if not delivered:
                    answer.status = AnswerStatus.UNPROCESSABLE.value
                elif not (self.outcome_mode and answer.ring_at):
                    answer.status = AnswerStatus.OK.value
                ready = ready or answer.status is not None
            if changed:
                self._save()
            return ready

    def check_calls(self, still_ordered: Callable[[str, dt.datetime], bool]) -> int:
        """Outcome mode: settle the answers whose wake-up call showed in the CDR or whose window
        passed; ``still_ordered(room, at)`` tells whether the room still holds that wake-up.
        Returns how many were decided; ``flush`` sends them."""
        if self._outcomes is None:
            return 0
        now = self._local_now()
        decided = 0
        with self._lock:
            waiting = [answer for answer in self._answers
                       if answer.status is None and answer.delivery is None and answer.ring_at]
            for answer in waiting:
                ring_at = dt.datetime.fromisoformat(answer.ring_at)
                outcome = self._outcomes.outcome(answer.room, ring_at, now,
                                                 lambda room=answer.room, at=ring_at: still_ordered(room, at))
                if outcome.cancelled:
                    log.info("wake-up of room %s at %s was cancelled before it rang: no answer", answer.room, ring_at)
                    self._answers.remove(answer)
                elif outcome.status is not None:
                    answer.status = outcome.status
                else:
                    continue
                decided += 1
            if decided:
                self._save()
        return decided

    def flush(self) -> int:
        """Send every ready answer, in order, until the link refuses one; returns how many went."""
        sent = 0
        with self._lock:
            for answer in [answer for answer in self._answers if answer.status is not None]:
                if not self._send(wakeup_answer(answer.room, answer.date, answer.time, answer.status)):
                    break
                self._answers.remove(answer)
                sent += 1
            if sent:
                self._save()
        return sent

    def _save(self) -> None:
        self._ledger.set_value(WAKEUP_ANSWERS_KEY, json.dumps([dataclasses.asdict(a) for a in self._answers]))


# --- postings --------------------------------------------------------------------------------


def posting_record(posting: Posting, sequence: int) -> Record:
    """The PS for a posting row under posting number ``sequence``."""
    duration = None if posting.duration is None else dt.timedelta(seconds=posting.duration)
    return posting_simple(sequence, posting.room, posting.call_start, amount=posting.amount,
                          dialled=posting.dialled, duration=duration)


class Postings:
    """This adapter's postings: one PS in flight, P# persisted, PA or timeout settles it."""

    def __init__(self, ledger: Ledger, store: PostingStore, channel: str, timeout: float, encoding: str,
                 currency: str = "EUR") -> None:
        self._ledger = ledger
        self.store = store
        self.channel = channel
        self.timeout = timeout
        self.encoding = encoding
        self.currency = currency
        # One sender at a time: the P# sequence is read, incremented and written here.
        self._lock = threading.RLock()

    def post(self, room: str, when: dt.datetime, *, amount: int | None = None, dialled: str | None = None,
             duration: dt.timedelta | None = None) -> int:
        """Queue a charge; returns its posting id.

        ``when`` is the call's start in hotel local time (naive). Raises ValueError for a
        posting FIAS cannot carry (no room, neither an amount nor dialled digits and a
        duration, a value out of range, text the site encoding cannot write).
        """
        if when.tzinfo is not None:
            raise ValueError("a posting's time is hotel local time, without a zone")
        seconds = None if duration is None else int(duration.total_seconds())
        charge = Charge(room=room, call_start=when.replace(microsecond=0), channel=self.channel, amount=amount,
                        currency=self.currency, dialled=dialled, duration=seconds)
        check_postable(charge, self.encoding)
        posting_id = self.store.create(charge)
        log.info("posting %s queued for room %s", posting_id, room)
        return posting_id

    def get(self, posting_id: int) -> Posting | None:
        return self.store.get(posting_id)

    def send_next(self, send: Send) -> Posting | None:
        """Send the oldest queued posting unless one is waiting for its PA; returns it if sent.

        A posting whose sending fails before anything reached the link (``send`` returned
        False) stays queued. One FIAS cannot carry is failed, with the reason.
        """
        with self._lock:
            if self.store.in_flight(self.channel) is not None:
                return None
            posting = self.store.next_due([self.channel])
            if posting is None:
                return None
            sequence = self._next_sequence()
            try:
                record = posting_record(posting, sequence)
                compose_record(record.type, record.fields, self.encoding)
            except ValueError as err:
                if self.store.claim(posting.id, sequence=None):
                    self.store.fail(posting.id, f"FIAS cannot carry it: {err}")
                return None
            # Marked sent before the bytes go out: a crash in between must make it
            # "unknown", never a second PS for the same charge.
            if not self.store.claim(posting.id, sequence=sequence):
                return None
            self._ledger.set_value(POSTING_SEQUENCE_KEY, str(sequence))
            if not send(record):
                self.store.unclaim(posting.id, "the link to the PMS was down")
                return None
            log.info("posting %s sent for room %s as P#%s", posting.id, posting.room, sequence)
            return self.store.get(posting.id)

    def on_answer(self, record: Record) -> Posting | None:
        """Settle the posting a PA answers (by P#); returns it, or None for an unknown P#."""
        number = (record.get("P#") or "").strip()
        status = (record.get("AS") or "").strip()
        posting = self.store.find_sent(self.channel, int(number)) if number.isdigit() else None
        if posting is None:
            log.warning("posting answer for P#%r, which the bridge is not waiting for: %s", number, status)
            return None
        if posting.state == "unknown":
            log.warning("posting %s: its answer %s arrived after the timeout", posting.id, status)
        self.store.answered(posting.id, posted=status == AnswerStatus.OK, answer=status or None)
        return self.store.get(posting.id)

    def expire(self) -> list[int]:
        """Mark postings unanswered for longer than the timeout ``unknown``; returns their ids."""
        return self.store.expire(self.channel, dt.timedelta(seconds=self.timeout))

    def _next_sequence(self) -> int:
        last = int(self._ledger.get_value(POSTING_SEQUENCE_KEY) or 0)
        return last % MAX_POSTING_SEQUENCE + 1


def check_postable(charge: Charge, encoding: str) -> None:
    """Raise ValueError for a charge FIAS cannot carry (checked with a placeholder P#)."""
    duration = None if charge.duration is None else dt.timedelta(seconds=charge.duration)
    record = posting_simple(1, charge.room, charge.call_start, amount=charge.amount, dialled=charge.dialled,
                            duration=duration)
    compose_record(record.type, record.fields, encoding)
