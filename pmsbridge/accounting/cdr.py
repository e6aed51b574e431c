"""The CDR collector: reads the PBX's call records (cdrapi), judges each call once, queues charges.

Every ``accounting.poll_interval_seconds`` the collector asks cdrapi (JSON) for the records
that started since the cursor minus ``accounting.lookback_minutes``, page by page (offset
and numRecords, at most 1000 a page). A call only shows in the CDR once it ended, so a long
call started well before the newest record seen appears late; reading back over the
lookback catches it, and the unique ``call_key`` of the ``call_record`` table makes every
record read again a no-op. The cursor (the newest start seen, but never later than now;
hotel local time, which is the PBX's time too) is kept in the ledger value
``accounting.cdr_cursor``; calls that started before the collector's first run
(``accounting.cdr_since``) are never charged.

An entry of the answer is a flat record or, as a real unit answers transfers, ring groups
and parked calls, a group ``{"cdr": "<session>", "main_cdr": ..., "sub_cdr_1": ...,
"sub_cdr_2": ...}``. The sub records are the legs, full records judged one by one; the
main record only summarises them (``AcctId`` "", most fields blank) and is judged only when
the group has no legs. A flat record's key is its ``uniqueid``, else its ``session``, else
its ``AcctId`` with its start (a unit starts ``AcctId`` again about monthly, so it never
identifies a call alone), else a digest of the record. The legs of a group usually share
one ``uniqueid``, so a leg's key is the group's (its summary's, with the group's ``cdr``
as its session) followed by the leg's name in the group.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from pmsbridge.accounting.charging import ChargePolicy, Judgement, text_of
from pmsbridge.accounting.models import CallVerdict
from pmsbridge.accounting.postings import CallEntry, Charge, PostingStore
from pmsbridge.config import AccountingSettings
from pmsbridge.ledger.models import EventStatus, InboundEvent
from pmsbridge.ledger.store import Ledger
from pmsbridge.pbx.client import PbxClient
from pmsbridge.pbx.errors import PbxError

log = logging.getLogger(__name__)

CURSOR_KEY = "accounting.cdr_cursor"
SINCE_KEY = "accounting.cdr_since"
CDR_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Sources whose events say nothing about which PMS a room's guest belongs to.
NOT_A_PMS = frozenset({"frontdesk"})


@dataclass(frozen=True)
class CallLeg:
    """One call record to judge: its key, the record itself and its start (hotel local time)."""

    key: str
    record: Mapping[str, Any]
    start: datetime | None


def parse_cdr_time(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, CDR_TIME_FORMAT)
    except ValueError:
        return None


def call_identity(record: Mapping[str, Any]) -> str:
    """What identifies a call: uniqueid, else session, else AcctId and start, else a digest of the record."""
    for name, label in (("uniqueid", ""), ("session", "session:")):
        value = text_of(record, name)
        if value:
            return label + value
    if text_of(record, "AcctId"):
        return f"acct:{text_of(record, 'AcctId')}@{text_of(record, 'start')}"
    digest = hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode("utf-8")).hexdigest()
    return "sha256:" + digest[:32]


def call_legs(entry: Mapping[str, Any]) -> list[CallLeg]:
    """The legs of one cdr_root entry (see the module docstring); [] for an entry that is no record."""
    if not isinstance(entry, Mapping):
        return []
    main = entry.get("main_cdr")
    if not isinstance(main, Mapping):
        return [CallLeg(call_identity(entry), entry, parse_cdr_time(text_of(entry, "start")))]
    subs = sorted(((name, leg) for name, leg in entry.items()
                   if name.startswith("sub_cdr") and isinstance(leg, Mapping)),
                  key=lambda item: (len(item[0]), item[0]))
    summary = dict(main)
    if not text_of(summary, "session"):
        summary["session"] = text_of(entry, "cdr")
    base = call_identity(summary)
    if not subs:
        return [CallLeg(base, main, parse_cdr_time(text_of(main, "start")))]
    return [CallLeg(f"{base}/{name}", leg, parse_cdr_time(text_of(leg, "start") or text_of(main, "start")))
            for name, leg in subs]


@dataclass(frozen=True)
class CollectorRun:
    """What one run did: records read, new legs judged, postings queued, and the cursor after it."""

    read: int
    judged: int
    postings: tuple[int, ...]
    cursor: datetime


class CdrCollector:
    """Reads the CDR and turns new calls into call records and postings (see the module docstring)."""

    def __init__(self, client: PbxClient, store: PostingStore, ledger: Ledger, policy: ChargePolicy,
                 settings: AccountingSettings, zone: ZoneInfo):
        self.client = client
        self.store = store
        self.ledger = ledger
        self.policy = policy
        self.settings = settings
        self.zone = zone
        self.last_run: CollectorRun | None = None
        self.last_error: str | None = None

    def local_now(self) -> datetime:
        return self.ledger.clock().astimezone(self.zone).replace(tzinfo=None, microsecond=0)

    def run_scheduled(self) -> None:
        """The scheduler's job: one run; a PBX that cannot be read is logged and tried at the next one."""
        try:
            self.run()
        except PbxError as err:
            self.last_error = str(err)
            log.warning("call records not read: %s", err)

    def run(self) -> CollectorRun:
        """Read, judge and store the records since the cursor; raises PbxError when the PBX cannot be read."""
        since = self._since()
        cursor = self._cursor(since)
        start_time = max(since, cursor - timedelta(minutes=self.settings.lookback_minutes))
        read, legs = 0, []
        for entry in self.client.cdr(start_time=start_time, page_size=self.settings.page_size):
            read += 1
            legs.extend(call_legs(entry))
        # A record dated in the future (a PBX clock gone wrong) must not carry the cursor past
        # the calls still to come.
        newest = min(max((leg.start for leg in legs if leg.start is not None), default=cursor), self.local_now())
        known = self.store.known_calls(leg.key for leg in legs)
        fresh = [leg for leg in legs if leg.key not in known and (leg.start is None or leg.start >= since)]
        postings = tuple(self.store.record_calls(self._judged(fresh))) if fresh else ()
        cursor = max(cursor, newest)
        self.ledger.set_value(CURSOR_KEY, cursor.isoformat())
        run = CollectorRun(read, len(fresh), postings, cursor)
        self.last_run, self.last_error = run, None
        if postings:
            log.info("call records: %d read, %d new, %d postings queued", read, len(fresh), len(postings))
        return run

    def _since(self) -> datetime:
        value = self.ledger.get_value(SINCE_KEY)
        if value:
            return datetime.fromisoformat(value)
        since = self.local_now()
        self.ledger.set_value(SINCE_KEY, since.isoformat())
        log.info("call accounting starts with the calls from %s on", since)
        return since

    def _cursor(self, since: datetime) -> datetime:
        value = self.ledger.get_value(CURSOR_KEY)
        return datetime.fromisoformat(value) if value else since

    def _judged(self, legs: list[CallLeg]) -> list[tuple[CallEntry, Charge | None]]:
        states = self.ledger.room_states()
        channels: dict[str, str | None] = {}

        def occupied(room: str) -> bool:
            state = states.get(room)
            return state is not None and state.occupied

        judged = []
        for leg in legs:
            judgement = self.policy.judge(leg.record, occupied)
            started = leg.start or self.local_now()
            if leg.start is None and judgement.verdict is CallVerdict.CHARGED:
                judgement = Judgement(CallVerdict.FREE, "no readable start time", judgement.extension,
                                      judgement.room, judgement.dialled, judgement.billsec)
            entry = CallEntry(
                key=leg.key, started_at=started, verdict=judgement.verdict,
                raw=json.dumps(leg.record, ensure_ascii=False, sort_keys=True, default=str),
                extension=judgement.extension, room=judgement.room, dialled=judgement.dialled,
                disposition=text_of(leg.record, "disposition") or None, billsec=judgement.billsec,
                reason=judgement.reason,
            )
            charge = None
            if judgement.verdict is CallVerdict.CHARGED:
                if judgement.room not in channels:
                    channels[judgement.room] = self.channel_for(judgement.room)
                rating = judgement.rating
                charge = Charge(room=judgement.room, call_start=started, channel=channels[judgement.room],
                                amount=rating.amount if rating else None, currency=self.settings.currency,
                                dialled=judgement.dialled, duration=judgement.billsec,
                                tariff=(rating.rule.name or rating.rule.prefix or None) if rating else None)
            elif judgement.verdict is CallVerdict.UNRATED:
                log.warning("call %s from room %s to %s is not charged: %s", leg.key, judgement.room,
                            judgement.dialled, judgement.reason)
            judged.append((entry, charge))
        return judged

    def channel_for(self, room: str) -> str | None:
        """Where a room's charges go: ``accounting.post_via``, else the PMS that last sent an event for it."""
        if self.settings.post_via:
            return self.settings.post_via
        with Session(self.ledger.reader) as session:
            return session.execute(
                select(InboundEvent.source)
                .where(InboundEvent.room == room, InboundEvent.source.not_in(NOT_A_PMS),
                       InboundEvent.status != EventStatus.REJECTED.value, InboundEvent.kind.is_not(None))
                .order_by(InboundEvent.id.desc()).limit(1)
            ).scalar()
