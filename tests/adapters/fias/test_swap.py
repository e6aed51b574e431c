"""The database swap: collecting the in-house list and planning its events (swap.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pmsbridge.adapters.fias.swap import SwapCollector, _position, held_from_json, held_to_json, plan_swap
from pmsbridge.events import CheckIn, CheckOut, DndSet, Guest, GuestChange, RoomMove
from pmsbridge.rooms import RoomState

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


def guest(reservation: str | None, name: str = "Doe", **fields) -> Guest:
    return Guest(reservation=reservation, last_name=name, **fields)


def check_in(room: str, reservation: str | None, name: str = "Doe", shared: bool = False) -> CheckIn:
    return CheckIn(source="fias", room=room, guest=guest(reservation, name), shared=shared, occurred_at=NOW)


def collect(*events) -> SwapCollector:
    collector = SwapCollector()
    for number, event in enumerate(events):
        collector.add(event, f"raw{number}")
    return collector


def occupied(room: str, *guests: Guest, **state) -> RoomState:
    return RoomState(room=room, reservations=guests, cos=3, **state)


# --- collecting -----------------------------------------------------------------------------


def test_each_guest_is_listed_in_its_room():
    collector = collect(check_in("101", "1"), check_in("102", "2"), check_in("102", "3", "Roe", shared=True))
    assert collector.in_house == {"101": [guest("1")], "102": [guest("2"), guest("3", "Roe")]}
    assert collector.records == 3


def test_the_last_record_for_a_reservation_wins_and_it_is_in_one_room():
    collector = collect(check_in("101", "1"), check_in("101", "1", "Doe-Smith"), check_in("103", "1", "Moved"))
    assert collector.in_house == {"101": [], "103": [guest("1", "Moved")]}


def test_a_new_unshared_reservation_replaces_the_room():
    collector = collect(check_in("101", "1"), check_in("101", "2", "Next"))
    assert collector.in_house == {"101": [guest("2", "Next")]}


def test_guests_without_reservation_replace_each_other():
    collector = collect(check_in("101", None), check_in("101", None, "Later", shared=True))
    assert collector.in_house == {"101": [guest(None, "Later")]}


def test_live_checkouts_remove_guests():
    collector = collect(
        check_in("101", "1"), check_in("101", "2", shared=True), check_in("102", "3"),
        CheckOut(source="fias", room="101", reservation="1", occurred_at=NOW),
        CheckOut(source="fias", room="102", occurred_at=NOW),
    )
    assert collector.in_house == {"101": [guest("2")], "102": []}


def test_live_guest_change_updates_a_listed_guest_only():
    collector = collect(
        check_in("101", "1"),
        GuestChange(source="fias", room="101", guest=Guest(reservation="1", first_name="Ann"), occurred_at=NOW),
        GuestChange(source="fias", room="102", guest=Guest(reservation="9", first_name="Bob"), occurred_at=NOW),
    )
    assert collector.in_house == {"101": [guest("1", first_name="Ann")]}
    assert collector.notes == ["room 102: guest change for a guest not (yet) in the swap left out"]


def test_live_move_moves_the_listed_guest_with_its_new_data():
    collector = collect(
        check_in("101", "1"), check_in("101", "2", shared=True), check_in("105", "5"),
        RoomMove(source="fias", room="105", from_room="101", reservation="1",
                 guest=Guest(reservation="1", vip="3"), occurred_at=NOW),
    )
    assert collector.in_house == {"101": [guest("2")], "105": [guest("5"), guest("1", vip="3")]}
    assert collector.raw_for("105") == "raw2\nraw3"
    assert collector.raw_for("101") == "raw0\nraw1\nraw3"


def test_live_move_of_a_whole_room_and_of_an_unlisted_guest():
    collector = collect(
        check_in("101", None),
        RoomMove(source="fias", room="102", from_room="101", occurred_at=NOW),
        RoomMove(source="fias", room="104", from_room="103", reservation="8", guest=guest("8"), occurred_at=NOW),
        RoomMove(source="fias", room="106", from_room="107", reservation="9", occurred_at=NOW),
    )
    assert collector.in_house == {"101": [], "102": [guest(None)], "104": [guest("8")]}
    assert collector.notes == ["room 107: move to 106 of a guest not in the swap left out"]


class EveryRoomCollector(SwapCollector):
    """The collector as first written: a check-in looks for its reservation in every room."""

    def _check_in(self, room: str, guest: Guest, shared: bool) -> None:
        if guest.reservation is not None:
            for other, guests in self._rooms.items():
                if other != room:
                    guests[:] = [listed for listed in guests if listed.reservation != guest.reservation]
        guests = self._rooms.setdefault(room, [])
        index = _position(guests, guest.reservation)
        if index is not None:
            guests[index] = guest
        elif shared:
            guests.append(guest)
        else:
            guests[:] = [guest]


ROOMS = st.sampled_from(["101", "102", "103"])
RESERVATIONS = st.sampled_from([None, "1", "2", "3"])
SWAP_EVENTS = st.lists(st.one_of(
    st.builds(check_in, ROOMS, RESERVATIONS, st.sampled_from(["Doe", "Roe"]), st.booleans()),
    st.builds(lambda room, reservation: CheckOut(source="fias", room=room, reservation=reservation, occurred_at=NOW),
              ROOMS, RESERVATIONS),
    st.builds(lambda room, reservation, name: GuestChange(source="fias", room=room, guest=guest(reservation, name),
                                                          occurred_at=NOW), ROOMS, RESERVATIONS, st.just("Poe")),
    st.builds(lambda source, room, reservation: RoomMove(source="fias", from_room=source, room=room,
                                                         reservation=reservation, occurred_at=NOW),
              ROOMS, ROOMS, RESERVATIONS),
), max_size=30)


@given(SWAP_EVENTS)
def test_the_in_house_list_is_the_one_a_scan_of_every_room_gives(events):
    fast, scanning = SwapCollector(), EveryRoomCollector()
    for number, event in enumerate(events):
        fast.add(event, f"raw{number}")
        scanning.add(event, f"raw{number}")
    assert fast.in_house == scanning.in_house
    assert fast.notes == scanning.notes


def test_other_events_are_not_part_of_the_list():
    with pytest.raises(ValueError):
        collect(DndSet(source="fias", room="101", on=True, occurred_at=NOW))


# --- planning ---------------------------------------------------------------------------------


def test_a_swap_that_matches_plans_nothing():
    current = {"101": occupied("101", guest("1")), "102": RoomState(room="102")}
    plan = plan_swap(current, collect(check_in("101", "1")), source="fias", now_utc=NOW, guard=0.5)
    assert plan.events == () and not plan.held
    assert (plan.occupied, plan.vacated, plan.records) == (1, 0, 1)


def test_a_swap_with_changes_plans_exactly_those():
    current = {
        "101": occupied("101", guest("1")),
        "102": occupied("102", guest("2")),
        "103": occupied("103", guest("3")),
    }
    collector = collect(check_in("101", "1", "Renamed"), check_in("102", "2"), check_in("103", "3"),
                        check_in("104", "4"))
    plan = plan_swap(current, collector, source="fias", now_utc=NOW, guard=0.5)
    assert [(item.event.kind, item.event.room) for item in plan.events] == [
        ("guest_change", "101"), ("check_in", "104")]
    assert plan.events[1].raw == "raw3"
    assert not plan.held


def test_rooms_left_out_are_checked_out_and_the_guard_counts_them():
    current = {room: occupied(room, guest(room)) for room in ("101", "102", "103", "104")}
    collector = collect(check_in("101", "101"), check_in("102", "102"))
    plan = plan_swap(current, collector, source="fias", now_utc=NOW, guard=0.5)
    assert [(item.event.kind, item.event.room) for item in plan.events] == [
        ("check_out", "103"), ("check_out", "104")]
    assert plan.events[0].raw == "database swap: room 103 is not in the in-house list"
    assert (plan.vacated, plan.occupied, plan.held) == (2, 4, False)  # exactly half: not more than the guard

    plan = plan_swap(current, collect(check_in("101", "101")), source="fias", now_utc=NOW, guard=0.5)
    assert (plan.vacated, plan.occupied, plan.held) == (3, 4, True)
    assert plan.reason == ("database swap held: would check out 3 of 4 occupied rooms; "
                           "confirm with `pmsbridge resync --confirm`")


def test_an_empty_swap_of_an_occupied_hotel_is_held_and_guard_one_never_holds():
    current = {"101": occupied("101", guest("1"))}
    assert plan_swap(current, SwapCollector(), source="fias", now_utc=NOW, guard=0.5).held
    assert not plan_swap(current, SwapCollector(), source="fias", now_utc=NOW, guard=1.0).held


def test_an_empty_hotel_is_never_held():
    plan = plan_swap({}, collect(check_in("101", "1")), source="fias", now_utc=NOW, guard=0.0)
    assert not plan.held and [item.event.kind for item in plan.events] == ["check_in"]


def test_a_guest_replaced_in_a_room_is_not_counted_as_vacated():
    current = {"101": occupied("101", guest("1"))}
    plan = plan_swap(current, collect(check_in("101", "2", "New")), source="fias", now_utc=NOW, guard=0.0)
    assert not plan.held
    assert [item.event.kind for item in plan.events] == ["check_out", "check_in"]


def test_a_held_plan_survives_its_json():
    current = {room: occupied(room, guest(room)) for room in ("101", "102")}
    plan = plan_swap(current, collect(check_in("103", "3")), source="fias", now_utc=NOW, guard=0.5)
    assert plan.held
    again = held_from_json(held_to_json(plan))
    assert again.events == plan.events
    assert (again.occupied, again.vacated, again.records, again.computed_at) == (2, 2, 1, NOW)
    assert again.held
    assert held_from_json("") is None and held_from_json(None) is None
