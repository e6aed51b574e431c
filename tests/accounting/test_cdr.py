"""The CDR collector against the PBX emulator over real HTTPS: paging, the cursor, groups, and
records read again that never count twice."""

from __future__ import annotations

import datetime as dt

import pytest

from pmsbridge.accounting.cdr import CURSOR_KEY, SINCE_KEY, CdrCollector, call_identity, call_legs
from pmsbridge.accounting.charging import ChargePolicy
from pmsbridge.accounting.postings import PostingStore
from pmsbridge.accounting.tariffs import TariffTable
from pmsbridge.events import DndSet
from pmsbridge.pbx.client import PbxClient
from pmsbridge.pbx.errors import PbxError
from tests.accounting.conftest import check_in, collect_from, settings_for


@pytest.fixture
def collector(emulator, ledger):
    """``make(**accounting)`` builds a collector on the test ledger reading the emulator."""
    clients: list[PbxClient] = []

    def make(**accounting) -> CdrCollector:
        settings = settings_for(emulator, **accounting)
        client = PbxClient(settings.pbx)
        clients.append(client)
        policy = ChargePolicy(settings.accounting, TariffTable.from_settings(settings.accounting), ledger.mapping)
        return CdrCollector(client, PostingStore(ledger.engine, clock=ledger.clock), ledger, policy,
                            settings.accounting, settings.bridge.zone)

    yield make
    for client in clients:
        client.close()


def test_a_flat_record_is_one_leg_keyed_by_its_uniqueid():
    [leg] = call_legs({"uniqueid": "1.5", "start": "2026-11-27 10:00:00", "src": "1101"})
    assert (leg.key, leg.start) == ("1.5", dt.datetime(2026, 11, 27, 10, 0))


def test_a_group_is_judged_by_its_legs_in_order():
    entry = {"main_cdr": {"uniqueid": "1.5", "start": "2026-11-27 10:00:00"},
             "sub_cdr_10": {"start": "2026-11-27 10:02:00"}, "sub_cdr_2": {"start": ""},
             "sub_cdr_1": {"start": "2026-11-27 10:00:01"}}
    legs = call_legs(entry)
    assert [leg.key for leg in legs] == ["1.5/sub_cdr_1", "1.5/sub_cdr_2", "1.5/sub_cdr_10"]
    # A leg without a start of its own takes the main record's.
    assert [leg.start.minute for leg in legs] == [0, 0, 2]
    assert [leg.key for leg in call_legs({"main_cdr": {"session": "s-1"}})] == ["session:s-1"]


def test_a_real_units_group_is_keyed_by_its_session_and_each_legs_place():
    """As a real UCM answers a transfer: a mostly blank summary, legs sharing one uniqueid."""
    summary = {"AcctId": "", "uniqueid": "", "session": "", "src": "1101", "dst": "1102", "billsec": "95",
               "start": "2026-11-27 10:00:00", "duration": "102", "action_type": "DIAL", "userfield": ""}
    first = {"AcctId": "41", "uniqueid": "1764237600.9", "session": "1764237600009-1101", "src": "1101",
             "dst": "0301234567", "start": "2026-11-27 10:00:00"}
    second = {**first, "AcctId": "42", "dst": "1102", "start": "2026-11-27 10:01:10"}
    entry = {"cdr": "1764237600009-1101", "main_cdr": summary, "sub_cdr_1": first, "sub_cdr_2": second}
    legs = call_legs(entry)
    assert [leg.key for leg in legs] == ["session:1764237600009-1101/sub_cdr_1",
                                         "session:1764237600009-1101/sub_cdr_2"]
    assert [leg.record["AcctId"] for leg in legs] == ["41", "42"]


def test_a_record_without_any_id_gets_a_stable_digest():
    record = {"start": "2026-11-27 10:00:00", "src": "1101", "dst": "0044"}
    assert call_identity(record) == call_identity(dict(reversed(record.items())))
    assert call_identity(record).startswith("sha256:")
    # A unit starts AcctId again about monthly: it identifies a call only with its start.
    assert call_identity({"AcctId": "7", "start": "2026-11-27 10:00:00"}) == "acct:7@2026-11-27 10:00:00"
    assert call_identity({"AcctId": "7", "start": "2026-12-27 10:00:00"}) != call_identity(
        {"AcctId": "7", "start": "2026-11-27 10:00:00"})
    assert call_legs("not a record") == []


def test_calls_are_charged_once_and_the_cursor_survives(emulator, ledger, collector):
    now = emulator.local_now()
    collect_from(ledger, now - dt.timedelta(hours=1))
    check_in(ledger, "101")
    emulator.place_call("101", "00442079460000", talk=65, start=now - dt.timedelta(minutes=10))
    emulator.place_call("101", "030123456", talk=31, start=now - dt.timedelta(minutes=5), group=True)
    emulator.place_call("102", "00442079460000", talk=65)  # vacant room
    emulator.place_call("101", "1103", talk=65)  # internal
    first = collector().run()
    assert (first.read, first.judged, len(first.postings)) == (4, 4, 2)
    assert ledger.get_value(CURSOR_KEY) == first.cursor.isoformat()
    postings = sorted(PostingStore(ledger.engine).postings(), key=lambda posting: posting.id)
    assert [(p.room, p.amount, p.tariff, p.dialled, p.duration, p.channel) for p in postings] == [
        ("101", 50 + 2 * 120, "International", "00442079460000", 65, "fias"),
        ("101", 20 + 2 * 10, "National", "030123456", 31, "fias"),
    ]
    assert postings[0].call_start == now - dt.timedelta(minutes=10)
    # A new collector (a restart) reads the same records again and charges nothing twice.
    again = collector().run()
    assert (again.read, again.judged, again.postings, again.cursor) == (4, 0, (), first.cursor)


