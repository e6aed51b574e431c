"""Canonical events survive the ledger's JSON round trip and refuse bad fields."""

from datetime import datetime

import pytest
from pydantic import ValidationError

from pmsbridge.events import (
    CheckIn,
    Guest,
    ResyncEnd,
    ResyncRecord,
    ResyncStart,
    RoomMove,
    WakeupClear,
    parse_event,
)

EXAMPLES = [
    CheckIn(source="fias", room="0101", guest=Guest(reservation="R1", last_name="Müller & Söhne",
                                                     arrival=datetime(2026, 11, 27, 14, 0))),
    RoomMove(source="fias", room="205", from_room="101", reservation="R1"),
    WakeupClear(source="frontdesk", room="101"),
    ResyncStart(source="fias"),
    ResyncRecord(source="fias", room="101", guest=Guest(reservation="R1", last_name="Doe")),
    ResyncEnd(source="fias"),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.kind)
def test_json_round_trip(event):
    assert parse_event(event.model_dump(mode="json")) == event


def test_bad_fields_are_named():
    with pytest.raises(ValidationError) as caught:
        CheckIn(source="fias", room="1 01", guest={"cos": 7})
    assert {error["loc"] for error in caught.value.errors()} == {("room",), ("guest", "cos")}


def test_hotel_times_are_local_and_event_times_aware():
    with pytest.raises(ValidationError, match="naive local"):
        Guest(arrival=datetime.fromisoformat("2026-11-27T14:00+01:00"))
    with pytest.raises(ValidationError, match="timezone-aware"):
        WakeupClear(source="x", room="101", occurred_at=datetime(2026, 11, 27, 9, 0))
    with pytest.raises(ValidationError):
        ResyncStart(source="fias", room="101")
