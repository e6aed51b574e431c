"""FIAS wire format: framing, records, field values and the records the bridge sends.

Pure code: no sockets, threads, clock or logging. The adapter feeds received bytes to a
`FrameDecoder`, turns each `Frame` into a `Record` with `parse_record`, and sends what the
builders here return through `compose_record` and `encode_frame`.

Wire format (Oracle Hospitality FIAS 2.20)::

    STX  RT | F1 value | F2 value | ... |  ETX  [LRC]
    0x02 record type, then fields,         0x03  XOR of every byte after STX up to
         each a two-character id and             and including ETX (serial links, or
         its value, each closed by '|'           TCP when the site asks for it)

Field order carries no meaning but ids may repeat (a room move's GC carries GS twice, once
after each room), so a record keeps an ordered list of fields. Bytes 0x00-0x1F and 0x7F
never occur inside data. Text is in the site's code page (a single-byte one such as CP850
or CP1252) or UTF-8. Amounts are integers in minor units, dates ``YYMMDD`` and times
``HHMMSS`` in hotel local time without a zone.

Two kinds of failure, kept apart on purpose:

- framing faults (`FramingError`) are returned by the decoder as items, never raised: a
  noisy line must not stop the link, and the caller logs and counts them;
- a well-framed record whose content is malformed raises `RecordError` from
  `parse_record`; the caller logs it and goes on with the next record.
"""

from __future__ import annotations

import codecs
import dataclasses
import datetime as dt
import enum
import functools
import re
from collections.abc import Iterable, Mapping

from pmsbridge import __version__

STX = 0x02
ETX = 0x03

# '|' closes every field, so a code page must write it, and every other ASCII character, as
# the single ASCII byte; multi-byte Asian code pages reuse 0x7C inside characters.
_ASCII_PROBE = "".join(chr(code) for code in range(0x20, 0x7F))

_RECORD_TYPE = re.compile(r"[A-Z]{2}")
_RECORD_TYPE_BYTES = re.compile(rb"[A-Z]{2}")
_FIELD_ID = re.compile(r"[\x21-\x7b\x7d\x7e]{2}")
_FIELD_ID_BYTES = re.compile(rb"[\x21-\x7e]{2}")
_CONTROL_BYTE = re.compile(rb"[\x00-\x1f\x7f]")
# C1 controls (U+0080-U+009F) are rejected too: harmless on the wire in UTF-8 but never
# meaningful text, and a single-byte page would send them as bytes a PMS may misread.
_FORBIDDEN_IN_VALUE = re.compile(r"[|\x00-\x1f\x7f-\x9f]")
_FRAME_DELIMITER = re.compile(rb"[\x02\x03]")
_DIGITS = re.compile(r"[0-9]+")
_AMOUNT = re.compile(r"-?[0-9]+")

_MAX_SEQUENCE = 99_999_999
_MAX_DURATION_SECONDS = 100 * 3600 - 1


# --------------------------------------------------------------------------- framing


@dataclasses.dataclass(frozen=True)
class Frame:
    """One record as it came off the wire: the bytes between STX and ETX."""

    payload: bytes


class FramingErrorKind(enum.Enum):
    """What went wrong while cutting the byte stream into records."""

    GARBAGE = "garbage"
    """Bytes outside any record (before an STX, or a stray ETX); they were skipped."""
    INTERRUPTED = "interrupted"
    """An STX arrived inside a record; the partial record was dropped and a new one began."""
    OVERSIZED = "oversized"
    """A record grew beyond ``max_record`` bytes; it is dropped up to its ETX or the next STX."""
    BAD_LRC = "bad_lrc"
    """The check byte after ETX did not match (or was missing); the record was dropped."""
    CUT_OFF = "cut_off"
    """The stream ended inside a record (a connection reset); reported by `FrameDecoder.finish`."""


