"""The [accounting] section: what it refuses, with the key named."""

from __future__ import annotations

import pytest

from pmsbridge.config import ConfigError, parse_settings
from tests.accounting.conftest import PBX_PLACEHOLDER, settings_for


def problems_of(accounting: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"pbx": dict(PBX_PLACEHOLDER), "accounting": accounting})
    return caught.value.problems


def test_accounting_is_off_by_default_and_needs_no_tariffs_then():
    settings = parse_settings({"pbx": dict(PBX_PLACEHOLDER)})
    assert not settings.accounting.enabled and settings.accounting.wakeup_answers == "acceptance"


def test_rating_calls_here_needs_tariffs():
    [problem] = problems_of({"enabled": True})
    assert problem.startswith("accounting: ") and "needs tariffs" in problem


def test_letting_the_pms_rate_calls_needs_none():
    assert parse_settings({"pbx": dict(PBX_PLACEHOLDER),
                           "accounting": {"enabled": True, "charge_as": "call"}}).accounting.charge_as == "call"


def test_wakeup_outcomes_need_the_collector():
    [problem] = problems_of({"wakeup_answers": "outcome"})
    assert "needs enabled = true" in problem


@pytest.mark.parametrize("accounting, key", [
    ({"tariffs": [{"prefix": "00"}]}, "accounting.tariffs.0.unit_price"),
    ({"tariffs": [{"prefix": "0a", "unit_price": 1}]}, "accounting.tariffs.0.prefix"),
    ({"tariffs": [{"prefix": "0", "unit_price": -1}]}, "accounting.tariffs.0.unit_price"),
    ({"tariffs": [{"prefix": "0", "unit_price": 1, "unit_seconds": 0}]}, "accounting.tariffs.0.unit_seconds"),
    ({"tariffs": [{"prefix": "0", "unit_price": 1, "pulse": 3}]}, "accounting.tariffs.0.pulse"),
    ({"page_size": 5000}, "accounting.page_size"),
    ({"currency": "euro"}, "accounting.currency"),
    ({"report_allow_ips": ["not-an-address"]}, "accounting.report_allow_ips.0"),
    ({"tariff_file": "/nonexistent/tariffs.csv"}, "accounting.tariff_file"),
])
def test_bad_values_are_named_by_their_key(accounting, key):
    assert any(problem.startswith(f"{key}: ") for problem in problems_of(accounting)), problems_of(accounting)


def test_a_tariff_file_adds_rules_and_a_duplicate_prefix_is_refused(tmp_path):
    path = tmp_path / "tariffs.csv"
    path.write_text("prefix,unit_price\n0044,90\n", encoding="utf-8")
    settings = settings_for(tariff_file=str(path))
    assert settings.accounting.tariff_file == path
    path.write_text("prefix,unit_price\n00,90\n", encoding="utf-8")
    [problem] = problems_of({"enabled": True, "tariffs": [{"prefix": "00", "unit_price": 1}],
                             "tariff_file": str(path)})
    assert "'00' is given twice" in problem


def test_a_single_wakeup_pattern_may_be_written_without_a_list():
    settings = settings_for(wakeup_answers="outcome", wakeup_call_match={"src": "*36", "dcontext": ["wake*", "x"]})
    assert settings.accounting.wakeup_call_match == {"src": ["*36"], "dcontext": ["wake*", "x"]}
