"""Reconciliation against the PBX emulator: drift introduced behind the bridge's back is found,
recorded, and repaired or reported as the policy says."""

from __future__ import annotations

import math
from datetime import datetime
from functools import partial

import pytest

from pmsbridge.events import CheckOut, DndSet, WakeupSet
from pmsbridge.ledger.models import DeliveryState
from pmsbridge.ledger.store import DeliveryResult
from pmsbridge.mapping import RoomMapping
from pmsbridge.reconcile.drift import observed_pbx
from pmsbridge.reconcile.models import DriftKind, DriftState
from pmsbridge.reconcile.reconciler import CURSOR_KEY, SWAP_SEEN_KEY
from pmsbridge.rooms import RoomState
from tests.helpers import wait_for
from tests.reconcile.conftest import ROOMS, check_in


@pytest.fixture
def checked_in(hotel):
    """Rooms 101-105 checked in through the bridge, 103 with DND on; everything delivered."""
    hotel.dispatcher.start()
    hotel.record(*(check_in(str(room), f"Doe{room}") for room in range(101, 106)))
    hotel.record(DndSet(source="test", room="103", on=True))
    hotel.settle()
    hotel.emulator.reset_counters()
    return hotel


def reads(hotel) -> dict[str, int]:
    """The emulator's request counters without the deliveries the dispatcher sent meanwhile."""
    return {action: count for action, count in hotel.emulator.counters().items() if not action.startswith("pmsapi:")}


def found(report) -> dict[tuple[str, DriftKind], tuple[str, str]]:
    return {(drift.room, drift.kind): (drift.expected, drift.actual) for drift in report.drifts}


def test_a_hotel_in_step_has_no_drift(checked_in):
    report = checked_in.reconciler().run()
    assert report.error is None and report.drifts == () and report.repaired == {}
    assert report.extensions == ROOMS and report.rooms_compared == 5
    assert checked_in.reconciler().counts() == {kind: 0 for kind in DriftKind}


def test_a_name_changed_on_the_pbx_is_repaired(checked_in):
    hotel = checked_in
    hotel.emulator.state.set_fullname("101", "Front Desk")
    reconciler = hotel.reconciler()
    report = reconciler.run()
    assert found(report) == {("101", DriftKind.NAME): ("Guest Doe101", "Front Desk")}
    assert list(report.repaired) == ["101"]
    assert report.drifts[0].state == DriftState.REPAIRING
    repair = hotel.ledger.delivery(report.repaired["101"][0])
    assert repair.operation == "update" and repair.event_id is None
    hotel.settle()
    assert hotel.fullname("101") == "Guest Doe101"
    again = reconciler.run()
    assert again.drifts == ()
    assert reconciler.drift_by_room() == {}


def test_a_room_checked_out_on_the_pbx_is_checked_in_again_with_its_dnd(checked_in):
    hotel = checked_in
    hotel.emulator.state.vacate_room("103")
    reconciler = hotel.reconciler()
    report = reconciler.run()
    assert found(report) == {("103", DriftKind.NOT_CHECKED_IN): ("Guest Doe103", "vacant")}
    operations = [hotel.ledger.delivery(i).operation for i in report.repaired["103"]]
    assert operations == ["checkin", "dnd"]
    hotel.settle()
    assert hotel.room("103")["occupied"] and hotel.room("103")["dnd"]
    assert reconciler.run().drifts == ()
    assert reconciler.counts()[DriftKind.NOT_CHECKED_IN] == 0


def test_a_room_occupied_on_the_pbx_but_vacant_here_is_checked_out(checked_in):
    hotel = checked_in
    hotel.record(check_in("110", "Gone"), CheckOut(source="test", room="110"))
    hotel.settle()
    hotel.emulator.state.change_room("110", guest={"firstname": "Walk", "lastname": "In", "datein": "2026/11/27 14:00",
                                                   "dateout": "2026/11/28 11:00"})
    # A room the ledger has never seen is not judged: it may be no guest room at all.
    hotel.emulator.state.change_room("120", guest={"firstname": "Not", "lastname": "Ours"})
    reconciler = hotel.reconciler()
    report = reconciler.run()
    assert found(report) == {("110", DriftKind.NOT_CHECKED_OUT): ("vacant", "Walk In")}
    hotel.settle()
    assert not hotel.room("110")["occupied"]
    assert reconciler.run().drifts == ()


