"""Wake-up answers from the CDR: OK when the wake-up call was answered, BY or NR once its window
passed, nothing for a wake-up the PMS cancelled; and the FIAS answers that wait for them."""

from __future__ import annotations

import datetime as dt

import pytest

from pmsbridge.accounting.models import CallVerdict
from pmsbridge.accounting.postings import CallEntry, PostingStore
from pmsbridge.accounting.wakeup_outcomes import WakeupCallOutcomes, answer_status
from pmsbridge.adapters.fias.answers import WakeupAnswers
from pmsbridge.events import WakeupClear, WakeupSet
from pmsbridge.ledger.dispatcher import DeliveryOutcome
from tests.accounting.conftest import check_in, settings_for
from tests.adapters.fias.test_answers import Wire
from tests.ledger.conftest import ZONE, FrozenClock, make_ledger

RING_AT = dt.datetime(2026, 11, 28, 7, 0)
WINDOW_PASSED = RING_AT + dt.timedelta(minutes=10, seconds=3 * 60)  # window + the collector's read delay


@pytest.fixture
def store(engine):
    return PostingStore(engine)


@pytest.fixture
def outcomes(store):
    return WakeupCallOutcomes(store, settings_for(wakeup_answers="outcome").accounting)


def rang(store: PostingStore, at: dt.datetime, disposition: str, room: str = "101", key: str | None = None) -> None:
    store.record_calls([(CallEntry(key=key or f"w.{at:%H%M%S}.{room}", started_at=at, verdict=CallVerdict.WAKEUP,
                                   raw="{}", extension="1" + room, room=room, disposition=disposition), None)])


def test_dispositions_become_answer_statuses():
    assert [answer_status(value) for value in ("ANSWERED", "busy", "NO ANSWER", "FAILED", None)] == [
        "OK", "BY", "NR", "NR", "NR"]


def test_an_answered_wakeup_call_is_ok_as_soon_as_it_shows(outcomes, store):
    assert outcomes.outcome("101", RING_AT, RING_AT, lambda: True).status is None
    rang(store, RING_AT + dt.timedelta(seconds=20), "ANSWERED")
    assert outcomes.outcome("101", RING_AT, RING_AT + dt.timedelta(minutes=1), lambda: True).status == "OK"


def test_an_unanswered_one_waits_for_a_retry_until_the_window_passed(outcomes, store):
    rang(store, RING_AT, "NO ANSWER")
    assert outcomes.outcome("101", RING_AT, RING_AT + dt.timedelta(minutes=5), lambda: True).status is None
    rang(store, RING_AT + dt.timedelta(minutes=5), "ANSWERED")
    assert outcomes.outcome("101", RING_AT, RING_AT + dt.timedelta(minutes=6), lambda: True).status == "OK"


@pytest.mark.parametrize("calls, status", [([], "NR"), (["NO ANSWER"], "NR"), (["NO ANSWER", "BUSY"], "BY"),
                                           (["BUSY", "NO ANSWER"], "NR")])
def test_after_the_window_the_last_call_decides(outcomes, store, calls, status):
    for minute, disposition in enumerate(calls):
        rang(store, RING_AT + dt.timedelta(minutes=minute), disposition)
    assert outcomes.outcome("101", RING_AT, WINDOW_PASSED, lambda: True).status == status


def test_calls_to_other_rooms_or_other_times_do_not_count(outcomes, store):
    rang(store, RING_AT, "ANSWERED", room="102")
    rang(store, RING_AT - dt.timedelta(minutes=2), "ANSWERED")
    rang(store, RING_AT + dt.timedelta(minutes=11), "ANSWERED")
    assert outcomes.outcome("101", RING_AT, WINDOW_PASSED, lambda: True).status == "NR"


def test_a_cancelled_wakeup_that_never_rang_is_answered_nothing(outcomes):
    outcome = outcomes.outcome("101", RING_AT, WINDOW_PASSED, lambda: False)
    assert outcome.cancelled and outcome.status is None


# --- the FIAS answers in outcome mode ---------------------------------------------------------


