"""Examples for every rule of the room state machine (pmsbridge.rooms)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from pydantic import ValidationError

from pmsbridge.config import RoomsSettings
from pmsbridge.events import (
    CallForwardClear,
    CallForwardSet,
    CheckIn,
    CheckOut,
    ClassOfServiceSet,
    DndSet,
    Guest,
    GuestChange,
    MessageWaiting,
    ResyncEnd,
    ResyncRecord,
    ResyncStart,
    RoomMove,
    WakeupClear,
    WakeupSet,
)
from pmsbridge.rooms import (
    Outcome,
    PbxOperation,
    PbxRoom,
    RoomPolicy,
    RoomState,
    Wakeup,
    apply,
    pbx_target,
    plan,
    reconcile_in_house,
    rooms_touched,
    transition_operations,
)

NOW = datetime(2026, 3, 1, 15, 30)
FIRST = RoomPolicy()
PRIMARY = RoomPolicy(shared_room_name="primary")
ARRIVAL = datetime(2026, 3, 1, 14, 0)
DEPARTURE = datetime(2026, 3, 4, 11, 0)


def guest(reservation: str | None = "R1", last: str = "Doe", first: str = "Jo", **extra) -> Guest:
    return Guest(reservation=reservation, last_name=last, first_name=first, arrival=ARRIVAL, departure=DEPARTURE,
                 **extra)


def check_in(room: str = "101", **kwargs) -> CheckIn:
    return CheckIn(source="test", room=room, guest=kwargs.pop("guest", None) or guest(**kwargs))


class Hotel:
    """Feeds events one by one, keeping every room's state like the ledger would."""

    def __init__(self, policy: RoomPolicy = FIRST, now: datetime = NOW):
        self.policy = policy
        self.now = now
        self.states: dict[str, RoomState] = {}

    def send(self, event) -> Outcome:
        outcome = apply(self.states, event, self.policy, self.now)
        self.states.update(outcome.states)
        return outcome

    def room(self, room: str) -> RoomState:
        return self.states.get(room, RoomState(room=room))


def ops(outcome: Outcome) -> list[tuple[str, str]]:
    return [(op.operation, op.room) for op in outcome.operations]


def occupied_hotel(*events, policy: RoomPolicy = FIRST) -> Hotel:
    hotel = Hotel(policy)
    for event in events:
        hotel.send(event)
    return hotel


# --- check-in ---------------------------------------------------------------------------------


def test_first_check_in_of_a_vacant_room_sends_checkin_with_every_known_field():
    outcome = Hotel().send(check_in(language="EA", vip="1", credit=5000, cos=2))
    assert outcome.operations == (
        PbxOperation(
            operation="checkin",
            room="101",
            fields={
                "account": "R1",
                "firstname": "Jo",
                "lastname": "Doe",
                "language": "EA",
                "vipcode": "1",
                "datein": "2026-03-01T14:00",
                "dateout": "2026-03-04T11:00",
                "credit": 5000,
                "cos": 2,
            },
        ),
    )
    state = outcome.states["101"]
    assert state.occupied and state.cos == 2
    assert state.displayed_guest.last_name == "Doe"


def test_check_in_without_dates_arrives_now_and_leaves_after_the_default_stay():
    outcome = Hotel().send(CheckIn(source="test", room="101", guest=Guest(reservation="R1", last_name="Doe")))
    fields = outcome.operations[0].fields
    assert fields["datein"] == "2026-03-01T15:30"
    assert fields["dateout"] == "2026-03-02T12:00"
    assert fields["cos"] == 3
    stored = outcome.states["101"].reservations[0]
    assert (stored.arrival, stored.departure) == (datetime(2026, 3, 1, 15, 30), datetime(2026, 3, 2, 12, 0))
    assert outcome.notes == ()


def test_default_stay_follows_the_policy_and_the_arrival_day():
    policy = RoomPolicy(default_stay_nights=3, default_departure_time=time(10, 30), default_cos=4)
    future = Guest(reservation="R1", last_name="Doe", arrival=datetime(2026, 3, 10, 18, 0))
    outcome = apply({}, CheckIn(source="test", room="101", guest=future), policy, NOW)
    fields = outcome.operations[0].fields
    assert (fields["datein"], fields["dateout"], fields["cos"]) == ("2026-03-10T18:00", "2026-03-13T10:30", 4)


@pytest.mark.parametrize("departure", [datetime(2026, 3, 1, 9, 0), ARRIVAL])
def test_departure_not_after_arrival_is_replaced_with_a_note(departure):
    bad = Guest(reservation="R1", last_name="Doe", arrival=ARRIVAL, departure=departure)
    outcome = Hotel().send(CheckIn(source="test", room="101", guest=bad))
    assert outcome.operations[0].fields["dateout"] == "2026-03-02T12:00"
    assert len(outcome.notes) == 1 and "not after arrival" in outcome.notes[0]


def test_check_in_seconds_of_now_are_not_kept():
    outcome = apply({}, check_in(guest=Guest(reservation="R1")), FIRST, datetime(2026, 3, 1, 15, 30, 45, 12))
    assert outcome.states["101"].reservations[0].arrival == datetime(2026, 3, 1, 15, 30)


