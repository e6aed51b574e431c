"""The tables of call accounting: calls read from the CDR, postings to the PMS, PBX event reports.

A posting moves through these states::

    queued ──claimed, sent to the PMS──> sent ──PMS said yes──> posted
      ^                                   │
      │                                   ├──PMS said no──> refused ─────┐
      │                                   ├──no answer in time──> unknown ┤ (a late answer
      │                                   │                               │  still settles it)
      ├───────PMS not reachable (retry)───┤                               │
      │                                   └──retry budget spent──> failed ┤
      │   (no PMS to post to: failed at once)                              │
      └────────────── re-post (operator, audited) ────────────────────────┤
                      settle by hand (operator, audited) ──> settled <────┘

``unknown`` is never left automatically: the PMS may or may not have booked the charge, and
sending it again could charge the guest twice. Rows are written only through
``pmsbridge.accounting.postings.PostingStore``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import NaiveDatetime
from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from pmsbridge.ledger.models import utcnow


class CallVerdict(StrEnum):
    """What the collector made of one call record."""

    CHARGED = "charged"  # a posting was made
    FREE = "free"  # not charged; ``reason`` says why (internal, unanswered, vacant room, free number...)
    UNRATED = "unrated"  # chargeable, but no tariff matched the number
    WAKEUP = "wakeup"  # the PBX's wake-up call to a room


class PostingState(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    POSTED = "posted"
    REFUSED = "refused"
    UNKNOWN = "unknown"
    FAILED = "failed"
    SETTLED = "settled"


OPEN_POSTING_STATES = (PostingState.QUEUED, PostingState.SENT)
# The states an operator may re-post or settle from.
NEEDS_OPERATOR_STATES = (PostingState.REFUSED, PostingState.UNKNOWN, PostingState.FAILED)


class CallRecord(SQLModel, table=True):
    """One call leg read from the PBX's CDR and the collector's verdict on it.

    ``call_key`` is unique: the same record read again (the collector reads back over the
    last ``accounting.lookback_minutes``) is recognised and changes nothing.
    """

    __tablename__ = "call_record"
    __table_args__ = (
        UniqueConstraint("call_key", name="uq_call_record_key"),
        Index("ix_call_record_verdict_room", "verdict", "room", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    call_key: str = Field(max_length=200, description="uniqueid (or session/AcctId), plus the leg of a group")
    seen_at: datetime = Field(default_factory=utcnow, index=True)
    started_at: NaiveDatetime = Field(description="the call's start, hotel local time")
    extension: str | None = Field(default=None, max_length=32)
    room: str | None = Field(default=None, max_length=16)
    dialled: str | None = Field(default=None, max_length=64)
    disposition: str | None = Field(default=None, max_length=32)
    billsec: int = 0
    verdict: str = Field(max_length=16)
    reason: str | None = Field(default=None, sa_column=Column(Text))
    raw: str = Field(sa_column=Column(Text, nullable=False), description="the CDR record as JSON")


class Posting(SQLModel, table=True):
    """A charge for a guest's folio and what became of it."""

    __tablename__ = "posting"
    __table_args__ = (
        Index("ix_posting_channel_state", "channel", "state", "id"),
        Index("ix_posting_room_state", "room", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    call_id: int | None = Field(default=None, foreign_key="call_record.id", unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    queued_at: datetime = Field(default_factory=utcnow, description="created, or last re-posted")
    room: str = Field(max_length=16)
    channel: str | None = Field(default=None, max_length=64, description="the PMS source that receives it")
    amount: int | None = Field(default=None, description="minor currency units; None: the PMS rates the call")
    currency: str = Field(default="EUR", max_length=3)
    dialled: str | None = Field(default=None, max_length=64)
    duration: int | None = Field(default=None, description="answered seconds")
    call_start: NaiveDatetime = Field(description="hotel local time")
    tariff: str | None = Field(default=None, max_length=40)
    state: str = Field(default=PostingState.QUEUED, max_length=16)
    sequence: int | None = Field(default=None, description="the PMS's reference, e.g. the FIAS P# of the last send")
    attempts: int = 0
    reposts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    settled_at: datetime | None = None
    answer: str | None = Field(default=None, max_length=200, description="the PMS's answer (FIAS AS, HTTP status)")
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    settled_by: str | None = Field(default=None, max_length=64)


class PbxReport(SQLModel, table=True):
    """One event report the PBX pushed to the bridge, kept raw; ``handled`` when it was understood."""

    __tablename__ = "pbx_report"

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow, index=True)
    kind: str = Field(max_length=64, description="the report's type as the PBX names it")
    extension: str | None = Field(default=None, max_length=32)
    handled: bool = False
    raw: str = Field(sa_column=Column(Text, nullable=False))
