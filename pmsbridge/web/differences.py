"""What a room lacks on the phone system, in the front desk's words.

``pbx_differences(held, wanted)`` compares what the PBX holds (or will hold once the room's
open deliveries succeed) with what it should hold, and says each difference in a sentence:
"wanted occupied, the phone system has it vacant". Pure: the board and the room page call
it with the ledger's books (``RoomBooks.expected`` and ``RoomBooks.target``). The sentences
are in the reader's language (English outside a request).
"""

from __future__ import annotations

from flask_babel import gettext, lazy_gettext

from pmsbridge.rooms import PbxRoom, Wakeup

# The pmsapi guest fields as the front desk names them, in the order they are listed.
GUEST_FIELD_LABELS = {
    "firstname": lazy_gettext("name"),
    "lastname": lazy_gettext("name"),
    "language": lazy_gettext("language"),
    "vipcode": lazy_gettext("VIP"),
    "datein": lazy_gettext("stay dates"),
    "dateout": lazy_gettext("stay dates"),
    "credit": lazy_gettext("credit limit"),
    "account": lazy_gettext("reservation"),
    "cos": lazy_gettext("class of service"),
}


def _wakeup(wakeup: Wakeup) -> str:
    if wakeup.daily:
        return gettext("daily %(time)s", time=wakeup.at.strftime("%H:%M"))
    return f"{wakeup.at:%m-%d %H:%M}"


def _forward(target: str | None) -> str:
    return gettext("to %(target)s", target=target) if target else gettext("off")


def pbx_differences(held: PbxRoom, wanted: PbxRoom) -> list[str]:
    """Each way ``held`` falls short of ``wanted``, one sentence each; [] when they match."""
    if wanted.checked_in != held.checked_in:
        if wanted.checked_in:
            return [gettext("wanted occupied, the phone system has it vacant")]
        return [gettext("wanted vacant, the phone system has it occupied")]
    if not wanted.checked_in:
        return []
    found = []
    fields = [name for name in GUEST_FIELD_LABELS if held.guest.get(name) != wanted.guest.get(name)]
    if fields:
        labels = ", ".join(dict.fromkeys(str(GUEST_FIELD_LABELS[name]) for name in fields))
        found.append(gettext("the phone system lacks the guest's %(fields)s as wanted", fields=labels))
    missing = [wakeup for wakeup in wanted.wakeups if wakeup not in held.wakeups]
    extra = [wakeup for wakeup in held.wakeups if wakeup not in wanted.wakeups]
    if missing:
        found.append(gettext("wake-up %(wakeups)s missing on the phone system",
                             wakeups=", ".join(map(_wakeup, missing))))
    if extra:
        found.append(gettext("wake-up %(wakeups)s still set on the phone system",
                             wakeups=", ".join(map(_wakeup, extra))))
    if held.dnd != wanted.dnd:
        found.append(gettext("wanted DND on, the phone system has it off") if wanted.dnd
                     else gettext("wanted DND off, the phone system has it on"))
    if held.call_forward != wanted.call_forward:
        found.append(gettext("wanted call forward %(wanted)s, the phone system has it %(held)s",
                             wanted=_forward(wanted.call_forward), held=_forward(held.call_forward)))
    return found