def test_dnd_and_call_forward_changed_on_the_pbx_are_repaired(checked_in):
    hotel = checked_in
    hotel.emulator.state.set_dnd("103", False)
    hotel.emulator.state.change_room("104", cfu="555")
    reconciler = hotel.reconciler()
    report = reconciler.run()
    assert found(report) == {("103", DriftKind.DND): ("on", "off"), ("104", DriftKind.CALL_FORWARD): ("none", "555")}
    hotel.settle()
    assert hotel.room("103")["dnd"] and hotel.room("104")["cfu"] is None
    assert reconciler.run().drifts == ()


def test_an_extension_out_of_service_or_missing_is_reported_only(checked_in):
    hotel = checked_in
    hotel.emulator.state.set_out_of_service("102", "yes")
    # Room 105's extension as the mapping has it (after someone edited the map) is not on the PBX.
    reconciler = hotel.reconciler(mapping=RoomMapping("1{room}", {"105": "1999"}))
    report = reconciler.run()
    assert found(report) == {("102", DriftKind.EXTENSION): ("in service", "out of service"),
                             ("105", DriftKind.EXTENSION): ("present", "missing")}
    assert report.repaired == {}
    assert {drift.state for drift in report.drifts} == {DriftState.OPEN}
    assert reconciler.counts()[DriftKind.EXTENSION] == 2


def test_report_policy_records_without_repairing(checked_in):
    hotel = checked_in
    hotel.emulator.state.set_fullname("101", "Front Desk")
    reconciler = hotel.reconciler(policy={"name": "report"})
    first = reconciler.run()
    second = reconciler.run()
    assert first.repaired == {} == second.repaired
    assert hotel.ledger.stats().depth == 0
    drift = reconciler.drift_by_room()["101"][0]
    assert drift.state == DriftState.OPEN and drift.first_seen == first.drifts[0].first_seen
    assert drift.last_seen == second.drifts[0].last_seen
    assert hotel.fullname("101") == "Front Desk"


def test_a_drift_that_survives_its_repair_is_escalated(checked_in):
    hotel = checked_in
    # A name on an extension that is not checked in: the checkout that should clear it is refused.
    hotel.record(check_in("110", "Gone"), CheckOut(source="test", room="110"))
    hotel.settle()
    hotel.emulator.state.set_fullname("110", "Housekeeping")
    reconciler = hotel.reconciler()
    first = reconciler.run()
    assert first.drifts[0].state == DriftState.REPAIRING
    hotel.settle()
    assert hotel.ledger.delivery(first.repaired["110"][0]).state == DeliveryState.DEAD
    second = reconciler.run()
    assert second.drifts[0].state == DriftState.REPAIR_FAILED and second.repaired == {}
    third = reconciler.run()
    assert third.drifts[0].state == DriftState.REPAIR_FAILED and third.repaired == {}
    assert third.drifts[0].repair_attempts == 1


def test_more_repair_attempts_before_escalating(checked_in):
    hotel = checked_in
    hotel.record(check_in("110", "Gone"), CheckOut(source="test", room="110"))
    hotel.settle()
    hotel.emulator.state.set_fullname("110", "Housekeeping")
    reconciler = hotel.reconciler(max_repair_attempts=2)
    reconciler.run()
    hotel.settle()
    second = reconciler.run()
    assert second.drifts[0].state == DriftState.REPAIRING and second.drifts[0].repair_attempts == 2
    hotel.settle()
    assert reconciler.run().drifts[0].state == DriftState.REPAIR_FAILED


def test_the_operator_repairs_one_room(checked_in):
    hotel = checked_in
    hotel.emulator.state.set_dnd("103", False)
    reconciler = hotel.reconciler(policy={"dnd": "report"})
    hotel.emulator.reset_counters()
    outcome = reconciler.repair("103", actor="alice")
    assert reads(hotel) == {"getSIPAccount": 1}
    assert [drift.kind for drift in outcome.drifts] == [DriftKind.DND]
    assert outcome.drifts[0].state == DriftState.REPAIRING and outcome.deliveries
    hotel.settle()
    assert hotel.room("103")["dnd"]
    assert reconciler.repair("103").note == "the PBX matches the desired state"
    assert reconciler.drift_by_room() == {}
    assert "alice" in {entry.actor for entry in _audit(hotel)}


