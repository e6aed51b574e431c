"""Did an interrupted operation reach the PBX? Ask the PBX before sending it again.

A process killed between sending a request and recording the answer leaves the delivery
uncertain. Sending it again could apply it twice (a second check-in of a room the PBX
already holds is refused, and the delivery would die for nothing). Where the PBX's state
shows the operation's effect, the delivery is recorded as delivered instead. Operations
whose effect the API cannot show (wake-ups, call forward) are sent again: applying them
twice leaves the PBX in the same state.
"""

from __future__ import annotations

from enum import Enum

from pmsbridge.ledger.store import ClaimedDelivery
from pmsbridge.mapping import RoomMapping
from pmsbridge.pbx.client import PbxClient
from pmsbridge.pbx.names import NamePolicy


class AppliedCheck(Enum):
    APPLIED = "applied"
    NOT_APPLIED = "not_applied"
    UNKNOWN = "unknown"


def expected_fullname(fields: dict, names: NamePolicy) -> str:
    """The caller-ID name the PBX shows after a check-in or update with these fields."""
    parts = (names.clean(str(fields.get(key) or "")) for key in ("firstname", "lastname"))
    return " ".join(part for part in parts if part)


def _fullname(client: PbxClient, extension: str) -> str:
    for account in client.list_accounts(options=["extension", "fullname"]):
        if account.get("extension") == extension:
            return (account.get("fullname") or "").strip()
    return ""


def check_applied(client: PbxClient, delivery: ClaimedDelivery, mapping: RoomMapping,
                  names: NamePolicy) -> AppliedCheck:
    extension = mapping.extension(delivery.room)
    if extension is None:
        return AppliedCheck.UNKNOWN
    operation = delivery.operation
    if operation == "checkin":
        # Per-room order guarantees the room was vacant on the PBX before this check-in,
        # so a name on the extension can only come from it.
        expected = expected_fullname(delivery.fields, names)
        if not expected:
            return AppliedCheck.UNKNOWN
        return AppliedCheck.APPLIED if _fullname(client, extension) == expected else AppliedCheck.NOT_APPLIED
    if operation == "checkout":
        return AppliedCheck.NOT_APPLIED if _fullname(client, extension) else AppliedCheck.APPLIED
    if operation == "dnd":
        account = client.get_sip_account(extension)
        shown = str(account.get("dnd", "")).lower() in ("yes", "1", "true")
        wanted = str(delivery.fields.get("status")) == "1"
        return AppliedCheck.APPLIED if shown == wanted else AppliedCheck.NOT_APPLIED
    return AppliedCheck.UNKNOWN
