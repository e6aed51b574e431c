"""The cloud PMS sections and their part of config.example.toml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pmsbridge.adapters.apaleo.config import ApaleoSettings
from pmsbridge.adapters.cloudbeds.config import CloudbedsSettings
from pmsbridge.adapters.mews.config import MewsSettings
from pmsbridge.config import ConfigError, parse_settings

EXAMPLE = Path(__file__).parents[3] / "config.example.toml"
PBX = {"url": "https://192.0.2.10:8089", "username": "cdrapi", "password": "s3cret-api", "pms_username": "pms",
       "pms_password": "s3cret-pms", "tls_fingerprint": "sha256:" + "ab" * 32}
APALEO = {"client_id": "SP", "client_secret": "a-real-client-secret", "property_id": "MUC",
          "webhook_tokens": ["0123456789abcdef-token"]}
MODELS = {"apaleo": ApaleoSettings, "mews": MewsSettings, "cloudbeds": CloudbedsSettings}


def problems(name: str, section: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"pbx": PBX, "adapters": {name: section}})
    return caught.value.problems


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_example_documents_every_key(name):
    body = EXAMPLE.read_text().split(f"[adapters.{name}]", 1)[1].split("\n[", 1)[0]
    for key in MODELS[name].model_fields:
        assert re.search(rf"^#? ?{key}(_file|_env)? = ", body, re.MULTILINE), f"adapters.{name}.{key} is not documented"


def test_secrets_come_from_files_and_the_environment(tmp_path, monkeypatch):
    (tmp_path / "secret").write_text("from-a-file-secret\n")
    monkeypatch.setenv("TOKENS", "first-token-0123456789 second-token-0123456789")
    section = {**APALEO, "client_secret_file": str(tmp_path / "secret"), "webhook_tokens_env": "TOKENS"}
    del section["client_secret"], section["webhook_tokens"]
    config = parse_settings({"pbx": PBX, "adapters": {"apaleo": section}}).adapter_settings["apaleo"]
    assert config.client_secret.get_secret_value() == "from-a-file-secret"
    assert [token.get_secret_value() for token in config.webhook_tokens] == [
        "first-token-0123456789", "second-token-0123456789"]


def test_mistakes_are_named_with_their_key():
    found = problems("apaleo", {**APALEO, "client_secret": "example-secret", "api_url": "http://api.apaleo.com",
                                "property_id": "M U C"})
    assert any(p.startswith("adapters.apaleo.api_url: 'http://api.apaleo.com': a PMS is reached over https")
               for p in found)
    assert any(p.startswith("adapters.apaleo.property_id:") for p in found)
    found = problems("apaleo", {**APALEO, "client_secret": "example-secret"})
    assert found == ["adapters.apaleo: client_secret is a placeholder; set the real secret "
                     "(inline, client_secret_file or client_secret_env)"]
    assert problems("apaleo", {**APALEO, "webhook_tokens": ["short"]})[0].startswith(
        "adapters.apaleo: webhook_tokens: each token needs at least 16 characters")
    assert problems("apaleo", {**APALEO, "webhook_tokens": ["has/a-slash-0123456789"]})[0].startswith(
        "adapters.apaleo.webhook_tokens: a token travels in the URL path")


def test_a_disabled_section_may_keep_example_values():
    section = {**APALEO, "enabled": False, "client_secret": "example-secret", "webhook_tokens": ["example"]}
    assert parse_settings({"pbx": PBX, "adapters": {"apaleo": section}}).adapter_settings["apaleo"].enabled is False


def test_mews_vip_codes_are_digits_and_its_tokens_real():
    section = {"client_token": "a-real-client-token", "access_token": "example-access-token",
               "vip_classifications": {"VeryImportant": "V"}}
    found = problems("mews", section)
    assert any(p.startswith("adapters.mews.vip_classifications: VeryImportant = 'V'") for p in found)
    found = problems("mews", {**section, "vip_classifications": {}})
    assert found == ["adapters.mews: access_token is a placeholder; set the real secret "
                     "(inline, access_token_file or access_token_env)"]


def test_cloudbeds_needs_a_numeric_property_id_and_a_real_key():
    found = problems("cloudbeds", {"api_key": "cbat_real-key", "property_id": "MUC"})
    assert any(p.startswith("adapters.cloudbeds.property_id:") for p in found)
    assert problems("cloudbeds", {"api_key": "example-key", "property_id": "1"}) == [
        "adapters.cloudbeds: api_key is a placeholder; set the real secret (inline, api_key_file or api_key_env)"]
