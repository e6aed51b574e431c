"""The board, the status, ledger and mapping pages, against a real service and the PBX emulator."""

from __future__ import annotations

import re
import shutil
import threading
from datetime import UTC, datetime

import pytest
from pmsbridge.adapters.fias.moves import PendingEvent
from pmsbridge.adapters.fias.swap import SwapPlan, held_to_json

from pmsbridge.config import ReconcilePolicy, ReconcileSettings, RoomsSettings
from pmsbridge.events import CheckIn, CheckOut, DndSet, Guest, WakeupSet
from pmsbridge.web import create_app
from pmsbridge.web.ledger_pages import audit_entries
from tests.helpers import wait_for
from tests.web.conftest import (
    ADMIN,
    LEDGER_FILE,
    bridge_settings,
    flashes,
    follow,
    login,
    post,
    start_service,
)


def check_in(service, room: str, last_name: str, **guest) -> None:
    service.ledger.record(CheckIn(source="fias", room=room, guest=Guest(last_name=last_name, **guest)),
                          raw=f"GI|RN{room}|")


def settled(service) -> bool:
    return service.ledger.stats().depth == 0


def board_row(page: str, room: str) -> str:
    match = re.search(rf'<tr class="[^"]*" data-room="{room}".*?</tr>', page, re.S)
    assert match, f"room {room} is not on the board"
    return match.group(0)


def make_dead_delivery(service, emulator, room: str = "104") -> int:
    """Someone checks the room out on the PBX by hand; the bridge's DND for it is then refused."""
    check_in(service, room, "Gone")
    wait_for(lambda: settled(service))
    emulator.state.vacate_room(room)
    service.ledger.record(DndSet(source="fias", room=room, on=True), raw=f"RE|RN{room}|DN1|")
    return wait_for(lambda: service.ledger.deliveries(state="dead"))[0].id


# -- the board --------------------------------------------------------------------------------


def test_the_board_lists_configured_and_known_rooms_with_their_state(frontdesk, service, emulator):
    check_in(service, "102", "Bergström", first_name="Ingrid", language="SE", vip="1")
    check_in(service, "130", "Stranger")  # not configured: the PMS named it
    service.ledger.record(DndSet(source="fias", room="102", on=True), raw="")
    local = service.ledger.clock().astimezone(service.settings.bridge.zone)
    at = local.replace(tzinfo=None, hour=6, minute=15, second=0, microsecond=0)
    service.ledger.record(WakeupSet(source="fias", room="102", at=at.replace(year=at.year + 1)), raw="")
    wait_for(lambda: settled(service))
    emulator.state.set_status("1102", "Ringing")
    assert service.extension_status.refresh()
    page = frontdesk.get("/").get_data(as_text=True)
    rooms = re.findall(r'data-room="([^"]+)"', page)
    assert rooms == [str(n) for n in range(101, 111)] + ["120", "130"]
    row = board_row(page, "102")
    for shown in ("Ingrid Bergström", "SE", "DND", "Ringing", "127.0.0.1:5062", "6:15", 'data-floor="1"',
                  'data-occupied="1"', 'class="occupied"'):
        assert shown in row, shown
    assert 'class="vacant"' in board_row(page, "101") and "Idle" in board_row(page, "101")
    assert "5 of 12" not in page and "<b>2</b> of 12 rooms occupied" in page


def test_the_board_table_refresh_is_the_table_alone(frontdesk, service):
    check_in(service, "105", "Durand")
    fragment = frontdesk.get("/board/table").get_data(as_text=True)
    assert "Durand" in fragment and "<html" not in fragment and "board-filters" not in fragment


def test_pending_and_dead_deliveries_colour_the_room(frontdesk, service, emulator):
    make_dead_delivery(service, emulator, "104")
    page = frontdesk.get("/").get_data(as_text=True)
    row = board_row(page, "104")
    assert 'class="occupied problem"' in row and "1 dead" in row and 'data-problem="1"' in row
    assert "1</b> needs attention" in page


def test_page_views_never_ask_the_pbx(settings, idle_service, emulator):
    client = create_app(settings, idle_service).test_client()
    login(client, ADMIN)
    assert idle_service.extension_status.refresh()
    before = len(emulator.requests_log)
    for path in ("/", "/board/table", "/rooms/101", "/rooms/101/history", "/status", "/mapping"):
        assert client.get(path).status_code == 200
    assert len(emulator.requests_log) == before


def test_the_sweep_runs_once_at_a_time(idle_service, emulator):
    emulator.set_faults(latency=0.4)
    emulator.reset_counters()
    start = threading.Barrier(4)
    results = []

    def sweep():
        start.wait()
        results.append(idle_service.extension_status.refresh())

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [False, False, False, True]
    assert emulator.counters().get("listAccount") == 1


