"""Bodies -> canonical events by configuration (pure: no server, no ledger)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from pmsbridge.adapters.webhook.config import SourceSettings
from pmsbridge.adapters.webhook.mapping import (
    Ignored,
    Mapped,
    NeedsFetch,
    PayloadMapper,
    PayloadNotMapped,
    body_key,
)
from pmsbridge.events import CheckIn, CheckOut, DndSet, GuestChange, RoomMove, WakeupSet
from tests.adapters.webhook.conftest import APALEO_SOURCE, FULL_SOURCE, TOKEN, check_in_body

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Berlin")


def mapper(source: dict = FULL_SOURCE, name: str = "pms") -> PayloadMapper:
    return PayloadMapper(f"webhook:{name}", SourceSettings.model_validate(source), ZONE, time(11, 0))


def mapped(payload: dict, source: dict = FULL_SOURCE):
    return mapper(source).map(payload, json.dumps(payload).encode(), NOW)


def test_a_full_payload_check_in():
    result = mapped(check_in_body("101"))
    assert isinstance(result, Mapped) and isinstance(result.event, CheckIn)
    event = result.event
    assert (event.source, event.source_key, event.room) == ("webhook:pms", "evt-1", "101")
    assert event.occurred_at == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    guest = event.guest
    assert (guest.reservation, guest.last_name, guest.first_name, guest.language) == ("R-101", "Doe", "Jane", "en")
    # A date without a time: arrival at midnight, departure at rooms.default_departure_time.
    assert guest.arrival == datetime(2026, 11, 27, 0, 0) and guest.departure == datetime(2026, 11, 29, 11, 0)


def test_times_with_an_offset_become_hotel_local_time():
    body = check_in_body()
    body["reservation"]["arrival"] = "2026-11-27T13:30:00Z"
    assert mapped(body).event.guest.arrival == datetime(2026, 11, 27, 14, 30)


def test_numbers_are_read_as_text_and_unix_milliseconds_as_time():
    body = check_in_body()
    body["reservation"]["room"] = 305
    body["reservation"]["id"] = 88123.0
    body["created_at"] = 1_795_770_000_000
    event = mapped(body).event
    assert (event.room, event.guest.reservation) == ("305", "88123")
    assert event.occurred_at == datetime.fromtimestamp(1_795_770_000, UTC)


def test_check_out_guest_change_move_wakeup_and_dnd():
    out = mapped({"id": "2", "event": "reservation.checked_out", "reservation": {"room": "101", "id": "R-101"}})
    assert isinstance(out.event, CheckOut) and out.event.reservation == "R-101"
    change = mapped({"id": "3", "event": "reservation.updated",
                     "reservation": {"room": "101", "id": "R-101", "guest": {"last_name": "Smith"}}})
    assert isinstance(change.event, GuestChange) and change.event.guest.last_name == "Smith"
    assert change.event.guest.first_name is None  # not sent: unchanged
    move = mapped({"id": "4", "event": "reservation.room_changed",
                   "reservation": {"room": "102", "previous_room": "101", "id": "R-101"}})
    assert isinstance(move.event, RoomMove)
    assert (move.event.from_room, move.event.room, move.event.reservation, move.event.guest) == (
        "101", "102", "R-101", None)
    wake = mapped({"id": "5", "event": "wakeup.set", "reservation": {"room": "101"},
                   "wakeup": {"at": "2026-11-28T06:30:00"}})
    assert isinstance(wake.event, WakeupSet) and wake.event.at == datetime(2026, 11, 28, 6, 30)
    dnd = mapped({"id": "6", "event": "room.dnd_on", "reservation": {"room": "101"}})
    assert isinstance(dnd.event, DndSet) and dnd.event.on


def test_without_an_id_the_key_is_the_body_hash():
    source = {**FULL_SOURCE, "mapping": {**FULL_SOURCE["mapping"], "idempotency_key": None}}
    body = check_in_body()
    raw = json.dumps(body).encode()
    result = mapper(source).map(body, raw, NOW)
    assert result.event.source_key == body_key(raw) and len(result.event.source_key) == 7 + 64


def test_event_types_match_without_case_and_by_pattern():
    apaleo = mapper(APALEO_SOURCE, "apaleo")
    assert apaleo.target("System/HealthCheck") == "ignore"
    assert apaleo.target("reservation/checked-in") == "needs_fetch"
    assert apaleo.target("folio/created") is None


def test_apaleo_healthcheck_is_ignored_and_notifications_need_a_fetch():
    health = mapped({"topic": "system", "type": "healthcheck", "id": "h1", "timestamp": 1692268510605}, APALEO_SOURCE)
    assert isinstance(health, Ignored)
    thin = {"topic": "Reservation", "type": "checked-in", "id": "a1", "accountId": "DEMO", "propertyId": "MUC",
            "timestamp": 1692268510605, "data": {"entityId": "XPGMSXGF-1"}}
    result = mapped(thin, APALEO_SOURCE)
    assert isinstance(result, NeedsFetch)
    assert (result.event_type, result.reservation, result.source_key) == ("Reservation/checked-in", "XPGMSXGF-1", "a1")
    assert result.problem.startswith(
        "needs a fetch from the PMS API: Reservation/checked-in for reservation XPGMSXGF-1")


@pytest.mark.parametrize("payload, message", [
    ({"id": "1", "event": "reservation.checked_in", "reservation": {"guest": {"last_name": "Doe"}}},
     "mapping.room (reservation.room) found nothing"),
    ({"id": "1", "event": "reservation.exploded", "reservation": {"room": "101"}},
     "event type 'reservation.exploded' is not listed in [events]"),
    ({"id": "1", "reservation": {"room": "101"}}, "mapping.event_type (event) found nothing"),
    ({"id": "1", "event": "reservation.checked_in", "reservation": {"room": {"number": 101}}},
     "mapping.room (reservation.room) found an object, expected text"),
    ({"id": "1", "event": "reservation.checked_in", "reservation": {"room": "101", "arrival": "next Tuesday"}},
     "mapping.arrival: 'next Tuesday' matches none of the date formats (iso)"),
    ({"id": "1", "event": "wakeup.set", "reservation": {"room": "101"}}, "mapping.wakeup_at (wakeup.at) found nothing"),
    ({"id": "1", "event": "reservation.checked_in", "created_at": "soon", "reservation": {"room": "101"}},
     "mapping.occurred_at: 'soon' is not a unix or ISO 8601 time"),
])
def test_bodies_that_cannot_be_mapped_say_why(payload, message):
    with pytest.raises(PayloadNotMapped) as caught:
        mapped(payload)
    assert str(caught.value) == message


def test_a_body_that_is_not_an_object_is_not_mapped():
    with pytest.raises(PayloadNotMapped, match="neither an object nor a list"):
        mapper().map("checked_in", b'"checked_in"', NOW)


def test_fields_the_event_refuses_raise_a_validation_error():
    with pytest.raises(ValidationError, match="room"):
        mapped(check_in_body("10 1"))


def test_a_very_long_id_is_hashed_to_fit_the_ledger():
    result = mapped(check_in_body(event_id="x" * 500))
    assert result.event.source_key == body_key(b"x" * 500)


def test_tokens_stay_out_of_the_mapper():
    assert TOKEN not in repr(mapper(APALEO_SOURCE).settings)
