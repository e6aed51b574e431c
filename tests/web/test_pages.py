"""The board, the status, ledger and mapping pages, against a real service and the PBX emulator."""

from __future__ import annotations

import re
import shutil
import threading
from datetime import UTC, datetime, timedelta

import pytest
from pmsbridge.adapters.fias.moves import PendingEvent
from pmsbridge.adapters.fias.swap import SwapPlan, held_to_json

from pmsbridge.config import ReconcilePolicy, ReconcileSettings, RoomsSettings
from pmsbridge.events import CheckIn, CheckOut, DndSet, Guest, WakeupSet
from pmsbridge.sim.pbx.state import Guest as PbxGuest
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
    record_unchecked,
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
    check_in(service, "130", "Stranger")  # not one of the hotel's rooms: refused at the door
    service.ledger.record(DndSet(source="fias", room="102", on=True), raw="")
    local = service.ledger.clock().astimezone(service.settings.bridge.zone)
    at = local.replace(tzinfo=None, hour=6, minute=15, second=0, microsecond=0)
    service.ledger.record(WakeupSet(source="fias", room="102", at=at.replace(year=at.year + 1)), raw="")
    wait_for(lambda: settled(service))
    emulator.state.set_status("1102", "Ringing")
    assert service.extension_status.refresh()
    page = frontdesk.get("/").get_data(as_text=True)
    rooms = re.findall(r'data-room="([^"]+)"', page)
    assert rooms == [str(n) for n in range(101, 111)] + ["120"]
    [refused] = service.ledger.events(room="130")
    assert refused.status == "rejected" and "not one of the hotel's rooms" in refused.problem
    row = board_row(page, "102")
    for shown in ("Ingrid Bergström", 'title="sv">Swedish', "DND", "Ringing", "127.0.0.1:5062", "6:15",
                  'data-floor="1"', 'data-occupied="1"', 'class="occupied"'):
        assert shown in row, shown
    assert 'class="vacant"' in board_row(page, "101") and "Idle" in board_row(page, "101")
    assert "5 of 11" not in page and "<b>1</b> of 11 rooms occupied" in page


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


def test_a_degraded_room_is_flagged_on_the_board_and_its_page(frontdesk, service):
    record_unchecked(service, CheckIn(source="fias", room="107", guest=Guest(last_name="Gold", vip="V1")))
    wait_for(lambda: settled(service) and service.ledger.room_rows()[0].degraded)
    assert 'data-problem="0"' in board_row(frontdesk.get("/").get_data(as_text=True), "107")  # a flag, not red
    row = board_row(frontdesk.get("/").get_data(as_text=True), "107")
    assert 'class="occupied degraded"' in row and "checked in without VIP: the PBX refused &#39;V1&#39;" in row
    page = frontdesk.get("/rooms/107").get_data(as_text=True)
    assert '<p class="flash warn">checked in without VIP: the PBX refused &#39;V1&#39;</p>' in page


def test_what_the_pbx_lacks_is_said_on_the_board_and_the_room_page(frontdesk, service, emulator):
    make_dead_delivery(service, emulator, "104")
    sentence = "wanted DND on, the phone system has it off"
    assert sentence in board_row(frontdesk.get("/").get_data(as_text=True), "104")
    assert sentence in frontdesk.get("/rooms/104").get_data(as_text=True)