def test_repeated_check_in_of_the_same_reservation_sends_nothing():
    hotel = occupied_hotel(check_in())
    outcome = hotel.send(check_in())
    assert outcome.operations == ()
    assert outcome.notes == ("room 101: nothing to send to the PBX",)


def test_repeated_check_in_without_dates_keeps_the_stored_dates():
    hotel = occupied_hotel(CheckIn(source="test", room="101", guest=Guest(reservation="R1", last_name="Doe")))
    hotel.now = datetime(2026, 3, 1, 18, 0)
    outcome = hotel.send(CheckIn(source="test", room="101", guest=Guest(reservation="R1", last_name="Doe")))
    assert outcome.operations == ()


def test_repeated_check_in_with_new_name_is_an_update_carrying_every_field():
    hotel = occupied_hotel(check_in(language="EA"))
    outcome = hotel.send(check_in(last="Smith"))
    assert ops(outcome) == [("update", "101")]
    assert outcome.operations[0].fields == {
        "account": "R1",
        "firstname": "Jo",
        "lastname": "Smith",
        "language": "EA",
        "datein": "2026-03-01T14:00",
        "dateout": "2026-03-04T11:00",
        "cos": 3,
    }


def test_repeated_check_in_changing_only_what_the_pbx_does_not_see_is_kept_silently():
    hotel = occupied_hotel(check_in())
    outcome = hotel.send(check_in(title="Dr.", group="G7"))
    assert outcome.operations == ()
    assert outcome.states["101"].reservations[0].title == "Dr."


def test_check_in_without_id_into_a_room_whose_guest_has_none_is_the_same_guest():
    hotel = occupied_hotel(check_in(reservation=None))
    assert hotel.send(check_in(reservation=None)).operations == ()
    outcome = hotel.send(check_in(reservation=None, last="Smith"))
    assert ops(outcome) == [("update", "101")]
    assert len(hotel.room("101").reservations) == 1


def test_check_in_without_id_into_a_room_of_known_reservations_shares_it():
    hotel = occupied_hotel(check_in())
    outcome = hotel.send(check_in(reservation=None, last="Roe"))
    assert outcome.operations == ()
    assert [g.reservation for g in hotel.room("101").reservations] == ["R1", None]


# --- shared rooms -----------------------------------------------------------------------------


def test_shared_room_first_policy_keeps_showing_the_first_arrived():
    hotel = occupied_hotel(check_in())
    outcome = hotel.send(
        CheckIn(source="test", room="101", guest=guest("R2", "Roe", "Al", primary=True), shared=True)
    )
    assert outcome.operations == ()
    state = hotel.room("101")
    assert [g.reservation for g in state.reservations] == ["R1", "R2"]
    assert state.displayed_guest.reservation == "R1"


def test_shared_room_primary_policy_shows_the_primary_guest():
    hotel = occupied_hotel(check_in(), policy=PRIMARY)
    outcome = hotel.send(check_in(guest=guest("R2", "Roe", "Al", primary=True)))
    assert ops(outcome) == [("update", "101")]
    assert outcome.operations[0].fields["lastname"] == "Roe"
    assert outcome.operations[0].fields["account"] == "R2"


def test_primary_policy_without_a_primary_guest_shows_the_first_arrived():
    hotel = occupied_hotel(check_in(), policy=PRIMARY)
    assert hotel.send(check_in(guest=guest("R2", "Roe"))).operations == ()
    assert hotel.room("101").displayed_guest.reservation == "R1"


def test_a_new_primary_guest_takes_the_flag_from_the_previous_one():
    hotel = occupied_hotel(check_in(guest=guest("R1", primary=True)), check_in(guest=guest("R2", "Roe")),
                           policy=PRIMARY)
    outcome = hotel.send(GuestChange(source="test", room="101", guest=Guest(reservation="R2", primary=True)))
    assert ops(outcome) == [("update", "101")]
    assert [g.primary for g in hotel.room("101").reservations] == [False, True]
    assert hotel.room("101").displayed_guest.last_name == "Roe"


def test_checkout_of_a_sharer_not_displayed_sends_nothing():
    hotel = occupied_hotel(check_in(), check_in(guest=guest("R2", "Roe")))
    outcome = hotel.send(CheckOut(source="test", room="101", reservation="R2"))
    assert outcome.operations == ()
    assert [g.reservation for g in hotel.room("101").reservations] == ["R1"]


def test_checkout_of_the_displayed_sharer_updates_to_the_next_guest():
    hotel = occupied_hotel(check_in(), check_in(guest=guest("R2", "Roe")))
    outcome = hotel.send(CheckOut(source="test", room="101", reservation="R1"))
    assert ops(outcome) == [("update", "101")]
    assert outcome.operations[0].fields["lastname"] == "Roe"


def test_the_last_reservation_leaving_checks_the_room_out():
    hotel = occupied_hotel(check_in(), check_in(guest=guest("R2", "Roe")))
    hotel.send(CheckOut(source="test", room="101", reservation="R1"))
    outcome = hotel.send(CheckOut(source="test", room="101", reservation="R2"))
    assert ops(outcome) == [("checkout", "101")]
    assert not hotel.room("101").occupied


