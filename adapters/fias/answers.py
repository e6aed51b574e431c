"""What the bridge tells the PMS back: wake-up answers (WA) and postings (PS, answered by PA).

Both survive a restart: their state lives in ledger values as JSON (a later version moves
postings to a table of their own). Nothing here touches a socket; the adapter passes a
``send(record) -> bool`` that returns False when the link is not up, and calls ``flush``
or ``send_next`` again when it is.

Wake-up answers: every WR gets exactly one WA, with the WR's own DA/TI echoed so the PMS
recognises it:

- ``OK`` once the PBX accepted the wake-up order (the dispatcher reports the delivery
  delivered), or at once when the room already had that wake-up (nothing to send);
- ``UR`` (unprocessable, do not retry) when the PBX refused the order for good (the
  delivery went dead), when the room is vacant, or when the WR itself was unreadable.

Postings: one PS in flight at a time. ``post`` queues a charge under the next posting
number P# (1-99999999, persisted in ``fias.posting_sequence``), which is also the posting's
id. The adapter sends the oldest queued one when the link is up and none is waiting for its
PA. A PA with that P# settles it (``posted`` for AS OK, else ``refused`` with the status);
without a PA within ``timeout`` seconds its state becomes ``unknown``: the PMS may or may
not have booked it, so it is never sent again automatically (reposting could charge the
guest twice); a PA arriving later still settles it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from pmsbridge.adapters.fias.protocol import AnswerStatus, Record, compose_record, posting_simple, wakeup_answer
from pmsbridge.ledger.models import DeliveryState

if TYPE_CHECKING:
    from pmsbridge.ledger.dispatcher import DeliveryOutcome
    from pmsbridge.ledger.store import Ledger

log = logging.getLogger(__name__)

WAKEUP_ANSWERS_KEY = "fias.wakeup_answers"
POSTINGS_KEY = "fias.postings"
POSTING_SEQUENCE_KEY = "fias.posting_sequence"

MAX_POSTING_SEQUENCE = 99_999_999
# Settled postings kept in the ledger value for inspection; older ones are dropped.
SETTLED_POSTINGS_KEPT = 500

Send = Callable[[Record], bool]


# --- wake-up answers -------------------------------------------------------------------------


@dataclasses.dataclass
class WakeupAnswer:
    """One WR's answer: waiting for delivery ``delivery``, or ready with ``status``."""

    room: str
    date: str
    time: str
    delivery: int | None = None
    status: str | None = None


class WakeupAnswers:
    """The WA answers owed to the PMS (see the module docstring)."""

    def __init__(self, ledger: Ledger, send: Send, ready: Callable[[], None] = lambda: None) -> None:
        """``ready`` is told (cheaply, from the dispatcher's thread) when an answer can go out."""
        self._ledger = ledger
        self._send = send
        self._ready = ready
        self._lock = threading.RLock()
        self._answers: list[WakeupAnswer] = [
            WakeupAnswer(**item) for item in json.loads(ledger.get_value(WAKEUP_ANSWERS_KEY) or "[]")
        ]

    def answer(self, room: str, date: str, time: str, status: AnswerStatus) -> None:
        """Owe an answer whose status is known now; sent at once when the link is up."""
        with self._lock:
            self._answers.append(WakeupAnswer(room, date, time, status=AnswerStatus(status).value))
            self._save()
        self.flush()

    def expect(self, delivery: int, room: str, date: str, time: str) -> None:
        """Owe an answer that depends on delivery ``delivery``'s final outcome."""
        with self._lock:
            self._answers.append(WakeupAnswer(room, date, time, delivery=delivery))
            self._save()
        # The dispatcher may have finished the delivery before it was expected here.
        self.sweep()
        self.flush()

    def on_outcome(self, outcome: DeliveryOutcome) -> None:
        """Dispatcher listener: settle the answer waiting for this delivery, if any.

        Nothing is sent from here: the dispatcher's thread must not wait on the PMS's link.
        """
        if self._settle(outcome.delivery.id,
                        AnswerStatus.OK if outcome.delivered else AnswerStatus.UNPROCESSABLE):
            self._ready()

    def sweep(self) -> None:
        """Settle waiting answers whose delivery already ended (outcomes missed while stopped);
        ``flush`` sends them."""
        with self._lock:
            waiting = [answer.delivery for answer in self._answers if answer.status is None]
        for delivery_id in waiting:
            row = self._ledger.delivery(delivery_id)
            if row is None or row.state == DeliveryState.DELIVERED:
                # Only delivered rows are ever pruned from the ledger.
                self._settle(delivery_id, AnswerStatus.OK)
            elif row.state == DeliveryState.DEAD:
                self._settle(delivery_id, AnswerStatus.UNPROCESSABLE)

    def _settle(self, delivery_id: int, status: AnswerStatus) -> bool:
        with self._lock:
            settled = False
            for answer in self._answers:
                if answer.delivery == delivery_id and answer.status is None:
                    answer.status = status.value
                    settled = True
            if settled:
                self._save()
            return settled

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


