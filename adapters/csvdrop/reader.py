"""Reading a dropped CSV file: bytes -> text -> header and rows, each row with its raw text.

- The bytes are decoded with the first of ``encodings`` that fits (``utf-8-sig`` reads UTF-8
  with or without a byte-order mark; ``cp1252`` then reads what Windows programs write).
- The first line that is neither blank nor a comment is the header. Its names are matched
  through ``COLUMN_ALIASES`` plus the site's ``columns`` (case, blanks and hyphens do not
  matter); columns no alias knows are ignored and reported.
- Lines starting with ``#`` are comments, except the trailer (``snapshot_trailer``,
  ``#END {rows}`` by default), which must be the last line and, when it has ``{rows}``,
  declare the number of data rows: a file cut short loses or contradicts it.
- Each row keeps its text as written (several lines for a quoted field with line breaks)
  and its first line number, so that the ledger and the rejected-rows file show the row
  exactly as the PMS wrote it.

A file that cannot be read as a whole raises ``FileRejected``; a row with a problem of its
own carries it in ``CsvRow.problem`` and the other rows are still used.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from pmsbridge.adapters.csvdrop.config import CsvDropSettings, normalise_name

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "action": ("action", "event", "type", "aktion"),
    "room": ("room", "room_number", "room_no", "roomno", "unit", "zimmer", "zimmernummer"),
    "from_room": ("from_room", "old_room", "previous_room", "source_room"),
    "reservation": ("reservation", "reservation_id", "reservation_number", "res_id", "resno", "booking",
                    "booking_id", "confirmation", "confirmation_number"),
    "last_name": ("last_name", "lastname", "surname", "family_name", "name", "nachname"),
    "first_name": ("first_name", "firstname", "given_name", "forename", "vorname"),
    "title": ("title", "salutation", "anrede"),
    "language": ("language", "lang", "language_code", "sprache"),
    "vip": ("vip", "vip_code"),
    "group": ("group", "group_name", "gruppe"),
    "arrival": ("arrival", "arrival_date", "check_in_date", "checkin_date", "anreise"),
    "departure": ("departure", "departure_date", "check_out_date", "checkout_date", "abreise"),
    "wakeup": ("wakeup", "wake_up", "wakeup_time", "wakeup_at", "weckzeit"),
}


class FileRejected(ValueError):
    """Raised when a file cannot be used at all; the message says why, for the operator."""


@dataclass(frozen=True)
class CsvRow:
    line: int
    raw: str
    fields: tuple[str, ...]
    values: Mapping[str, str] = field(default_factory=dict)
    """Canonical column -> the non-empty value, stripped."""
    problem: str | None = None


@dataclass(frozen=True)
class DropFile:
    encoding: str
    header: tuple[str, ...]
    rows: tuple[CsvRow, ...]
    has_trailer: bool
    ignored_columns: tuple[str, ...] = ()


def column_aliases(settings: CsvDropSettings) -> dict[str, str]:
    """Normalised header name -> canonical column, built-in aliases plus the site's."""
    aliases: dict[str, str] = {}
    for column, names in COLUMN_ALIASES.items():
        for name in (*names, *settings.columns.get(column, ())):
            aliases[name] = column
    return aliases


def decode(data: bytes, encodings: Sequence[str]) -> tuple[str, str]:
    """The text and the name of the first encoding that decodes ``data``."""
    for encoding in encodings:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise FileRejected(f"the file cannot be decoded as {' or '.join(encodings)}")


def trailer_pattern(template: str) -> re.Pattern[str]:
    """A regular expression for the trailer line; group "rows" holds the declared count."""
    prefix, placeholder, suffix = template.partition("{rows}")
    if not placeholder:
        return re.compile(re.escape(template.strip()))
    return re.compile(re.escape(prefix.strip()) + r"\s*(?P<rows>\d+)" + re.escape(suffix.rstrip()))


def _records(text: str, delimiter: str) -> Iterator[tuple[int, str, list[str]]]:
    """(first line number, raw text, fields) of each CSV record, blank lines included as []."""
    lines = list(io.StringIO(text, newline=""))
    reader = csv.reader(iter(lines), delimiter=delimiter)
    start = 0
    try:
        for fields in reader:
            end = reader.line_num
            yield start + 1, "".join(lines[start:end]).rstrip("\r\n"), fields
            start = end
    except csv.Error as err:
        raise FileRejected(f"line {start + 1}: {err}") from None


def read_drop_file(data: bytes, settings: CsvDropSettings, *, required: Sequence[str],
                   trailer_required: bool) -> DropFile:
    """Read a dropped file; see the module docstring. Raises ``FileRejected``."""
    text, encoding = decode(data, settings.encodings)
    if "\x00" in text:
        raise FileRejected("the file contains NUL bytes: it is not a text file, or it was still being written")
    aliases = column_aliases(settings)
    trailer = trailer_pattern(settings.snapshot_trailer)
    records = [record for record in _records(text, settings.delimiter) if any(part.strip() for part in record[2])]

    trailer_count: int | None = None
    has_trailer = False
    header: list[str] | None = None
    columns: dict[int, str] = {}
    ignored: list[str] = []
    rows: list[CsvRow] = []
    for position, (line, raw, fields) in enumerate(records):
        if raw.lstrip().startswith("#"):
            match = trailer.fullmatch(raw.strip().rstrip(settings.delimiter).rstrip())
            if match is None:
                continue
            if position != len(records) - 1:
                raise FileRejected(f"line {line}: the trailer {raw.strip()!r} is not the last line")
            has_trailer = True
            trailer_count = int(match["rows"]) if "rows" in trailer.groupindex else None
            continue
        if header is None:
            header = fields
            seen: dict[str, str] = {}
            for index, name in enumerate(fields):
                column = aliases.get(normalise_name(name))
                if column is None:
                    if name.strip():
                        ignored.append(name.strip())
                    continue
                if column in seen:
                    raise FileRejected(f"line {line}: the columns {seen[column]!r} and {name!r} both mean {column}")
                seen[column] = name
                columns[index] = column
            missing = [column for column in required if column not in seen]
            if missing:
                raise FileRejected(f"line {line}: no {' or '.join(missing)} column in the header "
                                   f"({', '.join(name for name in fields if name.strip())})")
            continue
        problem = None
        if any(part.strip() for part in fields[len(header):]):
            problem = f"the row has {len(fields)} fields, the header {len(header)}"
        values = {columns[index]: value.strip() for index, value in enumerate(fields)
                  if index in columns and value.strip()}
        rows.append(CsvRow(line, raw, tuple(fields), values, problem))

    if header is None:
        raise FileRejected("the file is empty: no header line")
    if trailer_required and not has_trailer:
        raise FileRejected(f"the file does not end with the trailer line {settings.snapshot_trailer!r}: "
                           "it may have been cut short")
    if trailer_count is not None and trailer_count != len(rows):
        raise FileRejected(f"the trailer declares {trailer_count} rows but the file has {len(rows)}: "
                           "it may have been cut short")
    return DropFile(encoding, tuple(header), tuple(rows), has_trailer, tuple(ignored))
