"""Properties of the FIAS wire format that must hold for any input."""

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from pmsbridge.adapters.fias.protocol import (
    Frame,
    FrameDecoder,
    FramingError,
    Record,
    RecordError,
    compose_record,
    encode_frame,
    format_amount,
    format_date,
    format_time,
    parse_amount,
    parse_date,
    parse_record,
    parse_time,
)

# No deadline: a slow shared machine must not turn into a failing test.
properties = settings(deadline=None, max_examples=200)


def split_points(data: bytes):
    return st.lists(st.integers(0, len(data)), max_size=12).map(sorted)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *cuts, len(data)]
    return [data[start:end] for start, end in zip(bounds, bounds[1:])]


def decode(decoder: FrameDecoder, chunks: list[bytes]) -> list[Frame | FramingError]:
    items = []
    for chunk in chunks:
        items += decoder.feed(chunk)
    return items


@properties
@given(
    chunks=st.lists(st.binary(max_size=64) | st.sampled_from([b"\x02", b"\x03", b"\x02\x03"]), max_size=40),
    max_record=st.integers(1, 32),
    lrc=st.booleans(),
)
def test_decoder_never_raises_on_any_bytes(chunks, max_record, lrc):
    decoder = FrameDecoder(max_record=max_record, lrc=lrc)
    for item in decode(decoder, chunks):
        assert isinstance(item, Frame | FramingError)
        if isinstance(item, Frame):
            assert len(item.payload) <= max_record
            assert b"\x02" not in item.payload and b"\x03" not in item.payload


payloads = st.lists(st.binary(max_size=40).map(lambda raw: raw.replace(b"\x02", b"").replace(b"\x03", b"")), max_size=8)


@properties
@given(data=st.data(), payload_list=payloads, lrc=st.booleans())
def test_well_formed_frames_decode_the_same_however_they_are_split(data, payload_list, lrc):
    stream = b"".join(encode_frame(payload, lrc=lrc) for payload in payload_list)
    cuts = data.draw(split_points(stream))
    items = decode(FrameDecoder(max_record=40, lrc=lrc), chunked(stream, cuts))
    assert items == [Frame(payload) for payload in payload_list]


@properties
@given(data=st.data(), garbage=st.binary(max_size=20).map(lambda raw: raw.replace(b"\x02", b"")), payload_list=payloads)
def test_garbage_before_records_costs_nothing_but_a_report(data, garbage, payload_list):
    stream = garbage + b"".join(encode_frame(payload) for payload in payload_list)
    cuts = data.draw(split_points(stream))
    items = decode(FrameDecoder(max_record=40), chunked(stream, cuts))
    assert [item for item in items if isinstance(item, Frame)] == [Frame(payload) for payload in payload_list]
    assert b"".join(item.data for item in items if isinstance(item, FramingError)) == garbage


def encodable_alphabet(encoding: str) -> list[str]:
    characters = set()
    for byte in range(0x20, 0x100):
        try:
            character = bytes([byte]).decode(encoding)
        except UnicodeDecodeError:
            continue
        if character != "|" and not ("\x7f" <= character <= "\x9f"):
            characters.add(character)
    return sorted(characters)


field_ids = st.text(alphabet=[chr(code) for code in range(0x21, 0x7F) if chr(code) != "|"], min_size=2, max_size=2)
record_types = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2)
utf8_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="|"), max_size=30
)


@st.composite
def records_with_encoding(draw):
    encoding = draw(st.sampled_from(["cp850", "cp1252", "latin-1", "utf-8"]))
    values = utf8_values if encoding == "utf-8" else st.text(alphabet=encodable_alphabet(encoding), max_size=30)
    fields = draw(st.lists(st.tuples(field_ids, values), max_size=10))
    return Record(draw(record_types), tuple(fields)), encoding


@properties
@given(data=st.data(), record_and_encoding=records_with_encoding(), lrc=st.booleans())
def test_records_round_trip_through_the_wire(data, record_and_encoding, lrc):
    record, encoding = record_and_encoding
    stream = encode_frame(compose_record(record.type, record.fields, encoding), lrc=lrc)
    cuts = data.draw(split_points(stream))
    items = decode(FrameDecoder(max_record=len(stream), lrc=lrc), chunked(stream, cuts))
    assert len(items) == 1 and isinstance(items[0], Frame)
    assert parse_record(items[0].payload, encoding) == record


value_bytes = st.lists(
    st.sampled_from([b"1", b"a", b" ", b"\xc3\xa9", b"\xc2\x85", b"\xe9", b"\xff", b"\x81", b"\x01"]), max_size=6
).map(b"".join)
segments = st.tuples(st.sampled_from([b"RN", b"G#", b"SF", b"S", b""]), value_bytes).map(b"".join)
record_like_payloads = st.binary(max_size=60) | st.tuples(
    st.sampled_from([b"GI", b"LS", b"gi"]),
    st.sampled_from([b"|", b""]),
    st.lists(segments, max_size=5).map(b"|".join),
    st.sampled_from([b"|", b""]),
).map(b"".join)


@properties
@given(payload=record_like_payloads, encoding=st.sampled_from(["cp850", "cp1252", "utf-8"]))
def test_parse_record_fails_only_with_its_own_error_or_recomposes(payload, encoding):
    try:
        record = parse_record(payload, encoding)
    except RecordError:
        return
    # Parsing is lenient where composing is not: a missing final '|' and C1 controls.
    if any("\x80" <= character <= "\x9f" for _, value in record.fields for character in value):
        return
    expected = payload if payload.endswith(b"|") else payload + b"|"
    assert compose_record(record.type, record.fields, encoding) == expected


@properties
@given(day=st.dates(min_value=dt.date(1970, 1, 1), max_value=dt.date(2069, 12, 31)))
def test_dates_round_trip_inside_the_pivot_window(day):
    assert parse_date(format_date(day)) == day


@properties
@given(moment=st.times().map(lambda value: value.replace(microsecond=0)))
def test_times_round_trip(moment):
    assert parse_time(format_time(moment)) == moment


@properties
@given(digits=st.text(alphabet="0123456789", min_size=4, max_size=8))
def test_parse_time_keeps_hour_and_minute_or_refuses(digits):
    try:
        parsed = parse_time(digits)
    except ValueError:
        return
    assert parsed.hour == int(digits[:2]) and parsed.minute == int(digits[2:4])


@properties
@given(minor=st.integers(-(10**12), 10**12))
def test_amounts_round_trip(minor):
    assert parse_amount(format_amount(minor)) == minor
