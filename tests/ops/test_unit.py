"""systemd/pmsbridge.service: the keys a hotel install relies on, and `systemd-analyze verify`
wherever systemd-analyze is installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from pmsbridge.config import PbxSettings
from pmsbridge.service import STOP_GRACE

UNIT = Path(__file__).parents[2] / "systemd" / "pmsbridge.service"
INSTALLED_COMMAND = "/opt/pmsbridge/venv/bin/pmsbridge"


def unit_entries(text: str) -> dict[str, dict[str, list[str]]]:
    """Section -> key -> every value given (systemd allows a key more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"a key outside any section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def seconds(value: str) -> float:
    return float(value.removesuffix("s"))


def test_the_unit_runs_the_bridge_as_a_notify_service_with_its_own_user_and_folders():
    service = unit_entries(UNIT.read_text())["Service"]
    assert service["Type"] == ["notify"]
    assert service["User"] == ["pmsbridge"] and service["Group"] == ["pmsbridge"]
    assert service["StateDirectory"] == ["pmsbridge"]
    assert service["ConfigurationDirectory"] == ["pmsbridge"]
    assert service["ExecStartPre"] == [f"{INSTALLED_COMMAND} migrate --config /etc/pmsbridge/pmsbridge.toml"]
    assert service["ExecStart"] == [f"{INSTALLED_COMMAND} run --config /etc/pmsbridge/pmsbridge.toml"]
    assert service["Restart"] == ["on-failure"]
    assert seconds(service["WatchdogSec"][0]) >= 10


def test_systemd_waits_longer_than_the_bridge_takes_to_stop():
    service = unit_entries(UNIT.read_text())["Service"]
    defaults = PbxSettings.model_fields
    bridge_stop = defaults["connect_timeout"].default + defaults["read_timeout"].default + STOP_GRACE
    assert seconds(service["TimeoutStopSec"][0]) > bridge_stop


def test_the_unit_is_hardened():
    service = unit_entries(UNIT.read_text())["Service"]
    expected = {
        "ProtectSystem": ["strict"],
        "ProtectHome": ["yes"],
        "PrivateTmp": ["yes"],
        "NoNewPrivileges": ["yes"],
        "CapabilityBoundingSet": [""],
        "AmbientCapabilities": [""],
        "RestrictAddressFamilies": ["AF_INET AF_INET6 AF_UNIX"],
    }
    for key, values in expected.items():
        assert service.get(key) == values, key
    assert "@system-service" in service["SystemCallFilter"]


def test_systemd_analyze_verifies_the_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    entries = unit_entries(UNIT.read_text())
    assert {"Unit", "Service", "Install"} <= set(entries)
    assert entries["Install"]["WantedBy"] == ["multi-user.target"]
    if analyze is None:
        return
    # verify insists that the commands exist; the test machine has no /opt/pmsbridge.
    unit = tmp_path / "pmsbridge.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED_COMMAND, sys.executable))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "pmsbridge.service" not in result.stderr, result.stderr
