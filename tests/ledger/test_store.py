"""The ledger store: atomic recording, idempotency, per-room claims, replay and pruning."""

from __future__ import annotations

import json
import threading

import pytest
from datetime import datetime, timedelta

from pydantic import ValidationError

from pmsbridge.events import CheckIn
from pmsbridge.ledger.models import DeliveryState, EventStatus
from pmsbridge.ledger.store import DeliveryResult
from tests.ledger.conftest import FrozenClock, make_ledger
from tests.ledger.events import check_in, check_out, dnd, move


def claim_all(ledger, worker="w1"):
    claimed = []
    while (delivery := ledger.claim_next(worker)) is not None:
        claimed.append(delivery)
    return claimed


def test_check_in_is_stored_with_its_delivery(ledger):
    result = ledger.record(check_in("101", "Doe"), raw="GI|RN101|")
    assert result.status is EventStatus.APPLIED and len(result.deliveries) == 1
    event = ledger.event(result.event_id)
    assert event.raw == "GI|RN101|" and event.kind == "check_in" and event.room == "101"
    assert ledger.parsed_event(result.event_id).guest.last_name == "Doe"
    [delivery] = ledger.deliveries()
    assert (delivery.operation, delivery.room, delivery.state) == ("checkin", "101", DeliveryState.PENDING)
    assert json.loads(delivery.fields)["lastname"] == "Doe"
    assert ledger.room_states()["101"].occupied


def test_repeat_of_a_source_key_changes_nothing(ledger):
    first = ledger.record(check_in("101", "Doe", key="evt-1"), raw="{}")
    again = ledger.record(check_in("101", "Doe", key="evt-1"), raw="{}")
    assert again.duplicate and again.event_id == first.event_id
    assert len(ledger.deliveries()) == 1 and len(ledger.events()) == 1


