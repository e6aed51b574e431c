"""The PBX's prompt languages, and the language codes PMSs send for them.

pmsapi's ``language`` chooses the voice prompts of a checked-in extension. The FCM630A
knows its prompt languages by lower-case code; PMSs send their own codes (OPERA and FIAS:
``EA``, ``GE``, ``F``...; cloud PMSs: ``en-GB``, ``de``). ``PMS_LANGUAGE_CODES`` maps the
common ones; an integrator adds or overrides codes with ``validation.language_map``.
"""

from __future__ import annotations

# The prompt languages of the FCM630A's stock firmware (validation.prompt_languages overrides).
PROMPT_LANGUAGES: tuple[str, ...] = (
    "en", "de", "fr", "es", "it", "pt", "nl", "ru", "pl", "tr", "cs", "sv", "da", "no", "fi",
    "el", "hu", "ro", "zh", "ja", "ko", "ar", "he",
)

# PMS language code (upper case) -> prompt language.
PMS_LANGUAGE_CODES: dict[str, str] = {
    "E": "en", "EA": "en", "EN": "en", "ENG": "en", "US": "en", "GB": "en",
    "G": "de", "GE": "de", "DE": "de", "GER": "de", "DEU": "de",
    "F": "fr", "FR": "fr", "FRA": "fr", "FRE": "fr",
    "S": "es", "SP": "es", "ES": "es", "SPA": "es",
    "I": "it", "IT": "it", "ITA": "it",
    "P": "pt", "PT": "pt", "POR": "pt",
    "N": "nl", "NL": "nl", "DU": "nl", "DUT": "nl", "NLD": "nl",
    "R": "ru", "RU": "ru", "RUS": "ru",
    "PL": "pl", "POL": "pl",
    "TR": "tr", "TUR": "tr",
    "CS": "cs", "CZ": "cs", "CZE": "cs",
    "SV": "sv", "SE": "sv", "SW": "sv", "SWE": "sv",
    "DA": "da", "DK": "da", "DAN": "da",
    "NO": "no", "NOR": "no",
    "FI": "fi", "FIN": "fi",
    "EL": "el", "GR": "el", "GRE": "el",
    "HU": "hu", "HUN": "hu",
    "RO": "ro", "RUM": "ro",
    "C": "zh", "CH": "zh", "ZH": "zh", "CHI": "zh", "ZHO": "zh",
    "J": "ja", "JA": "ja", "JP": "ja", "JPN": "ja",
    "K": "ko", "KO": "ko", "KOR": "ko",
    "A": "ar", "AR": "ar", "ARA": "ar",
    "HE": "he", "HEB": "he", "IW": "he",
}
