"""Tariff arithmetic: integer minor units, longest prefix, rounding, free seconds, the CSV file."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pmsbridge.accounting.tariffs import TariffError, TariffTable, billed_units, call_amount, read_tariff_file
from pmsbridge.config import TariffRule

ROUNDINGS = ("up", "down", "nearest")

rules = st.builds(
    TariffRule,
    prefix=st.text(alphabet="0123456789", max_size=6),
    connection_fee=st.integers(0, 10_000),
    unit_price=st.integers(0, 10_000),
    unit_seconds=st.integers(1, 3600),
    free_seconds=st.integers(0, 120),
    rounding=st.sampled_from(ROUNDINGS),
)
seconds = st.integers(0, 24 * 3600)


@given(rules, seconds)
def test_an_amount_is_a_whole_number_of_minor_units(rule, talk):
    amount = call_amount(rule, talk)
    assert isinstance(amount, int) and amount >= 0


@given(rules, seconds, seconds)
def test_a_longer_call_never_costs_less(rule, first, second):
    shorter, longer = sorted((first, second))
    assert call_amount(rule, shorter) <= call_amount(rule, longer)


@given(rules, seconds)
def test_a_charged_call_is_the_fee_plus_whole_units(rule, talk):
    amount = call_amount(rule, talk)
    if talk <= rule.free_seconds:
        assert amount == 0
    else:
        units = billed_units(talk, rule.unit_seconds, rule.rounding)
        assert amount == rule.connection_fee + units * rule.unit_price


@given(st.integers(0, 10**6), st.integers(1, 3600))
def test_rounding_up_never_undercharges_and_down_never_overcharges(talk, unit):
    up, nearest, down = (billed_units(talk, unit, rounding) for rounding in ("up", "nearest", "down"))
    assert down <= nearest <= up <= down + 1
    assert down * unit <= talk <= up * unit
    assert abs(nearest * unit - talk) * 2 <= unit


@given(st.integers(0, 1000), st.integers(1, 3600), st.sampled_from(ROUNDINGS))
def test_whole_units_are_the_same_whatever_the_rounding(units, unit, rounding):
    assert billed_units(units * unit, unit, rounding) == units


@given(st.lists(st.text(alphabet="0123", max_size=5), unique=True, min_size=1, max_size=8),
       st.text(alphabet="0123", max_size=10))
def test_the_longest_matching_prefix_wins(prefixes, number):
    table = TariffTable(TariffRule(prefix=prefix, unit_price=1) for prefix in prefixes)
    matching = [prefix for prefix in prefixes if number.startswith(prefix)]
    rule = table.rule_for(number)
    if not matching:
        assert rule is None and table.rate(number, 60) is None
    else:
        assert rule.prefix == max(matching, key=len)


@pytest.mark.parametrize("talk, rounding, amount", [
    (0, "up", 0), (5, "up", 0), (6, "up", 50 + 120), (60, "up", 50 + 120), (61, "up", 50 + 240),
    (89, "nearest", 50 + 120), (90, "nearest", 50 + 240), (119, "down", 50 + 120), (59, "down", 50),
])
def test_worked_examples(talk, rounding, amount):
    rule = TariffRule(prefix="00", connection_fee=50, unit_price=120, unit_seconds=60, free_seconds=5,
                      rounding=rounding)
    assert call_amount(rule, talk) == amount


def test_a_prefix_given_twice_is_refused():
    with pytest.raises(TariffError, match="'00' is given twice"):
        TariffTable([TariffRule(prefix="00", unit_price=1), TariffRule(prefix="00", unit_price=2)])


def test_the_tariff_file_is_read_with_defaults_for_empty_cells(tmp_path):
    path = tmp_path / "tariffs.csv"
    path.write_text("prefix,name,connection_fee,unit_price,unit_seconds,free_seconds,rounding\n"
                    "0044,UK,30,90,60,,\n"
                    "0049,Germany,,50,,10,down\n", encoding="utf-8")
    uk, germany = read_tariff_file(path)
    assert (uk.prefix, uk.name, uk.connection_fee, uk.unit_price, uk.unit_seconds, uk.free_seconds,
            uk.rounding) == ("0044", "UK", 30, 90, 60, 0, "up")
    assert (germany.connection_fee, germany.free_seconds, germany.rounding) == (0, 10, "down")


@pytest.mark.parametrize("content, problem", [
    ("prefix,price\n00,1\n", "unknown: price"),
    ("name,unit_price\nx,1\n", "the header must name prefix"),
    ("prefix,unit_price\n00,lots\n", "line 2: unit_price"),
    ("prefix,unit_price,rounding\n00,1,sideways\n", "line 2: rounding"),
    ("prefix,unit_price\n0x,1\n", "line 2: prefix"),
])
def test_a_bad_tariff_file_names_the_file_and_line(tmp_path, content, problem):
    path = tmp_path / "tariffs.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TariffError, match=problem):
        read_tariff_file(path)
