"""FIAS framing, records, values and the records the bridge sends."""

import datetime as dt

import pytest

from pmsbridge.adapters.fias.protocol import (
    LINK_LAYER_RECORDS,
    RECORDS_FROM_PMS,
    RECORDS_TO_PMS,
    RECORDS_WE_USE,
    STX,
    SWAP_RECORDS,
    AnswerStatus,
    Frame,
    FrameDecoder,
    FramingError,
    FramingErrorKind,
    Record,
    RecordError,
    check_encoding,
    compose_record,
    database_resync_request,
    encode_frame,
    format_amount,
    format_date,
    format_time,
    link_alive,
    link_description,
    link_end,
    link_records,
    link_start,
    parse_amount,
    parse_date,
    parse_datetime,
    parse_record,
    parse_time,
    posting_simple,
    utf8_reading,
    wakeup_answer,
)

# The "Example records" of the FIAS notes, byte for byte.
EXAMPLE_RECORDS = [
    b"LS|DA261127|TI094123|",
    b"LD|DA261127|TI094124|V#1.0|IFPB|",
    b"LR|RIGI|FLRNG#GNGFGLGVGAGDGSCSSF|",
    b"LA|DA261127|TI094124|",
    b"GI|RN2781|G#12345|GNGuest, Mr.|GLEA|GV3|GGA123|GSN|",
    b"GC|RN9327|GSN|G#12345|GNGuest, Mr.|GLEA|GV3|GGA123|RO2781|GSY|",
    b"GO|RN9327|G#12345|GSN|",
    b"RE|RN2781|CS2|DNN|",
    b"WR|RN2781|DA001031|TI070000|",
    b"WA|RN2781|DA001031|TI070000|ASBY|",
    b"PS|RN2781|PTC|TA1050|DA000915|TI123545|P#1729|DD004989920920|PCI|CTInternational|",
    b"PA|RN2781|ASOK|P#1729|DA000915|TI123545|",
    b"DS|DA001005|TI125047|",
    b"GI|RN1001|G#12345|GSN|SF|",
    b"DE|DA001005|TI125200|",
]

NOW = dt.datetime(2026, 11, 27, 9, 41, 23)


def frames(items):
    return [item.payload for item in items if isinstance(item, Frame)]


def errors(items):
    return [item for item in items if isinstance(item, FramingError)]


# --------------------------------------------------------------------------- framing


def test_encode_frame_wraps_payload_in_stx_etx():
    assert encode_frame(b"LS|DA261127|TI094123|") == b"\x02LS|DA261127|TI094123|\x03"


def test_encode_frame_appends_lrc_of_payload_and_etx():
    payload = b"LA|"
    expected = 0x03
    for byte in payload:
        expected ^= byte
    assert encode_frame(payload, lrc=True) == b"\x02LA|\x03" + bytes([expected])


@pytest.mark.parametrize("payload", [b"GI|RN1\x02|", b"GI|RN1\x03|"])
def test_encode_frame_rejects_delimiters_inside_payload(payload):
    with pytest.raises(ValueError, match="STX"):
        encode_frame(payload)


def test_decoder_yields_every_example_record_from_one_chunk():
    stream = b"".join(encode_frame(payload) for payload in EXAMPLE_RECORDS)
    items = FrameDecoder().feed(stream)
    assert items == [Frame(payload) for payload in EXAMPLE_RECORDS]


def test_decoder_assembles_a_record_fed_byte_by_byte():
    decoder = FrameDecoder()
    stream = encode_frame(EXAMPLE_RECORDS[4]) + encode_frame(EXAMPLE_RECORDS[5])
    items = []
    for byte in stream:
        items += decoder.feed(bytes([byte]))
    assert items == [Frame(EXAMPLE_RECORDS[4]), Frame(EXAMPLE_RECORDS[5])]


