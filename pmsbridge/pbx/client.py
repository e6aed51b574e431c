"""The client of the PBX's HTTPS API (``POST <pbx.url>/api``, JSON in and out).

Every request is ``{"request": {"action": ..., "cookie": ..., ...}}``; every answer carries a
``status`` (0 on success) and, usually, a ``response`` object. The session cookie comes
from a challenge/login exchange and lives in memory only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pmsbridge.config import PbxSettings
from pmsbridge.pbx.errors import (
    PbxAuthError,
    PbxError,
    PbxProtocolError,
    PbxSessionError,
    PbxUnreachable,
    error_for_status,
)
from pmsbridge.pbx.names import NamePolicy
from pmsbridge.pbx.pmsapi import build_document, pms_token, pmsapi_request
from pmsbridge.pbx.tls import warn_if_unverified
from pmsbridge.pbx.transport import PbxConnections

log = logging.getLogger(__name__)

# After the PBX refused our credentials, no login is tried for this long (or for the ban
# period the PBX announced, if longer): a retry loop must not walk the PBX into a ban.
AUTH_COOLDOWN = 300.0

# The cdrapi action returns at most this many records per request.
CDR_PAGE_LIMIT = 1000


@dataclass(frozen=True)
class BanRisk:
    """What the PBX said about failed logins: attempts left and the ban period (seconds)."""

    remain_num: int | None
    remain_time: int | None


@dataclass(frozen=True)
class PbxHealth:
    """A snapshot of the client's view of the PBX, for status pages and health checks.

    ``cookie_age`` is the age of the session cookie in seconds (None without a session);
    ``logged_in`` is True while that cookie is younger than pbx.session_lifetime;
    ``ban_risk`` is set after a refused login until the next successful one.
    """

    last_success: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    cookie_age: float | None
    logged_in: bool
    ban_risk: BanRisk | None


def _response_of(body: Mapping[str, Any], action: str) -> dict[str, Any]:
    """The ``response`` object of a successful answer (empty when the PBX sent none)."""
    response = body.get("response", {})
    if not isinstance(response, dict):
        raise PbxProtocolError(f"the PBX answered {action} with a response that is not an object", action=action)
    return response


def _as_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


class PbxClient:
    """Talks to one PBX; safe to share between threads.

    Sessions: the first request logs in (challenge with pbx.api_version, then login with
    MD5(challenge + password) and pbx.report_url when set). The cookie is renewed before
    it is pbx.session_lifetime seconds old; if the PBX still answers -5/-6 (session
    unknown), the client logs in once more and repeats the request once. Only one thread
    logs in at a time; the others wait and use its cookie.

    Refused logins: a -37 (wrong user or password), -68, -70 or -71 raises PbxAuthError
    and is never retried. For AUTH_COOLDOWN seconds (or the ban period the PBX announced,
    if longer) every further call raises the same PbxAuthError without contacting the PBX,
    so a retrying caller cannot get this address banned; ``reset_auth()`` ends the pause
    early (after the configuration was fixed).

    Busy answers (-45/-46/-57) raise PbxBusy with ``retry_after``; the client never sleeps
    or retries on its own, the caller schedules the retry. Every failure is a PbxError.

    Requests go over keep-alive connections, one per thread sending at the time.
    ``clock`` (monotonic seconds) times the session and the login pause.
    ``observer``, when given, is called as ``observer(action, seconds)`` after every HTTP
    exchange, failed ones included (metrics: request latency). ``gate``, when given, is asked
    before every request: a sentence refuses it with PbxUnreachable, unsent (a standby of two
    servers, see ``pmsbridge.ha``).
    """

    def __init__(
        self,
        settings: PbxSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        observer: Callable[[str, float], None] | None = None,
        gate: Callable[[], str | None] | None = None,
    ):
        self._settings = settings
        self._clock = clock
        self._observer = observer
        self._gate = gate
        self._pms_token = pms_token(settings.pms_username, settings.pms_password.get_secret_value())
        self._names = NamePolicy.from_settings(settings)
        self._connections = PbxConnections(settings)
        warn_if_unverified(settings)

        self._login_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._cookie: str | None = None
        self._cookie_at = 0.0
        self._refused_login: tuple[PbxAuthError, float] | None = None
        self._ban_risk: BanRisk | None = None
        self._last_success: datetime | None = None
        self._last_error: str | None = None
        self._last_error_at: datetime | None = None

    def __enter__(self) -> PbxClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- public API -------------------------------------------------------------------

    def call(self, action: str, **params: Any) -> dict[str, Any]:
        """Send ``action`` with ``params`` and return the answer's ``response`` object."""
        body = self._call_body(action, params)
        try:
            return _response_of(body, action)
        except PbxProtocolError as err:
            self._failed(err)
            raise

    def pmsapi(self, operation: str, fields: Mapping[str, object]) -> dict[str, Any]:
        """Build the pmsapi document for ``operation`` (see pmsapi.build_document) and send it.

        Raises ValueError for invalid fields (before anything is sent) and PbxError.
        """
        fmt = self._settings.pmsapi_format
        document = build_document(
            operation,
            fields,
            fmt=fmt,
            move_destination_element=self._settings.move_destination_element,
            names=self._names,
        )
        return self.pmsapi_data(document, fmt)

    def pmsapi_data(self, data: str, fmt: str) -> dict[str, Any]:
        """Send an already built pmsapi document (``fmt`` "xml" or "json")."""
        return self.call("pmsapi", **pmsapi_request(data, fmt, self._pms_token))

    def list_accounts(self, options: Sequence[str] | None = None, page_size: int = 200) -> list[dict[str, Any]]:
        """Every extension (listAccount), fetched page by page, sorted by extension.

        ``options`` picks the fields (e.g. ["extension", "fullname", "status"]); all by default.
        """
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        accounts: list[dict[str, Any]] = []
        page = 1
        while True:
            params = {"item_num": str(page_size), "page": str(page), "sidx": "extension", "sord": "asc"}
            if options:
                params["options"] = ",".join(options)
            response = self.call("listAccount", **params)
            batch = response.get("account") or []
            if not isinstance(batch, list):
                raise self._unexpected("listAccount", "with an account list that is not a list")
            accounts.extend(batch)
            total_pages = _as_int(response.get("total_page"))
            more = page < total_pages if total_pages is not None else len(batch) == page_size
            if not batch or not more:
                return accounts
            page += 1

    def get_user(self, user_name: str) -> dict[str, Any]:
        """The user settings of ``user_name`` (getUser), without the answer's ``user_name`` nesting."""
        user = self.call("getUser", user_name=user_name).get("user_name")
        if not isinstance(user, dict):
            raise self._unexpected("getUser", f"for {user_name} without user settings")
        return user

    def update_user(self, user_name: str, **fields: Any) -> bool:
        """Change the user settings of ``user_name`` (updateUser) and apply them if needed.

        Returns True when applyChanges was run, False when the PBX said none was needed.
        Raises PbxApplyBlocked when the change is stored but cannot be applied yet (a
        conference or digital calls are running): call ``apply_changes()`` later.
        """
        response = self.call("updateUser", user_name=user_name, **fields)
        if str(response.get("need_apply", "")).lower() != "yes":
            return False
        self.apply_changes()
        return True

    def apply_changes(self) -> dict[str, Any]:
        """Make stored configuration changes take effect (applyChanges)."""
        return self.call("applyChanges")

    def get_sip_account(self, extension: str) -> dict[str, Any]:
        """The settings of one extension (getSIPAccount's ``extension`` object: dnd, cfu, permission...).

        The per-presence forwarding rules (``sip_presence_settings``) are in the full answer:
        ``call("getSIPAccount", extension=...)``.
        """
        settings = self.call("getSIPAccount", extension=extension).get("extension")
        if not isinstance(settings, dict):
            raise self._unexpected("getSIPAccount", f"for {extension} without its settings")
        return settings

    def cdr(self, start_time: datetime | None = None, page_size: int = CDR_PAGE_LIMIT) -> Iterator[dict[str, Any]]:
        """Call records (cdrapi, JSON) starting at ``start_time``, fetched lazily page by page.

        ``start_time`` is the PBX's local wall-clock time. Each item is what the PBX
        returns: a flat record, or a group ``{"main_cdr": {...}, "sub_cdr_1": {...}}``.
        """
        if not 1 <= page_size <= CDR_PAGE_LIMIT:
            raise ValueError(f"page_size must be between 1 and {CDR_PAGE_LIMIT}")
        return self._cdr_pages(start_time, page_size)

    def _cdr_pages(self, start_time: datetime | None, page_size: int) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            params: dict[str, Any] = {"format": "json", "numRecords": page_size, "offset": offset}
            if start_time is not None:
                params["startTime"] = start_time.strftime("%Y-%m-%dT%H:%M:%S")
            body = self._call_body("cdrapi", params)
            records = self._cdr_records(body)
            yield from records
            if len(records) < page_size:
                return
            offset += len(records)

    def system_status(self) -> dict[str, Any]:
        """getSystemStatus: part-number, serial-number, system-time, up-time, idle-time."""
        return self.call("getSystemStatus")

    def system_general_status(self) -> dict[str, Any]:
        """getSystemGeneralStatus: product-model, prog-version (firmware) and the other versions."""
        return self.call("getSystemGeneralStatus")

    def login(self) -> None:
        """Log in now (challenge + login), replacing any current session."""
        try:
            with self._login_lock:
                self._login_locked()
        except PbxError as err:
            self._failed(err)
            raise
        self._succeeded()

    def reset_auth(self) -> None:
        """Allow logins again after a refused one (see the class docstring)."""
        with self._state_lock:
            self._refused_login = None

    def close(self) -> None:
        """Forget the session and close the connections."""
        with self._state_lock:
            self._cookie = None
        self._connections.close()

    @property
    def health(self) -> PbxHealth:
        with self._state_lock:
            age = self._clock() - self._cookie_at if self._cookie is not None else None
            return PbxHealth(
                last_success=self._last_success,
                last_error=self._last_error,
                last_error_at=self._last_error_at,
                cookie_age=age,
                logged_in=age is not None and age < self._settings.session_lifetime,
                ban_risk=self._ban_risk,
            )

    # -- sessions ---------------------------------------------------------------------

    def _call_body(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """The whole decoded answer to an authenticated request."""
        cookie: str | None = None
        try:
            cookie = self._current_cookie()
            try:
                body = self._exchange(action, params, cookie)
            except PbxSessionError:
                log.info("the PBX no longer knows the session; logging in again")
                cookie = self._renewed_cookie(cookie)
                body = self._exchange(action, params, cookie)
        except PbxError as err:
            if isinstance(err, PbxSessionError):
                # Even a fresh cookie was refused: the next call starts with a new login.
                self._forget_cookie(cookie)
            self._failed(err)
            raise
        self._succeeded()
        return body

    def _current_cookie(self) -> str:
        with self._state_lock:
            self._check_login_allowed()
            cookie = self._fresh_cookie()
        if cookie is not None:
            return cookie
        with self._login_lock:
            # Another thread may have logged in while this one waited for the lock.
            with self._state_lock:
                cookie = self._fresh_cookie()
            return cookie if cookie is not None else self._login_locked()

    def _renewed_cookie(self, stale: str) -> str:
        with self._login_lock:
            with self._state_lock:
                cookie = self._fresh_cookie()
            if cookie is not None and cookie != stale:
                return cookie
            return self._login_locked()

    def _fresh_cookie(self) -> str | None:
        """The cookie while it is younger than pbx.session_lifetime (state lock held)."""
        if self._cookie is not None and self._clock() - self._cookie_at < self._settings.session_lifetime:
            return self._cookie
        return None

    def _forget_cookie(self, cookie: str | None) -> None:
        with self._state_lock:
            if self._cookie == cookie:
                self._cookie = None

    def _check_login_allowed(self) -> None:
        """Raise the last refusal again while the login pause lasts (state lock held)."""
        if self._refused_login is None:
            return
        refusal, refused_at = self._refused_login
        pause = max(AUTH_COOLDOWN, float(refusal.remain_time or 0))
        remaining = pause - (self._clock() - refused_at)
        if remaining <= 0:
            self._refused_login = None
            return
        raise PbxAuthError(
            f"{refusal}; no new login is tried for {math.ceil(remaining)} s",
            status=refusal.status,
            action=refusal.action,
            detail=refusal.detail,
            remain_num=refusal.remain_num,
            remain_time=refusal.remain_time,
        )

    def _login_locked(self) -> str:
        """Challenge + login; the caller holds the login lock."""
        settings = self._settings
        with self._state_lock:
            self._check_login_allowed()
            self._cookie = None
        try:
            challenge_params = {"user": settings.username, "version": settings.api_version}
            challenge = _response_of(self._exchange("challenge", challenge_params), "challenge").get("challenge")
            if not isinstance(challenge, str) or not challenge:
                raise PbxProtocolError("the PBX answered challenge without a challenge string", action="challenge")
            token = hashlib.md5((challenge + settings.password.get_secret_value()).encode("utf-8")).hexdigest()
            params = {"user": settings.username, "token": token}
            if settings.report_url:
                params["url"] = settings.report_url
            cookie = _response_of(self._exchange("login", params), "login").get("cookie")
            if not isinstance(cookie, str) or not cookie:
                raise PbxProtocolError("the PBX answered login without a session cookie", action="login")
        except PbxAuthError as err:
            with self._state_lock:
                self._refused_login = (err, self._clock())
                self._ban_risk = BanRisk(err.remain_num, err.remain_time)
            raise
        with self._state_lock:
            self._cookie, self._cookie_at = cookie, self._clock()
            self._ban_risk = None
        log.info("logged in to the PBX at %s as %s", settings.url, settings.username)
        return cookie

    # -- one HTTP exchange ------------------------------------------------------------

    def _exchange(self, action: str, params: Mapping[str, Any], cookie: str | None = None) -> dict[str, Any]:
        """POST one request and return the decoded answer when its status is 0."""
        request = {"action": action, **params}
        if cookie is not None:
            request["cookie"] = cookie
        url = self._settings.url
        if self._gate is not None and (refusal := self._gate()) is not None:
            raise PbxUnreachable(refusal, action=action)
        started = time.monotonic()
        try:
            reply = self._connections.post(json.dumps({"request": request}).encode(), action)
        finally:
            if self._observer is not None:
                self._observer(action, time.monotonic() - started)

        if reply.status >= 500:
            raise PbxUnreachable(
                f"the PBX at {url} answered {action} with HTTP {reply.status} {reply.reason}; it may be "
                f"restarting or overloaded",
                action=action,
                maybe_applied=True,
            )
        if reply.status != 200:
            raise PbxProtocolError(
                f"the server at {url} answered {action} with HTTP {reply.status} {reply.reason}; check that "
                f"pbx.url is the PBX's HTTPS API address (e.g. https://192.0.2.10:8089)",
                action=action,
            )
        try:
            body = json.loads(reply.data)
        except ValueError as err:
            raise PbxProtocolError(
                f"the server at {url} answered {action} with something that is not JSON; check pbx.url",
                action=action,
                maybe_applied=True,
            ) from err
        if not isinstance(body, dict):
            raise PbxProtocolError(f"the PBX answered {action} with JSON that is not an object", action=action)

        # cdrapi answers in the shape of the older CDR API: the records, without a status.
        if "status" not in body and action == "cdrapi":
            log.debug("PBX %s: records", action)
            return body
        status = _as_int(body.get("status"))
        log.debug("PBX %s: status %s", action, status)
        if status is None:
            raise PbxProtocolError(f"the PBX answered {action} without a status code", action=action)
        if status != 0:
            raise error_for_status(status, body, action)
        return body

    def _cdr_records(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        records = body.get("cdr_root") or []
        if not isinstance(records, list):
            raise self._unexpected("cdrapi", "with a cdr_root that is not a list")
        return records

    # -- health -----------------------------------------------------------------------

    def _succeeded(self) -> None:
        with self._state_lock:
            self._last_success = datetime.now(UTC)

    def _failed(self, err: PbxError) -> None:
        """Record ``err`` as the last error (for ``health``)."""
        with self._state_lock:
            self._last_error, self._last_error_at = str(err), datetime.now(UTC)

    def _unexpected(self, action: str, problem: str) -> PbxProtocolError:
        """A PbxProtocolError for an answer of the wrong shape, recorded as the last error."""
        err = PbxProtocolError(f"the PBX answered {action} {problem}", action=action)
        self._failed(err)
        return err
