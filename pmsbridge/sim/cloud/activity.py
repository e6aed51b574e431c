"""Random front-desk activity for the cloud PMS simulators, so the demo and tests see guests come and go.

Each step does one thing through the simulator's public methods (so the hotel, the API and
the webhooks always agree): a booking, a walk-in, an arrival checked in, a check-out, a
room move, a name, language or VIP change, a cancellation or a no-show. With a seed the
sequence is the same every run (only how much of it happens depends on time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pmsbridge.sim.activity import RandomActivityLoop
from pmsbridge.sim.cloud.hotel import CONFIRMED, LANGUAGES
from pmsbridge.sim.fias.activity import FIRST_NAMES, LAST_NAMES

if TYPE_CHECKING:
    from pmsbridge.sim.cloud.simulator import CloudPmsSimulator

# Relative weights; an action that cannot happen (no vacant room...) does nothing.
ACTIONS = (("book", 12), ("walk_in", 14), ("arrival", 16), ("check_out", 22), ("move", 10), ("rename", 8),
           ("language", 5), ("vip", 5), ("cancel", 4), ("no_show", 4))
VIP_SHARE = 0.1


class RandomFrontDesk(RandomActivityLoop):
    """Drives a `CloudPmsSimulator` with random guests on a thread of its own."""

    def __init__(self, simulator: CloudPmsSimulator, interval: float, seed: int | None = None) -> None:
        super().__init__(interval, seed, f"{simulator.name}-sim-activity")
        self._simulator = simulator

    def new_guest(self) -> tuple[str, str, str, bool]:
        """A random last name, first name, language and VIP mark."""
        return (self._random.choice(LAST_NAMES), self._random.choice(FIRST_NAMES), self._random.choice(LANGUAGES),
                self._random.random() < VIP_SHARE)

    def nights(self) -> int:
        return self._random.randint(1, 5)

    def actions(self) -> list[str]:
        done = self.step()
        return [done] if done is not None else []

    def step(self) -> str | None:
        """Do one random thing; return what was done, or None when nothing could happen."""
        simulator, hotel = self._simulator, self._simulator.hotel
        with simulator.lock:
            vacant, occupied = hotel.vacant_rooms(), hotel.occupied_rooms()
            arrivals = sorted(reservation.id for reservation in hotel.in_state(CONFIRMED))
        names, weights = zip(*ACTIONS, strict=True)
        action = self._random.choices(names, weights)[0]
        if action == "book":
            last_name, first_name, language, vip = self.new_guest()
            reservation = simulator.book(last_name, first_name, language=language, vip=vip, nights=self.nights())
            return f"booking {reservation} {first_name} {last_name}"
        if action == "walk_in" and vacant:
            room = self._random.choice(vacant)
            last_name, first_name, language, vip = self.new_guest()
            reservation = simulator.check_in(room, last_name, first_name, language=language, vip=vip,
                                             nights=self.nights())
            return f"walk-in {room} {first_name} {last_name} ({reservation})"
        if action == "arrival" and arrivals and vacant:
            reservation, room = self._random.choice(arrivals), self._random.choice(vacant)
            simulator.check_in(room, reservation=reservation)
            return f"check-in {room} ({reservation})"
        if action == "check_out" and occupied:
            room = self._random.choice(occupied)
            return f"check-out {room} ({simulator.check_out(room)})"
        if action == "move" and occupied and vacant:
            room, to_room = self._random.choice(occupied), self._random.choice(vacant)
            return f"move {room} -> {to_room} ({simulator.move(room, to_room)})"
        if action == "rename" and occupied:
            room = self._random.choice(occupied)
            last_name, first_name, _, _ = self.new_guest()
            return f"rename {room} {first_name} {last_name} ({simulator.rename(room, last_name, first_name)})"
        if action == "language" and occupied:
            room, language = self._random.choice(occupied), self._random.choice(LANGUAGES)
            return f"language {room} {language} ({simulator.set_language(room, language)})"
        if action == "vip" and occupied:
            room = self._random.choice(occupied)
            vip = self._random.random() < 0.5
            return f"vip {room} {'on' if vip else 'off'} ({simulator.set_vip(room, vip)})"
        if action in ("cancel", "no_show") and arrivals:
            reservation = self._random.choice(arrivals)
            if action == "cancel":
                simulator.cancel(reservation)
            else:
                simulator.no_show(reservation)
            return f"{action.replace('_', '-')} {reservation}"
        return None