def test_finish_reports_the_record_a_closed_connection_cut_off():
    decoder = FrameDecoder(lrc=True)
    assert decoder.feed(encode_frame(b"GI|RN101|", lrc=True) + b"\x02GI|RN102|GNCu") == [Frame(b"GI|RN101|")]
    cut = decoder.finish()
    assert (cut.kind, cut.data) == (FramingErrorKind.CUT_OFF, b"GI|RN102|GNCu")
    assert "ended before its ETX" in str(cut)
    assert decoder.feed(b"GO|RN1|\x03") == [FramingError(FramingErrorKind.GARBAGE, b"GO|RN1|\x03",
                                                          "8 bytes outside a record skipped")]
    decoder.feed(b"\x02GO|RN1|\x03")
    assert "before its check byte" in str(decoder.finish())
    assert decoder.finish() is None
    decoder.feed(b"\x02")
    assert decoder.finish() is None  # nothing of the record arrived


def test_utf8_reading_spots_utf8_on_a_single_byte_link():
    assert utf8_reading("GI|RN101|GNMüller|".encode(), "cp1252") == "GN 'Müller'"
    assert utf8_reading("GI|RN101|GNMüller|".encode("cp1252"), "cp1252") is None
    assert utf8_reading("GI|RN101|GNMüller|".encode(), "utf-8") is None
    assert utf8_reading(b"GI|RN101|GNDoe|", "cp850") is None


def test_decoder_reports_garbage_before_stx_and_keeps_the_record():
    items = FrameDecoder().feed(b"\x06\x15noise" + encode_frame(b"LS|"))
    assert items[0] == FramingError(FramingErrorKind.GARBAGE, b"\x06\x15noise", items[0].detail)
    assert "7 bytes" in items[0].detail
    assert items[1:] == [Frame(b"LS|")]


def test_decoder_reports_stray_etx_and_bytes_between_records_as_garbage():
    decoder = FrameDecoder()
    items = decoder.feed(encode_frame(b"LS|") + b"\x03xy")
    items += decoder.feed(b"z" + encode_frame(b"LA|"))
    assert frames(items) == [b"LS|", b"LA|"]
    assert [(error.kind, error.data) for error in errors(items)] == [
        (FramingErrorKind.GARBAGE, b"\x03xy"),
        (FramingErrorKind.GARBAGE, b"z"),
    ]


def test_decoder_keeps_a_record_of_exactly_max_record_bytes():
    payload = b"GI|RN12345|"
    assert FrameDecoder(max_record=len(payload)).feed(encode_frame(payload)) == [Frame(payload)]


def test_decoder_rejects_an_oversized_record_and_resynchronises():
    decoder = FrameDecoder(max_record=10)
    items = decoder.feed(b"\x02GI|RN12345|GNx")
    items += decoder.feed(b"yz|\x03" + encode_frame(b"LA|"))
    assert [error.kind for error in errors(items)] == [FramingErrorKind.OVERSIZED]
    assert errors(items)[0].data == b"GI|RN12345"
    assert frames(items) == [b"LA|"]


def test_decoder_drops_an_endless_record_and_takes_the_next_stx():
    decoder = FrameDecoder(max_record=8)
    items = decoder.feed(b"\x02" + b"A" * 100)
    items += decoder.feed(b"B" * 100)
    items += decoder.feed(encode_frame(b"LS|"))
    assert [error.kind for error in errors(items)] == [FramingErrorKind.OVERSIZED]
    assert frames(items) == [b"LS|"]


def test_decoder_skips_the_check_byte_of_an_oversized_record():
    decoder = FrameDecoder(max_record=4, lrc=True)
    oversized = encode_frame(b"GI|RN1|", lrc=True)
    items = decoder.feed(oversized + encode_frame(b"LA|", lrc=True))
    assert [error.kind for error in errors(items)] == [FramingErrorKind.OVERSIZED]
    assert frames(items) == [b"LA|"]


def test_decoder_reports_a_record_interrupted_by_stx():
    items = FrameDecoder().feed(b"\x02GI|RN27" + encode_frame(b"GO|RN2781|"))
    assert items[0].kind is FramingErrorKind.INTERRUPTED
    assert items[0].data == b"GI|RN27"
    assert items[1:] == [Frame(b"GO|RN2781|")]