class PostingState(enum.StrEnum):
    QUEUED = "queued"
    """Waiting for the link, or for the posting before it to be answered."""
    SENT = "sent"
    """On the wire; waiting for the PMS's PA."""
    POSTED = "posted"
    """The PMS answered AS OK."""
    REFUSED = "refused"
    """The PMS answered with another status (``answer`` says which)."""
    UNKNOWN = "unknown"
    """No PA within the timeout: check the folio by hand; never resent automatically."""


SETTLED = frozenset({PostingState.POSTED, PostingState.REFUSED, PostingState.UNKNOWN})


@dataclasses.dataclass
class Posting:
    """A charge for a guest's folio and what became of it. Times are ISO strings, UTC."""

    id: int
    room: str
    when: str
    """The call's start, hotel local time (ISO, no zone)."""
    amount: int | None = None
    dialled: str | None = None
    duration: int | None = None
    """Seconds."""
    state: str = PostingState.QUEUED.value
    answer: str | None = None
    queued_at: str | None = None
    sent_at: str | None = None
    settled_at: str | None = None

    def record(self) -> Record:
        duration = None if self.duration is None else dt.timedelta(seconds=self.duration)
        return posting_simple(self.id, self.room, dt.datetime.fromisoformat(self.when), amount=self.amount,
                              dialled=self.dialled, duration=duration)


