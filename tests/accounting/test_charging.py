"""Which calls are charged: the collector's verdict on single call records."""

from __future__ import annotations

import pytest

from pmsbridge.accounting.charging import ChargePolicy
from pmsbridge.accounting.models import CallVerdict
from pmsbridge.accounting.tariffs import TariffTable
from pmsbridge.mapping import RoomMapping
from tests.accounting.conftest import settings_for

OCCUPIED = {"101", "102"}


def outside_call(**changes) -> dict:
    record = {"uniqueid": "1764234000.1", "start": "2026-11-27 10:00:00", "src": "1101", "channel_ext": "1101",
              "dst": "00442079460000", "dst_trunk_name": "trunk-1", "dcontext": "outbound-route-1",
              "disposition": "ANSWERED", "billsec": "65", "userfield": "Outbound", "action_type": "DIAL"}
    record.update(changes)
    return record


def policy(**accounting) -> ChargePolicy:
    settings = settings_for(**accounting).accounting
    return ChargePolicy(settings, TariffTable.from_settings(settings), RoomMapping("1{room}", {"suite": "1900"}))


def judge(record: dict, **accounting):
    return policy(**accounting).judge(record, lambda room: room in OCCUPIED)


def test_an_answered_outside_call_from_an_occupied_room_is_charged():
    judgement = judge(outside_call())
    assert judgement.verdict is CallVerdict.CHARGED
    assert (judgement.room, judgement.extension, judgement.dialled, judgement.billsec) == (
        "101", "1101", "00442079460000", 65)
    assert (judgement.rating.rule.name, judgement.rating.amount) == ("International", 50 + 2 * 120)


@pytest.mark.parametrize("changes, reason", [
    ({"userfield": "Internal", "dst": "1102", "dst_trunk_name": ""}, "not an outside call"),
    ({"userfield": "", "dst_trunk_name": ""}, "not an outside call"),
    ({"userfield": "Inbound", "dst_trunk_name": "", "src_trunk_name": "trunk-1"}, "not an outside call"),
    ({"disposition": "NO ANSWER", "billsec": "0"}, "not answered (NO ANSWER)"),
    ({"disposition": "BUSY"}, "not answered (BUSY)"),
    ({"billsec": "0"}, "answered, but not a second was billed (billsec 0)"),
    ({"dst": "112"}, "112 is a free number"),
    ({"dst": ""}, "no dialled number"),
    ({"src": "1103", "channel_ext": "1103"}, "room 103 was vacant"),
    ({"src": "2000", "channel_ext": "2000"}, "extension 2000 belongs to no room"),
    ({"dst": "004412", "billsec": "3"}, "costs nothing under the tariff 'International'"),
])
def test_calls_that_are_not_charged_say_why(changes, reason):
    judgement = judge(outside_call(**changes))
    assert (judgement.verdict, judgement.reason) == (CallVerdict.FREE, reason)


def test_the_caller_is_read_from_src_when_channel_ext_is_empty():
    assert judge(outside_call(channel_ext="", src="1102")).room == "102"


def test_a_mapped_room_is_found_by_its_extension():
    OCCUPIED.add("suite")
    try:
        assert judge(outside_call(channel_ext="1900", src="1900")).room == "suite"
    finally:
        OCCUPIED.discard("suite")


def test_trunks_contexts_and_destinations_can_be_limited():
    assert judge(outside_call(), outbound_trunks=["sip-*"]).reason == "trunk trunk-1 is not charged"
    assert judge(outside_call(dst_trunk_name="sip-a"), outbound_trunks=["sip-*"]).verdict is CallVerdict.CHARGED
    assert judge(outside_call(), outbound_contexts=["outbound-route-2"]).reason == (
        "context outbound-route-1 is not charged")
    assert judge(outside_call(), charged_destinations=["0049*"]).reason == (
        "00442079460000 is not a charged destination")


def test_the_outside_line_prefix_is_taken_off_before_matching():
    judgement = judge(outside_call(dst="9112"), outside_line_prefix="9")
    assert (judgement.dialled, judgement.reason) == ("112", "112 is a free number")
    assert judge(outside_call(dst="900441234"), outside_line_prefix="9").rating.rule.name == "International"


def test_a_number_no_tariff_covers_is_unrated():
    judgement = judge(outside_call(), tariffs=[{"prefix": "0049", "unit_price": 1}])
    assert (judgement.verdict, judgement.reason) == (CallVerdict.UNRATED, "no tariff for 00442079460000")


def test_when_the_pms_rates_calls_there_is_no_amount():
    judgement = judge(outside_call(), charge_as="call", tariffs=[])
    assert judgement.verdict is CallVerdict.CHARGED and judgement.rating is None


def test_a_wakeup_call_is_recognised_by_the_configured_fields_and_never_charged():
    record = {"src": "wakeup", "dst": "1101", "action_type": "WAKEUP", "disposition": "BUSY",
              "userfield": "Internal", "dcontext": "wakeup-call"}
    judgement = judge(record)
    assert (judgement.verdict, judgement.room, judgement.extension, judgement.reason) == (
        CallVerdict.WAKEUP, "101", "1101", "BUSY")
    other_firmware = {"wakeup_call_match": {"src": "*36"}, "wakeup_extension_field": "dstchannel_ext"}
    assert judge(record, **other_firmware).verdict is CallVerdict.FREE
    assert judge({**record, "src": "*36", "dstchannel_ext": "1102"}, **other_firmware).room == "102"
