"""Rows -> guests and events, and the hotel-time reading both file and webhook adapters use (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pmsbridge.adapters.csvdrop.reader import CsvRow
from pmsbridge.adapters.csvdrop.rows import RowReader, RowRejected
from pmsbridge.adapters.hotel_time import TimeNotUnderstood, parse_hotel_time
from pmsbridge.events import CheckOut, RoomMove, WakeupClear
from tests.adapters.csvdrop.conftest import settings_for

ZONE = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def reader(**csvdrop) -> RowReader:
    return RowReader(settings_for(Path("/srv/drop"), **csvdrop).adapter_settings["csvdrop"], ZONE, time(11, 0))


def row(**values: str) -> CsvRow:
    return CsvRow(line=2, raw=",".join(values.values()), fields=tuple(values.values()), values=values)


def event(values: dict, **csvdrop):
    return reader(**csvdrop).delta_event(row(**values), source="csv", source_key="k", occurred_at=NOW)


@pytest.mark.parametrize("value, expected", [
    ("2026-11-27", datetime(2026, 11, 27, 11, 0)),
    ("20261127", datetime(2026, 11, 27, 11, 0)),
    ("2026-11-27T14:05", datetime(2026, 11, 27, 14, 5)),
    ("2026-11-27T13:05:00Z", datetime(2026, 11, 27, 14, 5)),
    ("2026-07-01T13:05:00+00:00", datetime(2026, 7, 1, 15, 5)),
])
def test_iso_dates_and_times_in_hotel_time(value, expected):
    assert parse_hotel_time(value, ["iso"], ZONE, day_time=time(11, 0)) == expected


def test_patterns_are_tried_in_order_and_a_date_gets_the_day_time():
    formats = ["%d.%m.%Y %H:%M", "%d.%m.%Y"]
    assert parse_hotel_time(" 27.11.2026 ", formats, ZONE, day_time=time(11)) == datetime(2026, 11, 27, 11, 0)
    assert parse_hotel_time("27.11.2026 07:15", formats, ZONE, day_time=time(11)) == datetime(2026, 11, 27, 7, 15)
    with pytest.raises(TimeNotUnderstood, match=r"'11/27/2026' matches none of the date formats \(%d.%m.%Y %H:%M"):
        parse_hotel_time("11/27/2026", formats, ZONE)


def test_a_check_in_row_with_dates():
    guest = event({"action": "Check-In", "room": "101", "reservation": "R1", "last_name": "Doe",
                   "arrival": "2026-11-27", "departure": "29.11.2026"}).guest
    assert (guest.arrival, guest.departure) == (datetime(2026, 11, 27, 0, 0), datetime(2026, 11, 29, 11, 0))


def test_actions_without_guest_data():
    assert event({"action": "CO", "room": "101"}) == CheckOut(source="csv", source_key="k", room="101",
                                                              occurred_at=NOW)
    move = event({"action": "move", "room": "102", "from_room": "101"})
    assert isinstance(move, RoomMove) and (move.from_room, move.reservation, move.guest) == ("101", None, None)
    assert event({"action": "wakeup_clear", "room": "101"}) == WakeupClear(source="csv", source_key="k", room="101",
                                                                          occurred_at=NOW)


def test_site_action_words():
    assert event({"action": "ABREISE", "room": "101"}, actions={"abreise": "check_out"}).kind == "check_out"


@pytest.mark.parametrize("values, reason", [
    ({"room": "101"}, "no action"),
    ({"action": "checkin"}, "no room"),
    ({"action": "move", "room": "102"}, "no from_room"),
    ({"action": "wakeup", "room": "102"}, "no wakeup (date and time)"),
    ({"action": "checkin", "room": "101", "language": "much-too-long"}, "language: String should have at most 8"),
])
def test_rows_that_cannot_be_used_say_why(values, reason):
    with pytest.raises(RowRejected) as caught:
        event(values)
    assert str(caught.value).startswith(reason)
