"""The drift store: one unresolved row per room and kind, moving through open, repairing,
repair_failed and resolved."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pmsbridge.reconcile.drift import Finding, RoomComparison
from pmsbridge.reconcile.models import DriftKind, DriftState
from pmsbridge.reconcile.store import DriftStore
from tests.ledger.conftest import FrozenClock


@pytest.fixture
def clock():
    return FrozenClock()


@pytest.fixture
def store(engine, clock):
    return DriftStore(engine, clock=clock)


def seen(room: str, *kinds: DriftKind, judged=frozenset(DriftKind), actual: str = "x") -> RoomComparison:
    findings = tuple(Finding(room, f"1{room}", kind, "wanted", actual) for kind in kinds)
    return RoomComparison(room, f"1{room}", findings, frozenset(judged))


def test_a_drift_seen_again_keeps_its_first_sighting(store, clock):
    first = store.observe([seen("101", DriftKind.NAME)], max_repair_attempts=1)
    clock.advance(minutes=15)
    again = store.observe([seen("101", DriftKind.NAME, actual="y")], max_repair_attempts=1)
    assert again[0].id == first[0].id
    assert again[0].first_seen == first[0].first_seen and again[0].last_seen == clock.now
    assert again[0].actual == "y" and again[0].state == DriftState.OPEN


def test_repairing_then_repair_failed_when_it_persists(store):
    drift = store.observe([seen("101", DriftKind.DND)], max_repair_attempts=2)[0]
    store.mark_repairing([drift.id])
    assert store.unresolved()[0].state == DriftState.REPAIRING
    assert store.observe([seen("101", DriftKind.DND)], max_repair_attempts=2)[0].state == DriftState.OPEN
    store.mark_repairing([drift.id])
    failed = store.observe([seen("101", DriftKind.DND)], max_repair_attempts=2)[0]
    assert failed.state == DriftState.REPAIR_FAILED and failed.repair_attempts == 2


def test_judged_and_not_found_is_resolved_not_judged_is_kept(store):
    store.observe([seen("101", DriftKind.NAME, DriftKind.DND)], max_repair_attempts=1)
    store.observe([seen("101", judged={DriftKind.NAME})], max_repair_attempts=1)
    assert [drift.kind for drift in store.unresolved()] == [DriftKind.DND]
    store.observe([seen("101")], max_repair_attempts=1)
    assert store.unresolved() == []


def test_a_resolved_drift_that_comes_back_is_a_new_one(store, clock):
    first = store.observe([seen("101", DriftKind.NAME)], max_repair_attempts=1)[0]
    store.observe([seen("101")], max_repair_attempts=1)
    clock.advance(hours=1)
    second = store.observe([seen("101", DriftKind.NAME)], max_repair_attempts=1)[0]
    assert second.id != first.id and second.first_seen == clock.now


def test_counts_and_rooms(store):
    store.observe([seen("101", DriftKind.NAME, DriftKind.DND), seen("102", DriftKind.NAME)], max_repair_attempts=1)
    counts = store.counts()
    assert counts[DriftKind.NAME] == 2 and counts[DriftKind.DND] == 1 and counts[DriftKind.EXTENSION] == 0
    assert set(counts) == set(DriftKind)
    assert {room: [d.kind for d in drifts] for room, drifts in store.by_room().items()} == {
        "101": [DriftKind.DND, DriftKind.NAME], "102": [DriftKind.NAME]}


def test_a_dry_run_writes_nothing(store):
    store.observe([seen("101", DriftKind.NAME)], max_repair_attempts=1)
    preview = store.observe([seen("101", DriftKind.NAME), seen("102", DriftKind.DND)], max_repair_attempts=1,
                            dry_run=True)
    assert [(drift.room, drift.id is None) for drift in preview] == [("101", False), ("102", True)]
    store.observe([seen("101")], max_repair_attempts=1, dry_run=True)
    assert [(drift.room, drift.kind) for drift in store.unresolved()] == [("101", DriftKind.NAME)]


def test_resolved_drifts_are_pruned_after_the_retention(store, clock):
    store.observe([seen("101", DriftKind.NAME), seen("102", DriftKind.NAME)], max_repair_attempts=1)
    store.observe([seen("101")], max_repair_attempts=1)
    clock.advance(days=31)
    assert store.prune(timedelta(days=30)) == 1
    assert [drift.room for drift in store.unresolved()] == ["102"]
