"""The FIAS PMS simulator over real TCP on 127.0.0.1; the test plays the bridge with a plain socket."""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from pmsbridge.adapters.fias.protocol import (
    RECORDS_WE_USE,
    FrameDecoder,
    Record,
    compose_record,
    database_resync_request,
    encode_frame,
    link_alive,
    link_description,
    link_end,
    link_records,
    link_start,
    parse_record,
    posting_simple,
    wakeup_answer,
)
from pmsbridge.sim.fias import FiasSimulator, ScriptError, SimulatorOptions
from pmsbridge.sim.fias.activity import RandomActivity
from pmsbridge.sim.fias.cli import add_arguments, parse_rooms
from pmsbridge.sim.fias.script import parse_script

NOW = dt.datetime(2026, 11, 27, 9, 41, 23)
STAMP = "DA261127|TI094123|"
WAIT = 5.0
ROOMS = [str(number) for number in range(101, 141)]


class Bridge:
    """The bridge's end of the link: a socket, the protocol module and nothing else."""

    def __init__(self, sock: socket.socket, encoding: str = "cp1252", lrc: bool = False) -> None:
        sock.settimeout(WAIT)
        self.sock = sock
        self.encoding = encoding
        self.lrc = lrc
        self.payloads: collections.deque[bytes] = collections.deque()
        self._decoder = FrameDecoder(lrc=lrc)

    @classmethod
    def connect(cls, port: int, **kwargs: object) -> Bridge:
        return cls(socket.create_connection(("127.0.0.1", port), timeout=WAIT), **kwargs)

    def send(self, record: Record) -> None:
        self.sock.sendall(encode_frame(compose_record(record.type, record.fields, self.encoding), self.lrc))

    def payload(self) -> bytes:
        """The next record's bytes between STX and ETX."""
        while not self.payloads:
            data = self.sock.recv(4096)
            assert data, "the simulator closed the connection"
            for item in self._decoder.feed(data):
                assert hasattr(item, "payload"), f"framing fault: {item}"
                self.payloads.append(item.payload)
        return self.payloads.popleft()

    def receive(self) -> Record:
        return parse_record(self.payload(), self.encoding)

    def expect(self, *types: str) -> list[Record]:
        received = [self.receive() for _ in types]
        assert [record.type for record in received] == list(types)
        return received

    def until(self, record_type: str) -> list[Record]:
        """Every record up to and including the next one of ``record_type``."""
        received = [self.receive()]
        while received[-1].type != record_type:
            received.append(self.receive())
        return received

    def handshake(self) -> None:
        """What the bridge does on connect: wait for LS, answer LD, LRs, LA, wait for LA."""
        self.expect("LS")
        self.describe()
        self.send(link_alive(NOW))
        self.expect("LA")

    def describe(self) -> None:
        self.send(link_description(NOW, "test 1.0"))
        for announcement in link_records(RECORDS_WE_USE):
            self.send(announcement)

    def sync(self) -> list[Record]:
        """Alive check: every record the simulator sent before answering comes first."""
        self.send(link_start(NOW))
        return self.until("LA")[:-1]

    def closed_by_peer(self) -> bool:
        """Read until EOF; True when the simulator closed the connection."""
        while True:
            try:
                data = self.sock.recv(4096)
            except ConnectionResetError:
                return True
            if not data:
                return True
            for item in self._decoder.feed(data):
                self.payloads.append(item.payload)

    def close(self) -> None:
        self.sock.close()


