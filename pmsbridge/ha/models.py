"""The tables of leader election: one lease row, and one row per server seen."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class LeaderLease(SQLModel, table=True):
    """Who leads, since when, until when. Times are the database's clock, never a server's.

    ``token`` grows by one at every change of leader (the fencing token): a write of the
    dispatcher carries the token of its term and is refused once another term began.
    """

    __tablename__ = "ha_lease"

    name: str = Field(primary_key=True, max_length=32, description='"leader": one lease for the whole bridge')
    holder: str = Field(max_length=200, description="the leading member's id (host:pid:token)")
    member_name: str = Field(max_length=64, description="the leading server's name (ha.member_name)")
    token: int = Field(description="the term's fencing token, one more at every change of leader")
    since: datetime = Field(description="when this term began")
    renewed_at: datetime
    expires_at: datetime


class HaMember(SQLModel, table=True):
    """A `pmsbridge run` process with [ha] enabled, as it last reported itself."""

    __tablename__ = "ha_member"

    member: str = Field(primary_key=True, max_length=200, description="host:pid:token, new at every start")
    member_name: str = Field(max_length=64)
    role: str = Field(max_length=16, description='"leader" or "standby"')
    started_at: datetime
    seen_at: datetime = Field(index=True)
