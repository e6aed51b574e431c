"""What a call costs: a prefix table, longest prefix wins, integer arithmetic in minor units.

The rules come from ``accounting.tariffs`` and from the CSV file ``accounting.tariff_file``
names (header ``prefix,name,connection_fee,unit_price,unit_seconds,free_seconds,rounding``;
only ``prefix`` and ``unit_price`` are required, empty cells take the defaults). A prefix
may appear only once across both. Money never touches a float: a rounding error in a
folio is a complaint at the front desk.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from pydantic import Field, ValidationError

from pmsbridge.config_base import Section, describe_error

CSV_COLUMNS = ("prefix", "name", "connection_fee", "unit_price", "unit_seconds", "free_seconds", "rounding")


class TariffRule(Section):
    """One line of the tariff table: calls whose dialled number starts with ``prefix``.

    Amounts are integers in minor currency units. A call answered for at most
    ``free_seconds`` costs nothing; a longer one costs ``connection_fee`` plus
    ``unit_price`` per unit of ``unit_seconds``, the last unit counted per ``rounding``
    ("up": every started unit, "down": whole units only, "nearest": from half a unit).
    """

    prefix: str = Field(pattern=r"^[0-9*#+]*$", max_length=32, description='"" matches every number')
    name: str = Field(default="", max_length=40, description="shown on the folio and the postings page")
    connection_fee: int = Field(default=0, ge=0)
    unit_price: int = Field(ge=0)
    unit_seconds: int = Field(default=60, ge=1)
    free_seconds: int = Field(default=0, ge=0)
    rounding: Literal["up", "down", "nearest"] = "up"


class TariffError(ValueError):
    """Raised when the tariff table cannot be built (a bad CSV row, a prefix given twice)."""


class TariffSources(Protocol):
    """Where the rules are written: the ``[accounting]`` section (``AccountingSettings``) has both."""

    tariffs: list[TariffRule]
    tariff_file: Path | None


def billed_units(seconds: int, unit_seconds: int, rounding: str) -> int:
    """How many units ``seconds`` of talk make: every started unit ("up"), whole units only
    ("down"), or units from half a unit on ("nearest")."""
    if seconds < 0:
        raise ValueError("a call cannot last a negative number of seconds")
    if rounding == "up":
        return -(-seconds // unit_seconds)
    if rounding == "down":
        return seconds // unit_seconds
    if rounding == "nearest":
        return (2 * seconds + unit_seconds) // (2 * unit_seconds)
    raise ValueError(f"unknown rounding {rounding!r}")


def call_amount(rule: TariffRule, seconds: int) -> int:
    """The charge in minor units for a call answered for ``seconds`` under ``rule``."""
    if seconds <= rule.free_seconds:
        return 0
    return rule.connection_fee + billed_units(seconds, rule.unit_seconds, rule.rounding) * rule.unit_price


@dataclass(frozen=True)
class Rating:
    """A rated call: the rule that applied and the amount (minor units)."""

    rule: TariffRule
    amount: int


class TariffTable:
    """Rules by prefix; ``rate`` picks the longest prefix the number starts with."""

    def __init__(self, rules: Iterable[TariffRule]):
        self.rules: dict[str, TariffRule] = {}
        for rule in rules:
            if rule.prefix in self.rules:
                raise TariffError(f"the tariff prefix {rule.prefix!r} is given twice")
            self.rules[rule.prefix] = rule
        # Longest first, so the first match is the most specific rule.
        self._by_length = sorted(self.rules.values(), key=lambda rule: len(rule.prefix), reverse=True)

    @classmethod
    def from_settings(cls, settings: TariffSources) -> TariffTable:
        """The rules of the configuration followed by those of its tariff file; TariffError on a problem."""
        rules = list(settings.tariffs)
        if settings.tariff_file is not None:
            rules += read_tariff_file(settings.tariff_file)
        return cls(rules)

    def rule_for(self, number: str) -> TariffRule | None:
        for rule in self._by_length:
            if number.startswith(rule.prefix):
                return rule
        return None

    def rate(self, number: str, seconds: int) -> Rating | None:
        """The amount for a call to ``number`` answered for ``seconds``; None when no rule applies."""
        rule = self.rule_for(number)
        return None if rule is None else Rating(rule, call_amount(rule, seconds))


def read_tariff_file(path: Path) -> list[TariffRule]:
    """The rules of a tariff CSV; TariffError naming the file and line of the first bad row."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            unknown = sorted(set(reader.fieldnames or ()) - set(CSV_COLUMNS))
            if unknown or "prefix" not in (reader.fieldnames or ()):
                raise TariffError(f"{path}: the header must name prefix, unit_price and optionally "
                                  f"{', '.join(CSV_COLUMNS[1:])}" + (f" (unknown: {', '.join(unknown)})" if unknown
                                                                     else ""))
            rules = []
            for row in reader:
                values = {key: value.strip() for key, value in row.items() if key and value and value.strip()}
                values.setdefault("prefix", "")
                try:
                    rules.append(TariffRule.model_validate(values))
                except ValidationError as err:
                    problems = "; ".join(describe_error(error) for error in err.errors())
                    raise TariffError(f"{path}, line {reader.line_num}: {problems}") from None
            return rules
    except OSError as err:
        raise TariffError(f"{path}: cannot be read ({err.strerror or err})") from None
    except (UnicodeDecodeError, csv.Error) as err:
        raise TariffError(f"{path}: not a UTF-8 CSV file ({err})") from None
