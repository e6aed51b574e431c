"""Ledger.settle: outcomes, returned claims and batch claims in one transaction, the room guard kept."""

from __future__ import annotations

from datetime import timedelta

from pmsbridge.ledger.models import DeliveryState
from pmsbridge.ledger.store import DeliveryResult
from tests.ledger.conftest import FrozenClock, make_ledger
from tests.ledger.events import check_in, dnd, move


def delivered(delivery_id: int) -> DeliveryResult:
    return DeliveryResult(delivery_id, DeliveryState.DELIVERED, request="<doc/>")


def states(ledger) -> dict[int, str]:
    return {row.id: row.state for row in ledger.deliveries()}


def test_a_batch_claim_takes_the_oldest_head_of_each_room(ledger):
    for event in (check_in("101", "Doe"), dnd("101"), check_in("102", "Roe"), check_in("103", "Poe")):
        ledger.record(event, raw="")
    claimed = ledger.settle("w1", claim=10).claimed
    assert [(d.room, d.operation) for d in claimed] == [("101", "checkin"), ("102", "checkin"), ("103", "checkin")]
    assert all(d.attempts == 1 and d.created_at.tzinfo is not None for d in claimed)
    assert ledger.settle("w1", claim=10).claimed == ()  # 101's DND waits for its check-in


def test_a_batch_claim_is_bounded(ledger):
    for room in ("101", "102", "103"):
        ledger.record(check_in(room, "Doe"), raw="")
    assert [d.room for d in ledger.settle("w1", claim=2).claimed] == ["101", "102"]
    assert [d.room for d in ledger.settle("w1", claim=2).claimed] == ["103"]


def test_a_batch_claim_leaves_the_rooms_of_a_move_to_it(ledger):
    ledger.record(check_in("101", "Doe"), raw="")
    [first] = ledger.settle("w1", claim=10).claimed
    ledger.settle("w1", [delivered(first.id)])
    ledger.record(move("101", "205"), raw="")
    ledger.record(check_in("205", "Later"), raw="")
    ledger.record(check_in("301", "Other"), raw="")
    claimed = ledger.settle("w1", claim=10).claimed
    assert ("301", "checkin") in {(d.room, d.operation) for d in claimed}
    assert not any(d.fields.get("lastname") == "Later" for d in claimed)


def test_outcomes_free_the_rooms_for_the_claim_of_the_same_call(ledger):
    ledger.record(check_in("101", "Doe"), raw="")
    ledger.record(dnd("101"), raw="")
    [first] = ledger.settle("w1", claim=10).claimed
    settlement = ledger.settle("w1", [delivered(first.id)], claim=10)
    assert settlement.recorded == (True,)
    assert [(d.room, d.operation) for d in settlement.claimed] == [("101", "dnd")]
    assert states(ledger)[first.id] == DeliveryState.DELIVERED


def test_every_kind_of_outcome_is_recorded(engine):
    clock = FrozenClock()
    ledger = make_ledger(engine, clock=clock)
    for room in ("101", "102", "103"):
        ledger.record(check_in(room, "Doe"), raw="")
    one, two, three = ledger.settle("w1", claim=3).claimed
    again = clock.now + timedelta(seconds=30)
    results = [
        DeliveryResult(one.id, DeliveryState.DELIVERED, request="<a/>", error="a note"),
        DeliveryResult(two.id, DeliveryState.RETRYING, request="<b/>", error="PBX busy", status=-45,
                       next_attempt_at=again, uncertain=True),
        DeliveryResult(three.id, DeliveryState.DEAD, request="<c/>", error="refused", status=-1),
    ]
    assert ledger.settle("w1", results).recorded == (True, True, True)
    rows = {row.id: row for row in ledger.deliveries()}
    assert (rows[one.id].state, rows[one.id].last_error, rows[one.id].delivered_at) == (
        DeliveryState.DELIVERED, "a note", clock.now)
    assert (rows[two.id].state, rows[two.id].next_attempt_at, rows[two.id].uncertain, rows[two.id].last_status) == (
        DeliveryState.RETRYING, again, True, -45)
    assert (rows[three.id].state, rows[three.id].request) == (DeliveryState.DEAD, "<c/>")
    assert "is dead: refused" in {row.room: row for row in ledger.room_rows()}["103"].attention
    assert ledger.next_due() == again


def test_outcomes_of_deliveries_the_worker_does_not_hold_are_refused(ledger):
    ledger.record(check_in("101", "Doe"), raw="")
    [claimed] = ledger.settle("w1", claim=1).claimed
    assert ledger.settle("w2", [delivered(claimed.id)]).recorded == (False,)
    assert states(ledger)[claimed.id] == DeliveryState.IN_FLIGHT
    assert ledger.settle("w1", [delivered(claimed.id)]).recorded == (True,)
    assert ledger.settle("w1", [delivered(claimed.id)]).recorded == (False,)  # recorded once only


def test_released_claims_go_back_as_they_were(engine):
    clock = FrozenClock()
    ledger = make_ledger(engine, clock=clock)
    ledger.record(check_in("101", "Doe"), raw="")
    ledger.record(check_in("102", "Roe"), raw="")
    first, second = ledger.settle("w1", claim=2).claimed
    ledger.settle("w1", [DeliveryResult(first.id, DeliveryState.RETRYING, error="PBX down",
                                        next_attempt_at=clock.now)], release=[second])
    retried = ledger.settle("w1", claim=2).claimed
    ledger.settle("w1", release=retried)
    rows = {row.id: row for row in ledger.deliveries()}
    assert (rows[first.id].state, rows[first.id].attempts) == (DeliveryState.RETRYING, 1)
    assert (rows[second.id].state, rows[second.id].attempts) == (DeliveryState.PENDING, 0)
    assert [d.id for d in ledger.settle("w2", claim=2).claimed] == [first.id, second.id]


def test_an_old_retry_does_not_hide_the_newer_deliveries(engine):
    clock = FrozenClock()
    ledger = make_ledger(engine, clock=clock)
    ledger.record(check_in("101", "Doe"), raw="")
    [old] = ledger.settle("w1", claim=1).claimed
    ledger.settle("w1", [DeliveryResult(old.id, DeliveryState.RETRYING, error="PBX busy",
                                        next_attempt_at=clock.now + timedelta(hours=1))])
    for number in range(20):
        ledger.record(check_in(str(200 + number), "Guest"), raw="")
    claimed = ledger.settle("w1", claim=5).claimed
    assert [d.room for d in claimed] == ["200", "201", "202", "203", "204"]
    clock.advance(hours=2)
    assert ledger.settle("w1", claim=1).claimed[0].id == old.id


def test_nothing_to_do_touches_nothing(ledger):
    settlement = ledger.settle("w1")
    assert settlement.recorded == () and settlement.claimed == ()
