"""End to end: FIAS simulator -> FiasAdapter -> ledger -> dispatcher -> PBX emulator, all real sockets."""

from __future__ import annotations

import datetime as dt

import pytest

from pmsbridge.config import DispatcherSettings
from pmsbridge.ledger.dispatcher import Dispatcher
from pmsbridge.ledger.models import DeliveryState
from pmsbridge.pbx.client import PbxClient
from pmsbridge.sim.pbx import EmulatorOptions, PbxEmulator
from pmsbridge.validation import EventValidator
from tests.adapters.fias.conftest import bridge_settings, fias_settings, linked, wait_until
from tests.conftest import database_url  # noqa: F401 - SQLite, and PostgreSQL when set
from tests.ledger.conftest import make_ledger

TOMORROW = (dt.datetime.now() + dt.timedelta(days=1)).replace(hour=7, minute=15, second=0, microsecond=0)


@pytest.fixture
def emulator(tmp_path):
    with PbxEmulator(EmulatorOptions(port=0, rooms=30, extension_template="1{room}",
                                     state_dir=tmp_path / "pbx")) as emulator:
        yield emulator


@pytest.fixture
def bridge(engine, emulator, adapter):
    """A ledger with a dispatcher sending to the emulator; ``connect(sim)`` adds a FiasAdapter."""
    options = emulator.options
    settings = bridge_settings(pbx={
        "url": emulator.url, "username": options.username, "password": options.password,
        "pms_username": options.pms_username, "pms_password": options.pms_password,
        "tls_fingerprint": emulator.fingerprint, "connect_timeout": 2, "read_timeout": 5})
    ledger = make_ledger(engine)
    # The door's checks, as in the service: FIAS language codes (EA, GE) become the PBX's.
    ledger.validator = EventValidator(ledger.mapping)
    client = PbxClient(settings.pbx)
    dispatcher = Dispatcher(ledger, client, ledger.mapping,
                            DispatcherSettings(backoff_initial_seconds=0.05, backoff_max_seconds=0.2), settings.pbx)

    class Bridge:
        def __init__(self) -> None:
            self.ledger, self.dispatcher = ledger, dispatcher

        def connect(self, sim, *, first_link_up: bool = False, **fias):
            fias_adapter = adapter(fias_settings(port=sim.port, **fias), dispatcher=dispatcher, bridge=settings,
                                   use_ledger=ledger, first_link_up=first_link_up)
            linked(sim, fias_adapter)
            return fias_adapter

        def settled(self) -> bool:
            return ledger.stats().depth == 0

    yield Bridge()
    dispatcher.stop()
    client.close()


def on_pbx(emulator, room: str) -> dict:
    return emulator.state.snapshot()["rooms"][room]


def wakeups_on_pbx(emulator, room: str) -> list[tuple[str, str]]:
    return [(wakeup["date"], wakeup["time"]) for wakeup in on_pbx(emulator, room)["wakeups"]]


def test_a_hotel_day_reaches_the_pbx_room_by_room(simulator, bridge, emulator):
    sim = simulator()
    bridge.dispatcher.start()
    bridge.connect(sim)
    sim.check_in("101", "Doe", first_name="Jane", cos=3)
    first = sim.check_in("102", "Roe")
    sim.check_in("102", "Poe")
    sim.check_in("103", "Moe")
    sim.dnd("101", True)
    sim.wakeup("101", TOMORROW)
    sim.class_of_service("103", 0)
    sim.guest_change("101", last_name="Doe-Smith")
    sim.move("101", "105", style="GO+GI")
    sim.check_out("102", first)
    sim.move("103", "106", style="GI+GO")
    sim.check_in("107", "Short")
    sim.check_out("107")
    assert sim.wait_for(lambda received: any(record.type == "WA" for record in received), timeout=15)
    wait_until(lambda: bridge.ledger.events(room="107", limit=5) and len(bridge.ledger.events(room="107")) == 2)
    wait_until(bridge.settled, timeout=20)

    assert not on_pbx(emulator, "101")["occupied"]
    moved = on_pbx(emulator, "105")
    assert moved["occupied"] and moved["guest"]["lastname"] == "Doe-Smith" and moved["guest"]["firstname"] == "Jane"
    assert moved["dnd"]
    assert wakeups_on_pbx(emulator, "105") == [(TOMORROW.strftime("%Y%m%d"), TOMORROW.strftime("%H%M"))]
    shared = on_pbx(emulator, "102")
    assert shared["occupied"] and shared["guest"]["lastname"] == "Poe"
    assert not on_pbx(emulator, "103")["occupied"]
    assert on_pbx(emulator, "106")["guest"]["lastname"] == "Moe"
    assert on_pbx(emulator, "106")["guest"]["cos"] == "1"
    assert not on_pbx(emulator, "107")["occupied"]
    assert [answer.get("AS") for answer in sim.wakeup_answers] == ["OK"]
    assert {delivery.state for delivery in bridge.ledger.deliveries(limit=1000)} == {DeliveryState.DELIVERED}


