"""Fetch-and-diff: a reservation as the PMS holds it, against the ledger's rooms."""

from __future__ import annotations

from datetime import UTC, datetime

from pmsbridge.adapters.cloud.stays import Stay, in_house_collector, stay_events
from pmsbridge.events import CheckIn, CheckOut, Guest, GuestChange, RoomMove
from pmsbridge.rooms import RoomState

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
ARRIVAL, DEPARTURE = datetime(2026, 11, 27, 15, 0), datetime(2026, 11, 29, 11, 0)


def guest(reservation: str = "R1", last_name: str = "Doe", **fields) -> Guest:
    return Guest(reservation=reservation, last_name=last_name, arrival=ARRIVAL, departure=DEPARTURE, **fields)


def stay(room: str | None = "101", *, in_house: bool = True, **fields) -> Stay:
    return Stay(guest=guest(**fields), in_house=in_house, room=room, raw="{}")


def rooms(**occupants: list[Guest]) -> dict[str, RoomState]:
    return {room.removeprefix("r"): RoomState(room=room.removeprefix("r"), reservations=tuple(guests))
            for room, guests in occupants.items()}


def events(states, the_stay):
    return stay_events(states, the_stay, source="apaleo", now_utc=NOW)


def test_an_arrival_checks_in_and_a_second_guest_shares_the_room():
    [check_in] = events({}, stay())
    assert isinstance(check_in, CheckIn) and check_in.room == "101" and not check_in.shared
    [shared] = events(rooms(r101=[guest("R0", "Roe")]), stay())
    assert isinstance(shared, CheckIn) and shared.shared


def test_a_known_guest_in_its_room_changes_nothing_until_its_data_changes():
    states = rooms(r101=[guest()])
    assert events(states, stay()) == []
    [change] = events(states, stay(last_name="Doe-Smith", language="de"))
    assert isinstance(change, GuestChange) and change.guest.last_name == "Doe-Smith" and change.room == "101"


def test_another_room_is_a_move_with_the_guest():
    [move] = events(rooms(r101=[guest()]), stay("105"))
    assert isinstance(move, RoomMove) and (move.from_room, move.room, move.reservation) == ("101", "105", "R1")


def test_leaving_checks_out_only_that_reservation_and_a_cancel_changes_nothing():
    [out] = events(rooms(r101=[guest(), guest("R2", "Roe")]), stay(in_house=False))
    assert isinstance(out, CheckOut) and out.reservation == "R1" and out.room == "101"
    assert events({}, stay(None, in_house=False)) == []


def test_in_house_without_a_room_leaves_the_ledger_as_it_is():
    assert events(rooms(r101=[guest()]), stay(None)) == []


def test_the_in_house_list_shares_rooms_skips_guests_not_in_house_and_hands_back_unusable_stays():
    collector, unusable = in_house_collector(
        [stay("101"), stay("101", reservation="R2"), stay("102", reservation="R3", in_house=False),
         stay("Room 7", reservation="R4")], source="apaleo", now_utc=NOW)
    assert {room: [g.reservation for g in guests] for room, guests in collector.in_house.items()} == {
        "101": ["R1", "R2"]}
    assert [(bad.reservation, "pattern" in problem) for bad, problem in unusable] == [("R4", True)]
