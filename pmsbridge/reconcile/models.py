"""The ``drift`` table: every difference between the PBX and the desired room state, found
by reconciliation, with what became of it::

    open ──repair queued──> repairing ──gone──> resolved
      │  ^                      │
      │  └──persists, attempts──┤
      │     left                └──persists, no attempts left──> repair_failed
      └──gone (someone fixed it, or the desired state changed)──> resolved

A drift is one (room, kind) pair; at most one row per pair is unresolved at a time.
Rows are written only through ``pmsbridge.reconcile.store.DriftStore``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel


class DriftKind(StrEnum):
    """The classes of drift, each with its own healing policy (``[reconcile.policy]``)."""

    NAME = "name"  # the PBX shows another guest name
    NOT_CHECKED_IN = "not_checked_in"  # occupied here, vacant on the PBX
    NOT_CHECKED_OUT = "not_checked_out"  # vacant here, occupied on the PBX
    DND = "dnd"
    CALL_FORWARD = "call_forward"
    EXTENSION = "extension"  # missing on the PBX, or out of service


class DriftState(StrEnum):
    OPEN = "open"
    REPAIRING = "repairing"  # repair deliveries were queued; the next look tells whether they worked
    REPAIR_FAILED = "repair_failed"  # it persisted after every repair allowed: an operator must look
    RESOLVED = "resolved"


UNRESOLVED_STATES = (DriftState.OPEN, DriftState.REPAIRING, DriftState.REPAIR_FAILED)


class DriftRow(SQLModel, table=True):
    """One drift of one room, from the first run that saw it to the one that saw it gone."""

    __tablename__ = "drift"
    __table_args__ = (Index("ix_drift_state_room", "state", "room"),)

    id: int | None = Field(default=None, primary_key=True)
    room: str = Field(max_length=16, index=True)
    extension: str = Field(max_length=16)
    kind: str = Field(max_length=24)
    expected: str = Field(sa_column=Column(Text, nullable=False), description="what the desired state says")
    actual: str = Field(sa_column=Column(Text, nullable=False), description="what the PBX showed")
    first_seen: datetime
    last_seen: datetime
    repair_attempts: int = 0
    last_repair_at: datetime | None = None
    resolved_at: datetime | None = None
    state: str = Field(default=DriftState.OPEN, max_length=16)