@dataclasses.dataclass(frozen=True)
class FramingError:
    """A framing fault reported by `FrameDecoder.feed` as an item, never raised.

    ``data`` holds the bytes concerned (skipped garbage, the partial record, the first
    ``max_record`` bytes of an oversized one, or the payload that failed its check) so the
    caller can log them in hex and count them; ``detail`` is a sentence for the log.
    """

    kind: FramingErrorKind
    data: bytes
    detail: str

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.detail}"


def _lrc(payload: bytes) -> int:
    check = ETX
    for byte in payload:
        check ^= byte
    return check


def encode_frame(payload: bytes, lrc: bool = False) -> bytes:
    """Wrap a record payload in STX/ETX, followed by its LRC byte when ``lrc`` is set.

    Raises ValueError when the payload contains STX or ETX, which would cut it in two.
    """
    payload = bytes(payload)
    if STX in payload or ETX in payload:
        raise ValueError("a FIAS record payload cannot contain STX (0x02) or ETX (0x03)")
    frame = bytes([STX]) + payload + bytes([ETX])
    if lrc:
        frame += bytes([_lrc(payload)])
    return frame


class _DecoderState(enum.Enum):
    IDLE = enum.auto()
    RECORD = enum.auto()
    CHECK_BYTE = enum.auto()
    DISCARD = enum.auto()
    DISCARD_CHECK_BYTE = enum.auto()


class FrameDecoder:
    """Cuts a byte stream into `Frame` items, reporting faults as `FramingError` items.

    Incremental: `feed` accepts chunks split anywhere (TCP gives no record boundaries) and
    returns what the chunk completed, in stream order. It never raises on any input and
    resynchronises on the next STX after every fault. One decoder per connection: a new
    connection starts with a new decoder, so a record cut off by a disconnect is not glued
    to the next connection's first bytes.

    ``max_record`` bounds the bytes between STX and ETX, so a peer that never sends ETX
    cannot make the decoder buffer without limit. With ``lrc`` the byte after ETX is the
    record's check byte.
    """

    def __init__(self, max_record: int = 4096, lrc: bool = False) -> None:
        if max_record < 1:
            raise ValueError(f"max_record must be at least 1, not {max_record}")
        self.max_record = max_record
        self.lrc = lrc
        self._state = _DecoderState.IDLE
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame | FramingError]:
        """Consume ``data`` and return the frames and faults it completed, in order."""
        items: list[Frame | FramingError] = []
        data = bytes(data)
        position = 0
        while position < len(data):
            if self._state is _DecoderState.IDLE:
                position = self._skip_to_record(data, position, items)
            elif self._state is _DecoderState.RECORD:
                position = self._collect(data, position, items)
            elif self._state is _DecoderState.CHECK_BYTE:
                position = self._check(data, position, items)
            elif self._state is _DecoderState.DISCARD:
                position = self._discard(data, position)
            else:  # the check byte of a dropped oversized record
                self._state = _DecoderState.IDLE
                position += 1
        return items

    def _skip_to_record(self, data: bytes, position: int, items: list[Frame | FramingError]) -> int:
        start = data.find(STX, position)
        end = len(data) if start == -1 else start
        if end > position:
            skipped = data[position:end]
            items.append(
                FramingError(FramingErrorKind.GARBAGE, skipped, f"{len(skipped)} bytes outside a record skipped")
            )
        if start == -1:
            return end
        self._begin_record()
        return start + 1

    def _collect(self, data: bytes, position: int, items: list[Frame | FramingError]) -> int:
        room = self.max_record - len(self._buffer)
        # Look one byte past the limit: a delimiter there still ends a full-size record.
        window_end = min(len(data), position + room + 1)
        delimiter = _FRAME_DELIMITER.search(data, position, window_end)
        if delimiter is None:
            chunk = data[position:window_end]
            if len(chunk) <= room:
                self._buffer += chunk
                return window_end
            head = bytes(self._buffer) + chunk[:room]
            items.append(
                FramingError(
                    FramingErrorKind.OVERSIZED,
                    head,
                    f"record longer than {self.max_record} bytes dropped",
                )
            )
            self._buffer.clear()
            self._state = _DecoderState.DISCARD
            return position + room
        self._buffer += data[position : delimiter.start()]
        if data[delimiter.start()] == STX:
            partial = bytes(self._buffer)
            items.append(
                FramingError(
                    FramingErrorKind.INTERRUPTED,
                    partial,
                    f"record of {len(partial)} bytes interrupted by STX and dropped",
                )
            )
            self._begin_record()
        elif self.lrc:
            self._state = _DecoderState.CHECK_BYTE
        else:
            items.append(Frame(bytes(self._buffer)))
            self._end_record()
        return delimiter.end()

    def _check(self, data: bytes, position: int, items: list[Frame | FramingError]) -> int:
        payload = bytes(self._buffer)
        expected = _lrc(payload)
        received = data[position]
        if received == expected:
            items.append(Frame(payload))
            self._end_record()
            return position + 1
        if received == STX:
            # A peer that sends no check byte: take the STX as the next record's start
            # rather than losing every second record.
            items.append(
                FramingError(
                    FramingErrorKind.BAD_LRC,
                    payload,
                    f"check byte missing (expected 0x{expected:02X}, the next record began)",
                )
            )
            self._begin_record()
            return position + 1
        items.append(
            FramingError(
                FramingErrorKind.BAD_LRC,
                payload,
                f"check byte 0x{received:02X} does not match 0x{expected:02X}; record dropped",
            )
        )
        self._end_record()
        return position + 1

    def _discard(self, data: bytes, position: int) -> int:
        delimiter = _FRAME_DELIMITER.search(data, position)
        if delimiter is None:
            return len(data)
        if data[delimiter.start()] == STX:
            self._begin_record()
        else:
            self._state = _DecoderState.DISCARD_CHECK_BYTE if self.lrc else _DecoderState.IDLE
        return delimiter.end()

    def finish(self) -> FramingError | None:
        """The stream has ended: the record it cut off, if any, as a ``CUT_OFF`` fault.

        Returns None when no record was begun, or when the one begun holds no byte yet. The
        decoder is ready for a new stream afterwards.
        """
        fault = None
        if self._state in (_DecoderState.RECORD, _DecoderState.CHECK_BYTE) and self._buffer:
            partial = bytes(self._buffer)
            ended = "before its check byte" if self._state is _DecoderState.CHECK_BYTE else "before its ETX"
            fault = FramingError(FramingErrorKind.CUT_OFF, partial, f"record of {len(partial)} bytes ended {ended}")
        self._end_record()
        return fault

    def _begin_record(self) -> None:
        self._buffer.clear()
        self._state = _DecoderState.RECORD

    def _end_record(self) -> None:
        self._buffer.clear()
        self._state = _DecoderState.IDLE


