"""The [adapters.fias] section: defaults, validation, and its place in the example file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from pmsbridge.adapters.fias.config import FiasSettings
from pmsbridge.config import ConfigError, registered_adapters
from tests.adapters.fias.conftest import bridge_settings

EXAMPLE = Path(__file__).parents[3] / "config.example.toml"


def problems(**section) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        bridge_settings(adapters={"fias": section})
    return caught.value.problems


def test_defaults_suit_a_usual_site():
    settings = FiasSettings()
    assert (settings.mode, settings.host, settings.port, settings.encoding) == ("client", "127.0.0.1", 5010, "cp1252")
    assert settings.cos_table == {"0": 1, "1": 2, "2": 3, "3": 4}
    assert (settings.posting_timeout, settings.swap_checkout_guard, settings.source) == (30.0, 0.5, "fias")
    assert settings.alive_interval < settings.dead_after


def test_the_section_is_validated_by_the_adapter_model():
    settings = bridge_settings(adapters={"fias": {"host": "192.0.2.30", "port": 5011, "encoding": "CP850"}})
    fias = settings.adapter_settings["fias"]
    assert isinstance(fias, FiasSettings)
    assert (fias.host, fias.port, fias.encoding) == ("192.0.2.30", 5011, "cp850")
    assert registered_adapters()["fias"].load().config_model is FiasSettings


def test_unknown_keys_are_rejected():
    assert problems(hots="x") == ["adapters.fias.hots: unknown key (check its spelling and section)"]


@pytest.mark.parametrize("section, words", [
    ({"encoding": "utf-16"}, "does not write ASCII as single ASCII bytes"),
    ({"encoding": "shift_jis"}, "multi-byte"),
    ({"encoding": "klingon"}, "unknown or unusable text encoding"),
    ({"mode": "both"}, "adapters.fias.mode"),
    ({"alive_interval": 301, "dead_after": 900}, "adapters.fias.alive_interval"),
    ({"alive_interval": 60, "dead_after": 60}, "dead_after (60 s) must be longer than alive_interval"),
    ({"reconnect_min": 10, "reconnect_max": 5}, "reconnect_max (5) is below reconnect_min (10)"),
    ({"cos_table": {"0": 5}}, "FIAS class '0' maps to 5; PBX classes of service are 1-4"),
    ({"cos_table": {}}, "needs at least one FIAS class"),
    ({"swap_checkout_guard": 1.5}, "adapters.fias.swap_checkout_guard"),
    ({"port": 0}, "port 0 is only meaningful in server mode"),
    ({"move_pair_window": -1}, "adapters.fias.move_pair_window"),
    ({"mode": "server", "host": "0.0.0.0"}, "in server mode listening on '0.0.0.0', allowed_peers must name"),
    ({"mode": "server", "host": "bridge.hotel.lan"}, "allowed_peers must name the PMS addresses"),
    ({"mode": "server", "allowed_peers": ["pms.hotel.lan"]}, "'pms.hotel.lan' is not an IP address or network"),
    ({"mode": "server", "allowed_peers": []}, "an empty list would refuse every PMS"),
    ({"allowed_peers": ["192.0.2.20"]}, "allowed_peers applies in server mode only"),
    ({"posting_timeout": 5}, "adapters.fias.posting_timeout: 5 s is too short: FIAS asks for at least 30 s"),
])
def test_bad_values_are_named(section, words):
    assert any(words in problem for problem in problems(**section)), problems(**section)


def test_every_problem_is_reported_at_once():
    found = problems(mode="both", encoding="klingon", lrc="perhaps")
    assert len(found) == 3


def test_server_mode_may_pick_a_free_port():
    assert FiasSettings(mode="server", port=0).port == 0


def test_the_example_documents_every_key():
    body = EXAMPLE.read_text().split("[adapters.fias]", 1)[1].split("\n[", 1)[0]
    for name in FiasSettings.model_fields:
        assert re.search(rf"^#? ?{name} = ", body, re.MULTILINE), f"adapters.fias.{name} is not documented"


def test_the_examples_section_is_valid():
    section = tomllib.loads(EXAMPLE.read_text())["adapters"]["fias"]
    assert FiasSettings(**section).language_map["GE"] == "DE"


def test_a_tiny_record_limit_is_refused():
    with pytest.raises(ValidationError, match="max_record"):
        FiasSettings(max_record=10)


def test_server_mode_lets_in_the_pms_addresses_only():
    assert [str(net) for net in FiasSettings(mode="server", host="192.0.2.5").peer_networks()] == ["192.0.2.5/32"]
    assert [str(net) for net in FiasSettings(mode="server", host="localhost").peer_networks()] == [
        "127.0.0.1/32", "::1/128"]
    listed = FiasSettings(mode="server", host="0.0.0.0", allowed_peers=["192.0.2.20", "198.51.100.0/29"])
    assert [str(net) for net in listed.peer_networks()] == ["192.0.2.20/32", "198.51.100.0/29"]
