"""Hostile input at the drop folder: links, devices, directories, files that change under the bridge."""

from __future__ import annotations

import os

from pmsbridge.ledger.models import EventStatus
from pmsbridge.logs import setup_logging
from tests.adapters.csvdrop.test_adapter import DELTA_HEADER, check_in_rows, files, write


def test_links_to_files_outside_the_folder_are_never_read(adapter, drop, ledger, caplog):
    (drop / "envdump.csv").symlink_to("/proc/self/environ")
    (drop / "passwd.csv").symlink_to("/etc/passwd")
    os.link(write(drop.parent, "outside.csv", DELTA_HEADER + "\n" + check_in_rows("101")), drop / "hard.csv")
    assert adapter.poll_once() == []
    assert adapter.poll_once() == []
    assert ledger.events() == []
    assert caplog.text.count("envdump.csv in ") == 1  # once, not at every poll
    assert f"passwd.csv in {drop} is a symbolic link: refused, never read" in caplog.text
    assert "hard.csv in " in caplog.text and "other hard links" in caplog.text
    assert sorted(path.name for path in drop.iterdir()) == ["archive", "envdump.csv", "hard.csv", "passwd.csv",
                                                            "processing"]


def test_directories_pipes_and_devices_are_refused_with_a_log_line(adapter, drop, ledger, caplog):
    (drop / "adir.csv").mkdir()
    os.mkfifo(drop / "pipe.csv")
    write(drop, "delta.csv", DELTA_HEADER + "\n" + check_in_rows("101"))
    [outcome] = adapter.poll_once()  # a pipe must not hang the poller
    assert outcome.name == "delta.csv" and outcome.recorded == 1
    assert f"adir.csv in {drop} is a directory: refused" in caplog.text
    assert "pipe.csv in " in caplog.text and "not a regular file" in caplog.text


def test_a_link_swapped_in_after_the_claim_is_set_aside_unread(adapter, drop, ledger, caplog):
    (adapter.folder.processing / "20261203T070000000000Z_0-swapped.csv").symlink_to("/etc/passwd")
    [outcome] = adapter.poll_once()
    assert outcome.rejected_whole == "refused, not read: it is a symbolic link"
    assert ledger.events() == []
    archived = adapter.folder.archive_folder / "20261203T070000000000Z_0-swapped.csv"
    assert archived.is_symlink() and outcome.archived_as == archived
    assert "refused, not read" in (adapter.folder.archive_folder /
                                   "20261203T070000000000Z_0-swapped.rejected.csv").read_text("utf-8-sig")
    assert "swapped.csv refused, not read: it is a symbolic link" in caplog.text


def grow_during_processing(adapter, monkeypatch, extra: bytes, *, rewrite: bool = False) -> None:
    """The PMS writes to the claimed file while its rows are being recorded."""
    record_many = adapter.ledger.record_many
    done = []

    def record_while_written(items):
        if not done:
            done.append(True)
            [claimed] = adapter.folder.processing.iterdir()
            with claimed.open("wb" if rewrite else "ab") as handle:
                handle.write(extra)
            os.utime(claimed, ns=(claimed.stat().st_mtime_ns + 10**9,) * 2)
        return record_many(items)

    monkeypatch.setattr(adapter.ledger, "record_many", record_while_written)


def test_rows_written_while_a_file_is_processed_are_recorded_once_and_nothing_twice(adapter, drop, ledger,
                                                                                    monkeypatch):
    first = DELTA_HEADER + "\n" + check_in_rows("101", "102")
    write(drop, "delta.csv", first)
    grow_during_processing(adapter, monkeypatch, check_in_rows("103", "104").encode())
    assert adapter.poll_once() == []  # the first two rows are recorded; the file stays claimed
    assert sorted(ledger.room_states()) == ["101", "102"]
    [archived] = files(adapter.folder.archive_folder)
    assert (adapter.folder.archive_folder / archived).read_text() == first  # the bytes applied, exactly
    [outcome] = adapter.poll_once()
    assert (outcome.recorded, outcome.duplicates) == (2, 2)
    assert sorted(ledger.room_states()) == ["101", "102", "103", "104"]
    assert len(ledger.events()) == 4 and files(adapter.folder.processing) == []
    first_form, second_form = sorted(files(adapter.folder.archive_folder), key=len)
    assert (adapter.folder.archive_folder / second_form).read_text() == first + check_in_rows("103", "104")
    assert second_form == first_form.removesuffix(".csv") + ".2.csv"


def test_a_file_rewritten_while_it_is_processed_has_both_forms_applied_and_archived(adapter, drop, ledger,
                                                                                   monkeypatch):
    old = DELTA_HEADER + "\n" + check_in_rows("101")
    new = DELTA_HEADER + "\n" + check_in_rows("201")
    write(drop, "delta.csv", old)
    grow_during_processing(adapter, monkeypatch, new.encode(), rewrite=True)
    assert adapter.poll_once() == []
    [outcome] = adapter.poll_once()
    assert (outcome.recorded, outcome.duplicates) == (1, 0)
    assert sorted(ledger.room_states()) == ["101", "201"]
    contents = sorted((adapter.folder.archive_folder / name).read_text()
                      for name in files(adapter.folder.archive_folder))
    assert contents == sorted([old, new])


def test_a_file_that_changed_after_it_settled_is_not_read_until_it_settles_again(make_adapter, drop, ledger,
                                                                                 settle_clock, monkeypatch):
    adapter = make_adapter(settle_seconds=5)
    path = write(drop, "delta.csv", DELTA_HEADER + "\n" + check_in_rows("101"))
    assert adapter.poll_once() == []
    settle_clock.advance(5)
    claim = adapter.folder.claim

    def claim_and_keep_writing(name):
        claimed = claim(name)
        with claimed.open("ab") as handle:
            handle.write(check_in_rows("102").encode())
        return claimed

    monkeypatch.setattr(adapter.folder, "claim", claim_and_keep_writing)
    assert adapter.poll_once() == []
    assert ledger.events() == [] and not path.exists()
    settle_clock.advance(4)
    assert adapter.poll_once() == []
    settle_clock.advance(1)
    [outcome] = adapter.poll_once()
    assert outcome.recorded == 2


def test_a_file_name_cannot_forge_a_log_line(adapter, drop, ledger, capsys):
    name = "x\n2026-12-03 07:00:00,000 ERROR pmsbridge.fake: forged.csv"
    setup_logging("INFO")
    write(drop, name, "Room;Surname\n202;Roe\n")
    [outcome] = adapter.poll_once()
    assert outcome.rejected_whole
    lines = capsys.readouterr().err.splitlines()
    assert lines and not any(line.startswith("2026-12-03 07:00:00,000 ERROR") for line in lines)
    assert any("x\\n2026-12-03 07:00:00,000 ERROR pmsbridge.fake: forged.csv rejected whole" in line for line in lines)
    [row] = ledger.events(status=EventStatus.REJECTED)
    assert row.problem.startswith(name)