def test_checkout_without_reservation_empties_a_shared_room():
    hotel = occupied_hotel(check_in(), check_in(guest=guest("R2", "Roe")))
    outcome = hotel.send(CheckOut(source="test", room="101"))
    assert ops(outcome) == [("checkout", "101")]
    assert hotel.room("101") == RoomState(room="101")


# --- check-out --------------------------------------------------------------------------------


def test_checkout_of_an_empty_room_is_a_noop_with_a_note():
    outcome = Hotel().send(CheckOut(source="test", room="101"))
    assert outcome.operations == ()
    assert outcome.notes == ("room 101: checkout of an empty room: nothing to do",)
    assert outcome.states == {"101": RoomState(room="101")}


def test_checkout_of_an_unknown_reservation_is_a_noop_with_a_note():
    hotel = occupied_hotel(check_in())
    outcome = hotel.send(CheckOut(source="test", room="101", reservation="R9"))
    assert outcome.operations == ()
    assert "R9 is not in the room" in outcome.notes[0]
    assert hotel.room("101").occupied


def test_checkout_forgets_dnd_wakeups_forward_class_and_messages_without_extra_operations():
    hotel = occupied_hotel(
        check_in(),
        DndSet(source="test", room="101", on=True),
        WakeupSet(source="test", room="101", at=datetime(2026, 3, 2, 7, 0)),
        CallForwardSet(source="test", room="101", target="200"),
        ClassOfServiceSet(source="test", room="101", cos=1),
        MessageWaiting(source="test", room="101", on=True, text="call home"),
    )
    outcome = hotel.send(CheckOut(source="test", room="101"))
    assert ops(outcome) == [("checkout", "101")]
    assert hotel.room("101") == RoomState(room="101")


# --- guest change -----------------------------------------------------------------------------


def test_guest_change_merges_only_the_fields_it_carries():
    hotel = occupied_hotel(check_in(language="EA", vip="1"))
    outcome = hotel.send(GuestChange(source="test", room="101", guest=Guest(reservation="R1", language="GE")))
    assert ops(outcome) == [("update", "101")]
    fields = outcome.operations[0].fields
    assert (fields["language"], fields["vipcode"], fields["lastname"]) == ("GE", "1", "Doe")


def test_guest_change_without_id_addresses_the_displayed_guest():
    hotel = occupied_hotel(check_in(guest=guest("R1", primary=False)), check_in(guest=guest("R2", "Roe", primary=True)),
                           policy=PRIMARY)
    outcome = hotel.send(GuestChange(source="test", room="101", guest=Guest(first_name="Ann")))
    assert outcome.operations[0].fields["firstname"] == "Ann"
    assert [g.first_name for g in hotel.room("101").reservations] == ["Jo", "Ann"]


def test_guest_change_of_a_sharer_not_displayed_sends_nothing():
    hotel = occupied_hotel(check_in(), check_in(guest=guest("R2", "Roe")))
    outcome = hotel.send(GuestChange(source="test", room="101", guest=Guest(reservation="R2", last_name="Ray")))
    assert outcome.operations == ()
    assert hotel.room("101").reservations[1].last_name == "Ray"


def test_guest_change_with_the_same_data_sends_nothing():
    hotel = occupied_hotel(check_in())
    assert hotel.send(GuestChange(source="test", room="101", guest=guest())).operations == ()


def test_guest_change_for_a_vacant_room_keeps_nothing():
    outcome = Hotel().send(GuestChange(source="test", room="101", guest=guest()))
    assert outcome.operations == ()
    assert outcome.states["101"] == RoomState(room="101")
    assert outcome.notes == ("room 101 is vacant: guest change not sent (the PBX updates only checked-in rooms)",)


def test_guest_change_for_an_unknown_reservation_is_ignored_with_a_note():
    hotel = occupied_hotel(check_in())
    outcome = hotel.send(GuestChange(source="test", room="101", guest=guest("R9", "Zed")))
    assert outcome.operations == ()
    assert "R9 is not in the room" in outcome.notes[0]
    assert hotel.room("101").reservations[0].last_name == "Doe"


def test_guest_change_with_departure_and_class_of_service():
    hotel = occupied_hotel(check_in())
    change = Guest(reservation="R1", departure=datetime(2026, 3, 6, 10, 0), cos=1, credit=100)
    outcome = hotel.send(GuestChange(source="test", room="101", guest=change))
    fields = outcome.operations[0].fields
    assert (fields["dateout"], fields["cos"], fields["credit"]) == ("2026-03-06T10:00", 1, 100)
    assert hotel.room("101").cos == 1


# --- moves ------------------------------------------------------------------------------------


def furnished_room() -> Hotel:
    return occupied_hotel(
        check_in(cos=2),
        WakeupSet(source="test", room="101", at=datetime(2026, 3, 2, 7, 0)),
        WakeupSet(source="test", room="101", at=datetime(2026, 3, 1, 6, 0), daily=True),
        DndSet(source="test", room="101", on=True),
        CallForwardSet(source="test", room="101", target="555"),
        MessageWaiting(source="test", room="101", on=True, text="parcel"),
    )


