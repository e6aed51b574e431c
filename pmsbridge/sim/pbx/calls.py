"""Call detail records for the calls an emulated PBX "makes": outside calls, internal and inbound
calls, and the PBX's wake-up calls, shaped like a real unit's cdrapi records.

What a record looks like (all values strings, times local without a zone):

- outside call from a room: ``userfield`` Outbound, ``channel_ext``/``src`` the extension,
  ``dst`` the number dialled, ``dst_trunk_name`` the trunk, ``dcontext`` outbound-route-1;
- internal call: ``userfield`` Internal, ``dcontext`` from-internal;
- inbound call: ``userfield`` Inbound, ``src_trunk_name`` set, ``dcontext`` ext-did-1;
- wake-up call: ``action_type`` WAKEUP, ``src`` "wakeup", ``dst`` the woken extension,
  ``dcontext`` wakeup-call, ``userfield`` Internal.

``answer``, ``billsec`` and ``dstanswer`` are set only for ANSWERED calls.

A call with several legs (a transfer) is stored as a real unit stores it (see
``reference/NOTES-pbx-api.md``): ``{"cdr": "<session>", "main_cdr": summary, "sub_cdr_1":
leg, "sub_cdr_2": leg, ...}``. The legs are full records sharing one ``uniqueid`` and
``session``; the summary has ``AcctId`` "" and every field blank but ``src``, ``dst``,
``start``, ``duration``, ``billsec``, ``session`` and ``action_type``.
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
             disposition: str, trunk: str | None = None, caller_name: str | None = None,
             leg_of: dict[str, Any] | None = None) -> dict[str, Any]:
        """One call: ``kind`` is "Outbound", "Inbound" or "Internal"; ``talk`` counts only when answered.

        ``leg_of`` makes it a further leg of that call: it shares the call's ``uniqueid`` and ``session``.
        """
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
        unique = leg_of["uniqueid"] if leg_of else self._unique(start)
        session = leg_of["session"] if leg_of else f"{unique.replace('.', '')}-{caller}"
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
            "cdr": session,
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
            "session": session,
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


def as_group(legs: list[dict[str, Any]]) -> dict[str, Any]:
    """The legs of one call as a group: ``cdr`` the session, ``main_cdr`` the summary, ``sub_cdr_N`` the legs.

    The summary runs from the first leg's caller and start to the last leg's callee, with the
    legs' durations and billed seconds added up.
    """
    first, last = legs[0], legs[-1]
    main = dict.fromkeys(first, "")
    main.update(src=first["src"], dst=last["dst"], start=first["start"], session=first["session"],
                action_type=first["action_type"], duration=str(sum(int(leg["duration"]) for leg in legs)),
                billsec=str(sum(int(leg["billsec"]) for leg in legs)), AcctId="")
    group: dict[str, Any] = {"cdr": first["session"], "main_cdr": main}
    for number, leg in enumerate(legs, start=1):
        group[f"sub_cdr_{number}"] = copy.deepcopy(leg)
    return group