def test_a_failed_sweep_keeps_the_last_figures(frontdesk, service, emulator):
    assert service.extension_status.refresh()
    emulator.set_faults(down=True)
    assert not service.extension_status.refresh()
    snapshot = service.extension_status.snapshot
    assert snapshot.statuses["1101"].status == "Idle" and snapshot.last_error
    page = frontdesk.get("/").get_data(as_text=True)
    assert "(PBX not answering)" in page and "Idle" in board_row(page, "101")


def test_drift_is_shown_and_repaired(tmp_path, emulator, ledger_template):
    shutil.copy(ledger_template, tmp_path / LEDGER_FILE)
    settings = bridge_settings(tmp_path, emulator).model_copy(update={"reconcile": ReconcileSettings(
        enabled=False, policy=ReconcilePolicy(name="report"))})
    service = start_service(settings)
    try:
        app = create_app(settings, service)
        client = app.test_client()
        login(client, ADMIN)
        check_in(service, "103", "Conte", first_name="Paolo")
        wait_for(lambda: settled(service))
        emulator.state.set_fullname("103", "Somebody Else")
        service.reconciler.run(reason="test")
        assert "the PBX differs: guest name" in board_row(client.get("/").get_data(as_text=True), "103")
        ledger_page = client.get("/ledger").get_data(as_text=True)
        assert "Where the PBX differs" in ledger_page and "Somebody Else" in ledger_page
        page = follow(client, post(client, "/ledger/drift/103/repair"))
        assert flashes(page)[0].startswith("Room 103: repair queued (deliveries ")
        wait_for(lambda: settled(service))
        assert emulator.state.snapshot()["extensions"]["1103"]["fullname"] == "Paolo Conte"
        assert (ADMIN, "drift repair") in [(row.actor, row.action) for row in audit_entries(service.ledger)]
    finally:
        service.stop()


def test_check_now_looks_or_records_and_the_page_shows_the_latest_result(tmp_path, emulator, ledger_template):
    shutil.copy(ledger_template, tmp_path / LEDGER_FILE)
    settings = bridge_settings(tmp_path, emulator).model_copy(update={"reconcile": ReconcileSettings(
        enabled=False, policy=ReconcilePolicy(name="report", not_checked_in="report"))})
    service = start_service(settings)
    try:
        client = create_app(settings, service).test_client()
        login(client, ADMIN)
        assert "No check yet" in client.get("/ledger").get_data(as_text=True)
        for room in ("102", "103", "105"):
            check_in(service, room, f"Guest{room}")
        wait_for(lambda: settled(service))
        for room in ("102", "103", "105"):
            emulator.state.vacate_room(room)

        page = follow(client, post(client, "/ledger/reconcile", {"mode": "look"}))
        assert flashes(page) == ["Reconciliation: 3 differences found in 3 rooms; nothing recorded (look only)."]
        text = words(page)
        assert "look only: nothing recorded) compared 3 rooms and found 3 differences." in text
        assert text.count("Guest105") == 1 and "No difference found" not in text
        assert service.reconciler.drift_by_room() == {}

        page = follow(client, post(client, "/ledger/reconcile", {"mode": "record"}))
        assert flashes(page) == ["Reconciliation: 3 differences found in 3 rooms; repairs queued for 0 rooms."]
        assert sorted(service.reconciler.drift_by_room()) == ["102", "103", "105"]
        assert "Recorded differences" in page.get_data(as_text=True)
        actions = [(row.actor, row.action) for row in audit_entries(service.ledger)]
        assert (ADMIN, "reconcile look") in actions and (ADMIN, "reconcile") in actions
        status = words(client.get("/status"))
        assert "(asked for by ada) compared 3 rooms and found 3 differences." in status
        assert "3 rooms are checked in here but vacant on the PBX." in status and "not_checked_in" not in status
    finally:
        service.stop()


