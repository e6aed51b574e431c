"""Wake-up answers and postings kept in the ledger (answers.py), without a link."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from pmsbridge.accounting.postings import Charge, PostingStore
from pmsbridge.adapters.fias.answers import (
    POSTING_SEQUENCE_KEY,
    WAKEUP_ANSWERS_KEY,
    Postings,
    WakeupAnswers,
)
from pmsbridge.adapters.fias.protocol import AnswerStatus, Record
from pmsbridge.events import CheckIn, Guest, WakeupSet
from pmsbridge.ledger.dispatcher import DeliveryOutcome
from tests.ledger.conftest import FrozenClock, make_ledger

WHEN = dt.datetime(2026, 11, 27, 12, 35, 45)


class Wire:
    """A stand-in for the link's send: records what went out; ``up`` decides whether it can."""

    def __init__(self) -> None:
        self.up = True
        self.sent: list[Record] = []

    def __call__(self, record: Record) -> bool:
        if self.up:
            self.sent.append(record)
        return self.up


@pytest.fixture
def clock():
    return FrozenClock()


@pytest.fixture
def frozen_ledger(engine, clock):
    return make_ledger(engine, clock=clock)


def wakeup_delivery(ledger) -> int:
    ledger.record(CheckIn(source="fias", room="101", guest=Guest(reservation="1", last_name="Doe")), raw="")
    result = ledger.record(WakeupSet(source="fias", room="101", at=dt.datetime(2026, 11, 28, 7, 0)), raw="")
    return result.deliveries[-1]


def finish(ledger, delivery_id: int, delivered: bool) -> None:
    while (claimed := ledger.claim_next("test")) is not None:
        if claimed.id != delivery_id:
            ledger.mark_delivered(claimed.id, "test")
        elif delivered:
            ledger.mark_delivered(claimed.id, "test")
        else:
            ledger.mark_dead(claimed.id, "test", error="refused", status=-1)


# --- wake-up answers --------------------------------------------------------------------------


def test_a_known_answer_goes_out_at_once_echoing_the_request(frozen_ledger):
    wire = Wire()
    WakeupAnswers(frozen_ledger, wire).answer("101", "261128", "0700", AnswerStatus.OK)
    assert wire.sent == [Record("WA", (("RN", "101"), ("DA", "261128"), ("TI", "0700"), ("AS", "OK")))]
    assert json.loads(frozen_ledger.get_value(WAKEUP_ANSWERS_KEY)) == []


def test_answers_wait_for_the_link_and_survive_a_restart(frozen_ledger):
    wire = Wire()
    wire.up = False
    WakeupAnswers(frozen_ledger, wire).answer("101", "261128", "070000", AnswerStatus.UNPROCESSABLE)
    assert wire.sent == []
    wire.up = True
    again = WakeupAnswers(frozen_ledger, wire)
    assert again.flush() == 1
    assert [record.get("AS") for record in wire.sent] == ["UR"]
    assert again.flush() == 0


def test_an_answer_waits_for_its_delivery(frozen_ledger):
    wire, told = Wire(), []
    answers = WakeupAnswers(frozen_ledger, wire, ready=lambda: told.append(True))
    delivery = wakeup_delivery(frozen_ledger)
    answers.expect(delivery, "101", "261128", "070000")
    assert wire.sent == []
    check_in = frozen_ledger.claim_next("test")
    frozen_ledger.mark_delivered(check_in.id, "test")
    answers.on_outcome(DeliveryOutcome(check_in, delivered=True))  # not a delivery answers wait for
    assert wire.sent == [] and told == []
    claimed = frozen_ledger.claim_next("test")
    assert claimed.id == delivery
    answers.on_outcome(DeliveryOutcome(claimed, delivered=False, error="refused"))
    assert wire.sent == [] and told == [True]  # the dispatcher's thread sends nothing itself
    assert answers.flush() == 1
    assert [record.get("AS") for record in wire.sent] == ["UR"]
    answers.on_outcome(DeliveryOutcome(claimed, delivered=True))  # a second outcome answers nothing
    assert answers.flush() == 0 and told == [True]


@pytest.mark.parametrize("delivered, status", [(True, "OK"), (False, "UR")])
def test_outcomes_missed_while_stopped_are_found_in_the_ledger(frozen_ledger, delivered, status):
    wire = Wire()
    delivery = wakeup_delivery(frozen_ledger)
    WakeupAnswers(frozen_ledger, Wire()).expect(delivery, "101", "261128", "070000")
    finish(frozen_ledger, delivery, delivered)
    answers = WakeupAnswers(frozen_ledger, wire)
    answers.sweep()
    answers.flush()
    assert [record.get("AS") for record in wire.sent] == [status]


def test_a_delivery_finished_before_it_was_expected_is_answered(frozen_ledger):
    wire = Wire()
    delivery = wakeup_delivery(frozen_ledger)
    finish(frozen_ledger, delivery, True)
    WakeupAnswers(frozen_ledger, wire).expect(delivery, "101", "261128", "070000")
    assert [record.get("AS") for record in wire.sent] == ["OK"]


# --- postings ---------------------------------------------------------------------------------


def postings_of(ledger, timeout: float = 30) -> Postings:
    return Postings(ledger, PostingStore(ledger.engine, clock=ledger.clock), "fias", timeout, "cp1252")


