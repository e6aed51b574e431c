"""The board at the desk's screen sizes, in a real browser: a laptop shows thirty rooms and
more on one screen; a tablet keeps do-not-disturb, wake-up, queue and attention (stacked
under each room, not dropped); wake-ups say which week they ring in."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from pmsbridge.config import RoomsSettings
from pmsbridge.events import CheckIn, DndSet, Guest, WakeupSet
from tests.browser.conftest import LAPTOP, TABLET, log_in, screenshot
from tests.helpers import wait_for
from tests.web.conftest import FRONTDESK, LEDGER_FILE, bridge_settings, prepare_ledger, start_emulator, start_service

pytestmark = pytest.mark.browser

ROOMS = 40


@pytest.fixture
def hotel(tmp_path):
    """Forty rooms, half of them occupied; 105 has do-not-disturb and three wake-ups, one of
    them a year ahead in 110; 108's line is out of service (a room that needs attention)."""
    with start_emulator(tmp_path / "pbx", rooms=ROOMS) as emulator:
        settings = bridge_settings(tmp_path, emulator)
        settings = settings.model_copy(update={"rooms": RoomsSettings(extension_template="1{room}",
                                                                      rooms=[f"101-{100 + ROOMS}"])})
        prepare_ledger(tmp_path / LEDGER_FILE)
        service = start_service(settings, web=True)
        try:
            ledger = service.ledger
            now = ledger.clock().astimezone(settings.bridge.zone).replace(tzinfo=None, second=0, microsecond=0)
            for number in range(101, 101 + ROOMS, 2):
                ledger.record(CheckIn(source="fias", room=str(number),
                                      guest=Guest(reservation=f"R{number}", first_name="Guest", last_name=f"N{number}",
                                                  language="GE")), raw=f"GI|RN{number}|")
            ledger.record(DndSet(source="fias", room="105", on=True), raw="RE|RN105|DN1|")
            for days in (1, 2, 3):
                ledger.record(WakeupSet(source="fias", room="105", at=now + timedelta(days=days)), raw="WR|RN105|")
            ledger.record(WakeupSet(source="fias", room="111", at=now + timedelta(days=365)), raw="WR|RN111|")
            wait_for(lambda: ledger.stats().depth == 0)
            emulator.state.set_out_of_service("108", "yes")
            wait_for(service.extension_status.refresh)
            yield service, f"http://127.0.0.1:{service.web_server.effective_port}"
        finally:
            service.stop()


def rows_in_view(page: Page) -> int:
    """Board rows wholly inside the window, without scrolling."""
    return page.evaluate("""() => [...document.querySelectorAll('table.board tr[data-room]')].filter(row => {
        const box = row.getBoundingClientRect();
        return box.height > 0 && box.top >= 0 && box.bottom <= window.innerHeight;
    }).length""")


def inside_window(page: Page, selector: str) -> bool:
    """The element is shown and lies wholly within the window's width (no sideways scrolling)."""
    return page.evaluate("""(selector) => {
        const box = document.querySelector(selector).getBoundingClientRect();
        return box.width > 0 && box.left >= 0 && box.right <= window.innerWidth;
    }""", selector)


def test_a_laptop_shows_thirty_rooms_and_more(hotel, page):
    service, base = hotel
    log_in(page, base, FRONTDESK)
    expect(page.locator('table.board tr[data-room="140"]')).to_be_attached()
    assert page.viewport_size == LAPTOP
    shown = rows_in_view(page)
    print(f"rooms in view at 1366x768: {shown} of {ROOMS}")
    screenshot(page, "board-laptop")
    assert shown >= 30, f"{shown} of {ROOMS} rooms fit on a 1366x768 screen"
    # The phone's address is on hover, not on a second line.
    row = page.locator('table.board tr[data-room="101"]')
    expect(row.locator(".line")).to_have_attribute("title", re.compile(r"127\.0\.0\.1:\d+"))
    expect(row).not_to_contain_text("127.0.0.1")


def test_a_tablet_keeps_dnd_wake_up_and_attention(hotel, page):
    service, base = hotel
    page.set_viewport_size(TABLET)
    log_in(page, base, FRONTDESK)
    room = 'table.board tr[data-room="105"]'
    expect(page.locator(f"{room} td.dnd")).to_contain_text("DND")
    for column in ("dnd", "wakeup", "queue", "attention"):
        assert inside_window(page, f"table.board th.{column}"), column
    for cell in ("td.dnd", "td.wakeup"):
        assert inside_window(page, f"{room} {cell}"), cell
    expect(page.locator('table.board tr[data-room="108"] td.attention')).to_contain_text("out of service")
    assert inside_window(page, 'table.board tr[data-room="108"] td.attention')
    expect(page.locator("table.board th.opt").first).to_be_hidden()
    screenshot(page, "board-tablet")


def test_wake_ups_beyond_the_week_show_their_date_and_more_are_explained(hotel, page):
    service, base = hotel
    log_in(page, base, FRONTDESK)
    now = service.ledger.clock().astimezone(service.settings.bridge.zone)
    in_a_year = page.locator('table.board tr[data-room="111"] td.wakeup')
    expect(in_a_year).to_contain_text(str((now + timedelta(days=365)).year))
    tomorrow = page.locator('table.board tr[data-room="105"] td.wakeup')
    expect(tomorrow).not_to_contain_text(str(now.year))
    expect(tomorrow.locator("small")).to_have_text("+2")
    expect(tomorrow.locator("small")).to_have_attribute("title", "and 2 more wake-ups")