# --------------------------------------------------------------------------- encodings


@functools.cache
def check_encoding(name: str) -> str:
    """Return the normalised codec name for a site encoding, or raise ValueError.

    Accepted: UTF-8 and single-byte code pages that write ASCII as ASCII (CP850, CP1252,
    Latin-1...). Rejected: unknown names, non-text codecs, and encodings whose bytes could
    imitate STX, ETX or '|' (UTF-16, EBCDIC, Shift-JIS and other multi-byte pages).
    """
    try:
        codec = codecs.lookup(name).name
        writes_ascii_as_ascii = _ASCII_PROBE.encode(codec) == _ASCII_PROBE.encode("ascii")
    except (LookupError, UnicodeError) as err:
        raise ValueError(f"unknown or unusable text encoding {name!r}") from err
    if not writes_ascii_as_ascii:
        raise ValueError(f"encoding {name!r} does not write ASCII as single ASCII bytes; FIAS needs it to")
    if codec != "utf-8" and not _is_single_byte(codec):
        raise ValueError(f"encoding {name!r} is multi-byte; FIAS needs a single-byte code page or UTF-8")
    return codec


def utf8_reading(payload: bytes, encoding: str) -> str | None:
    """How a record on a single-byte code page would read in UTF-8, when it looks like UTF-8.

    Returns ``"<field id> '<value in UTF-8>'"`` for the first field whose bytes are non-ASCII
    when the whole payload is valid UTF-8 (a PMS sending UTF-8 on a link set to cp1252
    makes "Müller" read "MÃ¼ller"); None for a UTF-8 site, an ASCII record, or bytes that are
    not UTF-8 (genuine single-byte text almost never is).
    """
    if check_encoding(encoding) == "utf-8" or payload.isascii():
        return None
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    segment = next(part for part in payload.split(b"|") if not part.isascii())
    return f"{segment[:2].decode('utf-8', errors='replace')} {segment[2:].decode('utf-8')!r}"


