"""Guest names as the PBX can store and display them.

PMS exports carry whatever the front desk typed or the booking channel sent: control
characters, zero-width joiners, line breaks, emoji, names in any script. A name goes into an
XML (or JSON) document and ends up on phone displays, so it is cleaned first; older firmware
only displays ASCII, for which a transliteration is offered.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pmsbridge.config import PbxSettings

# Letters that NFKD does not decompose into an ASCII base letter, and punctuation that is
# common in names (O'Brien typed with a typographic apostrophe).
ASCII_FALLBACKS = {
    "ß": "ss", "ẞ": "SS", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "Ø": "O", "ø": "o",
    "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ð": "D", "ð": "d", "Þ": "Th", "þ": "th",
    "ı": "i", "Ħ": "H", "ħ": "h", "Ŧ": "T", "ŧ": "t", "Ŋ": "N", "ŋ": "n", "ĸ": "k", "ſ": "s",
    "Ə": "E", "ə": "e", "Ɛ": "E", "ɛ": "e", "Ɔ": "O", "ɔ": "o",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u02bc": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
}


def _is_noncharacter(code_point: int) -> bool:
    return 0xFDD0 <= code_point <= 0xFDEF or code_point & 0xFFFE == 0xFFFE


def _is_unwanted(char: str) -> bool:
    """Characters that are invisible, break XML or mean nothing in a name."""
    # Cc: control characters, Cf: format characters (zero-width joiners, bidi marks, soft
    # hyphens), Cs: lone surrogates (undecodable bytes). Unassigned code points are kept:
    # they may be emoji newer than this Python's Unicode tables.
    return unicodedata.category(char) in ("Cc", "Cf", "Cs") or _is_noncharacter(ord(char))


def _collapse_whitespace(text: str) -> str:
    return " ".join(text.split())


def _to_ascii(text: str) -> str:
    """Transliterate to ASCII; characters without an ASCII form (other scripts, emoji) are dropped."""
    replaced = "".join(ASCII_FALLBACKS.get(char, char) for char in text)
    return "".join(char for char in unicodedata.normalize("NFKD", replaced) if char.isascii())


@dataclass(frozen=True)
class NamePolicy:
    """How guest names are cleaned before they reach the PBX.

    ``ascii_only`` transliterates to ASCII (pbx.name_ascii, for firmware that cannot show
    other characters); ``max_length`` cuts the cleaned name to that many characters
    (pbx.name_max_length; 0 means no limit).
    """

    ascii_only: bool = False
    max_length: int = 0

    def __post_init__(self) -> None:
        if self.max_length < 0:
            raise ValueError("max_length must be 0 (no limit) or positive")

    @classmethod
    def from_settings(cls, settings: PbxSettings) -> NamePolicy:
        return cls(ascii_only=settings.name_ascii, max_length=settings.name_max_length)

    def clean(self, name: str) -> str:
        """Return ``name`` fit for the PBX: NFC, no control or format characters, single
        spaces, optionally ASCII, at most ``max_length`` characters.

        Characters XML gives a meaning to (``&``, ``<``, quotes) are kept: the documents are
        built with a serialiser that escapes them.
        """
        # Whitespace controls (tab, newline, NEL) separate words; other controls are noise.
        text = "".join(" " if char.isspace() else char for char in name if char.isspace() or not _is_unwanted(char))
        # Composed after the removal: a dropped zero-width character may have kept a letter
        # and its accent apart.
        text = unicodedata.normalize("NFC", text)
        if self.ascii_only:
            text = _to_ascii(text)
        text = _collapse_whitespace(text)
        if self.max_length:
            text = text[: self.max_length].rstrip()
        return text
