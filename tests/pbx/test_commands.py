"""``pmsbridge pbx status`` and ``pmsbridge pbx fingerprint`` through the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmsbridge.cli import main
from tests.pbx.conftest import API_PASSWORD, API_USER, PMS_PASSWORD, PMS_USER

pytestmark = pytest.mark.usefixtures("restore_logging")


def write_config(directory: Path, url: str, **pbx: object) -> str:
    values: dict[str, object] = {
        "url": url,
        "username": API_USER,
        "password": API_PASSWORD,
        "pms_username": PMS_USER,
        "pms_password": PMS_PASSWORD,
        "connect_timeout": 2.0,
        **pbx,
    }
    lines = ["[pbx]"]
    for key, value in values.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, int | float):
            lines.append(f"{key} = {value}")
        else:
            lines.append(f'{key} = "{value}"')
    path = directory / "pmsbridge.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_status_prints_model_firmware_and_uptime(emulator, tmp_path, capsys):
    config = write_config(tmp_path, emulator.url, tls_fingerprint=emulator.fingerprint)
    assert main(["pbx", "status", "--config", config]) == 0
    out = capsys.readouterr().out
    assert f"PBX:         {emulator.url}" in out
    assert f"model:       {emulator.options.model}" in out
    assert f"firmware:    {emulator.options.firmware}" in out
    assert "uptime:      00:00:" in out
    assert "part number: 9660002815A" in out
    assert "system time: " in out


def test_status_with_a_wrong_password_prints_one_sentence(emulator, tmp_path, capsys):
    config = write_config(tmp_path, emulator.url, tls_fingerprint=emulator.fingerprint, password="wrong-password")
    assert main(["pbx", "status", "--config", config]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    # The emulator runs in this process and logs to the same stderr; the PBX would not.
    lines = [line for line in captured.err.splitlines() if " pmsbridge.sim." not in line]
    assert len(lines) == 1
    assert lines[0].startswith("pmsbridge: the PBX refused the API user or password (pbx.username / pbx.password)")
    assert "4 attempts left" in lines[0]
    assert "Traceback" not in captured.err


def test_status_of_an_unreachable_pbx(closed_port, tmp_path, capsys):
    url = f"https://127.0.0.1:{closed_port}"
    config = write_config(tmp_path, url, tls_fingerprint="sha256:" + "0" * 64)
    assert main(["pbx", "status", "--config", config]) == 1
    assert capsys.readouterr().err == f"pmsbridge: cannot connect to the PBX at {url} (pbx.url): connection refused\n"


def test_status_with_a_wrong_pin(emulator, tmp_path, capsys):
    config = write_config(tmp_path, emulator.url, tls_fingerprint="sha256:" + "0" * 64)
    assert main(["pbx", "status", "--config", config]) == 1
    err = capsys.readouterr().err
    assert "does not match pbx.tls_fingerprint" in err
    assert emulator.fingerprint in err


def test_fingerprint_without_a_pin_says_how_to_pin(emulator, tmp_path, capsys):
    config = write_config(tmp_path, emulator.url)
    assert main(["pbx", "fingerprint", "--config", config]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == emulator.fingerprint
    assert lines[1] == (
        "pbx.tls_fingerprint is not set; to pin this certificate, add to [pbx]: "
        f'tls_fingerprint = "{emulator.fingerprint}"'
    )


def test_fingerprint_that_matches_the_pin(emulator, tmp_path, capsys):
    config = write_config(tmp_path, emulator.url, tls_fingerprint=emulator.fingerprint)
    assert main(["pbx", "fingerprint", "--config", config]) == 0
    assert capsys.readouterr().out.splitlines() == [emulator.fingerprint, "matches pbx.tls_fingerprint"]


def test_fingerprint_that_does_not_match_the_pin(emulator, tmp_path, capsys):
    pin = "sha256:" + "0" * 64
    config = write_config(tmp_path, emulator.url, tls_fingerprint=pin)
    assert main(["pbx", "fingerprint", "--config", config]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [emulator.fingerprint]
    assert captured.err.startswith(f"does NOT match pbx.tls_fingerprint ({pin})")


def test_fingerprint_of_an_unreachable_pbx(closed_port, tmp_path, capsys):
    config = write_config(tmp_path, f"https://127.0.0.1:{closed_port}")
    assert main(["pbx", "fingerprint", "--config", config]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pmsbridge: cannot connect to the PBX")
    assert "connection refused" in err
