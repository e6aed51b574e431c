"""FiasAdapter against the FIAS simulator over real TCP on 127.0.0.1, recording into a real ledger."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pmsbridge.adapters.base import LinkState
from pmsbridge.adapters.fias.adapter import HELD_EVENT_KEY, INITIAL_RESYNC_KEY, SWAP_SEEN_KEY
from pmsbridge.adapters.fias.answers import POSTING_SEQUENCE_KEY, WAKEUP_ANSWERS_KEY
from pmsbridge.adapters.fias.protocol import RECORDS_WE_USE
from pmsbridge.events import CheckIn, CheckOut, Guest
from pmsbridge.ledger.models import EventStatus
from tests.adapters.fias.conftest import events_of, fias_settings, linked, wait_until
from tests.helpers import pms_silent_past_posting_timeout

TOMORROW_7 = dt.datetime.now().replace(microsecond=0, second=0) + dt.timedelta(days=1)
ROOMS_TEN = [str(room) for room in range(101, 111)]


def kinds(ledger, room: str | None = None) -> list[str]:
    return [row.kind for row in events_of(ledger, room=room) if row.status != EventStatus.REJECTED]


def state(ledger, room: str):
    return ledger.room_states([room]).get(room)


def start(simulator, adapter, **fias):
    sim = simulator()
    fias_adapter = adapter(fias_settings(port=sim.port, **fias))
    linked(sim, fias_adapter)
    return sim, fias_adapter


# --- link ------------------------------------------------------------------------------------


def test_handshake_announces_every_record_type_and_the_link_is_up(simulator, adapter):
    sim, fias = start(simulator, adapter)
    assert [record.type for record in sim.received[:1]] == ["LD"]
    assert sim.link_records == {kind: fields for kind, fields in RECORDS_WE_USE.items()
                                if kind not in ("LS", "LA", "LE", "DR", "DS", "DE")}
    wait_until(lambda: fias.status.state is LinkState.UP)
    assert fias.status.counters["link_ups"] == 1


def test_server_mode_the_pms_connects_to_the_bridge(simulator, adapter):
    fias = adapter(fias_settings(mode="server", port=0))
    sim = simulator(mode="client", port=fias.port)
    linked(sim, fias)
    sim.check_in("101", "Doe")
    wait_until(lambda: kinds(fias.ledger) == ["check_in"])


# --- each record type --------------------------------------------------------------------------


def test_guest_records_become_events_and_room_state(simulator, adapter, ledger):
    sim, _ = start(simulator, adapter)
    reservation = sim.check_in("101", "Müller", first_name="Anna", language="GE", vip=2, cos=1,
                               arrival=dt.date(2026, 11, 27), departure=dt.date(2026, 11, 30))
    wait_until(lambda: state(ledger, "101") and state(ledger, "101").occupied)
    [guest] = state(ledger, "101").reservations
    assert (guest.reservation, guest.last_name, guest.first_name, guest.language, guest.vip) == (
        reservation, "Müller", "Anna", "GE", "2")
    assert guest.departure == dt.datetime(2026, 11, 30, 12, 0)
    assert state(ledger, "101").cos == 2

    sim.guest_change("101", last_name="Müller-Lüdenscheidt")
    wait_until(lambda: state(ledger, "101").reservations[0].last_name == "Müller-Lüdenscheidt")
    sim.check_out("101")
    wait_until(lambda: not state(ledger, "101").occupied)
    assert kinds(ledger) == ["check_in", "guest_change", "check_out"]
    row = events_of(ledger, "check_in")[0]
    assert row.raw.startswith("GI|RN101|G#") and "GNMüller" in row.raw


def test_room_records_become_events(simulator, adapter, ledger):
    sim, _ = start(simulator, adapter)
    sim.check_in("102", "Doe")
    sim.dnd("102", True)
    sim.class_of_service("102", 3)
    sim.message_light("102", True)
    sim.message("102", "Please call reception")
    sim.delete_message("102")
    sim.wakeup("102", TOMORROW_7)
    sim.clear_wakeup("102", TOMORROW_7)
    sim.wakeup("102", TOMORROW_7)
    sim.clear_wakeup("102")
    expected = ["check_in", "dnd_set", "cos_set", "message_waiting", "message_waiting", "message_waiting",
                "wakeup_set", "wakeup_clear", "wakeup_set", "wakeup_clear"]
    wait_until(lambda: kinds(ledger) == expected)
    room = state(ledger, "102")
    assert room.dnd and room.cos == 4 and not room.message_waiting and room.wakeups == ()
    parsed = [ledger.parsed_event(row.id) for row in events_of(ledger, "message_waiting")]
    assert [(event.on, event.text) for event in parsed] == [(True, None), (True, "Please call reception"),
                                                           (False, None)]


def test_shared_rooms_keep_every_guest_until_the_last_leaves(simulator, adapter, ledger):
    sim, _ = start(simulator, adapter)
    first = sim.check_in("103", "Doe")
    second = sim.check_in("103", "Roe")
    wait_until(lambda: state(ledger, "103") and len(state(ledger, "103").reservations) == 2)
    assert ledger.parsed_event(events_of(ledger, "check_in")[1].id).shared
    sim.check_out("103", first)
    wait_until(lambda: [g.reservation for g in state(ledger, "103").reservations] == [second])
    sim.check_out("103", second)
    wait_until(lambda: not state(ledger, "103").occupied)


def moved_with_statuses(sim, ledger, style: str) -> None:
    reservation = sim.check_in("104", "Doe")
    sim.dnd("104", True)
    sim.class_of_service("104", 0)
    sim.wakeup("104", TOMORROW_7)
    wait_until(lambda: kinds(ledger) == ["check_in", "dnd_set", "cos_set", "wakeup_set"])
    sim.move("104", "105", style=style)
    wait_until(lambda: state(ledger, "105") and state(ledger, "105").occupied)
    wait_until(lambda: not state(ledger, "104").occupied)
    destination = state(ledger, "105")
    assert [guest.reservation for guest in destination.reservations] == [reservation]
    assert destination.dnd and destination.cos == 1
    assert [wakeup.at for wakeup in destination.wakeups] == [TOMORROW_7]


def test_move_as_gc_with_old_room(simulator, adapter, ledger):
    sim, _ = start(simulator, adapter)
    moved_with_statuses(sim, ledger, "GC")
    assert kinds(ledger)[4:] == ["room_move"]


def test_move_as_checkout_then_checkin_is_one_move(simulator, adapter, ledger):
    sim, _ = start(simulator, adapter)
    moved_with_statuses(sim, ledger, "GO+GI")
    assert kinds(ledger)[4:] == ["room_move"]
    assert events_of(ledger, "room_move")[0].raw.count("\n") == 1  # both records kept


def test_move_as_checkin_then_checkout_is_one_move(simulator, adapter, ledger):
    sim, _ = start(simulator, adapter)
    moved_with_statuses(sim, ledger, "GI+GO")
    assert kinds(ledger)[4:] == ["room_move"]


def test_a_lone_checkout_or_checkin_is_recorded_once_the_pairing_window_passed(simulator, adapter, ledger):
    sim, _ = start(simulator, adapter)
    reservation = sim.check_in("106", "Doe")
    wait_until(lambda: kinds(ledger) == ["check_in"])
    sim.check_out("106", reservation)
    wait_until(lambda: kinds(ledger) == ["check_in", "check_out"])
    wait_until(lambda: ledger.get_value(HELD_EVENT_KEY) == "")


def test_a_checkout_held_when_the_bridge_stopped_is_recorded_at_start(simulator, adapter, ledger):
    ledger.set_value(HELD_EVENT_KEY, json.dumps({
        "event": CheckOut(source="fias", room="107", reservation="9").model_dump(mode="json"),
        "raw": "GO|RN107|G#9|"}))
    adapter(fias_settings(port=simulator().port))
    assert kinds(ledger) == ["check_out"]
    assert ledger.get_value(HELD_EVENT_KEY) == ""


def test_night_audit_records_are_only_logged(simulator, adapter, ledger):
    sim, fias = start(simulator, adapter)
    sim.send_raw(b"NS|DA261127|TI020000|", framed=True)
    sim.send_raw(b"NE|DA261127|TI030000|", framed=True)
    sim.dnd("101", True)
    # The DND follows NS and NE on the same stream: once it is in, they were read.
    wait_until(lambda: kinds(ledger) == ["dnd_set"])
    assert not [row for row in events_of(ledger) if row.status == EventStatus.REJECTED]


# --- bad input ---------------------------------------------------------------------------------


def test_bytes_invalid_in_the_site_encoding_are_rejected_and_kept(simulator, adapter, ledger):
    sim, fias = start(simulator, adapter, encoding="utf-8")
    sim.send_raw(b"GI|RN101|GNM\xfcller|", framed=True)
    sim.dnd("101", True)
    wait_until(lambda: kinds(ledger) == ["dnd_set"])
    [rejected] = [row for row in events_of(ledger) if row.status == EventStatus.REJECTED]
    assert rejected.raw == "GI|RN101|GNM\\xfcller|"
    assert "unreadable record: byte 0xFC at offset 12 is not valid utf-8" in rejected.problem
    assert fias.link.up and fias.status.counters["link_ups"] == 1


def test_records_the_bridge_cannot_act_on_are_rejected_with_the_reason(simulator, adapter, ledger):
    sim, fias = start(simulator, adapter)
    sim.send_raw(b"GI|GNDoe|", framed=True)
    sim.send_raw(b"WR|RN101|DA261399|TI070000|", framed=True)
    sim.send_raw(b"ZZ|RN101|", framed=True)
    sim.send_raw(b"DE|", framed=True)
    wait_until(lambda: len(events_of(ledger)) == 4)
    problems = [row.problem for row in events_of(ledger)]
    assert problems[0] == "GI without RN (room number): the bridge cannot tell which room"
    assert "is not a calendar date" in problems[1]
    assert problems[2] == "ZZ records are not used by the bridge"
    assert problems[3] == "DE without a DS before it: no database swap was in progress"
    assert {row.status for row in events_of(ledger)} == {EventStatus.REJECTED}
    assert [row.room for row in events_of(ledger)] == [None, "101", None, None]
    # An unreadable WR still gets its answer.
    assert sim.wait_for(lambda received: any(r.type == "WA" for r in received))
    assert sim.wakeup_answers[0].get("AS") == "UR"
    assert fias.link.up


def test_random_bytes_never_take_the_link_down(simulator, adapter, ledger):
    sim, fias = start(simulator, adapter)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.binary(max_size=200) | st.lists(
        st.sampled_from([b"\x02", b"\x03", b"|", b"GI", b"RN101", b"GN", b"\xff", b"\x00", b"WR", b"DA", b"SF"]),
        max_size=40).map(b"".join))
    def feed(data: bytes) -> None:
        assume(b"LE" not in data)  # a well-formed LE would end the link, rightly
        # STX ETX around each example: the decoder starts the next one outside a record.
        sim.send_raw(data + b"\x02\x03")

    feed()
    sim.dnd("120", True)
    wait_until(lambda: "dnd_set" in kinds(ledger, "120"))
    assert fias.link.up and sim.connected
    assert fias.status.counters["link_ups"] == 1
    assert fias.status.counters["faults"] > 0


def test_a_garbage_flood_is_counted_but_not_all_kept(simulator, adapter, ledger):
    sim, fias = start(simulator, adapter, max_record=64)
    for _ in range(50):
        sim.send_raw(b"\x02" + b"x" * 100 + b"\x03")
    sim.dnd("101", True)
    wait_until(lambda: kinds(ledger) == ["dnd_set"])
    counters = fias.status.counters
    assert counters["faults"] == 50
    assert counters["faults_not_kept"] == 50 - 30
    assert len([row for row in events_of(ledger) if row.status == EventStatus.REJECTED]) == 30


# --- link loss ---------------------------------------------------------------------------------


def test_records_buffered_while_the_link_was_down_arrive_once(simulator, adapter, ledger):
    sim, fias = start(simulator, adapter)
    sim.check_in("108", "Doe")
    wait_until(lambda: kinds(ledger) == ["check_in"])
    sim.drop_link()
    wait_until(lambda: not fias.link.up)
    sim.dnd("108", True)  # buffered by the PMS
    sim.check_in("109", "Roe")
    linked(sim, fias)
    wait_until(lambda: kinds(ledger) == ["check_in", "dnd_set", "check_in"])
    assert fias.status.counters["link_ups"] == 2
    assert state(ledger, "108").dnd and state(ledger, "109").occupied


# --- database swap -----------------------------------------------------------------------------


def test_the_first_link_up_of_a_new_ledger_asks_for_a_swap_once(simulator, adapter, ledger):
    sim = simulator()
    sim.check_in("110", "Doe")
    fias = adapter(fias_settings(port=sim.port), first_link_up=True)
    linked(sim, fias)
    wait_until(lambda: "resync_end" in kinds(ledger))
    assert [record.type for record in sim.received].count("DR") == 1
    assert ledger.get_value(SWAP_SEEN_KEY) and ledger.get_value(INITIAL_RESYNC_KEY)
    assert state(ledger, "110").occupied
    sim.drop_link()
    wait_until(lambda: not fias.link.up)
    linked(sim, fias)
    sim.dnd("110", True)
    wait_until(lambda: state(ledger, "110").dnd)
    assert fias.status.counters["link_ups"] == 2
    assert [record.type for record in sim.received].count("DR") == 1


def test_no_swap_is_asked_for_when_the_pms_ignored_the_first_request(simulator, adapter, ledger):
    ledger.set_value(INITIAL_RESYNC_KEY, "earlier")
    sim = simulator()
    fias = adapter(fias_settings(port=sim.port), first_link_up=True)
    linked(sim, fias)
    sim.dnd("101", True)
    wait_until(lambda: fias.status.counters.get("records") == 1)
    assert "DR" not in [record.type for record in sim.received]


def test_a_swap_that_matches_changes_nothing(simulator, adapter, ledger):
    sim, fias = start(simulator, adapter)
    sim.check_in("111", "Doe")
    sim.check_in("112", "Roe")
    sim.check_in("112", "Poe")
    wait_until(lambda: len(kinds(ledger)) == 3)
    fias.request_resync()
    wait_until(lambda: "resync_end" in kinds(ledger))
    assert kinds(ledger) == ["check_in", "check_in", "check_in", "resync_start", "resync_end"]
    assert sum(1 for record in sim.received if record.type == "DR") == 1


def test_a_swap_with_changes_records_exactly_those(simulator, adapter, ledger):
    sim, fias = start(simulator, adapter)
    for room in ("113", "114", "115", "116"):
        sim.check_in(room, f"Guest {room}")
    wait_until(lambda: len(kinds(ledger)) == 4)
    # The ledger drifted: one guest it does not know of, one the PMS does not have.
    ledger.record(CheckOut(source="test", room="113"), raw="")
    ledger.record(CheckIn(source="test", room="117", guest=Guest(reservation="X117", last_name="Ghost")), raw="")
    fias.request_resync()
    wait_until(lambda: "resync_end" in kinds(ledger))
    wait_until(lambda: not state(ledger, "117").occupied)
    recorded = [(row.kind, row.room) for row in events_of(ledger)]
    assert recorded[-3:] == [("resync_end", "*"), ("check_in", "113"), ("check_out", "117")]
    assert state(ledger, "113").occupied and not state(ledger, "117").occupied
    row = events_of(ledger, "check_in", room="113")[-1]
    assert "SF" in row.raw.split("|")


def test_live_records_during_a_swap_are_collected_or_wait_for_its_end(simulator, adapter, ledger):
    sim = simulator(swap_mixes_live=True, swap_record_pause=0.05)
    for room in ROOMS_TEN:
        sim.check_in(room, f"Guest {room}")
    fias = adapter(fias_settings(port=sim.port))
    linked(sim, fias)
    wait_until(lambda: len(kinds(ledger)) == 10)
    fias.request_resync()
    wait_until(lambda: fias.status.state is LinkState.SWAPPING)
    sim.dnd("101", True)  # waits for DE
    sim.check_in("119", "Late")  # part of the in-house list
    # Once the swap has listed room 102, its live checkout is the newer record.
    wait_until(lambda: any(r.type == "GI" and r.get("RN") == "102" and "SF" in r for r in sim.sent))
    sim.check_out("102")
    wait_until(lambda: "resync_end" in kinds(ledger))
    wait_until(lambda: state(ledger, "101").dnd)
    tail = kinds(ledger)[10:]
    assert tail[0] == "resync_start" and "resync_end" in tail
    after_end = tail[tail.index("resync_end") + 1:]
    assert sorted(after_end) == ["check_in", "check_out", "dnd_set"]
    assert state(ledger, "119").occupied and not state(ledger, "102").occupied
    wait_until(lambda: fias.status.state is LinkState.UP)



def test_in_house_guests_streamed_without_a_swap_are_ordinary_check_ins(simulator, adapter, ledger):
    sim = simulator(stream_in_house_on_link_up=True)
    sim.check_in("101", "Doe")
    sim.check_in("102", "Roe")
    fias = adapter(fias_settings(port=sim.port))
    linked(sim, fias)
    wait_until(lambda: state(ledger, "102") and state(ledger, "102").occupied)
    assert set(kinds(ledger)) == {"check_in"}
    assert state(ledger, "101").reservations[0].last_name == "Doe"


def test_the_link_dropping_mid_swap_applies_nothing(simulator, adapter, ledger):
    sim = simulator(swap_mixes_live=True, swap_record_pause=0.2)
    for room in ROOMS_TEN:
        sim.check_in(room, f"Guest {room}")
    fias = adapter(fias_settings(port=sim.port))
    linked(sim, fias)
    wait_until(lambda: len(kinds(ledger)) == 10)
    fias.request_resync()
    wait_until(lambda: fias.status.state is LinkState.SWAPPING)
    sim.drop_link()
    wait_until(lambda: fias.status.state is not LinkState.SWAPPING)
    assert "resync_end" not in kinds(ledger)
    assert all(state(ledger, room).occupied for room in ROOMS_TEN)


# --- answers to the PMS --------------------------------------------------------------------------


def test_wakeup_for_a_vacant_room_is_answered_unprocessable(simulator, adapter, ledger):
    sim, _ = start(simulator, adapter)
    sim.wakeup("101", TOMORROW_7)
    assert sim.wait_for(lambda received: any(r.type == "WA" for r in received))
    [answer] = sim.wakeup_answers
    assert (answer.get("RN"), answer.get("AS")) == ("101", "UR")
    assert (answer.get("DA"), answer.get("TI")) == (TOMORROW_7.strftime("%y%m%d"), TOMORROW_7.strftime("%H%M%S"))


def test_wakeup_already_set_is_answered_ok_at_once(simulator, adapter, ledger):
    sim, _ = start(simulator, adapter)
    sim.check_in("101", "Doe")
    sim.wakeup("101", TOMORROW_7)
    sim.wakeup("101", TOMORROW_7)
    assert sim.wait_for(lambda received: any(r.type == "WA" for r in received))
    # The first order waits for the PBX (no dispatcher runs here); the repeat needed nothing.
    assert [answer.get("AS") for answer in sim.wakeup_answers] == ["OK"]
    [waiting] = wait_until(lambda: len(owed := json.loads(ledger.get_value(WAKEUP_ANSWERS_KEY))) == 1 and owed)
    assert waiting["delivery"] is not None and waiting["status"] is None


def test_postings_wait_for_their_answer_one_at_a_time(simulator, adapter, ledger):
    sim = simulator(posting_delay=0.2)
    fias = adapter(fias_settings(port=sim.port))
    linked(sim, fias)
    ids = [fias.post_charge("101", amount_minor=1050),
           fias.post_charge("102", dialled="004989920920", duration=dt.timedelta(minutes=3, seconds=5)),
           fias.post_charge("103", amount_minor=99, when=dt.datetime(2026, 11, 27, 12, 35, 45))]
    assert ids == [1, 2, 3]
    wait_until(lambda: all(fias.posting(number).state == "posted" for number in ids))
    folio = sim.folio
    assert [entry["sequence"] for entry in folio] == [1, 2, 3]
    assert (folio[0]["type"], folio[0]["amount"]) == ("C", 1050)
    assert (folio[1]["type"], folio[1]["dialled"], folio[1]["duration"]) == (
        "T", "004989920920", dt.timedelta(minutes=3, seconds=5))
    assert folio[2]["when"] == dt.datetime(2026, 11, 27, 12, 35, 45)
    # One in flight: each PS went out only after the PA before it.
    traffic = [(record.type, record.get("P#")) for record in sim.received + sim.sent
               if record.type in ("PS", "PA")]
    assert sorted(traffic, key=lambda item: item[1]) == [("PS", "1"), ("PA", "1"), ("PS", "2"), ("PA", "2"),
                                                          ("PS", "3"), ("PA", "3")]
    assert ledger.get_value(POSTING_SEQUENCE_KEY) == "3"


def test_an_unanswered_posting_becomes_unknown_and_is_never_resent(simulator, adapter, ledger):
    sim = simulator(posting_answer=None)
    fias = adapter(fias_settings(port=sim.port))
    linked(sim, fias)
    first = fias.post_charge("101", amount_minor=500)
    second = fias.post_charge("102", amount_minor=700)
    wait_until(lambda: fias.posting(first).state == "sent")
    assert fias.posting(second).state == "queued"
    wait_until(lambda: pms_silent_past_posting_timeout(ledger.engine) and fias.posting(first).state == "unknown")
    wait_until(lambda: pms_silent_past_posting_timeout(ledger.engine) and fias.posting(second).state == "unknown")
    sim.drop_link()
    wait_until(lambda: not fias.link.up)
    linked(sim, fias)
    third = fias.post_charge("103", amount_minor=900)
    assert sim.wait_for(lambda received: [r.get("P#") for r in received if r.type == "PS"] == ["1", "2", "3"])
    assert [entry["sequence"] for entry in sim.folio] == [first, second, third]


def test_a_refused_posting_says_so(simulator, adapter, ledger):
    sim = simulator(posting_answer="NG")
    fias = adapter(fias_settings(port=sim.port))
    linked(sim, fias)
    number = fias.post_charge("101", amount_minor=500)
    wait_until(lambda: fias.posting(number).state == "refused")
    assert fias.posting(number).answer == "NG"


def test_postings_queued_while_the_link_is_down_go_out_once_it_is_up(simulator, adapter, ledger):
    sim = simulator()
    fias = adapter(fias_settings(port=sim.port))
    linked(sim, fias)
    sim.drop_link()
    sim.stop()
    wait_until(lambda: not fias.link.up)
    number = fias.post_charge("101", amount_minor=250)
    assert fias.posting(number).state == "queued"


def test_posting_numbers_continue_after_a_restart(simulator, adapter, ledger):
    sim = simulator()
    fias = adapter(fias_settings(port=sim.port))
    linked(sim, fias)
    assert fias.post_charge("101", amount_minor=1) == 1
    fias.stop()
    again = adapter(fias_settings(port=sim.port))
    linked(sim, again)
    assert again.post_charge("101", amount_minor=2) == 2
    wait_until(lambda: again.posting(2).state == "posted")
    assert again.posting(1).state == "posted"