def test_whole_room_move_checks_out_then_checks_in_and_carries_everything():
    hotel = furnished_room()
    outcome = hotel.send(RoomMove(source="test", room="205", from_room="101"))
    assert ops(outcome) == [
        ("checkout", "101"),
        ("checkin", "205"),
        ("wakeup", "205"),
        ("wakeup", "205"),
        ("dnd", "205"),
        ("cfu", "205"),
    ]
    checkin, daily, single, dnd, cfu = outcome.operations[1:]
    assert checkin.fields["lastname"] == "Doe" and checkin.fields["cos"] == 2
    assert daily.fields == {"w_action": 1, "w_mode": 2, "w_date": "20260301", "w_time": "0600"}
    assert single.fields == {"w_action": 1, "w_mode": 1, "w_date": "20260302", "w_time": "0700"}
    assert dnd.fields == {"status": 1}
    assert cfu.fields == {"cfwt": "555"}
    assert hotel.room("101") == RoomState(room="101")
    moved = hotel.room("205")
    assert (moved.cos, moved.dnd, moved.call_forward, moved.message_text) == (2, True, "555", "parcel")
    assert set(outcome.states) == {"101", "205"}


def test_move_naming_the_only_reservation_moves_the_whole_room():
    hotel = furnished_room()
    outcome = hotel.send(RoomMove(source="test", room="205", from_room="101", reservation="R1"))
    assert ops(outcome)[:2] == [("checkout", "101"), ("checkin", "205")]
    assert hotel.room("205").dnd


def test_move_with_guest_data_checks_in_the_changed_guest():
    hotel = occupied_hotel(check_in())
    move = RoomMove(source="test", room="205", from_room="101", guest=Guest(reservation="R1", last_name="Smith"))
    outcome = hotel.send(move)
    assert outcome.operations[1].fields["lastname"] == "Smith"


def test_move_drops_single_wakeups_that_have_passed():
    hotel = furnished_room()
    hotel.now = datetime(2026, 3, 2, 8, 0)
    outcome = hotel.send(RoomMove(source="test", room="205", from_room="101"))
    assert [op.fields["w_mode"] for op in outcome.operations if op.operation == "wakeup"] == [2]
    assert "has passed" in outcome.notes[0]
    assert hotel.room("205").wakeups == (Wakeup(at=datetime(2026, 3, 1, 6, 0), daily=True),)


def test_repeated_move_sends_nothing():
    hotel = furnished_room()
    move = RoomMove(source="test", room="205", from_room="101", reservation="R1", guest=guest())
    hotel.send(move)
    outcome = hotel.send(move)
    assert outcome.operations == ()
    assert "treated as a check-in" in outcome.notes[0]


def test_one_sharer_moves_out_of_a_shared_room():
    hotel = furnished_room()
    hotel.send(check_in(guest=guest("R2", "Roe")))
    outcome = hotel.send(RoomMove(source="test", room="205", from_room="101", reservation="R2"))
    assert ops(outcome) == [("checkin", "205")]
    assert outcome.operations[0].fields["lastname"] == "Roe"
    assert outcome.operations[0].fields["cos"] == 3
    old, new = hotel.room("101"), hotel.room("205")
    assert [g.reservation for g in old.reservations] == ["R1"] and old.dnd and len(old.wakeups) == 2
    assert not new.dnd and new.wakeups == ()


def test_the_displayed_sharer_moving_out_updates_the_old_room():
    hotel = occupied_hotel(check_in(), check_in(guest=guest("R2", "Roe")))
    outcome = hotel.send(RoomMove(source="test", room="205", from_room="101", reservation="R1"))
    assert ops(outcome) == [("update", "101"), ("checkin", "205")]
    assert outcome.operations[0].fields["lastname"] == "Roe"


def test_one_sharer_moves_into_an_occupied_room():
    hotel = occupied_hotel(check_in(), check_in(guest=guest("R2", "Roe", primary=True)),
                           check_in("205", guest=guest("R5", "Poe")), policy=PRIMARY)
    outcome = hotel.send(RoomMove(source="test", room="205", from_room="101", reservation="R2"))
    assert ops(outcome) == [("update", "101"), ("update", "205")]
    assert outcome.operations[0].fields["lastname"] == "Doe"
    assert outcome.operations[1].fields["lastname"] == "Roe"
    assert [g.reservation for g in hotel.room("205").reservations] == ["R5", "R2"]


def test_whole_room_moves_into_an_occupied_room_sharing_it():
    hotel = furnished_room()
    hotel.send(check_in("205", guest=guest("R5", "Poe")))
    hotel.send(WakeupSet(source="test", room="205", at=datetime(2026, 3, 2, 7, 0), daily=True))
    outcome = hotel.send(RoomMove(source="test", room="205", from_room="101"))
    # 205 keeps showing its first guest; only 101's daily 06:00 wake-up is new there.
    assert ops(outcome) == [("checkout", "101"), ("wakeup", "205"), ("dnd", "205")]
    assert outcome.operations[1].fields["w_time"] == "0600"
    room = hotel.room("205")
    assert [g.reservation for g in room.reservations] == ["R5", "R1"]
    assert room.cos == 3 and room.call_forward is None and room.message_text == "parcel"
    assert any("keeps its class of service 3" in note for note in outcome.notes)
    assert any("keeps its call forward" in note for note in outcome.notes)


