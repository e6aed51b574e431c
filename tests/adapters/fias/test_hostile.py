"""Hostile input at the FIAS port, down to the ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

import socket

from pmsbridge.adapters.fias.protocol import encode_frame
from pmsbridge.ledger.models import EventStatus
from pmsbridge.ledger.raw_text import original
from tests.adapters.fias.conftest import events_of, fias_settings, linked, wait_until
from tests.conftest import database_url  # noqa: F401 - SQLite, and PostgreSQL when set


def rejected(ledger) -> list:
    return [row for row in events_of(ledger) if row.status == EventStatus.REJECTED]


def test_records_without_a_handshake_change_no_room_and_are_kept(simulator, adapter, ledger, caplog):
    fias = adapter(fias_settings(mode="server", port=0))
    with socket.create_connection(("127.0.0.1", fias.port)) as intruder:
        intruder.sendall(b"".join(encode_frame(record) for record in (
            b"GO|RN151|G#F151|", b"GI|RN166|GNNoHandshake|", b"RE|RN101|DNY|")))
        wait_until(lambda: len(rejected(ledger)) == 3)
    assert [row.raw for row in rejected(ledger)] == ["GO|RN151|G#F151|", "GI|RN166|GNNoHandshake|",
                                                     "RE|RN101|DNY|"]
    assert all("before the link was established" in row.problem for row in rejected(ledger))
    assert ledger.room_states() == {}
    assert "GI record before the link was established" in caplog.text
    sim = simulator(mode="client", port=fias.port)
    linked(sim, fias)
    sim.check_in("101", "Doe")
    wait_until(lambda: ledger.room_states().get("101"))


def test_a_stranger_cannot_take_the_link_from_the_pms(simulator, adapter, ledger, caplog):
    fias = adapter(fias_settings(mode="server", port=0))
    sim = simulator(mode="client", port=fias.port)
    linked(sim, fias)
    with socket.create_connection(("127.0.0.1", fias.port), source_address=("127.0.0.4", 0)) as stranger:
        stranger.settimeout(5)
        assert stranger.recv(100) == b""  # closed at once, nothing said
    assert "refused a connection from 127.0.0.4" in caplog.text
    sim.check_in("102", "Roe")
    wait_until(lambda: ledger.room_states().get("102"))
    assert fias.status.counters["link_ups"] == 1


def test_a_record_with_nul_bytes_is_kept_on_every_back_end(simulator, adapter, ledger):
    sim = simulator()
    fias = adapter(fias_settings(port=sim.port))
    linked(sim, fias)
    sim.send_raw(b"GI|RN101|GN\x00Doe|", framed=True)
    wait_until(lambda: rejected(ledger))
    [row] = rejected(ledger)
    assert original(row.raw) == "GI|RN101|GN\x00Doe|"
    assert "control byte 0x00 at offset 11" in row.problem


def test_a_record_cut_off_by_the_end_of_the_connection_is_kept(simulator, adapter, ledger):
    sim = simulator()
    fias = adapter(fias_settings(port=sim.port))
    linked(sim, fias)
    sim.send_raw(b"\x02GI|RN102|GNCut|GFOf")
    sim.drop_link()
    wait_until(lambda: rejected(ledger))
    [row] = rejected(ledger)
    assert row.raw == "GI|RN102|GNCut|GFOf"
    assert row.problem.startswith("record cut off by the end of the connection (the PMS closed the connection)")
    assert "102" not in ledger.room_states()
