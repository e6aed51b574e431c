"""Which PBX extension rings in which room, and back.

Most hotels number extensions after rooms, so a template (``"{room}"``, ``"1{room}"``) maps
every room; single rooms that break the pattern get overrides, from ``[rooms.map]`` or from
a CSV file (``map_file``, columns ``room,extension``). An override to ``""`` means the room
has no phone.

An extension is 1-12 digits. A room is *unmapped* (``extension()`` returns ``None``) when
its override is ``""`` or not a valid extension, or when the template makes something that
is not one (room ``A12`` with ``"1{room}"`` gives ``1A12``); nothing is sent to the PBX for
it. ``validate()`` lists the mistakes an integrator should fix.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from string import Formatter

from pmsbridge.config import RoomsSettings

_EXTENSION = re.compile(r"[0-9]{1,12}")
# The shape of pmsbridge.events.RoomNumber, checked here to name the file line at fault.
_ROOM = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,15}")


class MappingError(ValueError):
    """Raised when a template or a map file cannot be used; the message names the file and line."""


def is_extension(value: str) -> bool:
    """Whether ``value`` is something the PBX can use as an extension (1-12 ASCII digits)."""
    return _EXTENSION.fullmatch(value) is not None


def _template_pattern(template: str) -> re.Pattern[str]:
    """A regular expression that recovers ``room`` from ``template.format(room=room)``."""
    parts: list[str] = []
    seen_room = False
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as err:
        raise MappingError(f"extension template {template!r}: {err}") from err
    for literal, field, spec, conversion in parsed:
        parts.append(re.escape(literal))
        if field is None:
            continue
        if field != "room" or spec or conversion:
            raise MappingError(f"extension template {template!r}: only a plain {{room}} placeholder is allowed")
        parts.append("(?P=room)" if seen_room else "(?P<room>.+?)")
        seen_room = True
    if not seen_room:
        raise MappingError(f"extension template {template!r} must contain {{room}}")
    return re.compile("".join(parts))


class RoomMapping:
    """Room number <-> extension, by template with per-room overrides.

    ``overrides`` map a room to its extension (``""``: the room has no phone) and win over
    the template in both directions.
    """

    def __init__(self, template: str, overrides: Mapping[str, str] | None = None):
        self._template = template
        self._pattern = _template_pattern(template)
        self._overrides = dict(overrides or {})

    @classmethod
    def from_settings(cls, settings: RoomsSettings) -> RoomMapping:
        """The mapping of ``[rooms]``: template, then ``map_file``, then ``map`` (which wins)."""
        overrides = read_map_file(settings.map_file) if settings.map_file is not None else {}
        overrides.update(settings.map)
        return cls(settings.extension_template, overrides)

    def extension(self, room: str) -> str | None:
        """The room's extension, or ``None`` when the room has no (valid) one."""
        if room in self._overrides:
            value = self._overrides[room]
        else:
            value = self._template.format(room=room)
        return value if is_extension(value) else None

    def overridden_rooms(self) -> list[str]:
        """The rooms named by overrides (``rooms.map``, the map file), with or without a phone."""
        return list(self._overrides)

    def has_no_phone(self, room: str) -> bool:
        """Whether the hotel said the room has no phone (an override to ``""``)."""
        return self._overrides.get(room) == ""

    def room(self, extension: str) -> str | None:
        """The room an extension belongs to, or ``None`` when it is no room's."""
        for room, value in self._overrides.items():
            if value == extension and is_extension(value):
                return room
        match = self._pattern.fullmatch(extension)
        if match is None:
            return None
        room = match.group("room")
        # A room with an override does not own its template extension any more.
        return room if self.extension(room) == extension else None

    def validate(
        self, known_extensions: Iterable[str] | None = None, *, rooms: Iterable[str] | None = None
    ) -> list[str]:
        """Every problem of the mapping, one sentence each; empty when it is sound.

        Checks the overrides, and with ``rooms`` (the hotel's room numbers, when known) the
        template's result for each of them too: two rooms on one extension, an extension that
        is not 1-12 digits, and with ``known_extensions`` an extension the PBX does not have.
        """
        known = None if known_extensions is None else set(known_extensions)
        problems: list[str] = []
        assigned: dict[str, str] = {}
        for room in dict.fromkeys([*self._overrides, *(rooms or ())]):
            if room in self._overrides:
                value = self._overrides[room]
                if value == "":
                    continue
                if not is_extension(value):
                    problems.append(f"room {room}: extension {value!r} is not 1-12 digits")
                    continue
            else:
                value = self._template.format(room=room)
                if not is_extension(value):
                    problems.append(
                        f"room {room}: the template gives {value!r}, which is not 1-12 digits; "
                        'map the room explicitly ("" if it has no phone)'
                    )
                    continue
            owner = assigned.setdefault(value, room)
            if owner != room:
                problems.append(f"rooms {owner} and {room} both map to extension {value}")
            if known is not None and value not in known:
                problems.append(f"room {room}: extension {value} is unknown to the PBX")
        return problems


def read_map_file(path: Path) -> dict[str, str]:
    """Read a ``room,extension`` CSV file (header required, UTF-8 with or without BOM).

    Blank lines are ignored; columns other than ``room`` and ``extension`` too. An empty
    extension means the room has no phone. Every problem raises ``MappingError`` naming
    ``file:line``.
    """
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise MappingError(f"{path}: cannot be read ({err.strerror or err})") from err
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise MappingError(f"{path}:{line}: not UTF-8 text") from err
    reader = csv.reader(text.splitlines(), strict=True)
    columns: dict[str, int] | None = None
    overrides: dict[str, str] = {}
    first_seen: dict[str, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            if columns is None:
                columns = {name.lower(): position for position, name in enumerate(cells)}
                if "room" not in columns or "extension" not in columns:
                    raise MappingError(f"{path}:{line}: expected the header line room,extension")
                continue
            if len(cells) != len(columns):
                raise MappingError(f"{path}:{line}: expected {len(columns)} columns, found {len(cells)}")
            room, extension = cells[columns["room"]], cells[columns["extension"]]
            if _ROOM.fullmatch(room) is None:
                raise MappingError(f"{path}:{line}: {room!r} is not a room number")
            if extension and not is_extension(extension):
                raise MappingError(f"{path}:{line}: extension {extension!r} is not 1-12 digits")
            if room in first_seen:
                raise MappingError(f"{path}:{line}: room {room} is already mapped on line {first_seen[room]}")
            first_seen[room] = line
            overrides[room] = extension
    except csv.Error as err:
        raise MappingError(f"{path}:{reader.line_num}: {err}") from err
    if columns is None:
        raise MappingError(f"{path}:1: expected the header line room,extension")
    return overrides
