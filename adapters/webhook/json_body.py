"""Reading a webhook body as JSON, within bounds a PMS never needs to cross.

Python's JSON reader recurses once per nesting level and turns digits into an integer of
any size: a body of 100,000 ``[`` exhausts the stack and a 200,000-digit number passes
the interpreter's own conversion limit, each with an exception that is not a JSON error.
It also reads ``NaN``, ``Infinity`` and numbers beyond a float's range (``1e400`` is
infinity), which would become rooms "nan" and "inf". ``parse_body`` refuses all of these
with ``BodyRefused``, whose message is the sentence kept in the ledger and answered.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Objects and lists inside each other: a PMS payload nests a handful deep.
MAX_NESTING = 32
# Characters of one number: ids of 20 digits fit, with room to spare.
MAX_NUMBER_LENGTH = 40

# A JSON string (escapes included; one left open runs to the end, so the scan stays linear),
# or a bracket: brackets inside strings do not nest anything.
_STRING_OR_BRACKET = re.compile(rb'"(?:[^"\\]++|\\.)*+"?|[\[\]{}]', re.S)
_OPENING = frozenset((b"[", b"{"))
_CLOSING = frozenset((b"]", b"}"))


class BodyRefused(ValueError):
    """Raised when a body is not JSON in UTF-8 or crosses a bound; the message says which."""


def nests_deeper_than(body: bytes, limit: int) -> bool:
    """Whether objects and lists nest more than ``limit`` deep in ``body``, read in one pass."""
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(body):
        token = match.group()
        if token in _OPENING:
            depth += 1
            if depth > limit:
                return True
        elif token in _CLOSING:
            depth -= 1
    return False


def _number(text: str) -> str:
    if len(text) > MAX_NUMBER_LENGTH:
        raise BodyRefused(f"the body holds a number of {len(text)} characters (at most {MAX_NUMBER_LENGTH})")
    return text


def _integer(text: str) -> int:
    return int(_number(text))


def _finite(text: str) -> float:
    value = float(_number(text))
    if not math.isfinite(value):
        raise BodyRefused(f"the body holds the number {text}, beyond what a number can hold")
    return value


def _constant(text: str) -> Any:
    raise BodyRefused(f"the body holds {text}, which is not a number (JSON has no NaN or Infinity)")


def parse_body(body: bytes) -> Any:
    """The JSON value of ``body``; raises BodyRefused with a sentence when it cannot be used."""
    if nests_deeper_than(body, MAX_NESTING):
        raise BodyRefused(f"the body nests objects and lists more than {MAX_NESTING} deep")
    try:
        text = body.decode("utf-8")
        return json.loads(text, parse_int=_integer, parse_float=_finite, parse_constant=_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BodyRefused(f"the body is not JSON in UTF-8 ({err})") from None
