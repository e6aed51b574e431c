"""Small parts of the web interface: the session key, room lists, board helpers, formatting."""

from __future__ import annotations

import stat
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from pmsbridge.config import BridgeSettings, PbxSettings, RoomsSettings, Settings, WebSettings, expand_room_range
from pmsbridge.extension_status import ExtensionStatus
from pmsbridge.rooms import Wakeup
from pmsbridge.wakeup_risk import next_wakeup
from pmsbridge.web.board_data import floor_of, room_sort_key
from pmsbridge.web.formatting import duration, local_time, wakeup_time
from pmsbridge.web.secret import SECRET_FILE, SecretKeyError, session_secret


def settings_with(state_dir, secret_key=None) -> Settings:
    return Settings(pbx=PbxSettings(url="https://192.0.2.10:8089", username="cdrapi", password="a-real-password",
                                    pms_username="pms", pms_password="another-real-one", verify=False),
                    bridge=BridgeSettings(state_dir=state_dir), web=WebSettings(secret_key=secret_key))


def test_the_session_key_is_generated_once_with_mode_0600(tmp_path):
    first = session_secret(settings_with(tmp_path / "state"))
    path = tmp_path / "state" / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 64 and session_secret(settings_with(tmp_path / "state")) == first


def test_a_configured_session_key_wins(tmp_path):
    assert session_secret(settings_with(tmp_path, "a-configured-secret-key")) == b"a-configured-secret-key"
    assert not (tmp_path / SECRET_FILE).exists()


def test_an_unusable_key_file_is_explained(tmp_path):
    (tmp_path / SECRET_FILE).write_text("short\n")
    with pytest.raises(SecretKeyError, match="too short"):
        session_secret(settings_with(tmp_path))
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(SecretKeyError, match="web.secret_key_file"):
        session_secret(settings_with(blocked / "state"))


def test_room_ranges():
    assert expand_room_range("101-104") == ["101", "102", "103", "104"]
    assert expand_room_range("0098-0101") == ["0098", "0099", "0100", "0101"]
    assert expand_room_range("suite-1") == ["suite-1"]
    assert RoomsSettings(rooms=["101-102", "201", "A-12"]).listed_rooms == ["101", "102", "201", "A-12"]
    for bad, message in (("110-101", "ends before it starts"), ("1-20000", "at most 10000"),
                         ("room 7", "neither a room number nor a range")):
        with pytest.raises(ValidationError, match=message):
            RoomsSettings(rooms=[bad])


def test_port_zero_picks_a_free_port():
    assert WebSettings(listen="127.0.0.1:0").host_port == ("127.0.0.1", 0)


def test_natural_room_order_and_floors():
    rooms = ["1001", "A10", "99", "101", "A2", "suite-1", "102"]
    assert sorted(rooms, key=room_sort_key) == ["99", "101", "102", "1001", "A2", "A10", "suite-1"]
    assert [floor_of(room) for room in ("101", "1204", "0712", "12", "A101")] == ["1", "12", "7", "", ""]


def test_list_account_rows():
    row = {"extension": "1101", "status": "Unavailable", "addr": "-", "fullname": "", "out_of_service": "yes",
           "newmsg": "2", "urgemsg": 1}
    status = ExtensionStatus.from_account(row)
    assert (status.status, status.addr, status.fullname, status.out_of_service, status.new_messages) == (
        "Unavailable", None, None, True, 3)


def test_times_in_the_hotels_zone_and_the_readers_locale():
    zone = ZoneInfo("Europe/Berlin")
    assert local_time(datetime(2026, 7, 1, 10, 0, tzinfo=ZoneInfo("UTC")), zone, "en_GB") == "01/07/2026, 12:00"
    assert local_time(datetime(2026, 7, 1, 10, 0), zone, "en_GB") == "01/07/2026, 10:00"
    assert local_time(datetime(2026, 7, 1, 10, 0), zone, "en_US") == "7/1/2026, 10:00\u202fAM"
    assert local_time(datetime(2026, 7, 1, 10, 0, 5), zone, "de_DE", "moment") == "1.7., 10:00:05"
    assert local_time(datetime(2026, 7, 1, 10, 0), zone, "fr_FR", "day_time") == "mer. 01/07/2026 10:00"
    assert local_time(datetime(2026, 7, 1, 10, 0), zone, "es_ES", "time") == "10:00"
    assert local_time(None, zone, "de") == ""


def test_a_wake_up_beyond_the_coming_week_shows_its_date():
    now = datetime(2026, 12, 3, 22, 0)
    assert wakeup_time(datetime(2026, 12, 4, 6, 30), now, "en_GB") == "Fri, 06:30"
    assert wakeup_time(datetime(2026, 12, 9, 23, 59), now, "en_GB") == "Wed, 23:59"
    assert wakeup_time(datetime(2026, 12, 10, 6, 30), now, "en_GB") == "Thu, 10/12/2026, 06:30"
    assert wakeup_time(datetime(2027, 12, 3, 23, 59), now, "de_DE") == "Fr., 3.12.2027, 23:59"


def test_durations():
    assert [duration(s) for s in (None, 5, 420, 3 * 3600 + 300, 2 * 86400 + 4 * 3600)] == [
        "", "5 s", "7 min", "3 h 05 min", "2 d 4 h"]