def test_whole_room_move_into_an_occupied_room_with_a_primary_guest_updates_it():
    hotel = occupied_hotel(check_in(guest=guest("R1", primary=True)), check_in("205", guest=guest("R5", "Poe")),
                           policy=PRIMARY)
    outcome = hotel.send(RoomMove(source="test", room="205", from_room="101"))
    assert ops(outcome) == [("checkout", "101"), ("update", "205")]
    assert outcome.operations[1].fields["account"] == "R1"


def test_move_from_a_vacant_room_with_guest_data_is_a_check_in():
    outcome = Hotel().send(RoomMove(source="test", room="205", from_room="101", guest=guest()))
    assert ops(outcome) == [("checkin", "205")]
    assert outcome.notes == ("room 101 is vacant: move treated as a check-in of room 205",)


def test_move_from_a_vacant_room_without_guest_data_is_ignored():
    outcome = Hotel().send(RoomMove(source="test", room="205", from_room="101"))
    assert outcome.operations == ()
    assert "no guest data" in outcome.notes[0]


def test_move_of_an_unknown_reservation_of_a_shared_room_is_ignored():
    hotel = occupied_hotel(check_in(), check_in(guest=guest("R2", "Roe")))
    outcome = hotel.send(RoomMove(source="test", room="205", from_room="101", reservation="R9"))
    assert outcome.operations == ()
    assert "R9 is not in the room" in outcome.notes[0]


def test_move_into_the_same_room_is_a_guest_change():
    hotel = occupied_hotel(check_in())
    outcome = hotel.send(RoomMove(source="test", room="101", from_room="101", guest=Guest(last_name="Smith")))
    assert ops(outcome) == [("update", "101")]
    outcome = hotel.send(RoomMove(source="test", room="101", from_room="101"))
    assert outcome.operations == ()


def test_move_reservation_id_names_the_guest_the_data_belongs_to():
    hotel = occupied_hotel(check_in(), check_in(guest=guest("R2", "Roe")))
    move = RoomMove(source="test", room="205", from_room="101", reservation="R2", guest=Guest(last_name="Ray"))
    hotel.send(move)
    assert hotel.room("205").reservations[0].last_name == "Ray"


# --- wake-ups ---------------------------------------------------------------------------------


def test_wakeup_set_on_an_occupied_room():
    hotel = occupied_hotel(check_in())
    outcome = hotel.send(WakeupSet(source="test", room="101", at=datetime(2026, 3, 2, 6, 45, 30)))
    assert outcome.operations == (
        PbxOperation(
            operation="wakeup", room="101", fields={"w_action": 1, "w_mode": 1, "w_date": "20260302", "w_time": "0645"}
        ),
    )


def test_wakeup_set_twice_is_one_order():
    hotel = occupied_hotel(check_in(), WakeupSet(source="test", room="101", at=datetime(2026, 3, 2, 7, 0)))
    outcome = hotel.send(WakeupSet(source="test", room="101", at=datetime(2026, 3, 2, 7, 0)))
    assert outcome.operations == ()
    assert "already set" in outcome.notes[0]
    assert len(hotel.room("101").wakeups) == 1


def test_wakeup_turned_daily_is_sent_again_with_the_daily_mode():
    hotel = occupied_hotel(check_in(), WakeupSet(source="test", room="101", at=datetime(2026, 3, 2, 7, 0)))
    outcome = hotel.send(WakeupSet(source="test", room="101", at=datetime(2026, 3, 2, 7, 0), daily=True))
    assert [op.fields["w_mode"] for op in outcome.operations] == [2]
    assert hotel.room("101").wakeups == (Wakeup(at=datetime(2026, 3, 2, 7, 0), daily=True),)


def test_wakeups_are_kept_in_time_order():
    hotel = occupied_hotel(check_in())
    for hour in (9, 6, 7):
        hotel.send(WakeupSet(source="test", room="101", at=datetime(2026, 3, 2, hour, 0)))
    assert [w.at.hour for w in hotel.room("101").wakeups] == [6, 7, 9]


def test_wakeup_clear_cancels_that_wakeup_with_its_mode():
    hotel = occupied_hotel(check_in(), WakeupSet(source="test", room="101", at=datetime(2026, 3, 2, 7, 0), daily=True))
    outcome = hotel.send(WakeupClear(source="test", room="101", at=datetime(2026, 3, 2, 7, 0)))
    assert [op.fields for op in outcome.operations] == [
        {"w_action": 0, "w_mode": 2, "w_date": "20260302", "w_time": "0700"}
    ]
    assert hotel.room("101").wakeups == ()


def test_clearing_a_wakeup_that_is_not_set_is_a_noop():
    hotel = occupied_hotel(check_in(), WakeupSet(source="test", room="101", at=datetime(2026, 3, 2, 7, 0)))
    outcome = hotel.send(WakeupClear(source="test", room="101", at=datetime(2026, 3, 2, 8, 0)))
    assert outcome.operations == ()
    assert "no wake-up is set at 2026-03-02 08:00" in outcome.notes[0]


