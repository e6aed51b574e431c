"""Raw input the databases refuse as text (NUL, lone surrogates) is kept escaped, and reversibly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pmsbridge.ledger.models import EventStatus
from pmsbridge.ledger.raw_text import ESCAPED_MARK, original, storable
from tests.ledger.events import check_in

HOSTILE = "GI|RN101|GN\x00Doe|\udcff|C:\\temp\\x00|"


def test_ordinary_text_is_stored_as_it_came():
    for text in ("", "GI|RN101|GNMüller|", "a\\b", "line\nbreak\ttab\x1b[31m"):
        assert storable(text) == text


def test_nul_and_lone_surrogates_are_escaped_behind_a_readable_mark():
    stored = storable(HOSTILE)
    assert stored == ESCAPED_MARK + "GI|RN101|GN\\x00Doe|\\udcff|C:\\\\temp\\\\x00|"
    assert "\x00" not in stored and stored.encode("utf-8")
    assert original(stored) == HOSTILE


def test_text_that_looks_escaped_is_escaped_too():
    lookalike = ESCAPED_MARK + "\\x00"
    assert original(storable(lookalike)) == lookalike
    assert original("plain \\x00") == "plain \\x00"


@given(st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0xFFFF)))
def test_every_text_comes_back(text):
    stored = storable(text)
    assert "\x00" not in stored
    stored.encode("utf-8")  # no lone surrogate is left
    assert original(stored) == text


def test_both_back_ends_keep_rejected_input_with_nul_bytes(ledger):
    event_id = ledger.record_rejected("fias", HOSTILE, "control byte 0x00 at offset 11 in \x00")
    row = ledger.event(event_id)
    assert row.status == EventStatus.REJECTED
    assert original(row.raw) == HOSTILE
    assert "\x00" not in row.problem


def test_both_back_ends_keep_events_and_attention_rows_with_nul_bytes(ledger):
    result = ledger.record(check_in("101", "Doe"), raw=HOSTILE)
    assert original(ledger.event(result.event_id).raw) == HOSTILE
    flagged = ledger.record_needs_attention("webhook:pms", '{"id": "\x00"}', "fetch the reservation")
    assert original(ledger.event(flagged.event_id).raw) == '{"id": "\x00"}'
