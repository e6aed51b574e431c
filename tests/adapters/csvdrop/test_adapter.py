"""The file-drop adapter against a real folder and a real ledger."""

from __future__ import annotations

import csv
import os
import shutil
import time
from datetime import datetime

from sqlmodel import Session, select

from pmsbridge.adapters.base import AdapterContext
from pmsbridge.adapters.csvdrop.adapter import CsvDropAdapter
from pmsbridge.adapters.csvdrop.snapshot import HELD_SNAPSHOT_KEY
from pmsbridge.adapters.fias.swap import held_from_json
from pmsbridge.events import CheckOut
from pmsbridge.ledger.database import create_ledger_engine
from pmsbridge.ledger.models import AuditEntry, EventStatus
from pmsbridge.validation import EventValidator
from tests.adapters.csvdrop.conftest import settings_for
from tests.ledger.conftest import make_ledger

DELTA_HEADER = "action,room,reservation,last_name,first_name,language,arrival,departure"


def write(folder, name: str, text: str, *, encoding: str = "utf-8", mtime: float | None = None):
    path = folder / name
    path.write_bytes(text.encode(encoding))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def files(folder) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.is_file())


def check_in_rows(*rooms: str) -> str:
    return "".join(f"checkin,{room},R{room},Guest{room},Ann,EN,2026-11-27,2026-11-29\n" for room in rooms)


def snapshot(*rows: str, trailer: bool = True) -> str:
    lines = ["room,reservation,last_name,first_name,language,arrival,departure", *rows]
    if trailer:
        lines.append(f"#END {len(rows)}")
    return "\n".join(lines) + "\n"


def in_house(room: str, last_name: str | None = None) -> str:
    return f"{room},R{room},{last_name or f'Guest{room}'},Ann,EN,2026-11-27,2026-11-29"


def occupy(adapter, drop, *rooms: str) -> None:
    write(drop, "occupy.csv", DELTA_HEADER + "\n" + check_in_rows(*rooms))
    [outcome] = adapter.poll_once()
    assert outcome.recorded == len(rooms)


# -- delta files ----------------------------------------------------------------------------


def test_a_delta_file_records_one_event_per_row_with_the_line_as_raw(adapter, drop, ledger):
    write(drop, "delta-0900.csv", DELTA_HEADER + "\n" + check_in_rows("101") +
          "CI,102,R102,Roe,Rita,DE,27.11.2026,29.11.2026\n")
    [outcome] = adapter.poll_once()
    assert (outcome.kind, outcome.recorded, outcome.rejected) == ("delta", 2, 0)
    events = sorted(ledger.events(), key=lambda row: row.id)
    assert [row.raw for row in events] == ["checkin,101,R101,Guest101,Ann,EN,2026-11-27,2026-11-29",
                                           "CI,102,R102,Roe,Rita,DE,27.11.2026,29.11.2026"]
    assert all(row.source == "csv" and row.kind == "check_in" for row in events)
    guest = ledger.room_states()["102"].displayed_guest
    assert (guest.last_name, guest.arrival, guest.departure) == (
        "Roe", datetime(2026, 11, 27, 0, 0), datetime(2026, 11, 29, 11, 0))
    assert len(ledger.deliveries()) == 2
    assert files(drop) == [] and files(adapter.folder.processing) == []
    assert [name.split("-", 1)[1] for name in files(adapter.folder.archive_folder)] == ["delta-0900.csv"]