def test_a_transferred_call_is_charged_once_for_its_outside_leg(emulator, ledger, collector):
    """The emulator stores a transfer as a real unit does: a summary and two legs sharing one uniqueid."""
    now = emulator.local_now()
    collect_from(ledger, now - dt.timedelta(hours=1))
    check_in(ledger, "101")
    check_in(ledger, "102")
    emulator.place_call("101", "00442079460000", talk=65, start=now - dt.timedelta(minutes=10), transfer_to="102",
                        transfer_talk=120)
    run = collector().run()
    assert (run.read, run.judged, len(run.postings)) == (1, 2, 1)
    [posting] = PostingStore(ledger.engine).postings()
    assert (posting.room, posting.dialled, posting.duration, posting.amount) == ("101", "00442079460000", 65,
                                                                                 50 + 2 * 120)
    assert collector().run().judged == 0


def test_records_are_read_page_by_page(emulator, ledger, collector):
    now = emulator.local_now()
    collect_from(ledger, now - dt.timedelta(hours=1))
    check_in(ledger, "101")
    for minute in range(7):
        emulator.place_call("101", "0049891234", talk=40, start=now - dt.timedelta(minutes=30 - minute))
    emulator.reset_counters()
    run = collector(page_size=3).run()
    assert (run.read, len(run.postings)) == (7, 7)
    assert emulator.counters()["cdrapi"] == 3  # 3 + 3 + 1


def test_a_long_call_that_ends_late_is_found_by_reading_back(emulator, ledger, collector):
    now = emulator.local_now()
    collect_from(ledger, now - dt.timedelta(hours=3))
    check_in(ledger, "101")
    emulator.place_call("101", "030123456", talk=60, start=now - dt.timedelta(minutes=5))
    assert len(collector(lookback_minutes=60).run().postings) == 1
    # A call that started 40 minutes ago only now shows in the records, behind the cursor.
    emulator.place_call("101", "0049891234", talk=40 * 60, start=now - dt.timedelta(minutes=40))
    assert len(collector(lookback_minutes=60).run().postings) == 1
    emulator.place_call("101", "0049897777", talk=90 * 60, start=now - dt.timedelta(minutes=90))
    assert collector(lookback_minutes=60).run().postings == ()  # longer than the lookback: documented


def test_the_first_run_charges_nothing_from_before_it(emulator, ledger, collector):
    check_in(ledger, "101")
    emulator.place_call("101", "00442079460000", talk=65, start=emulator.local_now() - dt.timedelta(minutes=5))
    run = collector().run()
    assert (run.judged, run.postings) == (0, ())
    assert ledger.get_value(SINCE_KEY) is not None


def test_charges_go_to_the_pms_of_the_room_or_where_the_configuration_says(emulator, ledger, collector):
    now = emulator.local_now()
    collect_from(ledger, now - dt.timedelta(hours=1))
    check_in(ledger, "101", source="webhook:pms")
    check_in(ledger, "102", source="fias")
    ledger.record(DndSet(source="frontdesk", room="102", on=True), raw="", actor="fred")
    emulator.place_call("101", "030123456", talk=31)
    emulator.place_call("102", "030123456", talk=31)
    collector().run()
    assert {p.room: p.channel for p in PostingStore(ledger.engine).postings()} == {"101": "webhook:pms",
                                                                                 "102": "fias"}
    emulator.place_call("101", "030999999", talk=31)
    collector(post_via="fias").run()
    assert PostingStore(ledger.engine).postings(limit=1)[0].channel == "fias"


def test_a_pbx_that_cannot_be_read_is_reported_and_tried_again(emulator, ledger, collector):
    made = collector()
    emulator.set_faults(down=True)
    with pytest.raises(PbxError):
        made.run()
    made.run_scheduled()
    assert made.last_error is not None
    emulator.clear_faults()
    made.run_scheduled()
    assert made.last_error is None and made.last_run is not None


def test_a_record_dated_in_the_future_does_not_carry_the_cursor_past_now(emulator, ledger, collector):
    now = emulator.local_now()
    collect_from(ledger, now - dt.timedelta(hours=1))
    check_in(ledger, "101")
    emulator.place_call("101", "030123456", talk=31, start=now + dt.timedelta(days=300))
    assert collector().run().cursor <= emulator.local_now()
    emulator.place_call("101", "030999999", talk=31, start=now - dt.timedelta(minutes=1))
    assert len(collector().run().postings) == 1
