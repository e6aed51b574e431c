"""The front desk's day in a real browser: login, board, check-in, wake-up, checkout; wrong
passwords that slow the login down, and a logout that ends the session on every screen; and an
administrator's: a wake-up at risk, a dead delivery dismissed, a guest's details corrected.

Debian's Chromium, driven by Playwright, against a real ``Service`` (SQLite ledger,
dispatcher, scheduler, waitress on an ephemeral port) talking to the PBX emulator.
With PMSBRIDGE_UPDATE_SCREENSHOTS=1 the board's screenshot also goes to
docs/screenshots/board.png, which the README shows.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from pmsbridge.events import CheckIn, DndSet, Guest, WakeupSet
from pmsbridge.login_throttle import NAME, LoginThrottle, throttle_keys
from pmsbridge.web import board, room
from pmsbridge.web.ledger_pages import audit_entries
from tests.browser.conftest import REPOSITORY, log_in, screenshot
from tests.helpers import wait_for
from tests.web.conftest import (
    ADMIN,
    FRONTDESK,
    FRONTDESK_PASSWORD,
    LEDGER_FILE,
    bridge_settings,
    pass_login_waits,
    prepare_ledger,
    start_emulator,
    start_service,
)

pytestmark = pytest.mark.browser

BOARD_SCREENSHOT = REPOSITORY / "docs" / "screenshots" / "board.png"


@pytest.fixture
def hotel(tmp_path, monkeypatch):
    """A running bridge with a few guests in house, its web interface on an ephemeral port."""
    monkeypatch.setattr(board, "REFRESH_SECONDS", 1)
    monkeypatch.setattr(room, "REFRESH_SECONDS", 1)
    with start_emulator(tmp_path / "pbx", rooms=24) as emulator:
        settings = bridge_settings(tmp_path, emulator)
        prepare_ledger(tmp_path / LEDGER_FILE)
        service = start_service(settings, web=True)
        try:
            _guests_in_house(service, emulator)
            yield service, emulator, f"http://127.0.0.1:{service.web_server.effective_port}"
        finally:
            service.stop()


def _guests_in_house(service, emulator) -> None:
    ledger = service.ledger
    local_now = ledger.clock().astimezone(service.settings.bridge.zone).replace(tzinfo=None)
    tomorrow = (local_now + timedelta(days=1)).replace(hour=6, minute=30, second=0, microsecond=0)
    departure = (local_now + timedelta(days=3)).replace(hour=11, minute=0, second=0, microsecond=0)
    guests = {"102": ("Ingrid", "Bergström", "SE", None), "103": ("Paolo", "Conte", "IT", "1"),
              "105": ("Amélie", "Durand", "FR", None), "107": ("Kenji", "Watanabe", "JA", None),
              "108": ("Mary", "O'Brien", "EN", "1")}
    for number, (first, last, language, vip) in guests.items():
        guest = Guest(reservation=f"R{number}", first_name=first, last_name=last, language=language, vip=vip,
                      departure=departure)
        ledger.record(CheckIn(source="fias", room=number, guest=guest), raw=f"GI|RN{number}|")
    ledger.record(DndSet(source="fias", room="103", on=True), raw="RE|RN103|DN1|")
    ledger.record(WakeupSet(source="fias", room="105", at=tomorrow), raw="WR|RN105|")
    wait_for(lambda: service.ledger.stats().depth == 0)
    emulator.state.set_status("1102", "InUse")
    emulator.state.set_status("1104", "Unavailable")
    emulator.state.set_status("1107", "Ringing")
    emulator.state.set_out_of_service("109", "yes")
    # Someone checked 108 out on the PBX by hand: the PBX refuses its DND, a dead delivery.
    emulator.state.vacate_room("108")
    ledger.record(DndSet(source="fias", room="108", on=True), raw="RE|RN108|DN1|")
    wait_for(lambda: service.ledger.stats().dead == 1)
    wait_for(service.extension_status.refresh)


def room_row(page: Page, number: str):
    return page.locator(f'table.board tr[data-room="{number}"]')


def test_login_board_check_in_wake_up_checkout(hotel, page):
    service, emulator, base = hotel

    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/login"))
    screenshot(page, "01-login")
    page.get_by_label("User name").fill(FRONTDESK)
    page.get_by_label("Password").fill(FRONTDESK_PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page.locator("table.board")).to_be_visible()
    expect(room_row(page, "102")).to_contain_text("Ingrid Bergström")
    expect(room_row(page, "102")).to_contain_text("InUse")
    expect(room_row(page, "103")).to_contain_text("DND")
    screenshot(page, "02-board", BOARD_SCREENSHOT)

    page.get_by_role("link", name="101", exact=True).click()
    expect(page.get_by_role("heading", name="Room 101")).to_be_visible()
    page.get_by_label("First name").first.fill("Jonas")
    page.get_by_label("Last name").first.fill("Keller")
    page.get_by_role("textbox", name="Language").first.fill("GE")
    page.get_by_role("button", name="Check in").click()
    expect(page.locator(".flash.ok")).to_contain_text("Check-in recorded")
    wait_for(lambda: emulator.state.room_summary("101")["occupied"])
    assert emulator.state.snapshot()["extensions"]["1101"]["fullname"] == "Jonas Keller"
    expect(page.locator("#history")).to_contain_text("delivered")
    screenshot(page, "03-checked-in")

    page.get_by_role("button", name="Set wake-up").click()
    expect(page.locator(".flash.ok")).to_contain_text("Wake-up recorded")
    wakeups = wait_for(lambda: emulator.state.room_summary("101")["wakeups"])
    assert wakeups[0]["time"] == "0700"
    expect(page.locator("ul.wakeups")).to_contain_text("07:00")
    screenshot(page, "04-wake-up")

    page.get_by_role("button", name="Check out").click()
    expect(page.locator(".flash.ok")).to_contain_text("Checkout recorded")
    wait_for(lambda: not emulator.state.room_summary("101")["occupied"])
    assert emulator.state.room_summary("101")["wakeups"] == []
    expect(page.locator(".room-head")).to_contain_text("vacant")
    screenshot(page, "05-checked-out")

    page.get_by_role("link", name="Rooms").click()
    expect(room_row(page, "101")).to_have_class(re.compile(r"\bvacant\b"))
    actions = {(row.actor, row.action) for row in audit_entries(service.ledger)}
    assert {(FRONTDESK, "login"), (FRONTDESK, "frontdesk check-in"), (FRONTDESK, "frontdesk wake-up"),
            (FRONTDESK, "frontdesk checkout")} <= actions


def test_board_filters_and_refreshes_in_place(hotel, page):
    service, emulator, base = hotel
    page.goto(base + "/login")
    page.get_by_label("User name").fill(FRONTDESK)
    page.get_by_label("Password").fill(FRONTDESK_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("table.board")).to_be_visible()

    page.get_by_label("Search").fill("durand")
    expect(room_row(page, "105")).to_be_visible()
    expect(room_row(page, "102")).to_be_hidden()
    page.get_by_label("Search").fill("")
    page.get_by_label("Rooms").select_option("vacant")
    expect(room_row(page, "101")).to_be_visible()
    expect(room_row(page, "102")).to_be_hidden()
    page.get_by_label("Rooms").select_option("")

    # A PMS event arrives while the board is open: the row changes without a reload.
    page.evaluate("window.loadedOnce = true")
    service.ledger.record(CheckIn(source="fias", room="106", guest=Guest(last_name="Novak", first_name="Eva")),
                          raw="GI|RN106|")
    expect(room_row(page, "106")).to_contain_text("Eva Novak")
    assert page.evaluate("window.loadedOnce") is True

    page.set_viewport_size({"width": 768, "height": 1024})
    expect(page.locator("table.board th.opt").first).to_be_hidden()
    screenshot(page, "06-board-tablet")



def test_wake_up_at_risk_dismissed_dead_deliveries_and_a_guest_edit(hotel, page):
    service, emulator, base = hotel
    # 108 was checked out on the PBX by hand (its DND died); a wake-up due in 20 minutes dies too.
    local_now = service.ledger.clock().astimezone(service.settings.bridge.zone).replace(tzinfo=None)
    soon = (local_now + timedelta(minutes=20)).replace(second=0, microsecond=0)
    service.ledger.record(WakeupSet(source="fias", room="108", at=soon), raw="WR|RN108|")
    wait_for(lambda: service.ledger.stats().dead == 2)

    log_in(page, base, ADMIN)
    row = room_row(page, "108")
    expect(row).to_have_class(re.compile(r"\bproblem\b"))
    expect(row.locator(".badge.risk")).to_have_text("wake-up at risk")
    expect(row).to_contain_text(f"wake-up at risk: {soon:%H:%M} not confirmed by the phone system")
    expect(room_row(page, "105")).not_to_contain_text("wake-up at risk")
    screenshot(page, "07-wake-up-at-risk")
    page.get_by_role("link", name="Status").click()
    expect(page.locator("ul.wakeups-at-risk")).to_contain_text(f"Room 108 at {soon:%H:%M}")

    page.goto(base + "/rooms/108")
    operator = page.locator("#operator")
    expect(operator).to_contain_text("Dead deliveries")
    operator.get_by_label("Why dismiss them").fill("checked out on the PBX by hand")
    operator.get_by_role("button", name="Dismiss the ticked ones").click()
    expect(page.locator(".flash.ok").first).to_contain_text("Dismissed 2 deliveries")
    expect(page.locator(".flash.ok").nth(1)).to_contain_text("Room 108: repair queued")
    # The reconciler found the room vacant on the PBX: it is checked in again, wake-up and DND with it.
    wait_for(lambda: emulator.state.room_summary("108")["occupied"] and emulator.state.room_summary("108")["wakeups"])
    assert emulator.state.room_summary("108")["wakeups"][0]["time"] == f"{soon:%H%M}"
    wait_for(lambda: service.ledger.stats().depth == 0)
    screenshot(page, "08-dismissed")

    guest = page.locator("#guest-edit")
    guest.get_by_label("Last name").fill("O'Brien-Walsh")
    guest.get_by_label("VIP code").fill("2")
    guest.get_by_role("button", name="Save guest details").click()
    expect(page.locator(".flash.ok")).to_contain_text("Guest details recorded")
    wait_for(lambda: emulator.state.room_summary("108")["guest"]["lastname"] == "O'Brien-Walsh")
    assert emulator.state.room_summary("108")["guest"]["vipcode"] == "2"
    expect(page.locator(".room-head")).to_contain_text("occupied")
    screenshot(page, "09-guest-edited")

    service.reconciler.run(reason="scheduled")  # the next run sees the repair done and resolves the drift
    page.get_by_role("link", name="Rooms").click()
    expect(room_row(page, "108")).not_to_have_class(re.compile(r"\bproblem\b"))
    expect(room_row(page, "108")).to_contain_text("Mary O'Brien-Walsh")
    actions = {(row.actor, row.action) for row in audit_entries(service.ledger)}
    assert {(ADMIN, "dismiss"), (ADMIN, "reconcile after dismiss"), (ADMIN, "frontdesk guest details")} <= actions


def submit_login(page: Page, base: str, password: str = FRONTDESK_PASSWORD) -> None:
    """Fill in and send the login form as the front desk; where it leads is the test's to check."""
    page.goto(base + "/login")
    page.get_by_label("User name").fill(FRONTDESK)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_wrong_passwords_slow_down_and_a_logout_ends_every_screen(hotel, page):
    service, _, base = hotel
    for _ in range(NAME.free):
        submit_login(page, base, "not-the-password")
        expect(page.locator(".flash.error")).to_have_text("wrong user name or password")
    # Four more failures (the way the login form counts them) make the next wait 16 s, longer
    # than a slow machine takes for the next page.
    for _ in range(4):
        LoginThrottle(service.engine).failed(throttle_keys("127.0.0.1", FRONTDESK))
    submit_login(page, base)
    expect(page.locator(".flash.error")).to_have_text(re.compile(r"too many failed logins: try again in 1[56] seconds"))
    screenshot(page, "07-login-slowed-down")
    pass_login_waits(service.engine, 16)
    submit_login(page, base)
    expect(page.locator("table.board")).to_be_visible()

    # The same session on a second screen (its cookie copied), then a logout on the first.
    second = page.context.browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        second.add_cookies(page.context.cookies())
        other = second.new_page()
        other.goto(base + "/")
        expect(other.locator("table.board")).to_be_visible()
        page.get_by_role("button", name="Log out").click()
        expect(page.locator(".flash.ok")).to_have_text("You are logged out.")
        other.goto(base + "/")
        expect(other).to_have_url(re.compile(r"/login"))
    finally:
        second.close()
    actions = [(row.actor, row.action) for row in audit_entries(service.ledger)]
    assert actions.count((FRONTDESK, "login failed")) == NAME.free
    assert (FRONTDESK, "login throttled") in actions and (FRONTDESK, "logout") in actions
