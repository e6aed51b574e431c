"""PbxClient against the FCM630A emulator over real HTTPS on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import datetime

import pytest

from pmsbridge.pbx.client import AUTH_COOLDOWN
from pmsbridge.pbx.errors import (
    PbxApplyBlocked,
    PbxAuthError,
    PbxBusy,
    PbxProtocolError,
    PbxRequestRejected,
    PbxSessionError,
    PbxUnreachable,
)
from tests.pbx.conftest import API_PASSWORD, PMS_PASSWORD, PMS_USER, PbxLikeHandler, errors_in_threads


def api_requests(emulator, action: str) -> list:
    return [record for record in emulator.requests_log if record.action == action]


def checkin_fields(address: str = "101", **changes: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "address": address,
        "room": address,
        "firstname": "Zoë",
        "lastname": "O'Brien & <Sons>",
        "datein": datetime(2026, 11, 27, 14, 0),
        "dateout": "2026-11-30T11:00",
        "cos": 2,
    }
    fields.update(changes)
    return fields


# -- sessions ------------------------------------------------------------------------------


def test_login_and_status(client, emulator):
    client.login()
    assert client.system_general_status()["product-model"] == emulator.options.model
    assert client.system_general_status()["prog-version"] == emulator.options.firmware
    assert "up-time" in client.system_status()
    assert emulator.counters()["login"] == 1
    assert len(api_requests(emulator, "challenge")) == 1
    health = client.health
    assert health.logged_in and health.cookie_age is not None
    assert health.last_success is not None and health.last_error is None


def test_the_first_call_logs_in_by_itself_and_sends_the_report_url(make_client, emulator):
    client = make_client(report_url="http://127.0.0.1:8071/pbx-events")
    client.system_status()
    assert emulator.counters()["login"] == 1
    assert emulator.state.report_url == "http://127.0.0.1:8071/pbx-events"


def test_the_session_is_renewed_before_its_lifetime_ends(make_client, emulator, clock):
    client = make_client(clock=clock, session_lifetime=60)
    client.system_status()
    clock.advance(59)
    client.system_status()
    assert emulator.counters()["login"] == 1
    clock.advance(2)
    assert not client.health.logged_in
    client.system_status()
    assert emulator.counters()["login"] == 2
    assert client.health.cookie_age == 0


def test_an_expired_cookie_means_one_transparent_login(client, emulator):
    client.system_status()
    emulator.expire_cookies()
    assert "up-time" in client.system_status()
    assert emulator.counters()["login"] == 2
    statuses = [record.status for record in api_requests(emulator, "getSystemStatus")]
    assert statuses == [0, -6, 0]


# Every cookie is dead before its first use.
@pytest.mark.parametrize("emulator_options", [{"cookie_idle_timeout": 1e-9}], indirect=True)
def test_a_cookie_refused_again_after_the_new_login_is_not_retried_further(make_client, emulator):
    client = make_client()
    with pytest.raises(PbxSessionError):
        client.system_status()
    assert len(api_requests(emulator, "login")) == 2
    assert [record.status for record in api_requests(emulator, "getSystemStatus")] == [-6, -6]
    assert not client.health.logged_in


def test_concurrent_callers_share_one_login(client, emulator):
    def work() -> None:
        for _ in range(5):
            client.system_status()

    assert errors_in_threads(work, 8) == []
    assert emulator.counters()["login"] == 1
    assert len(api_requests(emulator, "challenge")) == 1
    assert emulator.counters()["getSystemStatus"] == 40


# -- refused logins ------------------------------------------------------------------------


def test_a_wrong_password_is_not_retried_and_pauses_logins(make_client, emulator, clock):
    client = make_client(clock=clock, password="wrong-password")
    with pytest.raises(PbxAuthError) as caught:
        client.system_status()
    err = caught.value
    assert err.permanent and err.status == -37
    assert err.remain_num == 4
    assert "pbx.username / pbx.password" in str(err)
    assert "4 attempts left" in str(err)
    assert len(api_requests(emulator, "login")) == 1
    assert client.health.ban_risk.remain_num == 4

    # During the pause, calls fail at once without reaching the PBX.
    seen = len(emulator.requests_log)
    for _ in range(3):
        with pytest.raises(PbxAuthError, match="no new login is tried"):
            client.system_status()
        with pytest.raises(PbxAuthError):
            client.login()
    assert len(emulator.requests_log) == seen

    clock.advance(AUTH_COOLDOWN + 1)
    with pytest.raises(PbxAuthError) as again:
        client.system_status()
    assert again.value.remain_num == 3
    assert len(api_requests(emulator, "login")) == 2

    client.reset_auth()
    with pytest.raises(PbxAuthError) as after_reset:
        client.login()
    assert after_reset.value.remain_num == 2


@pytest.mark.parametrize("emulator_options", [{"max_login_failures": 1, "ban_seconds": 900.0}], indirect=True)
def test_a_banned_address_pauses_logins_for_the_ban_period(make_client, emulator, clock):
    client = make_client(clock=clock, password="wrong-password")
    with pytest.raises(PbxAuthError) as caught:
        client.login()
    assert (caught.value.remain_num, caught.value.remain_time) == (0, 900)
    assert "900 s" in str(caught.value)
    clock.advance(AUTH_COOLDOWN + 1)
    seen = len(emulator.requests_log)
    with pytest.raises(PbxAuthError):
        client.login()
    assert len(emulator.requests_log) == seen


def test_a_wrong_user_name_is_refused_at_the_challenge(make_client, emulator):
    client = make_client(username="nobody")
    with pytest.raises(PbxAuthError):
        client.login()
    assert api_requests(emulator, "login") == []
    assert client.health.last_error.startswith("the PBX refused the API user or password")


# A burst of 2 requests: the challenge and the login.
@pytest.mark.parametrize("emulator_options", [{"rate_limit": 2.0}], indirect=True)
def test_the_rate_limit_answers_busy_with_retry_after(make_client, emulator):
    client = make_client()
    with pytest.raises(PbxBusy) as caught:
        client.system_status()
    assert caught.value.retry_after == 15
    assert not caught.value.permanent
    assert [record.status for record in api_requests(emulator, "getSystemStatus")] == [-45]


# -- transport failures --------------------------------------------------------------------


def test_a_closed_port_is_unreachable_and_names_the_url(make_client, closed_port):
    url = f"https://127.0.0.1:{closed_port}"
    client = make_client(url=url)
    with pytest.raises(PbxUnreachable) as caught:
        client.login()
    assert str(caught.value) == f"cannot connect to the PBX at {url} (pbx.url): connection refused"
    assert not caught.value.permanent
    assert client.health.last_error == str(caught.value)
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


def test_http_500_is_unreachable(client, emulator):
    client.login()
    emulator.set_faults(http_500=True)
    with pytest.raises(PbxUnreachable, match="HTTP 500"):
        client.system_status()


def test_a_dropped_connection_is_unreachable(client, emulator):
    client.login()
    emulator.set_faults(drop_connections=True)
    with pytest.raises(PbxUnreachable, match="dropped the connection during getSystemStatus"):
        client.system_status()
    emulator.clear_faults()
    assert "up-time" in client.system_status()


def test_a_down_pbx_is_unreachable(client, emulator):
    emulator.set_faults(down=True)
    with pytest.raises(PbxUnreachable):
        client.login()


def test_a_slow_answer_times_out_naming_the_setting(make_client, emulator):
    client = make_client(read_timeout=0.2)
    client.login()
    emulator.set_faults(latency=2.0)
    with pytest.raises(PbxUnreachable, match=r"within 0\.2 s \(pbx\.read_timeout\)"):
        client.system_status()


def test_a_wrong_path_in_the_url_is_a_protocol_error(make_client, emulator):
    # The fragment swallows "/api": the request goes to /sim/state, which takes no POST.
    client = make_client(url=emulator.url + "/sim/state#")
    with pytest.raises(PbxProtocolError, match=r"HTTP 404 .* check that pbx\.url is the PBX's HTTPS API address"):
        client.login()


class WebPageHandler(PbxLikeHandler):
    """A web server that is not the PBX API: every answer is an HTML page."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.answer("text/html", b"<html><body>Welcome</body></html>")


