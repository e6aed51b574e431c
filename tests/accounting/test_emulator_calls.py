"""The PBX emulator's calls: call records as cdrapi returns them, /sim/calls, wake-up calls that
fall due, random traffic, and event reports pushed to the login's url."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from pmsbridge.accounting.cdr import call_legs
from pmsbridge.cli import build_parser
from pmsbridge.command_errors import CommandError
from pmsbridge.pbx.client import PbxClient
from pmsbridge.sim.pbx.cli import run_emulator
from pmsbridge.sim.pbx.state import Wakeup
from tests.helpers import pbx_settings_for, wait_for


@pytest.fixture
def client(emulator):
    with PbxClient(pbx_settings_for(emulator)) as client:
        yield client


def records(client: PbxClient) -> list[dict]:
    return list(client.cdr())


def occupy(emulator, room: str) -> None:
    emulator.state.change_room(room, guest={"lastname": "Doe"})


def test_calls_are_recorded_the_way_a_real_unit_writes_them(emulator, client):
    start = dt.datetime(2026, 11, 27, 10, 0, 0)
    emulator.place_call("101", "00442079460000", talk=65, ring=7, start=start, trunk="sip-out")
    emulator.place_call("00441632960000", "1102", talk=30, start=start)
    emulator.place_call("101", "102", disposition="NO ANSWER", talk=99, start=start)
    outbound, inbound, internal = records(client)
    assert {key: outbound[key] for key in ("userfield", "channel_ext", "src", "dst", "dst_trunk_name", "dcontext",
                                          "disposition", "billsec", "duration", "start", "answer", "end")} == {
        "userfield": "Outbound", "channel_ext": "1101", "src": "1101", "dst": "00442079460000",
        "dst_trunk_name": "sip-out", "dcontext": "outbound-route-1", "disposition": "ANSWERED", "billsec": "65",
        "duration": "72", "start": "2026-11-27 10:00:00", "answer": "2026-11-27 10:00:07",
        "end": "2026-11-27 10:01:12"}
    assert all(isinstance(value, str) for value in outbound.values())
    assert (inbound["userfield"], inbound["src_trunk_name"], inbound["dst"], inbound["channel_ext"]) == (
        "Inbound", "trunk-1", "1102", "")
    assert (internal["userfield"], internal["dst"], internal["billsec"], internal["answer"]) == (
        "Internal", "1102", "0", "")
    assert len({outbound["uniqueid"], inbound["uniqueid"], internal["uniqueid"]}) == 3
    with pytest.raises(ValueError, match="neither"):
        emulator.place_call("0049", "0044")


def test_a_call_can_be_stored_as_a_group(emulator, client):
    emulator.place_call("101", "0301234567", talk=20, group=True)
    [entry] = records(client)
    assert set(entry) == {"cdr", "main_cdr", "sub_cdr_1"}
    assert entry["cdr"] == entry["main_cdr"]["session"] == entry["sub_cdr_1"]["session"]
    assert entry["sub_cdr_1"]["dst"] == "0301234567" and entry["sub_cdr_1"]["AcctId"] == "1"


def test_a_transfer_is_stored_in_a_real_units_shape(emulator, client):
    """{"cdr": session, "main_cdr": a mostly blank summary, "sub_cdr_1": leg, "sub_cdr_2": leg}."""
    start = dt.datetime(2026, 11, 27, 10, 0, 0)
    emulator.place_call("101", "00442079460000", talk=65, ring=7, start=start, transfer_to="102", transfer_talk=30)
    [entry] = records(client)
    assert set(entry) == {"cdr", "main_cdr", "sub_cdr_1", "sub_cdr_2"}
    main, first, second = entry["main_cdr"], entry["sub_cdr_1"], entry["sub_cdr_2"]
    kept = {"src", "dst", "start", "duration", "billsec", "session", "action_type"}
    assert {name: value for name, value in main.items() if value} == {
        "src": "1101", "dst": "1102", "start": "2026-11-27 10:00:00", "duration": str(72 + 32), "billsec": "95",
        "session": entry["cdr"], "action_type": "DIAL"}
    assert main["AcctId"] == "" and set(main) >= kept and set(main) == set(first)
    # The legs: full records with AcctIds of their own and one uniqueid between them.
    assert first["uniqueid"] == second["uniqueid"] and first["session"] == second["session"] == entry["cdr"]
    assert (first["AcctId"], second["AcctId"]) == ("1", "2")
    assert (first["userfield"], first["dst"], first["billsec"]) == ("Outbound", "00442079460000", "65")
    assert (second["userfield"], second["dst"], second["billsec"], second["start"]) == (
        "Internal", "1102", "30", "2026-11-27 10:01:12")
    with pytest.raises(ValueError, match="only an answered call"):
        emulator.place_call("101", "0301234567", disposition="BUSY", transfer_to="102")


def test_acct_ids_start_again_every_month(emulator, client):
    for start in ("2026-11-29 10:00:00", "2026-11-30 10:00:00", "2026-12-01 00:00:05", "2026-12-01 10:00:00"):
        emulator.place_call("101", "0301234567", talk=20, start=dt.datetime.fromisoformat(start))
    assert [entry["AcctId"] for entry in records(client)] == ["1", "2", "1", "2"]


def test_calls_over_http(emulator, client):
    answer = requests.post(emulator.url + "/sim/calls", verify=emulator.cert_path, timeout=5,
                           json={"from": "103", "to": "0049891234", "talk": 42, "start": "2026-11-27 09:00:00"})
    assert answer.status_code == 200 and answer.json()["stored"]["billsec"] == "42"
    wakeup = requests.post(emulator.url + "/sim/calls", verify=emulator.cert_path, timeout=5,
                           json={"wakeup": "103", "disposition": "BUSY"})
    assert wakeup.json()["stored"]["action_type"] == "WAKEUP"
    for body, status in (({"from": "103"}, 400), ({"from": "103", "to": "0049", "talk": "long"}, 400),
                         ({"wakeup": "999"}, 404), ({"from": "103", "to": "0049", "disposition": "MAYBE"}, 400)):
        assert requests.post(emulator.url + "/sim/calls", json=body, verify=emulator.cert_path,
                             timeout=5).status_code == status
    assert [entry["dst"] for entry in records(client)] == ["0049891234", "1103"]


def test_due_wakeups_ring_once_and_single_ones_are_then_gone(emulator):
    now = emulator.local_now()
    occupy(emulator, "101")
    occupy(emulator, "102")
    earlier = now - dt.timedelta(minutes=1)
    with emulator.state.lock:
        emulator.state.rooms["101"].wakeups.append(Wakeup(earlier.strftime("%H%M"), 1, earlier.strftime("%Y%m%d")))
        emulator.state.rooms["102"].wakeups.append(Wakeup(earlier.strftime("%H%M"), 2))
        later = now + dt.timedelta(hours=1)
        emulator.state.rooms["101"].wakeups.append(Wakeup(later.strftime("%H%M"), 1, later.strftime("%Y%m%d")))
    rung = emulator.ring_due_wakeups("NO ANSWER")
    assert sorted((record["dst"], record["disposition"]) for record in rung) == [("1101", "NO ANSWER"),
                                                                                 ("1102", "NO ANSWER")]
    assert emulator.ring_due_wakeups() == []
    summary = emulator.state.snapshot()["rooms"]
    assert [wakeup["time"] for wakeup in summary["101"]["wakeups"]] == [later.strftime("%H%M")]
    assert len(summary["102"]["wakeups"]) == 1  # a daily one stays


def test_random_activity_makes_calls_and_rings_wakeups(emulator):
    occupy(emulator, "105")
    earlier = emulator.local_now() - dt.timedelta(minutes=1)
    with emulator.state.lock:
        emulator.state.rooms["105"].wakeups.append(Wakeup(earlier.strftime("%H%M"), 1, earlier.strftime("%Y%m%d")))
    emulator.start_random_activity(interval=0.01, seed=7)

    def legs() -> list[dict]:
        return [leg.record for entry in emulator.state.select_cdr(None, 0, 1000) for leg in call_legs(entry)]

    try:
        # Enough calls, one of them a transfer (two legs of one uniqueid).
        wait_for(lambda: len(calls := legs()) >= 20 and len({leg["uniqueid"] for leg in calls}) < len(calls))
    finally:
        emulator.stop_random_activity()
    calls = legs()
    assert any(record.get("action_type") == "WAKEUP" and record["dst"] == "1105" for record in calls)
    assert any(record.get("userfield") == "Outbound" and record["channel_ext"] == "1105" for record in calls)
    assert {record["userfield"] for record in calls} >= {"Outbound", "Internal", "Inbound"}


class ReportReceiver:
    def __init__(self) -> None:
        self.reports: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.reports.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/pbx/report"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def test_reports_go_to_the_url_of_the_login(emulator):
    receiver = ReportReceiver()
    try:
        emulator.state.set_status("1101", "Busy")  # nobody to tell yet
        with PbxClient(pbx_settings_for(emulator, report_url=receiver.url)) as client:
            client.login()
        emulator.state.set_status("1101", "Ringing")
        emulator.place_call("102", "0049891234", talk=10)
        wait_for(lambda: len(receiver.reports) == 4)
    finally:
        receiver.close()
    assert [(report["action"], report.get("extension"), report.get("status")) for report in receiver.reports] == [
        ("ExtensionStatus", "1101", "Ringing"), ("ExtensionStatus", "1102", "InUse"),
        ("ExtensionStatus", "1102", "Idle"), ("CallEnd", None, None)]
    assert emulator.reports.delivered == 4


def test_the_command_line_takes_a_time_zone_and_random_calls():
    args = build_parser().parse_args(["sim", "pbx", "--timezone", "Europe/Berlin", "--random-calls", "2.5"])
    assert (args.timezone, args.random_calls) == ("Europe/Berlin", 2.5)
    for bad in (["--random-calls", "0"], ["--timezone", "Mars/Olympus"]):
        with pytest.raises(CommandError):
            run_emulator(build_parser().parse_args(["sim", "pbx", "--port", "0", *bad]))
