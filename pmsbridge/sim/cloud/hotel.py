"""A cloud PMS's view of a small hotel: rooms, guests (profiles) and reservations.

Vendor-neutral and without I/O or locking: the simulators change it under their lock and
render it in their vendor's shapes. Every change returns a :class:`Change` saying what
happened, from which each simulator builds its thin webhooks.

One in-house reservation per room at most (a hotel's PBX knows rooms, not beds). States:
``confirmed`` (booked, not arrived), ``in_house``, ``checked_out``, ``canceled``,
``no_show``; only a confirmed reservation can be checked in, canceled or set to no-show,
only an in-house one moved or checked out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable

CONFIRMED, IN_HOUSE, CHECKED_OUT, CANCELED, NO_SHOW = "confirmed", "in_house", "checked_out", "canceled", "no_show"
STATES = (CONFIRMED, IN_HOUSE, CHECKED_OUT, CANCELED, NO_SHOW)
LANGUAGES = ("en", "de", "fr", "it", "es", "nl", "pl", "ja")


@dataclasses.dataclass
class Room:
    """A bookable room: the PMS's own ``id`` and the ``name`` a PBX knows it by (``"101"``)."""

    id: str
    name: str
    floor: int


@dataclasses.dataclass
class Guest:
    """A guest profile. ``language`` is an ISO 639-1 code; ``vip`` the PMS's VIP mark."""

    id: str
    last_name: str
    first_name: str | None
    language: str
    vip: bool
    created: dt.datetime
    updated: dt.datetime

    @property
    def display_name(self) -> str:
        """"First Last", as the bridge shows a guest."""
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclasses.dataclass
class Reservation:
    """One stay. ``sequence`` orders reservations by creation (the vendors' paging order);
    ``room`` is the assigned room's name (``None``: not assigned yet); ``room_history``
    lists every room it was assigned, oldest first, with when."""

    id: str
    number: str
    sequence: int
    guest_id: str
    state: str
    room: str | None
    arrival: dt.date
    departure: dt.date
    created: dt.datetime
    updated: dt.datetime
    checked_in: dt.datetime | None = None
    checked_out: dt.datetime | None = None
    canceled: dt.datetime | None = None
    room_history: list[tuple[str, dt.datetime]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Change:
    """What one front-desk action changed, for the webhooks.

    ``kind`` is one of ``created``, ``checked_in``, ``moved``, ``guest_changed``,
    ``checked_out``, ``canceled``, ``no_show``. ``new_guest`` is set when a profile was
    created with the reservation; ``previous_room`` is the room left by a move.
    """

    kind: str
    reservation_id: str
    guest_id: str
    room: str | None = None
    previous_room: str | None = None
    new_guest: bool = False
    status: str | None = None


class Hotel:
    """Rooms, guests and reservations, with the front-desk actions that change them.

    ``ids`` makes the vendor's identifiers: ``ids("reservation")``, ``ids("guest")`` and
    ``ids("number")`` give a fresh one each call. ``touch_reservation_on_guest_change``
    says whether a profile change also moves the reservation's ``updated`` time (it does
    where the guest is embedded in the reservation, as with Apaleo; it does not with Mews,
    where the customer is a record of its own).
    """

    def __init__(self, rooms: Iterable[Room], ids: Callable[[str], str], clock: Callable[[], dt.datetime],
                 touch_reservation_on_guest_change: bool) -> None:
        self.rooms: dict[str, Room] = {room.name: room for room in rooms}
        self.guests: dict[str, Guest] = {}
        self.reservations: dict[str, Reservation] = {}
        self._ids = ids
        self._clock = clock
        self._touch_on_guest_change = touch_reservation_on_guest_change
        self._sequence = 0

    # ------------------------------------------------------------------ queries

    def room(self, name: str) -> Room:
        """The room called ``name``; ValueError for an unknown one."""
        try:
            return self.rooms[name]
        except KeyError:
            raise ValueError(f"room {name!r} is not one of the simulator's rooms") from None

    def room_by_id(self, room_id: str) -> Room | None:
        return next((room for room in self.rooms.values() if room.id == room_id), None)

    def reservation(self, reservation_id: str) -> Reservation:
        """The reservation ``reservation_id``; ValueError for an unknown one."""
        try:
            return self.reservations[reservation_id]
        except KeyError:
            raise ValueError(f"there is no reservation {reservation_id!r}") from None

    def guest_of(self, reservation: Reservation) -> Guest:
        return self.guests[reservation.guest_id]

    def occupant(self, room: str) -> Reservation | None:
        """The in-house reservation in ``room``, or ``None``."""
        self.room(room)
        return next((reservation for reservation in self.reservations.values()
                     if reservation.state == IN_HOUSE and reservation.room == room), None)

    def in_house_reservation(self, room: str) -> Reservation:
        """The in-house reservation in ``room``; ValueError when the room is vacant."""
        reservation = self.occupant(room)
        if reservation is None:
            raise ValueError(f"room {room} has no guest in house")
        return reservation

    def in_house(self) -> dict[str, list[str]]:
        """Room name -> the display names of its in-house guests, rooms in hotel order."""
        occupied: dict[str, list[str]] = {}
        for name in self.rooms:
            reservation = self.occupant(name)
            if reservation is not None:
                occupied[name] = [self.guest_of(reservation).display_name]
        return occupied

    def vacant_rooms(self) -> list[str]:
        """Rooms with nobody in house (an arrival may still be assigned to one)."""
        taken = {reservation.room for reservation in self.reservations.values() if reservation.state == IN_HOUSE}
        return [name for name in self.rooms if name not in taken]

    def occupied_rooms(self) -> list[str]:
        vacant = set(self.vacant_rooms())
        return [name for name in self.rooms if name not in vacant]

    def in_state(self, state: str) -> list[Reservation]:
        return [reservation for reservation in self.reservations.values() if reservation.state == state]

    def ordered(self) -> list[Reservation]:
        """Every reservation, oldest first."""
        return sorted(self.reservations.values(), key=lambda reservation: reservation.sequence)

    # ------------------------------------------------------------------ changes

    def book(self, last_name: str, first_name: str | None = None, *, language: str = "en", vip: bool = False,
             room: str | None = None, nights: int = 2, arrival: dt.date | None = None) -> tuple[Reservation, Change]:
        """A new confirmed reservation (and guest profile) arriving ``arrival`` (default today)."""
        if not last_name or not last_name.strip():
            raise ValueError("a guest needs a last name")
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
        if nights < 1:
            raise ValueError("a stay lasts at least one night")
        if room is not None:
            self.room(room)
        now = self._clock()
        guest = Guest(id=self._ids("guest"), last_name=last_name, first_name=first_name or None, language=language,
                      vip=vip, created=now, updated=now)
        self.guests[guest.id] = guest
        self._sequence += 1
        start = arrival or now.date()
        reservation = Reservation(id=self._ids("reservation"), number=self._ids("number"), sequence=self._sequence,
                                  guest_id=guest.id, state=CONFIRMED, room=room, arrival=start,
                                  departure=start + dt.timedelta(days=nights), created=now, updated=now)
        if room is not None:
            reservation.room_history.append((room, now))
        self.reservations[reservation.id] = reservation
        return reservation, Change("created", reservation.id, guest.id, room=room, new_guest=True, status=CONFIRMED)

    def check_in(self, reservation_id: str, room: str | None = None) -> Change:
        """Check a confirmed reservation in, into ``room`` or the room assigned to it."""
        reservation = self._in_state(reservation_id, CONFIRMED, "checked in")
        target = room or reservation.room
        if target is None:
            raise ValueError(f"reservation {reservation_id} has no room assigned: name one")
        if self.occupant(target) is not None:
            raise ValueError(f"room {target} is occupied")
        now = self._clock()
        if target != reservation.room:
            reservation.room_history.append((target, now))
        reservation.room, reservation.state, reservation.checked_in = target, IN_HOUSE, now
        reservation.updated = now
        return Change("checked_in", reservation.id, reservation.guest_id, room=target, status=IN_HOUSE)

    def move(self, room: str, to_room: str) -> Change:
        """Move the guest in house in ``room`` to the vacant ``to_room``."""
        reservation = self.in_house_reservation(room)
        self.room(to_room)
        if self.occupant(to_room) is not None:
            raise ValueError(f"room {to_room} is occupied")
        now = self._clock()
        reservation.room, reservation.updated = to_room, now
        reservation.room_history.append((to_room, now))
        return Change("moved", reservation.id, reservation.guest_id, room=to_room, previous_room=room,
                      status=IN_HOUSE)

    def change_guest(self, room: str, **fields: object) -> Change:
        """Change the profile of the guest in house in ``room``: ``last_name``,
        ``first_name``, ``language``, ``vip``."""
        reservation = self.in_house_reservation(room)
        guest = self.guest_of(reservation)
        unknown = set(fields) - {"last_name", "first_name", "language", "vip"}
        if unknown:
            raise ValueError(f"a guest has no field {', '.join(sorted(unknown))}")
        if "last_name" in fields and not str(fields["last_name"] or "").strip():
            raise ValueError("a guest needs a last name")
        if "language" in fields and fields["language"] not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {fields['language']!r}")
        if "vip" in fields and not isinstance(fields["vip"], bool):
            raise ValueError("vip must be true or false")
        now = self._clock()
        for name, value in fields.items():
            # An empty first name is no first name, as in `book`.
            setattr(guest, name, (value or None) if name == "first_name" else value)
        guest.updated = now
        if self._touch_on_guest_change:
            reservation.updated = now
        return Change("guest_changed", reservation.id, guest.id, room=room, status=IN_HOUSE)

    def check_out(self, room: str) -> Change:
        """Check out the guest in house in ``room``."""
        reservation = self.in_house_reservation(room)
        now = self._clock()
        reservation.state, reservation.checked_out, reservation.updated = CHECKED_OUT, now, now
        return Change("checked_out", reservation.id, reservation.guest_id, room=room, status=CHECKED_OUT)

    def cancel(self, reservation_id: str, no_show: bool = False) -> Change:
        """Cancel a confirmed reservation, or set it to no-show."""
        state = NO_SHOW if no_show else CANCELED
        reservation = self._in_state(reservation_id, CONFIRMED, "set to no-show" if no_show else "canceled")
        now = self._clock()
        reservation.state, reservation.canceled, reservation.updated = state, now, now
        return Change(state, reservation.id, reservation.guest_id, room=reservation.room, status=state)

    def _in_state(self, reservation_id: str, state: str, action: str) -> Reservation:
        reservation = self.reservation(reservation_id)
        if reservation.state != state:
            raise ValueError(f"reservation {reservation_id} is {reservation.state.replace('_', ' ')} "
                             f"and cannot be {action}")
        return reservation
