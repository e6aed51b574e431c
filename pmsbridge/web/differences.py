"""What a room lacks on the phone system, in the front desk's words.

``pbx_differences(held, wanted)`` compares what the PBX holds (or will hold once the room's
open deliveries succeed) with what it should hold, and says each difference in a sentence:
"wanted occupied, the phone system has it vacant". Pure: the board and the room page call
it with the ledger's books (``RoomBooks.expected`` and ``RoomBooks.target``).
"""

from __future__ import annotations

from pmsbridge.rooms import PbxRoom, Wakeup

# The pmsapi guest fields as the front desk names them, in the order they are listed.
GUEST_FIELD_LABELS = {
    "firstname": "name",
    "lastname": "name",
    "language": "language",
    "vipcode": "VIP",
    "datein": "stay dates",
    "dateout": "stay dates",
    "credit": "credit limit",
    "account": "reservation",
    "cos": "class of service",
}


def _wakeup(wakeup: Wakeup) -> str:
    return f"daily {wakeup.at:%H:%M}" if wakeup.daily else f"{wakeup.at:%m-%d %H:%M}"


def pbx_differences(held: PbxRoom, wanted: PbxRoom) -> list[str]:
    """Each way ``held`` falls short of ``wanted``, one sentence each; [] when they match."""
    if wanted.checked_in != held.checked_in:
        if wanted.checked_in:
            return ["wanted occupied, the phone system has it vacant"]
        return ["wanted vacant, the phone system has it occupied"]
    if not wanted.checked_in:
        return []
    found = []
    fields = [name for name in GUEST_FIELD_LABELS if held.guest.get(name) != wanted.guest.get(name)]
    if fields:
        labels = ", ".join(dict.fromkeys(GUEST_FIELD_LABELS[name] for name in fields))
        found.append(f"the phone system lacks the guest's {labels} as wanted")
    missing = [wakeup for wakeup in wanted.wakeups if wakeup not in held.wakeups]
    extra = [wakeup for wakeup in held.wakeups if wakeup not in wanted.wakeups]
    if missing:
        found.append(f"wake-up {', '.join(map(_wakeup, missing))} missing on the phone system")
    if extra:
        found.append(f"wake-up {', '.join(map(_wakeup, extra))} still set on the phone system")
    if held.dnd != wanted.dnd:
        found.append(f"wanted DND {'on' if wanted.dnd else 'off'}, the phone system has it "
                     f"{'on' if held.dnd else 'off'}")
    if held.call_forward != wanted.call_forward:
        wanted_forward = f"to {wanted.call_forward}" if wanted.call_forward else "off"
        held_forward = f"to {held.call_forward}" if held.call_forward else "off"
        found.append(f"wanted call forward {wanted_forward}, the phone system has it {held_forward}")
    return found