def test_every_action_and_the_rejected_rows_file(adapter, drop, ledger):
    write(drop, "delta.csv", "\n".join([
        "action,room,reservation,last_name,wakeup,from_room",
        "checkin,101,R1,Doe,,",
        "wakeup,101,,,2026-11-28 06:30,",
        "dnd_on,101,,,,",
        "explode,103,,,,",
        "move,102,R1,,,101",
        "checkin,1 01,R3,Bad,,",
        "wakeup,102,,,tomorrow,",
        "wakeup_clear,102,,,,",
        "checkout,102,R1,,,",
    ]) + "\n")
    [outcome] = adapter.poll_once()
    assert (outcome.recorded, outcome.rejected) == (6, 3)
    kinds = [row.kind for row in sorted(ledger.events(), key=lambda row: row.id) if row.kind]
    assert kinds == ["check_in", "wakeup_set", "dnd_set", "room_move", "wakeup_clear", "check_out"]
    assert not ledger.room_states()["102"].occupied
    rejected = {row.raw: row.problem for row in ledger.events(status=EventStatus.REJECTED)}
    assert rejected == {
        "explode,103,,,,": "delta.csv line 5: unknown action 'explode' (add it to [adapters.csvdrop] actions)",
        "checkin,1 01,R3,Bad,,": ("delta.csv line 7: room '1 01' is not a room number "
                                  "(letters, digits, . _ -; up to 16)"),
        "wakeup,102,,,tomorrow,": ("delta.csv line 8: wakeup: 'tomorrow' matches none of the date formats "
                                   "(%Y-%m-%d, %Y-%m-%d %H:%M, %Y-%m-%dT%H:%M, %Y-%m-%d %H:%M:%S, %d.%m.%Y, "
                                   "%d.%m.%Y %H:%M, iso)"),
    }
    [rejected_file] = [name for name in files(adapter.folder.archive_folder) if name.endswith(".rejected.csv")]
    assert rejected_file.endswith("-delta.rejected.csv")
    with (adapter.folder.archive_folder / rejected_file).open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["line", "reason", "action", "room", "reservation", "last_name", "wakeup", "from_room"]
    assert [(row[0], row[2:]) for row in rows[1:]] == [
        ("5", ["explode", "103", "", "", "", ""]),
        ("7", ["checkin", "1 01", "R3", "Bad", "", ""]),
        ("8", ["wakeup", "102", "", "", "tomorrow", ""]),
    ]
    assert rows[1][1].startswith("unknown action 'explode'")


def test_cp1252_and_bom_files_with_aliases(make_adapter, drop, ledger):
    adapter = make_adapter(delimiter=";", columns={"last_name": ["Gast"]}, actions={"Anreise": "check_in"})
    write(drop, "a.csv", "Aktion;Zimmer;Gast;Vorname\nAnreise;201;Müller;Jürgen\n", encoding="cp1252", mtime=1000)
    # The byte-order mark must not hide the first column's name.
    write(drop, "b.csv", "Action;Room;Surname\nCI;202;Ørsted\n", encoding="utf-8-sig", mtime=2000)
    outcomes = adapter.poll_once()
    assert [(outcome.name, outcome.recorded, outcome.rejected) for outcome in outcomes] == [
        ("a.csv", 1, 0), ("b.csv", 1, 0)]
    states = ledger.room_states()
    assert states["201"].displayed_guest.display_name == "Jürgen Müller"
    assert states["202"].displayed_guest.last_name == "Ørsted"


def test_a_file_without_the_needed_columns_is_rejected_whole(adapter, drop, ledger):
    write(drop, "delta.csv", "Room;Surname\n202;Roe\n")
    [outcome] = adapter.poll_once()
    assert outcome.rejected_whole == "line 1: no action or room column in the header (Room;Surname)"
    [row] = ledger.events(status=EventStatus.REJECTED)
    assert row.raw == "Room;Surname\n202;Roe\n"


def test_a_file_processed_again_after_an_interruption_records_nothing_twice(adapter, drop, ledger):
    write(drop, "delta.csv", DELTA_HEADER + "\n" + check_in_rows("101", "102") + "dnd_on,101,,,,,,\n")
    [outcome] = adapter.poll_once()
    assert outcome.recorded == 3
    # As if the process had died after recording the rows but before archiving the file.
    archived = outcome.archived_as
    shutil.move(archived, adapter.folder.processing / archived.name)
    [again] = adapter.poll_once()
    assert (again.recorded, again.duplicates) == (0, 3)
    assert len(ledger.events()) == 3 and len(ledger.deliveries()) == 3


