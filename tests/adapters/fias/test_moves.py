"""GO + GI of one reservation, in either order, become one RoomMove (moves.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from pmsbridge.adapters.fias.moves import MovePairing, PendingEvent
from pmsbridge.events import CheckIn, CheckOut, DndSet, Guest, RoomMove

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


def check_in(room: str, reservation: str | None = "7", name: str = "Doe") -> CheckIn:
    return CheckIn(source="fias", room=room, occurred_at=NOW, guest=Guest(reservation=reservation, last_name=name))


def check_out(room: str, reservation: str | None = "7") -> CheckOut:
    return CheckOut(source="fias", room=room, reservation=reservation, occurred_at=NOW)


def events(pending: list[PendingEvent]):
    return [item.event for item in pending]


def test_checkout_then_checkin_is_one_move():
    pairing = MovePairing(window=3)
    assert pairing.offer(check_out("101"), "GO-raw", 0.0) == []
    assert pairing.held.event == check_out("101")
    [move] = pairing.offer(check_in("102", name="Doe-new"), "GI-raw", 1.0)
    assert move.event == RoomMove(source="fias", room="102", from_room="101", reservation="7",
                                  guest=Guest(reservation="7", last_name="Doe-new"), occurred_at=NOW)
    assert move.raw == "GO-raw\nGI-raw"
    assert pairing.held is None


def test_checkin_then_checkout_is_one_move_too():
    pairing = MovePairing(window=3)
    assert pairing.offer(check_in("102"), "GI-raw", 0.0) == []
    [move] = pairing.offer(check_out("101"), "GO-raw", 0.5)
    assert move.event == RoomMove(source="fias", room="102", from_room="101", reservation="7",
                                  guest=check_in("102").guest, occurred_at=NOW)
    assert move.raw == "GI-raw\nGO-raw"
    assert pairing.held is None


def test_a_held_event_is_released_before_any_other_event():
    pairing = MovePairing(window=3)
    pairing.offer(check_out("101"), "GO", 0.0)
    dnd = DndSet(source="fias", room="105", on=True, occurred_at=NOW)
    assert events(pairing.offer(dnd, "RE", 0.1)) == [check_out("101"), dnd]
    assert pairing.held is None


@pytest.mark.parametrize("first, second", [
    (check_out("101"), check_in("102", reservation="8")),  # another reservation
    (check_out("101"), check_in("101")),  # the same room: checkout and a new check-in
    (check_in("101"), check_out("101")),
    (check_in("102"), check_in("103")),
    (check_out("101"), check_out("102")),
])
def test_events_that_are_not_two_halves_of_a_move_pass_in_order(first, second):
    pairing = MovePairing(window=3)
    assert pairing.offer(first, "1", 0.0) == []
    assert events(pairing.offer(second, "2", 0.1)) == [first]
    assert pairing.held.event == second
    assert events(pairing.release()) == [second]


def test_the_window_passing_releases_the_held_event():
    pairing = MovePairing(window=3)
    pairing.offer(check_out("101"), "GO", 0.0)
    assert pairing.due(2.9) == []
    assert events(pairing.due(3.1)) == [check_out("101")]
    assert pairing.held is None


def test_a_late_other_half_is_not_paired_even_before_due_was_called():
    pairing = MovePairing(window=3)
    pairing.offer(check_out("101"), "GO", 0.0)
    assert events(pairing.offer(check_in("102"), "GI", 5.0)) == [check_out("101")]
    assert pairing.held.event == check_in("102")


def test_events_without_reservation_pass_at_once():
    pairing = MovePairing(window=3)
    assert events(pairing.offer(check_out("101", None), "GO", 0.0)) == [check_out("101", None)]
    assert events(pairing.offer(check_in("102", None), "GI", 0.0)) == [check_in("102", None)]
    assert pairing.held is None


def test_window_zero_turns_pairing_off():
    pairing = MovePairing(window=0)
    assert events(pairing.offer(check_out("101"), "GO", 0.0)) == [check_out("101")]
    assert events(pairing.offer(check_in("102"), "GI", 0.0)) == [check_in("102")]
    assert pairing.held is None


def test_negative_window_is_refused():
    with pytest.raises(ValueError):
        MovePairing(window=-1)