def test_decoder_accepts_a_good_lrc():
    decoder = FrameDecoder(lrc=True)
    stream = b"".join(encode_frame(payload, lrc=True) for payload in EXAMPLE_RECORDS)
    assert decoder.feed(stream) == [Frame(payload) for payload in EXAMPLE_RECORDS]


def test_decoder_accepts_an_lrc_that_happens_to_be_stx():
    payload = b"A@"  # 0x41 ^ 0x40 ^ ETX == 0x02
    framed = encode_frame(payload, lrc=True)
    assert framed[-1] == STX
    assert FrameDecoder(lrc=True).feed(framed + encode_frame(b"LS|", lrc=True)) == [Frame(b"A@"), Frame(b"LS|")]


def test_decoder_rejects_a_bad_lrc_and_decodes_the_next_record():
    good = encode_frame(b"LS|", lrc=True)
    bad = good[:-1] + bytes([good[-1] ^ 0xFF])
    items = FrameDecoder(lrc=True).feed(bad + encode_frame(b"LA|", lrc=True))
    assert [(error.kind, error.data) for error in errors(items)] == [(FramingErrorKind.BAD_LRC, b"LS|")]
    assert frames(items) == [b"LA|"]


def test_decoder_with_lrc_survives_a_peer_that_sends_none():
    decoder = FrameDecoder(lrc=True)
    items = decoder.feed(encode_frame(b"LS|") + encode_frame(b"LA|", lrc=True))
    assert [error.kind for error in errors(items)] == [FramingErrorKind.BAD_LRC]
    assert "missing" in errors(items)[0].detail
    assert frames(items) == [b"LA|"]


def test_decoder_waits_for_the_check_byte_in_the_next_chunk():
    decoder = FrameDecoder(lrc=True)
    framed = encode_frame(b"LS|", lrc=True)
    assert decoder.feed(framed[:-1]) == []
    assert decoder.feed(framed[-1:]) == [Frame(b"LS|")]


def test_decoder_rejects_a_useless_limit():
    with pytest.raises(ValueError, match="max_record"):
        FrameDecoder(max_record=0)


def test_framing_error_reads_as_a_sentence():
    error = FrameDecoder().feed(b"xyz")[0]
    assert str(error) == "garbage: 3 bytes outside a record skipped"


# --------------------------------------------------------------------------- records


@pytest.mark.parametrize("payload", EXAMPLE_RECORDS)
@pytest.mark.parametrize("encoding", ["cp850", "cp1252", "utf-8"])
def test_example_records_parse_and_recompose_byte_identically(payload, encoding):
    record = parse_record(payload, encoding)
    assert compose_record(record.type, record.fields, encoding) == payload


def test_parsed_check_in_exposes_fields_in_order():
    record = parse_record(EXAMPLE_RECORDS[4], "cp1252")
    assert record.type == "GI"
    assert record.fields[:3] == (("RN", "2781"), ("G#", "12345"), ("GN", "Guest, Mr."))
    assert record.get("RN") == "2781"
    assert record.get("GA") is None
    assert record.get("GA", "") == ""
    assert "GL" in record and "GA" not in record


def test_room_move_keeps_both_share_flags_in_order():
    record = parse_record(EXAMPLE_RECORDS[5], "cp1252")
    assert record.get_all("GS") == ["N", "Y"]
    assert record.get("GS") == "N"
    assert [field_id for field_id, _ in record.fields] == ["RN", "GS", "G#", "GN", "GL", "GV", "GG", "RO", "GS"]


def test_flag_fields():
    record = parse_record(b"GI|RN1001|G#12345|GSN|SF|", "cp1252")
    assert record.get("SF") == ""
    assert record.has_flag("SF")
    assert not record.has_flag("GS")
    assert not record.has_flag("NP")
    assert parse_record(b"GI|RN1|GSY|", "cp1252").has_flag("GS")