def _is_single_byte(codec: str) -> bool:
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    return all(len(decoder.decode(bytes([byte]))) == 1 for byte in range(256))


# --------------------------------------------------------------------------- records


class RecordError(ValueError):
    """Raised by `parse_record` when a well-framed payload is not a valid FIAS record.

    ``reason`` says what is wrong (and where), ``raw`` is the payload for the log, and
    ``offset`` is the byte offset in ``raw`` at fault when there is one.
    """

    def __init__(self, reason: str, raw: bytes, offset: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw
        self.offset = offset


@dataclasses.dataclass(frozen=True)
class Record:
    """A FIAS record: its two-letter type and its fields in wire order, repeats kept.

    A field without a value (a flag such as SF) has the value ``""``.
    """

    type: str
    fields: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple((field_id, value) for field_id, value in self.fields))

    def get(self, field_id: str, default: str | None = None) -> str | None:
        """The value of the first field ``field_id``, or ``default`` when absent."""
        for candidate, value in self.fields:
            if candidate == field_id:
                return value
        return default

    def get_all(self, field_id: str) -> list[str]:
        """Every value of field ``field_id``, in wire order."""
        return [value for candidate, value in self.fields if candidate == field_id]

    def __contains__(self, field_id: object) -> bool:
        return any(candidate == field_id for candidate, _ in self.fields)

    def has_flag(self, field_id: str) -> bool:
        """Whether a flag field is set: present, and its value (if any) is not ``N``.

        Serves both valueless flags (``SF``) and yes/no fields (``GSY`` / ``GSN``).
        """
        value = self.get(field_id)
        return value is not None and value.strip().upper() != "N"


def parse_record(payload: bytes, encoding: str) -> Record:
    """Parse a frame payload (without STX/ETX) into a `Record`.

    Text is decoded strictly in ``encoding`` (see `check_encoding`). A missing final '|' is
    tolerated, and so is a bare record type (``NS``). Raises `RecordError` for a type that
    is not two uppercase letters, a missing '|' after the type, a field id that is not two
    printable ASCII characters, a control byte, or bytes invalid in the encoding.
    """
    codec = check_encoding(encoding)
    raw = bytes(payload)
    if not _RECORD_TYPE_BYTES.fullmatch(raw[:2]):
        raise RecordError(f"record type {raw[:2]!r} is not two uppercase letters", raw, 0)
    if len(raw) > 2 and raw[2:3] != b"|":
        raise RecordError(f"missing '|' after record type (byte 0x{raw[2]:02X} at offset 2)", raw, 2)
    control = _CONTROL_BYTE.search(raw)
    if control is not None:
        offset = control.start()
        raise RecordError(f"control byte 0x{raw[offset]:02X} at offset {offset}", raw, offset)

    fields: list[tuple[str, str]] = []
    segments = raw[3:].split(b"|")
    if segments[-1] == b"":
        segments.pop()
    offset = 3
    for segment in segments:
        if not _FIELD_ID_BYTES.fullmatch(segment[:2]):
            raise RecordError(
                f"field id {segment[:2]!r} at offset {offset} is not two printable ASCII characters", raw, offset
            )
        # '|' and ASCII stay single bytes in every accepted encoding, so decoding field by
        # field gives the same text as decoding the whole payload, with byte offsets.
        try:
            value = segment[2:].decode(codec)
        except UnicodeDecodeError as err:
            bad = offset + 2 + err.start
            raise RecordError(f"byte 0x{raw[bad]:02X} at offset {bad} is not valid {codec}", raw, bad) from err
        fields.append((segment[:2].decode("ascii"), value))
        offset += len(segment) + 1
    return Record(raw[:2].decode("ascii"), tuple(fields))


