"""Room <-> extension mapping: template, overrides, the CSV map file, validation."""

from __future__ import annotations

import pytest

from pmsbridge.config import RoomsSettings
from pmsbridge.mapping import MappingError, RoomMapping, is_extension, read_map_file


def test_template_maps_every_room_and_back():
    mapping = RoomMapping("1{room}")
    assert mapping.extension("101") == "1101"
    assert mapping.room("1101") == "101"
    assert mapping.extension("0101") == "10101"
    assert mapping.room("10101") == "0101"


def test_plain_template_is_the_identity():
    mapping = RoomMapping("{room}")
    assert (mapping.extension("305"), mapping.room("305")) == ("305", "305")


def test_template_with_a_suffix_and_literal_braces():
    assert RoomMapping("{room}0").room("1010") == "101"
    assert RoomMapping("{{{room}}}").extension("101") is None


def test_template_result_that_is_not_an_extension_leaves_the_room_unmapped():
    mapping = RoomMapping("1{room}")
    assert mapping.extension("A12") is None
    assert mapping.extension("1234567890123") is None
    assert mapping.room("2101") is None
    assert mapping.room("1") is None


def test_overrides_win_in_both_directions():
    mapping = RoomMapping("1{room}", {"101": "2000", "102": ""})
    assert mapping.extension("101") == "2000"
    assert mapping.room("2000") == "101"
    # 1101 would be 101's by the template, but 101 has its own extension.
    assert mapping.room("1101") is None
    assert mapping.extension("102") is None
    assert mapping.room("1102") is None
    assert mapping.extension("103") == "1103"


def test_invalid_override_leaves_the_room_unmapped():
    mapping = RoomMapping("{room}", {"101": "12a"})
    assert mapping.extension("101") is None
    assert mapping.room("12a") is None


def test_repeated_placeholder_in_template():
    mapping = RoomMapping("{room}{room}")
    assert mapping.extension("12") == "1212"
    assert mapping.room("1212") == "12"
    assert mapping.room("1213") is None


@pytest.mark.parametrize("template", ["1{rooms}", "{room:>4}", "{room!r}", "101", "{0}{room}", "{room"])
def test_unusable_templates_are_refused(template):
    with pytest.raises(MappingError, match="template"):
        RoomMapping(template)


def test_is_extension():
    assert is_extension("1") and is_extension("123456789012")
    assert not is_extension("") and not is_extension("1234567890123")
    assert not is_extension("12a") and not is_extension("١٢")


def test_validate_a_sound_mapping():
    mapping = RoomMapping("1{room}", {"101": "2000", "102": ""})
    assert mapping.validate() == []
    assert mapping.validate(["2000", "1103"], rooms=["101", "102", "103"]) == []


def test_validate_reports_each_problem():
    mapping = RoomMapping("1{room}", {"101": "2000", "102": "2000", "103": "x1", "104": "1105"})
    problems = mapping.validate(["2000", "1105"], rooms=["101", "105", "A7", "106"])
    assert problems == [
        "rooms 101 and 102 both map to extension 2000",
        "room 103: extension 'x1' is not 1-12 digits",
        "rooms 104 and 105 both map to extension 1105",
        "room A7: the template gives '1A7', which is not 1-12 digits; "
        'map the room explicitly ("" if it has no phone)',
        "room 106: extension 1106 is unknown to the PBX",
    ]


def write(tmp_path, content: bytes, name: str = "rooms.csv"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_map_file_with_bom_blank_lines_and_extra_columns(tmp_path):
    path = write(tmp_path, "\ufeffRoom, Extension ,note\n\n101,2101,suite\n 102 , ,no phone\r\n\n".encode())
    assert read_map_file(path) == {"101": "2101", "102": ""}


def test_map_file_without_bom_and_columns_swapped(tmp_path):
    path = write(tmp_path, b"extension,room\n2101,101\n")
    assert read_map_file(path) == {"101": "2101"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"101,2101\n", ":1: expected the header line room,extension"),
        (b"", ":1: expected the header line room,extension"),
        (b"room,extension\n101,2101\n\n102\n", ":4: expected 2 columns, found 1"),
        (b"room,extension\n101,21a\n", ":2: extension '21a' is not 1-12 digits"),
        (b"room,extension\n101,2101\n101,2102\n", ":3: room 101 is already mapped on line 2"),
        (b"room,extension\n1 01,2101\n", ":2: '1 01' is not a room number"),
        (b"room,extension\n101,2101\n102,\xff\n", ":3: not UTF-8 text"),
        (b'room,extension\n"101,2101\n', "unexpected end of data"),
    ],
)
def test_map_file_errors_name_the_file_and_line(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(MappingError) as caught:
        read_map_file(path)
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)


def test_unreadable_map_file(tmp_path):
    with pytest.raises(MappingError, match="cannot be read"):
        read_map_file(tmp_path / "missing.csv")


def test_from_settings_combines_template_file_and_inline_map(tmp_path):
    path = write(tmp_path, b"room,extension\n101,2101\n102,2102\n")
    settings = RoomsSettings(extension_template="5{room}", map_file=path, map={"102": "3102", "103": ""})
    mapping = RoomMapping.from_settings(settings)
    assert [mapping.extension(room) for room in ("101", "102", "103", "104")] == ["2101", "3102", None, "5104"]


def test_from_settings_without_file():
    mapping = RoomMapping.from_settings(RoomsSettings())
    assert mapping.extension("101") == "101"


def test_from_settings_reports_a_bad_map_file(tmp_path):
    path = write(tmp_path, b"room;extension\n101;2101\n")
    with pytest.raises(MappingError, match=r"rooms\.csv:1"):
        RoomMapping.from_settings(RoomsSettings(map_file=path))
