"""End to end, all real sockets: a guest checks in on the FIAS simulator (TCP), the bridge checks
the room in on the PBX emulator (HTTPS), the guest phones out, the call record is read from the
emulator's cdrapi, rated and posted to the simulator's folio; across restarts nothing is posted
twice, a posting the PMS never answered stays unknown, and wake-up answers report the call."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from pmsbridge.accounting.cdr import SINCE_KEY
from pmsbridge.accounting.postings import PostingStore
from pmsbridge.adapters.fias.adapter import SWAP_SEEN_KEY
from pmsbridge.adapters.fias.answers import WAKEUP_ANSWERS_KEY
from pmsbridge.cli import main
from pmsbridge.sim.fias import FiasSimulator, SimulatorOptions
from tests.accounting.conftest import settings_for
from tests.helpers import pms_silent_past_posting_timeout, wait_for
from tests.ledger.conftest import make_ledger

ROOMS = [str(number) for number in range(101, 111)]


@pytest.fixture
def simulator():
    started: list[FiasSimulator] = []

    def start(**options) -> FiasSimulator:
        sim = FiasSimulator(SimulatorOptions(rooms=ROOMS, link_end_wait=0.5, **options))
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def bridge(emulator, services, engine):
    """``start(sim, **accounting)``: a running service linked to ``sim``, charging calls from an hour ago on."""
    ledger = make_ledger(engine)
    ledger.set_value(SWAP_SEEN_KEY, "before the test")
    ledger.set_value(SINCE_KEY, (emulator.local_now() - dt.timedelta(hours=1)).isoformat())

    def start(sim: FiasSimulator, **accounting):
        fias = {"mode": "client", "host": "127.0.0.1", "port": sim.port, "reconnect_min": 0.05,
                "reconnect_max": 0.2, "move_pair_window": 0}
        settings = settings_for(emulator, adapters={"fias": fias}, sections=services.sections(), **accounting)
        service = services.start(settings)
        assert sim.link_up(10)
        return service, settings

    return start


def occupied_on_pbx(emulator, room: str) -> bool:
    return emulator.state.snapshot()["rooms"][room]["occupied"]


def posting_states(service) -> list[str]:
    return [posting.state for posting in reversed(service.accounting.store.postings())]


def collected(service) -> list[int]:
    """Run the collector now and return the ids of every posting so far, oldest first (the
    service's own scheduled run may be the one that found a call)."""
    service.accounting.collector.run()
    return [posting.id for posting in reversed(service.accounting.store.postings())]


def test_a_call_reaches_the_folio_once_across_restarts(simulator, bridge, emulator, services):
    sim = simulator()
    service, settings = bridge(sim)
    sim.check_in("101", "Doe", first_name="Jane")
    wait_for(lambda: occupied_on_pbx(emulator, "101"))
    emulator.place_call("101", "00442079460000", talk=65)
    emulator.place_call("101", "0301234567", talk=31, group=True)
    emulator.place_call("101", "112", talk=300)
    emulator.place_call("102", "00442079460000", talk=65)  # nobody in 102
    service.accounting.collector.run()
    wait_for(lambda: posting_states(service) == ["posted", "posted"])
    expected = (50 + 2 * 120) + (20 + 2 * 10)
    assert sim.folio_total("101") == expected == sim.folio_total()
    folio = sim.folio
    assert [(entry["room"], entry["type"], entry["dialled"], entry["duration"]) for entry in folio] == [
        ("101", "C", "00442079460000", dt.timedelta(seconds=65)), ("101", "C", "0301234567", dt.timedelta(seconds=31))]
    store = service.accounting.store
    assert sum(posting.amount for posting in store.postings(state="posted")) == expected

    # A restart reads the same records again: nothing new is charged, nothing is sent twice.
    services.stop(service)
    again, _ = bridge(sim)
    assert collected(again) == [1, 2]
    emulator.place_call("101", "0891234567", talk=45)
    assert collected(again) == [1, 2, 3]
    wait_for(lambda: posting_states(again) == ["posted", "posted", "posted"])
    assert [record.get("P#") for record in sim.received if record.type == "PS"] == ["1", "2", "3"]
    assert sim.folio_total("101") == expected + 20 + 2 * 10


def ps_numbers(sim) -> list[str]:
    return [record.get("P#") for record in sim.received if record.type == "PS"]


def test_an_unanswered_posting_stays_unknown_across_a_restart_until_an_operator_acts(
        simulator, bridge, emulator, services, capsys):
    sim = simulator(posting_answer=None)
    service, settings = bridge(sim)
    sim.check_in("101", "Doe")
    wait_for(lambda: occupied_on_pbx(emulator, "101"))
    emulator.place_call("101", "00442079460000", talk=65)
    [posting_id] = collected(service)
    wait_for(lambda: pms_silent_past_posting_timeout(service.engine) and posting_states(service) == ["unknown"])
    services.stop(service)
    again, _ = bridge(sim)
    # The next charge goes out after the restart; a resent first one would have gone before it.
    emulator.place_call("101", "0301234567", talk=31)
    [_, second] = collected(again)
    assert sim.wait_for(lambda received: len(ps_numbers(sim)) == 2)
    wait_for(lambda: pms_silent_past_posting_timeout(again.engine) and posting_states(again) == ["unknown", "unknown"])
    sent = [record for record in sim.received if record.type == "PS"]
    assert [(record.get("P#"), record.get("DD")) for record in sent] == [("1", "00442079460000"),
                                                                          ("2", "0301234567")]

    config = _write_config(settings)
    assert main(["postings", "repost", str(posting_id), "--config", config]) == 0
    assert sim.wait_for(lambda received: ps_numbers(sim) == ["1", "2", "3"])
    assert sim.received[-1].get("DD") == "00442079460000"
    wait_for(lambda: pms_silent_past_posting_timeout(again.engine) and posting_states(again) == ["unknown", "unknown"])
    assert main(["postings", "settle", str(second), "--note", "on the folio by hand", "--config", config]) == 0
    assert PostingStore(again.engine).get(second).state == "settled"
    assert "is settled by hand" in capsys.readouterr().out


def _write_config(settings) -> str:
    """A configuration file for the command line, on the service's database."""
    path = settings.bridge.state_dir / "pmsbridge.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "[bridge]\n"
        f'database_url = "{settings.bridge.effective_database_url}"\n'
        f'state_dir = "{settings.bridge.state_dir}"\n'
        "[pbx]\n"
        f'url = "{settings.pbx.url}"\nusername = "cdrapi"\npassword = "a-real-secret"\n'
        'pms_username = "pms"\npms_password = "another-secret"\nverify = false\n', encoding="utf-8")
    return str(path)


