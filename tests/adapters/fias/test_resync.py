"""Database swaps held by the guard, and `pmsbridge resync [--confirm | --discard]`."""

from __future__ import annotations

from sqlmodel import Session, select

from pmsbridge.adapters.fias.adapter import RESYNC_HANDLED_KEY, RESYNC_REQUESTED_KEY
from pmsbridge.adapters.fias.swap import HELD_SWAP_KEY, held_from_json
from pmsbridge.cli import main
from pmsbridge.events import CheckIn, Guest
from pmsbridge.ledger.models import AuditEntry
from tests.adapters.fias.conftest import events_of, fias_settings, linked, wait_until

HELD = "database swap held: would check out 3 of 4 occupied rooms; confirm with `pmsbridge resync --confirm`"


def write_config(tmp_path, database_url: str) -> str:
    path = tmp_path / "pmsbridge.toml"
    path.write_text(f"""
[bridge]
database_url = "{database_url}"
timezone = "Europe/Berlin"

[pbx]
url = "https://127.0.0.1:9"
username = "cdrapi"
password = "a-real-secret"
pms_username = "pms"
pms_password = "another-secret"
verify = false

[rooms]
extension_template = "1{{room}}"

[adapters.fias]
port = 5010
""")
    return str(path)


def occupied(ledger, room: str) -> bool:
    state = ledger.room_states([room]).get(room)
    return state is not None and state.occupied


def audit_actions(ledger) -> list[tuple[str, str]]:
    with Session(ledger.engine) as session:
        return [(row.actor, row.action) for row in session.exec(select(AuditEntry).order_by(AuditEntry.id))]


def hold_a_swap(simulator, adapter, ledger):
    """One guest in the PMS, four in the ledger: the swap would vacate three of four rooms."""
    sim = simulator()
    sim.check_in("101", "Doe")
    fias = adapter(fias_settings(port=sim.port))
    linked(sim, fias)
    wait_until(lambda: occupied(ledger, "101"))
    for room in ("102", "103", "104"):
        ledger.record(CheckIn(source="frontdesk", room=room, guest=Guest(reservation=f"F{room}", last_name="X")),
                      raw="")
    fias.request_resync()
    wait_until(lambda: fias.status.detail and "held" in fias.status.detail)
    return sim, fias


def test_a_swap_that_would_empty_the_hotel_is_held(simulator, adapter, ledger):
    _, fias = hold_a_swap(simulator, adapter, ledger)
    assert fias.status.detail.startswith(HELD)
    assert all(occupied(ledger, room) for room in ("101", "102", "103", "104"))
    plan = held_from_json(ledger.get_value(HELD_SWAP_KEY))
    assert [(item.event.kind, item.event.room) for item in plan.events] == [
        ("check_out", "102"), ("check_out", "103"), ("check_out", "104")]
    assert (plan.vacated, plan.occupied) == (3, 4)
    assert ("fias", "resync held") in audit_actions(ledger)


def test_confirm_records_the_held_events(simulator, adapter, ledger, database_url, tmp_path, capsys):
    _, fias = hold_a_swap(simulator, adapter, ledger)
    config = write_config(tmp_path, database_url)
    assert main(["resync", "--confirm", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "confirmed the held fias swap" in out and "3 check_out" in out
    assert occupied(ledger, "101") and not any(occupied(ledger, room) for room in ("102", "103", "104"))
    confirmed = events_of(ledger, "check_out")
    assert [(row.room, row.actor) for row in confirmed] == [(room, "command line") for room in ("102", "103", "104")]
    assert confirmed[0].raw == "database swap: room 102 is not in the in-house list"
    assert ledger.get_value(HELD_SWAP_KEY) == ""
    assert ("command line", "resync confirmed") in audit_actions(ledger)
    # The running adapter notices and stops saying so.
    wait_until(lambda: "held" not in (fias.status.detail or ""))


def test_discard_drops_the_held_swap(simulator, adapter, ledger, database_url, tmp_path, capsys):
    _, fias = hold_a_swap(simulator, adapter, ledger)
    config = write_config(tmp_path, database_url)
    assert main(["resync", "--discard", "--config", config]) == 0
    assert "discarded the held fias swap" in capsys.readouterr().out
    assert all(occupied(ledger, room) for room in ("102", "103", "104"))
    assert ledger.get_value(HELD_SWAP_KEY) == ""
    wait_until(lambda: "held" not in (fias.status.detail or ""))


def test_a_newer_swap_that_passes_the_guard_replaces_the_held_one(simulator, adapter, ledger):
    sim, fias = hold_a_swap(simulator, adapter, ledger)
    for room in ("102", "103"):
        sim.check_in(room, "Back")
    wait_until(lambda: len(events_of(ledger, "check_in")) == 6)
    fias.request_resync()
    wait_until(lambda: len(events_of(ledger, "resync_end")) == 2)
    wait_until(lambda: not occupied(ledger, "104"))
    assert ledger.get_value(HELD_SWAP_KEY) == ""
    wait_until(lambda: "held" not in (fias.status.detail or ""))


def test_confirm_or_discard_without_a_held_swap_says_so(ledger, database_url, tmp_path, capsys):
    config = write_config(tmp_path, database_url)
    assert main(["resync", "--confirm", "--config", config]) == 1
    assert "no database swap is held" in capsys.readouterr().err
    assert main(["resync", "--discard", "--config", config]) == 1


def test_resync_asks_the_running_bridge_to_send_dr(simulator, adapter, ledger, database_url, tmp_path, capsys):
    sim = simulator()
    fias = adapter(fias_settings(port=sim.port))
    linked(sim, fias)
    config = write_config(tmp_path, database_url)
    assert main(["resync", "--config", config]) == 0
    assert "database swap requested" in capsys.readouterr().out
    assert sim.wait_for(lambda received: any(record.type == "DR" for record in received), timeout=10)
    wait_until(lambda: ledger.get_value(RESYNC_HANDLED_KEY) == ledger.get_value(RESYNC_REQUESTED_KEY))
    wait_until(lambda: events_of(ledger, "resync_end"))
    assert [record.type for record in sim.received].count("DR") == 1


def test_a_request_made_while_the_link_is_down_is_sent_once_it_is_up(simulator, adapter, ledger):
    sim = simulator()
    sim_port = sim.port
    sim.stop()
    fias = adapter(fias_settings(port=sim_port))
    fias.request_resync()
    assert ledger.get_value(RESYNC_HANDLED_KEY) is None
    wait_until(lambda: fias.status.counters.get("link_ups") is None and fias.status.state.value == "down")
    later = simulator(port=sim_port)
    linked(later, fias)
    assert later.wait_for(lambda received: any(record.type == "DR" for record in received), timeout=10)
