"""Requests per second per client IP, as a token bucket: a burst of ``rate`` requests, then ``rate`` per second."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Decides whether a client may make another request now; thread-safe.

    A refused request takes no token, so a client that waits gets through again.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic):
        self._rate = rate
        self._capacity = max(rate, 1.0)
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, client_ip: str) -> bool:
        now = self._clock()
        with self._lock:
            tokens, since = self._buckets.get(client_ip, (self._capacity, now))
            tokens = min(self._capacity, tokens + (now - since) * self._rate)
            allowed = tokens >= 1.0
            self._buckets[client_ip] = (tokens - 1.0 if allowed else tokens, now)
            return allowed