def eventually(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def wire(record: str, encoding: str = "cp1252") -> bytes:
    return record.encode(encoding)


@pytest.fixture
def simulators() -> Iterator[list[FiasSimulator]]:
    started: list[FiasSimulator] = []
    yield started
    for simulator in started:
        simulator.stop()


@pytest.fixture
def make_sim(simulators: list[FiasSimulator]) -> Callable[..., FiasSimulator]:
    def make(**overrides: object) -> FiasSimulator:
        options = {"rooms": ROOMS, "clock": lambda: NOW, "link_end_wait": 1.0, "reconnect_interval": 0.05}
        simulator = FiasSimulator(SimulatorOptions(**{**options, **overrides}))
        simulator.start()
        simulators.append(simulator)
        return simulator

    return make


@pytest.fixture
def connect(make_sim: Callable[..., FiasSimulator]) -> Iterator[Callable[..., Bridge]]:
    """Connects bridges; they close before the simulators stop (no 1 s wait for an LE)."""
    bridges: list[Bridge] = []

    def open_bridge(simulator: FiasSimulator, **kwargs: object) -> Bridge:
        bridge = Bridge.connect(simulator.port, **kwargs)
        bridges.append(bridge)
        return bridge

    yield open_bridge
    for bridge in bridges:
        bridge.close()


@pytest.fixture
def linked(make_sim: Callable[..., FiasSimulator],
           connect: Callable[..., Bridge]) -> Callable[..., tuple[FiasSimulator, Bridge]]:
    def link(**overrides: object) -> tuple[FiasSimulator, Bridge]:
        simulator = make_sim(**overrides)
        bridge = connect(simulator, encoding=simulator.options.encoding, lrc=simulator.options.lrc)
        bridge.handshake()
        assert simulator.link_up(WAIT)
        return simulator, bridge

    return link


# --------------------------------------------------------------------------- link


def test_handshake_follows_ifc8(make_sim, connect):
    simulator = make_sim()
    bridge = connect(simulator)
    assert bridge.payload() == wire(f"LS|{STAMP}")
    assert not simulator.link_up(timeout=0)
    bridge.describe()
    bridge.send(link_alive(NOW))
    assert bridge.payload() == wire(f"LA|{STAMP}")
    assert simulator.link_up(WAIT)
    types = [record.type for record in simulator.received]
    assert types == ["LD", *["LR"] * (len(RECORDS_WE_USE) - 6), "LA"]  # no LR for LS LA LE, DR DS DE
    assert simulator.link_records["GI"] == RECORDS_WE_USE["GI"]
    assert simulator.received[0].get("IF") == "PB"


def test_nothing_but_ls_goes_out_before_the_bridges_la(make_sim, connect):
    simulator = make_sim()
    bridge = connect(simulator)
    bridge.expect("LS")
    reservation = simulator.check_in("101", "Doe", "John")
    bridge.describe()
    # The alive check is answered at once; the GI made before it would come first if it went out.
    bridge.send(link_start(NOW))
    assert bridge.expect("LA")
    bridge.send(link_alive(NOW))
    _, check_in = bridge.expect("LA", "GI")
    assert check_in.get("G#") == reservation


def test_an_la_without_ld_does_not_bring_the_link_up(make_sim, connect):
    simulator = make_sim()
    simulator.check_in("101", "Doe")
    bridge = connect(simulator)
    bridge.expect("LS")
    bridge.send(link_alive(NOW))
    assert bridge.sync() == []
    assert not simulator.link_up(timeout=0)
    assert [record.type for record in simulator.sent] == ["LS", "LA"]


def test_older_ifcs_send_right_after_ls(make_sim, connect):
    simulator = make_sim(require_link_description=False)
    simulator.check_in("101", "Doe")
    bridge = connect(simulator)
    bridge.expect("LS", "GI")
    simulator.dnd("101", True)
    bridge.expect("RE")


def test_alive_check_is_answered(linked):
    simulator, bridge = linked()
    bridge.send(link_start(NOW))
    assert bridge.payload() == wire(f"LA|{STAMP}")


def test_link_end_from_the_bridge_is_answered_and_the_connection_closed(linked, connect):
    simulator, bridge = linked()
    bridge.send(link_end(NOW))
    assert bridge.payload() == wire(f"LE|{STAMP}")
    assert bridge.closed_by_peer()
    simulator.check_in("102", "Later")
    again = connect(simulator)
    again.handshake()
    assert again.receive().get("GN") == "Later"


def test_stop_sends_le(make_sim, connect):
    simulator = make_sim()
    bridge = connect(simulator)
    bridge.handshake()
    stopper = threading.Thread(target=simulator.stop)
    stopper.start()
    bridge.expect("LE")
    bridge.send(link_end(NOW))
    assert bridge.closed_by_peer()
    stopper.join(WAIT)
    assert not stopper.is_alive()


def test_records_made_while_the_link_is_down_are_resent_after_the_handshake(linked, connect):
    simulator, bridge = linked()
    simulator.check_in("101", "Before")
    bridge.expect("GI")
    simulator.drop_link()
    assert bridge.closed_by_peer()
    first = simulator.check_in("102", "During", reservation="R2")
    simulator.check_out("101")
    simulator.wakeup("102", dt.datetime(2026, 11, 28, 7, 0))
    again = connect(simulator)
    again.expect("LS")
    again.describe()
    again.send(link_alive(NOW))
    _, check_in, check_out, wakeup = again.expect("LA", "GI", "GO", "WR")
    assert check_in.get("G#") == first == "R2"
    assert check_out.get("RN") == "101"
    assert wakeup.fields == (("RN", "102"), ("DA", "261128"), ("TI", "070000"))
    simulator.dnd("102", True)
    again.expect("RE")


def test_a_new_connection_replaces_the_old_one(linked, connect):
    simulator, first = linked()
    second = connect(simulator)
    assert first.closed_by_peer()
    second.handshake()
    simulator.check_in("101", "Doe")
    assert second.receive().type == "GI"


def test_client_mode_connects_to_the_bridge(make_sim):
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(WAIT)
        simulator = make_sim(mode="client", port=server.getsockname()[1])
        sock, _ = server.accept()
        bridge = Bridge(sock)
        bridge.handshake()
        simulator.check_in("101", "Doe")
        bridge.expect("GI")
        # After a loss the simulator dials again and resends what was buffered.
        bridge.close()
        assert eventually(lambda: not simulator.connected)
        simulator.check_in("102", "Roe")
        sock, _ = server.accept()
        again = Bridge(sock)
        again.handshake()
        assert again.receive().get("GN") == "Roe"
        again.close()


def test_lrc_frames_carry_a_check_byte(linked):
    simulator, bridge = linked(lrc=True)
    simulator.check_in("101", "Doe", reservation="R1")
    frame = encode_frame(wire(f"GI|RN101|G#R1|GNDoe|GLEA|GSN|{STAMP}"), lrc=True)
    assert bridge.payload() == frame[1:-2]
    assert simulator.sent[-1].type == "GI"


def test_raw_bytes_reach_the_bridge_unchanged(linked):
    simulator, bridge = linked()
    simulator.send_raw(b"GI|RN101|", framed=True)
    simulator.send_raw(b"\x02XX\x03")
    assert bridge.payload() == b"GI|RN101|"
    assert bridge.payload() == b"XX"
    simulator.drop_link()
    with pytest.raises(ConnectionError):
        simulator.send_raw(b"\x02GO|RN101|\x03")


def test_malformed_records_from_the_bridge_are_reported(linked):
    simulator, bridge = linked()
    bridge.sock.sendall(b"noise\x02gi|RN1|\x03")
    bridge.sync()
    assert len(simulator.faults) == 2
    assert "outside a record" in simulator.faults[0]
    assert "not two uppercase letters" in simulator.faults[1]


# --------------------------------------------------------------------------- guests


def test_check_in_sends_every_guest_field(linked):
    simulator, bridge = linked()
    reservation = simulator.check_in("101", "Müller", "Jürgen", reservation="R1", language="GE", vip=2,
                                     arrival=dt.date(2026, 11, 27), departure=dt.date(2026, 11, 30), cos=2)
    assert reservation == "R1"
    assert bridge.payload() == wire(
        f"GI|RN101|G#R1|GNMüller|GFJürgen|GLGE|GV2|GA261127|GD261130|CS2|GSN|{STAMP}")
    guest = simulator.hotel.rooms["101"][0]
    assert (guest.reservation, guest.last_name, guest.first_name, guest.vip) == ("R1", "Müller", "Jürgen", "2")


def test_check_in_without_reservation_gets_a_new_one(linked):
    simulator, bridge = linked()
    first = simulator.check_in("101", "Doe")
    second = simulator.check_in("102", "Roe")
    assert first != second
    assert [record.get("G#") for record in bridge.expect("GI", "GI")] == [first, second]


def test_shared_rooms_and_check_out_by_reservation(linked):
    simulator, bridge = linked()
    simulator.check_in("101", "Doe", reservation="R1")
    simulator.check_in("101", "Roe", reservation="R2")
    first, second = bridge.expect("GI", "GI")
    assert (first.get("GS"), second.get("GS")) == ("N", "Y")
    simulator.check_out("101", reservation="R1")
    assert bridge.payload() == wire(f"GO|RN101|G#R1|GSY|{STAMP}")
    assert [guest.reservation for guest in simulator.hotel.rooms["101"]] == ["R2"]
    simulator.check_out("101")
    assert bridge.payload() == wire(f"GO|RN101|GSN|{STAMP}")
    assert simulator.hotel.rooms["101"] == []


def test_a_repeated_check_in_updates_the_guest(linked):
    simulator, bridge = linked()
    simulator.check_in("101", "Doe", reservation="R1")
    simulator.check_in("101", "Doe-Smith", reservation="R1")
    assert [record.get("GS") for record in bridge.expect("GI", "GI")] == ["N", "N"]
    assert [guest.last_name for guest in simulator.hotel.rooms["101"]] == ["Doe-Smith"]
    with pytest.raises(ValueError, match="is in room 101"):
        simulator.check_in("102", "Doe", reservation="R1")


def test_guest_change_sends_the_whole_guest(linked):
    simulator, bridge = linked()
    simulator.check_in("101", "Doe", "John", reservation="R1")
    bridge.expect("GI")
    simulator.guest_change("101", last_name="Smith", vip=1, language="FR")
    assert bridge.payload() == wire(f"GC|RN101|G#R1|GNSmith|GFJohn|GLFR|GV1|GSN|{STAMP}")
    with pytest.raises(ValueError, match="cannot change colour"):
        simulator.guest_change("101", colour="red")


def test_move_as_gc_carries_ro_and_gs_twice(linked):
    simulator, bridge = linked()
    simulator.check_in("101", "Doe", reservation="R1")
    simulator.check_in("101", "Roe", reservation="R2")
    simulator.wakeup("101", dt.datetime(2026, 11, 28, 6, 30))
    bridge.expect("GI", "GI", "WR")
    simulator.move("101", "140", reservation="R1")
    assert bridge.payload() == wire(f"GC|RN140|GSN|G#R1|GNDoe|GLEA|RO101|GSY|{STAMP}")
    simulator.move("101", "140")
    assert bridge.payload() == wire(f"GC|RN140|GSY|G#R2|GNRoe|GLEA|RO101|GSN|{STAMP}")
    hotel = simulator.hotel
    assert hotel.rooms["101"] == []
    assert [guest.reservation for guest in hotel.rooms["140"]] == ["R1", "R2"]
    # The last guest out of 101 did not go into an empty room: 140's own state stays.
    assert hotel.wakeups["140"] == []


def test_move_into_an_empty_room_carries_wakeups_and_dnd(linked):
    simulator, bridge = linked()
    simulator.check_in("101", "Doe", reservation="R1")
    simulator.wakeup("101", dt.datetime(2026, 11, 28, 6, 30))
    simulator.dnd("101", True)
    simulator.move("101", "102")
    hotel = simulator.hotel
    assert hotel.wakeups["102"] == [dt.datetime(2026, 11, 28, 6, 30)] and hotel.dnd["102"]
    assert hotel.wakeups["101"] == [] and not hotel.dnd["101"]


@pytest.mark.parametrize(("style", "order"), [("GO+GI", ["GO", "GI"]), ("GI+GO", ["GI", "GO"])])
def test_move_as_check_out_and_check_in(linked, style, order):
    simulator, bridge = linked()
    simulator.check_in("101", "Doe", reservation="R1")
    bridge.expect("GI")
    simulator.move("101", "102", style=style)
    records = {record.type: record for record in bridge.expect(*order)}
    assert records["GO"].fields == (("RN", "101"), ("G#", "R1"), ("GS", "N"), ("DA", "261127"), ("TI", "094123"))
    assert (records["GI"].get("RN"), records["GI"].get("G#"), records["GI"].get("GN")) == ("102", "R1", "Doe")
    assert [guest.reservation for guest in simulator.hotel.rooms["102"]] == ["R1"]


def test_unknown_rooms_and_missing_guests_are_refused(linked):
    simulator, bridge = linked()
    with pytest.raises(ValueError, match="not one of the simulator's rooms"):
        simulator.check_in("999", "Doe")
    with pytest.raises(ValueError, match="has no guest"):
        simulator.move("101", "102")
    with pytest.raises(ValueError, match="class of service"):
        simulator.class_of_service("101", 7)
    assert bridge.sync() == []


# --------------------------------------------------------------------------- room features


def test_room_feature_records(linked):
    simulator, bridge = linked()
    simulator.check_in("101", "Doe", reservation="R1")
    bridge.expect("GI")
    simulator.wakeup("101", dt.datetime(2026, 11, 28, 7, 0))
    simulator.clear_wakeup("101", dt.datetime(2026, 11, 28, 7, 0))
    simulator.clear_wakeup("101")
    simulator.dnd("101", True)
    simulator.class_of_service("101", 2)
    simulator.message_light("101", False)
    message_id = simulator.message("101", "Your taxi is here")
    simulator.delete_message("101")
    expected = [
        "WR|RN101|DA261128|TI070000|",
        "WC|RN101|DA261128|TI070000|",
        "WC|RN101|DA|TI|",
        f"RE|RN101|DNY|{STAMP}",
        f"RE|RN101|CS2|{STAMP}",
        f"RE|RN101|MLN|{STAMP}",
        f"XL|RN101|G#R1|MI{message_id}|MTYour taxi is here|{STAMP}",
        f"XD|RN101|G#R1|{STAMP}",
    ]
    assert [bridge.payload() for _ in expected] == [wire(record) for record in expected]
    hotel = simulator.hotel
    assert hotel.dnd["101"] and hotel.class_of_service["101"] == 2 and hotel.messages["101"] == {}


def test_wakeups_in_the_hotel_state(linked):
    simulator, _ = linked()
    simulator.wakeup("101", dt.datetime(2026, 11, 28, 7, 0))
    simulator.wakeup("101", dt.datetime(2026, 11, 28, 6, 0))
    simulator.clear_wakeup("101", dt.datetime(2026, 11, 28, 7, 0))
    assert simulator.hotel.wakeups["101"] == [dt.datetime(2026, 11, 28, 6, 0)]
    simulator.clear_wakeup("101")
    assert simulator.hotel.wakeups["101"] == []


def test_wakeup_answers_are_recorded(linked):
    simulator, bridge = linked()
    bridge.send(wakeup_answer("101", "261128", "070000", "OK"))
    assert simulator.wait_for(lambda received: received[-1].type == "WA", WAIT)
    assert simulator.wakeup_answers[0].get("AS") == "OK"


# --------------------------------------------------------------------------- resync and postings


def test_resync_sends_ds_every_guest_with_sf_then_de(linked):
    simulator, bridge = linked()
    simulator.check_in("101", "Doe", reservation="R1")
    simulator.check_in("101", "Roe", reservation="R2")
    simulator.check_in("120", "Poe", reservation="R3")
    bridge.expect("GI", "GI", "GI")
    bridge.send(database_resync_request(NOW))
    records = bridge.until("DE")
    assert [record.type for record in records] == ["DS", "GI", "GI", "GI", "DE"]
    assert records[1].fields == (("RN", "101"), ("G#", "R1"), ("GN", "Doe"), ("GL", "EA"), ("GS", "N"),
                                 ("SF", ""), ("DA", "261127"), ("TI", "094123"))
    assert [(record.get("RN"), record.get("G#")) for record in records[1:4]] == [
        ("101", "R1"), ("101", "R2"), ("120", "R3")]
    assert all(record.has_flag("SF") for record in records[1:4])


def test_a_swap_that_mixes_live_records_lets_them_in_before_de(linked):
    # The swap's next GI is a minute away (stop() cuts it short): the live GI must come first.
    simulator, bridge = linked(swap_mixes_live=True, swap_record_pause=60)
    simulator.check_in("101", "Doe")
    bridge.expect("GI")
    bridge.send(database_resync_request(NOW))
    bridge.expect("DS")
    simulator.check_in("104", "Live")
    live = bridge.receive()
    assert (live.type, live.get("GN"), live.has_flag("SF")) == ("GI", "Live", False)
    assert "DE" not in [record.type for record in simulator.sent]


def test_in_house_guests_stream_after_link_up_without_ds(make_sim, connect):
    simulator = make_sim(stream_in_house_on_link_up=True)
    simulator.check_in("101", "Doe", reservation="R1")
    simulator.check_in("102", "Roe", reservation="R2")
    bridge = connect(simulator)
    bridge.handshake()
    buffered = bridge.expect("GI", "GI")
    streamed = bridge.expect("GI", "GI")
    assert [record.get("G#") for record in buffered + streamed] == ["R1", "R2", "R1", "R2"]
    assert not any(record.has_flag("SF") for record in streamed)


def test_postings_are_answered_with_the_configured_status(linked):
    simulator, bridge = linked(posting_answer="UR")
    bridge.send(posting_simple(1729, "101", dt.datetime(2026, 11, 27, 12, 35, 45), amount=1050,
                               dialled="004989920920", duration=dt.timedelta(minutes=2, seconds=5)))
    assert bridge.payload() == wire("PA|ASUR|P#1729|RN101|DA261127|TI123545|")
    (entry,) = simulator.folio
    assert {key: entry[key] for key in ("sequence", "room", "type", "amount", "dialled", "duration", "answered")} == {
        "sequence": 1729, "room": "101", "type": "C", "amount": 1050, "dialled": "004989920920",
        "duration": dt.timedelta(minutes=2, seconds=5), "answered": "UR"}


def test_postings_are_not_answered_when_told_so(linked):
    simulator, bridge = linked(posting_answer=None)
    bridge.send(posting_simple(7, "101", NOW, amount=99))
    # The PS is handled before the alive check that follows it: no PA came first.
    assert bridge.sync() == []
    assert simulator.folio[0]["answered"] is None


def test_posting_answers_can_be_late(linked):
    simulator, bridge = linked(posting_delay=0.2)
    bridge.send(posting_simple(8, "101", NOW, amount=99))
    assert bridge.until("PA")[-1].get("P#") == "8"
    assert simulator.folio[0]["answered"] == "OK"


# --------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(("encoding", "name_bytes"), [
    ("cp1252", b"M\xfcller"), ("cp850", b"M\x81ller"), ("utf-8", b"M\xc3\xbcller")])
