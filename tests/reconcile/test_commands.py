"""`pmsbridge reconcile [--dry-run]` and the reconciler inside the running service."""

from __future__ import annotations

import pytest

from pmsbridge.cli import main
from pmsbridge.config import parse_settings
from pmsbridge.reconcile.models import DriftKind
from pmsbridge.reconcile.reconciler import Reconciler
from tests.reconcile.conftest import check_in


def settings_document(hotel, database_url: str, tmp_path, **reconcile) -> dict:
    options = hotel.emulator.options
    return {
        "bridge": {"database_url": database_url, "state_dir": str(tmp_path), "timezone": "Europe/Berlin"},
        "pbx": {"url": hotel.emulator.url, "username": options.username, "password": options.password,
                "pms_username": options.pms_username, "pms_password": options.pms_password,
                "tls_fingerprint": hotel.emulator.fingerprint},
        "rooms": {"extension_template": "1{room}"},
        "reconcile": {"detail_pace_ms": 0, **reconcile},
    }


@pytest.fixture
def config_file(hotel, database_url, tmp_path):
    document = settings_document(hotel, database_url, tmp_path)
    lines = []
    for section, values in document.items():
        lines.append(f"[{section}]")
        lines.extend(f'{key} = "{value}"' if isinstance(value, str) else f"{key} = {value}"
                     for key, value in values.items())
    path = tmp_path / "pmsbridge.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_dry_run_prints_the_drift_and_changes_nothing(hotel, config_file, capsys):
    hotel.dispatcher.start()
    hotel.record(check_in("101", "Doe"), check_in("102", "Roe"))
    hotel.settle()
    hotel.emulator.state.vacate_room("102")
    assert main(["reconcile", "--dry-run", "--config", config_file]) == 0
    out, err = capsys.readouterr()
    # The summary once, on stdout: not again as the reconciler's log line.
    assert out.count("reconciliation (") == 1 and "reconciliation" not in err
    assert "dry run: nothing recorded or queued" in out
    assert "30 extensions read in 1 listAccount requests" in out
    row = next(line for line in out.splitlines() if line.startswith("102 "))
    assert row.split() == ["102", "1102", "not_checked_in", "Guest", "Roe", "vacant", *row.split()[6:]]
    assert row.split()[-2:] == ["open", "0"]
    assert hotel.ledger.stats().depth == 0 and hotel.reconciler().drift_by_room() == {}


def test_a_run_from_the_command_line_queues_the_repair(hotel, config_file, capsys):
    hotel.dispatcher.start()
    hotel.record(check_in("101", "Doe"))
    hotel.settle()
    hotel.emulator.state.set_fullname("101", "Someone")
    assert main(["reconcile", "--config", config_file]) == 0
    out = capsys.readouterr().out
    assert "repairs queued: 1 deliveries for rooms 101" in out
    hotel.dispatcher.wake()  # the command's ledger is another object; the service would find it within 5 s
    hotel.settle()
    assert hotel.fullname("101") == "Guest Doe"
    assert main(["reconcile", "--config", config_file]) == 0
    assert "no drift: the PBX matches the desired state" in capsys.readouterr().out


def test_a_pbx_out_of_reach_fails_the_command_with_the_reason(hotel, config_file, capsys):
    hotel.emulator.set_faults(down=True)
    assert main(["reconcile", "--dry-run", "--config", config_file]) == 1
    assert "reconciliation could not read the PBX" in capsys.readouterr().err


def test_the_service_carries_a_reconciler_and_schedules_it(hotel, database_url, tmp_path):
    from pmsbridge.service import build

    service = build(parse_settings(settings_document(hotel, database_url, tmp_path, interval_minutes=5)))
    try:
        assert isinstance(service.reconciler, Reconciler)
        service._schedule_jobs()
        assert service.scheduler.get_job("reconcile").trigger.interval.total_seconds() == 300
        assert service.scheduler.get_job("reconcile-watch") is not None
        assert service.reconciler.counts() == {kind: 0 for kind in DriftKind}
    finally:
        service.engine.dispose()
        service.client.close()

    disabled = build(parse_settings(settings_document(hotel, database_url, tmp_path, enabled=False)))
    try:
        disabled._schedule_jobs()
        assert disabled.scheduler.get_job("reconcile") is None
        assert disabled.scheduler.get_job("reconcile-watch") is not None
    finally:
        disabled.engine.dispose()
        disabled.client.close()