def test_clear_all_cancels_every_wakeup_set():
    hotel = occupied_hotel(
        check_in(),
        WakeupSet(source="test", room="101", at=datetime(2026, 3, 2, 7, 0)),
        WakeupSet(source="test", room="101", at=datetime(2026, 3, 3, 7, 0)),
    )
    outcome = hotel.send(WakeupClear(source="test", room="101"))
    assert [(op.fields["w_action"], op.fields["w_date"]) for op in outcome.operations] == [
        (0, "20260302"),
        (0, "20260303"),
    ]
    again = hotel.send(WakeupClear(source="test", room="101"))
    assert again.operations == () and "no wake-up is set" in again.notes[0]


def test_wakeup_for_a_vacant_room_is_not_sent_nor_kept():
    outcome = Hotel().send(WakeupSet(source="test", room="101", at=datetime(2026, 3, 2, 7, 0)))
    assert outcome.operations == ()
    assert outcome.notes == ("room 101 is vacant: wake-up not sent",)
    assert outcome.states["101"].wakeups == ()


# --- DND, class of service, call forward, message waiting -------------------------------------


def test_dnd_on_off_and_repeats():
    hotel = occupied_hotel(check_in())
    assert [op.fields for op in hotel.send(DndSet(source="test", room="101", on=True)).operations] == [{"status": 1}]
    repeat = hotel.send(DndSet(source="test", room="101", on=True))
    assert repeat.operations == () and repeat.notes == ("room 101: DND is already on",)
    assert [op.fields for op in hotel.send(DndSet(source="test", room="101", on=False)).operations] == [{"status": 0}]


def test_dnd_for_a_vacant_room_is_a_note():
    outcome = Hotel().send(DndSet(source="test", room="101", on=True))
    assert outcome.operations == ()
    assert outcome.notes == ("room 101 is vacant: DND not sent",)
    assert not outcome.states["101"].dnd


def test_class_of_service_change_is_an_update_with_the_new_class():
    hotel = occupied_hotel(check_in())
    outcome = hotel.send(ClassOfServiceSet(source="test", room="101", cos=1))
    assert ops(outcome) == [("update", "101")]
    assert outcome.operations[0].fields["cos"] == 1 and outcome.operations[0].fields["lastname"] == "Doe"
    assert hotel.send(ClassOfServiceSet(source="test", room="101", cos=1)).operations == ()


def test_class_of_service_for_a_vacant_room_is_a_note():
    outcome = Hotel().send(ClassOfServiceSet(source="test", room="101", cos=1))
    assert outcome.operations == ()
    assert outcome.notes == ("room 101 is vacant: class of service not sent",)
    assert outcome.states["101"].cos is None


def test_shared_check_in_takes_the_rooms_class_unless_it_brings_one():
    hotel = occupied_hotel(check_in(), ClassOfServiceSet(source="test", room="101", cos=1))
    assert hotel.send(check_in(guest=guest("R2", "Roe"))).operations == ()
    assert hotel.room("101").cos == 1
    outcome = hotel.send(check_in(guest=guest("R3", "Poe", cos=4)))
    assert [op.fields["cos"] for op in outcome.operations] == [4]


def test_call_forward_set_change_clear():
    hotel = occupied_hotel(check_in())
    assert [op.fields for op in hotel.send(CallForwardSet(source="test", room="101", target="200")).operations] == [
        {"cfwt": "200"}
    ]
    assert hotel.send(CallForwardSet(source="test", room="101", target="200")).operations == ()
    assert [op.fields for op in hotel.send(CallForwardSet(source="test", room="101", target="300")).operations] == [
        {"cfwt": "300"}
    ]
    assert [op.fields for op in hotel.send(CallForwardClear(source="test", room="101")).operations] == [{"cfwt": ""}]
    repeat = hotel.send(CallForwardClear(source="test", room="101"))
    assert repeat.operations == () and repeat.notes == ("room 101: call forward is already off",)


def test_call_forward_for_a_vacant_room_is_a_note():
    outcome = Hotel().send(CallForwardSet(source="test", room="101", target="200"))
    assert outcome.operations == ()
    assert outcome.notes == ("room 101 is vacant: call forward not sent",)


def test_message_waiting_is_state_only():
    hotel = occupied_hotel(check_in())
    outcome = hotel.send(MessageWaiting(source="test", room="101", on=True, text="call reception"))
    assert outcome.operations == ()
    assert (hotel.room("101").message_waiting, hotel.room("101").message_text) == (True, "call reception")
    hotel.send(MessageWaiting(source="test", room="101", on=False, text="ignored"))
    assert (hotel.room("101").message_waiting, hotel.room("101").message_text) == (False, None)


def test_message_waiting_for_a_vacant_room_is_a_note():
    outcome = Hotel().send(MessageWaiting(source="test", room="101", on=True))
    assert outcome.notes == ("room 101 is vacant: message waiting not kept",)
    assert not outcome.states["101"].message_waiting