def test_names_are_written_in_the_site_encoding(linked, encoding, name_bytes):
    simulator, bridge = linked(encoding=encoding)
    simulator.check_in("101", "Müller", reservation="R1")
    assert bridge.payload() == b"GI|RN101|G#R1|GN" + name_bytes + b"|GLEA|GSN|" + STAMP.encode()


def test_a_name_the_encoding_cannot_write_changes_nothing(linked):
    simulator, bridge = linked(encoding="cp1252")
    with pytest.raises(ValueError, match="cannot be written in cp1252"):
        simulator.check_in("101", "Wiśniewski", "Łukasz")
    assert simulator.hotel.rooms["101"] == []
    assert bridge.sync() == []


# --------------------------------------------------------------------------- script


def test_script_commands_produce_their_records(linked):
    simulator, bridge = linked()
    simulator.run_script("""
        # arrivals
        checkin 101 Doe John lang=GE vip=1 res=R1
        checkin 101 "O'Brien & Co" res=R2 shared   # a second guest
        change 101 name=Smith res=R1
        move 101 102 res=R2 style=GO+GI
        wakeup 101 07:00 2026-11-28
        wakeup-clear 101
        dnd 101 on
        cos 101 3
        light 101 off
        message 101 Call #5 at the desk
        message-delete 101
        checkout 102 res=R2
    """)
    records = bridge.sync()
    assert [record.type for record in records] == [
        "GI", "GI", "GC", "GO", "GI", "WR", "WC", "RE", "RE", "RE", "XL", "XD", "GO"]
    assert records[0].get("GL") == "GE" and records[0].get("GV") == "1"
    assert records[1].get("GN") == "O'Brien & Co" and records[1].get("GS") == "Y"
    assert records[2].get("GN") == "Smith"
    assert records[5].fields == (("RN", "101"), ("DA", "261128"), ("TI", "070000"))
    assert records[10].get("MT") == "Call #5 at the desk"
    assert simulator.hotel.rooms["102"] == []


