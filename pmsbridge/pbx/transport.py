"""The connections the PBX client posts its API requests over.

Keep-alive HTTPS connections (``http.client``), one per thread sending at the time, kept
for the next request; each checked against the [pbx] trust settings when it connects
(``pbx.tls.trust_context`` and the pin), so nothing is sent to a PBX that failed the check.
A PBX request is small and the PBX answers one per connection at a time: a client library's
per-request work (sessions, adapters, response objects, retry bookkeeping) cost as much CPU
as the rest of a request, and a sender thread's CPU is time the PBX waits. Every failure is
raised as a PbxError that says what happened and which setting to look at.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from urllib3.util.wait import wait_for_read

from pmsbridge.config import PbxSettings
from pmsbridge.pbx.errors import PbxTlsError, PbxUnreachable, describe_os_error
from pmsbridge.pbx.tls import check_pin, tls_failure, trust_context

# Idle connections kept at most (the dispatcher sends on up to 8 at once).
IDLE_LIMIT = 8
_JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Reply:
    status: int
    reason: str
    data: bytes


class PbxConnections:
    """Posts to ``<pbx.url>/api``; safe to share between threads."""

    def __init__(self, settings: PbxSettings):
        self._settings = settings
        parts = urlsplit(settings.url)
        if not parts.hostname:
            raise ValueError(f"pbx.url {settings.url!r} has no host")
        self._host, self._port = parts.hostname, parts.port or 443
        self._path = parts.path.rstrip("/") + "/api"
        self._context = trust_context(settings)
        self._lock = threading.Lock()
        self._idle: list[http.client.HTTPSConnection] = []

    def post(self, body: bytes, action: str) -> Reply:
        """POST ``body`` (JSON) and read the whole answer; raises PbxError."""
        connection = self._take(action)
        try:
            connection.request("POST", self._path, body=body, headers=_JSON)
            response = connection.getresponse()
            data = response.read()
        except BaseException as err:
            connection.close()
            if isinstance(err, TimeoutError):
                raise PbxUnreachable(
                    f"the PBX at {self._settings.url} did not answer {action} within "
                    f"{self._settings.read_timeout:g} s (pbx.read_timeout)",
                    action=action,
                    maybe_applied=True,
                ) from err
            if isinstance(err, OSError | http.client.HTTPException):
                # The request may have reached the PBX: whoever retries checks first.
                raise PbxUnreachable(
                    f"the PBX at {self._settings.url} dropped the connection during {action} "
                    f"({describe_os_error(err)})",
                    action=action,
                    maybe_applied=True,
                ) from err
            raise
        if response.will_close:
            connection.close()
        else:
            self._give_back(connection)
        return Reply(response.status, response.reason, data)

    def close(self) -> None:
        """Close the idle connections (one in use is closed by its request's end or reused)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _take(self, action: str) -> http.client.HTTPSConnection:
        """An idle connection the PBX has not closed meanwhile, else a new one."""
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self._connect(action)
            # Readable while idle means closed by the PBX (or garbage): not to be reused.
            if connection.sock is not None and not wait_for_read(connection.sock, timeout=0.0):
                return connection
            connection.close()

    def _give_back(self, connection: http.client.HTTPSConnection) -> None:
        with self._lock:
            if len(self._idle) < IDLE_LIMIT:
                self._idle.append(connection)
                return
        connection.close()

    def _connect(self, action: str) -> http.client.HTTPSConnection:
        settings = self._settings
        connection = http.client.HTTPSConnection(self._host, self._port, timeout=settings.connect_timeout,
                                                 context=self._context)
        try:
            connection.connect()
            check_pin(connection.sock.getpeercert(binary_form=True), settings)
        except PbxTlsError:
            connection.close()
            raise
        except (ssl.SSLError, ssl.CertificateError) as err:
            connection.close()
            raise tls_failure(err, settings) from err
        except TimeoutError as err:
            connection.close()
            raise PbxUnreachable(
                f"cannot connect to the PBX at {settings.url} (pbx.url): no connection within "
                f"{settings.connect_timeout:g} s (pbx.connect_timeout)",
                action=action,
            ) from err
        except OSError as err:
            connection.close()
            raise PbxUnreachable(f"cannot connect to the PBX at {settings.url} (pbx.url): {describe_os_error(err)}",
                                 action=action) from err
        connection.sock.settimeout(settings.read_timeout)
        # Never connect again on its own (http.client would, when the PBX closed it): every
        # connection passes the checks above.
        connection.auto_open = 0
        return connection
