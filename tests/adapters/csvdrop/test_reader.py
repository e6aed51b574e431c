"""Reading dropped files: encodings, header aliases, raw rows, trailers (pure: no folder, no ledger)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmsbridge.adapters.csvdrop.reader import FileRejected, read_drop_file
from tests.adapters.csvdrop.conftest import settings_for


def config(**csvdrop):
    return settings_for(Path("/srv/drop"), **csvdrop).adapter_settings["csvdrop"]


def read(text: str | bytes, *, trailer: bool = False, required=("room",), **csvdrop):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return read_drop_file(data, config(**csvdrop), required=required, trailer_required=trailer)


def test_utf8_with_a_byte_order_mark():
    drop = read("\ufeffRoom,Last Name,First Name\r\n101,Müller,Jürgen\r\n".encode("utf-8"))
    assert drop.encoding == "utf-8-sig"
    [row] = drop.rows
    assert row.values == {"room": "101", "last_name": "Müller", "first_name": "Jürgen"}
    assert row.raw == "101,Müller,Jürgen" and row.line == 2


def test_cp1252_when_the_bytes_are_not_utf8():
    drop = read("room;surname;vorname\n102;Bäcker;Zoë €\n".encode("cp1252"), delimiter=";")
    assert drop.encoding == "cp1252"
    assert drop.rows[0].values == {"room": "102", "last_name": "Bäcker", "first_name": "Zoë €"}


def test_header_aliases_built_in_and_from_the_site():
    drop = read("Zi-Nr, Gast ,Reservation Number,ANREISE,Notes\n7,Roe,R9,2026-11-27,late\n",
                columns={"room": ["Zi-Nr"], "last_name": ["gast"]})
    assert drop.rows[0].values == {"room": "7", "last_name": "Roe", "reservation": "R9", "arrival": "2026-11-27"}
    assert drop.ignored_columns == ("Notes",)


def test_two_columns_with_one_meaning_or_a_missing_column_reject_the_file():
    with pytest.raises(FileRejected, match="the columns 'room' and 'Zimmer' both mean room"):
        read("room,Zimmer\n1,2\n")
    with pytest.raises(FileRejected, match=r"no action column in the header \(room, last_name\)"):
        read("room,last_name\n101,Doe\n", required=("action", "room"))


def test_a_quoted_field_with_a_line_break_keeps_its_raw_text():
    drop = read('room,last_name,first_name\n101,"Doe\nJr.",Jane\n102,Roe,Rita\n')
    first, second = drop.rows
    assert first.raw == '101,"Doe\nJr.",Jane' and first.values["last_name"] == "Doe\nJr."
    assert (second.line, second.raw) == (4, "102,Roe,Rita")


def test_blank_lines_comments_and_a_short_row():
    drop = read("# exported by the PMS\nroom,last_name,first_name\n\n101,Doe\n")
    [row] = drop.rows
    assert (row.line, row.values, row.problem) == (4, {"room": "101", "last_name": "Doe"}, None)


def test_a_row_with_more_fields_than_the_header_has_a_problem():
    drop = read("room,last_name\n101,Doe,,\n102,Roe,extra\n")
    assert drop.rows[0].problem is None
    assert drop.rows[1].problem == "the row has 3 fields, the header 2"


def test_the_trailer_declares_the_row_count():
    drop = read("room,last_name\n101,Doe\n102,Roe\n#END 2\n", trailer=True)
    assert drop.has_trailer and len(drop.rows) == 2
    # Spreadsheet programs pad every line with delimiters.
    assert read("room;last_name\n101;Doe\n#END 1;\n", trailer=True, delimiter=";").has_trailer


def test_a_missing_or_contradicting_trailer_rejects_the_file():
    with pytest.raises(FileRejected, match="does not end with the trailer line '#END {rows}'"):
        read("room,last_name\n101,Doe\n102,Ro", trailer=True)
    with pytest.raises(FileRejected, match="the trailer declares 3 rows but the file has 2"):
        read("room,last_name\n101,Doe\n102,Roe\n#END 3\n", trailer=True)
    with pytest.raises(FileRejected, match="line 3: the trailer '#END 1' is not the last line"):
        read("room,last_name\n101,Doe\n#END 1\n102,Roe\n", trailer=True)


def test_a_delta_file_may_end_with_a_trailer_which_is_then_checked():
    assert not read("room,last_name\n101,Doe\n").has_trailer
    with pytest.raises(FileRejected, match="declares 2 rows but the file has 1"):
        read("room,last_name\n101,Doe\n#END 2\n")


def test_a_site_trailer_without_a_count():
    drop = read("room,last_name\n101,Doe\n#EOF\n", trailer=True, snapshot_trailer="#EOF")
    assert drop.has_trailer and len(drop.rows) == 1


def test_files_that_cannot_be_read_at_all():
    with pytest.raises(FileRejected, match="the file is empty"):
        read("\n\n")
    with pytest.raises(FileRejected, match="NUL bytes"):
        read(b"room,last_name\n101,Doe\n\x00\x00\x00\x00")
    with pytest.raises(FileRejected, match="cannot be decoded as utf-8-sig"):
        read(b"room\n\xff\xfe\n", encodings=["utf-8-sig"])
