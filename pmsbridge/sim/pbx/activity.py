"""Random telephone traffic, so the demo has calls to charge and wake-ups that ring.

Every ``interval`` seconds the emulator first rings the wake-up calls that fell due (answered,
busy or not answered at random), then makes one call: an outside call from an occupied room
(to an international, national, mobile, local, toll-free or emergency number; some of them
then transferred to another extension), an internal call, or an inbound call; each ends at
once with a random duration and outcome and shows in the CDR. With a seed the sequence is
the same every run (only how much of it happens depends on time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pmsbridge.sim.activity import RandomActivityLoop

if TYPE_CHECKING:
    from pmsbridge.sim.pbx.emulator import PbxEmulator


NUMBERS = ("00442079460000", "00331234567890", "0301234567", "08912345678", "01511234567", "01761234567",
           "5550123", "5550199", "08001234567", "112")
CALLERS = ("00441632960000", "0307654321", "01709876543")
# Relative weights; an action that cannot happen (no occupied room...) is skipped.
ACTIONS = (("outbound", 60), ("internal", 20), ("inbound", 20))
OUTCOMES = (("ANSWERED", 75), ("NO ANSWER", 15), ("BUSY", 10))
WAKEUP_OUTCOMES = (("ANSWERED", 70), ("NO ANSWER", 20), ("BUSY", 10))
# Answered outside calls handed on to another extension: stored as a group, as a real unit does.
TRANSFERRED_SHARE = 0.2


class RandomCalls(RandomActivityLoop):
    """Drives a `PbxEmulator` with random calls on a thread of its own."""

    def __init__(self, emulator: PbxEmulator, interval: float, seed: int | None = None) -> None:
        super().__init__(interval, seed, "pbx-emulator-activity")
        self._emulator = emulator

    def _pick(self, weighted: tuple[tuple[str, int], ...]) -> str:
        names, weights = zip(*weighted, strict=True)
        return self._random.choices(names, weights)[0]

    def actions(self) -> list[str]:
        """Ring the due wake-ups, make one call; return what was done."""
        emulator = self._emulator
        done = [f"wake-up {record['dst']} {record['disposition']}"
                for record in emulator.ring_due_wakeups(lambda: self._pick(WAKEUP_OUTCOMES))]
        state = emulator.state
        with state.lock:
            occupied = [room.number for room in state.rooms.values() if room.occupied]
            extensions = list(state.extensions)
        action = self._pick(ACTIONS)
        talk = self._random.randint(5, 900)
        outcome = self._pick(OUTCOMES)
        if action == "outbound" and occupied:
            room, number = self._random.choice(occupied), self._random.choice(NUMBERS)
            transfer_to = None
            if outcome == "ANSWERED" and self._random.random() < TRANSFERRED_SHARE:
                transfer_to = self._random.choice([number for number in extensions
                                                   if number != state.rooms[room].extension])
            emulator.place_call(room, number, talk=talk, disposition=outcome, transfer_to=transfer_to)
            done.append(f"call {room} -> {number} {outcome} {talk} s"
                        + (f", transferred to {transfer_to}" if transfer_to else ""))
        elif action == "internal" and len(extensions) > 1:
            caller, callee = self._random.sample(extensions, 2)
            emulator.place_call(caller, callee, talk=talk, disposition=outcome)
            done.append(f"call {caller} -> {callee} {outcome}")
        elif action == "inbound" and extensions:
            caller, callee = self._random.choice(CALLERS), self._random.choice(extensions)
            emulator.place_call(caller, callee, talk=talk, disposition=outcome)
            done.append(f"call {caller} -> {callee} {outcome}")
        return done
