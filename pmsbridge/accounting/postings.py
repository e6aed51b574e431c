"""The postings store: the only code that writes the ``call_record`` and ``posting`` tables.

Two promises are kept here (the states are drawn in ``models``):

- *A call is charged at most once*: a call record and the posting it causes are stored in
  one transaction, and a second sight of the same call (same ``call_key``) inserts nothing.
- *A posting is sent at most once unless an operator says otherwise*: every change of state
  is a conditional UPDATE that must find the row in the state it expects, so two threads
  (or a late answer and a timeout) cannot both move it; only ``repost`` puts a posting that
  may have reached the PMS back in the queue, and it is audited.

The adapters that talk to a PMS (FIAS, webhook) drive their postings through ``claim``,
``unclaim``, ``answered``, ``expire``, ``retry_later`` and ``fail``; ``channel`` is the
ledger source of the PMS a posting goes to (``fias``, ``webhook:front``...).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session

from pmsbridge.accounting.models import (
    NEEDS_OPERATOR_STATES,
    CallRecord,
    CallVerdict,
    Posting,
    PostingState,
)
from pmsbridge.ledger.database import reader
from pmsbridge.ledger.models import AuditEntry, utcnow

log = logging.getLogger(__name__)


class PostingNotChangeable(Exception):
    """Raised when an operator asks for something a posting's state does not allow (or it does not exist)."""


@dataclass(frozen=True)
class CallEntry:
    """One call leg as the collector judged it; ``raw`` is the CDR record as JSON."""

    key: str
    started_at: datetime
    verdict: CallVerdict
    raw: str
    extension: str | None = None
    room: str | None = None
    dialled: str | None = None
    disposition: str | None = None
    billsec: int = 0
    reason: str | None = None


@dataclass(frozen=True)
class Charge:
    """What to post: ``amount`` in minor units (None: the PMS rates the call from ``dialled`` and
    ``duration``); ``call_start`` is hotel local time; ``channel`` None: nowhere to post it."""

    room: str
    call_start: datetime
    channel: str | None
    amount: int | None = None
    currency: str = "EUR"
    dialled: str | None = None
    duration: int | None = None
    tariff: str | None = None


@dataclass(frozen=True)
class RoomTotals:
    """One room's postings: amounts in minor units by what became of them, and how many need an operator."""

    room: str
    posted: int
    open: int
    needs_operator: int
    count: int


