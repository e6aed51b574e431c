"""Pages speak the hotel's words: languages by name, operations, drift and counters as sentences."""

from __future__ import annotations

import pytest
from flask import Flask
from flask_babel import Babel

from pmsbridge.ledger.models import DeliveryState
from pmsbridge.web.labels import (
    AUDIT_ACTIONS,
    DELIVERY_STATES,
    OPERATIONS,
    counter_sentence,
    drift_count_sentence,
    label,
    language_name,
)
from tests.helpers import wait_for
from tests.web.test_pages import board_row, check_in, settled


@pytest.fixture
def english():
    app = Flask(__name__)
    Babel(app, locale_selector=lambda: "en_GB")
    with app.test_request_context():
        yield


def test_languages_by_name_from_pms_and_iso_codes(english):
    assert [language_name(code) for code in ("GE", "EA", "SP", "SE", "FR", "JA", "de", "en-US", "pt_BR")] == [
        "German", "English", "Spanish", "Swedish", "French", "Japanese", "German", "English", "Portuguese"]
    assert language_name("Q7") == "Q7" and language_name(None) == language_name("") == ""


def test_codes_become_words_and_counters_sentences(english):
    assert label(OPERATIONS, "cfu") == "call forward" and label(OPERATIONS, "update") == "guest details"
    assert label(OPERATIONS, "newop") == "newop"
    assert counter_sentence("sent_DR", 2) == "2 DR records sent to the PMS (database swap request)."
    assert counter_sentence("sent_WA", 1) == "1 WA record sent to the PMS (wake-up result)."
    assert counter_sentence("link_ups", 1) == "The link came up once."
    assert counter_sentence("something_new", 4) == "something new: 4"
    assert drift_count_sentence("not_checked_in", 3) == "3 rooms are checked in here but vacant on the PBX."
    assert drift_count_sentence("name", 1) == "1 room shows another guest name on the phone."


def test_every_delivery_state_and_the_operators_audit_actions_have_words(english):
    assert set(DELIVERY_STATES) == {state.value for state in DeliveryState}
    assert label(DELIVERY_STATES, DeliveryState.DISMISSED) == "dismissed"
    assert label(DELIVERY_STATES, DeliveryState.SKIPPED) == "not sent: the room is sent whole again"
    assert label(AUDIT_ACTIONS, "remove room") == "room removed (not one of the hotel's)"
    assert label(AUDIT_ACTIONS, "login throttled") == "logins slowed down"
    assert label(AUDIT_ACTIONS, "frontdesk check-in") == "frontdesk check-in"


def test_the_board_and_room_page_name_languages_and_operations(frontdesk, service):
    check_in(service, "102", "Bergström", first_name="Ingrid", language="GE")
    wait_for(lambda: settled(service))
    row = board_row(frontdesk.get("/").get_data(as_text=True), "102")
    assert '<td class="opt" title="de">German</td>' in row  # GE became de at the door
    page = frontdesk.get("/rooms/102").get_data(as_text=True)
    assert '<td title="de">German</td>' in page and "<td>check-in</td>" in page
    board = frontdesk.get("/").get_data(as_text=True)
    assert "Sending to the phone system" in board and "PBX: sending" not in board
