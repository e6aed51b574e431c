"""The pure comparison: findings, what each room could be judged on, repairs, the detail rotation."""

from __future__ import annotations

from datetime import datetime

from pmsbridge.events import Guest
from pmsbridge.pbx.names import NamePolicy
from pmsbridge.reconcile.drift import (
    DETAIL_KINDS,
    AccountView,
    ExtensionDetails,
    compare_room,
    expected_name,
    repair_operations,
    rotation,
)
from pmsbridge.reconcile.models import DriftKind
from pmsbridge.rooms import RoomState, Wakeup

NAMES = NamePolicy()
ARRIVAL, DEPARTURE = datetime(2026, 11, 27, 14, 0), datetime(2026, 11, 29, 11, 0)


def occupied(room: str = "101", **state) -> RoomState:
    guest = Guest(reservation="R1", first_name="Ann", last_name="Doe", arrival=ARRIVAL, departure=DEPARTURE)
    return RoomState(room=room, reservations=(guest,), cos=3, **state)


def shown(fullname: str | None = "Ann Doe", out_of_service: bool = False) -> AccountView:
    """An extension as a listAccount row shows it."""
    return AccountView.from_listing({"extension": "1101", "fullname": fullname, "status": "Idle",
                                     "out_of_service": "yes" if out_of_service else "no"})


def kinds(comparison) -> dict[DriftKind, tuple[str, str]]:
    return {finding.kind: (finding.expected, finding.actual) for finding in comparison.findings}


def test_a_matching_room_has_no_findings_and_is_judged_on_everything_read():
    comparison = compare_room(occupied(), "1101", shown(), ExtensionDetails("1101", False, None), NAMES)
    assert comparison.findings == ()
    assert comparison.judged == frozenset(DriftKind)


def test_without_details_dnd_and_forward_are_not_judged():
    comparison = compare_room(occupied(dnd=True), "1101", shown(), None, NAMES)
    assert comparison.findings == ()
    assert not comparison.judged & DETAIL_KINDS


def test_another_name_on_the_pbx():
    comparison = compare_room(occupied(), "1101", shown("Somebody  Else "), None, NAMES)
    assert kinds(comparison) == {DriftKind.NAME: ("Ann Doe", "Somebody Else")}


def test_the_name_is_compared_as_the_pbx_was_sent_it():
    guest = Guest(reservation="R1", first_name="Zoë", last_name="Łukasz", arrival=ARRIVAL, departure=DEPARTURE)
    state = RoomState(room="101", reservations=(guest,))
    ascii_names = NamePolicy(ascii_only=True)
    assert expected_name(state, ascii_names) == "Zoe Lukasz"
    assert compare_room(state, "1101", shown("Zoe Lukasz"), None, ascii_names).findings == ()


def test_occupied_here_vacant_on_the_pbx():
    comparison = compare_room(occupied(), "1101", shown(None), ExtensionDetails("1101", False, None), NAMES)
    assert kinds(comparison) == {DriftKind.NOT_CHECKED_IN: ("Ann Doe", "vacant")}
    # DND and forward of an extension the PBX holds vacant say nothing about the guest's.
    assert not comparison.judged & DETAIL_KINDS


def test_vacant_here_occupied_on_the_pbx():
    comparison = compare_room(RoomState(room="101"), "1101", shown("Ann Doe"), None, NAMES)
    assert kinds(comparison) == {DriftKind.NOT_CHECKED_OUT: ("vacant", "Ann Doe")}
    assert comparison.judged == frozenset(DriftKind)


def test_a_guest_without_a_name_cannot_be_told_from_a_vacant_room():
    nameless = RoomState(room="101", reservations=(Guest(reservation="R1", arrival=ARRIVAL, departure=DEPARTURE),))
    comparison = compare_room(nameless, "1101", shown(None), None, NAMES)
    assert comparison.findings == ()
    assert DriftKind.NOT_CHECKED_IN not in comparison.judged and DriftKind.NAME not in comparison.judged


def test_dnd_and_call_forward_differ():
    details = ExtensionDetails("1101", dnd=True, call_forward="555")
    comparison = compare_room(occupied(call_forward="777"), "1101", shown(), details, NAMES)
    assert kinds(comparison) == {DriftKind.DND: ("off", "on"), DriftKind.CALL_FORWARD: ("777", "555")}


def test_missing_and_out_of_service_extensions():
    missing = compare_room(occupied(), "1101", None, None, NAMES)
    assert kinds(missing) == {DriftKind.EXTENSION: ("present", "missing")}
    assert missing.judged == {DriftKind.EXTENSION}
    out = compare_room(occupied(), "1101", shown(out_of_service=True), None, NAMES)
    assert kinds(out) == {DriftKind.EXTENSION: ("in service", "out of service")}


def test_details_are_read_from_the_current_presence():
    answer = {"extension": {"dnd": "yes", "cfu": None, "presence_status": "available"},
              "sip_presence_settings": [{"presence_status": "away", "cfu": "1"},
                                        {"presence_status": "available", "cfu": "555"}]}
    assert ExtensionDetails.from_sip_account("1101", answer) == ExtensionDetails("1101", True, "555")
    plain = {"extension": {"dnd": "no", "cfu": "777"}}
    assert ExtensionDetails.from_sip_account("1101", plain) == ExtensionDetails("1101", False, "777")
    assert ExtensionDetails.from_sip_account("1101", {"extension": {"cfu": ""}}).call_forward is None


def test_a_room_vacant_on_the_pbx_is_rebuilt_whole():
    state = occupied(dnd=True, call_forward="555", wakeups=(Wakeup(at=datetime(2026, 11, 28, 7, 0)),))
    operations = repair_operations(state, {DriftKind.NOT_CHECKED_IN, DriftKind.DND})
    assert [op.operation for op in operations] == ["checkin", "wakeup", "dnd", "cfu"]
    assert operations[0].fields["lastname"] == "Doe"


def test_repairs_of_single_kinds():
    state = occupied(dnd=True)
    update, dnd, cfu = repair_operations(state, {DriftKind.NAME, DriftKind.DND, DriftKind.CALL_FORWARD})
    assert update.operation == "update" and update.fields["firstname"] == "Ann" and update.fields["cos"] == 3
    assert dnd.fields == {"status": 1}
    assert cfu.fields == {"cfwt": ""}
    checkout = repair_operations(RoomState(room="101"), {DriftKind.NOT_CHECKED_OUT})
    assert [op.operation for op in checkout] == ["checkout"]
    assert repair_operations(state, {DriftKind.EXTENSION}) == ()


def test_rotation_walks_round_the_rooms():
    rooms = ["99", "101", "102", "110", "A1"]
    first, cursor = rotation(rooms, [], None, 2)
    assert first == ["99", "101"]
    second, cursor = rotation(rooms, [], cursor, 2)
    assert second == ["102", "110"]
    third, cursor = rotation(rooms, [], cursor, 2)
    assert third == ["A1", "99"]
    assert cursor == "99"


def test_rotation_puts_awaited_rooms_first_and_skips_unknown_ones():
    chosen, cursor = rotation(["101", "102", "103"], ["103", "999"], None, 2)
    assert chosen == ["103", "101"] and cursor == "101"
    assert rotation(["101"], [], "101", 0) == ([], "101")
    assert rotation([], [], "105", 3) == ([], "105")
