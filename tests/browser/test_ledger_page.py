"""The ledger page's reconciliation in a real browser: the latest check and when it was
taken, a look-only check that finds what ``pmsbridge reconcile --dry-run`` finds, and a
check that repairs."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from pmsbridge.config import ReconcileSettings
from pmsbridge.events import CheckIn, Guest
from tests.browser.conftest import log_in, screenshot
from tests.helpers import wait_for
from tests.web.conftest import ADMIN, LEDGER_FILE, bridge_settings, prepare_ledger, start_emulator, start_service

pytestmark = pytest.mark.browser

VACATED = ("102", "103", "105")


@pytest.fixture
def hotel(tmp_path):
    """Three guests the PBX has lost (someone checked them out by hand); no scheduled run."""
    with start_emulator(tmp_path / "pbx") as emulator:
        settings = bridge_settings(tmp_path, emulator).model_copy(
            update={"reconcile": ReconcileSettings(enabled=False)})
        prepare_ledger(tmp_path / LEDGER_FILE)
        service = start_service(settings, web=True)
        try:
            for room in VACATED:
                service.ledger.record(CheckIn(source="fias", room=room, guest=Guest(last_name=f"Guest{room}")),
                                      raw=f"GI|RN{room}|")
            wait_for(lambda: service.ledger.stats().depth == 0)
            for room in VACATED:
                emulator.state.vacate_room(room)
            yield service, emulator, f"http://127.0.0.1:{service.web_server.effective_port}"
        finally:
            service.stop()


def test_the_latest_check_and_check_now(hotel, page):
    service, emulator, base = hotel
    log_in(page, base, ADMIN)
    page.goto(base + "/ledger")
    card = page.locator("#reconciliation")
    expect(card.locator("p.check")).to_contain_text("No check yet")
    expect(card).not_to_contain_text("No difference found")

    card.get_by_role("button", name="Check now (look only)").click()
    expect(page.locator(".flash.warn")).to_have_text(
        "Reconciliation: 3 differences found in 3 rooms; nothing recorded (look only).")
    card = page.locator("#reconciliation")
    expect(card.locator("p.check")).to_contain_text("look only: nothing recorded) compared 3 rooms and found "
                                                    "3 differences")
    expect(card.locator("table.looked tbody tr")).to_have_count(3)
    assert service.reconciler.drift_by_room() == {}
    screenshot(page, "ledger-look")

    card.get_by_role("button", name="Check now and repair").click()
    expect(page.locator(".flash")).to_contain_text("repairs queued for 3 rooms")
    wait_for(lambda: all(emulator.state.room_summary(room)["occupied"] for room in VACATED))
    card = page.locator("#reconciliation")
    expect(card.locator("p.check")).to_contain_text("(asked for by ada) compared 3 rooms and found 3 differences")
    screenshot(page, "ledger-repair")

    card.get_by_role("button", name="Check now (look only)").click()
    expect(page.locator("#reconciliation p.check")).to_contain_text("and found no difference")
