"""The FIAS link (link.py) against a small PMS peer on real sockets (127.0.0.1, ephemeral ports)."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import struct
import threading
import time

import pytest

from pmsbridge import __version__
from pmsbridge.adapters.base import LinkState
from pmsbridge.adapters.fias.link import FiasLink
from pmsbridge.adapters.fias.protocol import (
    LINK_LAYER_RECORDS,
    RECORDS_WE_USE,
    Frame,
    FrameDecoder,
    Record,
    compose_record,
    encode_frame,
    parse_record,
)
from tests.adapters.fias.conftest import fias_settings, wait_until

STAMP = (("DA", "261127"), ("TI", "094123"))


def frame(text: str, lrc: bool = False) -> bytes:
    return encode_frame(text.encode("cp1252"), lrc)


class PeerConnection:
    """One accepted (or made) connection: what arrived, and a way to send."""

    def __init__(self, sock: socket.socket, lrc: bool, answer_le: bool = True) -> None:
        self.sock = sock
        self.lrc = lrc
        self.answer_le = answer_le
        self.records: list[Record] = []
        self.closed = threading.Event()
        self._decoder = FrameDecoder(lrc=lrc)
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while data := self.sock.recv(4096):
                for item in self._decoder.feed(data):
                    if isinstance(item, Frame):
                        record = parse_record(item.payload, "cp1252")
                        with self._lock:
                            self.records.append(record)
                        if record.type == "LE" and self.answer_le:
                            self.send_record("LE", lrc=self.lrc)
        except OSError:
            pass
        finally:
            self.closed.set()

    def types(self) -> list[str]:
        with self._lock:
            return [record.type for record in self.records]

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_record(self, record_type: str, fields=STAMP, lrc: bool = False) -> None:
        self.send(encode_frame(compose_record(record_type, fields, "cp1252"), lrc))

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Peer:
    """A PMS-side TCP server on 127.0.0.1 that keeps every connection it accepts."""

    def __init__(self, lrc: bool = False, answer_le: bool = True) -> None:
        self.lrc = lrc
        self.answer_le = answer_le
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections: list[PeerConnection] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.server.accept()
            except OSError:
                return
            self.connections.append(PeerConnection(sock, self.lrc, self.answer_le))

    def connection(self, number: int = 0, timeout: float = 5.0) -> PeerConnection:
        wait_until(lambda: len(self.connections) > number, timeout)
        return self.connections[number]

    def close(self) -> None:
        self.server.close()
        for connection in self.connections:
            connection.close()


class RecordingHandler:
    """A LinkHandler that writes everything down; ``fail_on`` makes on_record raise for a type."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.records: list[Record] = []
        self.faults: list[tuple[str, bytes]] = []
        self.states: list[LinkState] = []
        self.ups = 0
        self.downs = 0
        self.ticks = 0
        self.fail_on = fail_on

    def on_record(self, record: Record, payload: bytes) -> None:
        if record.type == self.fail_on:
            raise RuntimeError("handler bug")
        self.records.append(record)

    def on_fault(self, problem: str, data: bytes) -> None:
        self.faults.append((problem, data))

    def on_up(self) -> None:
        self.ups += 1

    def on_down(self) -> None:
        self.downs += 1

    def on_tick(self) -> None:
        self.ticks += 1

    def on_state(self, state: LinkState, detail: str | None) -> None:
        self.states.append(state)


@pytest.fixture
def peer():
    made: list[Peer] = []

    def make(**options) -> Peer:
        made.append(Peer(**options))
        return made[-1]

    yield make
    for each in made:
        each.close()


@pytest.fixture
def link():
    made: list[FiasLink] = []

    def make(handler: RecordingHandler, **settings) -> FiasLink:
        made.append(FiasLink(fias_settings(**settings), handler, lambda: dt.datetime(2026, 11, 27, 9, 41, 23)))
        made[-1].start()
        return made[-1]

    yield make
    for each in made:
        each.stop(timeout=3)