def test_record_keeps_fields_as_a_tuple():
    record = Record("RE", [("RN", "1"), ("DN", "Y")])
    assert record.fields == (("RN", "1"), ("DN", "Y"))
    assert record == Record("RE", (("RN", "1"), ("DN", "Y")))
    assert hash(record) == hash(Record("RE", (("RN", "1"), ("DN", "Y"))))


NAME = "Renée Groß-Søgaard"


@pytest.mark.parametrize(
    ("encoding", "encoded_name"),
    [
        ("cp850", b"Ren\x82e Gro\xe1-S\x9bgaard"),
        ("cp1252", b"Ren\xe9e Gro\xdf-S\xf8gaard"),
        ("utf-8", b"Ren\xc3\xa9e Gro\xc3\x9f-S\xc3\xb8gaard"),
    ],
)
def test_names_travel_in_the_site_encoding(encoding, encoded_name):
    payload = b"GI|RN2781|GN" + encoded_name + b"|"
    assert compose_record("GI", [("RN", "2781"), ("GN", NAME)], encoding) == payload
    assert parse_record(payload, encoding).get("GN") == NAME


def test_utf8_multibyte_text_round_trips():
    name = "山田 太郎 ✓ 😀"
    payload = compose_record("XL", [("RN", "12"), ("MT", name)], "utf-8")
    assert payload == b"XL|RN12|MT" + name.encode("utf-8") + b"|"
    assert parse_record(payload, "utf-8").get("MT") == name


def test_bytes_invalid_for_utf8_name_their_offset():
    payload = b"GI|RN2781|GNAb\xffc|"
    with pytest.raises(RecordError) as caught:
        parse_record(payload, "utf-8")
    assert caught.value.offset == 14
    assert "offset 14" in str(caught.value)
    assert caught.value.raw == payload


def test_truncated_utf8_sequence_names_its_offset():
    payload = b"GI|RN1|GNRen\xc3|G#5|"
    with pytest.raises(RecordError) as caught:
        parse_record(payload, "utf-8")
    assert caught.value.offset == payload.index(b"\xc3")


def test_bytes_undefined_in_cp1252_are_rejected():
    with pytest.raises(RecordError, match="offset 9"):
        parse_record(b"GI|RN1|GN\x81|", "cp1252")


def test_control_byte_inside_data_is_rejected():
    payload = b"GI|RN27\x0081|"
    with pytest.raises(RecordError) as caught:
        parse_record(payload, "cp1252")
    assert caught.value.offset == 7
    assert "control byte 0x00 at offset 7" in caught.value.reason


def test_del_inside_data_is_rejected():
    with pytest.raises(RecordError, match="0x7F"):
        parse_record(b"GI|RN1|GNa\x7fb|", "utf-8")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "record type"),
        (b"G", "record type"),
        (b"gi|RN1|", "record type"),
        (b"G1|RN1|", "record type"),
        (b"\xc3\x89I|RN1|", "record type"),
        (b"GIRN1|", "missing '|'"),
        (b"GI RN1|", "missing '|'"),
        (b"GI|R|", "field id"),
        (b"GI|RN1||G#5|", "field id"),
        (b"GI||", "field id"),
        (b"GI| N1|", "field id"),
        (b"GI|\xc3\xa9N1|", "field id"),
    ],
)
def test_malformed_records_are_rejected(payload, message):
    with pytest.raises(RecordError, match=message):
        parse_record(payload, "utf-8")


def test_missing_trailing_separator_is_tolerated():
    assert parse_record(b"GI|RN2781|G#12345", "cp1252") == Record("GI", (("RN", "2781"), ("G#", "12345")))


def test_bare_record_type_and_empty_record():
    assert parse_record(b"NS", "cp1252") == Record("NS")
    assert parse_record(b"NS|", "cp1252") == Record("NS")
    assert compose_record("NS", [], "cp1252") == b"NS|"


def test_record_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse_record(b"xx", "cp1252")


