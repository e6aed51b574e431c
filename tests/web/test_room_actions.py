"""Room actions: each goes through the ledger as a front-desk event and reaches the PBX emulator."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from pmsbridge.events import CheckIn, Guest
from pmsbridge.ledger.models import DeliveryState
from pmsbridge.web.actions import FormError, build_event
from pmsbridge.web.ledger_pages import audit_entries
from tests.helpers import wait_for
from tests.web.conftest import FRONTDESK, flashes, follow, post


def settled(service) -> bool:
    return service.ledger.stats().depth == 0


def pbx_room(emulator, room: str) -> dict:
    return emulator.state.room_summary(room)


def act(client, room: str, action: str, key: str, **form):
    """Send a room form; returns the page it leads to."""
    return follow(client, post(client, f"/rooms/{room}/actions/{action}", {"action_key": key, **form}))


def local_now(service) -> datetime:
    return service.ledger.clock().astimezone(service.settings.bridge.zone).replace(tzinfo=None)


def test_check_in_reaches_the_pbx_and_is_recorded_as_the_front_desk(frontdesk, service, emulator):
    page = act(frontdesk, "101", "checkin", "k1", first_name="Jane", last_name="Doe", language="EN", vip="1",
               cos="2", reservation="R-77")
    assert flashes(page) == ["Check-in recorded (event 1); 1 PBX operation queued."]
    wait_for(lambda: settled(service))
    guest = pbx_room(emulator, "101")["guest"]
    assert (guest["firstname"], guest["lastname"], guest["language"], guest["cos"], guest["account"]) == (
        "Jane", "Doe", "en", "2", "R-77")
    event = service.ledger.event(1)
    assert (event.source, event.actor, event.kind) == ("frontdesk", FRONTDESK, "check_in")
    assert '"last_name": "Doe"' in event.raw and "csrf" not in event.raw
    audit = audit_entries(service.ledger, room="101")[0]
    assert (audit.actor, audit.action) == (FRONTDESK, "frontdesk check-in")
    assert "Jane Doe" in frontdesk.get("/rooms/101").get_data(as_text=True)


def test_a_form_sent_twice_is_recorded_once(frontdesk, service):
    act(frontdesk, "101", "checkin", "same-key", last_name="Doe")
    page = act(frontdesk, "101", "checkin", "same-key", last_name="Doe")
    assert flashes(page) == ["Check-in was already recorded (event 1); it was not repeated."]
    assert len(service.ledger.events(room="101")) == 1


def test_wake_up_set_and_cancel(frontdesk, service, emulator):
    act(frontdesk, "102", "checkin", "k1", last_name="Roe")
    tomorrow = (local_now(service) + timedelta(days=1)).date().isoformat()
    page = act(frontdesk, "102", "wakeup", "k2", date=tomorrow, time="06:45")
    assert "Wake-up recorded" in flashes(page)[0]
    wait_for(lambda: settled(service))
    assert pbx_room(emulator, "102")["wakeups"] == [{"time": "0645", "mode": 1, "date": tomorrow.replace("-", "")}]
    act(frontdesk, "102", "wakeup", "k3", date=tomorrow, time="07:30", daily="1")
    page = act(frontdesk, "102", "wakeup-cancel", "k4", at=f"{tomorrow}T06:45:00")
    assert "Wake-up cancel recorded" in flashes(page)[0]
    wait_for(lambda: settled(service))
    assert pbx_room(emulator, "102")["wakeups"] == [{"time": "0730", "mode": 2, "date": None}]
    assert "every day at 07:30" in page.get_data(as_text=True)


def test_a_wake_up_in_the_past_is_refused(frontdesk, service):
    act(frontdesk, "102", "checkin", "k1", last_name="Roe")
    yesterday = (local_now(service) - timedelta(days=1)).date().isoformat()
    page = act(frontdesk, "102", "wakeup", "k2", date=yesterday, time="07:00")
    assert flashes(page)[0].startswith("Wake-up not recorded: wake-up:")
    assert "has passed" in flashes(page)[0]
    assert len(service.ledger.events(room="102")) == 1


def test_do_not_disturb_and_call_forward(frontdesk, service, emulator):
    act(frontdesk, "103", "checkin", "k1", last_name="Poe")
    act(frontdesk, "103", "dnd", "k2", on="1")
    act(frontdesk, "103", "forward", "k3", target="0049 301234")
    wait_for(lambda: settled(service))
    assert pbx_room(emulator, "103")["dnd"] is True
    assert pbx_room(emulator, "103")["cfu"] == "0049301234"
    act(frontdesk, "103", "dnd", "k4", on="0")
    page = act(frontdesk, "103", "forward-clear", "k5")
    assert "Call forward cancel recorded" in flashes(page)[0]
    wait_for(lambda: settled(service))
    assert pbx_room(emulator, "103")["dnd"] is False and pbx_room(emulator, "103")["cfu"] is None


def test_a_bad_forward_target_is_explained(frontdesk, service):
    act(frontdesk, "103", "checkin", "k1", last_name="Poe")
    page = act(frontdesk, "103", "forward", "k2", target="call me")
    assert flashes(page) == ["Call forward not recorded: target: contains characters that are not allowed"]


def test_move_takes_the_guest_and_the_page_follows(frontdesk, service, emulator):
    act(frontdesk, "104", "checkin", "k1", last_name="Moe")
    response = post(frontdesk, "/rooms/104/actions/move", {"action_key": "k2", "to_room": "106"})
    assert response.headers["Location"] == "/rooms/106"
    wait_for(lambda: settled(service))
    assert not pbx_room(emulator, "104")["occupied"]
    assert pbx_room(emulator, "106")["guest"]["lastname"] == "Moe"


def test_guest_details_are_corrected_through_the_ledger(frontdesk, service, emulator):
    act(frontdesk, "106", "checkin", "k1", first_name="Jon", last_name="Smyth", language="EN", reservation="R6")
    wait_for(lambda: settled(service))
    page = frontdesk.get("/rooms/106").get_data(as_text=True)
    form = page[page.index('id="guest-edit"'):]
    form = form[:form.index("</form>")]
    for prefilled in ('name="first_name" value="Jon"', 'name="last_name" value="Smyth"',
                      'name="language" value="en"', 'name="reservation" value="R6"'):
        assert prefilled in form, prefilled
    page = act(frontdesk, "106", "guest", "k2", reservation="R6", first_name="John", last_name="Smith",
               language="GE", vip="2")
    assert flashes(page) == ["Guest details recorded (event 2); 1 PBX operation queued."]
    wait_for(lambda: settled(service))
    guest = pbx_room(emulator, "106")["guest"]
    assert (guest["firstname"], guest["lastname"], guest["language"], guest["vipcode"]) == (
        "John", "Smith", "de", "2")
    event = service.ledger.event(2)
    assert (event.source, event.actor, event.kind) == ("frontdesk", FRONTDESK, "guest_change")
    audit = audit_entries(service.ledger, room="106")[0]
    assert (audit.actor, audit.action) == (FRONTDESK, "frontdesk guest details")


def test_guest_details_the_pbx_cannot_take_are_refused_with_a_sentence(frontdesk, service, emulator):
    act(frontdesk, "106", "checkin", "k1", last_name="Smyth")
    page = act(frontdesk, "106", "guest", "k2", vip="GOLD")
    [message] = flashes(page)
    assert message.startswith("Guest details refused: room 106: VIP code 'GOLD' is not one the PBX takes")
    assert service.ledger.room_states(["106"])["106"].displayed_guest.vip is None
    page = act(frontdesk, "106", "guest", "k3", first_name=" ")
    assert flashes(page) == ["Guest details not recorded: give a name, a language or a VIP code to change"]


def test_a_move_to_a_room_the_hotel_does_not_have_is_refused(frontdesk, service, emulator):
    act(frontdesk, "104", "checkin", "k1", last_name="Moe")
    wait_for(lambda: settled(service))
    for destination in ("999", "abc"):
        response = post(frontdesk, "/rooms/104/actions/move", {"action_key": f"to-{destination}",
                                                               "to_room": destination})
        assert response.headers["Location"] == "/rooms/104"  # the guest stays: so does the page
        [message] = flashes(follow(frontdesk, response))
        assert message.startswith(f"Room move refused: room {destination} is not one of the hotel's rooms")
    wait_for(lambda: settled(service))
    assert pbx_room(emulator, "104")["guest"]["lastname"] == "Moe"
    assert service.ledger.room_states(["104"])["104"].occupied
    assert "999" not in service.ledger.room_states() and "abc" not in service.ledger.room_states()
    refused = [event for event in service.ledger.events() if event.status == "rejected"]
    assert [(event.kind, event.actor) for event in refused] == [("room_move", FRONTDESK)] * 2
    assert "Room move refused" in audit_entries(service.ledger, room="104")[0].detail


def test_a_vip_code_the_pbx_does_not_take_is_refused_at_the_front_desk(frontdesk, service, emulator):
    page = act(frontdesk, "103", "checkin", "k1", last_name="Gold", vip="V1")
    [message] = flashes(page)
    assert message.startswith("Check-in refused: room 103: VIP code 'V1' is not one the PBX takes")
    assert "103" not in service.ledger.room_states()
    assert service.ledger.deliveries(room="103") == []


def test_checkout_of_one_guest_of_a_shared_room_then_of_the_room(frontdesk, service, emulator):
    act(frontdesk, "105", "checkin", "k1", last_name="First", reservation="A")
    act(frontdesk, "105", "checkin", "k2", last_name="Second", reservation="B", shared="1")
    assert len(service.ledger.room_states(["105"])["105"].reservations) == 2
    page = act(frontdesk, "105", "checkout", "k3", reservation="A")
    assert "Checkout recorded" in flashes(page)[0]
    wait_for(lambda: settled(service))
    assert pbx_room(emulator, "105")["guest"]["lastname"] == "Second"
    act(frontdesk, "105", "checkout", "k4")
    wait_for(lambda: settled(service))
    assert not pbx_room(emulator, "105")["occupied"]


def test_an_action_on_a_vacant_room_says_nothing_was_sent(frontdesk, service):
    page = act(frontdesk, "107", "dnd", "k1", on="1")
    assert flashes(page) == ["Do-not-disturb recorded (event 1); nothing to send: room 107 is vacant: DND not sent."]
    assert service.ledger.deliveries(room="107") == []


def test_a_room_without_extension_needs_attention(frontdesk, service):
    page = act(frontdesk, "120", "checkin", "k1", last_name="Nophone")
    assert flashes(page) == ["Check-in recorded (event 1) but needs attention: room 120 has no extension "
                             "(rooms.extension_template or rooms.map)"]
    assert "room 120 has no extension" in page.get_data(as_text=True)


def test_missing_fields_and_unknown_actions(frontdesk, service):
    page = act(frontdesk, "101", "checkin", "k1", first_name="Only")
    assert flashes(page) == ["Check-in not recorded: last name is missing"]
    page = act(frontdesk, "101", "teleport", "k2")
    assert flashes(page) == ["Teleport not recorded: unknown action 'teleport'"]
    assert service.ledger.events() == []


def test_name_on_the_phone_is_changed_with_update_user(frontdesk, service, emulator):
    act(frontdesk, "108", "checkin", "k1", last_name="Smith", first_name="Ann")
    wait_for(lambda: settled(service))
    page = follow(frontdesk, post(frontdesk, "/rooms/108/pbx-user", {"first_name": "Anna", "last_name": "Smith-Jones",
                                                                     "language": "de"}))
    assert flashes(page) == ["The PBX answered updateUser 1108 (first name 'Anna', last name 'Smith-Jones', "
                             "language 'de'): accepted and applied (applyChanges)."]
    user = emulator.state.snapshot()["extensions"]["1108"]["user"]
    assert (user["first_name"], user["last_name"], user["language"]) == ("Anna", "Smith-Jones", "de")
    audit = audit_entries(service.ledger, room="108")[0]
    assert (audit.actor, audit.action) == (FRONTDESK, "pbx updateUser")
    assert "accepted and applied" in audit.detail


def test_update_user_that_cannot_be_applied_yet(frontdesk, service, emulator):
    emulator.set_faults(apply_blocked=True)
    page = follow(frontdesk, post(frontdesk, "/rooms/108/pbx-user", {"last_name": "Later"}))
    message = flashes(page)[0]
    assert "stored but not applied yet" in message and "next applyChanges" in message
    assert emulator.state.snapshot()["pending_changes"]["users"] == {"1108": {"last_name": "Later"}}


def test_update_user_the_pbx_cannot_be_reached_for(frontdesk, service, emulator):
    emulator.set_faults(down=True)
    page = follow(frontdesk, post(frontdesk, "/rooms/108/pbx-user", {"last_name": "Nobody"}))
    assert "refused: " in flashes(page)[0]
    assert "pbx updateUser" in [row.action for row in audit_entries(service.ledger)]


def test_update_user_needs_a_field_and_an_extension(frontdesk, emulator):
    page = follow(frontdesk, post(frontdesk, "/rooms/108/pbx-user", {"first_name": " "}))
    assert flashes(page) == ["Give a first name, a last name or a language to change."]
    page = follow(frontdesk, post(frontdesk, "/rooms/120/pbx-user", {"first_name": "X"}))
    assert flashes(page) == ["Room 120 has no extension: nothing to change on the PBX."]
    assert emulator.counters().get("updateUser", 0) == 0


def test_the_room_page_shows_guests_settings_and_history(frontdesk, service):
    departure = (local_now(service) + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
    service.ledger.record(CheckIn(source="fias", room="109", guest=Guest(
        reservation="G9", first_name="Zoë", last_name="Ålund", language="SE", departure=departure)), raw="GI|RN109|")
    act(frontdesk, "109", "dnd", "k1", on="1")
    wait_for(lambda: settled(service))
    page = frontdesk.get("/rooms/109").get_data(as_text=True)
    assert "Zoë Ålund" in page and "G9" in page and departure.strftime("%d/%m/%Y, %H:%M") in page
    assert "Turn do-not-disturb off" in page
    history = frontdesk.get("/rooms/109/history").get_data(as_text=True)
    assert "frontdesk (fred)" in history and "fias" in history
    assert history.count(DeliveryState.DELIVERED.value) >= 2


@pytest.mark.parametrize("action, form, message", [
    ("checkin", {"last_name": "Doe", "departure": "yesterday"}, "departure: 'yesterday' is not a date and time"),
    ("checkin", {"last_name": "Doe", "departure": "2001-01-01T10:00"}, "departure: choose a time after now"),
    ("checkin", {"last_name": "Doe", "cos": "9"}, "class of service: choose 1, 2, 3 or 4"),
    ("move", {"to_room": "101"}, "the destination is this room"),
    ("move", {"to_room": "no such room!"}, "room: contains characters that are not allowed"),
    ("wakeup", {"date": "2030-02-30", "time": "07:00"}, "wake-up: 2030-02-30 07:00 is not a date and time"),
    ("forward", {}, "forward target is missing"),
])
def test_build_event_explains_bad_forms(action, form, message):
    with pytest.raises(FormError) as caught:
        build_event(action, "101", form, user=FRONTDESK, now=datetime(2026, 11, 27, 10, 0))
    assert str(caught.value) == message


def test_build_event_keys_repeats_by_user_and_form():
    event = build_event("dnd", "101", {"on": "1", "action_key": "abc"}, user=FRONTDESK,
                        now=datetime(2026, 11, 27, 10, 0))
    assert (event.source, event.source_key, event.on) == ("frontdesk", "fred:abc", True)
    assert build_event("dnd", "101", {"on": "0"}, user=FRONTDESK, now=datetime(2026, 11, 27)).source_key is None
