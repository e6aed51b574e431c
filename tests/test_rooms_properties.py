"""Properties of the room state machine over random event sequences, checked against a simulated PBX."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from pmsbridge.events import (
    CallForwardClear,
    CallForwardSet,
    CheckIn,
    CheckOut,
    ClassOfServiceSet,
    DndSet,
    Guest,
    GuestChange,
    MessageWaiting,
    RoomMove,
    WakeupClear,
    WakeupSet,
)
from pmsbridge.rooms import (
    PbxOperation,
    PbxRoom,
    RoomPolicy,
    RoomState,
    Wakeup,
    apply,
    pbx_after,
    pbx_operations,
    reconcile_in_house,
    rooms_touched,
)

ROOMS = ("101", "102", "103")
START = datetime(2026, 3, 1, 12, 0)
MOMENTS = [START + timedelta(hours=hours) for hours in (-30, -2, 0, 5, 20, 44)]
PROPERTIES = settings(max_examples=300, deadline=None, database=None)



def optional(strategy):
    return st.none() | strategy


rooms = st.sampled_from(ROOMS)
reservations = st.sampled_from(("A", "B", "C", None))
moments = st.sampled_from(MOMENTS)

guests = st.builds(
    Guest,
    reservation=reservations,
    last_name=optional(st.sampled_from(("Doe", "Roe", "Poe"))),
    first_name=optional(st.sampled_from(("Ann", "Bob"))),
    language=optional(st.sampled_from(("EA", "GE"))),
    vip=optional(st.sampled_from(("0", "1"))),
    arrival=optional(moments),
    departure=optional(moments),
    cos=optional(st.integers(1, 4)),
    credit=optional(st.sampled_from((0, 500))),
    primary=st.booleans(),
)


def event_of(kind, **fields):
    return st.builds(kind, source=st.just("prop"), **fields)


check_ins = event_of(CheckIn, room=rooms, guest=guests, shared=st.booleans())
check_outs = event_of(CheckOut, room=rooms, reservation=reservations)
wakeup_sets = event_of(WakeupSet, room=rooms, at=moments, daily=st.booleans())
dnd_sets = event_of(DndSet, room=rooms, on=st.booleans())
repeatable_events = st.one_of(
    check_ins,
    check_outs,
    wakeup_sets,
    dnd_sets,
    event_of(GuestChange, room=rooms, guest=guests),
    event_of(WakeupClear, room=rooms, at=optional(moments)),
    event_of(ClassOfServiceSet, room=rooms, cos=st.integers(1, 4)),
    event_of(CallForwardSet, room=rooms, target=st.sampled_from(("200", "300"))),
    event_of(CallForwardClear, room=rooms),
    event_of(MessageWaiting, room=rooms, on=st.booleans(), text=optional(st.just("call home"))),
)
events = st.one_of(
    repeatable_events,
    check_ins,  # weighted: most sequences need occupied rooms to say anything
    event_of(RoomMove, room=rooms, from_room=rooms, reservation=reservations, guest=optional(guests)),
)
policies = st.sampled_from((RoomPolicy(), RoomPolicy(shared_room_name="primary")))


class SimulatedPbx:
    """The PBX as the operations leave it; refuses what a real one refuses."""

    def __init__(self):
        self.extensions: dict[str, dict] = {}

    def run(self, operation: PbxOperation) -> None:
        room, fields = operation.room, operation.fields
        held = self.extensions.get(room)
        if operation.operation == "checkin":
            assert held is None, f"checkin of room {room}, which is checked in"
            self.extensions[room] = {"fields": dict(fields), "wakeups": {}, "dnd": 0, "cfwt": ""}
            return
        assert held is not None, f"{operation.operation} for room {room}, which is vacant"
        if operation.operation == "checkout":
            del self.extensions[room]
        elif operation.operation == "update":
            held["fields"] = dict(fields)
        elif operation.operation == "wakeup":
            when = (fields["w_date"], fields["w_time"])
            if fields["w_action"] == 1:
                held["wakeups"][when] = fields["w_mode"]
            else:
                assert held["wakeups"].pop(when) == fields["w_mode"], f"cancel of an unknown wake-up {when}"
        elif operation.operation == "dnd":
            assert fields["status"] != held["dnd"], "dnd sent without a change"
            held["dnd"] = fields["status"]
        elif operation.operation == "cfu":
            assert fields["cfwt"] != held["cfwt"], "cfu sent without a change"
            held["cfwt"] = fields["cfwt"]
        else:
            raise AssertionError(f"unexpected operation {operation.operation}")

    def assert_matches(self, state: RoomState) -> None:
        held = self.extensions.get(state.room)
        assert (held is not None) == state.occupied, f"room {state.room}: PBX occupancy differs"
        if held is None:
            return
        shown = " ".join(held["fields"][key] for key in ("firstname", "lastname") if key in held["fields"])
        assert shown == state.displayed_guest.display_name
        assert held["fields"].get("account") == state.displayed_guest.reservation
        assert held["fields"]["cos"] == state.cos
        assert held["wakeups"] == {
            (f"{w.at:%Y%m%d}", f"{w.at:%H%M}"): 2 if w.daily else 1 for w in state.wakeups
        }
        assert held["dnd"] == int(state.dnd)
        assert held["cfwt"] == (state.call_forward or "")


def run_sequence(sequence, policy):
    """Apply events step by step, checking every outcome against the simulated PBX."""
    states: dict[str, RoomState] = {}
    pbx = SimulatedPbx()
    for step, event in enumerate(sequence):
        now = START + timedelta(hours=step)
        outcome = apply(states, event, policy, now)
        assert set(outcome.states) == set(rooms_touched(event))
        for operation in outcome.operations:
            pbx.run(operation)
        states.update(outcome.states)
        for room in ROOMS:
            pbx.assert_matches(states.get(room, RoomState(room=room)))
        for state in outcome.states.values():
            for guest in state.reservations:
                assert guest.arrival is not None and guest.departure > guest.arrival
    return states, pbx


@PROPERTIES
@given(st.lists(events, max_size=25), policies)
def test_operations_are_legal_and_leave_the_pbx_like_the_state(sequence, policy):
    run_sequence(sequence, policy)


@PROPERTIES
@given(st.lists(events, max_size=15), st.one_of(check_ins, check_outs, wakeup_sets, dnd_sets, repeatable_events),
       policies)
def test_an_event_applied_twice_sends_nothing_the_second_time(sequence, event, policy):
    states, _ = run_sequence(sequence, policy)
    now = START + timedelta(days=5)
    first = apply(states, event, policy, now)
    second = apply({**states, **first.states}, event, policy, now)
    assert second.operations == ()
    assert second.states == first.states


@PROPERTIES
@given(st.lists(events, max_size=15), events, policies)
def test_apply_is_deterministic_and_leaves_its_inputs_alone(sequence, event, policy):
    states, _ = run_sequence(sequence, policy)
    frozen = dict(states)
    dumped = {room: state.model_dump() for room, state in states.items()}
    now = START + timedelta(days=1)
    assert apply(states, event, policy, now) == apply(states, event, policy, now)
    assert states == frozen
    assert {room: state.model_dump() for room, state in states.items()} == dumped


@PROPERTIES
@given(
    st.lists(events, max_size=15),
    st.dictionaries(rooms, st.lists(guests, max_size=3), max_size=3),
    policies,
)
def test_reconcile_brings_the_rooms_to_the_in_house_list(sequence, in_house, policy):
    states, pbx = run_sequence(sequence, policy)
    stamp = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
    now = START + timedelta(days=4)
    for event in reconcile_in_house(states, in_house, "csv", stamp):
        assert event.source == "csv" and event.occurred_at == stamp
        outcome = apply(states, event, policy, now)
        for operation in outcome.operations:
            pbx.run(operation)
        states.update(outcome.states)
    for room in ROOMS:
        state = states.get(room, RoomState(room=room))
        pbx.assert_matches(state)
        assert {g.reservation for g in state.reservations} == {g.reservation for g in in_house.get(room, [])}
    assert reconcile_in_house(states, in_house, "csv", stamp) == []


# --- what the PBX holds: operations worked out from it bring it to any target --------------

pbx_guest_fields = st.dictionaries(st.sampled_from(("account", "lastname", "vipcode", "language", "cos")),
                                   st.sampled_from(("1", "Doe", "en")), max_size=4)
pbx_rooms = st.builds(
    lambda checked_in, guest, wakeups, dnd, forward: PbxRoom(
        room="101", checked_in=checked_in, guest=guest if checked_in else {},
        wakeups=tuple(Wakeup(at=at, daily=daily) for at, daily in wakeups) if checked_in else (),
        dnd=dnd and checked_in, call_forward=forward if checked_in else None),
    st.booleans(), pbx_guest_fields, st.lists(st.tuples(moments, st.booleans()), max_size=3), st.booleans(),
    optional(st.sampled_from(("555", "0049301234"))))


@PROPERTIES
@given(held=pbx_rooms, wanted=pbx_rooms)
def test_operations_from_what_the_pbx_holds_reach_the_target_and_spare_vacant_extensions(held, wanted):
    state = held
    for operation in pbx_operations(held, wanted):
        # The PBX refuses everything but a check-in (and a harmless checkout) for a vacant extension.
        assert state.checked_in or operation.operation == "checkin", (held, wanted)
        state = pbx_after(state, operation)
    assert state == wanted
    assert pbx_operations(wanted, wanted) == ()