@pytest.mark.parametrize(
    ("record_type", "fields", "message"),
    [
        ("GI", [("GN", "Smith|Jones")], "field GN"),
        ("GI", [("GN", "Smith\nJones")], "field GN"),
        ("GI", [("GN", "Smith\x7f")], "field GN"),
        ("GI", [("GN", "Smith\x85")], "field GN"),
        ("GI", [("RN", "1"), ("GN", "山田")], "field GN in GI: '山' cannot be written in cp1252"),
        ("gi", [("RN", "1")], "record type"),
        ("G", [("RN", "1")], "record type"),
        ("GI", [("R", "1")], "field id"),
        ("GI", [("R|", "1")], "field id"),
        ("GI", [("R ", "1")], "field id"),
        ("GI", [("RN", 1)], "not text"),
    ],
)
def test_compose_rejects_what_fias_cannot_carry(record_type, fields, message):
    with pytest.raises(ValueError, match=message):
        compose_record(record_type, fields, "cp1252")


@pytest.mark.parametrize(
    ("name", "normalised"),
    [("cp850", "cp850"), ("CP1252", "cp1252"), ("latin-1", "iso8859-1"), ("UTF8", "utf-8"), ("utf-8", "utf-8")],
)
def test_check_encoding_normalises_names(name, normalised):
    assert check_encoding(name) == normalised


@pytest.mark.parametrize("name", ["no-such-codec", "rot13", "utf-16", "cp037", "shift_jis", "gbk", "utf-7"])
def test_check_encoding_rejects_unknown_and_unsafe_encodings(name):
    with pytest.raises(ValueError, match=name):
        check_encoding(name)


def test_parse_and_compose_reject_unknown_encodings():
    with pytest.raises(ValueError, match="unknown"):
        parse_record(b"LS|", "klingon")
    with pytest.raises(ValueError, match="unknown"):
        compose_record("LS", [], "klingon")


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("261127", dt.date(2026, 11, 27)),
        ("001031", dt.date(2000, 10, 31)),
        ("691231", dt.date(2069, 12, 31)),
        ("700101", dt.date(1970, 1, 1)),
        ("991231", dt.date(1999, 12, 31)),
        ("20261127", dt.date(2026, 11, 27)),
        ("19991231", dt.date(1999, 12, 31)),
        ("240229", dt.date(2024, 2, 29)),
    ],
)
def test_parse_date(value, expected):
    assert parse_date(value) == expected


def test_parse_date_pivot_moves_the_century():
    assert parse_date("691231", pivot=50) == dt.date(1969, 12, 31)
    assert parse_date("491231", pivot=50) == dt.date(2049, 12, 31)
    assert parse_date("991231", pivot=100) == dt.date(2099, 12, 31)
    assert parse_date("001231", pivot=0) == dt.date(1900, 12, 31)


@pytest.mark.parametrize(
    "value", ["", "26112", "2611271", "261327", "260230", "261100", "26-11-27", " 261127", "２６１１２７", "26112a"]
)
def test_parse_date_rejects_what_is_not_a_date(value):
    with pytest.raises(ValueError, match="date"):
        parse_date(value)


def test_parse_date_rejects_a_silly_pivot():
    with pytest.raises(ValueError, match="pivot"):
        parse_date("261127", pivot=101)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("094123", dt.time(9, 41, 23)),
        ("0700", dt.time(7, 0)),
        ("000000", dt.time(0, 0)),
        ("235959", dt.time(23, 59, 59)),
        ("1252001", dt.time(12, 52, 0)),
        ("12520099", dt.time(12, 52, 0)),
        ("07001", dt.time(7, 0)),
        ("235960", dt.time(23, 59, 59)),
    ],
)
def test_parse_time(value, expected):
    assert parse_time(value) == expected


@pytest.mark.parametrize("value", ["", "070", "2400", "240000", "0760", "126000000", "07:00", "07a0", "0700 "])
def test_parse_time_rejects_what_is_not_a_time(value):
    with pytest.raises(ValueError, match="time"):
        parse_time(value)


def test_parse_datetime_combines_date_and_time():
    assert parse_datetime("001031", "070000") == dt.datetime(2000, 10, 31, 7, 0)
    assert parse_datetime("691231", "2359", pivot=50) == dt.datetime(1969, 12, 31, 23, 59)


