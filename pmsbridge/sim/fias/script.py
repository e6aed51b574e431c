"""The simulator's command language, for scenario files, ``--script`` and the console.

One command per line; ``#`` starts a comment; words are split like a shell's, so a name
with spaces or an apostrophe is quoted (``checkin 101 "O'Brien & Co" Ann``); ``key=value``
words are options. The whole script is checked before anything runs, and every error,
whether found then or while running, names its line.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pmsbridge.sim.fias.simulator import FiasSimulator

DEFAULT_LINK_WAIT = 30.0
_CLOCK_TIME = re.compile(r"(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2}))?")

COMMANDS_HELP = """\
checkin ROOM LAST [FIRST] [res=ID] [lang=EA] [vip=1] [title=T] [group=G] [cos=0-3]
        [arrival=YYYY-MM-DD] [departure=YYYY-MM-DD] [shared]
checkout ROOM [res=ID]
move FROM TO [res=ID] [style=GC|GO+GI|GI+GO]
change ROOM [res=ID] name=.. first=.. title=.. lang=.. vip=.. group=.. cos=.. arrival=.. departure=..
wakeup ROOM HH:MM [YYYY-MM-DD]          wakeup-clear ROOM [HH:MM [YYYY-MM-DD]]
dnd ROOM on|off     cos ROOM 0-3     light ROOM on|off
message ROOM TEXT...                    message-delete ROOM
swap    drop    wait-link [SECONDS]     sleep SECONDS
"""

Action = Callable[["FiasSimulator"], None]


class ScriptError(ValueError):
    """Raised for a script line that cannot be understood or carried out; names the line."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Step:
    """One parsed command: its line number and what it does to a simulator."""

    line: int
    action: Action


@dataclass
class _Words:
    """A command's words: positional arguments, key=value options and bare flags."""

    name: str
    arguments: list[str]
    options: dict[str, str]
    flags: set[str]

    def take(self, allowed_options: Collection[str] = (), allowed_flags: Collection[str] = (),
             minimum: int = 0, maximum: int = 0) -> None:
        """Raise ValueError unless the words fit: known options and flags, an argument count in range."""
        unknown = sorted(set(self.options) - set(allowed_options)) + sorted(self.flags - set(allowed_flags))
        if unknown:
            raise ValueError(f"{self.name} does not take {', '.join(unknown)}")
        if not minimum <= len(self.arguments) <= maximum:
            expected = str(minimum) if minimum == maximum else f"{minimum} to {maximum}"
            raise ValueError(f"{self.name} takes {expected} arguments, not {len(self.arguments)}")


def parse_script(text: str) -> list[Step]:
    """Parse a script; raises ScriptError (naming the line) for the first bad line."""
    steps = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            action = _parse_line(stripped)
        except ValueError as err:
            raise ScriptError(number, str(err)) from err
        steps.append(Step(number, action))
    return steps


def run_script(simulator: FiasSimulator, text: str, stop: threading.Event | None = None) -> None:
    """Check ``text`` as a whole, then run it step by step against ``simulator``.

    ``stop``, when set, ends the script before its next step. Raises ScriptError naming
    the line for a parse error (nothing has run then) or for a step that failed.
    """
    for step in parse_script(text):
        if stop is not None and stop.is_set():
            return
        try:
            step.action(simulator)
        except ValueError as err:
            raise ScriptError(step.line, str(err)) from err
        except ConnectionError as err:
            raise ScriptError(step.line, f"the link is down: {err}") from err


# --------------------------------------------------------------------------- parsing


def _split(line: str) -> _Words:
    try:
        words = shlex.split(line, comments=True)
    except ValueError as err:
        raise ValueError(f"cannot split the line into words: {err}") from err
    arguments, options, flags = [], {}, set()
    for word in words[1:]:
        key, equals, value = word.partition("=")
        if equals and key:
            if key in options:
                raise ValueError(f"option {key} is given twice")
            options[key] = value
        elif word in {"shared"}:
            flags.add(word)
        else:
            arguments.append(word)
    return _Words(words[0].lower(), arguments, options, flags)


def _parse_line(line: str) -> Action:
    name = line.split(None, 1)[0].lower()
    if name == "message":
        return _message(line)
    parser = _PARSERS.get(name)
    if parser is None:
        raise ValueError(f"unknown command {name!r} (commands: {', '.join(sorted([*_PARSERS, 'message']))})")
    return parser(_split(line))


def _message(line: str) -> Action:
    # The text is the rest of the line as typed: no quoting rules, no comments.
    parts = line.split(None, 2)
    if len(parts) < 3:
        raise ValueError("message takes a room and a text")
    _, room, text = parts
    return lambda sim: sim.message(room, text)


def _checkin(words: _Words) -> Action:
    words.take({"res", "lang", "vip", "title", "group", "cos", "arrival", "departure"}, {"shared"}, 2, 3)
    room, last_name, *rest = words.arguments
    first_name = rest[0] if rest else None
    options = words.options
    arrival = _date(options["arrival"]) if "arrival" in options else None
    departure = _date(options["departure"]) if "departure" in options else None
    cos = _class_of_service(options["cos"]) if "cos" in options else None
    return lambda sim: sim.check_in(
        room, last_name, first_name, reservation=options.get("res"), language=options.get("lang", "EA"),
        vip=options.get("vip"), arrival=arrival, departure=departure, shared="shared" in words.flags,
        cos=cos, title=options.get("title"), group=options.get("group"))


def _checkout(words: _Words) -> Action:
    words.take({"res"}, minimum=1, maximum=1)
    room = words.arguments[0]
    return lambda sim: sim.check_out(room, reservation=words.options.get("res"))


