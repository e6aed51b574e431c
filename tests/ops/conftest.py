"""Fixtures for running the bridge as a hotel runs it: the PBX emulator on 127.0.0.1, settings
and configuration files for it, in-process services and `pmsbridge run` subprocesses."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from pmsbridge.config import Settings, parse_settings
from pmsbridge.ledger.database import create_ledger_engine, migrate
from pmsbridge.service import Service, build
from pmsbridge.sim.pbx import EmulatorOptions, PbxEmulator
from tests.helpers import free_port, wait_for

ROOMS = 40  # 101..140 on extensions 1101..1140


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Commands under test reconfigure the root logger; the next test gets it back as it was."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def emulator_options(tmp_path: Path, **overrides: Any) -> EmulatorOptions:
    values: dict[str, Any] = dict(port=0, rooms=ROOMS, extension_template="1{room}", state_dir=tmp_path / "pbx")
    values.update(overrides)
    return EmulatorOptions(**values)


@pytest.fixture
def emulator(tmp_path) -> Iterator[PbxEmulator]:
    with PbxEmulator(emulator_options(tmp_path)) as running:
        yield running


def settings_document(tmp_path: Path, emulator: PbxEmulator, **sections: dict[str, Any]) -> dict[str, Any]:
    """A configuration for ``emulator``, a SQLite ledger in ``tmp_path`` and a free web port;
    ``sections`` are merged into it (``bridge={"log_level": "DEBUG"}``)."""
    options = emulator.options
    document: dict[str, Any] = {
        "bridge": {"state_dir": str(tmp_path), "database_url": f"sqlite:///{tmp_path / 'ledger.db'}"},
        "pbx": {"url": emulator.url, "username": options.username, "password": options.password,
                "pms_username": options.pms_username, "pms_password": options.pms_password,
                "tls_fingerprint": emulator.fingerprint, "connect_timeout": 2, "read_timeout": 5},
        "rooms": {"extension_template": "1{room}"},
        "web": {"listen": f"127.0.0.1:{free_port()}"},
    }
    for name, values in sections.items():
        document.setdefault(name, {}).update(values)
    return document


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def toml_text(document: dict[str, Any], prefix: str = "") -> str:
    """``document`` as TOML: scalars first, then one table per nested dict."""
    lines, tables = [], []
    for key, value in document.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f'"{key}" = {toml_value(value)}')
    text = "\n".join(lines) + "\n"
    for key, value in tables:
        name = f"{prefix}.{key}" if prefix else key
        text += f"\n[{name}]\n" + toml_text(value, name)
    return text


def write_config(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(toml_text(document), encoding="utf-8")
    return path


def migrated(settings: Settings) -> Settings:
    engine = create_ledger_engine(settings.bridge.effective_database_url)
    migrate(engine)
    engine.dispose()
    return settings


@pytest.fixture
def make_service() -> Iterator[Callable[..., Service]]:
    """Build and start services in this process (web server off); all are stopped at the end."""
    started: list[Service] = []

    def make(document: dict[str, Any], *, web: bool = False) -> Service:
        service = build(migrated(parse_settings(document)))
        service.start(web=web)
        started.append(service)
        return service

    yield make
    for service in started:
        service.stop(timeout=10)


def start_bridge(config: Path, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`pmsbridge run --config FILE` as systemd would start it, its output appended to ``log``."""
    with log.open("ab") as output:
        return subprocess.Popen([sys.executable, "-m", "pmsbridge.cli", "run", "--config", str(config)],
                                stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})


def healthz(base_url: str) -> requests.Response | None:
    try:
        return requests.get(f"{base_url}/healthz", timeout=2)
    except requests.ConnectionError:
        return None


def wait_until_healthy(bridge: subprocess.Popen, base_url: str, log: Path, timeout: float = 30.0) -> None:
    """Wait for /healthz to answer 200; fail at once, with the log, if the bridge exits."""

    def healthy() -> bool:
        if bridge.poll() is not None:
            raise AssertionError(f"pmsbridge run exited with {bridge.returncode}:\n{log.read_text()[-3000:]}")
        answer = healthz(base_url)
        return answer is not None and answer.status_code == 200

    wait_for(healthy, timeout, interval=0.1)