def test_a_wake_up_at_risk_is_red_on_the_board_and_named_on_the_status_page(frontdesk, service, emulator):
    make_dead_delivery(service, emulator, "104")
    local = service.ledger.clock().astimezone(service.settings.bridge.zone).replace(tzinfo=None)
    soon = (local + timedelta(minutes=20)).replace(second=0, microsecond=0)
    service.ledger.record(WakeupSet(source="fias", room="104", at=soon), raw="")
    check_in(service, "105", "Safe")
    service.ledger.record(WakeupSet(source="fias", room="105", at=soon), raw="")
    wait_for(lambda: settled(service))
    page = frontdesk.get("/").get_data(as_text=True)
    row = board_row(page, "104")
    assert 'class="occupied wakeup-risk problem"' in row and "wake-up at risk" in row
    assert f"wake-up at risk: {soon:%H:%M} not confirmed by the phone system" in row
    assert "wake-up at risk" not in board_row(page, "105")
    assert "<b>1</b> with a wake-up at risk" in page
    status = frontdesk.get("/status").get_data(as_text=True)
    assert "Wake-ups at risk" in status
    assert f'Room 104</a> at {soon:%H:%M}: not confirmed by the phone system' in status
    assert "Room 105" not in status


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
    assert "Wake-ups at risk" not in page


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


def test_a_dead_delivery_is_dismissed_with_a_note_and_the_room_reconciled(admin, service, emulator):
    dead = make_dead_delivery(service, emulator, "104")  # the PBX has 104 vacant, the bridge occupied
    page = follow(admin, post(admin, "/ledger/dismiss", {"id": str(dead), "note": " "}))
    assert flashes(page) == ["Nothing was dismissed: say why the deliveries are dismissed: a note is required."]
    assert service.ledger.delivery(dead).state == "dead"

    page = follow(admin, post(admin, "/ledger/dismiss", {"id": str(dead), "note": "checked out on the PBX by hand",
                                                         "next": "/rooms/104"}))
    assert page.request.path == "/rooms/104"
    [dismissed, reconciled] = flashes(page)
    assert dismissed == f"Dismissed 1 delivery: {dead}."
    assert reconciled.startswith("Room 104: repair queued (deliveries ")
    wait_for(lambda: settled(service))
    assert emulator.state.room_summary("104")["occupied"] and emulator.state.room_summary("104")["dnd"] is True
    row = service.ledger.delivery(dead)
    assert (row.state, row.note) == ("dismissed", f"dismissed by {ADMIN}: checked out on the PBX by hand")
    actions = {(entry.actor, entry.action) for entry in audit_entries(service.ledger, room="104")}
    assert {(ADMIN, "dismiss"), (ADMIN, "reconcile after dismiss"), (ADMIN, "repair")} <= actions
    assert "1 dead" not in board_row(admin.get("/").get_data(as_text=True), "104")
    page = follow(admin, post(admin, "/ledger/dismiss", {"id": str(dead), "note": "again"}))
    assert flashes(page) == ["Nothing was dismissed: those deliveries are no longer dead."]


def test_a_dead_check_in_is_replayed_with_corrected_guest_data(admin, service, emulator):
    # Someone checked 106 in on the PBX by hand: the bridge's check-in of Mr Smyth dies.
    emulator.state.occupy(emulator.state.room("106"), PbxGuest(room="106", lastname="Hand"))
    check_in(service, "106", "Smyth", first_name="Jon", reservation="R6")
    [dead] = wait_for(lambda: service.ledger.deliveries(state="dead"))
    assert dead.operation == "checkin"
    assert "wanted occupied, the phone system has it vacant" in admin.get("/rooms/106").get_data(as_text=True)
    page = admin.get(f"/ledger/deliveries/{dead.id}").get_data(as_text=True)
    assert "Replay with corrected guest data" in page and 'name="last_name" value="Smyth"' in page
    emulator.state.vacate_room("106")  # the PBX is put right; the name was wrong too

    response = post(admin, f"/ledger/deliveries/{dead.id}/correct",
                    {"action_key": "c1", "reservation": "R6", "first_name": "John", "last_name": "Smith"})
    assert response.headers["Location"] == "/rooms/106"
    [message] = flashes(follow(admin, response))
    assert message.startswith("Guest details recorded (event ") and "1 PBX operation queued" in message
    assert message.endswith(f"Replaced dead delivery {dead.id} (dismissed).")
    wait_for(lambda: settled(service))
    # The corrected check-in reached the PBX; the dead one with the old name was never sent again.
    assert emulator.state.snapshot()["extensions"]["1106"]["fullname"] == "John Smith"
    row = service.ledger.delivery(dead.id)
    assert row.state == "dismissed" and "replaced by corrected guest data" in row.note
    change = service.ledger.events(room="106")[0]
    assert (change.kind, change.source, change.actor) == ("guest_change", "frontdesk", ADMIN)
    assert (ADMIN, "corrected guest data") in [(e.actor, e.action) for e in audit_entries(service.ledger, room="106")]


