"""Call detail records for the calls an emulated PBX "makes": outside calls, internal and inbound
calls, and the PBX's wake-up calls, shaped like a real unit's cdrapi records.

What a record looks like (all values strings, times local without a zone):

- outside call from a room: ``userfield`` Outbound, ``channel_ext``/``src`` the extension,
  ``dst`` the number dialled, ``dst_trunk_name`` the trunk, ``dcontext`` outbound-route-1;
- internal call: ``userfield`` Internal, ``dcontext`` from-internal;
- inbound call: ``userfield`` Inbound, ``src_trunk_name`` set, ``dcontext`` ext-did-1;
- wake-up call: ``action_type`` WAKEUP, ``src`` "wakeup", ``dst`` the woken extension,
  ``dcontext`` wakeup-call, ``userfield`` Internal.

``answer``, ``billsec`` and ``dstanswer`` are set only for ANSWERED calls. With ``group`` a
call is stored the way transfers are: ``{"main_cdr": summary, "sub_cdr_1": leg}``.
"""

from __future__ import annotations

import copy
import itertools
import threading
from datetime import datetime, timedelta
from typing import Any

DISPOSITIONS = ("ANSWERED", "NO ANSWER", "BUSY", "FAILED")
CDR_TIME = "%Y-%m-%d %H:%M:%S"
WAKEUP_SOURCE = "wakeup"


class CallRecords:
    """Builds CDR records; every call gets a fresh ``uniqueid`` (thread-safe)."""

    def __init__(self) -> None:
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()

    def _unique(self, start: datetime) -> str:
        with self._lock:
            number = next(self._sequence)
        return f"{int(start.timestamp())}.{number}"

    def call(self, *, caller: str, callee: str, kind: str, start: datetime, ring: int, talk: int,
             disposition: str, trunk: str | None = None, caller_name: str | None = None) -> dict[str, Any]:
        """One call: ``kind`` is "Outbound", "Inbound" or "Internal"; ``talk`` counts only when answered."""
        if disposition not in DISPOSITIONS:
            raise ValueError(f"disposition must be one of {', '.join(DISPOSITIONS)}")
        if kind not in ("Outbound", "Inbound", "Internal"):
            raise ValueError("kind must be Outbound, Inbound or Internal")
        if ring < 0 or talk < 0:
            raise ValueError("ring and talk are seconds, not negative")
        answered = disposition == "ANSWERED"
        talk = talk if answered else 0
        start = start.replace(microsecond=0)
        answer_at = start + timedelta(seconds=ring)
        end = answer_at + timedelta(seconds=talk)
        unique = self._unique(start)
        name = caller_name or caller
        context = {"Outbound": "outbound-route-1", "Inbound": "ext-did-1", "Internal": "from-internal"}[kind]
        caller_channel = f"PJSIP/{trunk}-{unique}" if kind == "Inbound" else f"PJSIP/{caller}-{unique}"
        callee_channel = f"PJSIP/{trunk}-{unique}" if kind == "Outbound" else f"PJSIP/{callee}-{unique}"
        return {
            "accountcode": "",
            "action_owner": "",
            "action_type": "DIAL",
            "amaflags": "DOCUMENTATION",
            "answer": answer_at.strftime(CDR_TIME) if answered else "",
            "billsec": str(talk),
            "caller_name": name,
            "cdr": f"{unique.replace('.', '')}-{caller}",
            "chanext": "",
            "channel": caller_channel,
            "channel_ext": caller if kind != "Inbound" else "",
            "clid": f'"{name}" <{caller}>',
            "dcontext": context,
            "disposition": disposition,
            "dst": callee,
            "dst_trunk_name": (trunk or "") if kind == "Outbound" else "",
            "dstanswer": callee if answered else "",
            "dstchanext": "",
            "dstchannel": callee_channel,
            "dstchannel_ext": callee if kind != "Outbound" else "",
            "duration": str(ring + talk),
            "end": end.strftime(CDR_TIME),
            "lastapp": "Dial",
            "lastdata": f"{callee_channel},60",
            "recordfiles": "",
            "service": "s",
            "session": f"{unique.replace('.', '')}-{caller}",
            "src": caller,
            "src_trunk_name": (trunk or "") if kind == "Inbound" else "",
            "start": start.strftime(CDR_TIME),
            "uniqueid": unique,
            "userfield": kind,
        }

    def wakeup_call(self, *, extension: str, start: datetime, ring: int, talk: int,
                    disposition: str) -> dict[str, Any]:
        """The PBX ringing ``extension`` for its wake-up."""
        record = self.call(caller=WAKEUP_SOURCE, callee=extension, kind="Internal", start=start, ring=ring,
                           talk=talk, disposition=disposition, caller_name="Wakeup Call")
        record.update(action_type="WAKEUP", dcontext="wakeup-call", channel="Local/wakeup@wakeup-call",
                      channel_ext="")
        return record


def as_group(record: dict[str, Any]) -> dict[str, Any]:
    """A call stored as a group: the main record summarises, ``sub_cdr_1`` is the leg."""
    main = copy.deepcopy(record)
    main["lastapp"], main["lastdata"] = "Transfer", ""
    return {"main_cdr": main, "sub_cdr_1": copy.deepcopy(record)}
