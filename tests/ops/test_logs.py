"""Logging: levels and formats for journald, and no secret in any log line, even at DEBUG."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import uuid

import requests

from pmsbridge.config import parse_settings
from pmsbridge.logs import (
    REDACTED,
    JournalFormatter,
    JsonFormatter,
    SecretRedactor,
    configured_secrets,
    redact_secrets,
    setup_logging,
)
from pmsbridge.sim.fias import FiasSimulator, SimulatorOptions
from pmsbridge.sim.pbx import PbxEmulator
from tests.ops.conftest import (
    emulator_options,
    migrated,
    settings_document,
    start_bridge,
    wait_for,
    wait_until_healthy,
    write_config,
)

# -- the redactor ------------------------------------------------------------------------


def record_through(redactor: SecretRedactor, formatter: logging.Formatter, message: str, *args, exc=None) -> str:
    record = logging.LogRecord("pmsbridge.test", logging.WARNING, __file__, 1, message, args,
                               (type(exc), exc, exc.__traceback__) if exc else None)
    redactor.filter(record)
    return formatter.format(record)


def test_secrets_in_messages_arguments_and_exceptions_are_redacted():
    redactor = SecretRedactor(["hunter2-pbx-pass"])
    try:
        raise ValueError("login with hunter2-pbx-pass failed")
    except ValueError as err:
        line = record_through(redactor, logging.Formatter("%(message)s"), "password %s, again %r",
                              "hunter2-pbx-pass", "hunter2-pbx-pass", exc=err)
    assert "hunter2" not in line
    assert line.startswith(f"password {REDACTED}, again '{REDACTED}'")
    assert f"ValueError: login with {REDACTED} failed" in line


def test_escaped_forms_of_a_secret_are_redacted_too():
    secret = 'pa"ss w/rd&='
    redactor = SecretRedactor([secret])
    for shown in (json.dumps({"password": secret}), "https://pbx/?p=pa%22ss%20w%2Frd%26%3D", "p=pa%22ss+w%2Frd%26%3D"):
        assert "ss w" not in redactor.redact(shown) and "ss+w" not in redactor.redact(shown), shown
        assert REDACTED in redactor.redact(shown)


def test_derived_tokens_and_cookies_are_redacted_by_their_shape():
    redactor = SecretRedactor()
    md5 = hashlib.md5(b"1234567890123456secret").hexdigest()
    text = f'{{"request": {{"action": "login", "token": "{md5}"}}}} cookie sid1652831717-1574421057.'
    assert redactor.redact(text) == f'{{"request": {{"action": "login", "token": "{REDACTED}"}}}} cookie {REDACTED}.'
    sha256 = hashlib.sha256(b"x").hexdigest()
    assert redactor.redact(f"pin sha256:{sha256}") == f"pin sha256:{sha256}"  # a fingerprint is no secret


def test_a_message_whose_arguments_do_not_fit_is_still_redacted():
    line = record_through(SecretRedactor(["s3cr3t-value"]), logging.Formatter("%(message)s"), "%s and %s",
                          "s3cr3t-value")
    assert "s3cr3t-value" not in line and REDACTED in line


def test_json_lines_carry_the_redacted_exception():
    try:
        raise RuntimeError("s3cr3t-value leaked into an error")
    except RuntimeError as err:
        line = record_through(SecretRedactor(["s3cr3t-value"]), JsonFormatter(), "failed", exc=err)
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["message"] == "failed"
    assert f"RuntimeError: {REDACTED} leaked" in entry["exception"] and "s3cr3t" not in line


def test_journal_lines_carry_the_priority_and_no_timestamp():
    record = logging.LogRecord("pmsbridge.dispatcher", logging.ERROR, __file__, 1, "PBX gone", None, None)
    assert JournalFormatter().format(record) == "<3>pmsbridge.dispatcher: PBX gone"


def test_under_journald_lines_carry_the_level_for_the_journal(tmp_path, monkeypatch):
    with (tmp_path / "journal-stream").open("w+") as stream:
        status = os.fstat(stream.fileno())
        monkeypatch.setattr(sys, "stderr", stream)
        monkeypatch.setenv("JOURNAL_STREAM", f"{status.st_dev}:{status.st_ino}")
        setup_logging("INFO")
        logging.getLogger("pmsbridge.test").warning("the PBX is slow")
        stream.seek(0)
        assert stream.read() == "<4>pmsbridge.test: the PBX is slow\n"


def test_configured_secrets_cover_every_secret_of_the_configuration(tmp_path):
    document = {
        "bridge": {"database_url": "postgresql+psycopg://bridge:db-pass-77@127.0.0.1/ledger"},
        "pbx": {"url": "https://192.0.2.10:8089", "username": "cdrapi", "password": "api-pass-11",
                "pms_username": "pms", "pms_password": "pms-pass-22", "tls_fingerprint": "sha256:" + "ab" * 32},
        "web": {"secret_key": "web-key-33"},
        "adapters": {"webhook": {"sources": {"pms": {
            "tokens": ["hook-token-44", "hook-token-55"],
            "signature": {"header": "X-Signature", "secrets": ["hmac-key-66"]},
            "mapping": {"event_type": "event", "room": "room"},
            "events": {"in": "check_in"},
        }}}},
    }
    found = configured_secrets(parse_settings(document))
    pms_token = hashlib.md5(b"pmspms-pass-22").hexdigest()
    assert found == {"db-pass-77", "api-pass-11", "pms-pass-22", "web-key-33", "hook-token-44", "hook-token-55",
                     "hmac-key-66", pms_token}


def test_setup_logging_keeps_registered_secrets_and_sets_the_level(capsys):
    setup_logging("INFO")
    redact_secrets(["kept-across-setups"])
    setup_logging("WARNING", "json")
    logging.getLogger("pmsbridge.test").info("not shown")
    logging.getLogger("pmsbridge.test").warning("the value is kept-across-setups")
    [line] = capsys.readouterr().err.splitlines()
    assert json.loads(line)["message"] == f"the value is {REDACTED}"


# -- values from outside cannot forge a line ---------------------------------------------

FORGED_NAME = "x\n2026-12-03 07:00:00,000 ERROR pmsbridge.fake: forged.csv"


def test_a_file_name_with_a_newline_stays_on_its_own_line_in_text(capsys):
    setup_logging("INFO")
    logging.getLogger("pmsbridge.adapters.csvdrop.adapter").warning("csvdrop: %s rejected whole", FORGED_NAME)
    [line] = capsys.readouterr().err.splitlines()
    assert line.endswith("csvdrop: x\\n2026-12-03 07:00:00,000 ERROR pmsbridge.fake: forged.csv rejected whole")
    assert " WARNING pmsbridge.adapters.csvdrop.adapter: " in line


def test_control_characters_of_every_kind_are_escaped(capsys):
    setup_logging("INFO")
    logging.getLogger("pmsbridge.test").warning("%s", "a\rb\x1b[31mc\x00d\x85e\u2028f\tg")
    [line] = capsys.readouterr().err.splitlines()
    assert line.endswith("a\\rb\\x1b[31mc\\x00d\\x85e\\u2028f\tg")


def test_a_forged_exception_message_is_indented_below_its_record(capsys):
    setup_logging("INFO")
    try:
        raise ValueError(FORGED_NAME)
    except ValueError:
        logging.getLogger("pmsbridge.test").exception("handling %s failed", FORGED_NAME)
    first, *continuation = capsys.readouterr().err.splitlines()
    assert "handling x\\n2026" in first
    assert continuation and all(line.startswith("    ") for line in continuation)
    assert "    2026-12-03 07:00:00,000 ERROR pmsbridge.fake: forged.csv" in continuation


def test_json_and_journal_lines_cannot_be_forged_either(tmp_path, monkeypatch, capsys):
    setup_logging("INFO", "json")
    logging.getLogger("pmsbridge.test").warning("file %s", FORGED_NAME)
    [line] = capsys.readouterr().err.splitlines()
    assert json.loads(line)["message"] == "file x\\n2026-12-03 07:00:00,000 ERROR pmsbridge.fake: forged.csv"
    record = logging.LogRecord("pmsbridge.test", logging.WARNING, __file__, 1, "file %s", (FORGED_NAME,), None)
    assert JournalFormatter().format(record) == (
        "<4>pmsbridge.test: file x\\n2026-12-03 07:00:00,000 ERROR pmsbridge.fake: forged.csv")


# -- a whole day in the life, at DEBUG ---------------------------------------------------


class WatchfulEmulator(PbxEmulator):
    """The emulator, keeping every login token, pmsapi token and cookie that crosses it."""

    def __init__(self, options):
        super().__init__(options)
        self.credentials: set[str] = set()

    def answer_api(self, inspected, client_ip):
        outcome = super().answer_api(inspected, client_ip)
        response = outcome.body.get("response")
        for value in ((inspected.request or {}).get("token"), (inspected.request or {}).get("cookie"),
                      response.get("cookie") if isinstance(response, dict) else None):
            if isinstance(value, str) and value:
                self.credentials.add(value)
        return outcome


def webhook_source(token: str, hmac_key: str) -> dict:
    return {
        "tokens": [token], "token_header": "X-Webhook-Token",
        "signature": {"header": "X-Signature", "prefix": "sha256=", "secrets": [hmac_key]},
        "mapping": {"event_type": "event", "idempotency_key": "id", "room": "reservation.room",
                    "reservation": "reservation.id", "last_name": "reservation.guest.last_name",
                    "arrival": "reservation.arrival", "departure": "reservation.departure"},
        "events": {"reservation.checked_in": "check_in"},
    }


def test_no_configured_or_derived_secret_reaches_the_logs(tmp_path):
    secret = {name: f"{name}-{secrets.token_urlsafe(12)}" for name in
              ("pbx", "pms", "web", "token", "hmac", "wrong")}
    options = emulator_options(tmp_path, password=secret["pbx"], pms_password=secret["pms"])
    rooms = [str(room) for room in range(101, 111)]
    with WatchfulEmulator(options) as emulator, \
            FiasSimulator(SimulatorOptions(rooms=rooms, link_end_wait=0.5)) as pms:
        document = settings_document(tmp_path, emulator, bridge={"log_level": "DEBUG"},
                                     web={"secret_key": secret["web"]})
        document["adapters"] = {
            "fias": {"mode": "client", "host": "127.0.0.1", "port": pms.port, "move_pair_window": 0},
            "webhook": {"sources": {"pms": webhook_source(secret["token"], secret["hmac"])}},
        }
        config = write_config(tmp_path / "pmsbridge.toml", document)
        migrated(parse_settings(document))
        log = tmp_path / "service.log"
        bridge = start_bridge(config, log)
        base_url = f"http://{document['web']['listen']}"
        try:
            wait_until_healthy(bridge, base_url, log)
            pms.check_in("101", "Abernathy", "Ruth")
            pms.check_in("102", "Brannigan", "Zapp")
            # The FIAS link logs its records at DEBUG: a "guest" named like the password proves
            # that the running process redacts whatever brings a secret to a log line.
            pms.check_in("104", secret["pbx"])
            body = json.dumps({"id": f"evt-{uuid.uuid4()}", "event": "reservation.checked_in", "reservation": {
                "id": "W-103", "room": "103", "arrival": "2026-11-27", "departure": "2026-11-29",
                "guest": {"last_name": "Castellanos"}}}).encode()
            signature = hmac.new(secret["hmac"].encode(), body, hashlib.sha256).hexdigest()
            answer = requests.post(f"{base_url}/webhook/pms", data=body, timeout=5, headers={
                "X-Webhook-Token": secret["token"], "X-Signature": f"sha256={signature}",
                "Content-Type": "application/json"})
            assert answer.status_code in (200, 202), answer.text
            wait_for(lambda: emulator.counters().get("pmsapi:checkin", 0) == 4, timeout=30)
            # A lost session: the bridge logs in again, with a new token and cookie.
            emulator.expire_cookies()
            pms.check_out("101")
            wait_for(lambda: emulator.counters().get("pmsapi:checkout", 0) == 1, timeout=30)
        finally:
            bridge.send_signal(signal.SIGTERM)
            assert bridge.wait(30) == 0, log.read_text()[-3000:]

        wrong = write_config(tmp_path / "wrong.toml", {**document, "pbx": {**document["pbx"],
                                                                           "password": secret["wrong"]}})
        refused = subprocess.run([sys.executable, "-m", "pmsbridge.cli", "-v", "pbx", "status", "--config",
                                  str(wrong)], capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1
        assert "the PBX refused the API user or password" in refused.stderr

    logs = log.read_text() + refused.stdout + refused.stderr
    assert "DEBUG" in logs and "PBX pmsapi: status 0" in logs and "logged in to the PBX" in logs
    assert f"GN{REDACTED}" in logs
    pms_token = hashlib.md5((options.pms_username + secret["pms"]).encode()).hexdigest()
    logins = {value for value in emulator.credentials if value != pms_token and not value.startswith("sid")}
    cookies = {value for value in emulator.credentials if value.startswith("sid")}
    assert len(logins) >= 3 and len(cookies) >= 2  # two logins of the service, one refused
    for value in (*secret.values(), pms_token, *emulator.credentials):
        assert value not in logs, f"{value} is in the logs"