def test_the_same_content_dropped_twice_is_applied_twice(adapter, drop, ledger):
    occupy(adapter, drop, "101")
    for text in ("dnd_on,101", "dnd_off,101", "dnd_on,101"):
        write(drop, "dnd.csv", f"action,room\n{text}\n")
        [outcome] = adapter.poll_once()
        assert outcome.recorded == 1
    assert ledger.room_states()["101"].dnd
    assert [d.operation for d in ledger.deliveries()].count("dnd") == 3


def test_a_ledger_that_cannot_be_written_keeps_the_file_claimed(drop, ledger, settle_clock, tmp_path):
    settings = settings_for(drop)
    broken = make_ledger(create_ledger_engine(f"sqlite:///{tmp_path / 'not-migrated.db'}"))
    adapter = CsvDropAdapter(settings.adapter_settings["csvdrop"], AdapterContext(settings, broken),
                             clock=settle_clock)
    adapter.folder.prepare()
    write(drop, "a.csv", DELTA_HEADER + "\n" + check_in_rows("101"), mtime=1000)
    write(drop, "b.csv", DELTA_HEADER + "\n" + check_in_rows("102"), mtime=2000)
    assert adapter.poll_once() == []
    assert len(files(adapter.folder.processing)) == 1 and files(drop) == ["b.csv"]
    assert "a.csv waits: the ledger could not be written" in adapter.status.detail
    adapter.ledger = ledger
    assert [outcome.name for outcome in adapter.poll_once()] == ["a.csv", "b.csv"]
    assert sorted(ledger.room_states()) == ["101", "102"]


# -- files that are not ready ---------------------------------------------------------------


def test_a_file_still_being_written_is_not_read_half_way(make_adapter, drop, ledger, settle_clock):
    adapter = make_adapter(settle_seconds=5)
    path = write(drop, "delta.csv", DELTA_HEADER + "\ncheckin,101,R101,Gue")
    assert adapter.poll_once() == []
    settle_clock.advance(3)
    with path.open("ab") as handle:
        handle.write(b"st101,Ann,EN,2026-11-27,2026-11-29\n")
    assert adapter.poll_once() == []  # it changed: the settle time starts again
    settle_clock.advance(4)
    assert adapter.poll_once() == []
    settle_clock.advance(1)
    [outcome] = adapter.poll_once()
    assert outcome.recorded == 1 and outcome.rejected == 0
    assert ledger.room_states()["101"].displayed_guest.last_name == "Guest101"


def test_temporary_names_and_unknown_files_are_left_alone(adapter, drop, ledger):
    write(drop, "delta.csv.part", DELTA_HEADER + "\n" + check_in_rows("101"))
    write(drop, "export.tmp", DELTA_HEADER + "\n" + check_in_rows("102"))
    write(drop, "readme.txt", "not for the bridge")
    assert adapter.poll_once() == []
    assert files(drop) == ["delta.csv.part", "export.tmp", "readme.txt"]
    os.rename(drop / "delta.csv.part", drop / "delta.csv")
    [outcome] = adapter.poll_once()
    assert outcome.recorded == 1 and files(drop) == ["export.tmp", "readme.txt"]


def test_files_are_taken_oldest_first(adapter, drop, ledger):
    write(drop, "b.csv", "action,room\ndnd_off,101\n", mtime=3000)
    write(drop, "a.csv", DELTA_HEADER + "\n" + check_in_rows("101"), mtime=1000)
    write(drop, "c.csv", "action,room\ndnd_on,101\n", mtime=2000)
    assert [outcome.name for outcome in adapter.poll_once()] == ["a.csv", "c.csv", "b.csv"]
    assert not ledger.room_states()["101"].dnd


# -- snapshots ------------------------------------------------------------------------------


def test_a_snapshot_that_matches_emits_nothing(adapter, drop, ledger):
    occupy(adapter, drop, "101", "102")
    events_before, deliveries_before = len(ledger.events()), len(ledger.deliveries())
    write(drop, "inhouse-0600.csv", snapshot(in_house("101"), in_house("102")))
    [outcome] = adapter.poll_once()
    assert (outcome.kind, outcome.recorded, outcome.held) == ("snapshot", 0, False)
    assert len(ledger.events()) == events_before and len(ledger.deliveries()) == deliveries_before


