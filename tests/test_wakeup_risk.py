"""Wake-ups at risk: due within 30 minutes and not confirmed by the PBX (a pure computation)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pmsbridge.events import Guest
from pmsbridge.rooms import PbxRoom, RoomState, Wakeup
from pmsbridge.wakeup_risk import RISK_WINDOW, next_ring, next_wakeup, room_wakeups_at_risk, wakeups_at_risk

NOW = datetime(2026, 12, 3, 6, 45)
GUEST = (Guest(last_name="Doe"),)


@dataclass(frozen=True)
class Books:
    state: RoomState
    confirmed: PbxRoom


def wanted(room: str, *wakeups: Wakeup) -> RoomState:
    return RoomState(room=room, reservations=GUEST, wakeups=wakeups)


def held(room: str, *wakeups: Wakeup, checked_in: bool = True) -> PbxRoom:
    return PbxRoom(room=room, checked_in=checked_in, wakeups=wakeups if checked_in else ())


def test_next_ring_of_single_and_daily_wake_ups():
    now = datetime(2026, 11, 27, 10, 0)
    single = Wakeup(at=datetime(2026, 11, 28, 7, 0))
    daily = Wakeup(at=datetime(2026, 11, 20, 8, 30), daily=True)
    passed = Wakeup(at=datetime(2026, 11, 27, 6, 0))
    assert next_ring(passed, now) is None
    assert next_ring(single, now) == datetime(2026, 11, 28, 7, 0)
    assert next_ring(daily, now) == datetime(2026, 11, 28, 8, 30)
    assert next_ring(daily, datetime(2026, 11, 27, 8, 0)) == datetime(2026, 11, 27, 8, 30)
    assert next_ring(daily, datetime(2026, 11, 27, 8, 30)) == datetime(2026, 11, 27, 8, 30)
    # A daily wake-up set for a later first day rings first on that day.
    assert next_ring(Wakeup(at=datetime(2026, 12, 1, 7, 0), daily=True), now) == datetime(2026, 12, 1, 7, 0)
    assert next_wakeup([passed], now) is None
    assert next_wakeup([single, daily, passed], now) == datetime(2026, 11, 28, 7, 0)


def test_a_wake_up_due_soon_that_the_pbx_confirmed_is_safe():
    seven = Wakeup(at=datetime(2026, 12, 3, 7, 0))
    assert room_wakeups_at_risk("101", wanted("101", seven), held("101", seven), NOW) == []


def test_a_wake_up_due_soon_that_the_pbx_lacks_is_at_risk():
    seven = Wakeup(at=datetime(2026, 12, 3, 7, 0))
    [risk] = room_wakeups_at_risk("101", wanted("101", seven), held("101"), NOW)
    assert (risk.room, risk.rings_at, risk.vacant_on_pbx) == ("101", seven.at, False)
    assert str(risk) == "room 101 07:00 not confirmed by the phone system"


def test_a_room_the_pbx_has_vacant_puts_its_wake_ups_at_risk():
    seven = Wakeup(at=datetime(2026, 12, 3, 7, 0))
    # Even if the books held the wake-up: a vacant extension rings no wake-up.
    [risk] = room_wakeups_at_risk("101", wanted("101", seven), held("101", seven, checked_in=False), NOW)
    assert str(risk) == "room 101 07:00 not confirmed by the phone system (it has the room vacant)"


def test_only_wake_ups_within_the_window_count():
    later = Wakeup(at=NOW + RISK_WINDOW + timedelta(minutes=1))
    edge = Wakeup(at=NOW + RISK_WINDOW)
    passed = Wakeup(at=NOW - timedelta(minutes=1))
    risks = room_wakeups_at_risk("101", wanted("101", later, edge, passed), held("101"), NOW)
    assert [risk.rings_at for risk in risks] == [edge.at]


def test_daily_wake_ups_are_judged_by_their_next_ring():
    first_set = Wakeup(at=datetime(2026, 11, 20, 7, 0), daily=True)
    [risk] = room_wakeups_at_risk("101", wanted("101", first_set), held("101"), NOW)
    assert risk.rings_at == datetime(2026, 12, 3, 7, 0)
    # The PBX's copy of a daily order is the same order whatever first day it names.
    confirmed = Wakeup(at=datetime(2026, 11, 21, 7, 0), daily=True)
    assert room_wakeups_at_risk("101", wanted("101", first_set), held("101", confirmed), NOW) == []
    # A single wake-up at that time is not the daily order.
    single = Wakeup(at=datetime(2026, 12, 3, 7, 0))
    assert len(room_wakeups_at_risk("101", wanted("101", first_set), held("101", single), NOW)) == 1
    tomorrow = Wakeup(at=datetime(2026, 11, 20, 6, 0), daily=True)  # rang at 06:00 today: next is tomorrow
    assert room_wakeups_at_risk("101", wanted("101", tomorrow), held("101"), NOW) == []


def test_the_hotel_list_is_soonest_first_then_by_room():
    seven, ten_past = datetime(2026, 12, 3, 7, 0), datetime(2026, 12, 3, 7, 10)
    books = {
        "102": Books(wanted("102", Wakeup(at=ten_past)), held("102")),
        "103": Books(wanted("103", Wakeup(at=seven)), held("103", checked_in=False)),
        "101": Books(wanted("101", Wakeup(at=seven)), held("101")),
        "104": Books(wanted("104", Wakeup(at=seven)), held("104", Wakeup(at=seven))),
        "105": Books(RoomState(room="105"), held("105", checked_in=False)),
    }
    assert [(risk.room, risk.rings_at) for risk in wakeups_at_risk(books, NOW)] == [
        ("101", seven), ("103", seven), ("102", ten_past)]
