"""The simulated PMS's own view of the hotel: who is in which room, DND, wake-ups, messages.

Pure state without I/O or locking; `FiasSimulator` changes it under its lock, and only
after the records describing the change have been built, so a change the site encoding
cannot write never happens.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Iterable


@dataclasses.dataclass(frozen=True)
class Guest:
    """One reservation staying in a room (the GI fields a PMS sends for it).

    ``shared`` is the GS flag the guest was checked in with: set for a guest who joined an
    occupied room (or was checked in as sharing).
    """

    reservation: str
    last_name: str
    first_name: str | None = None
    title: str | None = None
    language: str = "EA"
    vip: str | None = None
    group: str | None = None
    arrival: dt.date | None = None
    departure: dt.date | None = None
    class_of_service: int | None = None
    shared: bool = False


class Hotel:
    """Rooms and what the PMS knows about them.

    ``rooms`` maps every room number to its guests in check-in order (an empty list is a
    vacant room). ``dnd``, ``message_lights`` (room -> on), ``class_of_service`` (room ->
    FIAS CS 0-3, for rooms that were sent one), ``wakeups`` (room -> wake-up times, naive
    hotel local time) and ``messages`` (room -> message id -> text) complete the picture.
    When the last guest leaves a room its wake-ups and messages go and DND and the message
    light are off; when the last guest moves out, they follow the guest into an empty room.
    """

    def __init__(self, rooms: Iterable[str]) -> None:
        self.rooms: dict[str, list[Guest]] = {room: [] for room in rooms}
        self.dnd: dict[str, bool] = dict.fromkeys(self.rooms, False)
        self.message_lights: dict[str, bool] = dict.fromkeys(self.rooms, False)
        self.class_of_service: dict[str, int] = {}
        self.wakeups: dict[str, list[dt.datetime]] = {room: [] for room in self.rooms}
        self.messages: dict[str, dict[str, str]] = {room: {} for room in self.rooms}
        self._next_reservation = 10001

    def copy(self) -> Hotel:
        """An independent snapshot."""
        return copy.deepcopy(self)

    # ------------------------------------------------------------------ queries

    def require_room(self, room: str) -> None:
        """Raise ValueError unless ``room`` is one of the hotel's rooms."""
        if room not in self.rooms:
            raise ValueError(f"room {room!r} is not one of the simulator's rooms")

    def guests(self, room: str) -> list[Guest]:
        """The guests of ``room`` in check-in order (raises ValueError for an unknown room)."""
        self.require_room(room)
        return list(self.rooms[room])

    def guest(self, room: str, reservation: str | None) -> Guest:
        """The guest ``reservation`` in ``room``, or its first guest when ``reservation`` is None.

        Raises ValueError when there is no such guest.
        """
        guests = self.guests(room)
        if not guests:
            raise ValueError(f"room {room} has no guest")
        if reservation is None:
            return guests[0]
        for guest in guests:
            if guest.reservation == reservation:
                return guest
        raise ValueError(f"reservation {reservation} is not in room {room}")

    def room_of(self, reservation: str) -> str | None:
        """The room where ``reservation`` stays, or None."""
        for room, guests in self.rooms.items():
            if any(guest.reservation == reservation for guest in guests):
                return room
        return None

    def in_house(self) -> list[tuple[str, Guest]]:
        """Every (room, guest) pair, rooms in hotel order, guests in check-in order."""
        return [(room, guest) for room, guests in self.rooms.items() for guest in guests]

    def vacant_rooms(self) -> list[str]:
        return [room for room, guests in self.rooms.items() if not guests]

    def occupied_rooms(self) -> list[str]:
        return [room for room, guests in self.rooms.items() if guests]

    def new_reservation(self) -> str:
        """A reservation number (G#) no guest in the house has."""
        in_use = {guest.reservation for _, guest in self.in_house()}
        while str(self._next_reservation) in in_use:
            self._next_reservation += 1
        reservation = str(self._next_reservation)
        self._next_reservation += 1
        return reservation

    # ------------------------------------------------------------------ changes

    def put_guest(self, room: str, guest: Guest) -> None:
        """Check ``guest`` in, or replace the guest with the same reservation in ``room``."""
        guests = self.rooms[room]
        for index, present in enumerate(guests):
            if present.reservation == guest.reservation:
                guests[index] = guest
                return
        guests.append(guest)

    def remove_guests(self, room: str, reservation: str | None) -> list[Guest]:
        """Check out ``reservation`` (every guest when None); return who left."""
        guests = self.rooms[room]
        leaving = [guest for guest in guests if reservation is None or guest.reservation == reservation]
        self.rooms[room] = [guest for guest in guests if reservation is not None and guest.reservation != reservation]
        if not self.rooms[room]:
            self._clear_room(room)
        return leaving

    def move_guest(self, reservation: str, from_room: str, to_room: str) -> None:
        """Move one guest; the room's wake-ups and statuses follow the last one into an empty room."""
        guest = self.guest(from_room, reservation)
        target_was_empty = not self.rooms[to_room]
        self.rooms[from_room] = [present for present in self.rooms[from_room] if present is not guest]
        self.rooms[to_room].append(guest)
        if self.rooms[from_room]:
            return
        if target_was_empty:
            self.dnd[to_room] = self.dnd[from_room]
            self.message_lights[to_room] = self.message_lights[from_room]
            self.wakeups[to_room] = list(self.wakeups[from_room])
            self.messages[to_room] = dict(self.messages[from_room])
            if from_room in self.class_of_service:
                self.class_of_service[to_room] = self.class_of_service[from_room]
        self._clear_room(from_room)

    def set_dnd(self, room: str, on: bool) -> None:
        self.dnd[room] = bool(on)

    def set_message_light(self, room: str, on: bool) -> None:
        self.message_lights[room] = bool(on)

    def set_class_of_service(self, room: str, level: int) -> None:
        self.class_of_service[room] = level

    def add_message(self, room: str, message_id: str, text: str) -> None:
        self.messages[room][message_id] = text

    def delete_messages(self, room: str, message_id: str | None) -> None:
        """Delete one message, or every message of the room when ``message_id`` is None."""
        if message_id is None:
            self.messages[room].clear()
        else:
            self.messages[room].pop(message_id, None)

    def add_wakeup(self, room: str, at: dt.datetime) -> None:
        if at not in self.wakeups[room]:
            self.wakeups[room].append(at)
            self.wakeups[room].sort()

    def clear_wakeups(self, room: str, at: dt.datetime | None) -> None:
        """Clear the wake-up at ``at``, or every wake-up of the room when None."""
        self.wakeups[room] = [] if at is None else [when for when in self.wakeups[room] if when != at]

    def _clear_room(self, room: str) -> None:
        self.dnd[room] = False
        self.message_lights[room] = False
        self.wakeups[room] = []
        self.messages[room] = {}
        self.class_of_service.pop(room, None)
