"""End to end with a PBX that refuses what real units refuse, and a PMS that sends what real PMSs send.

FIAS simulator -> FiasAdapter -> ledger (with the door's checks) -> dispatcher -> PBX emulator,
all real sockets. The emulator takes only VIP categories 0 and 1 and three prompt languages.
"""

from __future__ import annotations

import datetime as dt

import pytest

from pmsbridge.ledger.models import DeliveryState, EventStatus
from pmsbridge.sim.pbx import EmulatorOptions, PbxEmulator
from pmsbridge.validation import EventValidator
from tests.adapters.fias.conftest import wait_until
from tests.adapters.fias.test_end_to_end import bridge, on_pbx  # noqa: F401 - the fixture, on this emulator
from tests.conftest import database_url  # noqa: F401 - SQLite, and PostgreSQL when set

HOTEL = [str(room) for room in range(101, 129)]
WAKE = (dt.datetime.now() + dt.timedelta(days=1)).replace(hour=6, minute=45, second=0, microsecond=0)


@pytest.fixture
def emulator(tmp_path):
    options = EmulatorOptions(port=0, rooms=30, extension_template="1{room}", state_dir=tmp_path / "pbx",
                              vip_codes=("0", "1"), prompt_languages=("en", "de", "fr"))
    with PbxEmulator(options) as emulator:
        yield emulator


def test_guests_with_codes_the_pbx_refuses_all_get_a_working_line(simulator, bridge, emulator):  # noqa: F811
    bridge.ledger.validator = EventValidator(bridge.ledger.mapping, hotel_rooms=HOTEL)
    sim = simulator(rooms=HOTEL)
    bridge.dispatcher.start()
    bridge.connect(sim)
    # A quarter of the guests carry a VIP code and a language the unit refuses: OPERA codes
    # without digits and unknown languages (left out at the door), digits the unit does not
    # take and a language it has no prompts for (refused by the PBX: sent again without).
    odd = [{"vip": "V1", "language": "XX"}, {"vip": "5", "language": "SP"}, {"vip": "GOLD", "language": "SP"},
           {"vip": "7", "language": "XX"}]
    for index, room in enumerate(HOTEL):
        extra = odd[index // 4 % 4] if index % 4 == 0 else {}
        sim.check_in(room, f"Guest{room}", first_name="Ann", **extra)
        sim.dnd(room, True)
        sim.wakeup(room, WAKE)
    wait_until(lambda: len(bridge.ledger.events(limit=1000)) >= 3 * len(HOTEL), timeout=30)
    wait_until(bridge.settled, timeout=60)

    results = {}
    for room in HOTEL:
        held = on_pbx(emulator, room)
        results[room] = (held["occupied"], held["guest"]["lastname"], held["dnd"], len(held["wakeups"]))
    assert results == {room: (True, f"Guest{room}", True, 1) for room in HOTEL}
    states = {d.state for d in bridge.ledger.deliveries(limit=1000)}
    assert states == {DeliveryState.DELIVERED}
    degraded = {row.room: row.degraded for row in bridge.ledger.room_rows() if row.degraded}
    assert sorted(degraded) == ["101", "105", "109", "113", "117", "121", "125"]
    assert degraded["101"] == ("room 101: VIP code 'V1' is not one the PBX takes (digits) and not in "
                               "validation.vip_map: left out; room 101: language 'XX' is not one of the PBX's "
                               "prompt languages (validation.language_map, validation.prompt_languages): left out")
    assert degraded["105"] == "checked in without VIP and language: the PBX refused '5', 'es'"
    assert degraded["109"] == "checked in without language: the PBX refused 'es'"  # GOLD: left out at the door
    refused = {room: books.refused for room, books in bridge.ledger.room_books().items() if books.refused}
    assert refused == {"105": {"vipcode": "5", "language": "es"}, "109": {"language": "es"},
                       "113": {"vipcode": "7"}, "121": {"vipcode": "5", "language": "es"},
                       "125": {"language": "es"}}
    guest = on_pbx(emulator, "105")["guest"]
    assert (guest["account"], guest.get("vipcode"), guest.get("language")) == (guest["account"], None, None)
    assert guest["account"] and guest["cos"]  # the fields the PBX took were sent again


def test_a_move_to_a_room_the_hotel_does_not_have_keeps_the_guest_on_the_old_phone(simulator, bridge,  # noqa: F811
                                                                                     emulator):
    bridge.ledger.validator = EventValidator(bridge.ledger.mapping, hotel_rooms=HOTEL)
    sim = simulator(rooms=[*HOTEL, "999", "abc"])  # the PMS knows rooms the bridge was not told of
    bridge.dispatcher.start()
    bridge.connect(sim)
    sim.check_in("101", "Doe")
    sim.check_in("102", "Roe")
    wait_until(lambda: on_pbx(emulator, "101")["occupied"] and on_pbx(emulator, "102")["occupied"])
    sim.move("101", "999", style="GC")
    sim.move("102", "abc", style="GC")
    wait_until(lambda: len(bridge.ledger.events(status=EventStatus.REJECTED)) >= 2, timeout=15)
    wait_until(bridge.settled)
    refused = bridge.ledger.events(status=EventStatus.REJECTED)
    assert {row.kind for row in refused} == {"room_move"}
    assert all("is not one of the hotel's rooms" in row.problem for row in refused)
    for room, name in (("101", "Doe"), ("102", "Roe")):
        assert on_pbx(emulator, room)["occupied"] and on_pbx(emulator, room)["guest"]["lastname"] == name
    assert set(bridge.ledger.room_states()) == {"101", "102"}


def test_a_wakeup_for_a_room_the_pbx_lacks_sends_it_whole_and_is_answered_by_its_own_delivery(
        simulator, bridge, emulator):  # noqa: F811
    sim = simulator(rooms=HOTEL)
    bridge.dispatcher.start()
    bridge.connect(sim)
    # Someone checked a guest in at the PBX itself: the bridge's check-in dies, and so the DND after it.
    emulator.state.change_room("101", guest={"lastname": "Squatter"})
    sim.check_in("101", "Doe")
    sim.dnd("101", True)
    wait_until(lambda: bridge.ledger.stats().dead == 1 and bridge.settled())
    emulator.state.vacate_room("101")
    sim.wakeup("101", WAKE)
    assert sim.wait_for(lambda received: any(record.type == "WA" for record in received), timeout=15)
    [answer] = sim.wakeup_answers
    assert answer.get("AS") == "OK"
    wait_until(bridge.settled)
    held = on_pbx(emulator, "101")
    assert held["guest"]["lastname"] == "Doe" and held["dnd"] and len(held["wakeups"]) == 1
