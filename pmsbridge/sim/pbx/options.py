"""What an emulator is built with (:class:`EmulatorOptions`) and how it misbehaves (:class:`Faults`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pmsbridge.languages import PROMPT_LANGUAGES


@dataclass(frozen=True, kw_only=True)
class EmulatorOptions:
    """Everything that makes one emulated FCM630A.

    Rooms are numbered ``str(100 + i)`` for ``i`` in ``1..rooms`` (so ``rooms=2000`` gives
    101..2100), each with the extension ``extension_template.format(room=room)``. An explicit
    ``extensions`` list replaces that: each listed extension is then its own room number.

    ``cookie_idle_timeout`` is how long a cookie survives without a request (the firmware's
    10 minutes). ``max_login_failures`` wrong challenges or logins from one IP address ban it
    for ``ban_seconds``. ``rate_limit`` is the number of requests per second one client IP
    may make before it is answered -45 (``None``: no limit). ``error_key`` is the member of
    ``response`` that carries an error text: the guide says ``error``, some units say
    ``error_msg``. ``state_dir`` keeps the generated certificate (a temporary directory,
    removed on stop, when ``None``). ``timezone`` is the PBX's local time for its call records
    (an IANA name; ``None``: the system's). ``vip_codes`` are the VIP category codes the unit
    takes (``None``: any 1-16 digits, as the guide; real units have been seen to take only
    ``0`` and ``1``); ``prompt_languages`` the languages it has voice prompts for (``default``
    is always taken).
    """

    host: str = "127.0.0.1"
    port: int = 0
    rooms: int = 100
    extension_template: str = "{room}"
    extensions: list[str] | None = None
    username: str = "cdrapi"
    password: str = "cdrapi-secret"
    pms_username: str = "pms"
    pms_password: str = "pms-secret"
    cookie_idle_timeout: float = 600.0
    max_login_failures: int = 5
    ban_seconds: float = 300.0
    rate_limit: float | None = None
    model: str = "FCM630A V1.5A"
    firmware: str = "1.0.20.13"
    state_dir: Path | None = None
    error_key: str = "error"
    timezone: str | None = None
    vip_codes: tuple[str, ...] | None = None
    prompt_languages: tuple[str, ...] = PROMPT_LANGUAGES

    def __post_init__(self) -> None:
        if self.rooms < 0:
            raise ValueError("rooms must not be negative")
        if "{room}" not in self.extension_template:
            raise ValueError('extension_template must contain {room}, e.g. "1{room}"')
        try:
            self.extension_template.format(room="101")
        except (KeyError, IndexError, ValueError):
            raise ValueError("extension_template may hold no placeholder but {room}") from None
        if not 0 <= self.port < 65536:
            raise ValueError("port must be between 0 and 65535")
        if self.cookie_idle_timeout <= 0 or self.ban_seconds < 0:
            raise ValueError("cookie_idle_timeout must be positive and ban_seconds not negative")
        if self.max_login_failures < 1:
            raise ValueError("max_login_failures must be at least 1")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("rate_limit must be positive (or None for no limit)")
        if self.extensions is not None and len(set(self.extensions)) != len(self.extensions):
            raise ValueError("extensions must not repeat")
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {self.timezone!r}") from None

    def room_extensions(self) -> dict[str, str]:
        """Room number -> extension, in room order."""
        if self.extensions is not None:
            return {extension: extension for extension in self.extensions}
        rooms = (str(100 + i) for i in range(1, self.rooms + 1))
        return {room: self.extension_template.format(room=room) for room in rooms}


@dataclass(frozen=True)
class Faults:
    """How the emulator misbehaves on ``/api`` (the ``/sim`` endpoints are never affected).

    ``latency``: seconds to wait before answering. ``drop_connections``: read the request,
    then close the connection without an answer (the request is not carried out).
    ``http_500``: answer HTTP 500 with an HTML page, as the web server in front of a busy
    unit does. ``down``: reset every connection (TCP RST) as soon as its request arrives.
    ``apply_blocked``: applyChanges answers -69 (a conference is running).
    """

    latency: float = 0.0
    drop_connections: bool = False
    http_500: bool = False
    down: bool = False
    apply_blocked: bool = False

    def with_changes(self, **changes: object) -> Faults:
        """A copy with ``changes`` applied; unknown names and wrong types raise ValueError."""
        known = [f.name for f in dataclasses.fields(self)]
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(known)}")
            if name == "latency":
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError("latency must be a non-negative number of seconds")
            elif not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