# --- resync events, rooms_touched, contract checks --------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        ResyncStart(source="test"),
        ResyncRecord(source="test", room="101", guest=guest()),
        ResyncEnd(source="test"),
    ],
)
def test_resync_events_are_noops_with_a_note(event):
    outcome = apply({}, event, FIRST, NOW)
    assert outcome.states == {} and outcome.operations == ()
    assert "reconcile_in_house" in outcome.notes[0]


def test_rooms_touched():
    assert rooms_touched(check_in("102")) == ("102",)
    assert rooms_touched(RoomMove(source="test", room="205", from_room="101")) == ("101", "205")
    assert rooms_touched(RoomMove(source="test", room="205", from_room="205")) == ("205",)
    assert rooms_touched(ResyncStart(source="test")) == ()


def test_now_must_be_naive_local_time():
    with pytest.raises(ValueError, match="naive"):
        apply({}, check_in(), FIRST, datetime(2026, 3, 1, 15, 30, tzinfo=UTC))


def test_state_given_for_another_room_is_refused():
    with pytest.raises(ValueError, match="room 102"):
        apply({"101": RoomState(room="102")}, check_in(), FIRST, NOW)


def test_only_touched_rooms_are_read_and_returned():
    states = {"999": RoomState(room="999")}
    outcome = apply(states, check_in(), FIRST, NOW)
    assert set(outcome.states) == {"101"}


def test_a_changed_naming_policy_updates_the_pbx_at_the_next_event():
    hotel = occupied_hotel(check_in(), check_in(guest=guest("R2", "Roe", primary=True)))
    assert hotel.room("101").displayed_guest.reservation == "R1"
    hotel.policy = PRIMARY
    outcome = hotel.send(DndSet(source="test", room="101", on=True))
    assert ops(outcome) == [("update", "101"), ("dnd", "101")]
    assert outcome.operations[0].fields["account"] == "R2"
    assert hotel.room("101").shared_room_name == "primary"


def test_policy_from_settings():
    settings = RoomsSettings(shared_room_name="primary", default_stay_nights=2, default_departure_time="10:15",
                             default_cos=1)
    assert RoomPolicy.from_settings(settings) == RoomPolicy("primary", 2, time(10, 15), 1)


@pytest.mark.parametrize(
    "kwargs", [{"shared_room_name": "last"}, {"default_stay_nights": 0}, {"default_cos": 5}]
)
def test_policy_refuses_impossible_values(kwargs):
    with pytest.raises(ValueError):
        RoomPolicy(**kwargs)


