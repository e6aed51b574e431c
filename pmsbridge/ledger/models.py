"""The ledger's tables.

The database is the work queue: every inbound PMS event is a row, every PBX operation it
causes is a ``Delivery`` row that moves through these states::

    pending ──claim──> in_flight ──PBX said yes──> delivered
       ^                  │
       │                  ├──transient failure──> retrying ──due──> (claimed again)
       │                  └──permanent failure, or retry budget spent──> dead ──> dismissed
       └────────────── replay (operator) ───────────────────────────────┘     (operator)

A permanent refusal of a check-in or guest update is first retried once without the
optional fields the PBX refused (delivered, the room flagged as degraded). When a delivery
dies, the room's later open deliveries are ``skipped``: they were worked out on the
assumption that it would succeed; the room's next event, a replay or a repair sends what
the PBX lacks instead, worked out from what it confirmed.

``in_flight`` rows left by a process that died are recovered at start: the PBX is asked
whether the operation took effect before it is sent again (see ``recovery``).

Rows are written only through ``pmsbridge.ledger.store.Ledger``; nothing else issues
INSERT or UPDATE against these tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class EventStatus(StrEnum):
    """What became of an inbound event."""

    APPLIED = "applied"  # state updated, deliveries (if any) queued
    DUPLICATE = "duplicate"  # never stored: a repeat of (source, source_key) is answered from the first row
    NEEDS_ATTENTION = "needs_attention"  # applied, but an operator must act (e.g. the room has no extension)
    REJECTED = "rejected"  # could not be understood; kept raw with the reason
    HELD = "held"  # waiting for an operator's confirmation (a mass checkout by a resync)
    RECEIVED = "received"  # a thin notification (ids only), kept before it was answered; its record is fetched next
    FETCHED = "fetched"  # a thin notification whose record was fetched; what changed was recorded as its own events


class DeliveryState(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    DEAD = "dead"
    SKIPPED = "skipped"  # not sent: an earlier operation of the room failed, the room is sent whole again
    DISMISSED = "dismissed"  # a dead delivery an operator ended with a note


OPEN_STATES = (DeliveryState.PENDING, DeliveryState.IN_FLIGHT, DeliveryState.RETRYING)


class InboundEvent(SQLModel, table=True):
    """One message from a PMS (or a front-desk action), raw and parsed."""

    __tablename__ = "inbound_event"
    __table_args__ = (UniqueConstraint("source", "source_key", name="uq_inbound_source_key"),)

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow, index=True)
    source: str = Field(max_length=64, index=True)
    source_key: str | None = Field(default=None, max_length=200)
    kind: str | None = Field(default=None, max_length=32, description="canonical event kind; None when rejected")
    room: str | None = Field(default=None, max_length=16, index=True)
    actor: str | None = Field(default=None, max_length=64, description="the staff user for front-desk actions")
    raw: str = Field(sa_column=Column(Text, nullable=False))
    parsed: str | None = Field(default=None, sa_column=Column(Text), description="the event as JSON")
    status: str = Field(default=EventStatus.APPLIED, max_length=16, index=True)
    problem: str | None = Field(default=None, sa_column=Column(Text))


class Delivery(SQLModel, table=True):
    """One pmsapi operation to bring the PBX to the desired state of a room."""

    __tablename__ = "delivery"
    __table_args__ = (
        Index("ix_delivery_state_due", "state", "next_attempt_at"),
        Index("ix_delivery_state_id", "state", "id"),
        Index("ix_delivery_room_state", "room", "state"),
        Index("ix_delivery_target_state", "target_room", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: int | None = Field(default=None, foreign_key="inbound_event.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    operation: str = Field(max_length=16)
    room: str = Field(max_length=16, description="ordering key: deliveries of a room go out in id order")
    target_room: str | None = Field(default=None, max_length=16, description="a move's destination, also held")
    fields: str = Field(sa_column=Column(Text, nullable=False), description="pmsapi fields as JSON, without address")
    state: str = Field(default=DeliveryState.PENDING, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    claimed_by: str | None = Field(default=None, max_length=120)
    claimed_at: datetime | None = None
    delivered_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_status: int | None = Field(default=None, description="the PBX's status code of the last attempt")
    request: str | None = Field(default=None, sa_column=Column(Text), description="the last document sent")
    uncertain: bool = Field(
        default=False, description="a previous attempt was cut off mid-request: check the PBX before resending"
    )
    note: str | None = Field(
        default=None, sa_column=Column(Text), description="how it ended besides the PBX's answer: dismissed, skipped")


class RoomStateRow(SQLModel, table=True):
    """The desired state of a room (``pmsbridge.rooms.RoomState`` as JSON) and its flags."""

    __tablename__ = "room_state"

    room: str = Field(primary_key=True, max_length=16)
    state: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)
    attention: str | None = Field(default=None, sa_column=Column(Text), description="why an operator should look")
    confirmed: str | None = Field(
        default=None, sa_column=Column(Text),
        description="what the PBX holds (``pmsbridge.rooms.PbxRoom`` as JSON); NULL: as desired")
    expected: str | None = Field(
        default=None, sa_column=Column(Text),
        description="what the PBX will hold once the room's open deliveries succeed; NULL: as desired")
    refused: str | None = Field(
        default=None, sa_column=Column(Text), description="optional fields the PBX refused: JSON {field: value}")
    degraded: str | None = Field(
        default=None, sa_column=Column(Text), description="what the room lacks on the PBX, in a sentence")


class AuditEntry(SQLModel, table=True):
    """Who did what and when: staff actions, replays, configuration-relevant incidents."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64)
    room: str | None = Field(default=None, max_length=16, index=True)
    detail: str | None = Field(default=None, sa_column=Column(Text))


class LedgerValue(SQLModel, table=True):
    """Small named values that must survive restarts (sequence numbers, cursors, flags)."""

    __tablename__ = "ledger_value"

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)
