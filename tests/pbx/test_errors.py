"""The PBX error tree and the translation of Table 75 status codes."""

from __future__ import annotations

import inspect
import socket

import pytest

from pmsbridge.pbx import errors
from pmsbridge.pbx.errors import (
    PbxApplyBlocked,
    PbxAuthError,
    PbxBusy,
    PbxConflict,
    PbxError,
    PbxRequestRejected,
    PbxSessionError,
    PbxSystemError,
    describe_os_error,
    error_for_status,
)

# Table 75 of the API guide, with the class and permanence each code must map to.
TABLE_75 = {
    -1: (PbxRequestRejected, True),
    -5: (PbxSessionError, False),
    -6: (PbxSessionError, False),
    -7: (PbxSystemError, False),
    -8: (PbxSystemError, False),
    -9: (PbxSystemError, False),
    -15: (PbxRequestRejected, True),
    -16: (PbxRequestRejected, True),
    -19: (PbxRequestRejected, True),
    -24: (PbxRequestRejected, True),
    -25: (PbxRequestRejected, True),
    -26: (PbxRequestRejected, True),
    -37: (PbxAuthError, True),
    -43: (PbxConflict, False),
    -44: (PbxRequestRejected, True),
    -45: (PbxBusy, False),
    -46: (PbxBusy, False),
    -47: (PbxRequestRejected, True),
    -50: (PbxRequestRejected, True),
    -51: (PbxBusy, False),
    -57: (PbxBusy, False),
    -68: (PbxAuthError, True),
    -69: (PbxApplyBlocked, False),
    -70: (PbxAuthError, True),
    -71: (PbxAuthError, True),
    -90: (PbxBusy, False),
    -98: (PbxApplyBlocked, False),
}


@pytest.mark.parametrize("status", sorted(TABLE_75))
def test_every_code_of_table_75_maps_to_its_class(status):
    expected_class, permanent = TABLE_75[status]
    err = error_for_status(status, {"status": status}, "getUser")
    assert type(err) is expected_class
    assert err.permanent is permanent
    assert err.status == status
    assert err.action == "getUser"
    assert str(err).startswith("the PBX")


def test_the_module_knows_exactly_the_codes_of_the_table_plus_the_firmware_variant():
    assert set(errors.STATUS_CODES) == set(TABLE_75) | {-251}
    assert type(error_for_status(-251, {}, "applyChanges")) is PbxBusy


def test_an_unknown_code_is_a_permanent_rejection():
    err = error_for_status(-4242, {"status": -4242}, "pmsapi")
    assert isinstance(err, PbxRequestRejected)
    assert err.permanent
    assert "-4242" in str(err)


def test_status_zero_is_not_an_error():
    with pytest.raises(ValueError):
        error_for_status(0, {"status": 0}, "login")


@pytest.mark.parametrize(
    "body",
    [
        {"status": -1, "response": {"error": "Room 999 is unknown"}},
        {"status": -1, "response": {"error_msg": "Room 999 is unknown"}},
        {"status": -1, "error_msg": "Room 999 is unknown"},
        {"status": -1, "error": "Room 999 is unknown", "response": {}},
    ],
)
def test_the_pbx_error_text_is_taken_from_error_or_error_msg(body):
    err = error_for_status(-1, body, "pmsapi")
    assert err.detail == "Room 999 is unknown"
    assert str(err) == "the PBX rejected pmsapi (status -1, invalid parameters: Room 999 is unknown)"


def test_a_missing_error_text_leaves_detail_empty():
    err = error_for_status(-16, {"status": -16, "response": {"error": ""}}, "getUser")
    assert err.detail is None
    assert str(err) == "the PBX rejected getUser (status -16, no such item)"


def test_wrong_password_names_the_keys_and_the_attempts_left():
    body = {"status": -37, "response": {"remain_num": 3, "remain_time": 300}}
    err = error_for_status(-37, body, "login")
    assert isinstance(err, PbxAuthError)
    assert (err.remain_num, err.remain_time) == (3, 300)
    message = str(err)
    assert "pbx.username / pbx.password" in message
    assert "3 attempts left before the PBX bans this address for 300 s" in message


def test_wrong_password_with_remain_values_at_the_top_level_as_strings():
    err = error_for_status(-37, {"status": -37, "remain_num": "1"}, "challenge")
    assert err.remain_num == 1
    assert "1 attempt left before the PBX bans this address" in str(err)


def test_a_banned_address_says_for_how_long():
    err = error_for_status(-37, {"status": -37, "response": {"remain_time": 287}}, "challenge")
    assert err.remain_num is None
    assert "the PBX has banned this address for 287 s" in str(err)


@pytest.mark.parametrize(("status", "key"), [(-68, "whitelist"), (-70, "pbx.username"), (-71, "pbx.username")])
def test_other_login_refusals_say_what_to_change(status, key):
    assert key in str(error_for_status(status, {"status": status}, "login"))


@pytest.mark.parametrize(("status", "seconds"), [(-45, 15), (-46, 15), (-57, 60), (-51, None), (-251, None)])
def test_busy_answers_carry_the_wait_the_guide_asks_for(status, seconds):
    err = error_for_status(status, {"status": status}, "pmsapi")
    assert isinstance(err, PbxBusy)
    assert err.retry_after == seconds
    if seconds:
        assert f"retry after {seconds} s" in str(err)


def test_apply_blocked_says_that_apply_must_be_retried():
    err = error_for_status(-69, {"status": -69}, "applyChanges")
    assert isinstance(err, PbxApplyBlocked)
    assert "applyChanges must be retried later" in str(err)


def test_every_error_class_documents_when_it_is_raised_and_is_drawn_in_the_tree():
    classes = [obj for _, obj in inspect.getmembers(errors, inspect.isclass) if issubclass(obj, PbxError)]
    assert len(classes) == 11
    for cls in classes:
        assert cls.__doc__.startswith("Raised when"), cls
        assert cls.__name__ in errors.__doc__, cls


def test_errors_carry_their_attributes():
    err = PbxBusy("busy", status=-45, action="pmsapi", detail="x", retry_after=15.0)
    assert (err.status, err.action, err.detail, err.retry_after, err.permanent) == (-45, "pmsapi", "x", 15.0, False)
    assert PbxError("x").status is None


def test_socket_failures_are_described_in_words():
    def wrapped(cause: BaseException) -> Exception:
        try:
            try:
                raise cause
            except OSError as err:
                raise RuntimeError("wrapper") from err
        except RuntimeError as outer:
            return outer

    assert describe_os_error(wrapped(ConnectionRefusedError(111, "Connection refused"))) == "connection refused"
    assert describe_os_error(wrapped(ConnectionResetError(104, "reset"))) == "connection reset by the PBX"
    assert describe_os_error(wrapped(socket.gaierror(-2, "Name or service not known"))) == (
        "the host name cannot be resolved"
    )
    assert describe_os_error(wrapped(TimeoutError("timed out"))) == "timed out"
    assert describe_os_error(RuntimeError("odd")) == "odd"
