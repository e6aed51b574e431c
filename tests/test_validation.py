"""The door: one set of rules for every source (pmsbridge.validation)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from pmsbridge.config import ValidationSettings
from pmsbridge.events import CallForwardSet, CheckIn, Guest, GuestChange, ResyncStart, RoomMove, WakeupSet
from pmsbridge.mapping import RoomMapping
from pmsbridge.validation import EventValidator, InputRefused

NOW = datetime(2026, 12, 3, 9, 30)


def validator(rooms=("101", "102", "103"), **settings) -> EventValidator:
    return EventValidator(RoomMapping("1{room}", {"120": "2120", "199": ""}), ValidationSettings(**settings), rooms)


def check_in(room: str = "101", **guest) -> CheckIn:
    return CheckIn(source="pms", room=room, guest=Guest(last_name="Doe", **guest))


@pytest.mark.parametrize("event", [
    RoomMove(source="pms", room="999", from_room="101"),
    RoomMove(source="pms", room="101", from_room="abc"),
    check_in("104"),
])
def test_rooms_the_hotel_does_not_have_are_refused_with_a_sentence(event):
    with pytest.raises(InputRefused, match=r"is not one of the hotel's rooms .*add the room"):
        validator().check(event, NOW)


def test_listed_rooms_mapped_rooms_and_rooms_without_a_phone_pass():
    checker = validator()
    for room in ("101", "120", "199"):
        assert checker.check(check_in(room), NOW).event.room == room
    assert checker.check(ResyncStart(source="pms"), NOW).notes == ()


def test_without_a_room_list_the_template_decides():
    checker = EventValidator(RoomMapping("1{room}"))
    assert checker.is_hotel_room("999")
    with pytest.raises(InputRefused, match="room abc has no phone extension"):
        checker.check(check_in("abc"), NOW)


def test_a_forward_to_the_rooms_own_extension_is_refused():
    with pytest.raises(InputRefused, match="own extension 1101 would loop"):
        validator().check(CallForwardSet(source="pms", room="101", target="1101"), NOW)
    validator().check(CallForwardSet(source="pms", room="101", target="1102"), NOW)


@pytest.mark.parametrize(("at", "problem"), [
    (datetime(1, 1, 1, 7, 0), "is in the past"),
    (NOW - timedelta(minutes=5), "is in the past"),
    (NOW + timedelta(days=366), "more than 365 days ahead"),
])
def test_wakeups_must_lie_ahead_within_the_horizon(at, problem):
    with pytest.raises(InputRefused, match=problem):
        validator().check(WakeupSet(source="pms", room="101", at=at), NOW)


def test_a_wakeup_for_this_minute_and_within_a_configured_horizon_pass():
    checker = validator(wakeup_horizon_days=30)
    checker.check(WakeupSet(source="pms", room="101", at=NOW), NOW)
    checker.check(WakeupSet(source="pms", room="101", at=NOW + timedelta(days=29)), NOW)
    with pytest.raises(InputRefused, match="more than 30 days ahead"):
        checker.check(WakeupSet(source="pms", room="101", at=NOW + timedelta(days=31)), NOW)


def test_vip_codes_map_to_digits_or_are_left_out_with_a_note():
    checker = validator(vip_map={"V1": "1", "GOLD": "2"})
    assert checker.check(check_in(vip="V1"), NOW).event.guest.vip == "1"
    assert checker.check(check_in(vip="gold"), NOW).event.guest.vip == "2"
    assert checker.check(check_in(vip="7"), NOW).event.guest.vip == "7"
    checked = checker.check(check_in(vip="VIP"), NOW)
    assert checked.event.guest.vip is None
    assert checked.notes == ("room 101: VIP code 'VIP' is not one the PBX takes (digits) and not in "
                             "validation.vip_map: left out",)


def test_languages_map_onto_the_pbxs_prompt_languages():
    checker = validator(language_map={"X1": "de"}, prompt_languages=["en", "de", "fr"])
    assert [checker.check(check_in(language=code), NOW).event.guest.language
            for code in ("EA", "GE", "fr", "x1", "en-GB")] == ["en", "de", "fr", "de", "en"]
    checked = checker.check(check_in(language="SP"), NOW)  # Spanish: no prompts on this PBX
    assert checked.event.guest.language is None and "language 'SP'" in checked.notes[0]


def test_the_front_desk_is_refused_what_a_pms_would_have_left_out():
    with pytest.raises(InputRefused, match="VIP code 'GOLD'"):
        validator().check(GuestChange(source="frontdesk", room="101", guest=Guest(vip="GOLD")), NOW, strict=True)


def test_names_are_cleaned():
    checked = validator().check(check_in(first_name="  Anna\u200b \tMaria\x07 "), NOW)
    assert checked.event.guest.first_name == "Anna Maria" and checked.notes == ()


def test_a_mapping_onto_a_language_without_prompts_is_a_configuration_error():
    with pytest.raises(ValueError, match="maps onto xx, which is not in prompt_languages"):
        ValidationSettings(language_map={"EA": "xx"})
    with pytest.raises(ValueError, match="maps to 'V'"):
        ValidationSettings(vip_map={"V1": "V"})


def test_which_rooms_are_the_hotels_follows_the_configuration(tmp_path):
    from pmsbridge.config import RoomsSettings, Settings

    def hotel(**rooms) -> EventValidator:
        settings = Settings.model_validate({"pbx": {"url": "https://127.0.0.1:8089", "username": "u", "password": "p1",
                                                    "pms_username": "m", "pms_password": "p2"},
                                            "rooms": RoomsSettings(**rooms).model_dump(exclude_unset=True)})
        return EventValidator.from_settings(settings, RoomMapping.from_settings(settings.rooms))

    # overrides alone correct the template; they do not list the hotel's rooms
    assert hotel(map={"120": "2120"}).is_hotel_room("999")
    assert not hotel(rooms=["101-110"], map={"120": "2120"}).is_hotel_room("999")
    assert hotel(rooms=["101-110"], map={"120": "2120"}).is_hotel_room("120")
    map_file = tmp_path / "rooms.csv"
    map_file.write_text("room,extension\n101,1101\n102,1102\n")
    assert [hotel(map_file=map_file).is_hotel_room(room) for room in ("102", "103")] == [True, False]