class PostingStore:
    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.reader = reader(engine)
        self.clock = clock

    # -- calls --------------------------------------------------------------------------

    def known_calls(self, keys: Iterable[str]) -> set[str]:
        """The keys among ``keys`` already stored."""
        keys = list(dict.fromkeys(keys))
        known: set[str] = set()
        table = CallRecord.__table__
        with self.reader.connect() as connection:
            # In slices: SQLite limits the number of bound parameters of one statement.
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                known.update(connection.execute(select(table.c.call_key).where(table.c.call_key.in_(chunk)))
                             .scalars())
        return known

    def record_calls(self, calls: Iterable[tuple[CallEntry, Charge | None]]) -> list[int]:
        """Store judged calls and, for those with a charge, their postings, in one transaction.

        A call stored before (same key) is skipped with its charge: nothing changes for it.
        Returns the ids of the new postings.
        """
        call_table, posting_table = CallRecord.__table__, Posting.__table__
        dialect_insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        now = self.clock()
        created = []
        with self.engine.begin() as connection:
            for call, charge in calls:
                call_id = connection.execute(
                    dialect_insert(call_table).values(
                        call_key=call.key, seen_at=now, started_at=call.started_at, extension=call.extension,
                        room=call.room, dialled=call.dialled, disposition=call.disposition, billsec=call.billsec,
                        verdict=call.verdict.value, reason=call.reason, raw=call.raw,
                    ).on_conflict_do_nothing(index_elements=["call_key"]).returning(call_table.c.id)
                ).scalar()
                if call_id is not None and charge is not None:
                    created.append(connection.execute(insert(posting_table).returning(posting_table.c.id),
                                                      self._posting_values(charge, call_id, now)).scalar_one())
        return created

    def wakeup_calls(self, room: str, since: datetime, until: datetime) -> list[CallRecord]:
        """The PBX's wake-up calls to ``room`` that started in [since, until] (hotel local time), oldest first."""
        with Session(self.reader) as session:
            return list(session.execute(
                select(CallRecord).where(CallRecord.verdict == CallVerdict.WAKEUP.value, CallRecord.room == room,
                                         CallRecord.started_at >= since, CallRecord.started_at <= until)
                .order_by(CallRecord.started_at, CallRecord.id)
            ).scalars())

    # -- postings: creating and reading ------------------------------------------------

    def create(self, charge: Charge) -> int:
        """Queue a posting that belongs to no call record (a charge posted by hand or by an adapter)."""
        postings = Posting.__table__
        with self.engine.begin() as connection:
            return connection.execute(insert(postings).returning(postings.c.id),
                                      self._posting_values(charge, None, self.clock())).scalar_one()

    def _posting_values(self, charge: Charge, call_id: int | None, now: datetime) -> dict:
        routed = charge.channel is not None
        if not routed:
            log.error("posting for room %s: no PMS to post it to (set accounting.post_via)", charge.room)
        return dict(
            call_id=call_id, created_at=now, queued_at=now, room=charge.room, channel=charge.channel,
            amount=charge.amount, currency=charge.currency, dialled=charge.dialled, duration=charge.duration,
            call_start=charge.call_start.replace(microsecond=0), tariff=charge.tariff,
            state=(PostingState.QUEUED if routed else PostingState.FAILED).value, attempts=0, reposts=0,
            next_attempt_at=now,
            last_error=None if routed else "the room has no PMS that takes postings; set accounting.post_via",
        )

    def get(self, posting_id: int) -> Posting | None:
        with Session(self.reader) as session:
            return session.get(Posting, posting_id)

    def postings(self, *, room: str | None = None, state: str | None = None, limit: int = 100,
                 before_id: int | None = None) -> list[Posting]:
        """Newest first."""
        with Session(self.reader) as session:
            query = select(Posting).order_by(Posting.id.desc()).limit(limit)
            if room:
                query = query.where(Posting.room == room)
            if state:
                query = query.where(Posting.state == state)
            if before_id:
                query = query.where(Posting.id < before_id)
            return list(session.execute(query).scalars())

    def totals(self, room: str | None = None) -> list[RoomTotals]:
        """Per room: the amount posted, the amount still on its way, how many postings need an operator."""
        posted = [PostingState.POSTED.value, PostingState.SETTLED.value]
        waiting = [PostingState.QUEUED.value, PostingState.SENT.value]
        attention = [state.value for state in NEEDS_OPERATOR_STATES]
        amount = func.coalesce(Posting.amount, 0)
        query = (
            select(
                Posting.room,
                func.sum(case((Posting.state.in_(posted), amount), else_=0)),
                func.sum(case((Posting.state.in_(waiting), amount), else_=0)),
                func.sum(case((Posting.state.in_(attention), 1), else_=0)),
                func.count(Posting.id),
            )
            .group_by(Posting.room)
            .order_by(Posting.room)
        )
        if room:
            query = query.where(Posting.room == room)
        with Session(self.reader) as session:
            return [RoomTotals(row[0], int(row[1] or 0), int(row[2] or 0), int(row[3] or 0), int(row[4]))
                    for row in session.execute(query).all()]

    def counts(self) -> dict[str, int]:
        """Postings per state, every state present."""
        with Session(self.reader) as session:
            rows = session.execute(select(Posting.state, func.count(Posting.id)).group_by(Posting.state)).all()
        counts = {state.value: 0 for state in PostingState}
        counts.update({state: count for state, count in rows})
        return counts

    # -- postings: what the adapters do ------------------------------------------------

    def in_flight(self, channel: str) -> Posting | None:
        """The posting of ``channel`` that was sent and waits for its answer, if any."""
        with Session(self.reader) as session:
            return session.execute(
                select(Posting).where(Posting.channel == channel, Posting.state == PostingState.SENT.value)
                .order_by(Posting.id).limit(1)
            ).scalars().first()

    def next_due(self, channels: Sequence[str]) -> Posting | None:
        """The oldest queued posting of ``channels`` whose next attempt is due."""
        with Session(self.reader) as session:
            return session.execute(
                select(Posting).where(Posting.channel.in_(list(channels)), Posting.state == PostingState.QUEUED.value,
                                      Posting.next_attempt_at <= self.clock())
                .order_by(Posting.id).limit(1)
            ).scalars().first()

    def claim(self, posting_id: int, *, sequence: int | None = None) -> bool:
        """queued -> sent, before anything goes out: a crash in between leaves it "sent", which
        expires to "unknown", never to a second sending."""
        return self._move(posting_id, [PostingState.QUEUED], state=PostingState.SENT.value, sequence=sequence,
                          sent_at=self.clock(), attempts=Posting.__table__.c.attempts + 1, last_error=None)

    def unclaim(self, posting_id: int, reason: str) -> bool:
        """sent -> queued, when nothing of it reached the PMS (the link was down)."""
        return self._move(posting_id, [PostingState.SENT], state=PostingState.QUEUED.value, sent_at=None,
                          attempts=Posting.__table__.c.attempts - 1, last_error=reason)

    def find_sent(self, channel: str, sequence: int) -> Posting | None:
        """The latest posting of ``channel`` sent under ``sequence`` and not answered yet (sent or unknown)."""
        with Session(self.reader) as session:
            return session.execute(
                select(Posting).where(Posting.channel == channel, Posting.sequence == sequence,
                                      Posting.state.in_([PostingState.SENT.value, PostingState.UNKNOWN.value]))
                .order_by(Posting.sent_at.desc(), Posting.id.desc()).limit(1)
            ).scalars().first()

    def answered(self, posting_id: int, *, posted: bool, answer: str | None) -> bool:
        """sent (or unknown, for a late answer) -> posted or refused, with the PMS's answer."""
        state = PostingState.POSTED if posted else PostingState.REFUSED
        moved = self._move(posting_id, [PostingState.SENT, PostingState.UNKNOWN], state=state.value, answer=answer,
                           settled_at=self.clock())
        if moved and not posted:
            log.warning("posting %s refused by the PMS: %s", posting_id, answer)
        return moved

    def expire(self, channel: str, timeout: timedelta) -> list[int]:
        """sent longer than ``timeout`` ago -> unknown; returns the ids."""
        table = Posting.__table__
        cutoff = self.clock() - timeout
        with self.engine.begin() as connection:
            ids = list(connection.execute(
                select(table.c.id).where(table.c.channel == channel, table.c.state == PostingState.SENT.value,
                                         table.c.sent_at <= cutoff)
            ).scalars())
            if ids:
                connection.execute(
                    update(table).where(table.c.id.in_(ids), table.c.state == PostingState.SENT.value)
                    .values(state=PostingState.UNKNOWN.value, settled_at=self.clock(),
                            last_error=f"no answer within {timeout.total_seconds():g} s: check the folio, "
                                       "then re-post or settle it")
                )
        for posting_id in ids:
            log.error("posting %s: no answer from the PMS within %g s; state unknown, not sent again (check the "
                      "folio)", posting_id, timeout.total_seconds())
        return ids

    def unknown_now(self, posting_id: int, error: str) -> bool:
        """sent -> unknown at once (the request was cut off after it may have arrived)."""
        return self._move(posting_id, [PostingState.SENT], state=PostingState.UNKNOWN.value, last_error=error,
                          settled_at=self.clock())

    def retry_later(self, posting_id: int, *, error: str, at: datetime) -> bool:
        """sent -> queued until ``at`` (the PMS could not be reached; nothing was booked)."""
        return self._move(posting_id, [PostingState.SENT], state=PostingState.QUEUED.value, next_attempt_at=at,
                          last_error=error, sent_at=None)

    def fail(self, posting_id: int, error: str) -> bool:
        """sent -> failed (retry budget spent, or the PMS can never take it)."""
        log.error("posting %s failed: %s", posting_id, error)
        return self._move(posting_id, [PostingState.SENT], state=PostingState.FAILED.value, last_error=error,
                          settled_at=self.clock())

    # -- postings: what operators do ---------------------------------------------------

    def repost(self, posting_id: int, *, actor: str) -> Posting:
        """refused, unknown or failed -> queued: it goes out again (as a new sending). Audited."""
        return self._operator_move(posting_id, actor, "posting re-post", "queued again",
                                   state=PostingState.QUEUED.value, queued_at=self.clock(),
                                   next_attempt_at=self.clock(), sent_at=None,
                                   settled_at=None, answer=None, attempts=0, last_error=None,
                                   reposts=Posting.__table__.c.reposts + 1, settled_by=None)

    def settle(self, posting_id: int, *, actor: str, note: str | None = None) -> Posting:
        """refused, unknown or failed -> settled: handled by hand, nothing more is sent. Audited."""
        detail = "settled by hand" + (f": {note}" if note else "")
        return self._operator_move(posting_id, actor, "posting settle", detail, state=PostingState.SETTLED.value,
                                   settled_at=self.clock(), settled_by=actor)

    def _operator_move(self, posting_id: int, actor: str, action: str, what: str, **values) -> Posting:
        table, audit = Posting.__table__, AuditEntry.__table__
        allowed = [state.value for state in NEEDS_OPERATOR_STATES]
        with self.engine.begin() as connection:
            row = connection.execute(select(table).where(table.c.id == posting_id)).first()
            if row is None:
                raise PostingNotChangeable(f"there is no posting {posting_id}")
            changed = connection.execute(
                update(table).where(table.c.id == posting_id, table.c.state.in_(allowed)).values(**values)
            ).rowcount
            if changed != 1:
                raise PostingNotChangeable(f"posting {posting_id} is {row.state}; only refused, unknown or failed "
                                           "postings can be re-posted or settled")
            amount = "rated by the PMS" if row.amount is None else f"{row.amount} {row.currency} minor units"
            connection.execute(insert(audit), dict(
                at=self.clock(), actor=actor, action=action, room=row.room,
                detail=f"posting {posting_id} ({amount}, was {row.state}"
                       + (f", answer {row.answer}" if row.answer else "") + f"): {what}"))
        log.info("%s: posting %s %s", actor, posting_id, what)
        return self.get(posting_id)

    def _move(self, posting_id: int, from_states: Sequence[PostingState], **values) -> bool:
        table = Posting.__table__
        with self.engine.begin() as connection:
            changed = connection.execute(
                update(table).where(table.c.id == posting_id, table.c.state.in_([s.value for s in from_states]))
                .values(**values)
            ).rowcount
        return changed == 1

    # -- housekeeping --------------------------------------------------------------------

    def prune_calls(self, older_than: timedelta) -> int:
        """Delete call records seen longer than ``older_than`` ago that no posting refers to."""
        calls, postings = CallRecord.__table__, Posting.__table__
        cutoff = self.clock() - older_than
        with self.engine.begin() as connection:
            removed = connection.execute(
                calls.delete().where(
                    calls.c.seen_at < cutoff,
                    ~select(postings.c.id).where(postings.c.call_id == calls.c.id).exists(),
                )
            ).rowcount
        if removed:
            log.info("pruned %d call records older than %s", removed, older_than)
        return removed