def bring_up(connection: PeerConnection, handler: RecordingHandler, lrc: bool = False) -> None:
    ups = handler.ups
    connection.send_record("LS", lrc=lrc)
    wait_until(lambda: "LA" in connection.types())
    connection.send_record("LA", lrc=lrc)
    wait_until(lambda: handler.ups > ups)


def test_handshake_describes_the_bridge_and_comes_up_on_the_pms_la(peer, link):
    pms, handler = peer(), RecordingHandler()
    fias = link(handler, port=pms.port)
    connection = pms.connection()
    connection.send_record("LS")
    wait_until(lambda: "LA" in connection.types())
    assert not fias.up and handler.ups == 0

    description, *announcements, alive = connection.records
    assert description.type == "LD"
    assert description.get("IF") == "PB" and description.get("V#") == __version__
    assert description.get("DA") == "261127" and description.get("TI") == "094123"
    assert {record.get("RI"): record.get("FL") for record in announcements} == {
        record_type: fields for record_type, fields in RECORDS_WE_USE.items()
        if record_type not in LINK_LAYER_RECORDS | {"DR", "DS", "DE"}}
    assert all(record.type == "LR" for record in announcements)
    assert alive.type == "LA"

    connection.send_record("LA")
    wait_until(lambda: fias.up)
    assert handler.ups == 1
    assert handler.states[-1] is LinkState.UP


def test_records_reach_the_handler_in_order_and_link_records_do_not(peer, link):
    pms, handler = peer(), RecordingHandler()
    fias = link(handler, port=pms.port)
    connection = pms.connection()
    bring_up(connection, handler)
    connection.send(frame("GI|RN101|GNDoe|") + frame("LA|") + frame("RE|RN101|DNY|") + frame("LR|RIGI|FLRN|"))
    wait_until(lambda: len(handler.records) == 2)
    assert [record.type for record in handler.records] == ["GI", "RE"]
    assert fias.up


def test_records_split_anywhere_are_reassembled(peer, link):
    pms, handler = peer(), RecordingHandler()
    link(handler, port=pms.port)
    connection = pms.connection()
    bring_up(connection, handler)
    data = frame("GI|RN101|GNDoe|") + frame("GO|RN101|")
    for byte in data:
        connection.send(bytes([byte]))
    wait_until(lambda: len(handler.records) == 2)
    assert handler.records[0].get("GN") == "Doe"


def test_bad_bytes_are_reported_and_the_link_stays_up(peer, link):
    pms, handler = peer(), RecordingHandler()
    fias = link(handler, port=pms.port, max_record=64)
    connection = pms.connection()
    bring_up(connection, handler)
    connection.send(b"noise" + frame("gi|RN1|") + b"\x02GI|RN1" + frame("GI|RN101|GN\x01x|")
                    + b"\x02" + b"x" * 200 + b"\x03" + "GI|RN101|GNé|".encode("utf-16-le").join([b"\x02", b"\x03"])
                    + frame("RE|RN101|DNY|"))
    wait_until(lambda: handler.records)
    problems = [problem for problem, _ in handler.faults]
    assert any("garbage" in problem for problem in problems)
    assert any("record type b'gi'" in problem for problem in problems)
    assert any("interrupted" in problem for problem in problems)
    assert any("control byte 0x01" in problem for problem in problems)
    assert any("oversized" in problem for problem in problems)
    assert [record.type for record in handler.records] == ["RE"]
    assert fias.up and len(pms.connections) == 1
    assert (b"noise", b"GI|RN1") == (handler.faults[0][1], handler.faults[2][1])


def test_a_handler_failure_is_a_fault_not_a_dead_link(peer, link):
    pms, handler = peer(), RecordingHandler(fail_on="GO")
    fias = link(handler, port=pms.port)
    connection = pms.connection()
    bring_up(connection, handler)
    connection.send(frame("GO|RN101|") + frame("GI|RN102|GNX|"))
    wait_until(lambda: handler.records)
    assert handler.faults == [("the bridge failed to handle this record: handler bug", b"GO|RN101|")]
    assert fias.up