def test_an_answer_that_is_not_json_is_a_protocol_error(make_client, https_server):
    url, fingerprint = https_server(WebPageHandler)
    client = make_client(url=url, tls_fingerprint=fingerprint)
    with pytest.raises(PbxProtocolError, match=r"not JSON; check pbx\.url") as caught:
        client.login()
    assert not caught.value.permanent
    assert isinstance(caught.value.__cause__, json.JSONDecodeError)


class StatuslessHandler(PbxLikeHandler):
    """Answers JSON without the status every API answer carries."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.answer("application/json", b'{"response": {"challenge": "1"}}')


def test_an_answer_without_a_status_is_a_protocol_error(make_client, https_server):
    url, fingerprint = https_server(StatuslessHandler)
    client = make_client(url=url, tls_fingerprint=fingerprint)
    with pytest.raises(PbxProtocolError, match="without a status code"):
        client.login()


# -- pmsapi --------------------------------------------------------------------------------


def test_a_checkin_reaches_the_pbx(client, emulator):
    assert client.pmsapi("checkin", checkin_fields()) == {}
    guest = emulator.state.rooms["101"].guest
    assert (guest.firstname, guest.lastname) == ("Zoë", "O'Brien & <Sons>")
    assert (guest.datein, guest.dateout) == ("2026/11/27 14:00", "2026/11/30 11:00")
    assert emulator.counters()["pmsapi:checkin"] == 1


def test_a_checkin_in_json_format(make_client, emulator):
    client = make_client(pmsapi_format="json", name_ascii=True)
    client.pmsapi("checkin", checkin_fields("102"))
    guest = emulator.state.rooms["102"].guest
    assert guest.firstname == "Zoe"
    assert guest.datein == "20261127"


def test_the_move_destination_element_follows_the_settings(make_client, emulator):
    client = make_client(move_destination_element="r_room")
    client.pmsapi("checkin", checkin_fields("103"))
    client.pmsapi("mov", {"address": "103", "room": "103", "d_address": "104", "d_room": "104"})
    assert emulator.state.rooms["104"].occupied
    assert not emulator.state.rooms["103"].occupied


def test_a_stored_document_can_be_sent_again(client, emulator):
    client.pmsapi("checkin", checkin_fields("105"))
    client.pmsapi_data("<pms_data_request><checkout><address>105</address><room>105</room></checkout>"
                       "</pms_data_request>", "xml")
    assert emulator.counters()["pmsapi:checkout"] == 1


@pytest.mark.parametrize("emulator_options", [{"error_key": "error"}, {"error_key": "error_msg"}], indirect=True)
def test_a_refused_operation_carries_the_pbx_text(make_client):
    client = make_client()
    with pytest.raises(PbxRequestRejected) as caught:
        client.pmsapi("update", {"address": "106", "room": "106", "firstname": "Ann"})
    assert caught.value.status == -1
    assert caught.value.detail == "room is not checked in"
    assert str(caught.value) == "the PBX rejected pmsapi (status -1, invalid parameters: room is not checked in)"


def test_a_wrong_pms_password_is_refused(make_client):
    client = make_client(pms_password="not-the-pms-password")
    with pytest.raises(PbxRequestRejected, match="Invalid token"):
        client.pmsapi("checkout", {"address": "101", "room": "101"})


def test_invalid_fields_are_refused_before_anything_is_sent(client, emulator):
    with pytest.raises(ValueError, match="unknown field"):
        client.pmsapi("checkin", checkin_fields(nights=3))
    assert emulator.requests_log == []


# -- extensions, users, call records -------------------------------------------------------


def test_list_accounts_reads_every_page(client, emulator):
    accounts = client.list_accounts(page_size=7)
    assert [account["extension"] for account in accounts] == [str(room) for room in range(101, 121)]
    assert len(api_requests(emulator, "listAccount")) == 3
    names = client.list_accounts(options=["extension", "fullname"])
    assert set(names[0]) == {"extension", "fullname"}
    assert len(names) == 20


def test_get_update_and_apply_a_user(client, emulator):
    assert client.get_user("101")["user_name"] == "101"
    assert client.update_user("101", first_name="Ann", last_name="Lee") is True
    assert emulator.counters()["applyChanges"] == 1
    user = client.get_user("101")
    assert (user["first_name"], user["last_name"]) == ("Ann", "Lee")
    assert client.list_accounts(options=["extension", "fullname"])[0]["fullname"] == "Ann Lee"


def test_a_blocked_apply_is_reported_for_a_later_retry(client, emulator):
    emulator.set_faults(apply_blocked=True)
    with pytest.raises(PbxApplyBlocked) as caught:
        client.update_user("102", first_name="Bo")
    assert not caught.value.permanent
    assert client.get_user("102")["first_name"] is None
    emulator.clear_faults()
    client.apply_changes()
    assert client.get_user("102")["first_name"] == "Bo"


def test_an_unknown_user_is_rejected(client):
    with pytest.raises(PbxRequestRejected) as caught:
        client.get_user("999")
    assert caught.value.status == -16


def test_get_sip_account(client):
    account = client.get_sip_account("101")
    assert (account["extension"], account["dnd"]) == ("101", "no")
    client.pmsapi("checkin", checkin_fields("101"))
    client.pmsapi("dnd", {"address": "101", "room": "101", "status": 1})
    assert client.get_sip_account("101")["dnd"] == "yes"


def test_cdr_reads_every_page(client, emulator):
    for index in range(2500):
        emulator.state.add_cdr({"start": f"2026-11-{1 + index // 1000:02d} 10:00:00", "src": "101", "dst": str(index)})
    records = list(client.cdr())
    assert [record["dst"] for record in records] == [str(index) for index in range(2500)]
    assert len(api_requests(emulator, "cdrapi")) == 3
    later = list(client.cdr(start_time=datetime(2026, 11, 3)))
    assert len(later) == 500
    assert list(client.cdr(start_time=datetime(2027, 1, 1), page_size=10)) == []


def test_cdr_page_size_is_bounded(client):
    with pytest.raises(ValueError):
        client.cdr(page_size=1001)


# -- logging -------------------------------------------------------------------------------


def test_secrets_never_reach_the_log(client, emulator, caplog):
    caplog.set_level(logging.DEBUG)
    client.pmsapi("checkin", checkin_fields())
    emulator.expire_cookies()
    client.system_status()
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "getSystemStatus" in text
    pms_token = hashlib.md5((PMS_USER + PMS_PASSWORD).encode()).hexdigest()
    for secret in (API_PASSWORD, PMS_PASSWORD, pms_token):
        assert secret not in text
    assert not re.search(r"sid\d+-\d+", text)
    assert not re.search(r"\b[0-9a-f]{32}\b", text)