def test_format_date_and_time():
    assert format_date(dt.date(2000, 10, 31)) == "001031"
    assert format_date(NOW) == "261127"
    assert format_time(dt.time(7, 5, 9)) == "070509"
    assert format_time(NOW) == "094123"


@pytest.mark.parametrize(("value", "minor"), [("1050", 1050), ("0", 0), ("-250", -250), ("007", 7)])
def test_parse_amount(value, minor):
    assert parse_amount(value) == minor


@pytest.mark.parametrize("value", ["", "-", "10.50", "10,50", "+5", " 5", "1e3", "١٢"])
def test_parse_amount_rejects_what_is_not_minor_units(value):
    with pytest.raises(ValueError, match="amount"):
        parse_amount(value)


def test_format_amount():
    assert format_amount(1050) == "1050"
    assert format_amount(-250) == "-250"
    assert format_amount(0) == "0"
    for value in (10.5, True, "1050"):
        with pytest.raises(ValueError, match="amount"):
            format_amount(value)


# --------------------------------------------------------------------------- records we send


def wire(record, encoding="cp1252"):
    return compose_record(record.type, record.fields, encoding)


def test_link_layer_builders_match_the_examples():
    assert wire(link_start(NOW)) == b"LS|DA261127|TI094123|"
    described = link_description(NOW.replace(second=24), version="1.0")
    assert wire(described) == b"LD|DA261127|TI094124|V#1.0|IFPB|"
    assert wire(link_alive(NOW.replace(second=24))) == b"LA|DA261127|TI094124|"
    assert wire(link_end(NOW)) == b"LE|DA261127|TI094123|"
    assert wire(database_resync_request(NOW)) == b"DR|DA261127|TI094123|"


def test_link_description_carries_the_version_alone_by_default():
    from pmsbridge import __version__

    assert link_description(NOW).get("V#") == __version__
    assert link_description(NOW).get("IF") == "PB"


def test_link_records_announce_one_record_type_each():
    announced = link_records({"GI": "RNG#GNGFGLGVGAGDGSCSSF", "GO": "RNG#GSSF"})
    assert [wire(record) for record in announced] == [
        b"LR|RIGI|FLRNG#GNGFGLGVGAGDGSCSSF|",
        b"LR|RIGO|FLRNG#GSSF|",
    ]


def test_link_records_for_the_bridge_skip_the_link_layer_and_the_swap():
    announced = link_records(RECORDS_WE_USE)
    types = [record.get("RI") for record in announced]
    assert types == [record_type for record_type in RECORDS_WE_USE
                     if record_type not in LINK_LAYER_RECORDS | SWAP_RECORDS]
    assert {"GI", "GO", "GC", "RE", "WR", "WC", "WA", "PS", "PA", "XL", "XD"} == set(types)
    for record in announced:
        parse_record(wire(record), "cp1252")


@pytest.mark.parametrize("field_ids", ["", "RNG", "RN|G", "RN G#"])
def test_link_records_reject_a_broken_field_list(field_ids):
    with pytest.raises(ValueError, match="field list"):
        link_records({"GI": field_ids})


def test_record_tables_agree():
    assert set(RECORDS_WE_USE) <= RECORDS_FROM_PMS | RECORDS_TO_PMS
    assert LINK_LAYER_RECORDS <= RECORDS_TO_PMS
    for record_type, field_ids in RECORDS_WE_USE.items():
        assert len(field_ids) % 2 == 0, record_type


def test_records_we_use_list_the_fields_the_builders_send():
    built = [
        wakeup_answer("1", dt.date(2000, 1, 1), dt.time(7), AnswerStatus.OK),
        posting_simple(1, "1", NOW, amount=5, dialled="0", duration=dt.timedelta(seconds=1)),
        posting_simple(2, "1", NOW, dialled="0", duration=dt.timedelta(seconds=1)),
        database_resync_request(NOW),
        link_start(NOW),
        link_alive(NOW),
        link_end(NOW),
    ]
    for record in built:
        announced = RECORDS_WE_USE[record.type]
        ids = {announced[start : start + 2] for start in range(0, len(announced), 2)}
        assert {field_id for field_id, _ in record.fields} <= ids, record.type


