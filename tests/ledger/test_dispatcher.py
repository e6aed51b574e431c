"""The dispatcher against the PBX emulator over real HTTPS."""

from __future__ import annotations

from datetime import datetime

import pytest

from pmsbridge.config import DispatcherSettings
from pmsbridge.ledger.dispatcher import Dispatcher, claim_is_abandoned, worker_identity
from pmsbridge.ledger.models import DeliveryState
from pmsbridge.pbx.client import PbxClient
from pmsbridge.sim.pbx import EmulatorOptions, PbxEmulator
from tests.ledger.conftest import make_ledger
from tests.ledger.events import check_in, check_out, dnd, move, wakeup
from tests.helpers import pbx_settings_for as pbx_settings, wait_for


@pytest.fixture
def emulator(tmp_path):
    options = EmulatorOptions(port=0, rooms=30, extension_template="1{room}", state_dir=tmp_path / "pbx")
    with PbxEmulator(options) as emulator:
        yield emulator


@pytest.fixture
def bridge(engine, emulator):
    made = []

    def make(**dispatcher_settings):
        ledger = make_ledger(engine)
        settings = pbx_settings(emulator)
        client = PbxClient(settings)
        dispatcher = Dispatcher(ledger, client, ledger.mapping,
                                DispatcherSettings(**{"backoff_initial_seconds": 0.05, "backoff_max_seconds": 0.2,
                                                      **dispatcher_settings}), settings)
        made.append((dispatcher, client))
        return ledger, dispatcher

    yield make
    for dispatcher, client in made:
        dispatcher.stop()
        client.close()


def settled(ledger) -> bool:
    return ledger.stats().depth == 0


def fullname(emulator, extension: str) -> str | None:
    return emulator.state.snapshot()["extensions"][extension]["fullname"]


def test_events_reach_the_pbx_in_order(bridge, emulator):
    ledger, dispatcher = bridge()
    dispatcher.start()
    ledger.record(check_in("101", "Doe"), raw="")
    ledger.record(dnd("101"), raw="")
    ledger.record(wakeup("101", datetime(2026, 11, 28, 7, 0)), raw="")
    ledger.record(check_in("102", "Roe"), raw="")
    ledger.record(check_out("102"), raw="")
    wait_for(lambda: settled(ledger))
    assert {d.state for d in ledger.deliveries()} == {DeliveryState.DELIVERED}
    counters = emulator.counters()
    assert counters["pmsapi:checkin"] == 2 and counters["pmsapi:checkout"] == 1
    assert counters["pmsapi:dnd"] == 1 and counters["pmsapi:wakeup"] == 1
    assert fullname(emulator, "1101") == "Guest Doe"
    assert not fullname(emulator, "1102")


def test_a_move_reaches_the_pbx(bridge, emulator):
    ledger, dispatcher = bridge()
    dispatcher.start()
    ledger.record(check_in("101", "Doe"), raw="")
    ledger.record(dnd("101"), raw="")
    ledger.record(move("101", "105"), raw="")
    wait_for(lambda: settled(ledger))
    assert not fullname(emulator, "1101")
    assert fullname(emulator, "1105") == "Guest Doe"
    assert {d.state for d in ledger.deliveries()} == {DeliveryState.DELIVERED}


def test_pbx_outage_is_ridden_out(bridge, emulator):
    ledger, dispatcher = bridge()
    emulator.set_faults(down=True)
    dispatcher.start()
    ledger.record(check_in("101", "Doe"), raw="")
    wait_for(lambda: ledger.deliveries()[0].state == DeliveryState.RETRYING)
    assert dispatcher.health.pause_reason
    emulator.clear_faults()
    wait_for(lambda: settled(ledger))
    assert ledger.deliveries()[0].attempts >= 2
    assert fullname(emulator, "1101") == "Guest Doe"


def test_refused_operation_goes_dead_and_the_room_goes_on(bridge, emulator):
    ledger, dispatcher = bridge()
    dispatcher.start()
    ledger.record(check_in("101", "Doe"), raw="")
    wait_for(lambda: settled(ledger))
    emulator.state.vacate_room("101")  # someone checked the room out on the PBX by hand
    ledger.record(dnd("101"), raw="")  # the PBX refuses DND on a vacant room
    ledger.record(check_out("101"), raw="")
    wait_for(lambda: settled(ledger))
    states = {d.operation: d for d in ledger.deliveries()}
    assert states["dnd"].state == DeliveryState.DEAD and states["dnd"].last_status == -1
    assert states["dnd"].last_error
    assert "is dead" in {r.room: r for r in ledger.room_rows()}["101"].attention


