"""Authenticating a webhook request (shared tokens and HMAC signatures), and signing the
postings the bridge sends back.

Both are checked with constant-time comparisons against every configured value, so a
secret can be rotated by listing the new one next to the old one until the PMS has
switched. A signature is computed over the raw request bytes, never over re-serialised
JSON: the signed string is the source's ``template`` with ``{body}`` replaced by the body
bytes and ``{timestamp}`` by the timestamp header's text exactly as sent. A timestamp
outside ``max_age_seconds`` (in either direction, for clock skew) is refused, which bounds
how long a captured request can be replayed; within the window a replay carries the same
idempotency key as the original and the ledger answers it as a duplicate.

``RequestRefused`` messages go to the audit log: they say what failed, never a secret.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime

from pydantic import SecretStr

from pmsbridge.adapters.webhook.config import SignatureSettings, SigningSettings

# Several signatures may share one header (one per active key), separated by commas or blanks.
_SIGNATURE_SEPARATORS = re.compile(r"[,\s]+")
# A unix time in seconds or milliseconds: digits, and a fraction at most (finite by construction).
_UNIX_TIME = re.compile(r"[0-9]{1,16}(?:\.[0-9]{1,9})?")


class RequestRefused(Exception):
    """Raised when a request fails authentication; the message names the check, not the secret."""


def token_matches(presented: str | None, tokens: Sequence[SecretStr]) -> bool:
    """Whether ``presented`` equals one of ``tokens`` (every token is compared, in constant time)."""
    if not presented:
        return False
    given = presented.encode("utf-8")
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(given, token.get_secret_value().encode("utf-8"))
    return matched


def signing_time(text: str, fmt: str) -> float:
    """The timestamp header's value as a POSIX time.

    A unix time is digits, with a fraction at most: ``nan``, ``inf``, ``1e400`` and other
    spellings ``float`` accepts would slip through the window check (``abs(nan) > 300``
    is false) and are refused.
    """
    try:
        if fmt in ("unix", "unix_ms"):
            if _UNIX_TIME.fullmatch(text.strip()) is None:
                raise ValueError(text)
            return float(text) / (1000 if fmt == "unix_ms" else 1)
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise RequestRefused(f"timestamp {text[:40]!r} is not {fmt} time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def signed_string(template: str, body: bytes, timestamp: str) -> bytes:
    """The bytes the sender signed: ``template`` with the raw body and the timestamp text in place."""
    pieces = [piece.replace("{timestamp}", timestamp).encode("utf-8") for piece in template.split("{body}")]
    return body.join(pieces)


def _presented_digests(value: str, settings: SignatureSettings) -> Iterator[bytes]:
    for part in _SIGNATURE_SEPARATORS.split(value.strip()):
        if not part.startswith(settings.prefix):
            continue
        encoded = part[len(settings.prefix):]
        try:
            yield bytes.fromhex(encoded) if settings.encoding == "hex" else base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error):
            continue


def verify_signature(body: bytes, headers: Mapping[str, str], settings: SignatureSettings, now: float) -> None:
    """Return when ``body`` carries a valid, fresh signature; raise ``RequestRefused`` otherwise.

    ``headers`` is looked up by the configured names (a case-insensitive mapping such as
    Werkzeug's); ``now`` is the current POSIX time.
    """
    header_value = headers.get(settings.header)
    if not header_value:
        raise RequestRefused(f"no {settings.header} header")
    timestamp = ""
    if settings.timestamp_header is not None:
        timestamp = headers.get(settings.timestamp_header) or ""
        if not timestamp:
            raise RequestRefused(f"no {settings.timestamp_header} header")
        age = now - signing_time(timestamp, settings.timestamp_format)
        if abs(age) > settings.max_age_seconds:
            raise RequestRefused(
                f"signed {abs(age):.0f} s {'ago' if age >= 0 else 'in the future'}, "
                f"outside the {settings.max_age_seconds:g} s window"
            )
    presented = list(_presented_digests(header_value, settings))
    if not presented:
        raise RequestRefused(f"{settings.header} holds no {settings.encoding} digest"
                             + (f" after {settings.prefix!r}" if settings.prefix else ""))
    message = signed_string(settings.template, body, timestamp)
    matched = False
    for secret in settings.secrets:
        expected = hmac.new(secret.get_secret_value().encode("utf-8"), message, settings.algorithm).digest()
        for digest in presented:
            matched |= hmac.compare_digest(expected, digest)
    if not matched:
        raise RequestRefused(f"{settings.header} does not match the body")


def timestamp_text(now: float, fmt: str) -> str:
    """A POSIX time written the way ``timestamp_format`` says (the inverse of ``signing_time``)."""
    if fmt == "unix":
        return str(int(now))
    if fmt == "unix_ms":
        return str(int(now * 1000))
    return datetime.fromtimestamp(int(now), UTC).isoformat()


def signature_headers(body: bytes, settings: SigningSettings, now: float) -> dict[str, str]:
    """The headers that sign ``body`` at POSIX time ``now``: the signature, and the timestamp when
    the template signs one (or a timestamp header is configured)."""
    timestamp = timestamp_text(now, settings.timestamp_format) if settings.timestamp_header else ""
    message = signed_string(settings.template, body, timestamp)
    digest = hmac.new(settings.secret.get_secret_value().encode("utf-8"), message, settings.algorithm).digest()
    encoded = digest.hex() if settings.encoding == "hex" else base64.b64encode(digest).decode("ascii")
    headers = {settings.header: settings.prefix + encoded}
    if settings.timestamp_header:
        headers[settings.timestamp_header] = timestamp
    return headers