def test_script_wakeup_without_date_is_the_next_one(linked):
    simulator, bridge = linked()
    simulator.run_script("wakeup 101 07:00\nwakeup 101 10:15\nwakeup-clear 101 10:15")
    assert [(record.get("DA"), record.get("TI")) for record in bridge.expect("WR", "WR", "WC")] == [
        ("261128", "070000"), ("261127", "101500"), ("261127", "101500")]


def test_script_errors_name_the_line_and_nothing_runs(linked):
    simulator, bridge = linked()
    with pytest.raises(ScriptError, match=r"^line 3: unknown command 'chekin'") as caught:
        simulator.run_script("checkin 101 Doe\n\nchekin 102 Roe\n")
    assert caught.value.line == 3
    assert bridge.sync() == []
    for script, message in [
        ("dnd 101 maybe", "line 1: dnd takes on or off"),
        ("checkin 101", "line 1: checkin takes 2 to 3 arguments"),
        ("# fine\ncheckout 101 room=5", "line 2: checkout does not take room"),
        ("wakeup 101 25:00", "line 1: '25:00' is not a time of day"),
        ("checkin 101 O'Brien", "line 1: cannot split"),
        ("move 101 102 style=teleport", "line 1: move style"),
    ]:
        with pytest.raises(ScriptError) as caught:
            parse_script(script)
        assert str(caught.value).startswith(message)


