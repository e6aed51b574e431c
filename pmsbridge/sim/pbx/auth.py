"""The API login: challenge, login, cookies, and the blacklist after repeated failures.

A client asks ``challenge`` for a 16-digit string, then logs in with
``token = md5(challenge + password)`` and gets a cookie ``sid<digits>-<digits>``. A cookie
dies after ``cookie_idle_timeout`` seconds without a request. Each wrong user name or token
from an IP address answers -37 with ``remain_num`` (attempts left); the failure that uses up
``max_login_failures`` bans the address for ``ban_seconds``, during which every request
from it answers -37 with ``remain_time`` (seconds of ban left). A good login clears the count.

Several challenges per client stay valid until used (up to a few), so that clients logging
in concurrently from one address do not spoil each other's tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable

from pmsbridge.sim.pbx.errors import COOKIE_ERROR, INVALID_PARAMETERS, WRONG_ACCOUNT_OR_PASSWORD, ApiError
from pmsbridge.sim.pbx.options import EmulatorOptions

log = logging.getLogger(__name__)

OUTSTANDING_CHALLENGES = 16


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


class Authenticator:
    """Challenges, cookies and bans of one emulator; thread-safe."""

    def __init__(self, options: EmulatorOptions, clock: Callable[[], float] = time.monotonic):
        self._options = options
        self._clock = clock
        self._lock = threading.Lock()
        self._challenges: dict[tuple[str, str], deque[str]] = {}
        self._cookies: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._banned_until: dict[str, float] = {}

    def check_ban(self, client_ip: str) -> None:
        """ApiError(-37, remain_time=...) while ``client_ip`` is banned."""
        with self._lock:
            until = self._banned_until.get(client_ip)
            if until is None:
                return
            left = until - self._clock()
            if left <= 0:
                del self._banned_until[client_ip]
                self._failures.pop(client_ip, None)
                return
        raise ApiError(WRONG_ACCOUNT_OR_PASSWORD, remain_time=math.ceil(left))

    def challenge(self, client_ip: str, user: object) -> str:
        """A new challenge for ``user``; a wrong user name counts as a failed login."""
        if not isinstance(user, str) or not user:
            raise ApiError(INVALID_PARAMETERS, "missing user")
        if user != self._options.username:
            raise self._failure(client_ip)
        challenge = f"{secrets.randbelow(10**16):016d}"
        with self._lock:
            pending = self._challenges.setdefault((client_ip, user), deque(maxlen=OUTSTANDING_CHALLENGES))
            pending.append(challenge)
        return challenge

    def login(self, client_ip: str, user: object, token: object) -> str:
        """A new cookie when ``token`` answers one of the client's challenges."""
        if not isinstance(user, str) or not user:
            raise ApiError(INVALID_PARAMETERS, "missing user")
        with self._lock:
            pending = self._challenges.get((client_ip, user), deque())
            answered = None
            if user == self._options.username and isinstance(token, str):
                for challenge in pending:
                    expected = md5_hex(challenge + self._options.password)
                    if hmac.compare_digest(expected, token.lower()):
                        answered = challenge
                        break
            if answered is not None:
                pending.remove(answered)
                self._failures.pop(client_ip, None)
                cookie = f"sid{secrets.randbelow(10**10)}-{int(time.time())}"
                self._cookies[cookie] = self._clock()
                return cookie
        raise self._failure(client_ip)

    def check_cookie(self, cookie: object) -> None:
        """ApiError(-6) unless ``cookie`` is live; a live cookie's idle time starts again."""
        now = self._clock()
        with self._lock:
            last_used = self._cookies.get(cookie) if isinstance(cookie, str) else None
            if last_used is not None and now - last_used <= self._options.cookie_idle_timeout:
                self._cookies[cookie] = now
                return
            if last_used is not None:
                del self._cookies[cookie]
        raise ApiError(COOKIE_ERROR)

    def expire_cookies(self) -> None:
        """Forget every cookie, as a reboot or a timeout would."""
        with self._lock:
            self._cookies.clear()

    def _failure(self, client_ip: str) -> ApiError:
        with self._lock:
            failures = self._failures.get(client_ip, 0) + 1
            self._failures[client_ip] = failures
            remaining = max(self._options.max_login_failures - failures, 0)
            if remaining == 0:
                self._banned_until[client_ip] = self._clock() + self._options.ban_seconds
        if remaining == 0:
            log.warning("%s failed to log in %d times: banned for %g s", client_ip, failures, self._options.ban_seconds)
            return ApiError(WRONG_ACCOUNT_OR_PASSWORD, remain_num=0, remain_time=math.ceil(self._options.ban_seconds))
        log.info("%s failed to log in (%d attempts left)", client_ip, remaining)
        return ApiError(WRONG_ACCOUNT_OR_PASSWORD, remain_num=remaining)