def test_retry_budget_spent_means_dead(bridge, emulator):
    ledger, dispatcher = bridge(retry_budget_hours=0.0001)  # 0.36 s
    emulator.set_faults(http_500=True)
    dispatcher.start()
    ledger.record(check_in("101", "Doe"), raw="")
    wait_for(lambda: ledger.deliveries()[0].state == DeliveryState.DEAD)
    assert "gave up after" in ledger.deliveries()[0].last_error


def test_pacing_spaces_requests(bridge, emulator):
    ledger, dispatcher = bridge(min_interval_ms=100)
    for room in ("101", "102", "103", "104"):
        ledger.record(check_in(room, "Doe"), raw="")
    dispatcher.client.login()  # so that the first check-in does not wait for a login
    dispatcher.start()
    wait_for(lambda: settled(ledger))
    times = [entry[0] for entry in emulator.requests_log if entry[2] == "checkin"]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(gaps) == 3 and min(gaps) >= 0.09


def test_unmapped_room_goes_dead_with_advice(engine, emulator):
    ledger = make_ledger(engine, overrides={"777": ""})
    settings = pbx_settings(emulator)
    client = PbxClient(settings)
    dispatcher = Dispatcher(ledger, client, ledger.mapping, DispatcherSettings(), settings)
    dispatcher.start()
    try:
        ledger.record(check_in("777", "Doe"), raw="")
        wait_for(lambda: ledger.deliveries()[0].state == DeliveryState.DEAD)
        assert "rooms.map" in ledger.deliveries()[0].last_error
    finally:
        dispatcher.stop()
        client.close()


def test_interrupted_check_in_found_on_the_pbx_is_not_sent_again(bridge, emulator):
    ledger, dispatcher = bridge()
    ledger.record(check_in("101", "Doe"), raw="")
    claimed = ledger.claim_next("gone-host:1:dead")
    # The PBX got the request; the process died before writing the answer.
    dispatcher.document_for(claimed)
    from pmsbridge.pbx.client import PbxClient as Client

    sender = Client(pbx_settings(emulator))
    sender.pmsapi_data(dispatcher.document_for(claimed), "xml")
    sender.close()
    ledger.release_interrupted(lambda claimed_by, _at: claimed_by.startswith("gone-host"))
    dispatcher.start()
    wait_for(lambda: settled(ledger))
    assert emulator.counters()["pmsapi:checkin"] == 1
    assert "found applied" in ledger.deliveries()[0].last_error


def test_interrupted_check_in_not_on_the_pbx_is_sent(bridge, emulator):
    ledger, dispatcher = bridge()
    ledger.record(check_in("101", "Doe"), raw="")
    ledger.claim_next("gone-host:1:dead")
    ledger.release_interrupted(lambda claimed_by, _at: True)
    dispatcher.start()
    wait_for(lambda: settled(ledger))
    assert emulator.counters()["pmsapi:checkin"] == 1
    assert fullname(emulator, "1101") == "Guest Doe"


def test_backoff_grows_and_honours_retry_after(bridge):
    _, dispatcher = bridge(backoff_initial_seconds=2, backoff_max_seconds=300)
    assert 1 <= dispatcher.backoff(1, None) <= 2
    assert 4 <= dispatcher.backoff(3, None) <= 8
    assert 150 <= dispatcher.backoff(30, None) <= 300
    assert dispatcher.backoff(1, 15.0) == 15.0
    assert dispatcher.backoff(1, 60.0) == 60.0


def test_abandoned_claims_are_recognised():
    me = worker_identity()
    now = datetime.now().astimezone()
    import socket

    assert not claim_is_abandoned(me, now, me=me, now=now)
    assert claim_is_abandoned(f"{socket.gethostname()}:4194303:abc", now, me=me, now=now)
    assert not claim_is_abandoned("other-host:1:abc", now, me=me, now=now)


def test_a_lost_answer_is_checked_before_resending(bridge, emulator):
    ledger, dispatcher = bridge()
    dispatcher.client.login()
    emulator.set_faults(drop_connections=True)
    dispatcher.start()
    ledger.record(check_in("101", "Doe"), raw="")
    wait_for(lambda: ledger.deliveries()[0].uncertain)
    emulator.clear_faults()
    wait_for(lambda: settled(ledger))
    assert emulator.counters()["pmsapi:checkin"] == 1
    assert fullname(emulator, "1101") == "Guest Doe"