def test_script_errors_while_running_name_the_line(linked):
    simulator, bridge = linked()
    with pytest.raises(ScriptError, match="^line 2: room 101 has no guest"):
        simulator.run_script("checkin 102 Doe\nmove 101 103\ncheckin 104 Never")
    assert [record.get("RN") for record in bridge.sync()] == ["102"]


def test_script_swap_drop_and_wait_link(linked, connect):
    simulator, bridge = linked()
    simulator.run_script("checkin 101 Doe\nswap")
    assert [record.type for record in bridge.until("DE")] == ["GI", "DS", "GI", "DE"]
    runner = threading.Thread(target=simulator.run_script, args=("drop\nwait-link 5\ncheckin 102 Roe",))
    runner.start()
    assert bridge.closed_by_peer()
    again = connect(simulator)
    again.handshake()
    assert again.receive().get("RN") == "102"
    runner.join(WAIT)
    with pytest.raises(ScriptError, match="line 2: the bridge did not complete the link"):
        simulator.run_script("drop\nwait-link 0")


# --------------------------------------------------------------------------- random activity


class Occupancy:
    """Who is in which room, as a bridge derives it from live records (the FIAS notes' rules)."""

    def __init__(self) -> None:
        self.rooms: dict[str, set[str]] = collections.defaultdict(set)

    def apply(self, record: Record) -> None:
        room, reservation = record.get("RN"), record.get("G#")
        if record.type == "GI":
            self.rooms[room].add(reservation)
        elif record.type == "GO":
            self.rooms[room] = self.rooms[room] - {reservation} if reservation else set()
        elif record.type == "GC" and "RO" in record:
            self.rooms[record.get("RO")].discard(reservation)
            self.rooms[room].add(reservation)
        elif record.type in ("WR", "RE"):
            assert self.rooms[room], f"{record.type} for vacant room {room}"

    def occupied(self) -> dict[str, set[str]]:
        return {room: guests for room, guests in self.rooms.items() if guests}


