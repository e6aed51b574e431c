"""Tokens and HMAC signatures, checked on the raw bytes (pure: no server, no ledger)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from pydantic import SecretStr
from werkzeug.datastructures import Headers

from pmsbridge.adapters.webhook.config import SignatureSettings
from pmsbridge.adapters.webhook.signature import RequestRefused, signed_string, token_matches, verify_signature

NOW = 1_800_000_000.0
BODY = b'{"event":"reservation.checked_in","room":"101"}'


def settings(**overrides) -> SignatureSettings:
    values = {"header": "X-Signature", "secrets": ["new-key"], "timestamp_header": "X-Timestamp",
              "template": "{timestamp}.{body}", "prefix": "sha256="}
    values.update(overrides)
    return SignatureSettings.model_validate(values)


def sign(key: str, message: bytes, algorithm=hashlib.sha256) -> bytes:
    return hmac.new(key.encode(), message, algorithm).digest()


def headers(key: str = "new-key", *, timestamp: float = NOW, body: bytes = BODY) -> Headers:
    stamp = str(int(timestamp))
    return Headers({"x-signature": "sha256=" + sign(key, f"{stamp}.".encode() + body).hex(), "X-Timestamp": stamp})


def test_a_good_signature_passes():
    verify_signature(BODY, headers(), settings(), NOW)


def test_the_signature_covers_the_raw_bytes_not_the_json():
    reformatted = b'{"event": "reservation.checked_in", "room": "101"}'
    with pytest.raises(RequestRefused, match="does not match"):
        verify_signature(reformatted, headers(), settings(), NOW)


def test_a_wrong_key_is_refused():
    with pytest.raises(RequestRefused, match="X-Signature does not match the body"):
        verify_signature(BODY, headers("someone-else"), settings(), NOW)


def test_both_keys_of_a_rotation_are_accepted():
    rotating = settings(secrets=["old-key", "new-key"])
    verify_signature(BODY, headers("old-key"), rotating, NOW)
    verify_signature(BODY, headers("new-key"), rotating, NOW)


def test_several_signatures_in_one_header_any_may_match():
    stamp = str(int(NOW))
    message = f"{stamp}.".encode() + BODY
    value = f"sha256={sign('retired', message).hex()}, sha256={sign('new-key', message).hex()}"
    verify_signature(BODY, Headers({"X-Signature": value, "X-Timestamp": stamp}), settings(), NOW)


@pytest.mark.parametrize("age", [301, -301, 86_400])
def test_a_timestamp_outside_the_window_is_refused(age):
    with pytest.raises(RequestRefused, match="outside the 300 s window"):
        verify_signature(BODY, headers(timestamp=NOW - age), settings(), NOW)


def test_a_timestamp_inside_the_window_passes_both_ways():
    verify_signature(BODY, headers(timestamp=NOW - 299), settings(), NOW)
    verify_signature(BODY, headers(timestamp=NOW + 299), settings(), NOW)


def test_a_replayed_timestamp_cannot_be_changed_without_breaking_the_signature():
    old = headers(timestamp=NOW - 3600)
    old["X-Timestamp"] = str(int(NOW))
    with pytest.raises(RequestRefused, match="does not match"):
        verify_signature(BODY, old, settings(), NOW)


def test_missing_headers_are_named():
    with pytest.raises(RequestRefused, match="no X-Signature header"):
        verify_signature(BODY, Headers({"X-Timestamp": str(int(NOW))}), settings(), NOW)
    with pytest.raises(RequestRefused, match="no X-Timestamp header"):
        verify_signature(BODY, Headers({"X-Signature": "sha256=00"}), settings(), NOW)


def test_garbage_in_the_headers_is_refused_not_raised():
    with pytest.raises(RequestRefused, match="holds no hex digest"):
        verify_signature(BODY, Headers({"X-Signature": "sha256=not-hex", "X-Timestamp": str(int(NOW))}),
                         settings(), NOW)
    with pytest.raises(RequestRefused, match="not unix time"):
        verify_signature(BODY, Headers({"X-Signature": "sha256=00", "X-Timestamp": "yesterday"}), settings(), NOW)


def test_base64_sha512_over_the_body_alone_without_a_timestamp():
    plain = settings(template="{body}", timestamp_header=None, prefix="", encoding="base64", algorithm="sha512")
    value = base64.b64encode(sign("new-key", BODY, hashlib.sha512)).decode()
    verify_signature(BODY, Headers({"X-Signature": value}), plain, NOW)
    with pytest.raises(RequestRefused):
        verify_signature(BODY + b" ", Headers({"X-Signature": value}), plain, NOW)


def test_timestamps_in_milliseconds_and_iso():
    millis = settings(timestamp_format="unix_ms")
    stamp = str(int(NOW * 1000))
    value = "sha256=" + sign("new-key", f"{stamp}.".encode() + BODY).hex()
    verify_signature(BODY, Headers({"X-Signature": value, "X-Timestamp": stamp}), millis, NOW)
    iso = settings(timestamp_format="iso")
    stamp = "2027-01-15T08:00:00+00:00"
    value = "sha256=" + sign("new-key", f"{stamp}.".encode() + BODY).hex()
    verify_signature(BODY, Headers({"X-Signature": value, "X-Timestamp": stamp}), iso, 1_800_000_000.0 + 0)


def test_signed_string_puts_the_raw_body_in_place():
    assert signed_string("{timestamp}.{body}", b"\xff{}", "17") == b"17.\xff{}"
    assert signed_string("v0:{timestamp}:{body}", b"{}", "9") == b"v0:9:{}"


def test_tokens_are_compared_with_every_configured_one():
    tokens = [SecretStr("old-token"), SecretStr("new-token")]
    assert token_matches("old-token", tokens) and token_matches("new-token", tokens)
    assert not token_matches("new-toke", tokens)
    assert not token_matches("", tokens) and not token_matches(None, tokens)


@pytest.mark.parametrize("stamp", ["nan", "NaN", "inf", "-inf", "1e400", "-1", "0x6b49d200", "1_800_000_000", ""])
def test_a_timestamp_that_is_not_a_finite_unix_time_is_refused(stamp):
    # abs(nan) > 300 is false: a "nan" that reached the window check would pass it.
    value = "sha256=" + sign("new-key", f"{stamp}.".encode() + BODY).hex()
    for fmt in ("unix", "unix_ms"):
        with pytest.raises(RequestRefused, match=f"is not {fmt} time|no X-Timestamp header"):
            verify_signature(BODY, Headers({"X-Signature": value, "X-Timestamp": stamp}),
                             settings(timestamp_format=fmt), NOW)


def test_a_unix_time_with_a_fraction_passes():
    stamp = f"{NOW:.3f}"
    value = "sha256=" + sign("new-key", f"{stamp}.".encode() + BODY).hex()
    verify_signature(BODY, Headers({"X-Signature": value, "X-Timestamp": stamp}), settings(), NOW)