def _audit(hotel):
    from sqlmodel import Session, select

    from pmsbridge.ledger.models import AuditEntry

    with Session(hotel.ledger.engine) as session:
        return list(session.execute(select(AuditEntry).where(AuditEntry.action == "repair")).scalars())


def test_rooms_with_deliveries_on_their_way_are_not_judged(checked_in):
    hotel = checked_in
    hotel.dispatcher.stop()
    hotel.record(check_in("106", "Late"))  # queued, not sent: the PBX shows the room vacant
    report = hotel.reconciler().run()
    assert report.drifts == () and report.rooms_skipped == 1


def test_a_repair_for_a_state_that_changed_meanwhile_is_not_queued(checked_in):
    hotel = checked_in
    before = hotel.ledger.room_states(["101"])["101"]
    hotel.record(CheckOut(source="test", room="101"))
    hotel.settle()
    assert hotel.ledger.enqueue_repair("101", partial(observed_pbx, kinds={DriftKind.NAME}), based_on=before) == ()
    assert hotel.ledger.stats().depth == 0
    vacant = RoomState(room="101")
    assert hotel.ledger.enqueue_repair("101", partial(observed_pbx, kinds={DriftKind.NOT_CHECKED_OUT}),
                                       based_on=vacant)


def test_a_dry_run_records_and_queues_nothing(checked_in):
    hotel = checked_in
    hotel.emulator.state.vacate_room("101")
    reconciler = hotel.reconciler()
    report = reconciler.run(dry_run=True)
    assert found(report) == {("101", DriftKind.NOT_CHECKED_IN): ("Guest Doe101", "vacant")}
    assert report.drifts[0].id is None and report.repaired == {}
    assert reconciler.drift_by_room() == {} and hotel.ledger.stats().depth == 0
    assert hotel.ledger.get_value(CURSOR_KEY) is None
    assert reconciler.last_run is None


def test_requests_per_run_are_bounded_and_the_rotation_reaches_every_room(hotel):
    hotel.dispatcher.start()
    hotel.record(*(check_in(str(room), f"Doe{room}") for room in range(101, 101 + ROOMS)))
    hotel.settle()
    hotel.emulator.state.set_dnd("127", True)
    reconciler = hotel.reconciler(max_detail_requests=4, page_size=7, detail_pace_ms=5)
    hotel.client.login()
    runs_needed = math.ceil(ROOMS / 4)
    for run in range(1, runs_needed + 1):
        hotel.emulator.reset_counters()
        report = reconciler.run()
        counters = reads(hotel)
        assert counters == {"listAccount": math.ceil(ROOMS / 7), "getSIPAccount": 4}, counters
        assert report.listing_requests == math.ceil(ROOMS / 7) and report.detail_requests == 4
        if report.drifts:
            break
    assert found(report) == {("127", DriftKind.DND): ("off", "on")}
    assert run == math.ceil((127 - 100) / 4)


def test_a_pbx_that_cannot_be_read_ends_the_run_with_the_reason(checked_in):
    hotel = checked_in
    hotel.emulator.set_faults(down=True)
    reconciler = hotel.reconciler()
    report = reconciler.run()
    assert report.error and "the PBX" in report.error
    assert reconciler.last_run.error == report.error
    assert reconciler.drift_by_room() == {}


def test_the_pbx_coming_back_brings_a_run(checked_in):
    hotel = checked_in
    reconciler = hotel.reconciler()
    assert reconciler.watch() is None
    hotel.emulator.set_faults(down=True)
    reconciler.run()  # fails, as would the dispatcher's requests
    assert reconciler.watch() is None  # the PBX is away: nothing to do yet
    hotel.emulator.clear_faults()
    hotel.client.system_status()  # the next request that gets through
    report = reconciler.watch()
    assert report is not None and report.reason == "the PBX is back" and report.error is None
    assert reconciler.watch() is None


