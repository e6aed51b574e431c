"""Raw input as text that every ledger back end stores, and the way back to the original.

The ledger keeps what a PMS sent, as sent, so that an operator can see why it was refused.
Two kinds of character cannot be stored as text everywhere:

- NUL (U+0000): PostgreSQL's text type refuses it ("text fields cannot contain NUL (0x00)
  bytes"), while a FIAS record or a dropped file can carry one;
- lone surrogates (U+D800-U+DFFF): no UTF-8 database holds them, and Python makes them of
  undecodable bytes (``surrogateescape``) and of JSON escapes such as ``"\\ud800"``.

``storable(text)`` returns ``text`` unchanged whenever it holds neither (nearly always).
Otherwise it returns ``ESCAPED_MARK`` followed by the text with each backslash doubled, NUL
written ``\\x00`` and each lone surrogate ``\\udXXX``; a text that happens to begin with
``ESCAPED_MARK`` itself is escaped the same way, so ``original(storable(text)) == text``
for every string. The mark is a line a person reading the ledger understands.
"""

from __future__ import annotations

import re

ESCAPED_MARK = "[escaped: NUL is \\x00, a lone surrogate \\udXXX, a backslash \\\\]\n"
"""The first line of raw input stored escaped."""

_NOT_STORABLE = re.compile("[\x00\ud800-\udfff]")
_TO_ESCAPE = re.compile("[\\\\\x00\ud800-\udfff]")
_ESCAPE_SEQUENCE = re.compile(r"\\(\\|x00|ud[89a-f][0-9a-f]{2})")


def _escape(match: re.Match[str]) -> str:
    character = match.group()
    if character == "\\":
        return "\\\\"
    return "\\x00" if character == "\x00" else f"\\u{ord(character):04x}"


def _unescape(match: re.Match[str]) -> str:
    sequence = match.group(1)
    if sequence == "\\":
        return "\\"
    return "\x00" if sequence == "x00" else chr(int(sequence[1:], 16))


def storable(text: str) -> str:
    """``text`` as every back end stores it: unchanged, or escaped behind ``ESCAPED_MARK``."""
    if _NOT_STORABLE.search(text) is None and not text.startswith(ESCAPED_MARK):
        return text
    return ESCAPED_MARK + _TO_ESCAPE.sub(_escape, text)


def original(stored: str) -> str:
    """The text ``storable`` was given, from what it returned."""
    if not stored.startswith(ESCAPED_MARK):
        return stored
    return _ESCAPE_SEQUENCE.sub(_unescape, stored[len(ESCAPED_MARK):])
