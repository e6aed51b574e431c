"""Small builders of canonical events for the ledger tests."""

from datetime import datetime

from pmsbridge.events import CheckIn, CheckOut, DndSet, Guest, RoomMove, WakeupSet


def check_in(room: str, name: str, reservation: str | None = None, *, key: str | None = None) -> CheckIn:
    return CheckIn(source="test", source_key=key, room=room,
                   guest=Guest(reservation=reservation or f"R{room}-{name}", last_name=name, first_name="Guest",
                               arrival=datetime(2026, 11, 27, 14, 0), departure=datetime(2026, 11, 29, 11, 0)))


def check_out(room: str, reservation: str | None = None) -> CheckOut:
    return CheckOut(source="test", room=room, reservation=reservation)


def dnd(room: str, on: bool = True) -> DndSet:
    return DndSet(source="test", room=room, on=on)


def wakeup(room: str, at: datetime) -> WakeupSet:
    return WakeupSet(source="test", room=room, at=at)


def move(from_room: str, to_room: str) -> RoomMove:
    return RoomMove(source="test", room=to_room, from_room=from_room)
