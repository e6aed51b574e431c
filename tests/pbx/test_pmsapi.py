"""pmsapi documents and guest-name cleaning (pure functions, no network)."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, time
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from pmsbridge.pbx.names import NamePolicy
from pmsbridge.pbx.pmsapi import OPERATIONS, build_document, pms_token, pmsapi_request

# One valid field set per operation, using every field the guide lists for it.
EXAMPLES = {
    "checkin": {
        "address": "1001", "room": "1001", "account": "1001", "firstname": "John", "lastname": "Doe",
        "language": "EN", "vipcode": "2", "datein": "2021-01-01T10:00", "dateout": "2021-01-07T11:00",
        "credit": "9999900", "cos": "3",
    },
    "update": {
        "address": "1000", "room": "100", "account": "123456", "firstname": "John", "lastname": "Doe",
        "language": "EN", "vipcode": "2", "datein": "2010-01-01T10:00", "dateout": "2010-01-07T11:00",
        "credit": "9999900", "cos": "3",
    },
    "mov": {"address": "1000", "room": "100", "d_address": "1002", "d_room": "1002"},
    "checkout": {"address": "1000", "room": "100"},
    "wakeup": {
        "address": "1000", "room": "1000", "w_action": "1", "w_mode": "1", "w_date": "20140101", "w_time": "0900",
    },
    "addminibar": {
        "barcode": "12450", "barname": "winebar", "prompt": "record/sukima", "verifyskip": "", "listgoods": "",
    },
    "delminibar": {"barcode": "1324"},
    "addminibargoods": {"goodscode": "900", "goodsname": "beverage"},
    "delminibargoods": {"goodscode": "900"},
    "addminibarwaiter": {"maidcode": "9898", "password": "1324"},
    "delminibarwaiter": {"maidcode": "9898"},
    "cfu": {"address": "4000", "room": "400", "cfwt": "4002"},
    "dnd": {"address": "4000", "room": "400", "status": "0"},
}


def parse(document: str) -> etree._Element:
    root = etree.fromstring(document)
    assert root.tag == "pms_data_request"
    assert len(root) == 1
    return root[0]


def test_every_operation_of_the_guide_has_an_example():
    assert set(EXAMPLES) == set(OPERATIONS)
    assert len(OPERATIONS) == 13


@pytest.mark.parametrize("operation", sorted(EXAMPLES))
def test_every_operation_builds_its_fields_in_the_guides_order(operation):
    body = parse(build_document(operation, EXAMPLES[operation]))
    assert body.tag == operation
    assert [child.tag for child in body] == list(OPERATIONS[operation].fields)


def test_the_checkin_of_the_guide():
    document = build_document("checkin", EXAMPLES["checkin"])
    assert document == (
        "<pms_data_request><checkin><address>1001</address><room>1001</room><account>1001</account>"
        "<firstname>John</firstname><lastname>Doe</lastname><language>EN</language><vipcode>2</vipcode>"
        "<datein>2021/01/01 10:00</datein><dateout>2021/01/07 11:00</dateout><credit>9999900</credit>"
        "<cos>3</cos></checkin></pms_data_request>"
    )


def test_the_json_form_follows_the_guides_example():
    fields = {
        "address": "2345", "room": "2345", "account": "2345", "datein": datetime(2018, 9, 9, 14, 0),
        "dateout": date(2018, 9, 10), "language": "en", "firstname": "fiberme", "lastname": "stream",
        "vipcode": "1234", "cos": 1, "credit": 100,
    }
    document = build_document("checkin", fields, fmt="json")
    assert json.loads(document) == {
        "checkin": {
            "address": "2345", "room": "2345", "account": "2345", "firstname": "fiberme", "lastname": "stream",
            "language": "en", "vipcode": "1234", "datein": "20180909", "dateout": "20180910", "credit": "100",
            "cos": "1",
        }
    }
    assert list(json.loads(document)["checkin"]) == [name for name in OPERATIONS["checkin"].fields if name in fields]


def test_the_dnd_document_is_well_formed():
    assert build_document("dnd", {"address": "4000", "room": "400", "status": True}) == (
        "<pms_data_request><dnd><address>4000</address><room>400</room><status>1</status></dnd></pms_data_request>"
    )


@pytest.mark.parametrize("element", ["d_room", "r_room"])
def test_the_move_destination_element_is_configurable(element):
    body = parse(build_document("mov", EXAMPLES["mov"], move_destination_element=element))
    assert [child.tag for child in body] == ["address", "room", "d_address", element]
    assert body[3].text == "1002"


def test_an_unknown_move_destination_element_is_refused():
    with pytest.raises(ValueError, match="d_room or r_room"):
        build_document("mov", EXAMPLES["mov"], move_destination_element="room2")


@pytest.mark.parametrize("target", ["", None])
def test_an_empty_call_forward_clears_it(target):
    body = parse(build_document("cfu", {"address": "4000", "room": "400", "cfwt": target}))
    assert body.find("cfwt") is not None
    assert not body.find("cfwt").text


def test_dates_accept_datetimes_dates_and_iso_strings():
    fields = {"address": "1", "room": "1", "datein": datetime(2026, 11, 27, 14, 5), "dateout": "2026-11-30"}
    body = parse(build_document("checkin", fields))
    assert body.findtext("datein") == "2026/11/27 14:05"
    assert body.findtext("dateout") == "2026/11/30 00:00"


def test_wakeup_from_one_moment_and_the_default_mode():
    body = parse(build_document("wakeup", {"address": "101", "room": "101", "w_action": 1, "w_at": "2026-11-28T07:30"}))
    assert [(child.tag, child.text) for child in body] == [
        ("address", "101"), ("room", "101"), ("w_action", "1"), ("w_mode", "1"),
        ("w_date", "20261128"), ("w_time", "0730"),
    ]


def test_wakeup_date_and_time_objects_and_iso_forms():
    fields = {
        "address": "1", "room": "1", "w_action": False, "w_mode": 2, "w_date": date(2026, 1, 2), "w_time": time(6),
    }
    body = parse(build_document("wakeup", fields))
    assert (body.findtext("w_action"), body.findtext("w_mode")) == ("0", "2")
    assert (body.findtext("w_date"), body.findtext("w_time")) == ("20260102", "0600")
    iso = parse(build_document("wakeup", {**fields, "w_date": "2026-01-02", "w_time": "06:00"}))
    assert (iso.findtext("w_date"), iso.findtext("w_time")) == ("20260102", "0600")


@pytest.mark.parametrize(
    ("operation", "fields", "message"),
    [
        ("checkin", {"address": "1", "room": "1"}, "missing mandatory field(s) datein, dateout"),
        ("checkin", {**EXAMPLES["checkin"], "guest": "x", "nights": 2}, "unknown field(s) guest, nights"),
        ("checkin", {**EXAMPLES["checkin"], "cos": 5}, "cos: 5 is not one of 1, 2, 3, 4"),
        ("checkin", {**EXAMPLES["checkin"], "cos": "0"}, "cos"),
        ("checkin", {**EXAMPLES["checkin"], "datein": "tomorrow"}, "datein"),
        ("checkin", {**EXAMPLES["checkin"], "room": ""}, "missing mandatory field(s) room"),
        ("checkin", {**EXAMPLES["checkin"], "room": "10\x001"}, "control characters"),
        ("checkin", {**EXAMPLES["checkin"], "credit": float("nan")}, "credit"),
        ("checkin", {**EXAMPLES["checkin"], "account": True}, "account"),
        ("checkin", {**EXAMPLES["checkin"], "account": ["1"]}, "account"),
        ("mov", {"address": "1", "room": "1", "d_address": "2"}, "missing mandatory field(s) d_room"),
        ("mov", {**EXAMPLES["mov"], "r_room": "1002"}, "unknown field(s) r_room"),
        ("wakeup", {"address": "1", "room": "1", "w_action": 1}, "missing mandatory field(s) w_date, w_time"),
        ("wakeup", {**EXAMPLES["wakeup"], "w_mode": 3}, "w_mode"),
        ("wakeup", {**EXAMPLES["wakeup"], "w_date": "20261332"}, "w_date"),
        ("wakeup", {**EXAMPLES["wakeup"], "w_time": "2460"}, "w_time"),
        ("wakeup", {**EXAMPLES["wakeup"], "w_at": "2026-11-28T07:30"}, "either w_at or w_date and w_time"),
        ("dnd", {"address": "1", "room": "1", "status": 2}, "status"),
        ("dnd", {"address": "1", "room": "1"}, "missing mandatory field(s) status"),
        ("cfu", {"address": "1", "room": "1"}, "missing mandatory field(s) cfwt"),
        ("checkinn", {"address": "1"}, "unknown pmsapi operation 'checkinn'"),
    ],
)
def test_invalid_fields_are_refused_with_their_names(operation, fields, message):
    with pytest.raises(ValueError) as caught:
        build_document(operation, fields)
    assert message in str(caught.value)


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="xml or json"):
        build_document("checkout", EXAMPLES["checkout"], fmt="csv")
    with pytest.raises(ValueError, match="xml or json"):
        pmsapi_request("<x/>", "csv", "t")


def test_optional_fields_given_as_none_are_left_out():
    body = parse(build_document("checkin", {**EXAMPLES["checkin"], "vipcode": None, "credit": Decimal("12.50")}))
    assert body.find("vipcode") is None
    assert body.findtext("credit") == "12.50"


def test_guest_names_with_xml_characters_survive():
    fields = {**EXAMPLES["checkin"], "firstname": "O'Brien & \"Sons\" <Ltd>", "lastname": "Zoë 😀 Ærø"}
    body = parse(build_document("checkin", fields))
    assert body.findtext("firstname") == "O'Brien & \"Sons\" <Ltd>"
    assert body.findtext("lastname") == "Zoë 😀 Ærø"
    assert json.loads(build_document("checkin", fields, fmt="json"))["checkin"]["lastname"] == "Zoë 😀 Ærø"


def test_guest_names_are_cleaned_by_the_policy():
    fields = {**EXAMPLES["checkin"], "firstname": " Jürgen\t\u200bOtto\n", "lastname": "Strauß-Øberg 😀"}
    body = parse(build_document("checkin", fields, names=NamePolicy(ascii_only=True, max_length=12)))
    assert body.findtext("firstname") == "Jurgen Otto"
    assert body.findtext("lastname") == "Strauss-Ober"


def test_pms_token_is_md5_of_user_then_password():
    assert pms_token("pms", "pms-secret") == hashlib.md5(b"pmspms-secret").hexdigest()
    assert pmsapi_request("<x/>", "xml", "abc") == {"format": "xml", "data": "<x/>", "token": "abc"}


# -- names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  Anna \t\n Maria  ", "Anna Maria"),
        ("Jo\u200dhn\u00ad\x07", "John"),
        ("e\u200b\u0301clair", "\u00e9clair"),  # the accent joins its letter once the joiner is gone
        ("Ren\u0065\u0301", "Ren\u00e9"),
        ("Zoë 😀", "Zoë 😀"),
        ("Müller & <Söhne>", "Müller & <Söhne>"),
        ("Ma\ud800rk", "Mark"),
        ("Li\ufffeu", "Liu"),
    ],
)
def test_unicode_names_are_normalised_and_stripped_of_invisible_characters(raw, clean):
    assert NamePolicy().clean(raw) == clean


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Strauß", "Strauss"),
        ("Ærøskøbing", "AEroskobing"),
        ("Łódź", "Lodz"),
        ("Đorđević", "Dordevic"),
        ("Iğdır", "Igdir"),
        ("Þórunn", "Thorunn"),
        ("O’Brien", "O'Brien"),
        ("Zoë 😀 Smith", "Zoe Smith"),
        ("Иван Petrov", "Petrov"),
        ("ﬁnn", "finn"),
    ],
)
def test_ascii_names_are_transliterated(raw, clean):
    assert NamePolicy(ascii_only=True).clean(raw) == clean


def test_names_are_cut_without_a_trailing_space():
    assert NamePolicy(max_length=5).clean("Anna Maria") == "Anna"
    assert NamePolicy(max_length=20).clean("Anna Maria") == "Anna Maria"


def test_a_negative_length_is_refused():
    with pytest.raises(ValueError):
        NamePolicy(max_length=-1)


any_text = st.text(st.characters(exclude_categories=()), max_size=40)
policies = st.builds(NamePolicy, ascii_only=st.booleans(), max_length=st.integers(min_value=0, max_value=30))


@given(any_text, policies)
def test_any_text_cleans_to_something_xml_carries_unchanged(raw, policy):
    cleaned = policy.clean(raw)
    element = etree.Element("firstname")
    element.text = cleaned
    parsed = etree.fromstring(etree.tostring(element, encoding="unicode"))
    assert (parsed.text or "") == cleaned
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned
    if policy.max_length:
        assert len(cleaned) <= policy.max_length
    if policy.ascii_only:
        assert cleaned.isascii()


@given(any_text, policies)
def test_cleaning_twice_changes_nothing(raw, policy):
    cleaned = policy.clean(raw)
    assert policy.clean(cleaned) == cleaned


@given(any_text)
def test_any_name_builds_a_document_that_parses_back(raw):
    fields = {**EXAMPLES["checkin"], "firstname": raw}
    body = parse(build_document("checkin", fields))
    assert (body.findtext("firstname") or "") == NamePolicy().clean(raw)
    assert json.loads(build_document("checkin", fields, fmt="json"))["checkin"]["firstname"] == NamePolicy().clean(raw)
