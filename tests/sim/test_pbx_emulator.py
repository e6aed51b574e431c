"""The FCM630A emulator, driven over real HTTPS on 127.0.0.1 with ``requests``."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pmsbridge.sim.pbx import EmulatorOptions, Faults, PbxEmulator
from pmsbridge.sim.pbx.errors import ApiError

PMS_TOKEN = hashlib.md5(b"pmspms-secret").hexdigest()
CHECKIN = {
    "room": "101",
    "account": "4711",
    "firstname": "John",
    "lastname": "Doe",
    "language": "EN",
    "vipcode": "1",
    "datein": "2024/05/01 14:00",
    "dateout": "2024/05/04 11:00",
    "credit": "500",
    "cos": "3",
}


def wait_until(condition, timeout: float = 5.0, interval: float = 0.02):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)


class ApiClient:
    """A minimal client of the emulator's API over one keep-alive session."""

    def __init__(self, emulator: PbxEmulator):
        self.emulator = emulator
        self.session = requests.Session()
        # The environment may name a CA bundle or a proxy; this client wants neither.
        self.session.trust_env = False
        self.cookie: str | None = None

    def post(self, path: str, payload: object, timeout: float = 10.0) -> requests.Response:
        return self.session.post(self.emulator.url + path, json=payload, verify=str(self.emulator.cert_path),
                                 timeout=timeout)

    def call(self, action: str, **fields: object) -> dict:
        response = self.post("/api", {"request": {"action": action, **fields}})
        assert response.status_code == 200
        return response.json()

    def api(self, action: str, **fields: object) -> dict:
        return self.call(action, cookie=self.cookie, **fields)

    def login(self, password: str = "cdrapi-secret") -> dict:
        challenge = self.call("challenge", user="cdrapi", version="1.0")
        if challenge["status"] != 0:
            return challenge
        token = hashlib.md5((challenge["response"]["challenge"] + password).encode()).hexdigest()
        answer = self.call("login", user="cdrapi", token=token)
        if answer["status"] == 0:
            self.cookie = answer["response"]["cookie"]
        return answer

    def pms(self, operation: str, data_format: str = "xml", **fields: str) -> dict:
        if data_format == "xml":
            elements = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in fields.items())
            data = f"<pms_data_request><{operation}>{elements}</{operation}></pms_data_request>"
        else:
            data = json.dumps({operation: fields})
        return self.pms_raw(data, data_format)

    def pms_raw(self, data: str, data_format: str = "xml", token: str = PMS_TOKEN) -> dict:
        return self.api("pmsapi", token=token, format=data_format, data=data)

    def state(self) -> dict:
        response = self.session.get(self.emulator.url + "/sim/state", verify=str(self.emulator.cert_path), timeout=10)
        assert response.status_code == 200
        return response.json()

    def close(self) -> None:
        self.session.close()


def start_emulator(**options: object) -> PbxEmulator:
    settings = {"rooms": 10, "extension_template": "1{room}"} | options
    return PbxEmulator(EmulatorOptions(**settings)).start()


@pytest.fixture
def emulator() -> Iterator[PbxEmulator]:
    emu = start_emulator()
    yield emu
    emu.stop()


@pytest.fixture
def client(emulator: PbxEmulator) -> Iterator[ApiClient]:
    api = ApiClient(emulator)
    assert api.login()["status"] == 0
    yield api
    api.close()


def error_text(answer: dict, key: str = "error") -> str:
    assert answer["status"] == -1, answer
    return answer["response"][key]


# -- server, certificate, life cycle -----------------------------------------------------


