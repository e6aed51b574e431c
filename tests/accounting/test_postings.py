"""The postings store: a call charged at most once, state changes that must find the state they
expect, operator actions audited."""

from __future__ import annotations

import datetime as dt

import pytest

from pmsbridge.accounting.models import CallVerdict
from pmsbridge.accounting.postings import CallEntry, Charge, PostingNotChangeable, PostingStore
from tests.ledger.conftest import FrozenClock
from tests.accounting.conftest import audit_entries

WHEN = dt.datetime(2026, 11, 27, 10, 0)


@pytest.fixture
def clock():
    return FrozenClock()


@pytest.fixture
def store(engine, clock):
    return PostingStore(engine, clock=clock)


def call(key: str, verdict: CallVerdict = CallVerdict.CHARGED, room: str = "101") -> CallEntry:
    return CallEntry(key=key, started_at=WHEN, verdict=verdict, raw="{}", extension="1" + room, room=room,
                     dialled="0044", disposition="ANSWERED", billsec=65)


def charge(room: str = "101", amount: int | None = 290, channel: str | None = "fias") -> Charge:
    return Charge(room=room, call_start=WHEN, channel=channel, amount=amount, dialled="0044", duration=65)


def test_a_call_is_stored_and_charged_once_however_often_it_is_read(store):
    first = store.record_calls([(call("u.1"), charge()), (call("u.2", CallVerdict.FREE), None)])
    again = store.record_calls([(call("u.1"), charge()), (call("u.2", CallVerdict.FREE), None),
                                (call("u.3"), charge(amount=10))])
    assert len(first) == 1 and len(again) == 1
    assert store.known_calls(["u.1", "u.2", "u.3", "u.4"]) == {"u.1", "u.2", "u.3"}
    assert [posting.amount for posting in store.postings()] == [10, 290]


def test_a_posting_goes_queued_sent_posted(store, clock):
    [posting_id] = store.record_calls([(call("u.1"), charge())])
    assert store.next_due(["fias"]).id == posting_id
    assert store.next_due(["webhook:pms"]) is None
    assert store.claim(posting_id, sequence=7)
    assert not store.claim(posting_id, sequence=8)  # only once
    assert store.in_flight("fias").sequence == 7
    assert store.find_sent("fias", 7).id == posting_id
    assert store.answered(posting_id, posted=True, answer="OK")
    posting = store.get(posting_id)
    assert (posting.state, posting.answer, posting.attempts, posting.settled_at) == ("posted", "OK", 1, clock.now)
    assert store.in_flight("fias") is None and store.find_sent("fias", 7) is None


def test_an_unanswered_posting_turns_unknown_and_only_an_answer_or_an_operator_moves_it(store, clock):
    posting_id = store.create(charge())
    store.claim(posting_id, sequence=1)
    clock.advance(seconds=29)
    assert store.expire("fias", dt.timedelta(seconds=30)) == []
    clock.advance(seconds=1)
    assert store.expire("fias", dt.timedelta(seconds=30)) == [posting_id]
    assert store.get(posting_id).state == "unknown"
    assert store.next_due(["fias"]) is None  # never queued again by itself
    assert not store.claim(posting_id) and not store.retry_later(posting_id, error="x", at=clock.now)
    assert store.answered(posting_id, posted=False, answer="NG")  # a late answer still settles it
    assert store.get(posting_id).state == "refused"


def test_a_posting_unclaimed_before_it_went_out_is_queued_as_it_was(store):
    posting_id = store.create(charge())
    store.claim(posting_id, sequence=3)
    assert store.unclaim(posting_id, "the link to the PMS was down")
    posting = store.get(posting_id)
    assert (posting.state, posting.attempts, posting.sent_at) == ("queued", 0, None)


def test_a_posting_with_nowhere_to_go_fails_at_once(store):
    posting_id = store.create(charge(channel=None))
    posting = store.get(posting_id)
    assert posting.state == "failed" and "accounting.post_via" in posting.last_error
    assert store.next_due(["fias"]) is None


def test_operators_repost_or_settle_only_what_needs_them_and_are_audited(store, engine, clock):
    sent = store.create(charge())
    store.claim(sent, sequence=1)
    with pytest.raises(PostingNotChangeable, match="is sent; only refused, unknown or failed"):
        store.repost(sent, actor="ada")
    with pytest.raises(PostingNotChangeable, match="there is no posting 99"):
        store.settle(99, actor="ada")
    store.unknown_now(sent, "cut off")
    clock.advance(hours=1)
    reposted = store.repost(sent, actor="ada")
    assert (reposted.state, reposted.reposts, reposted.attempts, reposted.queued_at) == ("queued", 1, 0, clock.now)
    store.claim(sent, sequence=2)
    store.answered(sent, posted=False, answer="NG")
    settled = store.settle(sent, actor="ada", note="booked by hand in the PMS")
    assert (settled.state, settled.settled_by) == ("settled", "ada")
    assert audit_entries(engine) == [
        ("ada", "posting re-post", "101", "posting 1 (290 EUR minor units, was unknown): queued again"),
        ("ada", "posting settle", "101",
         "posting 1 (290 EUR minor units, was refused, answer NG): settled by hand: booked by hand in the PMS"),
    ]


def test_retries_and_failures_move_only_a_sent_posting(store, clock):
    posting_id = store.create(charge(channel="webhook:pms"))
    store.claim(posting_id)
    later = clock.now + dt.timedelta(minutes=1)
    assert store.retry_later(posting_id, error="HTTP 503", at=later)
    assert store.next_due(["webhook:pms"]) is None
    clock.advance(minutes=1)
    assert store.next_due(["webhook:pms"]).id == posting_id
    store.claim(posting_id)
    assert store.fail(posting_id, "gave up")
    assert (store.get(posting_id).state, store.get(posting_id).attempts) == ("failed", 2)


def test_totals_per_room(store):
    ids = [store.create(charge("101", 100)), store.create(charge("101", 50)), store.create(charge("101", None)),
           store.create(charge("102", 70)), store.create(charge("102", 30))]
    for posting_id in ids[:3]:
        store.claim(posting_id)
        store.answered(posting_id, posted=True, answer="OK")
    store.claim(ids[3])
    store.unknown_now(ids[3], "cut off")
    totals = {total.room: total for total in store.totals()}
    assert (totals["101"].posted, totals["101"].open, totals["101"].needs_operator, totals["101"].count) == (
        150, 0, 0, 3)
    assert (totals["102"].posted, totals["102"].open, totals["102"].needs_operator, totals["102"].count) == (
        0, 30, 1, 2)
    assert [total.room for total in store.totals("102")] == ["102"]
    assert store.counts() == {"queued": 1, "sent": 0, "posted": 3, "refused": 0, "unknown": 1, "failed": 0,
                              "settled": 0}


def test_old_call_records_go_unless_a_posting_needs_them(store, clock):
    store.record_calls([(call("u.1"), charge()), (call("u.2", CallVerdict.FREE), None)])
    clock.advance(days=31)
    store.record_calls([(call("u.3", CallVerdict.FREE), None)])
    assert store.prune_calls(dt.timedelta(days=30)) == 1
    assert store.known_calls(["u.1", "u.2", "u.3"]) == {"u.1", "u.3"}
