"""Pages whose tables used to be cut or clipped, in a real browser at laptop and tablet
sizes: the room page's guests (arrival and departure), the status page's PMS links and
the minibar catalog's bars, each wholly inside its card without sideways scrolling."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from pmsbridge.adapters.fias.config import FiasSettings
from pmsbridge.events import CheckIn, Guest
from pmsbridge.sim.fias import FiasSimulator, SimulatorOptions
from tests.browser.conftest import TABLET, log_in, screenshot
from tests.helpers import wait_for
from tests.web.conftest import ADMIN, LEDGER_FILE, bridge_settings, prepare_ledger, start_emulator, start_service

pytestmark = pytest.mark.browser


@pytest.fixture
def hotel(tmp_path):
    """A bridge linked to the FIAS simulator, with a room of two guests with long names."""
    simulator = FiasSimulator(SimulatorOptions(port=0, rooms=[str(n) for n in range(101, 111)], link_end_wait=0.5))
    simulator.start()
    with start_emulator(tmp_path / "pbx") as emulator:
        settings = bridge_settings(tmp_path, emulator)
        settings.adapters["fias"] = {"host": "127.0.0.1", "port": simulator.port}
        settings.adapter_settings["fias"] = FiasSettings(host="127.0.0.1", port=simulator.port, reconnect_min=0.05,
                                                         reconnect_max=0.2)
        prepare_ledger(tmp_path / LEDGER_FILE)
        service = start_service(settings, web=True)
        try:
            wait_for(lambda: service.adapters["fias"].link.up)
            for reservation, first, last in (("R1", "Maximiliane-Charlotte", "von Hohenzollern-Sigmaringen"),
                                             ("R2", "Jean-Baptiste", "de La Rochefoucauld-Liancourt")):
                guest = Guest(reservation=reservation, first_name=first, last_name=last, language="GE",
                              arrival=datetime(2026, 12, 1, 14, 0), departure=datetime(2027, 1, 6, 11, 0))
                service.ledger.record(CheckIn(source="fias", room="104", guest=guest, shared=True), raw="GI|RN104|")
            yield service, f"http://127.0.0.1:{service.web_server.effective_port}"
        finally:
            service.stop()
            simulator.stop()


def overflow(page: Page, selector: str) -> list[str]:
    """The cells of the table at ``selector`` that stick out of its card, or need sideways scrolling."""
    return page.evaluate("""(selector) => {
        const table = document.querySelector(selector);
        const card = table.closest('.card').getBoundingClientRect();
        const cells = [...table.querySelectorAll('th, td')].filter(cell => {
            const box = cell.getBoundingClientRect();
            return box.width > 0 && (box.right > card.right + 0.5 || box.right > window.innerWidth);
        }).map(cell => cell.textContent.trim());
        const scroller = table.closest('.scroll');
        if (scroller && scroller.scrollWidth > scroller.clientWidth + 1) cells.push('(scrolls sideways)');
        return cells;
    }""", selector)


@pytest.mark.parametrize("size", ["laptop", "tablet"])
def test_tables_fit_their_cards(hotel, page, size):
    service, base = hotel
    if size == "tablet":
        page.set_viewport_size(TABLET)
    log_in(page, base, ADMIN)

    page.goto(base + "/rooms/104")
    guests = page.locator("section.card", has=page.locator("h2", has_text="Guests")).locator("table")
    expect(guests).to_contain_text("von Hohenzollern-Sigmaringen")
    expect(guests.locator("th").nth(5)).to_have_text("Departure")
    assert overflow(page, "section.card.wide table") == []
    screenshot(page, f"room-guests-{size}")

    page.goto(base + "/status")
    links = page.locator("section.card", has=page.locator("h2", has_text="PMS links"))
    expect(links).to_contain_text("fias")
    expect(links.locator("ul.counters")).to_contain_text("DR record sent to the PMS (database swap request).")
    expect(links).not_to_contain_text("sent_DR")
    assert overflow(page, "section.card.wide table") == []
    screenshot(page, f"status-{size}")

    page.goto(base + "/minibar")
    bars = page.locator("table.catalog").first
    expect(bars.locator("th").nth(4)).to_have_text("Goods list")
    assert overflow(page, "table.catalog") == []
    expect(page.get_by_text("a voice prompt file on the PBX, e.g. record/bar")).to_be_visible()
    screenshot(page, f"minibar-{size}")