def test_a_pms_database_swap_brings_a_run_once_no_swap_is_in_progress(checked_in):
    hotel = checked_in
    holding = ["adapter fias is receiving a database swap"]
    reconciler = hotel.reconciler()
    reconciler.hold = lambda: holding[0]
    assert reconciler.watch() is None
    hotel.ledger.set_value(SWAP_SEEN_KEY, "2026-11-27T10:00:00+00:00")
    assert reconciler.watch() is None  # requested, but held back while the swap lasts
    assert reconciler.run_scheduled() is None
    holding[0] = None
    report = reconciler.watch()
    assert report is not None and report.reason == "PMS database swap, scheduled"
    assert reconciler.watch() is None


def test_requests_wait_for_their_time(checked_in):
    now = [1000.0]
    hotel = checked_in
    from pmsbridge.config import ReconcileSettings
    from pmsbridge.reconcile.reconciler import Reconciler

    reconciler = Reconciler(hotel.ledger, hotel.client, hotel.ledger.mapping,
                            ReconcileSettings(detail_pace_ms=0), hotel.pbx, monotonic=lambda: now[0])
    reconciler.request_run("front desk", delay=60)
    assert reconciler.watch() is None
    now[0] += 60
    assert reconciler.watch().reason == "front desk"
    assert reconciler.last_run.reason == "front desk"


def test_the_last_run_survives_a_restart(checked_in):
    hotel = checked_in
    hotel.emulator.state.set_fullname("101", "Front Desk")
    hotel.reconciler(policy={"name": "report"}).run(reason="scheduled")
    restarted = hotel.reconciler()
    last = restarted.last_run
    assert last.reason == "scheduled" and last.extensions == ROOMS and last.drifts == ()
    assert restarted.counts()[DriftKind.NAME] == 1


def test_the_latest_check_is_the_newest_run_of_either_kind(checked_in):
    hotel = checked_in
    service, command_line = hotel.reconciler(), hotel.reconciler()
    first = service.run(reason="scheduled")
    assert service.latest_check is first and first.found == 0
    hotel.emulator.state.vacate_room("101")
    look = service.run(reason="look", dry_run=True)
    assert service.latest_check is look and look.found == 1
    assert service.last_run is first
    # A run recorded elsewhere on the same ledger (the command line) is newer than this process's.
    recorded = command_line.run(reason="command line")
    assert service.last_run.reason == "command line" and service.last_run.found == recorded.found == 1
    assert service.latest_check.reason == "command line"


def test_stale_drift_resolves_when_the_desired_state_changes(checked_in):
    hotel = checked_in
    hotel.emulator.state.set_fullname("101", "Front Desk")
    reconciler = hotel.reconciler(policy={"name": "report"})
    reconciler.run()
    hotel.record(CheckOut(source="test", room="101"))
    hotel.settle()
    wait_for(lambda: not hotel.room("101")["occupied"])
    reconciler.run()
    assert reconciler.drift_by_room() == {}


def test_a_read_that_finds_the_room_right_corrects_the_books_and_resends_unconfirmed_wakeups(checked_in):
    hotel = checked_in
    hotel.dispatcher.stop()
    hotel.record(WakeupSet(source="test", room="104", at=datetime(2030, 1, 2, 7, 0)))
    # The wake-up's answer was lost and it went dead: the books say the PBX lacks it.
    delivery = hotel.ledger.claim_next("w1")
    hotel.ledger.settle("w1", [DeliveryResult(delivery.id, DeliveryState.DEAD, error="lost", status=None)])
    assert hotel.ledger.room_books(["104"])["104"].differs
    hotel.dispatcher.start()
    outcome = hotel.reconciler().repair("104", actor="alice")
    assert outcome.note == "the PBX matches the desired state"
    # A read cannot see wake-ups: the one never confirmed is sent again, the rest is taken in.
    assert [hotel.ledger.delivery(i).operation for i in outcome.deliveries] == ["wakeup"]
    hotel.settle()
    books = hotel.ledger.room_books(["104"])["104"]
    assert not books.differs and books.confirmed == books.target
