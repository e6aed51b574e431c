"""The [adapters.webhook] section, validated through the real configuration loader."""

from __future__ import annotations

import copy
import re

import pytest

from pmsbridge.cli import main
from pmsbridge.config import ConfigError
from tests.adapters.webhook.conftest import APALEO_SOURCE, FULL_SOURCE, settings_with


def problems(sources: dict, **webhook) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        settings_with(sources, **webhook)
    return caught.value.problems


def test_the_test_sources_are_valid():
    webhook = settings_with({"pms": FULL_SOURCE, "apaleo": APALEO_SOURCE}).adapter_settings["webhook"]
    assert set(webhook.sources) == {"pms", "apaleo"}
    assert webhook.sources["pms"].signature.max_age_seconds == 300


def test_a_source_without_token_or_signature_is_refused():
    source = {**APALEO_SOURCE, "tokens": []}
    [problem] = problems({"open": source})
    assert problem.startswith("adapters.webhook.sources.open: a source needs tokens or a [signature]")


def test_an_event_target_needs_its_mapping_paths():
    source = copy.deepcopy(APALEO_SOURCE)
    source["events"]["reservation/checked-in"] = "check_in"
    [problem] = problems({"apaleo": source})
    assert "events mapped to check_in need mapping.room" in problem


def test_unknown_keys_bad_expressions_and_targets_are_named():
    source = copy.deepcopy(FULL_SOURCE)
    source["mapping"]["room"] = "reservation..room"
    source["mapping"]["rooom"] = "x"
    source["events"]["x"] = "explode"
    found = problems({"pms": source})
    assert any(p.startswith("adapters.webhook.sources.pms.mapping.room: 'reservation..room' is not a JMESPath")
               for p in found)
    assert "adapters.webhook.sources.pms.mapping.rooom: unknown key (check its spelling and section)" in found
    assert any(p.startswith("adapters.webhook.sources.pms.events.x:") for p in found)


def test_source_names_must_fit_a_path():
    assert "source name 'Front Desk'" in problems({"Front Desk": APALEO_SOURCE})[0]


def test_example_secrets_are_refused_in_an_enabled_adapter_only():
    source = {**APALEO_SOURCE, "tokens": ["example-apaleo-token"]}
    assert "uses an example token or secret" in problems({"apaleo": source})[0]
    assert settings_with({"apaleo": source}, enabled=False).adapter_settings["webhook"].enabled is False


def test_tokens_from_a_file_one_per_line(tmp_path):
    path = tmp_path / "tokens"
    path.write_text("first-token-aaaaaaaa\nsecond-token-bbbbbbb\n")
    source = {key: value for key, value in APALEO_SOURCE.items() if key != "tokens"}
    source["tokens_file"] = str(path)
    settings = settings_with({"apaleo": source})
    tokens = settings.adapter_settings["webhook"].sources["apaleo"].tokens
    assert [token.get_secret_value() for token in tokens] == ["first-token-aaaaaaaa", "second-token-bbbbbbb"]
    assert "first-token" not in repr(settings.adapter_settings)


def test_hmac_secrets_from_the_environment(monkeypatch):
    monkeypatch.setenv("SITE_WEBHOOK_KEYS", "key-one-xxxxxxxx key-two-yyyyyyyy")
    source = copy.deepcopy(FULL_SOURCE)
    del source["signature"]["secrets"]
    source["signature"]["secrets_env"] = "SITE_WEBHOOK_KEYS"
    signature = settings_with({"pms": source}).adapter_settings["webhook"].sources["pms"].signature
    assert [secret.get_secret_value() for secret in signature.secrets] == ["key-one-xxxxxxxx", "key-two-yyyyyyyy"]


def test_a_signed_timestamp_needs_its_header_and_templates_only_know_two_placeholders():
    source = copy.deepcopy(FULL_SOURCE)
    del source["signature"]["timestamp_header"]
    assert "set timestamp_header" in problems({"pms": source})[0]
    source["signature"]["template"] = "{nonce}.{body}"
    assert "only the placeholders {body} and {timestamp}" in problems({"pms": source})[0]


def test_a_time_window_over_an_unsigned_timestamp_is_refused():
    source = copy.deepcopy(FULL_SOURCE)
    source["signature"]["template"] = "{body}"
    [problem] = problems({"pms": source})
    assert problem.startswith("adapters.webhook.sources.pms.signature: timestamp_header = 'X-Timestamp' enforces")
    assert "template '{body}' does not sign {timestamp}" in problem


def test_check_config_names_the_unsigned_timestamp(tmp_path, capsys):
    path = tmp_path / "pmsbridge.toml"
    path.write_text(f"""
[pbx]
url = "https://192.0.2.10:8089"
username = "cdrapi"
password = "s3cret-api"
pms_username = "pms"
pms_password = "s3cret-pms"
tls_fingerprint = "sha256:{'ab' * 32}"

[adapters.webhook.sources.pms]
mapping = {{ event_type = "event", room = "room" }}
events = {{ "checked_in" = "check_in" }}

[adapters.webhook.sources.pms.signature]
header = "X-Signature"
template = "{{body}}"
timestamp_header = "X-Timestamp"
secrets = ["a-real-hmac-key-0123456789"]
""")
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "adapters.webhook.sources.pms.signature: timestamp_header = 'X-Timestamp'" in err
    assert "Traceback" not in err


def test_allow_lists_take_addresses_and_networks():
    source = {**APALEO_SOURCE, "allow_ips": ["192.0.2.7", "2001:db8::/32"], "trusted_proxies": ["10.0.0.0/8"]}
    parsed = settings_with({"apaleo": source}).adapter_settings["webhook"].sources["apaleo"]
    assert [str(network) for network in parsed.allow_ips] == ["192.0.2.7/32", "2001:db8::/32"]
    assert "does not appear to be an IPv4 or IPv6 network" in problems({"a": {**source, "allow_ips": ["nope"]}})[0]


def test_the_example_documents_every_key():
    from pathlib import Path

    from pmsbridge.adapters.webhook.config import (
        MappingSettings,
        PostingSettings,
        SignatureSettings,
        SigningSettings,
        SourceSettings,
        WebhookSettings,
    )

    text = (Path(__file__).parents[3] / "config.example.toml").read_text()

    def section(name: str) -> str:
        return text.split(f"[{name}]\n", 1)[1].split("\n[", 1)[0]

    for model, name in ((WebhookSettings, "adapters.webhook"), (SourceSettings, "adapters.webhook.sources.pms"),
                        (SignatureSettings, "adapters.webhook.sources.pms.signature"),
                        (MappingSettings, "adapters.webhook.sources.pms.mapping"),
                        (PostingSettings, "adapters.webhook.sources.pms.posting"),
                        (SigningSettings, "adapters.webhook.sources.pms.posting.signing")):
        body = section(name)
        for field in model.model_fields:
            if field in ("sources", "signature", "mapping", "events", "posting", "signing"):
                continue  # sub-tables, documented as sections of their own
            assert re.search(rf"^#? ?{field}(_file|_env)? = ", body, re.MULTILINE), f"{name}.{field} is not documented"
    assert section("adapters.webhook.sources.pms.events").strip()