def _move(words: _Words) -> Action:
    words.take({"res", "style"}, minimum=2, maximum=2)
    from_room, to_room = words.arguments
    style = words.options.get("style", "GC").upper()
    if style not in ("GC", "GO+GI", "GI+GO"):
        raise ValueError(f"move style must be GC, GO+GI or GI+GO, not {style!r}")
    return lambda sim: sim.move(from_room, to_room, reservation=words.options.get("res"), style=style)


_CHANGE_KEYS = {"name": "last_name", "first": "first_name", "title": "title", "lang": "language", "vip": "vip",
                "group": "group", "cos": "cos", "arrival": "arrival", "departure": "departure"}


def _change(words: _Words) -> Action:
    words.take({"res", *_CHANGE_KEYS}, minimum=1, maximum=1)
    room = words.arguments[0]
    changes: dict[str, object] = {}
    for key, value in words.options.items():
        if key == "res":
            continue
        if key in ("arrival", "departure"):
            changes[_CHANGE_KEYS[key]] = _date(value)
        elif key == "cos":
            changes["cos"] = _class_of_service(value)
        else:
            changes[_CHANGE_KEYS[key]] = value
    if not changes:
        raise ValueError(f"change needs at least one of {', '.join(_CHANGE_KEYS)}")
    return lambda sim: sim.guest_change(room, reservation=words.options.get("res"), **changes)


def _wakeup(words: _Words) -> Action:
    words.take(minimum=2, maximum=3)
    room, clock_time, *date = words.arguments
    at_time = _time(clock_time)
    on_date = _date(date[0]) if date else None
    return lambda sim: sim.wakeup(room, _when(sim.now(), at_time, on_date))


def _wakeup_clear(words: _Words) -> Action:
    words.take(minimum=1, maximum=3)
    room, *rest = words.arguments
    if not rest:
        return lambda sim: sim.clear_wakeup(room)
    at_time = _time(rest[0])
    on_date = _date(rest[1]) if len(rest) > 1 else None

    def clear(sim: FiasSimulator) -> None:
        if on_date is None:
            # The room's own wake-up at that time, whatever its day; else the next one.
            booked = [when for when in sim.hotel.wakeups.get(room, []) if when.time() == at_time]
            sim.clear_wakeup(room, booked[0] if booked else _when(sim.now(), at_time, None))
        else:
            sim.clear_wakeup(room, dt.datetime.combine(on_date, at_time))

    return clear


def _switch(method: str) -> Callable[[_Words], Action]:
    def parse(words: _Words) -> Action:
        words.take(minimum=2, maximum=2)
        room, state = words.arguments
        if state.lower() not in ("on", "off"):
            raise ValueError(f"{words.name} takes on or off, not {state!r}")
        on = state.lower() == "on"
        return lambda sim: getattr(sim, method)(room, on)

    return parse


def _cos(words: _Words) -> Action:
    words.take(minimum=2, maximum=2)
    room, level = words.arguments
    cos = _class_of_service(level)
    return lambda sim: sim.class_of_service(room, cos)


def _message_delete(words: _Words) -> Action:
    words.take(minimum=1, maximum=2)
    room, *message_id = words.arguments
    return lambda sim: sim.delete_message(room, message_id[0] if message_id else None)


def _sleep(words: _Words) -> Action:
    words.take(minimum=1, maximum=1)
    seconds = _seconds(words.arguments[0])
    return lambda sim: time.sleep(seconds)


def _swap(words: _Words) -> Action:
    words.take()
    return lambda sim: sim.swap()


def _drop(words: _Words) -> Action:
    words.take()
    return lambda sim: sim.drop_link()


def _wait_link(words: _Words) -> Action:
    words.take(minimum=0, maximum=1)
    timeout = _seconds(words.arguments[0]) if words.arguments else DEFAULT_LINK_WAIT

    def wait(sim: FiasSimulator) -> None:
        if not sim.link_up(timeout):
            raise ValueError(f"the bridge did not complete the link within {timeout:g} s")

    return wait


_PARSERS: dict[str, Callable[[_Words], Action]] = {
    "checkin": _checkin,
    "checkout": _checkout,
    "move": _move,
    "change": _change,
    "wakeup": _wakeup,
    "wakeup-clear": _wakeup_clear,
    "dnd": _switch("dnd"),
    "light": _switch("message_light"),
    "cos": _cos,
    "message-delete": _message_delete,
    "sleep": _sleep,
    "swap": _swap,
    "drop": _drop,
    "wait-link": _wait_link,
}


# --------------------------------------------------------------------------- values


def _time(value: str) -> dt.time:
    match = _CLOCK_TIME.fullmatch(value)
    try:
        if match is None:
            raise ValueError(value)
        return dt.time(int(match["hour"]), int(match["minute"]), int(match["second"] or 0))
    except ValueError as err:
        raise ValueError(f"{value!r} is not a time of day (HH:MM or HH:MM:SS)") from err


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as err:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from err


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError as err:
        raise ValueError(f"{value!r} is not a number of seconds") from err
    if not 0 <= seconds < 86400:
        raise ValueError(f"{value} seconds is out of range")
    return seconds


def _class_of_service(value: str) -> int:
    if value not in ("0", "1", "2", "3"):
        raise ValueError(f"class of service is 0, 1, 2 or 3, not {value!r}")
    return int(value)


def _when(now: dt.datetime, at_time: dt.time, on_date: dt.date | None) -> dt.datetime:
    """``at_time`` on ``on_date``, or at its next occurrence after ``now``."""
    if on_date is not None:
        return dt.datetime.combine(on_date, at_time)
    today = dt.datetime.combine(now.date(), at_time)
    return today if today > now else today + dt.timedelta(days=1)