def live_records(records: list[Record]) -> list[Record]:
    return [record for record in records if not record.has_flag("SF") and record.type not in ("DS", "DE")]


def test_random_activity_keeps_records_and_hotel_consistent(linked):
    simulator, bridge = linked(encoding="cp850")
    simulator.start_random_activity(interval=0.002, seed=7)
    records: list[Record] = []
    while len(records) < 120:
        records.append(bridge.receive())
        if len(records) % 40 == 0:
            bridge.send(database_resync_request(NOW))
    simulator.stop_random_activity()
    # Every swap asked for is complete before the answer to the alive check.
    records += bridge.sync()
    assert [record.type for record in records].count("DE") == 3
    # No live record ever falls between DS and DE.
    inside = False
    for record in records:
        if record.type in ("DS", "DE"):
            inside = record.type == "DS"
        elif inside:
            assert record.type == "GI" and record.has_flag("SF")
    live = live_records(records)
    assert {record.type for record in live} >= {"GI", "GO"}
    occupancy = Occupancy()
    for record in live:
        occupancy.apply(record)
    hotel = simulator.hotel
    in_house = {room: {guest.reservation for guest in guests} for room, guests in hotel.rooms.items() if guests}
    assert occupancy.occupied() == in_house
    assert all(not hotel.dnd[room] and not hotel.wakeups[room] for room in hotel.vacant_rooms())


