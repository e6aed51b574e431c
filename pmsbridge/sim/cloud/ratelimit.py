"""A vendor's request limit: at most ``limit`` requests per ``window`` seconds per credential."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable


class WindowLimiter:
    """A sliding window per key (an access token, an API key); thread-safe.

    A refused request does not count, so a client that waits ``Retry-After`` gets through.
    """

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}

    def retry_after(self, key: str) -> int | None:
        """``None`` when the request may go ahead (it is counted), else the whole seconds to wait."""
        now = self._clock()
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - self._window:
                seen.popleft()
            if len(seen) < self._limit:
                seen.append(now)
                return None
            return max(1, math.ceil(seen[0] + self._window - now))