def test_start_serves_https_with_a_pinnable_self_signed_certificate(emulator: PbxEmulator) -> None:
    assert re.fullmatch(r"https://127\.0\.0\.1:\d+", emulator.url)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", emulator.fingerprint)
    pem = ssl.get_server_certificate(("127.0.0.1", emulator.port))
    served = x509.load_pem_x509_certificate(pem.encode())
    digest = hashlib.sha256(served.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert emulator.fingerprint == f"sha256:{digest}"
    on_disk = x509.load_pem_x509_certificate(emulator.cert_path.read_bytes())
    assert on_disk == served
    names = on_disk.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_a_state_dir_keeps_the_certificate_across_restarts(tmp_path) -> None:
    first = start_emulator(state_dir=tmp_path)
    fingerprint = first.fingerprint
    first.stop()
    second = start_emulator(state_dir=tmp_path)
    try:
        assert second.fingerprint == fingerprint
        assert second.cert_path.parent == tmp_path
    finally:
        second.stop()


def test_stop_closes_kept_alive_connections_and_joins_threads(tmp_path) -> None:
    emu = start_emulator(state_dir=tmp_path)
    api = ApiClient(emu)
    assert api.login()["status"] == 0
    emu.stop()
    emu.stop()
    with pytest.raises(requests.ConnectionError):
        api.api("getSystemStatus")
    assert not [t for t in threading.enumerate() if t.name.startswith("pbx-emulator")]


def test_context_manager_starts_and_stops() -> None:
    with PbxEmulator(EmulatorOptions(rooms=1)) as emu:
        api = ApiClient(emu)
        assert api.login()["status"] == 0
        cert_dir = emu.cert_path.parent
    assert not cert_dir.exists()


def test_rooms_are_numbered_from_101_with_templated_extensions() -> None:
    emu = PbxEmulator(EmulatorOptions(rooms=2000, extension_template="1{room}"))
    rooms = list(emu.state.rooms)
    assert rooms[0] == "101" and rooms[-1] == "2100" and len(rooms) == 2000
    assert emu.state.rooms["2100"].extension == "12100"
    explicit = PbxEmulator(EmulatorOptions(extensions=["2001", "2002"]))
    assert {room: r.extension for room, r in explicit.state.rooms.items()} == {"2001": "2001", "2002": "2002"}
    with pytest.raises(ValueError):
        EmulatorOptions(extension_template="1{rooom}")


# -- login, cookies, blacklist, rate limit ----------------------------------------------


def test_challenge_and_login_give_a_cookie(emulator: PbxEmulator) -> None:
    api = ApiClient(emulator)
    challenge = api.call("challenge", user="cdrapi", version="1.0")
    assert challenge["status"] == 0
    assert re.fullmatch(r"\d{16}", challenge["response"]["challenge"])
    token = hashlib.md5((challenge["response"]["challenge"] + "cdrapi-secret").encode()).hexdigest()
    answer = api.call("login", user="cdrapi", token=token, url="http://127.0.0.1:8070/events")
    assert answer["status"] == 0
    assert re.fullmatch(r"sid\d+-\d+", answer["response"]["cookie"])
    api.cookie = answer["response"]["cookie"]
    assert api.api("getSystemStatus")["status"] == 0
    assert api.state()["report_url"] == "http://127.0.0.1:8070/events"
    assert emulator.counters() == {"challenge": 1, "login": 1, "getSystemStatus": 1}


def test_a_challenge_answers_only_once(emulator: PbxEmulator) -> None:
    api = ApiClient(emulator)
    challenge = api.call("challenge", user="cdrapi")["response"]["challenge"]
    token = hashlib.md5((challenge + "cdrapi-secret").encode()).hexdigest()
    assert api.call("login", user="cdrapi", token=token)["status"] == 0
    assert api.call("login", user="cdrapi", token=token)["status"] == -37


def test_requests_without_a_live_cookie_answer_minus_6(client: ApiClient) -> None:
    assert client.call("getSystemStatus")["status"] == -6
    assert client.call("getSystemStatus", cookie="sid1-1")["status"] == -6
    assert client.call("pmsapi", cookie="sid1-1", token=PMS_TOKEN, data="<x/>")["status"] == -6


def test_an_idle_cookie_expires() -> None:
    emu = start_emulator(cookie_idle_timeout=0.2)
    try:
        api = ApiClient(emu)
        assert api.login()["status"] == 0
        time.sleep(0.5)  # idleness is the point: no request may refresh the cookie meanwhile
        assert api.api("getSystemStatus")["status"] == -6
        assert api.api("getSystemStatus")["status"] == -6
        assert api.login()["status"] == 0
        assert api.api("getSystemStatus")["status"] == 0
    finally:
        emu.stop()


def test_expire_cookies_logs_every_client_out(emulator: PbxEmulator, client: ApiClient) -> None:
    other = ApiClient(emulator)
    assert other.login()["status"] == 0
    emulator.expire_cookies()
    assert client.api("listAccount")["status"] == -6
    assert other.api("listAccount")["status"] == -6
    assert client.login()["status"] == 0
    assert client.api("listAccount")["status"] == 0


def test_wrong_credentials_count_down_then_ban_the_address() -> None:
    emu = start_emulator(max_login_failures=3, ban_seconds=1.0)
    try:
        api = ApiClient(emu)
        first = api.login(password="wrong")
        assert first["status"] == -37 and first["response"]["remain_num"] == 2
        wrong_user = api.call("challenge", user="admin")
        assert wrong_user["status"] == -37 and wrong_user["response"]["remain_num"] == 1
        last = api.login(password="wrong")
        assert last["status"] == -37
        assert last["response"]["remain_num"] == 0 and last["response"]["remain_time"] == 1
        banned = api.login()
        assert banned["status"] == -37 and banned["response"]["remain_time"] >= 1
        assert api.call("getSystemStatus")["status"] == -37
        assert wait_until(lambda: api.login()["status"] == 0)
        assert api.api("getSystemStatus")["status"] == 0
    finally:
        emu.stop()


def test_a_good_login_resets_the_failure_count() -> None:
    emu = start_emulator(max_login_failures=2)
    try:
        api = ApiClient(emu)
        assert api.login(password="wrong")["response"]["remain_num"] == 1
        assert api.login()["status"] == 0
        assert api.login(password="wrong")["response"]["remain_num"] == 1
    finally:
        emu.stop()


def test_too_many_requests_per_second_answer_minus_45() -> None:
    emu = start_emulator(rate_limit=5)
    try:
        api = ApiClient(emu)
        wait_until(lambda: api.login()["status"] == 0)
        statuses = [api.api("getSystemStatus")["status"] for _ in range(30)]
        assert -45 in statuses
        assert set(statuses) <= {0, -45}
        assert wait_until(lambda: api.api("getSystemStatus")["status"] == 0)
        assert emu.counters()["getSystemStatus"] == statuses.count(0) + 1
    finally:
        emu.stop()


def test_unknown_actions_and_malformed_bodies(client: ApiClient) -> None:
    assert client.api("listVoIPTrunk")["status"] == -19
    not_json = client.session.post(client.emulator.url + "/api", data=b"{nope", verify=str(client.emulator.cert_path))
    assert not_json.status_code == 200 and not_json.json()["status"] == -1
    assert client.post("/api", {"action": "challenge"}).json()["status"] == -1
    assert client.call("challenge")["status"] == -1


# -- system ------------------------------------------------------------------------------


def test_system_status_and_versions(client: ApiClient) -> None:
    status = client.api("getSystemStatus")["response"]
    assert re.fullmatch(r"\d{2,}:\d{2}:\d{2}", status["up-time"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC[+-]\d{2}:\d{2}", status["system-time"])
    versions = client.api("getSystemGeneralStatus")["response"]
    assert versions["product-model"] == "FCM630A V1.5A"
    assert versions["prog-version"] == "1.0.20.13"


# -- extensions and users ----------------------------------------------------------------


def test_list_account_pages_sorts_and_picks_fields(client: ApiClient) -> None:
    everything = client.api("listAccount")["response"]
    assert everything["total_item"] == 10 and everything["total_page"] == 1 and everything["page"] == 1
    first = everything["account"][0]
    assert first == {
        "extension": "1101", "account_type": "SIP", "fullname": None, "out_of_service": "no",
        "status": "Idle", "addr": first["addr"], "urgemsg": 0, "newmsg": 0, "oldmsg": 0,
    }
    assert re.fullmatch(r"127\.0\.0\.1:\d+", first["addr"])
    page = client.api("listAccount", page="2", item_num="4", sidx="extension", sord="acs",
                      options="extension,status")["response"]
    assert page["total_page"] == 3 and page["page"] == 2 and page["total_item"] == 10
    assert page["account"] == [{"extension": f"110{i}", "status": "Idle"} for i in range(5, 9)]
    descending = client.api("listAccount", page=1, item_num=3, sord="desc", options="extension")["response"]
    assert [row["extension"] for row in descending["account"]] == ["1110", "1109", "1108"]
    assert client.api("listAccount", page="3", item_num="4")["response"]["account"][-1]["extension"] == "1110"
    assert client.api("listAccount", item_num="0")["status"] == -1
    assert client.api("listAccount", sord="sideways")["status"] == -1


def test_extension_status_and_out_of_service_show_in_list_account(emulator: PbxEmulator, client: ApiClient) -> None:
    emulator.state.set_status("1102", "InUse")
    emulator.state.set_status("1103", "Unavailable")
    emulator.state.set_out_of_service("104", "yes")
    rows = {row["extension"]: row for row in client.api("listAccount")["response"]["account"]}
    assert rows["1102"]["status"] == "InUse"
    assert rows["1103"]["status"] == "Unavailable" and rows["1103"]["addr"] == "-"
    assert rows["1104"]["out_of_service"] == "yes"
    with pytest.raises(ApiError):
        emulator.state.set_status("1102", "Sleeping")


def test_user_changes_take_effect_only_after_apply_changes(emulator: PbxEmulator, client: ApiClient) -> None:
    user = client.api("getUser", user_name="1101")["response"]["user_name"]
    assert user["user_name"] == "1101" and user["first_name"] is None and isinstance(user["user_id"], int)
    answer = client.api("updateUser", user_name="1101", first_name="Ada", last_name="Lovelace", language="en")
    assert answer == {"response": {"need_apply": "yes"}, "status": 0}
    assert client.api("getUser", user_name="1101")["response"]["user_name"]["first_name"] is None
    assert client.api("listAccount", options="fullname", item_num="1")["response"]["account"] == [{"fullname": None}]
    emulator.set_faults(apply_blocked=True)
    assert client.api("applyChanges")["status"] == -69
    emulator.set_faults(apply_blocked=False)
    assert client.api("applyChanges") == {"response": {"settings": "0"}, "status": 0}
    user = client.api("getUser", user_name="1101")["response"]["user_name"]
    assert (user["first_name"], user["last_name"], user["language"]) == ("Ada", "Lovelace", "en")
    assert client.api("listAccount", options="fullname", item_num="1")["response"]["account"] == [
        {"fullname": "Ada Lovelace"}]
    assert client.api("getUser", user_name="9999")["status"] == -16
    assert client.api("updateUser", user_name="1101", privilege="0")["status"] == -19
    assert client.api("updateUser", user_name="1101", user_id="999", first_name="X")["status"] == -1


def test_list_user_pages_users(client: ApiClient) -> None:
    page = client.api("listUser", item_num="3", page="1", sidx="extension", sord="asc",
                      options="first_name")["response"]
    assert page["total_item"] == 10 and page["total_page"] == 4
    assert page["user"][0] == {"user_id": 1, "user_name": "1101", "privilege": 3, "first_name": None}


def test_sip_account_settings_are_staged_until_applied(client: ApiClient) -> None:
    account = client.api("getSIPAccount", extension="1101")["response"]
    settings = account["extension"]
    assert (settings["extension"], settings["dnd"], settings["permission"], settings["cfu"]) == (
        "1101", "no", "internal", None)
    assert [entry["presence_status"] for entry in account["sip_presence_settings"]][0] == "available"
    answer = client.api("updateSIPAccount", extension="1101", dnd="yes", cfu="1105",
                        permission="internal-local-national")
    assert answer["status"] == 0 and answer["response"]["need_apply"] == "yes"
    assert client.api("getSIPAccount", extension="1101")["response"]["extension"]["dnd"] == "no"
    assert client.api("applyChanges")["status"] == 0
    account = client.api("getSIPAccount", extension="1101")["response"]
    assert account["extension"]["dnd"] == "yes"
    assert account["extension"]["permission"] == "internal-local-national"
    assert account["sip_presence_settings"][0]["cfu"] == "1105"
    assert account["sip_presence_settings"][0]["cfu_destination_type"] == "1"
    assert client.api("updateSIPAccount", extension="1101", permission="everything")["status"] == -1
    assert client.api("updateSIPAccount", extension="1101", dnd="maybe")["status"] == -1
    assert client.api("updateSIPAccount", extension="1101", secret="x")["status"] == -19
    assert client.api("getSIPAccount", extension="4242")["status"] == -16


# -- call records ------------------------------------------------------------------------


def test_cdrapi_pages_and_filters_stored_records(emulator: PbxEmulator, client: ApiClient) -> None:
    for minute in range(25):
        emulator.state.add_cdr({"start": f"2024-05-01 10:{minute:02d}:00", "src": "1101", "billsec": "5"})
    emulator.state.add_cdr({"cdr": "s-1", "main_cdr": {"AcctId": "", "start": "2024-05-02 09:00:00"},
                            "sub_cdr_1": {"start": "2024-05-02 09:00:00"}})
    everything = client.api("cdrapi", format="json")
    assert set(everything) == {"cdr_root"} and len(everything["cdr_root"]) == 26
    assert everything["cdr_root"][0]["AcctId"] == "1"
    page = client.api("cdrapi", format="json", numRecords="10", offset="20")["cdr_root"]
    assert [row.get("start") for row in page[:5]] == [f"2024-05-01 10:{m}:00" for m in range(20, 25)]
    assert len(page) == 6
    later = client.api("cdrapi", format="json", startTime="2024-05-01T10:23")["cdr_root"]
    assert len(later) == 3 and "main_cdr" in later[-1]
    until = client.api("cdrapi", format="json", endTime="2024-05-01T10:01:00")["cdr_root"]
    assert len(until) == 2
    assert client.api("cdrapi", format="json", numRecords="1001")["status"] == -1
    assert client.api("cdrapi", format="yaml")["status"] == -1
    assert client.api("cdrapi", format="json", caller="1101")["status"] == -19
    assert client.state()["cdr_count"] == 26


def test_cdrapi_answers_in_every_format_the_guide_allows(emulator: PbxEmulator, client: ApiClient) -> None:
    """No format is csv, the guide's default; the format's name is read in any case."""
    emulator.state.add_cdr({"start": "2024-05-01 10:00:00", "src": "1101", "clid": '"Guest, A." <1101>'})
    emulator.state.add_cdr({"cdr": "s-1", "main_cdr": {"AcctId": "", "start": "2024-05-02 09:00:00"},
                            "sub_cdr_1": {"start": "2024-05-02 09:00:00", "src": "1102"}})
    assert client.api("cdrapi", format="JSON")["cdr_root"][0]["src"] == "1101"
    for options, content_type in (({}, "text/csv"), ({"format": "Csv"}, "text/csv")):
        answer = client.post("/api", {"request": {"action": "cdrapi", "cookie": client.cookie, **options}})
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith(content_type)
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        assert list(rows[0])[:4] == ["AcctId", "accountcode", "src", "dst"]
        assert [(row["AcctId"], row["src"], row["start"]) for row in rows] == [
            ("1", "1101", "2024-05-01 10:00:00"), ("", "", "2024-05-02 09:00:00"), ("2", "1102", "2024-05-02 09:00:00")]
        assert rows[0]["clid"] == '"Guest, A." <1101>'
    answer = client.post("/api", {"request": {"action": "cdrapi", "cookie": client.cookie, "format": "XML"}})
    assert answer.headers["Content-Type"].startswith("application/xml")
    root = ElementTree.fromstring(answer.content)
    flat, group = root.findall("cdr")
    assert flat.findtext("src") == "1101"
    assert group.findtext("cdr") == "s-1" and group.find("sub_cdr_1").findtext("AcctId") == "2"
    assert group.find("main_cdr").findtext("AcctId") == ""


# -- pmsapi ------------------------------------------------------------------------------


def test_checkin_names_the_extension_and_sets_the_class_of_service(client: ApiClient) -> None:
    assert client.pms("checkin", address="1101", **CHECKIN) == {"response": {}, "status": 0}
    rows = client.api("listAccount", options="extension,fullname", item_num="1")["response"]["account"]
    assert rows == [{"extension": "1101", "fullname": "John Doe"}]
    user = client.api("getUser", user_name="1101")["response"]["user_name"]
    assert (user["first_name"], user["last_name"], user["language"]) == ("John", "Doe", "EN")
    assert client.api("getSIPAccount", extension="1101")["response"]["extension"]["permission"] == (
        "internal-local-national")
    room = client.state()["rooms"]["101"]
    assert room["occupied"] and room["guest"]["account"] == "4711" and room["guest"]["dateout"] == "2024/05/04 11:00"


def test_checkin_validation(client: ApiClient) -> None:
    without_departure = {key: value for key, value in CHECKIN.items() if key != "dateout"}
    assert error_text(client.pms("checkin", address="1101", **without_departure)) == "missing dateout"
    assert "datein" in error_text(client.pms("checkin", address="1101", **CHECKIN | {"datein": "2024-05-01 14:00"}))
    assert "datein" in error_text(client.pms("checkin", address="1101", **CHECKIN | {"datein": "2024/02/30 14:00"}))
    assert "datein" in error_text(client.pms("checkin", address="1101", **CHECKIN | {"datein": "20240501"}))
    assert "before" in error_text(client.pms("checkin", address="1101", **CHECKIN | {"dateout": "2024/04/01 11:00"}))
    assert "cos" in error_text(client.pms("checkin", address="1101", **CHECKIN | {"cos": "5"}))
    assert "no such extension" in error_text(client.pms("checkin", address="9999", **CHECKIN))
    assert "unknown element" in error_text(client.pms("checkin", address="1101", surname="Doe", **CHECKIN))
    assert client.state()["rooms"]["101"]["occupied"] is False
    assert client.pms("checkin", address="1101", **CHECKIN)["status"] == 0
    assert error_text(client.pms("checkin", address="1101", **CHECKIN)) == "room is already checked in"


def test_json_format_accepts_short_dates(client: ApiClient) -> None:
    fields = CHECKIN | {"datein": "20240501", "dateout": "20240504"}
    assert client.pms("checkin", data_format="json", address="1102", **fields)["status"] == 0
    assert client.state()["extensions"]["1102"]["fullname"] == "John Doe"
    numbers = json.dumps({"checkin": {"address": 1103, "room": 103, "datein": "20240501", "dateout": "20240502",
                                      "cos": 1}})
    assert client.pms_raw(numbers, "json")["status"] == 0
    assert "malformed JSON" in error_text(client.pms_raw("{nope", "json"))
    assert error_text(client.pms_raw("<x/>", "csv")).startswith("unsupported format")


def test_update_changes_an_occupied_room_only(client: ApiClient) -> None:
    assert error_text(client.pms("update", address="1101", room="101", lastname="Roe")) == "room is not checked in"
    client.pms("checkin", address="1101", **CHECKIN)
    assert client.pms("update", address="1101", room="101", lastname="Roe", cos="1")["status"] == 0
    extension = client.state()["extensions"]["1101"]
    assert extension["fullname"] == "John Roe" and extension["permission"] == "internal"
    assert "cos" in error_text(client.pms("update", address="1101", room="101", cos="0"))


def test_move_takes_guest_wakeups_and_dnd_along(client: ApiClient) -> None:
    client.pms("checkin", address="1101", **CHECKIN)
    client.pms("wakeup", address="1101", room="101", w_action="1", w_mode="1", w_date="20240502", w_time="0700")
    client.pms("dnd", address="1101", room="101", status="1")
    assert client.pms("mov", address="1101", room="101", d_address="1102", d_room="102")["status"] == 0
    state = client.state()
    source, destination = state["rooms"]["101"], state["rooms"]["102"]
    assert not source["occupied"] and source["wakeups"] == [] and source["dnd"] is False
    assert state["extensions"]["1101"]["fullname"] is None
    assert destination["occupied"] and destination["guest"]["room"] == "102" and destination["dnd"] is True
    assert destination["wakeups"] == [{"time": "0700", "mode": 1, "date": "20240502"}]
    assert state["extensions"]["1102"]["fullname"] == "John Doe"
    assert client.pms("mov", address="1102", room="102", d_address="1103", r_room="103")["status"] == 0
    assert client.state()["rooms"]["103"]["occupied"]
    assert error_text(client.pms("mov", address="1101", room="101", d_address="1104", d_room="104")) == (
        "room is not checked in")
    client.pms("checkin", address="1104", **CHECKIN | {"room": "104"})
    assert "occupied" in error_text(client.pms("mov", address="1103", room="103", d_address="1104", d_room="104"))
    assert error_text(client.pms("mov", address="1103", room="103", d_address="1105")) == "missing d_room"


def test_checkout_restores_the_extension(client: ApiClient) -> None:
    client.pms("checkin", address="1101", **CHECKIN)
    client.pms("dnd", address="1101", room="101", status="1")
    client.pms("cfu", address="1101", room="101", cfwt="0049301234")
    client.pms("wakeup", address="1101", room="101", w_action="1", w_mode="2", w_time="0630")
    assert client.pms("checkout", address="1101", room="101") == {"response": {}, "status": 0}
    state = client.state()
    room, extension = state["rooms"]["101"], state["extensions"]["1101"]
    assert room == {"extension": "1101", "occupied": False, "guest": None, "wakeups": [], "dnd": False, "cfu": None}
    assert extension["fullname"] is None and extension["permission"] == "internal"
    assert extension["user"]["language"] is None
    assert error_text(client.pms("checkout", address="1101", room="101")) == "room is not checked in"


def test_wakeup_calls(client: ApiClient) -> None:
    wake = {"address": "1101", "room": "101"}
    assert error_text(client.pms("wakeup", **wake, w_action="1", w_date="20240502", w_time="0700")) == (
        "room is not checked in")
    client.pms("checkin", address="1101", **CHECKIN)
    assert client.pms("wakeup", **wake, w_action="1", w_date="20240502", w_time="0700")["status"] == 0
    assert client.pms("wakeup", **wake, w_action="1", w_date="20240502", w_time="0700")["status"] == 0
    assert client.pms("wakeup", **wake, w_action="1", w_mode="2", w_time="0800")["status"] == 0
    assert client.state()["rooms"]["101"]["wakeups"] == [
        {"time": "0700", "mode": 1, "date": "20240502"}, {"time": "0800", "mode": 2, "date": None}]
    assert client.pms("wakeup", **wake, w_action="0", w_date="20240502", w_time="0700")["status"] == 0
    assert client.pms("wakeup", **wake, w_action="0", w_date="20240502", w_time="0700")["status"] == 0
    assert client.state()["rooms"]["101"]["wakeups"] == [{"time": "0800", "mode": 2, "date": None}]
    assert "w_time" in error_text(client.pms("wakeup", **wake, w_action="1", w_date="20240502", w_time="2460"))
    assert "w_date" in error_text(client.pms("wakeup", **wake, w_action="1", w_date="2024052", w_time="0700"))
    assert "w_date" in error_text(client.pms("wakeup", **wake, w_action="1", w_date="20241301", w_time="0700"))
    assert "w_mode" in error_text(client.pms("wakeup", **wake, w_action="1", w_mode="3", w_time="0700"))
    assert "w_action" in error_text(client.pms("wakeup", **wake, w_action="2", w_time="0700"))
    assert error_text(client.pms("wakeup", **wake, w_action="1", w_time="0700")) == "missing w_date"


def test_dnd_and_call_forward(client: ApiClient) -> None:
    assert error_text(client.pms("dnd", address="1101", room="101", status="1")) == "room is not checked in"
    client.pms("checkin", address="1101", **CHECKIN)
    assert client.pms("dnd", address="1101", room="101", status="1")["status"] == 0
    assert client.api("getSIPAccount", extension="1101")["response"]["extension"]["dnd"] == "yes"
    assert "status" in error_text(client.pms("dnd", address="1101", room="101", status="2"))
    assert client.pms("dnd", address="1101", room="101", status="0")["status"] == 0
    assert client.pms("cfu", address="1101", room="101", cfwt="1105")["status"] == 0
    assert client.state()["rooms"]["101"]["cfu"] == "1105"
    assert client.pms("cfu", address="1101", room="101", cfwt="")["status"] == 0
    assert client.state()["rooms"]["101"]["cfu"] is None
    assert "phone number" in error_text(client.pms("cfu", address="1101", room="101", cfwt="12ab"))
    assert error_text(client.pms("cfu", address="1101", room="101")) == "missing cfwt"


def test_minibar_catalogue(client: ApiClient) -> None:
    assert client.pms("addminibar", barcode="12450", barname="winebar", prompt="record/sukima",
                      verifyskip="", listgoods="")["status"] == 0
    assert "already exists" in error_text(client.pms("addminibar", barcode="12450", barname="again"))
    assert client.pms("addminibargoods", goodscode="900", goodsname="beverage")["status"] == 0
    assert client.pms("addminibarwaiter", maidcode="9898", password="1324")["status"] == 0
    minibar = client.state()["minibar"]
    assert minibar == {"bars": {"12450": {"barname": "winebar", "prompt": "record/sukima", "verifyskip": None,
                                          "listgoods": None}},
                       "goods": {"900": "beverage"}, "waiters": ["9898"]}
    assert client.pms("delminibar", barcode="12450")["status"] == 0
    assert client.pms("delminibargoods", goodscode="900")["status"] == 0
    assert client.pms("delminibarwaiter", maidcode="9898")["status"] == 0
    assert "no such" in error_text(client.pms("delminibar", barcode="12450"))
    assert "no such" in error_text(client.pms("delminibargoods", goodscode="900"))
    assert "no such" in error_text(client.pms("delminibarwaiter", maidcode="9898"))
    assert "digits" in error_text(client.pms("addminibargoods", goodscode="abc"))
    assert client.state()["minibar"] == {"bars": {}, "goods": {}, "waiters": []}


def test_pmsapi_refuses_bad_tokens_and_hostile_or_broken_documents(client: ApiClient) -> None:
    good = "<pms_data_request><checkout><address>1101</address></checkout></pms_data_request>"
    assert error_text(client.pms_raw(good, token="0" * 32)) == "Invalid token"
    assert client.pms_raw(good, token=PMS_TOKEN.upper())["response"]["error"] == "room is not checked in"
    assert "malformed XML" in error_text(client.pms_raw("<pms_data_request><checkout>"))
    entity = ('<?xml version="1.0"?><!DOCTYPE pms_data_request [<!ENTITY name "Eve">]>'
              "<pms_data_request><update><address>1101</address><firstname>&name;</firstname></update>"
              "</pms_data_request>")
    assert "DOCTYPE" in error_text(client.pms_raw(entity))
    external = ('<!DOCTYPE pms_data_request SYSTEM "file:///etc/passwd">'
                "<pms_data_request><checkout><address>1101</address></checkout></pms_data_request>")
    assert "DOCTYPE" in error_text(client.pms_raw(external))
    assert "root element" in error_text(client.pms_raw("<request><checkout/></request>"))
    two = "<pms_data_request><checkout/><checkout/></pms_data_request>"
    assert "exactly one" in error_text(client.pms_raw(two))
    assert "unsupported operation" in error_text(client.pms("reboot", address="1101"))
    declared = ('<?xml version="1.0" encoding="UTF-8"?>\n<pms_data_request>\n  <checkin>\n'
                + "".join(f"    <{k}>{v}</{k}>\n" for k, v in (CHECKIN | {"address": "1101"}).items())
                + "  </checkin>\n</pms_data_request>")
    assert client.pms_raw(declared)["status"] == 0


def test_error_key_is_configurable() -> None:
    emu = start_emulator(error_key="error_msg")
    try:
        api = ApiClient(emu)
        api.login()
        answer = api.pms("checkout", address="1101", room="101")
        assert answer == {"status": -1, "response": {"error_msg": "room is not checked in"}}
    finally:
        emu.stop()


def test_counters_count_successful_operations_only(emulator: PbxEmulator, client: ApiClient) -> None:
    client.pms("checkin", address="1101", **CHECKIN)
    client.pms("checkin", address="1101", **CHECKIN)
    client.pms("checkout", address="1101", room="101")
    counters = emulator.counters()
    assert counters["pmsapi:checkin"] == 1 and counters["pmsapi:checkout"] == 1 and counters["login"] == 1
    last = emulator.requests_log[-1]
    assert (last.action, last.operation, last.status) == ("pmsapi", "checkout", 0)
    assert emulator.requests_log[-2].status == -1
    emulator.reset_counters()
    assert emulator.counters() == {}


# -- faults ------------------------------------------------------------------------------


def test_latency_delays_answers(emulator: PbxEmulator, client: ApiClient) -> None:
    emulator.set_faults(latency=0.2)
    begun = time.monotonic()
    assert client.api("getSystemStatus")["status"] == 0
    # time.sleep waits at least as long as asked: a lower bound that cannot flake.
    assert time.monotonic() - begun >= 0.2
    assert emulator.clear_faults() == Faults()


def test_dropped_connections_are_not_carried_out(emulator: PbxEmulator, client: ApiClient) -> None:
    emulator.set_faults(drop_connections=True)
    with pytest.raises(requests.ConnectionError):
        client.pms("checkin", address="1101", **CHECKIN)
    assert emulator.requests_log[-1][1:] == ("pmsapi", "checkin", "dropped")
    emulator.clear_faults()
    assert client.state()["rooms"]["101"]["occupied"] is False
    assert client.pms("checkin", address="1101", **CHECKIN)["status"] == 0


def test_http_500_answers_an_html_page(emulator: PbxEmulator, client: ApiClient) -> None:
    emulator.set_faults(http_500=True)
    response = client.post("/api", {"request": {"action": "getSystemStatus", "cookie": client.cookie}})
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("text/html") and "500" in response.text
    assert emulator.requests_log[-1].status == "http_500"
    emulator.set_faults(http_500=False)
    assert client.api("getSystemStatus")["status"] == 0


def test_down_resets_connections_until_up_again_on_the_same_port(emulator: PbxEmulator, client: ApiClient) -> None:
    url = emulator.url
    emulator.set_faults(down=True)
    with pytest.raises(requests.ConnectionError):
        client.api("getSystemStatus")
    fresh = ApiClient(emulator)
    with pytest.raises(requests.ConnectionError):
        fresh.call("challenge", user="cdrapi")
    assert client.state()["faults"]["down"] is True
    switched = client.post("/sim/faults", {"down": False})
    assert switched.status_code == 200 and switched.json()["down"] is False
    assert emulator.url == url
    assert fresh.login()["status"] == 0
    assert client.api("getSystemStatus")["status"] == 0


def test_faults_over_http(emulator: PbxEmulator, client: ApiClient) -> None:
    answer = client.post("/sim/faults", {"latency": 0.05, "apply_blocked": True})
    assert answer.status_code == 200
    assert answer.json() == {"latency": 0.05, "drop_connections": False, "http_500": False, "down": False,
                             "apply_blocked": True}
    assert emulator.faults.apply_blocked and emulator.faults.latency == 0.05
    assert client.post("/sim/faults", {"explode": True}).status_code == 400
    assert client.post("/sim/faults", {"latency": -1}).status_code == 400
    assert client.post("/sim/faults", {"down": "yes"}).status_code == 400


# -- /sim inspection and changes behind the bridge's back --------------------------------


def test_sim_state_shows_rooms_extensions_and_counters(emulator: PbxEmulator, client: ApiClient) -> None:
    client.pms("checkin", address="1101", **CHECKIN)
    emulator.state.add_cdr({"start": "2024-05-01 10:00:00"})
    state = client.state()
    assert set(state) >= {"rooms", "extensions", "minibar", "counters", "cdr_count", "faults"}
    assert len(state["rooms"]) == 10 and state["rooms"]["101"]["guest"]["firstname"] == "John"
    assert state["extensions"]["1101"]["user"]["user_name"] == "1101"
    assert state["counters"]["pmsapi:checkin"] == 1 and state["cdr_count"] == 1
    assert client.post("/sim/reset-counters", {}).status_code == 200
    assert emulator.counters() == {}


def test_sim_rooms_change_state_behind_the_bridges_back(emulator: PbxEmulator, client: ApiClient) -> None:
    client.pms("checkin", address="1101", **CHECKIN)
    renamed = client.post("/sim/rooms/101", {"fullname": "Somebody Else", "dnd": True})
    assert renamed.status_code == 200 and renamed.json()["dnd"] is True
    rows = client.api("listAccount", options="extension,fullname", item_num="1")["response"]["account"]
    assert rows == [{"extension": "1101", "fullname": "Somebody Else"}]
    assert client.post("/sim/rooms/101", {"vacate": True}).json()["occupied"] is False
    assert client.post("/sim/rooms/102", {"out_of_service": "yes"}).status_code == 200
    assert client.state()["extensions"]["1102"]["out_of_service"] == "yes"
    guest = client.post("/sim/rooms/103", {"guest": {"firstname": "Walk", "lastname": "In"}})
    assert guest.json()["occupied"] is True
    assert client.state()["extensions"]["1103"]["fullname"] == "Walk In"
    assert client.post("/sim/rooms/999", {"dnd": True}).status_code == 404
    assert client.post("/sim/rooms/101", {"paint": "blue"}).status_code == 400
    assert client.post("/sim/cdr", [{"start": "2024-05-01 10:00:00"}, {"start": "2024-05-01 11:00:00"}]).json()[
        "stored"][1]["AcctId"] == "2"
    emulator.state.vacate_room("103")
    emulator.state.set_dnd("104", True)
    emulator.state.set_fullname("105", "Front Desk")
    state = client.state()
    assert not state["rooms"]["103"]["occupied"] and state["rooms"]["104"]["dnd"]
    assert state["extensions"]["1105"]["fullname"] == "Front Desk"


# -- concurrency -------------------------------------------------------------------------


def test_counters_are_exact_under_concurrency(emulator: PbxEmulator) -> None:
    threads, pairs = 8, 25
    failures: list[object] = []

    def guest_traffic(index: int) -> None:
        api = ApiClient(emulator)
        try:
            assert api.login()["status"] == 0
            address, room = f"1{101 + index}", str(101 + index)
            for _ in range(pairs):
                for operation, fields in (("checkin", CHECKIN | {"room": room}), ("checkout", {"room": room})):
                    answer = api.pms(operation, address=address, **fields)
                    if answer["status"] != 0:
                        failures.append(answer)
        except Exception as err:  # noqa: BLE001 - reported by the main thread
            failures.append(err)
        finally:
            api.close()

    workers = [threading.Thread(target=guest_traffic, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not failures
    counters = emulator.counters()
    assert counters["pmsapi:checkin"] == counters["pmsapi:checkout"] == threads * pairs
    assert counters["login"] == counters["challenge"] == threads
    assert len(emulator.requests_log) == threads * (2 * pairs + 2)


# -- command line ------------------------------------------------------------------------


def test_command_line_serves_until_sigterm(tmp_path) -> None:
    command = [sys.executable, "-m", "pmsbridge.cli", "sim", "pbx", "--port", "0", "--rooms", "3",
               "--extension-template", "1{room}", "--state-dir", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env=os.environ | {"PYTHONUNBUFFERED": "1"})
    try:
        lines: list[str] = []
        # A thread reads, so that a blocking readline cannot hang the test.
        reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
        reader.start()
        wait_until(lambda: any(line.startswith("Press Ctrl-C") for line in list(lines)), timeout=20)
        text = "".join(lines)
        url = re.search(r"url = \"(https://127\.0\.0\.1:\d+)\"", text).group(1)
        fingerprint = re.search(r"tls_fingerprint = \"(sha256:[0-9a-f]{64})\"", text).group(1)
        pem = ssl.get_server_certificate(("127.0.0.1", int(url.rsplit(":", 1)[1])))
        served = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
        assert fingerprint == "sha256:" + hashlib.sha256(served).hexdigest()
        session = requests.Session()
        session.trust_env = False
        answer = session.post(url + "/api", json={"request": {"action": "challenge", "user": "cdrapi"}},
                              verify=str(tmp_path / "pbx-emulator-cert.pem"), timeout=10)
        assert answer.json()["status"] == 0
        session.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        reader.join(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
