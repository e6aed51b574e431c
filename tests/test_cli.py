"""The command line as an operator meets it: output cut short by a pipe, mistakes said before questions."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pmsbridge.cli import main

FINGERPRINT = "sha256:" + "ab" * 32


@pytest.fixture
def config_file(tmp_path) -> Path:
    """A configuration with a migrated SQLite ledger (the PBX is never called)."""
    path = tmp_path / "pmsbridge.toml"
    path.write_text(f"""[bridge]
state_dir = "{tmp_path}"
[pbx]
url = "https://127.0.0.1:9"
username = "cdrapi"
password = "s3cret-api"
pms_username = "pms"
pms_password = "s3cret-pms"
tls_fingerprint = "{FINGERPRINT}"
""")
    assert main(["migrate", "--config", str(path)]) == 0
    return path


@pytest.mark.parametrize("command", [["ledger", "list"], ["ledger", "list", "--events"], ["postings", "list"],
                                     ["user", "list"], ["check-config"]])
def test_a_reader_that_stops_reading_ends_the_command_quietly(config_file, command):
    """`pmsbridge ledger list | head`: the pipe closes before the command writes."""
    process = subprocess.Popen([sys.executable, "-m", "pmsbridge.cli", *command, "--config", str(config_file)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": "."})
    process.stdout.close()  # before the interpreter has even started: every write meets a closed pipe
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1
    assert stderr == ""


def test_user_add_refuses_a_bad_name_before_asking_the_password(config_file, monkeypatch, capsys):
    def no_question(prompt):
        raise AssertionError("the password was asked for a name that cannot be")

    monkeypatch.setattr("getpass.getpass", no_question)
    assert main(["user", "add", "no spaces please", "--role", "frontdesk", "--config", str(config_file)]) == 1
    assert "'no spaces please' is not a user name" in capsys.readouterr().err


@pytest.fixture
def taken_port():
    """A port another program listens on."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


@pytest.mark.parametrize("simulator, what", [("pbx", "the PBX emulator"), ("fias", "the FIAS PMS simulator")])
def test_a_simulator_on_a_taken_port_says_so_in_one_sentence(taken_port, capsys, simulator, what):
    assert main(["sim", simulator, "--port", str(taken_port)]) in (1, 2)
    err = capsys.readouterr().err
    assert f"port {taken_port} ({what}) is already in use by another program" in err
    assert "choose another with --port PORT" in err and "Traceback" not in err


def test_run_on_a_taken_web_port_names_web_listen(config_file, taken_port, capsys):
    config_file.write_text(config_file.read_text() + f'[web]\nlisten = "127.0.0.1:{taken_port}"\n')
    assert main(["run", "--config", str(config_file)]) == 1
    err = capsys.readouterr().err
    assert f"pmsbridge: port {taken_port} (the web interface, web.listen) is already in use" in err
    assert "change web.listen" in err and "Traceback" not in err
