"""pbx_differences: what a room lacks on the phone system, in words."""

from __future__ import annotations

from datetime import datetime

from pmsbridge.rooms import PbxRoom, Wakeup
from pmsbridge.web.differences import pbx_differences

GUEST = {"lastname": "Doe", "firstname": "Jane", "vipcode": "1", "datein": "2026-12-03T14:00"}
SEVEN = Wakeup(at=datetime(2026, 12, 4, 7, 0))
DAILY = Wakeup(at=datetime(2026, 12, 4, 6, 30), daily=True)


def occupied(**values) -> PbxRoom:
    return PbxRoom(room="101", checked_in=True, **{"guest": GUEST, **values})


def test_a_room_that_matches_has_nothing_to_say():
    assert pbx_differences(occupied(wakeups=(SEVEN,)), occupied(wakeups=(SEVEN,))) == []
    assert pbx_differences(PbxRoom(room="101"), PbxRoom(room="101")) == []


def test_occupancy_is_said_first_and_alone():
    assert pbx_differences(PbxRoom(room="101"), occupied(dnd=True)) == [
        "wanted occupied, the phone system has it vacant"]
    assert pbx_differences(occupied(), PbxRoom(room="101")) == ["wanted vacant, the phone system has it occupied"]


def test_each_difference_of_an_occupied_room_in_a_sentence():
    held = occupied(guest={**GUEST, "lastname": "Do", "vipcode": "2", "datein": "2026-12-03T15:00"},
                    wakeups=(DAILY.model_copy(update={"daily": False}),), call_forward="123")
    wanted = occupied(wakeups=(SEVEN, DAILY), dnd=True)
    assert pbx_differences(held, wanted) == [
        "the phone system lacks the guest's name, VIP, stay dates as wanted",
        "wake-up daily 06:30, 12-04 07:00 missing on the phone system",
        "wake-up 12-04 06:30 still set on the phone system",
        "wanted DND on, the phone system has it off",
        "wanted call forward off, the phone system has it to 123",
    ]