@pytest.fixture
def clock():
    return FrozenClock(dt.datetime(2026, 11, 28, 5, 50, tzinfo=dt.UTC))  # 06:50 in Berlin


@pytest.fixture
def ledger(engine, clock):
    return make_ledger(engine, clock=clock)


def local(clock) -> dt.datetime:
    return clock().astimezone(ZONE).replace(tzinfo=None)


def answers_for(ledger, outcomes, wire: Wire, clock) -> WakeupAnswers:
    return WakeupAnswers(ledger, wire, outcomes=outcomes, local_now=lambda: local(clock))


def wakeup_delivery(ledger) -> int:
    check_in(ledger, "101")
    return ledger.record(WakeupSet(source="fias", room="101", at=RING_AT), raw="").deliveries[-1]


def still_ordered(ledger):
    def check(room: str, at: dt.datetime) -> bool:
        return any(wakeup.at == at for wakeup in ledger.room_states([room])[room].wakeups)

    return check


def deliver(ledger, delivery_id: int) -> DeliveryOutcome:
    while (claimed := ledger.claim_next("test")) is not None:
        ledger.mark_delivered(claimed.id, "test")
        if claimed.id == delivery_id:
            return DeliveryOutcome(claimed, delivered=True)
    raise AssertionError(f"delivery {delivery_id} was not claimable")


def test_the_acceptance_is_not_answered_the_call_is(ledger, outcomes, store, clock):
    wire = Wire()
    answers = answers_for(ledger, outcomes, wire, clock)
    delivery = wakeup_delivery(ledger)
    answers.expect(delivery, "101", "261128", "070000", ring_at=RING_AT)
    answers.on_outcome(deliver(ledger, delivery))
    answers.flush()
    assert wire.sent == []  # the PBX took the order: no answer yet
    assert answers.check_calls(still_ordered(ledger)) == 0
    rang(store, RING_AT + dt.timedelta(seconds=10), "ANSWERED")
    clock.advance(minutes=11)
    # A restart in between changes nothing: the answer owed is in the ledger.
    again = answers_for(ledger, outcomes, wire, clock)
    assert again.check_calls(still_ordered(ledger)) == 1
    assert again.flush() == 1
    assert [(record.get("RN"), record.get("DA"), record.get("TI"), record.get("AS")) for record in wire.sent] == [
        ("101", "261128", "070000", "OK")]


def test_a_wakeup_the_pbx_refused_is_answered_at_once(ledger, outcomes, clock):
    wire = Wire()
    answers = answers_for(ledger, outcomes, wire, clock)
    delivery = wakeup_delivery(ledger)
    answers.expect(delivery, "101", "261128", "070000", ring_at=RING_AT)
    claimed = ledger.claim_next("test")
    while claimed.id != delivery:
        ledger.mark_delivered(claimed.id, "test")
        claimed = ledger.claim_next("test")
    ledger.mark_dead(claimed.id, "test", error="refused", status=-1)
    answers.on_outcome(DeliveryOutcome(claimed, delivered=False))
    answers.flush()
    assert [record.get("AS") for record in wire.sent] == ["UR"]


def test_no_call_in_the_window_is_nr_and_a_cancelled_wakeup_gets_nothing(ledger, outcomes, clock):
    wire = Wire()
    answers = answers_for(ledger, outcomes, wire, clock)
    check_in(ledger, "101")
    ledger.record(WakeupSet(source="fias", room="101", at=RING_AT), raw="")
    answers.answer("101", "261128", "070000", "OK", ring_at=RING_AT)
    answers.answer("101", "261128", "073000", "OK", ring_at=RING_AT + dt.timedelta(minutes=30))
    ledger.record(WakeupClear(source="fias", room="101", at=RING_AT + dt.timedelta(minutes=30)), raw="")
    assert answers.flush() == 0
    clock.advance(hours=2)
    assert answers.check_calls(still_ordered(ledger)) == 2
    answers.flush()
    assert [(record.get("TI"), record.get("AS")) for record in wire.sent] == [("070000", "NR")]