def compose_record(record_type: str, fields: Iterable[tuple[str, str]], encoding: str) -> bytes:
    """Build a record payload (without STX/ETX): ``RT|F1value|F2value|``.

    Raises ValueError naming the culprit for a record type that is not two uppercase
    letters, a field id that is not two printable ASCII characters other than '|', a value
    containing '|' or a control character, or a character the site encoding cannot write.
    Nothing is replaced silently: a wrong byte in a guest-visible field is worse than an
    error the caller can log.
    """
    codec = check_encoding(encoding)
    if not isinstance(record_type, str) or not _RECORD_TYPE.fullmatch(record_type):
        raise ValueError(f"record type {record_type!r} is not two uppercase letters")
    parts = [record_type.encode("ascii")]
    for field_id, value in fields:
        if not isinstance(field_id, str) or not _FIELD_ID.fullmatch(field_id):
            raise ValueError(f"field id {field_id!r} in {record_type} is not two printable ASCII characters")
        if not isinstance(value, str):
            raise ValueError(f"field {field_id} in {record_type}: value {value!r} is not text")
        forbidden = _FORBIDDEN_IN_VALUE.search(value)
        if forbidden is not None:
            raise ValueError(
                f"field {field_id} in {record_type}: value contains {forbidden.group()!r}, which FIAS cannot carry"
            )
        try:
            encoded = value.encode(codec)
        except UnicodeEncodeError as err:
            raise ValueError(
                f"field {field_id} in {record_type}: {value[err.start]!r} cannot be written in {codec}"
            ) from err
        parts.append(field_id.encode("ascii") + encoded)
    return b"|".join(parts) + b"|"


# --------------------------------------------------------------------------- values


def parse_date(value: str, pivot: int = 70) -> dt.date:
    """Parse a FIAS date: ``YYMMDD``, or leniently ``YYYYMMDD``.

    A two-digit year below ``pivot`` is 20YY, otherwise 19YY (pivot 70: 69 is 2069 and 70
    is 1970). Raises ValueError with the offending value otherwise.
    """
    if not 0 <= pivot <= 100:
        raise ValueError(f"year pivot must be between 0 and 100, not {pivot}")
    if not _DIGITS.fullmatch(value) or len(value) not in (6, 8):
        raise ValueError(f"date {value!r} is not YYMMDD (or YYYYMMDD)")
    if len(value) == 6:
        two_digit_year = int(value[:2])
        year = (2000 if two_digit_year < pivot else 1900) + two_digit_year
        month_day = value[2:]
    else:
        year = int(value[:4])
        month_day = value[4:]
    try:
        return dt.date(year, int(month_day[:2]), int(month_day[2:]))
    except ValueError as err:
        raise ValueError(f"date {value!r} is not a calendar date: {err}") from err


def parse_time(value: str) -> dt.time:
    """Parse a FIAS time: ``HHMMSS`` or ``HHMM``, leniently.

    Up to two extra trailing digits are ignored (the specification's own example carries
    ``TI1252001``) and a leap second 60 reads as 59. Hours above 23 or minutes above 59
    raise ValueError: guessing there would move a wake-up call.
    """
    if not _DIGITS.fullmatch(value) or not 4 <= len(value) <= 8:
        raise ValueError(f"time {value!r} is not HHMMSS or HHMM")
    hour, minute = int(value[:2]), int(value[2:4])
    second = min(int(value[4:6]), 59) if len(value) >= 6 else 0
    if hour > 23 or minute > 59:
        raise ValueError(f"time {value!r} is not a time of day")
    return dt.time(hour, minute, second)


def parse_datetime(date_value: str, time_value: str, pivot: int = 70) -> dt.datetime:
    """Combine a FIAS date and time field into a naive datetime in hotel local time."""
    return dt.datetime.combine(parse_date(date_value, pivot), parse_time(time_value))