def test_a_swap_mixed_with_live_records_never_resends_a_guest_who_left(linked):
    simulator, bridge = linked(swap_mixes_live=True, swap_record_pause=0.001)
    simulator.run_script("\n".join(f"checkin {room} Guest{room}" for room in ROOMS[:20]))
    simulator.start_random_activity(interval=0.001, seed=3)
    records: list[Record] = []
    asked = 0
    while len(records) < 150:
        records.append(bridge.receive())
        if len(records) % 50 == 0:
            bridge.send(database_resync_request(NOW))
            asked += 1
    simulator.stop_random_activity()
    while [record.type for record in records].count("DE") < asked:
        records.append(bridge.receive())
    records += bridge.sync()
    occupancy = Occupancy()
    resent = 0
    for record in records:
        if record.has_flag("SF"):
            assert record.get("G#") in occupancy.rooms[record.get("RN")], f"stale {record}"
            resent += 1
        elif record.type not in ("DS", "DE"):
            occupancy.apply(record)
    assert resent and [record.type for record in records].count("DS") == asked


def test_random_activity_repeats_with_a_seed_and_fits_the_encoding(make_sim):
    def run(encoding: str, seed: int) -> tuple[list[str | None], set[str]]:
        simulator = make_sim(encoding=encoding)
        activity = RandomActivity(simulator, 1.0, seed)
        steps, names = [], set()
        for _ in range(150):
            steps.append(activity.step())
            names |= {name for _, guest in simulator.hotel.in_house() for name in (guest.last_name, guest.first_name)}
        return steps, names

    steps, utf8_names = run("utf-8", 11)
    assert steps == run("utf-8", 11)[0]
    assert sum(step is not None for step in steps) > 100
    assert any(not _encodable(name, "cp1252") for name in utf8_names)
    _, cp1252_names = run("cp1252", 11)
    assert any(not name.isascii() for name in cp1252_names)
    assert all(_encodable(name, "cp1252") for name in cp1252_names)


