"""Random front-desk activity, so the demo shows guests coming and going.

Every ``interval`` seconds one thing happens through the simulator's public methods (so
the hotel state and the records sent always agree): a check-in of a vacant room, a
check-out, a wake-up, a DND toggle or a room move. With a seed the sequence of actions is
the same every run (only how many of them happen depends on time).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pmsbridge.adapters.fias.protocol import check_encoding
from pmsbridge.sim.activity import RandomActivityLoop

if TYPE_CHECKING:
    from pmsbridge.sim.fias.simulator import FiasSimulator


LAST_NAMES = ("Smith", "Müller", "O'Brien & Co", "García", "Dubois", "Nowak", "Østergaard", "Rossi",
              "Wiśniewski", "Jensen", "Nakamura", "Papadopoulos")
FIRST_NAMES = ("Anna", "John", "Łukasz", "Zoë", "François", "Jürgen", "Maria", "Søren", "Ines", "Ömer")
LANGUAGES = ("EA", "GE", "FR", "IT", "SP")

# Relative weights; an action that cannot happen (no vacant room to check in...) is skipped.
ACTIONS = (("check_in", 35), ("check_out", 25), ("wakeup", 15), ("dnd", 15), ("move", 10))


def writable_names(names: tuple[str, ...], encoding: str) -> list[str]:
    """The names the site encoding can write ("Łukasz" needs UTF-8 or a Central European page)."""
    codec = check_encoding(encoding)
    writable = []
    for name in names:
        try:
            name.encode(codec)
        except UnicodeEncodeError:
            continue
        writable.append(name)
    return writable


class RandomActivity(RandomActivityLoop):
    """Drives a `FiasSimulator` with random guests on a thread of its own."""

    def __init__(self, simulator: FiasSimulator, interval: float, seed: int | None = None) -> None:
        super().__init__(interval, seed, "fias-sim-activity")
        self._simulator = simulator
        encoding = simulator.options.encoding
        self._last_names = writable_names(LAST_NAMES, encoding)
        self._first_names = writable_names(FIRST_NAMES, encoding)

    def actions(self) -> list[str]:
        done = self.step()
        return [done] if done is not None else []

    def step(self) -> str | None:
        """Do one random thing; return what was done, or None when nothing could happen."""
        hotel = self._simulator.hotel
        vacant, occupied = hotel.vacant_rooms(), hotel.occupied_rooms()
        names, weights = zip(*ACTIONS, strict=True)
        action = self._random.choices(names, weights)[0]
        if action == "check_in" and vacant:
            room = self._random.choice(vacant)
            last_name = self._random.choice(self._last_names)
            first_name = self._random.choice(self._first_names)
            reservation = self._simulator.check_in(room, last_name, first_name,
                                                   language=self._random.choice(LANGUAGES))
            return f"check-in {room} {last_name}, {first_name} ({reservation})"
        if action == "check_out" and occupied:
            room = self._random.choice(occupied)
            self._simulator.check_out(room)
            return f"check-out {room}"
        if action == "wakeup" and occupied:
            room = self._random.choice(occupied)
            now = self._simulator.now().replace(second=0, microsecond=0)
            at = now + dt.timedelta(minutes=self._random.randint(5, 24 * 60))
            self._simulator.wakeup(room, at)
            return f"wake-up {room} {at:%Y-%m-%d %H:%M}"
        if action == "dnd" and occupied:
            room = self._random.choice(occupied)
            on = not hotel.dnd[room]
            self._simulator.dnd(room, on)
            return f"dnd {room} {'on' if on else 'off'}"
        if action == "move" and occupied and vacant:
            from_room, to_room = self._random.choice(occupied), self._random.choice(vacant)
            self._simulator.move(from_room, to_room)
            return f"move {from_room} -> {to_room}"
        return None