def test_corrected_guest_data_is_validated_and_only_for_dead_guest_operations(admin, service, emulator):
    dead = make_dead_delivery(service, emulator, "104")  # a DND: no guest data
    page = follow(admin, post(admin, f"/ledger/deliveries/{dead}/correct", {"last_name": "X"}))
    assert flashes(page) == [f"Nothing was replayed: delivery {dead} (dnd) carries no guest data: replay or "
                             "dismiss it."]
    assert "Replay with corrected guest data" not in page.get_data(as_text=True)
    emulator.state.occupy(emulator.state.room("106"), PbxGuest(room="106", lastname="Hand"))
    check_in(service, "106", "Smyth")
    checkin = wait_for(lambda: [d for d in service.ledger.deliveries(state="dead") if d.operation == "checkin"])[0]
    page = follow(admin, post(admin, f"/ledger/deliveries/{checkin.id}/correct", {"vip": "GOLD"}))
    assert flashes(page)[0].startswith("Guest details refused: room 106: VIP code 'GOLD'")
    assert service.ledger.delivery(checkin.id).state == "dead"


def test_a_room_is_resent_from_what_the_pbx_confirmed(admin, service, emulator):
    dead = make_dead_delivery(service, emulator, "104")
    page = follow(admin, post(admin, "/ledger/rooms/104/resend", {"next": "/rooms/104"}))
    # The bridge's books say the PBX has the guest: only the DND is lacking (and refused again).
    assert flashes(page)[0].startswith("Room 104: queued what the PBX lacks (deliveries ")
    assert (ADMIN, "resend") in [(e.actor, e.action) for e in audit_entries(service.ledger, room="104")]
    assert service.ledger.delivery(dead).state == "dead"
    page = follow(admin, post(admin, "/ledger/rooms/130/resend"))
    assert flashes(page) == ["Nothing was resent: the ledger has no room 130."]


def test_a_phantom_room_is_flagged_and_removed_by_an_administrator(admin, frontdesk, service):
    record_unchecked(service, CheckIn(source="fias", room="999", guest=Guest(last_name="Ghost")))
    wait_for(lambda: service.ledger.deliveries(state="dead", room="999"))
    row = board_row(frontdesk.get("/").get_data(as_text=True), "999")
    assert "not one of the hotel&#39;s rooms" in row and 'data-problem="1"' in row
    assert "Remove room 999" not in frontdesk.get("/rooms/999").get_data(as_text=True)
    assert post(frontdesk, "/ledger/rooms/999/remove").status_code == 403
    page = admin.get("/rooms/999").get_data(as_text=True)
    assert "Remove room 999" in page and "room 999 is not one of the hotel&#39;s rooms" in page

    page = follow(admin, post(admin, "/ledger/rooms/101/remove"))
    assert flashes(page) == ["Room 101 was not removed: room 101 is one of the hotel's rooms: only a room the "
                             "hotel does not have can be removed."]
    page = follow(admin, post(admin, "/ledger/rooms/999/remove"))
    assert page.request.path == "/"
    assert flashes(page) == ["Room 999 is removed from the ledger (not one of the hotel's rooms); its dead "
                             "deliveries are dismissed."]
    assert 'data-room="999"' not in page.get_data(as_text=True)
    assert service.ledger.deliveries(state="dead") == []
    assert (ADMIN, "remove room") in [(e.actor, e.action) for e in audit_entries(service.ledger, room="999")]


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
    assert '<td title="login">logged in</td>' in audit and ADMIN in audit


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