def test_answer_status_codes():
    assert [status.value for status in AnswerStatus] == [
        "OK", "BY", "NR", "DE", "RY", "UR", "NG", "NP", "FX", "IA", "DN", "NA"
    ]
    assert AnswerStatus("BY") is AnswerStatus.BUSY
    assert AnswerStatus.OK == "OK"


def test_wakeup_answer_matches_the_example():
    record = wakeup_answer("2781", dt.date(2000, 10, 31), dt.time(7, 0), AnswerStatus.BUSY)
    assert wire(record) == b"WA|RN2781|DA001031|TI070000|ASBY|"


def test_wakeup_answer_echoes_the_request_verbatim():
    request = parse_record(b"WR|RN0042|DA001031|TI0700|", "cp1252")
    record = wakeup_answer(request.get("RN"), request.get("DA"), request.get("TI"), "OK")
    assert wire(record) == b"WA|RN0042|DA001031|TI0700|ASOK|"
    cleared = wakeup_answer("0042", "", "", AnswerStatus.OK)
    assert wire(cleared) == b"WA|RN0042|DA|TI|ASOK|"


def test_wakeup_answer_rejects_unknown_status_and_missing_room():
    with pytest.raises(ValueError):
        wakeup_answer("1", dt.date(2000, 1, 1), dt.time(7), "XX")
    with pytest.raises(ValueError, match="room"):
        wakeup_answer("", dt.date(2000, 1, 1), dt.time(7), "OK")


def test_posting_of_a_charge():
    record = posting_simple(1729, "2781", dt.datetime(2000, 9, 15, 12, 35, 45), amount=1050)
    assert wire(record) == b"PS|P#1729|RN2781|PTC|TA1050|DA000915|TI123545|"


def test_posting_of_a_charge_with_call_details():
    record = posting_simple(
        7, "2781", NOW, amount=1050, dialled="004989920920", duration=dt.timedelta(minutes=2, seconds=5)
    )
    assert wire(record) == b"PS|P#7|RN2781|PTC|TA1050|DD004989920920|DU000205|DA261127|TI094123|"


def test_posting_of_a_call_for_the_pms_to_rate():
    record = posting_simple(99_999_999, "2781", NOW, dialled="0049899", duration=dt.timedelta(hours=99, seconds=59.9))
    assert wire(record) == b"PS|P#99999999|RN2781|PTT|DD0049899|DU990059|DA261127|TI094123|"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"sequence": 0, "amount": 1}, "sequence"),
        ({"sequence": 100_000_000, "amount": 1}, "sequence"),
        ({"sequence": True, "amount": 1}, "sequence"),
        ({"room": "", "amount": 1}, "room"),
        ({}, "dialled"),
        ({"dialled": "0049"}, "dialled"),
        ({"duration": dt.timedelta(seconds=5)}, "dialled"),
        ({"dialled": "0049", "duration": dt.timedelta(hours=100)}, "duration"),
        ({"dialled": "0049", "duration": dt.timedelta(seconds=-1)}, "duration"),
        ({"amount": 1.5}, "amount"),
    ],
)
def test_posting_rejects_what_cannot_be_posted(arguments, message):
    values = {"sequence": 1, "room": "2781", "when": NOW, **arguments}
    with pytest.raises(ValueError, match=message):
        posting_simple(values.pop("sequence"), values.pop("room"), values.pop("when"), **values)


def test_built_records_survive_the_wire():
    decoder = FrameDecoder(lrc=True)
    built = [link_start(NOW), link_description(NOW), *link_records(RECORDS_WE_USE), link_alive(NOW)]
    stream = b"".join(encode_frame(wire(record), lrc=True) for record in built)
    assert [parse_record(payload, "cp1252") for payload in frames(decoder.feed(stream))] == built