def test_a_wakeup_the_pbx_refuses_is_answered_unprocessable(simulator, bridge, emulator):
    sim = simulator()
    bridge.dispatcher.start()
    bridge.connect(sim)
    sim.check_in("101", "Doe")
    wait_until(lambda: on_pbx(emulator, "101")["occupied"])
    emulator.state.vacate_room("101")  # checked out on the PBX by hand: it refuses wake-ups now
    sim.wakeup("101", TOMORROW)
    assert sim.wait_for(lambda received: any(record.type == "WA" for record in received), timeout=15)
    [answer] = sim.wakeup_answers
    assert (answer.get("RN"), answer.get("AS")) == ("101", "UR")
    assert answer.get("DA") == TOMORROW.strftime("%y%m%d") and answer.get("TI") == TOMORROW.strftime("%H%M%S")


def test_a_dropped_link_with_buffered_and_repeated_records_doubles_nothing(simulator, bridge, emulator):
    sim = simulator()
    bridge.dispatcher.start()
    fias = bridge.connect(sim)
    reservation = sim.check_in("101", "Doe")
    sim.dnd("101", True)
    wait_until(lambda: on_pbx(emulator, "101")["dnd"])
    sim.drop_link()
    wait_until(lambda: not fias.link.up)
    sim.check_in("102", "Roe")  # buffered by the PMS
    sim.wakeup("101", TOMORROW)
    linked(sim, fias)
    # After the hiccup the PMS repeats what it is not sure arrived.
    sim.check_in("101", "Doe", reservation=reservation)
    sim.dnd("101", True)
    sim.check_out("103")
    assert sim.wait_for(lambda received: any(record.type == "WA" for record in received), timeout=15)
    wait_until(lambda: len(bridge.ledger.events(room="103")) == 1)
    wait_until(bridge.settled, timeout=20)
    counters = emulator.counters()
    assert counters["pmsapi:checkin"] == 2
    assert counters["pmsapi:dnd"] == 1
    assert counters["pmsapi:wakeup"] == 1
    assert counters.get("pmsapi:update", 0) == 0
    assert counters.get("pmsapi:checkout", 0) == 0
    assert on_pbx(emulator, "102")["occupied"] and on_pbx(emulator, "101")["dnd"]


def test_a_first_swap_fills_an_empty_bridge(simulator, bridge, emulator):
    sim = simulator()
    for room in ("101", "102", "103", "104", "105"):
        sim.check_in(room, f"Guest {room}")
    sim.check_in("105", "Second")
    bridge.dispatcher.start()
    bridge.connect(sim, first_link_up=True)
    wait_until(lambda: bridge.ledger.events(status=None) and any(
        row.kind == "resync_end" for row in bridge.ledger.events()))
    wait_until(bridge.settled, timeout=20)
    for room in ("101", "102", "103", "104", "105"):
        assert on_pbx(emulator, room)["guest"]["lastname"] == f"Guest {room}"
    assert emulator.counters()["pmsapi:checkin"] == 5


def test_a_wakeup_answer_owed_at_stop_is_sent_after_a_restart(simulator, bridge, emulator, adapter):
    sim = simulator()
    fias = bridge.connect(sim)
    sim.check_in("101", "Doe")
    sim.wakeup("101", TOMORROW)
    wait_until(lambda: any(row.kind == "wakeup_set" for row in bridge.ledger.events(room="101")))
    fias.stop()
    bridge.dispatcher.start()
    wait_until(bridge.settled, timeout=20)
    assert sim.wakeup_answers == []
    bridge.connect(sim)
    assert sim.wait_for(lambda received: any(record.type == "WA" for record in received), timeout=15)
    assert [answer.get("AS") for answer in sim.wakeup_answers] == ["OK"]
    assert wakeups_on_pbx(emulator, "101") == [(TOMORROW.strftime("%Y%m%d"), TOMORROW.strftime("%H%M"))]
