"""The login throttle on its own: how waits grow, when they start, and when they are forgotten
(on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from pmsbridge.login_throttle import ADDRESS, FORGET_AFTER, NAME, LoginFailures, LoginThrottle, throttle_keys


def test_waits_start_after_the_free_failures_and_double_up_to_the_longest():
    assert [NAME.wait_after(failures) for failures in range(NAME.free + 8)] == \
        [0] * NAME.free + [1, 2, 4, 8, 16, 32, 60, 60]
    assert ADDRESS.wait_after(ADDRESS.free + 100) == ADDRESS.longest == 300


def test_failures_count_per_key_and_say_when_a_wait_starts(engine):
    now = [datetime(2026, 12, 3, 8, 0, tzinfo=UTC)]
    throttle = LoginThrottle(engine, clock=lambda: now[0])
    keys = throttle_keys("192.0.2.1", "anna")
    assert keys == ["address:192.0.2.1", "name:anna"]
    started = [throttle.failed(keys) for _ in range(NAME.free)]
    assert started[:-1] == [[]] * (NAME.free - 1) and started[-1] == ["name:anna"]
    assert throttle.wait(keys) == 1
    assert throttle.wait(throttle_keys("192.0.2.1", "bob")) == 0  # the address has failures to spare
    now[0] += timedelta(seconds=1)
    assert throttle.wait(keys) == 0
    throttle.succeeded(keys)
    assert throttle.wait(keys) == 0 and throttle.failed(keys) == []


def test_keys_without_a_failure_for_an_hour_are_forgotten(engine):
    now = [datetime(2026, 12, 3, 8, 0, tzinfo=UTC)]
    throttle = LoginThrottle(engine, clock=lambda: now[0])
    for attempt in range(50):
        throttle.failed(throttle_keys("192.0.2.1", f"guess-{attempt}"))
    now[0] += FORGET_AFTER + timedelta(seconds=1)
    throttle.failed(throttle_keys("192.0.2.9", "anna"))
    with Session(engine) as session:
        kept = sorted(row.key for row in session.execute(select(LoginFailures)).scalars())
    assert kept == ["address:192.0.2.9", "name:anna"]


def test_a_typed_name_longer_than_any_account_is_cut_in_its_key():
    assert throttle_keys(None, "x" * 10_000) == ["address:unknown", "name:" + "x" * 64]