def _encodable(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


# --------------------------------------------------------------------------- command line


def test_room_ranges():
    assert parse_rooms("101-103,PH1, 0201-0202") == ["101", "102", "103", "PH1", "0201", "0202"]
    with pytest.raises(argparse.ArgumentTypeError, match="backwards"):
        parse_rooms("140-101")


def test_arguments_have_the_documented_defaults():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([])
    assert (args.host, args.port, args.encoding, args.mode, args.posting_answer) == (
        "127.0.0.1", 5010, "cp1252", "server", "OK")
    assert args.rooms == ROOMS and args.random is None and args.script is None
    args = parser.parse_args(["--random", "--posting-answer", "none", "--rooms", "1-2"])
    assert (args.random, args.posting_answer, args.rooms) == (2.0, None, ["1", "2"])


RUN_SIMULATOR = """
import argparse, sys
from pmsbridge.sim.fias.cli import add_arguments, run_simulator
parser = argparse.ArgumentParser()
add_arguments(parser)
sys.exit(run_simulator(parser.parse_args(sys.argv[1:])))
"""


def test_the_command_runs_a_script_and_stops_on_sigterm(tmp_path):
    script = tmp_path / "arrivals.fias"
    script.write_text("wait-link 20\ncheckin 101 Müller Anna res=R9\n", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-c", RUN_SIMULATOR, "--port", "0", "--script", str(script)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    try:
        first = lines.get(timeout=20)
        assert first.startswith("FIAS simulator listening on 127.0.0.1:")
        port = int(first.split("127.0.0.1:")[1].split()[0])
        bridge = Bridge.connect(port)
        bridge.handshake()
        check_in = bridge.receive()
        assert (check_in.type, check_in.get("GN"), check_in.get("G#")) == ("GI", "Müller", "R9")
        printed = []
        deadline = time.monotonic() + 20
        while not any("done" in line for line in printed) and time.monotonic() < deadline:
            printed.append(lines.get(timeout=20))
        assert any(line.startswith("-> GI|RN101|G#R9|GNMüller") for line in printed)
        process.send_signal(signal.SIGTERM)
        assert bridge.expect("LE")
        bridge.send(link_end(NOW))
        assert process.wait(timeout=20) == 0
        bridge.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_command_refuses_a_bad_script_before_starting(tmp_path):
    script = tmp_path / "broken.fias"
    script.write_text("checkin 101 Doe\nteleport 101\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", RUN_SIMULATOR, "--port", "0", "--script", str(script)],
                            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "line 2: unknown command 'teleport'" in result.stderr