def format_date(value: dt.date) -> str:
    """``YYMMDD``."""
    return f"{value.year % 100:02d}{value.month:02d}{value.day:02d}"


def format_time(value: dt.time | dt.datetime) -> str:
    """``HHMMSS``."""
    return f"{value.hour:02d}{value.minute:02d}{value.second:02d}"


def parse_amount(value: str) -> int:
    """Parse a FIAS amount in minor units (``1050`` is 10.50), optionally negative."""
    if not _AMOUNT.fullmatch(value):
        raise ValueError(f"amount {value!r} is not a whole number of minor units")
    return int(value)


def format_amount(minor: int) -> str:
    """Write an amount in minor units, without a decimal point."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise ValueError(f"amount {minor!r} is not a whole number of minor units")
    return str(minor)


def _format_duration(duration: dt.timedelta) -> str:
    seconds = int(duration.total_seconds())
    if not 0 <= seconds <= _MAX_DURATION_SECONDS:
        raise ValueError(f"call duration {duration} does not fit HHMMSS")
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}{rest // 60:02d}{rest % 60:02d}"


# --------------------------------------------------------------------------- records we send


class AnswerStatus(enum.StrEnum):
    """FIAS answer status (field AS) in WA and PA records."""

    OK = "OK"
    BUSY = "BY"
    NO_RESPONSE = "NR"
    DELETED = "DE"
    RETRY = "RY"
    UNPROCESSABLE = "UR"
    """Do not retry."""
    GUEST_NOT_FOUND = "NG"
    NO_POST = "NP"
    FEATURE_NOT_ALLOWED = "FX"
    INVALID_ACCOUNT = "IA"
    DENIED = "DN"
    NIGHT_AUDIT = "NA"


RECORDS_WE_USE: dict[str, str] = {
    "GI": "RNG#GSGNGFGTGLGVGGGAGDCSNPSFDATI",
    "GO": "RNG#GSSFDATI",
    "GC": "RNG#GSGNGFGTGLGVGGGAGDCSNPROSFDATI",
    "RE": "RNCSDNMLRSDATI",
    "WR": "RNDATI",
    "WC": "RNDATI",
    "WA": "RNDATIAS",
    "PS": "P#RNPTTADDDUDATI",
    "PA": "ASP#RNDATI",
    "DR": "DATI",
    "DS": "DATI",
    "DE": "DATI",
    "XL": "RNG#MIMTDATI",
    "XD": "RNG#MIDATI",
    "LS": "DATI",
    "LA": "DATI",
    "LE": "DATI",
}
"""Every record type the bridge handles and the field ids it uses (the LR ``FL`` value)."""

LINK_LAYER_RECORDS: frozenset[str] = frozenset({"LS", "LD", "LR", "LA", "LE"})
"""The handshake every link speaks; never announced in LR."""

SWAP_RECORDS: frozenset[str] = frozenset({"DR", "DS", "DE"})
"""The database swap's request, start and end: part of every link, so never announced in LR either."""

RECORDS_FROM_PMS: frozenset[str] = frozenset(
    {"GI", "GO", "GC", "RE", "WR", "WC", "PA", "DS", "DE", "XL", "XD", "LS", "LA", "LE"}
)
"""Record types the PMS sends to the bridge."""

RECORDS_TO_PMS: frozenset[str] = frozenset({"RE", "WR", "WC", "WA", "PS", "DR", "LS", "LD", "LR", "LA", "LE"})
"""Record types the bridge sends to the PMS."""


def _stamp(now: dt.datetime) -> tuple[tuple[str, str], ...]:
    return (("DA", format_date(now)), ("TI", format_time(now)))


def link_start(now: dt.datetime) -> Record:
    """LS: opens the link, and doubles as the alive check (at most every 5 minutes)."""
    return Record("LS", _stamp(now))