def test_concurrent_repeats_store_one_event(engine):
    ledgers = [make_ledger(engine) for _ in range(4)]
    results = []

    def send(ledger):
        results.append(ledger.record(check_in("102", "Roe", key="same"), raw="{}"))

    threads = [threading.Thread(target=send, args=(ledger,)) for ledger in ledgers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(not r.duplicate for r in results) == 1
    assert len(ledgers[0].events()) == 1 and len(ledgers[0].deliveries()) == 1


def test_event_for_an_unmapped_room_is_kept_and_flagged(engine):
    ledger = make_ledger(engine, overrides={"999": ""})
    result = ledger.record(check_in("999", "Nobody"), raw="GI|RN999|")
    assert result.status is EventStatus.NEEDS_ATTENTION
    assert "room 999 has no extension" in ledger.event(result.event_id).problem
    assert "no extension" in {row.room: row for row in ledger.room_rows()}["999"].attention
    assert len(ledger.deliveries()) == 1  # kept, so that a replay after fixing the mapping sends it


def test_rejected_and_invalid_input_is_kept_with_the_reason(ledger):
    event_id = ledger.record_rejected("fias", "GX|garbage", "unknown record type GX")
    row = ledger.event(event_id)
    assert (row.status, row.raw, row.problem) == (EventStatus.REJECTED, "GX|garbage", "unknown record type GX")
    try:
        CheckIn(source="fias", room="", guest={})
    except ValidationError as err:
        invalid_id = ledger.record_invalid("fias", "GI|RN|", err)
    assert "room" in ledger.event(invalid_id).problem


def test_a_room_is_claimed_in_order_and_one_at_a_time(ledger):
    ledger.record(check_in("101", "Doe"), raw="")
    ledger.record(dnd("101"), raw="")
    ledger.record(check_in("102", "Roe"), raw="")
    first = ledger.claim_next("w1")
    second = ledger.claim_next("w1")
    assert (first.room, first.operation) == ("101", "checkin")
    assert (second.room, second.operation) == ("102", "checkin")  # 101's DND waits for its check-in
    assert ledger.claim_next("w1") is None
    ledger.mark_delivered(first.id, "w1")
    third = ledger.claim_next("w1")
    assert (third.room, third.operation) == ("101", "dnd")


def test_a_move_holds_both_rooms(ledger):
    ledger.record(check_in("101", "Doe"), raw="")
    for delivery in claim_all(ledger):
        ledger.mark_delivered(delivery.id, "w1")
    ledger.record(move("101", "205"), raw="")
    ledger.record(check_in("205", "Later"), raw="")
    claimed = claim_all(ledger)
    rooms = {(d.operation, d.room) for d in claimed}
    # the move's own operations for 101 and 205 come first; the later check-in of 205 waits
    assert ("checkout", "101") in rooms
    assert not any(d.room == "205" and d.fields.get("lastname") == "Later" for d in claimed)


def test_a_dead_check_in_skips_the_rooms_later_operations_and_the_next_event_sends_it_whole(ledger):
    ledger.record(check_in("101", "Doe"), raw="")
    ledger.record(dnd("101"), raw="")
    first = ledger.claim_next("w1")
    ledger.mark_dead(first.id, "w1", error="refused", status=-1)
    # the DND was worked out for a checked-in extension: it is not sent to a vacant one
    assert ledger.claim_next("w1") is None
    assert [d.state for d in ledger.deliveries(room="101")] == ["skipped", "dead"]
    assert "is dead" in {row.room: row for row in ledger.room_rows()}["101"].attention
    books = ledger.room_books(["101"])["101"]
    assert not books.expected.checked_in and books.differs

    # the room's next event (a real guest arriving) sends the complete check-in, then the DND
    ledger.record(check_in("101", "Roe"), raw="")
    sent = []
    while (delivery := ledger.claim_next("w1")) is not None:
        ledger.settle("w1", [DeliveryResult(delivery.id, DeliveryState.DELIVERED, applied=delivery.pbx_operation)])
        sent.append(delivery)
    assert [d.operation for d in sent] == ["checkin", "dnd"]
    assert sent[0].fields["lastname"] == "Doe"  # the displayed guest is still the first arrived
    books = ledger.room_books(["101"])["101"]
    assert books.confirmed.checked_in and books.confirmed.dnd and not books.differs


def test_replay_of_a_dead_check_in_queues_what_the_room_still_lacks_behind_it(ledger):
    ledger.record(check_in("101", "Doe"), raw="")
    ledger.record(dnd("101"), raw="")
    first = ledger.claim_next("w1")
    ledger.mark_dead(first.id, "w1", error="refused", status=-1)
    assert ledger.replay(ids=[first.id]) == [first.id]
    queued = []
    while (delivery := ledger.claim_next("w1")) is not None:
        ledger.mark_delivered(delivery.id, "w1")
        queued.append(delivery)
    assert [(d.id == first.id, d.operation) for d in queued] == [(True, "checkin"), (False, "dnd")]
    assert ledger.room_rows()[0].attention is None


def test_dismissing_a_dead_delivery_keeps_what_the_pbx_confirmed_and_is_audited(ledger):
    ledger.record(check_in("101", "Doe"), raw="")
    first = ledger.claim_next("w1")
    ledger.mark_dead(first.id, "w1", error="refused", status=-1)
    with pytest.raises(ValueError, match="note"):
        ledger.dismiss([first.id], note=" ")
    assert ledger.dismiss([first.id], note="guest left before the PBX was fixed", actor="anna") == [first.id]
    delivery = ledger.delivery(first.id)
    assert delivery.state == "dismissed" and "anna" in delivery.note
    assert ledger.room_rows()[0].attention is None
    assert ledger.resend_room("101", actor="anna") != []  # what the room lacks can still be sent on purpose


def test_a_phantom_room_can_be_removed_once_nothing_is_on_its_way(ledger):
    ledger.record(check_in("999", "Ghost"), raw="")
    assert ledger.remove_room("999", actor="admin") is False  # its check-in is still pending
    first = ledger.claim_next("w1")
    ledger.mark_dead(first.id, "w1", error="no such extension", status=-1)
    assert ledger.remove_room("999", actor="admin") is True
    assert "999" not in {row.room for row in ledger.room_rows()}
    assert ledger.delivery(first.id).state == "dismissed"


def test_retrying_delivery_waits_for_its_time_and_holds_its_room(engine):
    clock = FrozenClock()
    ledger = make_ledger(engine, clock=clock)
    ledger.record(check_in("101", "Doe"), raw="")
    ledger.record(dnd("101"), raw="")
    first = ledger.claim_next("w1")
    ledger.mark_retry(first.id, "w1", error="PBX down", status=None, at=clock.now + timedelta(seconds=30))
    assert ledger.claim_next("w1") is None
    assert ledger.next_due() == clock.now + timedelta(seconds=30)
    clock.advance(seconds=31)
    again = ledger.claim_next("w1")
    assert again.id == first.id and again.attempts == 2


def test_concurrent_workers_never_claim_the_same_delivery(engine):
    ledger = make_ledger(engine)
    for number in range(60):
        ledger.record(check_in(str(100 + number), f"Guest{number}"), raw="")
    workers = [make_ledger(engine) for _ in range(4)]  # separate instances, as separate processes would be
    claimed: list[tuple[str, int]] = []
    lock = threading.Lock()

    def work(name, worker_ledger):
        while (delivery := worker_ledger.claim_next(name)) is not None:
            with lock:
                claimed.append((name, delivery.id))
            worker_ledger.mark_delivered(delivery.id, name)

    threads = [threading.Thread(target=work, args=(f"w{i}", w)) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [delivery_id for _, delivery_id in claimed]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 60
    assert ledger.stats().depth == 0


def test_only_the_claiming_worker_can_finish_a_delivery(ledger):
    ledger.record(check_in("101", "Doe"), raw="")
    delivery = ledger.claim_next("w1")
    assert not ledger.mark_delivered(delivery.id, "w2")
    assert ledger.mark_delivered(delivery.id, "w1")


def test_interrupted_deliveries_are_released_as_uncertain(ledger):
    ledger.record(check_in("101", "Doe"), raw="")
    delivery = ledger.claim_next("dead-host:1:x")
    released = ledger.release_interrupted(lambda claimed_by, _at: claimed_by == "dead-host:1:x")
    assert released == [delivery.id]
    again = ledger.claim_next("w2")
    assert again.id == delivery.id and again.uncertain


def test_replay_of_dead_deliveries(ledger):
    for room in ("101", "102"):
        ledger.record(check_in(room, "Doe"), raw="")
    for delivery in claim_all(ledger):
        ledger.mark_dead(delivery.id, "w1", error="refused", status=-1)
    assert ledger.replay(room="102") == [ledger.deliveries(room="102")[0].id]
    assert ledger.claim_next("w1").room == "102"
    assert len(ledger.replay(all_dead=True)) == 1
    assert ledger.stats().dead == 0
    assert not ledger.room_rows()[0].attention


def test_prune_removes_old_delivered_rows_only(engine):
    clock = FrozenClock()
    ledger = make_ledger(engine, clock=clock)
    ledger.record(check_in("101", "Doe"), raw="")
    ledger.record(check_in("102", "Roe"), raw="")
    done, dead = claim_all(ledger)
    ledger.mark_delivered(done.id, "w1")
    ledger.mark_dead(dead.id, "w1", error="refused", status=-1)
    clock.advance(days=31)
    assert ledger.prune(timedelta(days=30)) == 1
    assert [d.id for d in ledger.deliveries()] == [dead.id]


def test_stats_show_depth_and_age(engine):
    clock = FrozenClock()
    ledger = make_ledger(engine, clock=clock)
    ledger.record(check_in("101", "Doe"), raw="")
    ledger.record(check_out("101"), raw="")
    stats = ledger.stats()
    assert stats.depth == 2 and stats.dead == 0 and stats.oldest_pending_age is not None


def test_values_survive(ledger):
    assert ledger.get_value("fias.sequence") is None
    ledger.set_value("fias.sequence", "41")
    ledger.set_value("fias.sequence", "42")
    assert ledger.get_value("fias.sequence") == "42"


def test_audit_entries(ledger):
    ledger.audit("anna", "check_in", room="101", detail="front desk")
    ledger.replay(all_dead=True) if ledger.stats().dead else None
    from sqlmodel import Session, select

    from pmsbridge.ledger.models import AuditEntry

    with Session(ledger.engine) as session:
        entries = session.exec(select(AuditEntry)).all()
    assert [(e.actor, e.action, e.room) for e in entries] == [("anna", "check_in", "101")]


def test_times_are_stored_in_utc(ledger):
    ledger.record(check_in("101", "Doe"), raw="")
    assert ledger.deliveries()[0].created_at.tzinfo is not None
    assert abs(ledger.deliveries()[0].created_at - datetime.now(ledger.deliveries()[0].created_at.tzinfo)) < \
        timedelta(minutes=5)


def test_a_rejection_does_not_swallow_a_corrected_retry(ledger):
    ledger.record_rejected("webhook:pms", '{"bad": 1}', "cannot map the body")
    result = ledger.record(check_in("101", "Doe", key="evt-7"), raw="{}")
    assert not result.duplicate and result.status is EventStatus.APPLIED


def test_concurrent_writers_of_one_value_never_collide(engine):
    ledgers = [make_ledger(engine) for _ in range(4)]
    errors = []

    def write(ledger, number):
        try:
            for step in range(20):
                ledger.set_value("shared.cursor", f"{number}-{step}")
        except Exception as err:  # the test reports any, not only the expected one
            errors.append(err)

    threads = [threading.Thread(target=write, args=(ledger, n)) for n, ledger in enumerate(ledgers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert ledgers[0].get_value("shared.cursor").endswith("-19")


def test_a_notification_is_kept_once_until_it_is_settled(ledger):
    first = ledger.record_notification("apaleo", '{"id": "w1"}', source_key="w1")
    again = ledger.record_notification("apaleo", '{"id": "w1"}', source_key="w1")
    other = ledger.record_notification("mews", '{"Events": []}')
    assert first.status == EventStatus.RECEIVED and again.duplicate and again.event_id == first.event_id
    assert [row.id for row in ledger.notifications("apaleo")] == [first.event_id]
    ledger.settle_notification(first.event_id, problem="fetched R1: 1 events recorded")
    ledger.settle_notification(first.event_id, status=EventStatus.REJECTED, problem="too late")
    assert ledger.notifications("apaleo") == [] and [row.id for row in ledger.notifications("mews")] == [other.event_id]
    settled = ledger.event(first.event_id)
    assert (settled.status, settled.problem, settled.kind) == ("fetched", "fetched R1: 1 events recorded", None)
    assert ledger.room_states() == {}