def test_postings_are_numbered_and_sent_one_at_a_time(frozen_ledger):
    postings, wire = postings_of(frozen_ledger), Wire()
    first = postings.post("101", WHEN, amount=1050)
    second = postings.post("102", WHEN, dialled="0049899", duration=dt.timedelta(seconds=65))
    assert (first, second) == (1, 2)
    assert postings.send_next(wire).id == 1
    assert postings.send_next(wire) is None  # the first waits for its PA
    assert wire.sent == [Record("PS", (("P#", "1"), ("RN", "101"), ("PT", "C"), ("TA", "1050"),
                                       ("DA", "261127"), ("TI", "123545")))]
    settled = postings.on_answer(Record("PA", (("AS", "OK"), ("P#", "1"), ("RN", "101"))))
    assert (settled.state, settled.answer) == ("posted", "OK")
    assert postings.send_next(wire).id == 2
    assert wire.sent[1].get("PT") == "T" and wire.sent[1].get("DU") == "000105"


def test_a_posting_that_cannot_go_out_stays_queued(frozen_ledger):
    postings, wire = postings_of(frozen_ledger), Wire()
    wire.up = False
    number = postings.post("101", WHEN, amount=1)
    assert postings.send_next(wire) is None
    assert postings.get(number).state == "queued"


def test_no_answer_within_the_timeout_is_unknown_and_a_late_answer_still_counts(frozen_ledger, clock):
    postings, wire = postings_of(frozen_ledger), Wire()
    number = postings.post("101", WHEN, amount=1)
    postings.send_next(wire)
    clock.advance(seconds=29)
    assert postings.expire() == []
    clock.advance(seconds=2)
    assert postings.expire() == [number]
    assert postings.get(number).state == "unknown"
    postings.post("102", WHEN, amount=2)
    assert postings.send_next(wire).id == 2  # the unknown one is not resent
    late = postings.on_answer(Record("PA", (("AS", "NG"), ("P#", "1"))))
    assert (late.id, late.state, late.answer) == (number, "refused", "NG")
    assert [record.get("P#") for record in wire.sent] == ["1", "2"]


def test_a_posting_sent_before_a_restart_is_still_awaited(frozen_ledger, clock):
    postings_of(frozen_ledger).post("101", WHEN, amount=1)
    postings_of(frozen_ledger).send_next(Wire())
    again = postings_of(frozen_ledger)
    assert again.send_next(Wire()) is None
    clock.advance(seconds=31)
    [expired] = again.expire()
    assert again.get(expired).state == "unknown"


def test_answers_to_unknown_numbers_are_ignored(frozen_ledger):
    postings = postings_of(frozen_ledger)
    postings.post("101", WHEN, amount=1)
    assert postings.on_answer(Record("PA", (("AS", "OK"), ("P#", "1")))) is None  # not sent yet
    assert postings.on_answer(Record("PA", (("AS", "OK"), ("P#", "77")))) is None
    assert postings.on_answer(Record("PA", (("AS", "OK"), ("P#", "x")))) is None


def test_the_sequence_wraps_after_99999999(frozen_ledger):
    frozen_ledger.set_value(POSTING_SEQUENCE_KEY, "99999998")
    postings, wire = postings_of(frozen_ledger), Wire()
    for amount in (1, 2):
        postings.post("101", WHEN, amount=amount)
        postings.send_next(wire)
        postings.on_answer(Record("PA", (("AS", "OK"), ("P#", wire.sent[-1].get("P#")))))
    assert [record.get("P#") for record in wire.sent] == ["99999999", "1"]


def test_a_reposted_posting_goes_out_under_a_new_number(frozen_ledger, clock):
    postings, wire = postings_of(frozen_ledger), Wire()
    number = postings.post("101", WHEN, amount=500)
    postings.send_next(wire)
    clock.advance(seconds=31)
    postings.expire()
    postings.store.repost(number, actor="ada")
    assert postings.send_next(wire).id == number
    assert [record.get("P#") for record in wire.sent] == ["1", "2"]
    assert postings.on_answer(Record("PA", (("AS", "OK"), ("P#", "2")))).state == "posted"


@pytest.mark.parametrize("room, fields", [
    ("", {"amount": 1}),
    ("101", {}),
    ("101", {"dialled": "0049"}),
    ("101", {"amount": 1, "dialled": "00|49"}),
    ("101", {"amount": 1, "dialled": "☎"}),
])
def test_postings_fias_cannot_carry_are_refused_before_they_are_stored(frozen_ledger, room, fields):
    postings = postings_of(frozen_ledger)
    with pytest.raises(ValueError):
        postings.post(room, WHEN, **fields)
    assert postings.post("101", WHEN, amount=1) == 1


def test_a_zone_aware_time_is_refused(frozen_ledger):
    with pytest.raises(ValueError, match="local time"):
        postings_of(frozen_ledger).post("101", WHEN.replace(tzinfo=dt.UTC), amount=1)


def test_a_queued_posting_fias_cannot_carry_fails_instead_of_blocking_the_queue(frozen_ledger):
    postings, wire = postings_of(frozen_ledger), Wire()
    bad = postings.store.create(Charge(room="10|1", call_start=WHEN, channel="fias", amount=1))
    good = postings.post("101", WHEN, amount=2)
    assert postings.send_next(wire) is None
    assert postings.get(bad).state == "failed" and "FIAS cannot carry" in postings.get(bad).last_error
    assert postings.send_next(wire).id == good
