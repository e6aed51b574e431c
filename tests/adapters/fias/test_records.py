"""FIAS records -> canonical events (records.py), record type by record type."""

from __future__ import annotations

import datetime as dt

import pytest

from pmsbridge.adapters.fias.protocol import parse_record
from pmsbridge.adapters.fias.records import (
    EVENT_RECORDS,
    RecordRejected,
    TranslationContext,
    translate,
)
from pmsbridge.events import (
    CheckIn,
    CheckOut,
    ClassOfServiceSet,
    DndSet,
    Guest,
    GuestChange,
    MessageWaiting,
    ResyncEnd,
    ResyncStart,
    RoomMove,
    WakeupClear,
    WakeupSet,
)
from tests.adapters.fias.conftest import bridge_settings, fias_settings

NOW = dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC)
CONTEXT = TranslationContext(language_map={"GE": "DE"}, departure_time=dt.time(11, 0))


def events(text: str, context: TranslationContext = CONTEXT):
    return translate(parse_record(text.encode("cp1252"), "cp1252"), context, NOW)


def rejected(text: str) -> RecordRejected:
    with pytest.raises(RecordRejected) as caught:
        events(text)
    return caught.value


def test_check_in_carries_every_guest_field():
    [event] = events("GI|RN0101|G#12345|GNMüller|GFAnna|GTDr.|GLGE|GV3|GGA123|GA261127|GD261130|CS2|GSN|"
                     "DA261127|TI094123|")
    assert event == CheckIn(
        source="fias", room="0101", occurred_at=NOW, shared=False,
        guest=Guest(reservation="12345", last_name="Müller", first_name="Anna", title="Dr.", language="DE",
                    vip="3", group="A123", arrival=dt.datetime(2026, 11, 27, 0, 0),
                    departure=dt.datetime(2026, 11, 30, 11, 0), cos=3),
    )


def test_check_in_with_only_a_room_and_a_name():
    [event] = events("GI|RN101|GNDoe|")
    assert event.guest == Guest(last_name="Doe")
    assert not event.shared


def test_shared_check_in_and_unmapped_language_passes_unchanged():
    [event] = events("GI|RN101|G#2|GNRoe|GLFR|GSY|")
    assert event.shared and event.guest.language == "FR"


def test_empty_fields_count_as_not_sent():
    [event] = events("GI|RN101|G#|GN|GFAnn|GA|")
    assert event.guest == Guest(first_name="Ann")


def test_a_swap_record_is_a_check_in():
    assert events("GI|RN101|G#1|GNDoe|SF|") == events("GI|RN101|G#1|GNDoe|")


def test_check_out_of_one_reservation_or_the_room():
    assert events("GO|RN101|G#7|GSN|") == [CheckOut(source="fias", room="101", reservation="7", occurred_at=NOW)]
    assert events("GO|RN101|") == [CheckOut(source="fias", room="101", occurred_at=NOW)]


def test_guest_change_without_old_room():
    [event] = events("GC|RN101|G#7|GNNew|GD261201|")
    assert event == GuestChange(source="fias", room="101", occurred_at=NOW,
                                guest=Guest(reservation="7", last_name="New",
                                            departure=dt.datetime(2026, 12, 1, 11, 0)))


def test_guest_change_with_old_room_is_a_move_carrying_the_guest():
    [event] = events("GC|RN9327|GSN|G#12345|GNGuest, Mr.|GLEA|GV3|GGA123|RO2781|GSY|")
    assert isinstance(event, RoomMove)
    assert (event.from_room, event.room, event.reservation) == ("2781", "9327", "12345")
    assert event.guest == Guest(reservation="12345", last_name="Guest, Mr.", language="EA", vip="3", group="A123")


def test_move_without_guest_data_carries_none():
    [event] = events("GC|RN102|G#7|RO101|")
    assert isinstance(event, RoomMove) and event.guest is None and event.reservation == "7"


def test_guest_change_naming_its_own_room_as_old_room_is_a_change():
    [event] = events("GC|RN101|G#7|GNX|RO101|")
    assert isinstance(event, GuestChange)


@pytest.mark.parametrize("text, expected", [
    ("RE|RN101|DNY|", [DndSet(source="fias", room="101", on=True, occurred_at=NOW)]),
    ("RE|RN101|DNN|", [DndSet(source="fias", room="101", on=False, occurred_at=NOW)]),
    ("RE|RN101|CS0|", [ClassOfServiceSet(source="fias", room="101", cos=1, occurred_at=NOW)]),
    ("RE|RN101|CS3|", [ClassOfServiceSet(source="fias", room="101", cos=4, occurred_at=NOW)]),
    ("RE|RN101|MLY|", [MessageWaiting(source="fias", room="101", on=True, occurred_at=NOW)]),
    ("RE|RN101|MLN|", [MessageWaiting(source="fias", room="101", on=False, occurred_at=NOW)]),
    ("RE|RN101|CS2|DNY|MLN|", [DndSet(source="fias", room="101", on=True, occurred_at=NOW),
                               ClassOfServiceSet(source="fias", room="101", cos=3, occurred_at=NOW),
                               MessageWaiting(source="fias", room="101", on=False, occurred_at=NOW)]),
])
def test_room_equipment(text, expected):
    assert events(text) == expected


