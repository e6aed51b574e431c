"""The interface in the staff's language, in a real browser: a German browser gets German
pages and dates, and a user's own choice follows them to another browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from pmsbridge.events import CheckIn, Guest
from tests.browser.conftest import log_in, open_page, screenshot
from tests.helpers import wait_for
from tests.web.conftest import FRONTDESK, LEDGER_FILE, bridge_settings, prepare_ledger, start_emulator, start_service

pytestmark = pytest.mark.browser


@pytest.fixture
def hotel(tmp_path):
    with start_emulator(tmp_path / "pbx") as emulator:
        settings = bridge_settings(tmp_path, emulator)
        prepare_ledger(tmp_path / LEDGER_FILE)
        service = start_service(settings, web=True)
        try:
            service.ledger.record(CheckIn(source="fias", room="102", guest=Guest(last_name="Keller", language="SP")),
                                  raw="GI|RN102|")
            wait_for(lambda: service.ledger.stats().depth == 0)
            yield service, f"http://127.0.0.1:{service.web_server.effective_port}"
        finally:
            service.stop()


def test_a_german_user_sees_german_and_keeps_a_chosen_language(hotel):
    service, base = hotel
    with open_page(locale="de-DE") as page:
        log_in(page, base, FRONTDESK)
        expect(page.locator("html")).to_have_attribute("lang", "de")
        header = page.locator("table.board thead")
        for label in ("Zimmer", "Leitung", "Gast", "Weckruf", "Aufmerksamkeit"):
            expect(header).to_contain_text(label)
        expect(page.locator('table.board tr[data-room="102"]')).to_contain_text("Spanisch")
        expect(page.locator("#shown-count")).to_have_text("11 von 11 angezeigt")
        expect(page.locator(".summary")).to_contain_text("Versand an die Telefonanlage läuft")
        screenshot(page, "board-german")

        page.get_by_role("link", name="102", exact=True).click()
        expect(page.get_by_role("heading", name="Zimmer 102")).to_be_visible()
        expect(page.get_by_role("button", name="Weckruf setzen")).to_be_visible()

        page.get_by_label("Sprache der Oberfläche").select_option("fr")
        expect(page.get_by_role("heading", name="Chambre 102")).to_be_visible()
        expect(page.get_by_role("button", name="Programmer le réveil")).to_be_visible()

    with open_page(locale="en-GB") as page:
        log_in(page, base, FRONTDESK)
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.locator("table.board thead")).to_contain_text("Chambre")
