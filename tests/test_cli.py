"""The command line as an operator meets it: output cut short by a pipe, mistakes said before questions."""

from __future__ import annotations

import os
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