def test_class_of_service_goes_through_the_site_table():
    context = TranslationContext(cos_table={"0": 2, "9": 4})
    assert events("RE|RN101|CS9|", context)[0].cos == 4
    assert events("GI|RN101|GNX|CS0|", context)[0].guest.cos == 2


def test_wakeup_set_at_local_date_and_time():
    assert events("WR|RN101|DA261128|TI070000|") == [
        WakeupSet(source="fias", room="101", at=dt.datetime(2026, 11, 28, 7, 0), occurred_at=NOW)]


def test_wakeup_time_is_read_leniently():
    assert events("WR|RN101|DA261128|TI0630|")[0].at == dt.datetime(2026, 11, 28, 6, 30)
    assert events("WR|RN101|DA261128|TI1252001|")[0].at == dt.datetime(2026, 11, 28, 12, 52, 0)


@pytest.mark.parametrize("text", ["WC|RN101|DA|TI|", "WC|RN101|"])
def test_wakeup_clear_without_time_clears_all(text):
    assert events(text) == [WakeupClear(source="fias", room="101", at=None, occurred_at=NOW)]


def test_wakeup_clear_of_one_time():
    assert events("WC|RN101|DA261128|TI070000|")[0].at == dt.datetime(2026, 11, 28, 7, 0)


def test_messages():
    assert events("XL|RN101|G#7|MI1|MTCall reception|") == [
        MessageWaiting(source="fias", room="101", on=True, text="Call reception", occurred_at=NOW)]
    assert events("XD|RN101|G#7|MI1|") == [MessageWaiting(source="fias", room="101", on=False, occurred_at=NOW)]


def test_swap_start_and_end():
    assert events("DS|DA261127|TI094123|") == [ResyncStart(source="fias", occurred_at=NOW)]
    assert events("DE|DA261127|TI094500|") == [ResyncEnd(source="fias", occurred_at=NOW)]


def test_the_source_name_is_the_sites():
    context = TranslationContext(source="fias-annex")
    assert events("RE|RN101|DNY|", context)[0].source == "fias-annex"


@pytest.mark.parametrize("record_type", sorted(EVENT_RECORDS - {"DS", "DE"}))
def test_missing_room_is_rejected_with_a_reason(record_type):
    problem = rejected(f"{record_type}|G#1|GNX|DNY|DA261128|TI070000|")
    assert f"{record_type} without RN" in problem.reason
    assert problem.room is None


@pytest.mark.parametrize("text, words, room", [
    ("GI|RN1 01|GNX|", "is not a room number", None),
    ("GI|RN12345678901234567|GNX|", "is not a room number", None),
    ("GI|RN101|GNX|GA261340|", "GA: date '261340' is not a calendar date", "101"),
    ("GI|RN101|GNX|GDtomorrow|", "GD: date 'tomorrow' is not YYMMDD", "101"),
    ("GI|RN101|GNX|GSmaybe|", "GS 'maybe' is neither Y nor N", "101"),
    ("GI|RN101|GNX|CS7|", "CS '7' is not in adapters.fias.cos_table", "101"),
    ("GI|RN101|GN" + "x" * 201 + "|", "last_name", "101"),
    ("RE|RN101|DNX|", "DN 'X' is neither Y nor N", "101"),
    ("RE|RN101|RS1|", "RE carries none of DN", "101"),
    ("WR|RN101|", "WR without DA/TI", "101"),
    ("WR|RN101|DA261128|", "TI is missing", "101"),
    ("WR|RN101|DA261128|TI250000|", "is not a time of day", "101"),
    ("WR|RN101|DA261199|TI070000|", "is not a calendar date", "101"),
    ("WC|RN101|TI070000|", "DA is missing", "101"),
    ("GC|RN101|GNX|RO1/2|", "RO '1/2' is not a room number", "101"),
    ("NS|", "NS records are not used by the bridge", None),
    ("PA|ASOK|P#1|", "PA records are not used by the bridge", None),
])
def test_bad_records_are_rejected_naming_the_field(text, words, room):
    problem = rejected(text)
    assert words in problem.reason
    assert problem.room == room


def test_context_from_settings():
    settings = bridge_settings(rooms={"extension_template": "{room}", "default_departure_time": "10:30"})
    context = TranslationContext.from_settings(fias_settings(source="pms", cos_table={"0": 1}), settings.rooms)
    assert context.departure_time == dt.time(10, 30)
    assert context.source == "pms" and context.cos_table == {"0": 1}
    assert events("GI|RN1|GNX|GD261130|", context)[0].guest.departure == dt.datetime(2026, 11, 30, 10, 30)


def test_two_digit_years_follow_the_pivot():
    context = TranslationContext(date_pivot=50)
    assert events("GI|RN1|GNX|GA491231|", context)[0].guest.arrival.year == 2049
    assert events("GI|RN1|GNX|GA501231|", context)[0].guest.arrival.year == 1950


def test_a_repeated_record_gives_the_same_event():
    text = "GI|RN101|G#1|GNDoe|GA261127|GD261129|"
    assert events(text) == events(text)
