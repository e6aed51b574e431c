"""`pmsbridge pms status` against the simulators, and the demo's configuration for each cloud PMS."""

from __future__ import annotations

import json
from pathlib import Path

from pmsbridge.cli import main
from pmsbridge.config import load_settings
from pmsbridge.demo import cloud_section, demo_config
from pmsbridge.sim.pbx import EmulatorOptions
from tests.adapters.cloud.conftest import PBX, WEBHOOK_TOKEN

FINGERPRINT = "sha256:" + "ab" * 32


def toml_value(value) -> str:
    """A value as TOML: JSON writes strings, numbers, booleans and lists of them the same way."""
    return json.dumps(value)


def write_config(tmp_path: Path, name: str, section: dict) -> Path:
    lines = ["[pbx]", *(f"{key} = {toml_value(value)}" for key, value in PBX.items()),
             f"[adapters.{name}]", *(f"{key} = {toml_value(value)}" for key, value in section.items())]
    path = tmp_path / "pmsbridge.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_pms_status_proves_the_credentials_and_names_the_property(vendor, tmp_path, capsys):
    with vendor.simulator(seed=1) as sim:
        config = write_config(tmp_path, vendor.name, {**vendor.section(sim), "webhook_tokens": [WEBHOOK_TOKEN]})
        assert main(["pms", "status", "--config", str(config)]) == 0
        out = capsys.readouterr().out
        assert f"{vendor.name}: " in out and "Simulator" in out and f"/pms/{vendor.name}/<token>" in out
        assert WEBHOOK_TOKEN not in out
        sim.expire_tokens()
        wrong = {**vendor.section(sim), "property_id": "999", "enterprise_id": "not-the-enterprise"}
        wrong = {key: value for key, value in wrong.items() if key in vendor.section(sim)}
        if vendor.name == "mews":
            wrong["access_token"] = "a-revoked-access-token"
        elif vendor.name == "apaleo":
            wrong["client_secret"] = "a-wrong-client-secret"
        config = write_config(tmp_path, vendor.name, wrong)
        assert main(["pms", "status", "--config", str(config)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"pmsbridge: {vendor.name}: ") and "Traceback" not in err


def test_pms_status_without_a_cloud_adapter_says_so(tmp_path, capsys):
    config = write_config(tmp_path, "csvdrop", {"folder": str(tmp_path)})
    assert main(["pms", "status", "--config", str(config)]) == 1
    assert "no cloud PMS adapter" in capsys.readouterr().err


def test_the_demo_configuration_of_each_cloud_pms_is_valid(vendor, tmp_path):
    with vendor.simulator(seed=1) as sim:
        section = cloud_section(vendor.name, sim.credentials(), sim.url)
    options = EmulatorOptions(port=0, state_dir=tmp_path / "pbx")

    class Emulator:
        url, fingerprint = "https://127.0.0.1:8089", FINGERPRINT

    path = tmp_path / "demo.toml"
    path.write_text(demo_config(tmp_path, Emulator(), options, section, "127.0.0.1:8080"))
    settings = load_settings(path)
    assert settings.adapter_settings[vendor.name].webhook_tokens

