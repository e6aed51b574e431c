"""One HTTP session per cloud PMS: pacing, ``Retry-After``, token renewal and error translation.

Every request of an adapter (reads, postings, the status check) goes through one
``ApiSession``, so the vendor's rate limit is kept by one pacer:

- requests leave at most ``requests_per_second`` apart (Cloudbeds suspends credentials that
  exceed its limit; Mews allows 200 per token per 30 s);
- a 429 waits what ``Retry-After`` asks (seconds or an HTTP date; doubling pauses without
  it) and tries again, up to ``max_retries`` times and never longer than ``max_wait``
  seconds in all; beyond that ``PmsRateLimited``;
- a 401 renews the token once (``TokenSource.renew``) and tries again; a second 401, or a
  403, is ``PmsAuthFailed`` (Mews answers 403 for a business rule: there ``auth_statuses``
  is only 401, and a 403 is ``PmsRefused``);
- 5xx and lost connections are retried like a 429 for reads (``idempotent=True``); for a
  write they are raised at once, so that the caller decides (a posting may have arrived).

Waits end early when the adapter stops (``PmsUnreachable``). Proxies and credentials from
the environment are ignored: they are not meant for the PMS.
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import requests

from pmsbridge.adapters.cloud.errors import (
    PmsAnswerUnreadable,
    PmsAuthFailed,
    PmsRateLimited,
    PmsRefused,
    PmsServerError,
    PmsUnreachable,
)
from pmsbridge.adapters.webhook.postings import never_connected

log = logging.getLogger(__name__)

# Pauses between retries without a Retry-After: doubling from the first to the last.
FIRST_PAUSE = 1.0
LAST_PAUSE = 30.0
ERROR_SHOWN = 200


class TokenSource(Protocol):
    """How a vendor's credentials go into a request."""

    def authorize(self, headers: dict[str, str]) -> None:
        """Add the credentials to ``headers`` (fetching a token first when needed)."""

    def renew(self) -> bool:
        """Drop the token in use after a 401; False when there is nothing to renew (a fixed key)."""


class NoToken:
    """Credentials that travel in the body (Mews) or a fixed header set elsewhere."""

    def authorize(self, headers: dict[str, str]) -> None:
        pass

    def renew(self) -> bool:
        return False


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds: a number, or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def error_text(response: requests.Response) -> str:
    """The start of an error answer, on one line (vendors put the reason in the body)."""
    return " ".join(response.text.split())[:ERROR_SHOWN]


class ApiSession:
    """Requests to one PMS; see the module docstring. Thread-safe."""

    def __init__(self, name: str, base_url: str, *, tokens: TokenSource | None = None, timeout: float = 15.0,
                 requests_per_second: float = 5.0, max_retries: int = 5, max_wait: float = 120.0,
                 verify: bool | str = True, stopping: threading.Event | None = None,
                 auth_statuses: tuple[int, ...] = (401, 403), clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens or NoToken()
        self.timeout = timeout
        self.interval = 1.0 / requests_per_second
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.verify = verify
        self.stopping = stopping or threading.Event()
        self.auth_statuses = auth_statuses
        self.clock = clock
        self.counters: dict[str, int] = {}
        self._session = requests.Session()
        self._session.trust_env = False
        self._pace_lock = threading.Lock()
        self._next_slot = 0.0

    def close(self) -> None:
        self._session.close()

    def _count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    def _pace(self) -> None:
        with self._pace_lock:
            now = self.clock()
            wait = self._next_slot - now
            self._next_slot = max(now, self._next_slot) + self.interval
        if wait > 0:
            self._sleep(wait)

    def _sleep(self, seconds: float) -> None:
        if self.stopping.wait(seconds):
            raise PmsUnreachable(f"{self.name}: stopping", sent=False)

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
                data: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
                idempotent: bool = True) -> requests.Response:
        """Send a request (``path`` after ``base_url``, or a full URL); the 2xx answer, or a ``PmsApiError``."""
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"
        retries, waited, renewed = 0, 0.0, False
        while True:
            self._pace()
            sent_headers = dict(headers or {})
            self.tokens.authorize(sent_headers)
            try:
                response = self._session.request(method, url, params=params, json=json, data=data,
                                                 headers=sent_headers, timeout=self.timeout, verify=self.verify,
                                                 allow_redirects=False)
            except requests.exceptions.RequestException as err:
                sent = not never_connected(err)
                failure = PmsUnreachable(f"{self.name}: {method} {path} failed ({type(err).__name__})", sent=sent)
                if not idempotent and sent:
                    raise failure from err
                pause = self._pause(retries, None)
                if retries >= self.max_retries or waited + pause > self.max_wait:
                    raise failure from err
                self._count("connection_errors")
                log.warning("%s; trying again in %.1f s", failure, pause)
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return response
                if status == 401 and not renewed and self.tokens.renew():
                    renewed = True
                    self._count("token_renewals")
                    log.info("%s: %s %s answered 401; trying again with a new token", self.name, method, path)
                    continue
                if status in self.auth_statuses:
                    raise PmsAuthFailed(f"{self.name}: {method} {path} answered HTTP {status}: "
                                        "check the credentials and their rights", status=status)
                if status == 429:
                    self._count("rate_limited")
                    asked = retry_after_seconds(response.headers.get("Retry-After"))
                    pause = self._pause(retries, asked)
                    if retries >= self.max_retries or waited + pause > self.max_wait:
                        raise PmsRateLimited(f"{self.name}: {method} {path} answered 429 (rate limit) "
                                             f"{retries + 1} times", retry_after=asked)
                    log.info("%s: rate limited; waiting %.1f s", self.name, pause)
                elif status >= 500 or status == 408:
                    failure = PmsServerError(f"{self.name}: {method} {path} answered HTTP {status}: "
                                             f"{error_text(response)}", status=status)
                    pause = self._pause(retries, retry_after_seconds(response.headers.get("Retry-After")))
                    if not idempotent or retries >= self.max_retries or waited + pause > self.max_wait:
                        raise failure
                    self._count("server_errors")
                    log.warning("%s; trying again in %.1f s", failure, pause)
                else:
                    raise PmsRefused(f"{self.name}: {method} {path} answered HTTP {status}: {error_text(response)}",
                                     status=status)
            retries += 1
            waited += pause
            self._sleep(pause)

    def _pause(self, retries: int, asked: float | None) -> float:
        doubling = min(FIRST_PAUSE * 2 ** retries, LAST_PAUSE)
        return asked if asked is not None else doubling

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """``request`` and its JSON body (None for an empty 2xx such as 204)."""
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise PmsAnswerUnreadable(f"{self.name}: {method} {path} answered HTTP {response.status_code} "
                                      f"with a body that is not JSON: {error_text(response)}",
                                      status=response.status_code) from None
