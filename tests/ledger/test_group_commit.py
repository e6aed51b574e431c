"""Group commit: events handed in together or during another commit share a transaction,
a group is all or nothing, and one caller's events are written in order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from pmsbridge.ledger.group_commit import GroupCommit, NotWritten
from pmsbridge.ledger.store import Incoming, RecordsNotWritten
from tests.ledger.conftest import make_ledger
from tests.ledger.events import check_in, dnd


class Writer:
    """A write_group that notes each group and can be held in its first call."""

    def __init__(self, *, refuse: str | None = None, hold: bool = False):
        self.groups: list[list[str]] = []
        self.refuse = refuse
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, items: list[str]) -> list[str]:
        self.groups.append(list(items))
        self.entered.set()
        self.release.wait(10)
        if self.refuse in items:
            raise ValueError(f"{self.refuse} refused")
        return [f"wrote {item}" for item in items]


def test_an_item_alone_is_written_at_once():
    writer = Writer()
    assert GroupCommit(writer, limit=8).submit(["a"]) == ["wrote a"]
    assert writer.groups == [["a"]]


def test_items_handed_in_during_a_commit_go_together_in_the_next():
    writer = Writer(hold=True)
    group = GroupCommit(writer, limit=8)
    results = {}

    def submit(item: str) -> None:
        results[item] = group.submit([item])

    first = threading.Thread(target=submit, args=("a",))
    first.start()
    assert writer.entered.wait(10)
    later = [threading.Thread(target=submit, args=(item,)) for item in ("b", "c")]
    for thread in later:
        thread.start()
    deadline = time.monotonic() + 10
    while len(group._queue) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    writer.release.set()
    for thread in (first, *later):
        thread.join(10)
    assert writer.groups[0] == ["a"] and sorted(writer.groups[1]) == ["b", "c"] and len(writer.groups) == 2
    assert results == {"a": ["wrote a"], "b": ["wrote b"], "c": ["wrote c"]}


def test_groups_hold_at_most_the_limit_in_order():
    writer = Writer()
    assert GroupCommit(writer, limit=2).submit(["a", "b", "c", "d", "e"]) == [f"wrote {x}" for x in "abcde"]
    assert writer.groups == [["a", "b"], ["c", "d"], ["e"]]


def test_a_failed_group_is_written_item_by_item_and_stops_at_the_failure():
    writer = Writer(refuse="b")
    a, b, c = GroupCommit(writer, limit=8).submit(["a", "b", "c"])
    assert a == "wrote a" and isinstance(b, ValueError) and isinstance(c, NotWritten)
    # The group as a whole, then each item alone up to the one refused; c is never written.
    assert writer.groups == [["a", "b", "c"], ["a"], ["b"]]


def test_one_callers_failure_does_not_fail_another_callers_item_in_the_same_group():
    writer = Writer(refuse="bad", hold=True)
    group = GroupCommit(writer, limit=8)
    results = {}

    def submit(item: str) -> None:
        results[item] = group.submit([item])

    threads = [threading.Thread(target=submit, args=(item,)) for item in ("first", "bad", "good")]
    threads[0].start()
    assert writer.entered.wait(10)
    for thread in threads[1:]:
        thread.start()
    deadline = time.monotonic() + 10
    while len(group._queue) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    writer.release.set()
    for thread in threads:
        thread.join(10)
    assert results["first"] == ["wrote first"] and results["good"] == ["wrote good"]
    assert isinstance(results["bad"][0], ValueError)


def test_record_many_records_each_event_as_record_does(ledger):
    first = ledger.record(check_in("103", "Poe", key="k-103"), raw="GI|RN103|")
    results = ledger.record_many([
        Incoming(check_in("101", "Doe"), "GI|RN101|"),
        Incoming(dnd("101"), "RE|RN101|DN1|"),
        Incoming(check_in("102", "Roe", key="k-102"), "GI|RN102|"),
        Incoming(check_in("103", "Poe", key="k-103"), "GI|RN103|"),  # a repeat
        Incoming(check_in("102", "Roe", key="k-102"), "GI|RN102|"),  # a repeat within the batch
    ])
    assert [result.duplicate for result in results] == [False, False, False, True, True]
    assert results[3].event_id == first.event_id and results[4].event_id == results[2].event_id
    assert ledger.event(results[1].event_id).raw == "RE|RN101|DN1|"
    states = ledger.room_states()
    assert states["101"].occupied and states["101"].dnd and states["102"].occupied
    assert [(d.room, d.operation) for d in reversed(ledger.deliveries())] == [
        ("103", "checkin"), ("101", "checkin"), ("101", "dnd"), ("102", "checkin")]


def test_an_event_the_database_refuses_fails_alone_and_stops_the_rest_of_its_batch(ledger, monkeypatch):
    record_in = ledger._record_in

    def refuse_102(tx, event, *args):
        if event.room == "102":
            raise ValueError("refused by the database")
        return record_in(tx, event, *args)

    monkeypatch.setattr(ledger, "_record_in", refuse_102)
    with pytest.raises(RecordsNotWritten) as caught:
        ledger.record_many([Incoming(check_in(room, "Doe"), room) for room in ("101", "102", "103")])
    assert [result is not None for result in caught.value.results] == [True, False, False]
    assert isinstance(caught.value.__cause__, ValueError)
    # The group's transaction was undone whole: 101 is there once, from its own transaction.
    assert [event.room for event in ledger.events()] == ["101"]
    assert sorted(ledger.room_states()) == ["101"] and len(ledger.deliveries()) == 1
    monkeypatch.undo()
    ledger.record_many([Incoming(check_in(room, "Doe"), room) for room in ("102", "103")])
    assert sorted(ledger.room_states()) == ["101", "102", "103"]


def test_records_from_many_threads_are_all_committed_in_each_threads_order(engine):
    ledger = make_ledger(engine)
    results: dict[int, list] = {}

    def send(number: int) -> None:
        results[number] = [ledger.record(check_in(f"{number}{n:02d}", "Doe"), raw=f"{number}-{n}")
                           for n in range(10)]

    threads = [threading.Thread(target=send, args=(number,)) for number in range(1, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(ledger.events(limit=1000)) == 60 and len(ledger.room_states()) == 60
    for sent in results.values():
        ids = [result.event_id for result in sent]
        assert ids == sorted(ids) and all(len(result.deliveries) == 1 for result in sent)


RECORDER = """
import sys
from zoneinfo import ZoneInfo
from pmsbridge.config import RoomsSettings
from pmsbridge.ledger.database import create_ledger_engine
from pmsbridge.ledger.store import Incoming, Ledger
from pmsbridge.mapping import RoomMapping
from pmsbridge.rooms import RoomPolicy
from tests.ledger.events import check_in

