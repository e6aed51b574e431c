"""What a simulated PMS is built with: :class:`SimulatorOptions`."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pmsbridge.adapters.fias.protocol import Record, check_encoding

DEFAULT_ROOMS: tuple[str, ...] = tuple(str(number) for number in range(101, 141))
MODES = ("server", "client")

_ANSWER_STATUS = re.compile(r"[A-Z]{2}")
_ROOM = re.compile(r"[0-9A-Za-z_.-]{1,16}")

Trace = Callable[[str, Record], None]
"""Told of every record: ``("->", record)`` sent to the bridge, ``("<-", record)`` received."""


@dataclass(frozen=True, kw_only=True)
class SimulatorOptions:
    """Everything that makes one simulated PMS (an Oracle IFC8-like FIAS interface).

    ``mode="server"``: the simulator listens on ``host:port`` (port 0 picks a free one), the
    usual IFC8 set-up. ``mode="client"``: it connects out to the bridge at ``host:port`` and
    dials again ``reconnect_interval`` seconds after the link is lost.

    ``rooms`` are the hotel's room numbers (strings: leading zeros are data). ``encoding``
    and ``lrc`` are the site's code page and whether a check byte follows each ETX.

    ``posting_answer`` is the AS of the PA answering each PS (``None``: never answer, for
    PA-timeout tests), sent ``posting_delay`` seconds after the PS. With
    ``require_link_description`` nothing but LS goes out until the bridge has sent LD, its
    LRs and LA (newer IFCs); without it records flow right after LS (older IFCs), which a
    bridge in server mode keeps as rejected input instead of acting on them.

    A database swap (DS, a GI with SF per in-house guest, DE) holds live records back until
    DE, unless ``swap_mixes_live``: then the swap goes out one record every
    ``swap_record_pause`` seconds and live records slip in between, as some PMSs do.
    ``stream_in_house_on_link_up`` sends a GI for every in-house guest after each link-up,
    without DS/DE (some protel sites).

    ``link_end_wait`` bounds how long `FiasSimulator.stop` waits for the bridge's LE.
    ``clock`` gives hotel local time (naive) for DA/TI stamps and the script's wake-ups.
    ``trace`` is told of every record sent and received (the command line prints them).
    """

    host: str = "127.0.0.1"
    port: int = 0
    encoding: str = "cp1252"
    lrc: bool = False
    rooms: Sequence[str] = DEFAULT_ROOMS
    posting_answer: str | None = "OK"
    posting_delay: float = 0.0
    require_link_description: bool = True
    mode: str = "server"
    swap_mixes_live: bool = False
    swap_record_pause: float = 0.05
    stream_in_house_on_link_up: bool = False
    reconnect_interval: float = 1.0
    link_end_wait: float = 2.0
    clock: Callable[[], dt.datetime] = dt.datetime.now
    trace: Trace | None = None

    def __post_init__(self) -> None:
        check_encoding(self.encoding)
        if self.mode not in MODES:
            raise ValueError(f"mode must be 'server' or 'client', not {self.mode!r}")
        if not 0 <= self.port < 65536:
            raise ValueError(f"port must be between 0 and 65535, not {self.port}")
        if self.mode == "client" and self.port == 0:
            raise ValueError("in client mode port is the bridge's port and cannot be 0")
        rooms = tuple(self.rooms)
        if not rooms:
            raise ValueError("the hotel needs at least one room")
        bad = [room for room in rooms if not isinstance(room, str) or not _ROOM.fullmatch(room)]
        if bad:
            raise ValueError(f"room numbers must be short strings of letters and digits, not {bad[0]!r}")
        if len(set(rooms)) != len(rooms):
            raise ValueError("room numbers must not repeat")
        object.__setattr__(self, "rooms", rooms)
        if self.posting_answer is not None and not _ANSWER_STATUS.fullmatch(self.posting_answer):
            raise ValueError(f"posting_answer must be two uppercase letters (OK, BY, UR...) or None, "
                             f"not {self.posting_answer!r}")
        for name in ("posting_delay", "swap_record_pause", "link_end_wait"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.reconnect_interval <= 0:
            raise ValueError("reconnect_interval must be positive")