def words(response) -> str:
    """A page's text as a reader sees it: no tags, single spaces."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).replace(" .", ".")


# -- the status page --------------------------------------------------------------------------


def test_the_status_page(frontdesk, service, emulator):
    service.extension_status.refresh()
    page = frontdesk.get("/status").get_data(as_text=True)
    for shown in (emulator.url, "FCM630A V1.5A", "1.0.20.13", "logged in", "20 extensions", "No PMS adapter",
                  "Reconciliation", "sending"):
        assert shown in page, shown


def test_the_status_page_shows_a_pbx_outage(frontdesk, service, emulator):
    service.extension_status.refresh()
    emulator.set_faults(down=True)
    service.extension_status.refresh()
    page = frontdesk.get("/status").get_data(as_text=True)
    assert "cannot connect to the PBX" in page or "dropped the connection" in page


# -- the ledger page --------------------------------------------------------------------------


def test_dead_deliveries_are_replayed_one_or_all(admin, service, emulator):
    dead = make_dead_delivery(service, emulator)
    page = admin.get("/ledger").get_data(as_text=True)
    assert "Dead deliveries (1)" in page and f'name="id" value="{dead}"' in page
    page = follow(admin, post(admin, "/ledger/replay", {"id": str(dead)}))
    assert flashes(page) == [f"Queued 1 delivery again: {dead}."]
    wait_for(lambda: service.ledger.deliveries(state="dead"))  # the PBX still refuses it
    page = follow(admin, post(admin, "/ledger/replay", {"all_dead": "1"}))
    assert flashes(page) == [f"Queued 1 delivery again: {dead}."]
    replays = [row for row in audit_entries(service.ledger) if row.action == "replay"]
    assert [(row.actor, row.detail) for row in replays] == [(ADMIN, f"deliveries {dead}")] * 2


def test_replay_needs_a_choice(admin):
    page = follow(admin, post(admin, "/ledger/replay"))
    assert flashes(page) == ["Tick the dead deliveries to replay, or replay all of them."]


def test_history_filters_and_detail_pages(admin, service, emulator):
    check_in(service, "101", "Doe")
    check_in(service, "102", "Roe")
    service.ledger.record_rejected("fias", "XX|garbage|", "unknown record type XX")
    wait_for(lambda: settled(service))
    page = admin.get("/ledger?view=deliveries&room=101&state=delivered").get_data(as_text=True)
    assert "check-in" in page and "Roe" not in page and ">102<" not in page
    events = admin.get("/ledger?view=events&status=rejected").get_data(as_text=True)
    assert "unknown record type XX" in events and "check-in" not in events
    assert "unknown record type" not in admin.get("/ledger?view=events&status=applied").get_data(as_text=True)
    delivery = service.ledger.deliveries(room="101")[0]
    detail = admin.get(f"/ledger/deliveries/{delivery.id}").get_data(as_text=True)
    assert "<checkin>" in detail.replace("&lt;", "<").replace("&gt;", ">") and "delivered" in detail
    event = admin.get(f"/ledger/events/{delivery.event_id}").get_data(as_text=True)
    assert "GI|RN101|" in event and f"/ledger/deliveries/{delivery.id}" in event
    audit = admin.get("/ledger?view=audit").get_data(as_text=True)
    assert ">login<" in audit and ADMIN in audit


@pytest.mark.parametrize("decision", ["confirm", "discard"])
def test_a_held_database_swap_is_confirmed_or_discarded(tmp_path, emulator, ledger_template, decision):
    shutil.copy(ledger_template, tmp_path / LEDGER_FILE)
    settings = bridge_settings(tmp_path, emulator).model_copy(update={"adapters": {"fias": {"enabled": False}}})
    service = start_service(settings)
    try:
        app = create_app(settings, service)
        client = app.test_client()
        login(client, ADMIN)
        for room in ("101", "102"):
            check_in(service, room, f"Guest{room}")
        plan = SwapPlan(events=tuple(PendingEvent(CheckOut(source="fias", room=room), f"not in the swap: {room}")
                                     for room in ("101", "102")),
                        occupied=2, vacated=2, held=True, records=0, computed_at=datetime.now(UTC))
        service.ledger.set_value("resync.held.fias", held_to_json(plan))
        page = client.get("/ledger").get_data(as_text=True)
        assert "Database swap from fias held back" in page and "would check out 2 of 2 occupied rooms" in page
        page = follow(client, post(client, f"/ledger/swaps/fias/{decision}"))
        assert f"The held database swap of fias is {'confirmed' if decision == 'confirm' else 'discarded'}" \
            in flashes(page)[0]
        assert service.ledger.get_value("resync.held.fias") == ""
        occupied = {room: state.occupied for room, state in service.ledger.room_states().items()}
        assert occupied == ({"101": False, "102": False} if decision == "confirm" else {"101": True, "102": True})
        if decision == "confirm":
            assert {event.actor for event in service.ledger.events(status="applied") if event.kind == "check_out"} \
                == {ADMIN}
        assert (ADMIN, f"resync {decision}ed") in [(row.actor, row.action) for row in audit_entries(service.ledger)]
        page = follow(client, post(client, f"/ledger/swaps/fias/{decision}"))
        assert "no database swap of fias is held" in flashes(page)[0].lower()
    finally:
        service.stop()


# -- the mapping page -------------------------------------------------------------------------


def test_the_mapping_page_names_rooms_the_pbx_lacks(settings, idle_service):
    settings = settings.model_copy(update={"rooms": RoomsSettings(extension_template="1{room}",
                                                                  rooms=["101-102", "150"], map={"120": ""})})
    client = create_app(settings, idle_service).test_client()
    login(client, ADMIN)
    page = client.get("/mapping").get_data(as_text=True)
    assert "the PBX's extensions have not been read yet" in page
    idle_service.extension_status.refresh()
    page = client.get("/mapping").get_data(as_text=True)
    assert "room 150: extension 1150 is unknown to the PBX" in page
    assert "— (no phone)" in page and "<code>1{room}</code>" in page