def test_alive_check_is_sent_and_an_answering_pms_keeps_the_link(peer, link):
    pms, handler = peer(), RecordingHandler()
    fias = link(handler, port=pms.port, alive_interval=0.3, dead_after=1.0)
    connection = pms.connection()
    bring_up(connection, handler)
    answered = 0
    deadline = time.monotonic() + 10
    while answered < 4 and time.monotonic() < deadline:
        if connection.types().count("LS") > answered:
            answered += 1
            connection.send_record("LA")
        time.sleep(0.02)
    assert answered == 4
    assert fias.up and len(pms.connections) == 1 and handler.downs == 0


def test_a_silent_pms_is_a_dead_link_and_the_bridge_reconnects(peer, link):
    pms, handler = peer(), RecordingHandler()
    link(handler, port=pms.port, alive_interval=0.2, dead_after=0.6)
    bring_up(pms.connection(), handler)
    second = pms.connection(1)
    assert pms.connections[0].closed.wait(5)
    assert handler.downs == 1 and LinkState.DOWN in handler.states
    bring_up(second, handler)
    assert handler.ups == 2


def test_the_bridge_reconnects_when_the_pms_closes(peer, link):
    pms, handler = peer(), RecordingHandler()
    fias = link(handler, port=pms.port)
    bring_up(pms.connection(), handler)
    pms.connections[0].close()
    wait_until(lambda: handler.downs == 1)
    assert not fias.up and not fias.send(Record("WA", (("RN", "101"),)))
    bring_up(pms.connection(1), handler)
    assert fias.up


def test_the_bridge_keeps_trying_while_the_pms_is_away(link):
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    handler = RecordingHandler()
    link(handler, port=port, reconnect_min=0.05, reconnect_max=0.1)
    wait_until(lambda: handler.states.count(LinkState.DOWN) >= 3)
    # The PMS comes back on the same port.
    with socket.create_server(("127.0.0.1", port)) as server:
        server.settimeout(5)
        sock, _ = server.accept()
        connection = PeerConnection(sock, lrc=False)
        bring_up(connection, handler)
        connection.close()


def test_le_from_the_pms_is_answered_and_ends_the_connection(peer, link):
    pms, handler = peer(), RecordingHandler()
    link(handler, port=pms.port)
    connection = pms.connection()
    bring_up(connection, handler)
    connection.send_record("LE")
    assert connection.closed.wait(5)
    assert connection.types()[-1] == "LE"
    wait_until(lambda: handler.downs == 1)


def test_stop_sends_le_and_waits_for_the_pms_le(peer, link):
    pms, handler = peer(), RecordingHandler()
    fias = link(handler, port=pms.port)
    connection = pms.connection()
    bring_up(connection, handler)
    fias.stop(timeout=5)
    assert connection.types()[-1] == "LE"
    assert connection.closed.wait(5)
    assert handler.downs == 1


def test_stop_returns_within_its_timeout_when_the_pms_never_answers(peer, link):
    pms, handler = peer(answer_le=False), RecordingHandler()
    fias = link(handler, port=pms.port)
    connection = pms.connection()
    bring_up(connection, handler)
    stopping = threading.Thread(target=fias.stop, kwargs={"timeout": 1.0})
    stopping.start()
    stopping.join(10)  # a hang, not a slow machine, would exceed this
    assert not stopping.is_alive()
    assert "LE" in connection.types()
    assert connection.closed.wait(5)


def test_check_bytes_when_the_site_wants_them(peer, link):
    pms, handler = peer(lrc=True), RecordingHandler()
    fias = link(handler, port=pms.port, lrc=True)
    connection = pms.connection()
    bring_up(connection, handler, lrc=True)
    connection.send(frame("GI|RN101|GNDoe|", lrc=True) + frame("GI|RN102|GNBad|") + b"\x00"
                    + frame("GO|RN101|", lrc=True))
    wait_until(lambda: len(handler.records) == 2)
    assert [record.get("RN") for record in handler.records] == ["101", "101"]
    assert any("bad_lrc" in problem for problem, _ in handler.faults)
    assert fias.up


