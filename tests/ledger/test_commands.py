"""`pmsbridge ledger dismiss|resend|remove-room|list`: dead deliveries end from the command line,
against the PBX emulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from pmsbridge.cli import main
from pmsbridge.events import DndSet
from pmsbridge.web.ledger_pages import audit_entries
from tests.helpers import wait_for
from tests.reconcile.conftest import check_in, emulator, hotel  # noqa: F401 (fixtures)

ACTOR = "command line"


@pytest.fixture
def config_file(hotel, database_url, tmp_path):  # noqa: F811
    options = hotel.emulator.options
    text = f"""
[bridge]
database_url = "{database_url}"
state_dir = "{tmp_path}"
timezone = "Europe/Berlin"

[pbx]
url = "{hotel.emulator.url}"
username = "{options.username}"
password = "{options.password}"
pms_username = "{options.pms_username}"
pms_password = "{options.pms_password}"
tls_fingerprint = "{hotel.emulator.fingerprint}"

[rooms]
extension_template = "1{{room}}"
rooms = ["101-130"]

[reconcile]
detail_pace_ms = 0
"""
    path = tmp_path / "pmsbridge.toml"
    path.write_text(text)
    return str(path)


def dead_dnd(hotel, room: str = "104") -> int:  # noqa: F811
    """The PBX has the room checked out by hand: the bridge's DND for it dies."""
    hotel.dispatcher.start()
    hotel.record(check_in(room, "Doe"))
    hotel.settle()
    hotel.emulator.state.vacate_room(room)
    hotel.record(DndSet(source="test", room=room, on=True))
    return wait_for(lambda: hotel.ledger.deliveries(state="dead"))[0].id


def actions(hotel, room: str) -> list[tuple[str, str]]:  # noqa: F811
    return [(entry.actor, entry.action) for entry in audit_entries(hotel.ledger, room=room)]


def test_dismiss_ends_dead_deliveries_and_reconciles_their_rooms(hotel, config_file, capsys):  # noqa: F811
    dead = dead_dnd(hotel)
    assert main(["ledger", "dismiss", str(dead), "--note", "the guest left", "--config", config_file]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"dismissed 1 deliveries: {dead}"
    assert out[1].startswith("Room 104: repair queued (deliveries ")
    hotel.dispatcher.wake()  # the command's ledger is another object; the service would find it within 5 s
    hotel.settle()
    assert hotel.room("104")["occupied"] and hotel.room("104")["dnd"] is True
    row = hotel.ledger.delivery(dead)
    assert (row.state, row.note) == ("dismissed", f"dismissed by {ACTOR}: the guest left")
    assert {(ACTOR, "dismiss"), (ACTOR, "reconcile after dismiss"), (ACTOR, "repair")} <= set(actions(hotel, "104"))

    assert main(["ledger", "dismiss", str(dead), "--note", "again", "--config", config_file]) == 1
    assert "nothing dismissed" in capsys.readouterr().out
    assert main(["ledger", "list", "--state", "dismissed", "--config", config_file]) == 0
    assert f"{dead:>7}" in capsys.readouterr().out


def test_dismiss_needs_a_note(hotel, config_file, capsys):  # noqa: F811
    dead = dead_dnd(hotel)
    assert main(["ledger", "dismiss", str(dead), "--note", " ", "--config", config_file]) == 1
    assert "a note is required" in capsys.readouterr().err
    assert hotel.ledger.delivery(dead).state == "dead"
    with pytest.raises(SystemExit):
        main(["ledger", "dismiss", str(dead), "--config", config_file])


def test_dismiss_says_when_the_pbx_cannot_be_read(hotel, config_file, capsys):  # noqa: F811
    dead = dead_dnd(hotel)
    hotel.emulator.set_faults(down=True)
    assert main(["ledger", "dismiss", str(dead), "--note", "by hand", "--config", config_file]) == 0
    out = capsys.readouterr().out
    assert "Room 104: the PBX could not be read (" in out and "nothing was repaired" in out
    assert hotel.ledger.delivery(dead).state == "dismissed"


def test_resend_queues_what_the_room_lacks(hotel, config_file, capsys):  # noqa: F811
    dead_dnd(hotel)
    hotel.dispatcher.stop()  # the resent DND stays queued: the test reads it
    assert main(["ledger", "resend", "--room", "104", "--config", config_file]) == 0
    assert capsys.readouterr().out.startswith("Room 104: queued what the PBX lacks (deliveries ")
    [queued] = hotel.ledger.deliveries(state="pending", room="104")
    assert queued.operation == "dnd"
    assert main(["ledger", "resend", "--room", "104", "--config", config_file]) == 1
    assert "has deliveries on their way" in capsys.readouterr().err
    assert main(["ledger", "resend", "--room", "110", "--config", config_file]) == 1
    assert "the ledger has no room 110" in capsys.readouterr().err
    assert (ACTOR, "resend") in actions(hotel, "104")


def test_remove_room_removes_only_rooms_the_hotel_does_not_have(hotel, config_file, capsys):  # noqa: F811
    hotel.dispatcher.start()
    hotel.record(check_in("999", "Ghost"))  # from before the door checks: the PBX has no extension 1999
    wait_for(lambda: hotel.ledger.deliveries(state="dead", room="999"))
    assert main(["ledger", "remove-room", "101", "--config", config_file]) == 1
    assert "room 101 is one of the hotel's rooms" in capsys.readouterr().err
    assert main(["ledger", "remove-room", "999", "--config", config_file]) == 0
    assert capsys.readouterr().out.startswith("Room 999 is removed from the ledger")
    assert "999" not in hotel.ledger.room_states()
    assert hotel.ledger.deliveries(state="dead") == []
    assert (ACTOR, "remove room") in actions(hotel, "999")
    assert main(["ledger", "remove-room", "999", "--config", config_file]) == 1
    assert "the ledger has no room 999" in capsys.readouterr().err