class Postings:
    """The postings queue: one PS in flight, P# persisted, PA or timeout settles it."""

    def __init__(self, ledger: Ledger, timeout: float, encoding: str) -> None:
        self._ledger = ledger
        self.timeout = timeout
        self.encoding = encoding
        self._lock = threading.RLock()
        self._postings: list[Posting] = [
            Posting(**item) for item in json.loads(ledger.get_value(POSTINGS_KEY) or "[]")
        ]

    def post(self, room: str, when: dt.datetime, *, amount: int | None = None, dialled: str | None = None,
             duration: dt.timedelta | None = None) -> int:
        """Queue a charge; returns its posting id (its P#).

        ``when`` is the call's start in hotel local time (naive). Raises ValueError for a
        posting FIAS cannot carry (no room, neither an amount nor dialled digits and a
        duration, a value out of range, text the site encoding cannot write).
        """
        if when.tzinfo is not None:
            raise ValueError("a posting's time is hotel local time, without a zone")
        seconds = None if duration is None else int(duration.total_seconds())
        with self._lock:
            number = self._next_sequence()
            posting = Posting(number, room, when.replace(microsecond=0).isoformat(), amount, dialled, seconds,
                              queued_at=self._now().isoformat())
            # Refuses what FIAS cannot carry before the number is spent.
            record = posting.record()
            compose_record(record.type, record.fields, self.encoding)
            self._ledger.set_value(POSTING_SEQUENCE_KEY, str(number))
            self._postings.append(posting)
            self._save()
        log.info("posting %s queued for room %s", number, room)
        return number

    def get(self, posting_id: int) -> Posting | None:
        with self._lock:
            for posting in reversed(self._postings):
                if posting.id == posting_id:
                    return dataclasses.replace(posting)
        return None

    def in_flight(self) -> Posting | None:
        with self._lock:
            for posting in self._postings:
                if posting.state == PostingState.SENT:
                    return dataclasses.replace(posting)
        return None

    def send_next(self, send: Send) -> Posting | None:
        """Send the oldest queued posting unless one is waiting for its PA; returns it if sent.

        A posting whose sending fails before anything reached the link (``send`` returned
        False) stays queued.
        """
        with self._lock:
            if self.in_flight() is not None:
                return None
            posting = next((p for p in self._postings if p.state == PostingState.QUEUED), None)
            if posting is None:
                return None
            # Marked sent before the bytes go out: a crash in between must make it
            # "unknown", never a second PS for the same charge.
            posting.state, posting.sent_at = PostingState.SENT.value, self._now().isoformat()
            self._save()
            if not send(posting.record()):
                posting.state, posting.sent_at = PostingState.QUEUED.value, None
                self._save()
                return None
            log.info("posting %s sent for room %s", posting.id, posting.room)
            return dataclasses.replace(posting)

    def on_answer(self, record: Record) -> Posting | None:
        """Settle the posting a PA answers (by P#); returns it, or None for an unknown P#."""
        number = (record.get("P#") or "").strip()
        status = (record.get("AS") or "").strip()
        with self._lock:
            candidates = [p for p in self._postings if str(p.id) == number and p.state != PostingState.QUEUED]
            if not candidates:
                log.warning("posting answer for P#%r, which the bridge is not waiting for: %s", number, status)
                return None
            posting = candidates[-1]
            if posting.state == PostingState.UNKNOWN:
                log.warning("posting %s: its answer %s arrived after the timeout", posting.id, status)
            posting.answer = status or None
            posting.state = (PostingState.POSTED if status == AnswerStatus.OK else PostingState.REFUSED).value
            posting.settled_at = self._now().isoformat()
            self._save()
        if posting.state == PostingState.REFUSED:
            log.warning("posting %s for room %s refused by the PMS: AS %s", posting.id, posting.room, status)
        return dataclasses.replace(posting)

    def expire(self) -> list[Posting]:
        """Mark postings unanswered for longer than the timeout ``unknown``; returns them."""
        now = self._now()
        expired = []
        with self._lock:
            for posting in self._postings:
                if posting.state != PostingState.SENT or posting.sent_at is None:
                    continue
                if (now - dt.datetime.fromisoformat(posting.sent_at)).total_seconds() >= self.timeout:
                    posting.state, posting.settled_at = PostingState.UNKNOWN.value, now.isoformat()
                    expired.append(dataclasses.replace(posting))
            if expired:
                self._save()
        for posting in expired:
            log.error("posting %s for room %s: no answer within %g s; state unknown, not resent (check the folio)",
                      posting.id, posting.room, self.timeout)
        return expired

    def _next_sequence(self) -> int:
        last = int(self._ledger.get_value(POSTING_SEQUENCE_KEY) or 0)
        return last % MAX_POSTING_SEQUENCE + 1

    def _now(self) -> dt.datetime:
        return self._ledger.clock()

    def _save(self) -> None:
        settled = [p for p in self._postings if p.state in SETTLED]
        if len(settled) > SETTLED_POSTINGS_KEPT:
            dropped = {id(p) for p in settled[: len(settled) - SETTLED_POSTINGS_KEPT]}
            self._postings = [p for p in self._postings if id(p) not in dropped]
        self._ledger.set_value(POSTINGS_KEY, json.dumps([dataclasses.asdict(p) for p in self._postings]))