def test_server_mode_accepts_the_pms_and_a_new_connection_replaces_the_old(link):
    handler = RecordingHandler()
    fias = link(handler, mode="server", port=0)
    assert fias.port
    first = PeerConnection(socket.create_connection(("127.0.0.1", fias.port)), lrc=False)
    bring_up(first, handler)
    second = PeerConnection(socket.create_connection(("127.0.0.1", fias.port)), lrc=False)
    assert first.closed.wait(5)
    bring_up(second, handler)
    assert handler.ups == 2 and handler.downs == 1
    second.send(frame("RE|RN101|DNY|"))
    wait_until(lambda: handler.records)
    assert fias.send(Record("WA", (("RN", "101"), ("DA", ""), ("TI", ""), ("AS", "OK"))))
    wait_until(lambda: "WA" in second.types())
    second.close()


def test_backoff_stays_between_its_bounds():
    fias = FiasLink(fias_settings(reconnect_min=0.5, reconnect_max=4.0), RecordingHandler(), dt.datetime.now)
    for failures in range(1, 12):
        fias._failures = failures
        delays = [fias._backoff() for _ in range(50)]
        ceiling = min(4.0, 0.5 * 2 ** (failures - 1))
        assert all(max(0.5, ceiling / 2) <= delay <= ceiling for delay in delays)


def test_a_pms_that_drops_every_connection_before_the_handshake_is_redialled_ever_slower(peer, link):
    pms, handler = peer(), RecordingHandler()
    fias = link(handler, port=pms.port)
    for number in range(3):
        pms.connection(number).close()
    wait_until(lambda: fias._failures >= 3)
    assert handler.ups == 0
    bring_up(pms.connection(3), handler)
    assert fias._failures == 0


# --- hostile input on the server-mode port ---------------------------------------------------


def connect_from(source: str, port: int) -> PeerConnection:
    """A PMS-side connection to the bridge's port from a loopback address of its own (127.0.0.0/8)."""
    return PeerConnection(socket.create_connection(("127.0.0.1", port), source_address=(source, 0)), lrc=False)


def test_server_mode_acts_on_no_record_before_the_handshake(link):
    handler = RecordingHandler()
    fias = link(handler, mode="server", port=0)
    intruder = connect_from("127.0.0.1", fias.port)
    intruder.send(frame("GO|RN151|G#F151|") + frame("GI|RN166|GNNoHandshake|") + frame("RE|RN101|DNY|"))
    wait_until(lambda: len(handler.faults) == 3)
    assert handler.records == [] and not fias.up
    assert all("before the link was established" in problem for problem, _ in handler.faults)
    assert [data for _, data in handler.faults] == [b"GO|RN151|G#F151|", b"GI|RN166|GNNoHandshake|",
                                                    b"RE|RN101|DNY|"]
    bring_up(intruder, handler)
    intruder.send(frame("RE|RN101|DNY|"))
    wait_until(lambda: handler.records)
    assert [record.type for record in handler.records] == ["RE"]


def test_an_la_sent_with_the_ls_or_before_it_does_not_bring_the_link_up(peer, link, caplog):
    caplog.set_level(logging.INFO, logger="pmsbridge.adapters.fias.link")
    pms, handler = peer(), RecordingHandler()
    fias = link(handler, port=pms.port)
    connection = pms.connection()
    connection.send_record("LA")
    connection.send(frame("LS|DA261127|TI094123|") + frame("LA|DA261127|TI094123|"))
    wait_until(lambda: "LA" in connection.types())
    time.sleep(0.3)  # time enough for a wrong link-up; the right one is awaited below
    assert not fias.up and handler.ups == 0
    assert "before any LS" in caplog.text and "it came with the LS" in caplog.text
    connection.send_record("LA")
    wait_until(lambda: fias.up)
    assert handler.ups == 1


