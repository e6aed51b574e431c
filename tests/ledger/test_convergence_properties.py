"""Property: whatever the PBX refuses, every room ends as the PMS wants it.

The real ledger (``Ledger.record``, ``settle``, ``resend_room``) and the real degrade rules
run against a simulated PBX that permanently refuses random optional fields and random
whole operations, while random events arrive. After the queue drains and every room that
differs is sent again, the PBX holds each room's desired state except the refused optional
fields, and no operation ever reached a vacant extension but a check-in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import SQLModel

from pmsbridge.events import (
    CallForwardClear,
    CallForwardSet,
    CheckIn,
    CheckOut,
    DndSet,
    Guest,
    GuestChange,
    RoomMove,
    WakeupClear,
    WakeupSet,
)
from pmsbridge.ledger import degrade
from pmsbridge.ledger.database import create_ledger_engine
from pmsbridge.ledger.models import DeliveryState
from pmsbridge.ledger.store import DeliveryResult
from pmsbridge.rooms import OPTIONAL_GUEST_FIELDS, pbx_target
from tests.ledger.conftest import make_ledger

ROOMS = ("101", "102", "103")
WORKER = "w1"
DAY = datetime(2030, 3, 1)


class Refused(Exception):
    pass


@dataclass
class Extension:
    checked_in: bool = False
    guest: dict = field(default_factory=dict)
    wakeups: dict = field(default_factory=dict)  # at -> daily
    dnd: bool = False
    forward: str | None = None


@dataclass
class SimulatedPbx:
    """An FCM630A as far as pmsapi goes, that refuses some fields and some whole operations."""

    refused_fields: frozenset[str]
    refuse_whole: list[bool]  # one per delivery, in order: True refuses it in every form
    extensions: dict[str, Extension] = field(default_factory=lambda: {room: Extension() for room in ROOMS})
    violations: list[str] = field(default_factory=list)
    decided: dict[int, bool] = field(default_factory=dict)

    def send(self, delivery: int, operation: str, room: str, fields: dict) -> None:
        extension = self.extensions[room]
        if operation not in ("checkin", "checkout") and not extension.checked_in:
            self.violations.append(f"{operation} sent to vacant room {room}")
            raise Refused("room is not checked in")
        if delivery not in self.decided:
            self.decided[delivery] = bool(self.refuse_whole) and self.refuse_whole.pop(0)
        if self.decided[delivery]:
            raise Refused("failed to operate data")
        named = [name for name in OPTIONAL_GUEST_FIELDS if name in self.refused_fields and name in fields]
        if operation in ("checkin", "update") and named:
            raise Refused(f"{named[0]} is not accepted")
        match operation:
            case "checkin":
                if extension.checked_in:
                    raise Refused("room is already checked in")
                self.extensions[room] = Extension(checked_in=True, guest=dict(fields))
            case "update":
                extension.guest = dict(fields)
            case "checkout":
                self.extensions[room] = Extension()
            case "wakeup":
                at = datetime.strptime(f"{fields['w_date']}{int(fields['w_time']):04d}", "%Y%m%d%H%M")
                extension.wakeups.pop(at, None)
                if int(fields["w_action"]) == 1:
                    extension.wakeups[at] = int(fields["w_mode"]) == 2
            case "dnd":
                extension.dnd = int(fields["status"]) == 1
            case "cfu":
                extension.forward = str(fields["cfwt"]) or None


def deliver(ledger, pbx: SimulatedPbx, limit: int | None = None) -> None:
    """What the dispatcher does with each claimed delivery, the degrade rule included."""
    sent = 0
    while limit is None or sent < limit:
        delivery = ledger.claim_next(WORKER)
        if delivery is None:
            return
        sent += 1
        try:
            pbx.send(delivery.id, delivery.operation, delivery.room, delivery.fields)
        except Refused as err:
            reduction = degrade.reduce(delivery.operation, delivery.fields, str(err))
            if reduction is not None:
                try:
                    pbx.send(delivery.id, delivery.operation, delivery.room, reduction.fields)
                except Refused:
                    pass
                else:
                    applied = delivery.pbx_operation.model_copy(update={"fields": reduction.fields})
                    ledger.settle(WORKER, [DeliveryResult(delivery.id, DeliveryState.DELIVERED, applied=applied,
                                                          refused=reduction.refused)])
                    continue
            ledger.settle(WORKER, [DeliveryResult(delivery.id, DeliveryState.DEAD, error=str(err), status=-1)])
        else:
            ledger.settle(WORKER, [DeliveryResult(delivery.id, DeliveryState.DELIVERED,
                                                  applied=delivery.pbx_operation)])


rooms = st.sampled_from(ROOMS)
guests = st.builds(
    lambda reservation, name, vip, language, credit: Guest(
        reservation=reservation, last_name=name, first_name="G", vip=vip, language=language, credit=credit,
        arrival=DAY, departure=DAY + timedelta(days=3)),
    st.sampled_from(["A", "B", "C"]), st.sampled_from(["Doe", "Roe", "Poe"]),
    st.none() | st.sampled_from(["1", "7"]), st.none() | st.sampled_from(["en", "xx"]), st.none() | st.just(100))
wakeup_times = st.sampled_from([DAY + timedelta(days=1, hours=h) for h in (6, 7)])
events = st.one_of(
    st.builds(lambda room, guest: CheckIn(source="pms", room=room, guest=guest), rooms, guests),
    st.builds(lambda room: CheckOut(source="pms", room=room), rooms),
    st.builds(lambda room, guest: GuestChange(source="pms", room=room, guest=guest), rooms, guests),
    st.builds(lambda a, b: RoomMove(source="pms", room=b, from_room=a), rooms, rooms),
    st.builds(lambda room, on: DndSet(source="pms", room=room, on=on), rooms, st.booleans()),
    st.builds(lambda room, at, daily: WakeupSet(source="pms", room=room, at=at, daily=daily), rooms, wakeup_times,
              st.booleans()),
    st.builds(lambda room: WakeupClear(source="pms", room=room), rooms),
    st.builds(lambda room: CallForwardSet(source="pms", room=room, target="0049301234"), rooms),
    st.builds(lambda room: CallForwardClear(source="pms", room=room), rooms),
)


def as_extension(target) -> Extension:
    if not target.checked_in:
        return Extension()
    return Extension(True, dict(target.guest), {w.at: w.daily for w in target.wakeups}, target.dnd,
                     target.call_forward)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    script=st.lists(st.tuples(events, st.integers(0, 3)), min_size=1, max_size=25),
    refused_fields=st.frozensets(st.sampled_from(OPTIONAL_GUEST_FIELDS), max_size=3),
    refuse_whole=st.lists(st.booleans(), max_size=40),
)
def test_every_room_converges_whatever_the_pbx_refuses(tmp_path_factory, script, refused_fields, refuse_whole):
    engine = create_ledger_engine(f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.db'}")
    SQLModel.metadata.create_all(engine)
    try:
        ledger = make_ledger(engine, template="{room}")
        pbx = SimulatedPbx(refused_fields, list(refuse_whole))
        for event, deliveries_meanwhile in script:
            ledger.record(event, raw="")
            deliver(ledger, pbx, limit=deliveries_meanwhile)
        deliver(ledger, pbx)
        # Repairs: every room whose PBX differs is sent again; the PBX refuses no new delivery whole.
        pbx.refuse_whole.clear()
        for room, books in ledger.room_books().items():
            if books.differs or books.confirmed != books.target:
                ledger.resend_room(room)
        deliver(ledger, pbx)

        assert pbx.violations == []
        for room, books in ledger.room_books().items():
            assert not books.differs, room
            assert pbx.extensions[room] == as_extension(books.target), room
            # Only fields the PBX refuses are missing, and only while they hold the refused value.
            wanted = pbx_target(books.state)
            missing = {name for name in wanted.guest if name not in books.target.guest}
            assert missing <= refused_fields, (room, missing)
            assert set(books.refused) <= refused_fields
            assert all(json.dumps(value) for value in books.refused.values())
        assert ledger.stats().depth == 0
    finally:
        engine.dispose()