def test_room_state_invariants():
    with pytest.raises(ValidationError, match="vacant"):
        RoomState(room="101", dnd=True)
    with pytest.raises(ValidationError, match="R1 appears twice"):
        RoomState(room="101", reservations=(guest(), guest()))
    with pytest.raises(ValidationError, match="two wake-ups"):
        RoomState(
            room="101",
            reservations=(guest(),),
            wakeups=(Wakeup(at=datetime(2026, 3, 2, 7, 0)), Wakeup(at=datetime(2026, 3, 2, 7, 0, 30), daily=True)),
        )
    with pytest.raises(ValidationError, match="naive"):
        Wakeup(at=datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    state = RoomState(
        room="101",
        reservations=(guest(),),
        wakeups=(Wakeup(at=datetime(2026, 3, 3, 7, 0)), Wakeup(at=datetime(2026, 3, 2, 7, 0))),
    )
    assert [w.at.day for w in state.wakeups] == [2, 3]
    assert RoomState(room="101").displayed_guest is None and not RoomState(room="101").occupied


def test_transition_operations_rebuild_a_room_from_nothing():
    hotel = furnished_room()
    operations = transition_operations(RoomState(room="101"), hotel.room("101"))
    assert [op.operation for op in operations] == ["checkin", "wakeup", "wakeup", "dnd", "cfu"]
    with pytest.raises(ValueError):
        transition_operations(RoomState(room="101"), RoomState(room="102"))


def test_apply_does_not_mutate_its_inputs():
    hotel = furnished_room()
    before = {room: state.model_dump() for room, state in hotel.states.items()}
    snapshot = dict(hotel.states)
    first = apply(hotel.states, RoomMove(source="test", room="205", from_room="101"), FIRST, NOW)
    second = apply(hotel.states, RoomMove(source="test", room="205", from_room="101"), FIRST, NOW)
    assert first == second
    assert hotel.states == snapshot
    assert {room: state.model_dump() for room, state in hotel.states.items()} == before


# --- reconcile_in_house -----------------------------------------------------------------------

STAMP = datetime(2026, 3, 1, 14, 30, tzinfo=UTC)


def reconcile(hotel: Hotel, in_house: dict[str, list[Guest]]) -> list:
    return reconcile_in_house(hotel.states, in_house, "fias", STAMP)


def kinds(events) -> list[tuple]:
    return [(e.kind, e.room, getattr(e, "reservation", None) or getattr(getattr(e, "guest", None), "reservation", None))
            for e in events]


def test_reconcile_matching_lists_yields_nothing():
    hotel = occupied_hotel(check_in(), check_in(guest=guest("R2", "Roe")), check_in("205", guest=guest("R5")))
    assert reconcile(hotel, {"101": [guest("R2", "Roe"), guest()], "205": [guest("R5")]}) == []


def test_reconcile_counts_fields_a_record_leaves_out_as_unchanged():
    hotel = occupied_hotel(check_in(language="EA"))
    assert reconcile(hotel, {"101": [Guest(reservation="R1")]}) == []


def test_reconcile_checks_in_vacant_rooms_and_marks_sharers():
    events = reconcile(Hotel(), {"101": [guest(), guest("R2", "Roe")]})
    assert kinds(events) == [("check_in", "101", "R1"), ("check_in", "101", "R2")]
    assert [e.shared for e in events] == [False, True]
    assert all(e.source == "fias" and e.occurred_at == STAMP for e in events)


def test_reconcile_checks_out_rooms_no_longer_in_house():
    hotel = occupied_hotel(check_in(), check_in("205", guest=guest("R5")))
    events = reconcile(hotel, {"205": [guest("R5")], "300": []})
    assert kinds(events) == [("check_out", "101", None)]


def test_reconcile_removes_a_departed_sharer_updates_and_adds():
    hotel = occupied_hotel(check_in(), check_in(guest=guest("R2", "Roe")))
    events = reconcile(hotel, {"101": [guest(last="Smith"), guest("R3", "Poe")]})
    assert kinds(events) == [("check_out", "101", "R2"), ("guest_change", "101", "R1"), ("check_in", "101", "R3")]
    assert events[2].shared


def test_reconcile_starts_a_room_over_when_every_guest_changed():
    hotel = occupied_hotel(check_in())
    events = reconcile(hotel, {"101": [guest("R7", "New")]})
    assert kinds(events) == [("check_out", "101", None), ("check_in", "101", "R7")]


def test_reconcile_starts_a_room_over_when_a_guest_without_id_left():
    hotel = occupied_hotel(check_in(reservation=None), check_in(guest=guest("R2", "Roe")))
    events = reconcile(hotel, {"101": [guest("R2", "Roe")]})
    assert kinds(events) == [("check_out", "101", None), ("check_in", "101", "R2")]


def test_reconcile_changes_a_guest_without_id_by_check_in():
    hotel = occupied_hotel(check_in(), check_in(reservation=None, last="Roe"))
    events = reconcile(hotel, {"101": [guest(), guest(None, "Ray")]})
    assert kinds(events) == [("check_in", "101", None)]
    hotel.send(events[0])
    assert [g.last_name for g in hotel.room("101").reservations] == ["Doe", "Ray"]


def test_reconcile_last_record_for_a_reservation_wins():
    hotel = occupied_hotel(check_in())
    events = reconcile(hotel, {"101": [guest(last="Old"), guest()]})
    assert events == []


def test_reconcile_ignores_a_departure_apply_would_replace():
    hotel = occupied_hotel(check_in())
    assert reconcile(hotel, {"101": [Guest(reservation="R1", departure=datetime(2026, 2, 1, 12, 0))]}) == []


def test_reconcile_events_bring_the_rooms_to_the_in_house_list():
    hotel = occupied_hotel(check_in(), check_in(guest=guest("R2", "Roe")), check_in("205", guest=guest("R5")),
                           check_in("300", reservation=None))
    in_house = {"101": [guest("R2", "Ray")], "205": [guest("R6", "Six"), guest("R5")], "400": [guest("R9")]}
    for event in reconcile(hotel, in_house):
        hotel.send(event)
    occupants = {room: [(g.reservation, g.last_name) for g in state.reservations]
                 for room, state in hotel.states.items() if state.occupied}
    assert occupants == {"101": [("R2", "Ray")], "205": [("R5", "Doe"), ("R6", "Six")], "400": [("R9", "Doe")]}
    assert reconcile(hotel, in_house) == []


# --- plan: operations from what the PBX is expected to hold -----------------------------------


def test_plan_sends_a_whole_check_in_to_a_room_the_pbx_holds_vacant():
    wanted = apply({}, CheckIn(source="pms", room="101", guest=Guest(reservation="A", last_name="Doe")),
                   FIRST, NOW).states["101"]
    # The check-in died: the PBX holds the room vacant. A DND for it now sends the room whole.
    outcome = plan({"101": wanted}, {"101": PbxRoom(room="101")}, DndSet(source="pms", room="101", on=True),
                   FIRST, NOW)
    assert [op.operation for op in outcome.operations] == ["checkin", "dnd"]
    assert outcome.expected["101"] == pbx_target(outcome.states["101"])
    assert outcome.notes == ("room 101: the PBX does not hold the desired state: sending what it lacks",)


def test_plan_leaves_out_a_refused_field_while_its_value_is_the_refused_one():
    guest = Guest(reservation="A", last_name="Doe", vip="V1")
    outcome = plan({}, {}, CheckIn(source="pms", room="101", guest=guest), FIRST, NOW, {"101": {"vipcode": "V1"}})
    assert "vipcode" not in outcome.operations[0].fields
    changed = plan(outcome.states, outcome.expected, GuestChange(source="pms", room="101", guest=Guest(vip="2")),
                   FIRST, NOW, {"101": {"vipcode": "V1"}})
    assert [(op.operation, op.fields["vipcode"]) for op in changed.operations] == [("update", "2")]