def test_no_alive_check_goes_out_before_the_link_is_up(peer, link):
    pms, handler = peer(), RecordingHandler()
    link(handler, port=pms.port, alive_interval=0.1, dead_after=5.0)
    connection = pms.connection()
    connection.send_record("LS")
    wait_until(lambda: "LA" in connection.types())
    time.sleep(0.5)  # five alive intervals
    assert "LS" not in connection.types()
    connection.send_record("LA")
    wait_until(lambda: "LS" in connection.types())


def test_server_mode_refuses_addresses_other_than_the_pms(link, caplog):
    handler = RecordingHandler()
    fias = link(handler, mode="server", host="127.0.0.1", port=0)
    pms = connect_from("127.0.0.1", fias.port)
    bring_up(pms, handler)
    stranger = connect_from("127.0.0.3", fias.port)
    assert stranger.closed.wait(5)
    assert "refused a connection from 127.0.0.3:" in caplog.text
    assert "not a PMS address in adapters.fias.allowed_peers (127.0.0.1/32)" in caplog.text
    assert fias.up and not pms.closed.is_set() and handler.downs == 0


def test_an_allowed_address_replaces_the_link_and_no_other_can(link, caplog):
    handler = RecordingHandler()
    fias = link(handler, mode="server", host="127.0.0.1", port=0, allowed_peers=["127.0.0.1", "127.0.0.2"])
    first = connect_from("127.0.0.1", fias.port)
    bring_up(first, handler)
    assert connect_from("127.0.0.9", fias.port).closed.wait(5)
    assert not first.closed.is_set() and fias.up
    standby = connect_from("127.0.0.2", fias.port)  # an IFC8 after a failover
    assert first.closed.wait(5)
    bring_up(standby, handler)
    assert handler.ups == 2 and handler.downs == 1
    assert "(an allowed PMS address) replaces the one from 127.0.0.1:" in caplog.text
    assert "replaced by a new one from 127.0.0.2:" in caplog.text
    assert "the PMS closed the connection" not in caplog.text


def reset(connection: PeerConnection) -> None:
    """End the connection with a reset (RST), as a crashing PMS or a firewall does."""
    connection.sock.shutdown(socket.SHUT_RD)  # wakes the peer's reader; nothing goes on the wire
    assert connection.closed.wait(5)
    connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.sock.close()


def test_a_record_cut_off_by_a_connection_reset_is_reported_with_its_bytes(peer, link):
    pms, handler = peer(), RecordingHandler()
    link(handler, port=pms.port)
    connection = pms.connection()
    bring_up(connection, handler)
    connection.send(frame("GI|RN101|GNWhole|") + b"\x02GI|RN102|GNCut")
    wait_until(lambda: handler.records)
    reset(connection)
    wait_until(lambda: handler.downs == 1)
    [(problem, data)] = handler.faults
    assert problem.startswith("record cut off by the end of the connection (receive failed:")
    assert data == b"GI|RN102|GNCut"


def test_a_connection_the_bridge_drops_is_not_said_to_be_closed_by_the_pms(peer, link, caplog):
    caplog.set_level(logging.INFO, logger="pmsbridge.adapters.fias.link")
    pms, handler = peer(), RecordingHandler()
    fias = link(handler, port=pms.port)
    connection = pms.connection()
    bring_up(connection, handler)
    fias.stop(timeout=3)
    assert "the PMS closed the connection" not in caplog.text
    assert "link ended (LE)" in caplog.text or "the bridge is stopping" in caplog.text


def test_utf8_on_a_cp1252_link_is_read_as_configured_and_the_log_says_so(peer, link, caplog):
    pms, handler = peer(), RecordingHandler()
    link(handler, port=pms.port)
    connection = pms.connection()
    bring_up(connection, handler)
    connection.send(encode_frame("GI|RN101|GNMüller|".encode("utf-8")) + encode_frame("GC|RN101|GNMüller|".encode()))
    wait_until(lambda: len(handler.records) == 2)
    assert handler.records[0].get("GN") == "MÃ¼ller"
    assert "a GI record from 127.0.0.1:" in caplog.text
    assert "looks like UTF-8 (GN 'Müller') but adapters.fias.encoding is cp1252" in caplog.text
    assert caplog.text.count("looks like UTF-8") == 1