rooms = RoomsSettings()
ledger = Ledger(create_ledger_engine(sys.argv[1]), policy=RoomPolicy.from_settings(rooms),
                mapping=RoomMapping.from_settings(rooms), zone=ZoneInfo("Europe/Berlin"))
print("ready", flush=True)
while True:
    for start in range(1000, 9000, 100):
        ledger.record_many([Incoming(check_in(str(room), "Doe"), str(room)) for room in range(start, start + 100)])
    sys.exit(0)
"""


def test_a_kill_during_group_commits_leaves_a_prefix_of_whole_events(engine, database_url):
    process = subprocess.Popen([sys.executable, "-c", RECORDER, database_url], stdout=subprocess.PIPE, text=True,
                               cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert process.stdout.readline().strip() == "ready"
    ledger = make_ledger(engine)
    deadline = time.monotonic() + 30
    while len(ledger.events(limit=1)) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    events = sorted(ledger.events(limit=10_000), key=lambda event: event.id)
    rooms = [int(event.room) for event in events]
    assert rooms == list(range(1000, 1000 + len(rooms))) and 0 < len(rooms) < 8000
    # Every event recorded is whole: its room state and its delivery are there too.
    assert len(ledger.room_states()) == len(rooms)
    assert sorted(int(delivery.room) for delivery in ledger.deliveries(limit=10_000)) == rooms
