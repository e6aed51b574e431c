"""Degrade instead of failing: a refused optional field never costs a guest the phone line.

The PBX emulator over real HTTPS, set up like units seen in the field: VIP codes 0 and 1
only, and a few prompt languages.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from pmsbridge.config import DispatcherSettings
from pmsbridge.events import CheckIn, Guest, GuestChange
from pmsbridge.ledger.dispatcher import Dispatcher
from pmsbridge.ledger.models import DeliveryState
from pmsbridge.pbx.client import PbxClient
from pmsbridge.sim.pbx import EmulatorOptions, PbxEmulator
from pmsbridge.validation import EventValidator
from tests.helpers import pbx_settings_for, wait_for
from tests.ledger.conftest import make_ledger
from tests.ledger.events import dnd, wakeup

WAKE_AT = datetime(2030, 1, 2, 7, 0)


@pytest.fixture
def emulator(tmp_path):
    options = EmulatorOptions(port=0, rooms=10, extension_template="1{room}", state_dir=tmp_path / "pbx",
                              vip_codes=("0", "1"), prompt_languages=("en", "de"))
    with PbxEmulator(options) as emulator:
        yield emulator


@pytest.fixture
def bridge(engine, emulator):
    ledger = make_ledger(engine)
    settings = pbx_settings_for(emulator)
    client = PbxClient(settings)
    dispatcher = Dispatcher(ledger, client, ledger.mapping, DispatcherSettings(), settings)
    dispatcher.start()
    yield ledger, dispatcher
    dispatcher.stop()
    client.close()


def guest(name: str, **fields) -> Guest:
    return Guest(reservation=f"R-{name}", last_name=name, first_name="Ann", arrival=datetime(2029, 12, 30, 14, 0),
                 departure=datetime(2030, 1, 5, 11, 0), **fields)


def pbx_guest(emulator, room: str) -> dict | None:
    return emulator.state.snapshot()["rooms"][room]["guest"]


def settled(ledger) -> bool:
    return ledger.stats().depth == 0


def test_a_refused_vip_code_is_left_out_and_the_room_is_flagged(bridge, emulator):
    ledger, dispatcher = bridge
    ledger.record(CheckIn(source="test", room="101", guest=guest("Doe", vip="7", language="de")), raw="")
    ledger.record(dnd("101"), raw="")
    ledger.record(wakeup("101", WAKE_AT), raw="")
    wait_for(lambda: settled(ledger))

    held = pbx_guest(emulator, "101")
    assert held["lastname"] == "Doe" and held["language"] == "de" and held.get("vipcode") is None
    room = emulator.state.snapshot()["rooms"]["101"]
    assert room["wakeups"] and emulator.state.snapshot()["extensions"]["1101"]["dnd"] == "yes"
    checkin = [d for d in ledger.deliveries(room="101") if d.operation == "checkin"][0]
    assert checkin.state == DeliveryState.DELIVERED
    assert "without VIP: the PBX refused '7'" in checkin.last_error
    [row] = ledger.room_rows()
    assert row.degraded == "checked in without VIP: the PBX refused '7'"
    books = ledger.room_books(["101"])["101"]
    assert books.refused == {"vipcode": "7"} and not books.differs
    assert dispatcher.health.degraded == 1

    # Guest data changes later: the refused VIP is not sent again, a new one is.
    ledger.record(GuestChange(source="test", room="101", guest=Guest(reservation="R-Doe", first_name="Anna")),
                  raw="")
    wait_for(lambda: settled(ledger))
    assert pbx_guest(emulator, "101")["firstname"] == "Anna"
    assert dispatcher.health.degraded == 1
    ledger.record(GuestChange(source="test", room="101", guest=Guest(reservation="R-Doe", vip="1")), raw="")
    wait_for(lambda: settled(ledger))
    assert pbx_guest(emulator, "101")["vipcode"] == "1"
    # The PBX took a VIP code: the room is whole again.
    [row] = ledger.room_rows()
    assert row.degraded is None and ledger.room_books(["101"])["101"].refused == {}


def test_a_code_left_out_at_the_door_flags_the_room_until_guest_data_passes(bridge, emulator):
    ledger, dispatcher = bridge
    ledger.validator = EventValidator(ledger.mapping)
    ledger.record(CheckIn(source="test", room="104", guest=guest("Doe", vip="GOLD")), raw="")
    [row] = ledger.room_rows()
    assert row.degraded == ("room 104: VIP code 'GOLD' is not one the PBX takes (digits) and not in "
                            "validation.vip_map: left out")
    ledger.record(GuestChange(source="test", room="104", guest=Guest(reservation="R-Doe", vip="1")), raw="")
    wait_for(lambda: settled(ledger))
    [row] = ledger.room_rows()
    assert row.degraded is None and pbx_guest(emulator, "104")["vipcode"] == "1"


def test_an_unnamed_refusal_drops_every_optional_field_and_keeps_name_and_dates(bridge, emulator):
    ledger, dispatcher = bridge
    # "xx" is not a prompt language; the emulator names it, so only the language is left out.
    ledger.record(CheckIn(source="test", room="102", guest=guest("Roe", language="xx", vip="1", credit=500)), raw="")
    wait_for(lambda: settled(ledger))
    held = pbx_guest(emulator, "102")
    assert (held["lastname"], held["vipcode"], held.get("language")) == ("Roe", "1", None)
    assert ledger.room_books(["102"])["102"].refused == {"language": "xx"}


def test_a_check_in_refused_even_without_its_optional_fields_dies_and_the_next_event_sends_it_whole(
        bridge, emulator):
    ledger, dispatcher = bridge
    # Someone checked a guest in at the PBX itself: the bridge's check-in is refused for good.
    emulator.state.change_room("103", guest={"lastname": "Squatter"})
    ledger.record(CheckIn(source="test", room="103", guest=guest("Poe", vip="1")), raw="")
    ledger.record(wakeup("103", WAKE_AT), raw="")
    wait_for(lambda: settled(ledger))
    states = [d.state for d in reversed(ledger.deliveries(room="103"))]
    assert states == [DeliveryState.DEAD, DeliveryState.SKIPPED]
    checkin = ledger.deliveries(room="103")[-1]
    assert "room is already checked in" in checkin.last_error and "without" in checkin.last_error
    books = ledger.room_books(["103"])["103"]
    assert books.state.occupied and not books.expected.checked_in and books.differs

    # The PBX's stray guest leaves; the PMS's next event for the room sends the whole room.
    emulator.state.vacate_room("103")
    ledger.record(dnd("103"), raw="")
    wait_for(lambda: settled(ledger))
    sent = [d.operation for d in reversed(ledger.deliveries(room="103")) if d.state == DeliveryState.DELIVERED]
    assert sent == ["checkin", "wakeup", "dnd"]
    room = emulator.state.snapshot()["rooms"]["103"]
    assert room["guest"]["lastname"] == "Poe" and room["guest"]["vipcode"] == "1" and room["dnd"]
    assert len(room["wakeups"]) == 1
    assert not ledger.room_books(["103"])["103"].differs
