"""The ``/api`` actions: a request body in, the firmware's JSON answer out.

Every answer is ``{"response": {...}, "status": 0}`` or, on failure,
``{"status": <code>, "response": {...}}`` (the error text, if any, under the configured
error key), except cdrapi's, which is ``{"cdr_root": [...]}`` as in the guide. Checks run
in this order: the blacklist (-37), the rate limit (-45), then the action: ``challenge``
and ``login`` need no cookie, everything else does (-6). An action the
emulator does not implement answers -19; a field of updateUser/updateSIPAccount it does
not model answers -19 too, rather than being silently dropped.

Guide ambiguities settled here: listUser's rows are under ``user``; updateSIPAccount
answers ``{"extension": {changed fields}, "need_apply": "yes"}``; an unknown extension or
user answers -16; cdrapi answers in csv (the guide's default when ``format`` is absent), xml or
json, the name in any case (see ``cdr_formats``), and filters by ``startTime`` and ``endTime``
(other filters answer -19).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pmsbridge.sim.pbx import cdr_formats, pmsapi
from pmsbridge.sim.pbx.cdr_formats import TextAnswer
from pmsbridge.sim.pbx.auth import Authenticator, md5_hex
from pmsbridge.sim.pbx.errors import (
    ABNORMAL_ERROR,
    CONFERENCE_RUNNING,
    INVALID_PARAMETERS,
    NO_SUCH_ITEM,
    TOO_FREQUENT,
    UNSUPPORTED,
    ApiError,
)
from pmsbridge.sim.pbx.listing import int_param, page_of, sorted_rows, wanted_fields
from pmsbridge.sim.pbx.options import EmulatorOptions, Faults
from pmsbridge.sim.pbx.pmsdata import PmsRequest, parse_pms_data
from pmsbridge.sim.pbx.ratelimit import RateLimiter
from pmsbridge.sim.pbx.state import (
    EDITABLE_SIP_FIELDS,
    EDITABLE_USER_FIELDS,
    PERMISSIONS,
    Extension,
    PbxState,
    User,
)

log = logging.getLogger(__name__)

ACCOUNT_FIELDS = ("extension", "account_type", "fullname", "out_of_service", "status", "addr",
                  "urgemsg", "newmsg", "oldmsg")
USER_OPTION_FIELDS = ("department", "first_name", "last_name", "email", "language", "fax", "family_number",
                      "phone_number", "login_time", "ip")
CDR_FILTERS_UNSUPPORTED = ("caller", "minDur", "maxDur", "answeredby", "timeFilterType", "tineFilterType",
                           "callerName", "delete")
MAX_CDR_RECORDS = 1000
REQUEST_KEYS = frozenset({"action", "cookie"})
FORWARD_TARGET = re.compile(r"[0-9*#+]{1,32}")


@dataclass(frozen=True)
class InspectedRequest:
    """A request body taken apart as far as it goes, for answering and for the request log.

    ``request`` is the ``request`` object (``None`` when the body is not one); for pmsapi,
    ``pms`` is the parsed ``data`` or ``pms_problem`` why it could not be parsed.
    """

    request: dict[str, Any] | None
    action: str | None
    pms: PmsRequest | None = None
    pms_problem: ApiError | None = None

    @property
    def operation(self) -> str | None:
        return self.pms.operation if self.pms else None


def inspect_request(body: bytes) -> InspectedRequest:
    """Take a raw ``/api`` body apart; never raises, whatever the body holds."""
    try:
        envelope = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return InspectedRequest(None, None)
    request = envelope.get("request") if isinstance(envelope, dict) else None
    if not isinstance(request, dict) or not isinstance(request.get("action"), str):
        return InspectedRequest(None, None)
    action = request["action"]
    if action != "pmsapi":
        return InspectedRequest(request, action)
    data_format = str(request.get("format") or "xml").lower()
    try:
        return InspectedRequest(request, action, pms=parse_pms_data(request.get("data"), data_format))
    except ApiError as err:
        return InspectedRequest(request, action, pms_problem=err)


@dataclass(frozen=True)
class ApiOutcome:
    """The answer to one request and what the request log records of it."""

    body: dict[str, Any] | TextAnswer
    action: str | None
    operation: str | None
    status: int


class ApiService:
    """Answers ``/api`` requests from the state, the login machinery and the current faults."""

    def __init__(self, options: EmulatorOptions, state: PbxState, auth: Authenticator,
                 faults: Callable[[], Faults], rate_limiter: RateLimiter | None = None):
        self._options = options
        self._state = state
        self._auth = auth
        self._faults = faults
        self._rate_limiter = rate_limiter
        self._started = time.monotonic()
        self._busy_seconds = 0.0
        self._busy_lock = threading.Lock()
        self._pms_token = md5_hex(options.pms_username + options.pms_password)
        self._actions: dict[str, Callable[[InspectedRequest, str], dict[str, Any] | TextAnswer]] = {
            "challenge": self.challenge,
            "login": self.login,
            "getSystemStatus": self.get_system_status,
            "getSystemGeneralStatus": self.get_system_general_status,
            "listAccount": self.list_account,
            "getSIPAccount": self.get_sip_account,
            "updateSIPAccount": self.update_sip_account,
            "listUser": self.list_user,
            "getUser": self.get_user,
            "updateUser": self.update_user,
            "cdrapi": self.cdrapi,
            "pmsapi": self.pmsapi,
            "applyChanges": self.apply_changes,
        }

    def handle(self, inspected: InspectedRequest, client_ip: str) -> ApiOutcome:
        """Answer one request from ``client_ip``; successful operations are counted."""
        begun = time.monotonic()
        try:
            body = self._answer(inspected, client_ip)
        except ApiError as err:
            body = self.error_body(err)
        except Exception:
            # A defect in the emulator: answer like a firmware fault instead of hanging up.
            log.exception("answering %s failed", inspected.action)
            body = self.error_body(ApiError(ABNORMAL_ERROR))
        finally:
            with self._busy_lock:
                self._busy_seconds += time.monotonic() - begun
        status = 0 if isinstance(body, TextAnswer) else body.get("status", 0)
        if status == 0:
            self._state.count(f"pmsapi:{inspected.operation}" if inspected.operation else inspected.action)
        return ApiOutcome(body, inspected.action, inspected.operation, status)

    def error_body(self, err: ApiError) -> dict[str, Any]:
        response = dict(err.fields)
        if err.message is not None:
            response[self._options.error_key] = err.message
        return {"status": err.status, "response": response}

    def _answer(self, inspected: InspectedRequest, client_ip: str) -> dict[str, Any] | TextAnswer:
        if inspected.request is None:
            raise ApiError(INVALID_PARAMETERS, "the body must be {\"request\": {\"action\": ...}}")
        self._auth.check_ban(client_ip)
        if self._rate_limiter is not None and not self._rate_limiter.allow(client_ip):
            raise ApiError(TOO_FREQUENT)
        if inspected.action not in ("challenge", "login"):
            self._auth.check_cookie(inspected.request.get("cookie"))
        handler = self._actions.get(inspected.action)
        if handler is None:
            raise ApiError(UNSUPPORTED, f"unsupported action {inspected.action!r}")
        return handler(inspected, client_ip)

    # -- login -----------------------------------------------------------------------------

    def challenge(self, inspected: InspectedRequest, client_ip: str) -> dict[str, Any]:
        return ok({"challenge": self._auth.challenge(client_ip, inspected.request.get("user"))})

    def login(self, inspected: InspectedRequest, client_ip: str) -> dict[str, Any]:
        request = inspected.request
        cookie = self._auth.login(client_ip, request.get("user"), request.get("token"))
        if isinstance(request.get("url"), str) and request["url"]:
            with self._state.lock:
                self._state.report_url = request["url"]
        log.info("%s logged in", client_ip)
        return ok({"cookie": cookie})

    # -- system ----------------------------------------------------------------------------

    def get_system_status(self, inspected: InspectedRequest, client_ip: str) -> dict[str, Any]:
        up = time.monotonic() - self._started
        with self._busy_lock:
            idle = max(up - self._busy_seconds, 0.0)
        now = datetime.now().astimezone()
        offset = now.strftime("%z")
        return ok({
            "idle-time": clock_text(idle),
            "part-number": "9660002815A",
            "serial-number": "EMU630A0000000001",
            "system-time": now.strftime("%Y-%m-%d %H:%M:%S") + f" UTC{offset[:3]}:{offset[3:]}",
            "up-time": clock_text(up),
        })

    def get_system_general_status(self, inspected: InspectedRequest, client_ip: str) -> dict[str, Any]:
        version = self._options.firmware
        return ok({
            "base-version": version,
            "boot-version": version,
            "core-version": version,
            "lang-version": version,
            "product-model": self._options.model,
            "prog-version": version,
            "rcvr-version": version,
        })

    # -- extensions and users --------------------------------------------------------------

    def list_account(self, inspected: InspectedRequest, client_ip: str) -> dict[str, Any]:
        request = inspected.request
        with self._state.lock:
            rows = [extension.account() for extension in self._state.extensions.values()]
        fields = wanted_fields(request, ACCOUNT_FIELDS)
        page = page_of(sorted_rows(rows, request, "extension"), request, "account")
        page["account"] = [{name: row[name] for name in fields} for row in page["account"]]
        return ok(page)

    def get_sip_account(self, inspected: InspectedRequest, client_ip: str) -> dict[str, Any]:
        with self._state.lock:
            extension = self.known_extension(inspected.request)
            return ok(extension.sip_account(set(self._state.extensions)))

    def update_sip_account(self, inspected: InspectedRequest, client_ip: str) -> dict[str, Any]:
        request = inspected.request
        extension = self.known_extension(request)
        changes: dict[str, Any] = {}
        for name, value in request.items():
            if name in REQUEST_KEYS or name == "extension":
                continue
            if name == "sip_presence_settings":
                changes["cfu"] = forward_target(available_cfu(value))
            elif name not in EDITABLE_SIP_FIELDS:
                raise ApiError(UNSUPPORTED, f"the emulator does not model {name!r}")
            elif name == "dnd":
                changes["dnd"] = one_of(name, value, ("yes", "no"))
            elif name == "permission":
                changes["permission"] = one_of(name, value, PERMISSIONS)
            else:
                changes["cfu"] = forward_target(value)
        self._state.stage_sip_change(extension.number, changes)
        return ok({"extension": {"extension": extension.number, **changes}, "need_apply": "yes"})

    def known_extension(self, request: dict[str, Any]) -> Extension:
        number = request.get("extension")
        if not isinstance(number, str) or not number:
            raise ApiError(INVALID_PARAMETERS, "missing extension")
        extension = self._state.find_extension(number)
        if extension is None:
            raise ApiError(NO_SUCH_ITEM, f"no such extension {number!r}")
        return extension

    def list_user(self, inspected: InspectedRequest, client_ip: str) -> dict[str, Any]:
        request = inspected.request
        with self._state.lock:
            rows = [extension.user.as_dict() for extension in self._state.extensions.values()]
        fields = ["user_id", "user_name", "privilege", *wanted_fields(request, USER_OPTION_FIELDS)]
        page = page_of(sorted_rows(rows, request, "user_name", {"extension": "user_name"}), request, "user")
        page["user"] = [{name: row[name] for name in fields} for row in page["user"]]
        return ok(page)

    def get_user(self, inspected: InspectedRequest, client_ip: str) -> dict[str, Any]:
        with self._state.lock:
            return ok({"user_name": self.known_user(inspected.request).as_dict()})

    def update_user(self, inspected: InspectedRequest, client_ip: str) -> dict[str, Any]:
        request = inspected.request
        user = self.known_user(request)
        changes: dict[str, Any] = {}
        for name, value in request.items():
            if name in REQUEST_KEYS or name == "user_name":
                continue
            if name == "user_id":
                if str(value) != str(user.user_id):
                    raise ApiError(INVALID_PARAMETERS, f"user_id {value!r} is not the id of {user.user_name}")
                continue
            if name not in EDITABLE_USER_FIELDS:
                raise ApiError(UNSUPPORTED, f"the emulator does not model {name!r}")
            if value is not None and not isinstance(value, str):
                raise ApiError(INVALID_PARAMETERS, f"{name} must be a string")
            changes[name] = value
        self._state.stage_user_change(user.user_name, changes)
        return ok({"need_apply": "yes"})

    def known_user(self, request: dict[str, Any]) -> User:
        name = request.get("user_name")
        if not isinstance(name, str) or not name:
            raise ApiError(INVALID_PARAMETERS, "missing user_name")
        extension = self._state.find_extension(name)
        if extension is None:
            raise ApiError(NO_SUCH_ITEM, f"no such user {name!r}")
        return extension.user

    def apply_changes(self, inspected: InspectedRequest, client_ip: str) -> dict[str, Any]:
        if self._faults().apply_blocked:
            raise ApiError(CONFERENCE_RUNNING)
        self._state.apply_pending()
        return ok({"settings": "0"})

    # -- call records ----------------------------------------------------------------------

    def cdrapi(self, inspected: InspectedRequest, client_ip: str) -> dict[str, Any] | TextAnswer:
        request = inspected.request
        # The guide's default is csv; independent clients send the name in upper case too.
        answer_format = str(request.get("format") or "csv").lower()
        if answer_format not in cdr_formats.FORMATS:
            raise ApiError(INVALID_PARAMETERS, f"format must be one of {', '.join(cdr_formats.FORMATS)}")
        for name in CDR_FILTERS_UNSUPPORTED:
            if request.get(name) not in (None, ""):
                raise ApiError(UNSUPPORTED, f"the emulator does not filter by {name}")
        count = int_param(request, "numRecords", MAX_CDR_RECORDS, 0, MAX_CDR_RECORDS)
        offset = int_param(request, "offset", 0, 0)
        start_after = cdr_time(request, "startTime")
        start_before = cdr_time(request, "endTime")
        keep = None
        if start_after or start_before:
            keep = functools.partial(in_period, after=start_after, before=start_before)
        entries = self._state.select_cdr(keep, offset, count)
        if answer_format == "csv":
            return cdr_formats.as_csv(entries)
        if answer_format == "xml":
            return cdr_formats.as_xml(entries)
        return {"cdr_root": entries}

    # -- PMS -------------------------------------------------------------------------------

    def pmsapi(self, inspected: InspectedRequest, client_ip: str) -> dict[str, Any]:
        token = inspected.request.get("token")
        if not isinstance(token, str) or token.lower() != self._pms_token:
            raise ApiError(INVALID_PARAMETERS, "Invalid token")
        if inspected.pms_problem is not None:
            raise inspected.pms_problem
        pmsapi.execute(self._state, inspected.pms)
        return ok({})


def ok(response: dict[str, Any]) -> dict[str, Any]:
    return {"response": response, "status": 0}


def clock_text(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def one_of(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ApiError(INVALID_PARAMETERS, f"{name} must be one of {', '.join(allowed)}")
    return value


def forward_target(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not FORWARD_TARGET.fullmatch(value):
        raise ApiError(INVALID_PARAMETERS, "cfu must be a phone number or empty")
    return value


def available_cfu(settings: Any) -> Any:
    """The CFU of the "available" presence entry (the one in effect)."""
    if not isinstance(settings, list):
        raise ApiError(INVALID_PARAMETERS, "sip_presence_settings must be a list")
    for entry in settings:
        if isinstance(entry, dict) and entry.get("presence_status") == "available":
            return entry.get("cfu")
    raise ApiError(INVALID_PARAMETERS, "sip_presence_settings needs the \"available\" entry")


def cdr_time(request: dict[str, Any], name: str) -> datetime | None:
    """``startTime``/``endTime``: YYYY-MM-DD, optionally with THH:MM[:SS]; a zone is ignored
    because the records carry local time without one."""
    value = request.get(name)
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as err:
        raise ApiError(INVALID_PARAMETERS, f"{name} must look like 2024-05-01T10:00") from err
    if name == "endTime" and len(str(value)) == 10:
        moment += timedelta(days=1) - timedelta(microseconds=1)
    return moment.replace(tzinfo=None)


def in_period(row: dict[str, Any], after: datetime | None, before: datetime | None) -> bool:
    record = row.get("main_cdr", row)
    try:
        start = datetime.strptime(record.get("start", ""), "%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return False
    return (after is None or start >= after) and (before is None or start <= before)