def test_a_wakeup_is_answered_when_its_call_rang(simulator, bridge, emulator):
    sim = simulator()
    service, _ = bridge(sim, wakeup_answers="outcome")
    sim.check_in("101", "Doe")
    at = (emulator.local_now() + dt.timedelta(days=1)).replace(hour=7, minute=0, second=0)
    sim.wakeup("101", at)
    wait_for(lambda: emulator.state.snapshot()["rooms"]["101"]["wakeups"])
    # The PBX took the order: the answer owed now waits for the call instead of going out.
    [owed] = wait_for(lambda: [answer for answer in json.loads(service.ledger.get_value(WAKEUP_ANSWERS_KEY) or "[]")
                               if answer["delivery"] is None and answer["ring_at"]])
    assert owed["status"] is None and sim.wakeup_answers == []
    emulator.ring_wakeup("101", "ANSWERED", start=at + dt.timedelta(seconds=5))
    service.accounting.collector.run()
    assert sim.wait_for(lambda received: any(r.type == "WA" for r in received), timeout=10)
    [answer] = sim.wakeup_answers
    assert (answer.get("RN"), answer.get("AS"), answer.get("DA"), answer.get("TI")) == (
        "101", "OK", at.strftime("%y%m%d"), at.strftime("%H%M%S"))
