"""How amounts in minor currency units are written for people: 1050 EUR -> "10.50 EUR"."""

from __future__ import annotations

from decimal import Decimal

# ISO 4217 currencies whose minor unit is not a hundredth.
MINOR_DIGITS = {
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
    "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
}


def format_amount(amount: int | None, currency: str) -> str:
    """``amount`` minor units of ``currency`` with its decimal point; "" for None (the PMS rates it)."""
    if amount is None:
        return ""
    digits = MINOR_DIGITS.get(currency, 2)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10 ** digits)
    text = f"{whole}.{fraction:0{digits}d}" if digits else str(whole)
    return f"{sign}{text} {currency}"


def major_units(amount: int, currency: str) -> Decimal:
    """``amount`` minor units as the decimal amount an API takes: 1050 EUR -> 10.50, 1050 JPY -> 1050."""
    return Decimal(amount).scaleb(-MINOR_DIGITS.get(currency, 2))
