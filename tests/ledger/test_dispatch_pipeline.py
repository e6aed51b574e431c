"""The dispatcher's claims ahead and batched outcomes keep the ledger's promises (PBX emulator over HTTPS)."""

from __future__ import annotations

import time

import pytest

from pmsbridge.config import DispatcherSettings
from pmsbridge.ledger.dispatcher import Dispatcher
from pmsbridge.ledger.models import DeliveryState
from pmsbridge.ledger.store import Ledger
from pmsbridge.pbx.client import PbxClient
from pmsbridge.sim.pbx import EmulatorOptions, PbxEmulator
from tests.helpers import pbx_settings_for, wait_for
from tests.ledger.conftest import make_ledger
from tests.ledger.events import check_in, check_out

ROOMS = [str(101 + number) for number in range(20)]


@pytest.fixture
def emulator(tmp_path):
    options = EmulatorOptions(port=0, rooms=len(ROOMS), extension_template="1{room}", state_dir=tmp_path / "pbx")
    with PbxEmulator(options) as emulator:
        yield emulator


@pytest.fixture
def dispatchers(emulator):
    """Makes dispatchers for a ledger; stops them all at the end."""
    made = []

    def make(ledger: Ledger, **settings) -> Dispatcher:
        pbx = pbx_settings_for(emulator)
        client = PbxClient(pbx)
        dispatcher = Dispatcher(ledger, client, ledger.mapping, DispatcherSettings(
            **{"backoff_initial_seconds": 0.05, "backoff_max_seconds": 0.2, **settings}), pbx)
        made.append((dispatcher, client))
        return dispatcher

    yield make
    for dispatcher, client in made:
        dispatcher.stop()
        client.close()


def by_state(ledger) -> dict[str, list]:
    found: dict[str, list] = {}
    for delivery in ledger.deliveries(limit=1000):
        found.setdefault(delivery.state, []).append(delivery)
    return found


def sent(emulator, operation: str) -> int:
    return emulator.counters().get(f"pmsapi:{operation}", 0)


def test_listeners_hear_of_an_outcome_once_it_is_committed(engine, dispatchers):
    ledger = make_ledger(engine)
    dispatcher = dispatchers(ledger)
    observer = make_ledger(engine)  # reads through its own connections
    seen = []
    dispatcher.on_outcome(lambda outcome: seen.append(observer.delivery(outcome.delivery.id).state))
    dispatcher.start()
    for room in ROOMS:
        ledger.record(check_in(room, "Doe"), raw="")
    wait_for(lambda: len(seen) == len(ROOMS))
    assert set(seen) == {DeliveryState.DELIVERED}


def test_a_removed_listener_hears_nothing_more(engine, dispatchers):
    ledger = make_ledger(engine)
    dispatcher = dispatchers(ledger)
    kept, removed = [], []
    dispatcher.on_outcome(kept.append)
    dispatcher.on_outcome(removed.append)
    dispatcher.remove_outcome(removed.append)
    dispatcher.remove_outcome(print)  # never added: ignored
    dispatcher.start()
    ledger.record(check_in("101", "Doe"), raw="")
    wait_for(lambda: kept)
    assert removed == []


def test_workers_run_from_start_to_stop(engine, dispatchers):
    dispatcher = dispatchers(make_ledger(engine), max_in_flight=2)
    assert dispatcher.workers == ()
    dispatcher.start()
    workers = dispatcher.workers
    assert len(workers) == 2 and all(worker.is_alive() for worker in workers)
    dispatcher.stop()
    assert dispatcher.workers == () and not any(worker.is_alive() for worker in workers)


def test_a_stop_puts_the_claims_not_sent_back(engine, emulator, dispatchers):
    ledger = make_ledger(engine)
    for room in ROOMS:
        ledger.record(check_in(room, "Doe"), raw="")
    emulator.set_faults(latency=0.05)
    dispatcher = dispatchers(ledger)
    dispatcher.start()
    wait_for(lambda: sent(emulator, "checkin") >= 2)
    dispatcher.stop()
    found = by_state(ledger)
    assert DeliveryState.IN_FLIGHT not in found
    assert len(found[DeliveryState.DELIVERED]) == sent(emulator, "checkin") < len(ROOMS)
    assert all(delivery.attempts == 0 for delivery in found[DeliveryState.PENDING])


def test_a_pause_puts_the_queued_claims_back(engine, emulator, dispatchers):
    ledger = make_ledger(engine)
    for room in ROOMS:
        ledger.record(check_in(room, "Doe"), raw="")
    emulator.set_faults(down=True)
    dispatcher = dispatchers(ledger, backoff_initial_seconds=2, backoff_max_seconds=2)
    dispatcher.start()
    wait_for(lambda: DeliveryState.RETRYING in by_state(ledger))
    found = wait_for(lambda: (states := by_state(ledger)) and DeliveryState.IN_FLIGHT not in states and states)
    assert len(found[DeliveryState.RETRYING]) == 1
    assert all(delivery.attempts == 0 for delivery in found[DeliveryState.PENDING])
    emulator.clear_faults()
    wait_for(lambda: ledger.stats().depth == 0)
    assert sent(emulator, "checkin") == len(ROOMS)


def test_two_dispatchers_on_one_ledger_send_each_operation_once_and_in_order(engine, emulator, dispatchers):
    # As two bridges on one PostgreSQL database: each is woken by the events it records itself.
    ledgers = [make_ledger(engine), make_ledger(engine)]
    for ledger in ledgers:
        dispatchers(ledger).start()
    for number in range(2):
        for index, room in enumerate(ROOMS):
            ledgers[index % 2].record(check_in(room, f"Guest{number}"), raw="")
        for index, room in enumerate(ROOMS):
            ledgers[(index + 1) % 2].record(check_out(room), raw="")
    recorder = ledgers[0]
    wait_for(lambda: recorder.stats().depth == 0)
    # A check-out sent before its check-in would have been refused and gone dead.
    assert set(by_state(recorder)) == {DeliveryState.DELIVERED}
    assert sent(emulator, "checkin") == sent(emulator, "checkout") == 2 * len(ROOMS)
    assert not any(extension["fullname"] for extension in emulator.state.snapshot()["extensions"].values())


class CountingLedger(Ledger):
    """Counts the dispatcher's transactions."""

    settled = 0

    def settle(self, *args, **kwargs):
        self.settled += 1
        return super().settle(*args, **kwargs)


def test_an_idle_dispatcher_waits_without_touching_the_ledger(engine, dispatchers):
    template = make_ledger(engine)
    ledger = CountingLedger(engine, policy=template.policy, mapping=template.mapping, zone=template.zone)
    dispatcher = dispatchers(ledger)
    dispatcher.start()
    ledger.record(check_in("101", "Doe"), raw="")
    wait_for(lambda: ledger.stats().depth == 0)
    before = ledger.settled
    time.sleep(0.3)
    assert ledger.settled == before
    ledger.record(check_in("102", "Roe"), raw="")  # and a commit wakes it
    wait_for(lambda: ledger.stats().depth == 0)
