"""The configuration file: validation, secrets, the example, and `pmsbridge check-config`."""

import re
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from pmsbridge.cli import main
from pmsbridge.config import (
    AccountingSettings,
    BridgeSettings,
    ConfigError,
    DispatcherSettings,
    PbxSettings,
    ReconcileSettings,
    RoomsSettings,
    WebSettings,
    load_settings,
    parse_settings,
)

EXAMPLE = Path(__file__).parent.parent / "config.example.toml"
FINGERPRINT = "sha256:" + "ab" * 32


@pytest.fixture
def example_env(monkeypatch):
    monkeypatch.setenv("PMSBRIDGE_PBX_PASSWORD", "a-real-api-password")
    monkeypatch.setenv("PMSBRIDGE_PMS_PASSWORD", "a-real-pms-password")


def minimal(**pbx) -> dict:
    section = {"url": "https://192.0.2.10:8089", "username": "cdrapi", "password": "s3cret-api",
               "pms_username": "pms", "pms_password": "s3cret-pms", "tls_fingerprint": FINGERPRINT}
    section.update(pbx)
    return {"pbx": {k: v for k, v in section.items() if v is not None}}


def problems_of(document: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(document)
    return caught.value.problems


def test_the_example_passes_check_config(example_env, capsys):
    assert main(["check-config", "--config", str(EXAMPLE)]) == 0
    assert "OK" in capsys.readouterr().out


@pytest.mark.parametrize("model, section", [
    (BridgeSettings, "bridge"), (PbxSettings, "pbx"), (RoomsSettings, "rooms"),
    (DispatcherSettings, "dispatcher"), (WebSettings, "web"), (ReconcileSettings, "reconcile"),
    (AccountingSettings, "accounting"),
])
def test_the_example_documents_every_key(model: type[BaseModel], section: str):
    text = EXAMPLE.read_text()
    body = text.split(f"[{section}]", 1)[1].split("\n[", 1)[0]
    for name in model.model_fields:
        assert re.search(rf"^#? ?{name}(_file|_env)? = ", body, re.MULTILINE), f"{section}.{name} is not documented"


def test_minimal_configuration_has_defaults():
    settings = parse_settings(minimal())
    assert settings.rooms.extension_template == "{room}"
    assert settings.web.host_port == ("127.0.0.1", 8080)
    assert settings.bridge.effective_database_url == "sqlite:////var/lib/pmsbridge/ledger.db"
    assert settings.pbx.password.get_secret_value() == "s3cret-api"


def test_unknown_keys_are_rejected_with_their_path():
    document = minimal(passwrd="x")
    document["rooms"] = {"extension_templat": "1{room}"}
    problems = problems_of(document)
    assert "pbx.passwrd: unknown key (check its spelling and section)" in problems
    assert "rooms.extension_templat: unknown key (check its spelling and section)" in problems


def test_every_error_is_reported_at_once():
    document = minimal(url="http://pbx", tls_fingerprint="sha256:1234")
    document["bridge"] = {"timezone": "Mars/Olympus"}
    document["web"] = {"listen": "8080"}
    document["rooms"] = {"extension_template": "1{rom}"}
    problems = problems_of(document)
    assert len(problems) == 5, problems
    assert any(p.startswith("pbx.url: 'http://pbx' is not an https:// URL") for p in problems)
    assert any(p.startswith("pbx.tls_fingerprint: expected sha256:") for p in problems)
    assert any(p.startswith("bridge.timezone: unknown time zone 'Mars/Olympus'") for p in problems)
    assert any(p.startswith("web.listen:") for p in problems)
    assert any(p.startswith("rooms.extension_template:") for p in problems)


def test_missing_section_and_keys_are_named():
    assert problems_of({}) == ["pbx: required key is missing"]
    assert "pbx.username: required key is missing" in problems_of(minimal(username=None))


def test_secret_from_a_file(tmp_path):
    secret = tmp_path / "pbx-password"
    secret.write_text("from-a-file\n")
    settings = parse_settings(minimal(password=None, password_file=str(secret)))
    assert settings.pbx.password.get_secret_value() == "from-a-file"


def test_secret_file_that_cannot_be_read(tmp_path):
    problems = problems_of(minimal(password=None, password_file=str(tmp_path / "missing")))
    assert len(problems) == 1 and "password_file: cannot read" in problems[0]


def test_secret_from_the_environment(monkeypatch):
    monkeypatch.setenv("SITE_PMS_SECRET", "from-the-environment")
    settings = parse_settings(minimal(pms_password=None, pms_password_env="SITE_PMS_SECRET"))
    assert settings.pbx.pms_password.get_secret_value() == "from-the-environment"


def test_secret_from_an_unset_variable(monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    problems = problems_of(minimal(password=None, password_env="NOT_SET_ANYWHERE"))
    assert "the environment variable NOT_SET_ANYWHERE is not set" in problems[0]


def test_two_sources_for_one_secret_are_refused(tmp_path):
    problems = problems_of(minimal(password_env="X"))
    assert "give only one of password, password_env" in problems[0]


def test_placeholder_secrets_are_refused_outside_the_demo():
    problems = problems_of(minimal(password="changeme"))
    assert problems == ["(top level): pbx.password is a placeholder; set the real secret "
                        "(inline, pbx.password_file or pbx.password_env)"]
    document = minimal(password="changeme")
    document["bridge"] = {"demo": True}
    assert parse_settings(document).bridge.demo


def test_trust_settings_contradicting_each_other(tmp_path):
    assert "give either tls_fingerprint or ca_file" in problems_of(minimal(ca_file=str(EXAMPLE)))[0]
    assert "verify = false contradicts tls_fingerprint" in problems_of(minimal(verify=False))[0]
    assert "does not exist" in problems_of(minimal(tls_fingerprint=None, ca_file=str(tmp_path / "ca.pem")))[0]


def test_fingerprint_is_normalised():
    upper = "SHA256:" + ":".join(["AB"] * 32)
    assert parse_settings(minimal(tls_fingerprint=upper)).pbx.tls_fingerprint == FINGERPRINT


def test_unknown_adapter_is_named():
    document = minimal()
    document["adapters"] = {"telex": {"enabled": True}}
    assert problems_of(document)[0].startswith("adapters.telex: no adapter of that name is installed")


def test_check_config_lists_problems_and_fails(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[pbx]\nurl = "ftp://pbx"\nusername = ""\n')
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "pbx.url:" in err and "pbx.username:" in err and "pbx.password: required key is missing" in err
    assert "Traceback" not in err


def test_check_config_reports_toml_syntax_errors(tmp_path, capsys):
    path = tmp_path / "broken.toml"
    path.write_text("[pbx\nurl = 1\n")
    assert main(["check-config", "--config", str(path)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_check_config_names_a_missing_file(tmp_path, capsys):
    assert main(["check-config", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_config_from_the_environment_variable(tmp_path, monkeypatch, example_env):
    monkeypatch.setenv("PMSBRIDGE_CONFIG", str(EXAMPLE))
    assert load_settings(None).pbx.username == "cdrapi"


def test_example_is_valid_toml_with_the_contract_keys():
    document = tomllib.loads(EXAMPLE.read_text())
    assert {"database_url", "timezone"} <= set(document["bridge"])
    assert {"url", "username", "pms_username", "tls_fingerprint"} <= set(document["pbx"])
    assert document["rooms"]["extension_template"] and document["web"]["listen"]
