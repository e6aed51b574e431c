"""Access tokens a simulator issues (OAuth client credentials, refresh tokens), each with an expiry."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

VALID, EXPIRED, UNKNOWN = "valid", "expired", "unknown"


class TokenIssuer:
    """Issues opaque bearer tokens valid for ``lifetime()`` seconds; thread-safe.

    ``lifetime`` is read at each issue, so a test can shorten it for the next token.
    """

    def __init__(self, lifetime: Callable[[], float], clock: Callable[[], float] = time.monotonic) -> None:
        self._lifetime = lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}

    def issue(self) -> tuple[str, int]:
        """A new token and its lifetime in whole seconds (as ``expires_in`` says it)."""
        lifetime = self._lifetime()
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._expiry[token] = self._clock() + lifetime
        return token, max(1, round(lifetime))

    def check(self, token: str | None) -> str:
        """``VALID``, ``EXPIRED`` (issued here, lifetime over) or ``UNKNOWN``."""
        if not token:
            return UNKNOWN
        with self._lock:
            expiry = self._expiry.get(token)
        if expiry is None:
            return UNKNOWN
        return VALID if self._clock() < expiry else EXPIRED

    def expire_all(self) -> int:
        """End every token now; returns how many were still valid."""
        now = self._clock()
        with self._lock:
            valid = sum(1 for expiry in self._expiry.values() if expiry > now)
            self._expiry = dict.fromkeys(self._expiry, now)
        return valid
