"""Credentials in the request headers: a fixed API key, or an OAuth 2 client-credentials token.

``ClientCredentials`` (Apaleo) asks the token endpoint (``grant_type=client_credentials``,
client id and secret as HTTP Basic) on first use and again ``refresh_margin`` seconds before
the ``expires_in`` it was given runs out (a fifth of a short lifetime), so that a request never leaves with a token about
to expire; a 401 all the same (a token revoked early) drops it and the session asks once
more (``ApiSession``). The token is never logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import requests
from pydantic import SecretStr

from pmsbridge.adapters.cloud.errors import PmsAnswerUnreadable, PmsAuthFailed, PmsUnreachable
from pmsbridge.adapters.cloud.http import error_text

log = logging.getLogger(__name__)

# Lifetime assumed when the token endpoint names none.
DEFAULT_LIFETIME = 3600.0


class HeaderKey:
    """A long-lived key sent in one header (Cloudbeds ``x-api-key``)."""

    def __init__(self, header: str, key: SecretStr):
        self.header = header
        self.key = key

    def authorize(self, headers: dict[str, str]) -> None:
        headers[self.header] = self.key.get_secret_value()

    def renew(self) -> bool:
        return False


class ClientCredentials:
    """An OAuth 2 client-credentials token, fetched when needed; see the module docstring."""

    def __init__(self, token_url: str, client_id: str, client_secret: SecretStr, *, scope: str | None = None,
                 refresh_margin: float = 300.0, timeout: float = 15.0, verify: bool | str = True,
                 clock: Callable[[], float] = time.monotonic):
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self.refresh_margin = refresh_margin
        self.timeout = timeout
        self.verify = verify
        self.clock = clock
        self.fetched = 0
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._session.trust_env = False

    def authorize(self, headers: dict[str, str]) -> None:
        headers["Authorization"] = f"Bearer {self.token()}"

    def renew(self) -> bool:
        with self._lock:
            self._token = None
        return True

    def token(self) -> str:
        """The token in use, fetched first when there is none or it expires within ``refresh_margin``."""
        with self._lock:
            if self._token is None or self.clock() >= self._renew_at:
                self._fetch()
            return self._token

    def _fetch(self) -> None:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        try:
            response = self._session.post(self.token_url, data=form, timeout=self.timeout, verify=self.verify,
                                          auth=(self.client_id, self.client_secret.get_secret_value()),
                                          allow_redirects=False)
        except requests.exceptions.RequestException as err:
            raise PmsUnreachable(f"token endpoint {self.token_url} not reachable ({type(err).__name__})",
                                 sent=False) from err
        if response.status_code in (400, 401, 403):
            raise PmsAuthFailed(f"token endpoint {self.token_url} refused the client {self.client_id!r} "
                                f"(HTTP {response.status_code}): {error_text(response)}", status=response.status_code)
        if response.status_code != 200:
            raise PmsUnreachable(f"token endpoint {self.token_url} answered HTTP {response.status_code}", sent=False)
        try:
            body = response.json()
            token = body["access_token"]
            lifetime = float(body.get("expires_in") or DEFAULT_LIFETIME)
        except (ValueError, KeyError, TypeError):
            raise PmsAnswerUnreadable(f"token endpoint {self.token_url} answered without access_token") from None
        self._token = token
        self._renew_at = self.clock() + lifetime - min(self.refresh_margin, lifetime / 5)
        self.fetched += 1
        log.info("new access token for %s (valid %.0f s)", self.client_id, lifetime)
