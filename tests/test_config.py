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
    HaSettings,
    PbxSettings,
    ReconcileSettings,
    RoomsSettings,
    WebSettings,
    config_warnings,
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
    (AccountingSettings, "accounting"), (HaSettings, "ha"),
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


def test_every_missing_secret_is_reported_with_the_sections_other_problems(monkeypatch):
    for name in ("UNSET_API", "UNSET_PMS", "UNSET_KEY"):
        monkeypatch.delenv(name, raising=False)
    document = minimal(url="http://pbx", password=None, password_env="UNSET_API", pms_password=None,
                       pms_password_env="UNSET_PMS")
    document["web"] = {"secret_key_env": "UNSET_KEY"}
    problems = problems_of(document)
    assert "pbx.password_env: the environment variable UNSET_API is not set" in problems
    assert "pbx.pms_password_env: the environment variable UNSET_PMS is not set" in problems
    assert "web.secret_key_env: the environment variable UNSET_KEY is not set" in problems
    assert any(p.startswith("pbx.url: 'http://pbx' is not an https:// URL") for p in problems)


def test_adapter_sections_are_checked_even_when_the_core_has_problems():
    document = minimal(url="http://pbx")
    document["adapters"] = {"fias": {"mode": "sideways"}, "telex": {}}
    problems = problems_of(document)
    assert any(p.startswith("pbx.url:") for p in problems)
    assert any(p.startswith("adapters.fias.mode:") for p in problems)
    assert any(p.startswith("adapters.telex: no adapter of that name") for p in problems)


@pytest.mark.parametrize("rooms, problem", [
    (["101-140", "abc-"], "'abc-' is neither a room number nor a range"),
    (["-5"], "'-5' is neither a room number nor a range"),
    (["101-140", "140"], "'140' lists room 140 again (already in '101-140')"),
    (["140", "140"], "'140' is listed twice"),
    (["101-110", "105-120"], "'105-120' lists rooms 105, 106, 107, 108, 109 and 1 more again (already in '101-110')"),
])
def test_malformed_or_repeated_rooms_are_refused(rooms, problem):
    document = minimal()
    document["rooms"] = {"rooms": rooms}
    [found] = problems_of(document)
    assert found.startswith("rooms.rooms: ") and problem in found


def test_every_bad_room_entry_is_named_at_once():
    document = minimal()
    document["rooms"] = {"rooms": ["abc-", "101-102", "102", "x y"]}
    [found] = problems_of(document)
    assert "'abc-'" in found and "'102' lists room 102 again" in found and "'x y'" in found


def test_room_names_with_inner_separators_stay_valid():
    document = minimal()
    document["rooms"] = {"rooms": ["A-12", "suite.1", "0101-0103"]}
    assert parse_settings(document).rooms.listed_rooms == ["A-12", "suite.1", "0101", "0102", "0103"]


def test_check_config_warns_without_failing(tmp_path, capsys):
    path = tmp_path / "unpinned.toml"
    path.write_text('[pbx]\nurl = "https://192.0.2.10:8089"\nusername = "cdrapi"\npassword = "s3cret-api"\n'
                    'pms_username = "pms"\npms_password = "s3cret-pms"\n')
    assert main(["check-config", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert f"{path}: OK, 2 warnings" in out
    assert "warning: no PMS adapter is enabled" in err
    assert "warning: pbx.tls_fingerprint is not set" in err


def test_no_warning_for_a_pinned_pbx_and_an_enabled_adapter(tmp_path, capsys):
    path = tmp_path / "good.toml"
    path.write_text('[pbx]\nurl = "https://192.0.2.10:8089"\nusername = "cdrapi"\npassword = "s3cret-api"\n'
                    f'pms_username = "pms"\npms_password = "s3cret-pms"\ntls_fingerprint = "{FINGERPRINT}"\n'
                    '[adapters.fias]\nhost = "127.0.0.1"\nport = 5010\n')
    assert main(["check-config", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{path}: OK", "  adapter fias: enabled"]
    assert err == ""


def test_an_unverified_pbx_is_warned_about():
    settings = parse_settings(minimal(tls_fingerprint=None, verify=False))
    assert any(w.startswith("pbx.verify = false: the PBX's certificate is not checked") for w in
               config_warnings(settings))