def link_description(now: dt.datetime, version: str = __version__) -> Record:
    """LD: the answer to the PMS's LS, describing the bridge as a PBX interface (IF PB) of ``version``.

    V# carries the version alone (``V#0.1.0``), as FIAS peers read it; the product's name has
    no field of its own in FIAS and appears in the bridge's log instead.
    """
    return Record("LD", (*_stamp(now), ("V#", version), ("IF", "PB")))


def link_records(used: Mapping[str, str]) -> list[Record]:
    """LR: one record per record type in ``used`` (type -> concatenated field ids).

    Link-layer types (LS LD LR LA LE) and the swap's (DR DS DE) are skipped: FIAS
    configures neither by LR. Raises ValueError for a field list that is not a run of
    two-character ids.
    """
    announcements = []
    for record_type, field_ids in used.items():
        if record_type in LINK_LAYER_RECORDS or record_type in SWAP_RECORDS:
            continue
        ids = [field_ids[start : start + 2] for start in range(0, len(field_ids), 2)]
        if not ids or not all(_FIELD_ID.fullmatch(field_id) for field_id in ids):
            raise ValueError(f"field list {field_ids!r} for {record_type} is not a run of two-character ids")
        announcements.append(Record("LR", (("RI", record_type), ("FL", field_ids))))
    return announcements


def link_alive(now: dt.datetime) -> Record:
    """LA: ends the bridge's side of the handshake and answers the PMS's alive check."""
    return Record("LA", _stamp(now))


def link_end(now: dt.datetime) -> Record:
    """LE: closes the link."""
    return Record("LE", _stamp(now))


def database_resync_request(now: dt.datetime) -> Record:
    """DR: asks the PMS for a database swap (DS, GI with SF for every guest, DE)."""
    return Record("DR", _stamp(now))


def wakeup_answer(
    room: str, date: dt.date | str, time: dt.time | str, status: AnswerStatus | str
) -> Record:
    """WA: the outcome of a wake-up request or call.

    ``date`` and ``time`` may be the request's own DA/TI strings, sent back verbatim so
    the PMS recognises its request (empty strings answer a WC that cleared every wake-up).
    Raises ValueError for an empty room or an unknown status.
    """
    if not room:
        raise ValueError("a wake-up answer needs a room")
    date_value = date if isinstance(date, str) else format_date(date)
    time_value = time if isinstance(time, str) else format_time(time)
    answer = AnswerStatus(status)
    return Record("WA", (("RN", room), ("DA", date_value), ("TI", time_value), ("AS", answer.value)))


def posting_simple(
    sequence: int,
    room: str,
    when: dt.datetime,
    *,
    amount: int | None = None,
    dialled: str | None = None,
    duration: dt.timedelta | None = None,
) -> Record:
    """PS: a posting, the bridge's only way to charge a guest.

    With ``amount`` (minor units) it is a direct charge (PT C, TA), optionally carrying the
    call's DD and DU for the folio. Without it the PMS rates the call itself (PT T), which
    needs ``dialled`` (DD) and ``duration`` (DU). ``when`` is the call's start (DA/TI) and
    ``sequence`` the posting number P# (1-99999999) that the PMS echoes in its PA.
    Raises ValueError for anything out of range or missing.
    """
    if isinstance(sequence, bool) or not isinstance(sequence, int) or not 1 <= sequence <= _MAX_SEQUENCE:
        raise ValueError(f"posting sequence {sequence!r} is not between 1 and {_MAX_SEQUENCE}")
    if not room:
        raise ValueError("a posting needs a room")
    fields: list[tuple[str, str]] = [("P#", str(sequence)), ("RN", room)]
    if amount is not None:
        fields += [("PT", "C"), ("TA", format_amount(amount))]
    elif not dialled or duration is None:
        raise ValueError("a telephone posting without an amount needs the dialled digits and the duration")
    else:
        fields.append(("PT", "T"))
    if dialled:
        fields.append(("DD", dialled))
    if duration is not None:
        fields.append(("DU", _format_duration(duration)))
    fields += _stamp(when)
    return Record("PS", tuple(fields))