def test_a_snapshot_brings_the_rooms_up_to_date(adapter, drop, ledger):
    occupy(adapter, drop, "101", "102")
    write(drop, "InHouse.csv", snapshot(in_house("101", "Newname"), in_house("103")))
    [outcome] = adapter.poll_once()
    assert (outcome.kind, outcome.recorded, outcome.held) == ("snapshot", 3, False)
    states = ledger.room_states()
    assert states["101"].displayed_guest.last_name == "Newname"
    assert not states["102"].occupied and states["103"].occupied
    new = {row.room: row for row in ledger.events(limit=3)}
    assert new["101"].kind == "guest_change" and new["101"].raw == in_house("101", "Newname")
    assert new["102"].kind == "check_out"
    assert new["102"].raw == "snapshot InHouse.csv: room 102 is not in the in-house list"
    assert new["103"].kind == "check_in" and new["103"].raw == in_house("103")


def test_a_truncated_snapshot_is_rejected_whole(adapter, drop, ledger):
    occupy(adapter, drop, "101", "102", "103")
    text = snapshot(in_house("101"), in_house("102"), in_house("103"))
    write(drop, "inhouse.csv", text[: text.index("102,") + 3])
    [outcome] = adapter.poll_once()
    assert outcome.rejected_whole.startswith("the file does not end with the trailer line '#END {rows}'")
    assert all(state.occupied for state in ledger.room_states().values())
    [row] = ledger.events(status=EventStatus.REJECTED)
    assert row.raw == text[: text.index("102,") + 3] and row.problem.startswith("inhouse.csv rejected whole: ")
    [rejected_file] = [name for name in files(adapter.folder.archive_folder) if name.endswith(".rejected.csv")]
    with (adapter.folder.archive_folder / rejected_file).open(encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["line", "reason"] and rows[1][1].startswith("file rejected whole: the file does not end")


def test_an_empty_snapshot_is_rejected_whole(adapter, drop, ledger):
    occupy(adapter, drop, "101")
    write(drop, "inhouse.csv", snapshot())
    [outcome] = adapter.poll_once()
    assert outcome.rejected_whole == "the snapshot lists no guest: an empty in-house list is never applied"
    assert ledger.room_states()["101"].occupied


def test_a_snapshot_row_that_cannot_be_read_leaves_its_room_alone(adapter, drop, ledger):
    occupy(adapter, drop, "101", "102")
    write(drop, "inhouse.csv", snapshot(in_house("101"), "102,R102,Guest102,Ann,EN,someday,2026-11-29"))
    [outcome] = adapter.poll_once()
    assert (outcome.recorded, outcome.rejected, outcome.held) == (0, 1, False)
    assert ledger.room_states()["102"].occupied
    [row] = ledger.events(status=EventStatus.REJECTED)
    assert row.problem.endswith("(room left as it is)") and row.raw.startswith("102,R102")
    # Without a readable room the guest's room is unknown: the whole snapshot is refused.
    write(drop, "inhouse.csv", snapshot(in_house("101"), ",R102,Guest102,Ann,EN,2026-11-27,2026-11-29"))
    [refused] = adapter.poll_once()
    assert refused.rejected_whole.startswith("line 3: no room; without its room the snapshot could check its guest")


def test_the_guard_holds_a_mass_checkout(adapter, drop, ledger, engine):
    occupy(adapter, drop, "101", "102", "103", "104")
    write(drop, "inhouse.csv", snapshot(in_house("101")))
    [outcome] = adapter.poll_once()
    assert outcome.held and outcome.recorded == 0
    assert all(state.occupied for state in ledger.room_states().values())
    assert adapter.status.detail == ("snapshot held: would check out 3 of 4 occupied rooms; "
                                     "confirm with `pmsbridge resync --confirm`")
    with Session(engine) as session:
        [entry] = session.execute(select(AuditEntry)).scalars().all()
    assert (entry.actor, entry.action) == ("csv", "snapshot held") and entry.detail.startswith("inhouse.csv: ")
    # The held plan is in the FIAS swap's shape: what confirming it records.
    plan = held_from_json(ledger.get_value(HELD_SNAPSHOT_KEY))
    assert (plan.occupied, plan.vacated) == (4, 3)
    assert [(type(item.event), item.event.room) for item in plan.events] == [
        (CheckOut, "102"), (CheckOut, "103"), (CheckOut, "104")]
    # A later snapshot within the guard supersedes the held one.
    write(drop, "inhouse.csv", snapshot(in_house("101"), in_house("102"), in_house("103")))
    [later] = adapter.poll_once()
    assert later.recorded == 1 and not later.held
    assert ledger.get_value(HELD_SNAPSHOT_KEY) == "" and not ledger.room_states()["104"].occupied
    assert adapter.status.detail == f"watching {drop}"


def test_a_held_plan_can_be_recorded_as_it_was_computed(adapter, drop, ledger):
    occupy(adapter, drop, "101", "102")
    write(drop, "inhouse.csv", snapshot(in_house("103")))
    [outcome] = adapter.poll_once()
    assert outcome.held
    for item in held_from_json(ledger.get_value(HELD_SNAPSHOT_KEY)).events:
        ledger.record(item.event, item.raw, actor="command line")
    states = ledger.room_states()
    assert not states["101"].occupied and not states["102"].occupied and states["103"].occupied


# -- the thread -----------------------------------------------------------------------------


def test_the_adapter_polls_on_its_own_thread_and_stops(make_adapter, drop, ledger):
    adapter = make_adapter(poll_interval=0.05)
    adapter.start()
    try:
        assert adapter.status.state == "up"
        # settle_seconds is 0 here: hand the file over whole, as a PMS export should.
        write(drop, "delta.csv.part", DELTA_HEADER + "\n" + check_in_rows("101")).rename(drop / "delta.csv")
        deadline = time.monotonic() + 10
        while "101" not in ledger.room_states() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ledger.room_states()["101"].occupied
    finally:
        adapter.stop(timeout=5)
    assert adapter.status.state == "down" and not adapter._thread.is_alive()


def test_a_missing_drop_folder_fails_the_start(tmp_path, ledger):
    settings = settings_for(tmp_path / "nowhere")
    adapter = CsvDropAdapter(settings.adapter_settings["csvdrop"], AdapterContext(settings, ledger))
    try:
        adapter.start()
    except Exception as err:
        assert str(err) == f"the drop folder {tmp_path / 'nowhere'} does not exist"
    else:
        raise AssertionError("start() must fail without its folder")


def test_a_move_to_a_room_the_hotel_does_not_have_is_a_rejected_row_and_the_guest_keeps_the_phone(
        adapter, drop, ledger):
    ledger.validator = EventValidator(ledger.mapping, hotel_rooms=["101", "102"])
    write(drop, "moves.csv", "\n".join([
        "action,room,reservation,last_name,from_room",
        "checkin,101,R1,Doe,",
        "move,999,R1,,101",
        "move,abc,R1,,101",
    ]) + "\n")
    [outcome] = adapter.poll_once()
    assert (outcome.recorded, outcome.rejected) == (1, 2)
    refused = {row.raw: row.problem for row in ledger.events(status=EventStatus.REJECTED)}
    assert set(refused) == {"move,999,R1,,101", "move,abc,R1,,101"}
    assert all("is not one of the hotel's rooms" in problem for problem in refused.values())
    assert ledger.room_states()["101"].occupied and [d.operation for d in ledger.deliveries()] == ["checkin"]
    [rejected_file] = [name for name in files(adapter.folder.archive_folder) if name.endswith(".rejected.csv")]
    with (adapter.folder.archive_folder / rejected_file).open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert [row[:2] for row in rows[1:]] == [["3", refused["move,999,R1,,101"]], ["4", refused["move,abc,R1,,101"]]]
