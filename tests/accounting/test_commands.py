"""``pmsbridge postings list|repost|settle`` on a ledger database."""

from __future__ import annotations

import datetime as dt

import pytest

from pmsbridge.accounting.postings import Charge, PostingStore
from pmsbridge.cli import main
from tests.accounting.conftest import audit_entries

WHEN = dt.datetime(2026, 11, 27, 10, 15)


@pytest.fixture
def config(tmp_path, database_url, engine) -> str:
    path = tmp_path / "pmsbridge.toml"
    path.write_text(
        f'[bridge]\ndatabase_url = "{database_url}"\nstate_dir = "{tmp_path / "state"}"\n'
        '[pbx]\nurl = "https://127.0.0.1:9"\nusername = "cdrapi"\npassword = "a-real-secret"\n'
        'pms_username = "pms"\npms_password = "another-secret"\nverify = false\n', encoding="utf-8")
    return str(path)


@pytest.fixture
def store(engine):
    store = PostingStore(engine)
    posted = store.create(Charge(room="101", call_start=WHEN, channel="fias", amount=290, dialled="0044",
                                 duration=65))
    store.claim(posted, sequence=1)
    store.answered(posted, posted=True, answer="OK")
    refused = store.create(Charge(room="102", call_start=WHEN, channel="fias", amount=None, dialled="0301234",
                                  duration=31))
    store.claim(refused, sequence=2)
    store.answered(refused, posted=False, answer="NG")
    store.create(Charge(room="101", call_start=WHEN, channel="fias", amount=40, dialled="0301234", duration=31))
    return store


def lines(output: str) -> list[str]:
    return [" ".join(line.split()) for line in output.splitlines() if line.strip()]


def test_postings_are_listed_with_the_rooms_totals(config, store, capsys):
    assert main(["postings", "list", "--config", config]) == 0
    shown = lines(capsys.readouterr().out)
    assert shown[1:4] == [
        "3 2026-11-27 10:15:00 101 0.40 EUR 0301234 31 queued fias",
        "2 2026-11-27 10:15:00 102 (PMS rates) 0301234 31 refused fias NG",
        "1 2026-11-27 10:15:00 101 2.90 EUR 0044 65 posted fias OK",
    ]
    assert shown[-2:] == ["101 2.90 EUR 0.40 EUR 0 2", "102 0.00 EUR 0.00 EUR 1 1"]


def test_postings_are_filtered_by_room_and_state(config, store, capsys):
    assert main(["postings", "list", "--room", "101", "--state", "posted", "--config", config]) == 0
    shown = lines(capsys.readouterr().out)
    assert [line.split()[0] for line in shown[1:-2]] == ["1"]
    assert main(["postings", "list", "--room", "999", "--config", config]) == 0
    assert lines(capsys.readouterr().out)[-1] == "no postings match"


def test_reposting_and_settling_from_the_command_line_are_audited(config, store, engine, capsys):
    assert main(["postings", "repost", "1", "--config", config]) == 1
    assert "posting 1 is posted; only refused, unknown or failed" in capsys.readouterr().err
    assert main(["postings", "repost", "2", "--config", config]) == 0
    assert store.get(2).state == "queued"
    store.claim(2, sequence=4)
    store.unknown_now(2, "cut off")
    assert main(["postings", "settle", "2", "--note", "checked", "--config", config]) == 0
    assert [(actor, action) for actor, action, _, _ in audit_entries(engine)] == [
        ("command line", "posting re-post"), ("command line", "posting settle")]
