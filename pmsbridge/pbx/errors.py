"""Everything that can go wrong when talking to the PBX, as one exception tree.

::

    PbxError                      base; ``permanent`` decides retry vs dead letter
     ├── PbxUnreachable           (transient) no answer: refused, reset, timeout, DNS, HTTP 5xx, dropped connection
     ├── PbxTlsError              (permanent) certificate does not match the pin or CA, TLS handshake failed
     ├── PbxProtocolError         (transient) the answer is not JSON, not the expected shape, or an odd HTTP status
     ├── PbxAuthError             (permanent) -37 wrong user or password, -68 login restriction, -70 login
     │                                        forbidden, -71 unknown user; carries remain_num / remain_time
     ├── PbxSessionError          (transient) -5 / -6: the session cookie is missing or expired
     ├── PbxBusy                  (transient) -45 / -46 / -57 too frequent (retry_after 15 s or 60 s),
     │                                        -51 / -251 another task is running, -90 conference busy
     ├── PbxConflict              (transient) -43: the data changed underneath the request
     ├── PbxSystemError           (transient) -7 / -8 / -9: the PBX closed, timed out or failed internally
     ├── PbxApplyBlocked          (transient) -69 / -98: a conference or digital call prevents applyChanges
     └── PbxRequestRejected       (permanent) -1, -15, -16, -19, -24, -25, -26, -44, -47, -50 and every
                                              code this module does not know

Every instance carries ``status`` (the PBX status code, ``None`` when the PBX never
answered), ``action`` (the API action), ``detail`` (the PBX's own error text, if any),
``retry_after`` (seconds the PBX asked us to wait, if it said) and ``permanent``. The message
is one sentence that says what to fix, naming the configuration key when the fix is there.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from typing import Any


class PbxError(Exception):
    """Raised when a request to the PBX did not succeed (base of every PBX error).

    ``permanent`` is True when repeating the same request cannot succeed without someone
    changing the configuration or the request; the dispatcher dead-letters those and
    retries the others, waiting at least ``retry_after`` seconds when it is set.
    ``maybe_applied`` is True when the request was sent but its answer was lost (a read
    timeout, a dropped connection, an HTTP 500): the PBX may have carried it out.
    """

    permanent: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        action: str | None = None,
        detail: str | None = None,
        retry_after: float | None = None,
        maybe_applied: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.action = action
        self.detail = detail
        self.retry_after = retry_after
        self.maybe_applied = maybe_applied


class PbxUnreachable(PbxError):
    """Raised when the PBX cannot be reached or gave no usable answer at the transport level."""


class PbxTlsError(PbxError):
    """Raised when the PBX certificate is not the trusted one or the TLS handshake fails."""

    permanent = True


class PbxProtocolError(PbxError):
    """Raised when the PBX answers something that is not the JSON the API guide describes."""


class PbxAuthError(PbxError):
    """Raised when the PBX refuses the API login (-37, -68, -70, -71).

    ``remain_num`` is the number of attempts left before the PBX bans this address,
    ``remain_time`` the ban period in seconds, when the PBX reported them.
    """

    permanent = True

    def __init__(self, message: str, *, remain_num: int | None = None, remain_time: int | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.remain_num = remain_num
        self.remain_time = remain_time


class PbxSessionError(PbxError):
    """Raised when the PBX no longer accepts the session cookie (-5, -6)."""


class PbxBusy(PbxError):
    """Raised when the PBX asks us to slow down or is busy with another task (-45, -46, -51, -57, -90, -251)."""


class PbxConflict(PbxError):
    """Raised when the PBX reports that the data changed while the request was prepared (-43)."""


class PbxSystemError(PbxError):
    """Raised when the PBX reports an internal failure: connection closed, timeout, abnormal error (-7, -8, -9)."""


class PbxApplyBlocked(PbxError):
    """Raised when applyChanges must wait: a conference (-69) or digital calls (-98) are running."""


class PbxRequestRejected(PbxError):
    """Raised when the PBX refuses this particular request (bad value, no such item, no permission, ...)."""

    permanent = True


# Table 75 of the API guide: code -> (class, the guide's description, seconds to wait).
STATUS_CODES: dict[int, tuple[type[PbxError], str, float | None]] = {
    -1: (PbxRequestRejected, "invalid parameters", None),
    -5: (PbxSessionError, "need authentication", None),
    -6: (PbxSessionError, "cookie error", None),
    -7: (PbxSystemError, "connection closed", None),
    -8: (PbxSystemError, "system timeout", None),
    -9: (PbxSystemError, "abnormal system error", None),
    -15: (PbxRequestRejected, "invalid value", None),
    -16: (PbxRequestRejected, "no such item", None),
    -19: (PbxRequestRejected, "unsupported", None),
    -24: (PbxRequestRejected, "failed to operate data", None),
    -25: (PbxRequestRejected, "failed to update data", None),
    -26: (PbxRequestRejected, "failed to get data", None),
    -37: (PbxAuthError, "wrong account or password", None),
    -43: (PbxConflict, "the data was modified or deleted meanwhile", None),
    -44: (PbxRequestRejected, "this item has already been added", None),
    -45: (PbxBusy, "operating too frequently", 15.0),
    -46: (PbxBusy, "operating too frequently", 15.0),
    -47: (PbxRequestRejected, "no permission", None),
    -50: (PbxRequestRejected, "the command contains sensitive characters", None),
    -51: (PbxBusy, "another task is running", None),
    -57: (PbxBusy, "operating too frequently", 60.0),
    -68: (PbxAuthError, "login restriction", None),
    -69: (PbxApplyBlocked, "a conference is running", None),
    -70: (PbxAuthError, "login forbidden", None),
    -71: (PbxAuthError, "the user name does not exist", None),
    -90: (PbxBusy, "the conference is busy", None),
    -98: (PbxApplyBlocked, "digital calls are running", None),
    # Some firmware reports "another task is running" as -251 instead of -51.
    -251: (PbxBusy, "another task is running", None),
}

# What the operator should do, for the codes whose fix is in the configuration or on the PBX.
_HINTS: dict[int, str] = {
    -47: "give the API user (pbx.username) the needed permission on the PBX",
    -68: "allow this address in the PBX's login restriction / whitelist settings",
    -70: "enable the HTTPS API for pbx.username on the PBX",
    -71: "check pbx.username against the PBX's HTTPS API settings",
}


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _field(body: Mapping[str, Any], *names: str) -> Any:
    """The first of ``names`` found under ``response`` or at the top level of an answer."""
    response = body.get("response")
    for scope in (response if isinstance(response, Mapping) else {}, body):
        for name in names:
            if scope.get(name) not in (None, ""):
                return scope[name]
    return None


def error_detail(body: Mapping[str, Any]) -> str | None:
    """The PBX's own error text: ``response.error`` or ``response.error_msg`` (or top level)."""
    detail = _field(body, "error", "error_msg")
    if detail is None:
        return None
    return str(detail).strip() or None


def _ban_clause(remain_num: int | None, remain_time: int | None) -> str:
    if remain_num is not None and remain_num > 0:
        attempts = "1 attempt" if remain_num == 1 else f"{remain_num} attempts"
        period = f" for {remain_time} s" if remain_time else ""
        return f"; {attempts} left before the PBX bans this address{period}"
    if remain_time:
        return f"; the PBX has banned this address for {remain_time} s"
    if remain_num == 0:
        return "; no attempts left, the PBX bans this address"
    return ""


def error_for_status(status: int, body: Mapping[str, Any], action: str | None) -> PbxError:
    """Translate a failed API answer into the matching PbxError (not raised, returned).

    ``status`` is the answer's non-zero status code, ``body`` the whole decoded answer and
    ``action`` the API action that was sent. Codes missing from the guide's Table 75 are
    treated as a rejection of the request (permanent), so an unknown answer is shown to an
    operator instead of being retried for a day.
    """
    if status == 0:
        raise ValueError("status 0 is success, not an error")
    cls, description, retry_after = STATUS_CODES.get(status, (PbxRequestRejected, "unknown status code", None))
    detail = error_detail(body)
    what = action or "the request"
    reason = f"status {status}, {description}" + (f": {detail}" if detail else "")

    if cls is PbxAuthError:
        remain_num, remain_time = _as_int(_field(body, "remain_num")), _as_int(_field(body, "remain_time"))
        if status == -37:
            message = (
                f"the PBX refused the API user or password (pbx.username / pbx.password) on {what} "
                f"({reason}){_ban_clause(remain_num, remain_time)}"
            )
        else:
            message = f"the PBX refused the API login on {what} ({reason}); {_HINTS[status]}"
            message += _ban_clause(remain_num, remain_time)
        return PbxAuthError(
            message, status=status, action=action, detail=detail, remain_num=remain_num, remain_time=remain_time
        )

    if cls is PbxBusy:
        message = f"the PBX is busy and refused {what} ({reason})"
        message += f"; retry after {retry_after:g} s" if retry_after else "; retry later"
    elif cls is PbxSessionError:
        message = f"the PBX no longer accepts the session for {what} ({reason}); a new login is needed"
    elif cls is PbxSystemError:
        message = f"the PBX failed internally on {what} ({reason}); retry later"
    elif cls is PbxApplyBlocked:
        message = f"the PBX cannot apply changes now ({reason}); applyChanges must be retried later"
    elif cls is PbxConflict:
        message = f"the PBX data changed while {what} was sent ({reason}); read it again and retry"
    else:
        message = f"the PBX rejected {what} ({reason})"
        if status in _HINTS:
            message += f"; {_HINTS[status]}"
    return cls(message, status=status, action=action, detail=detail, retry_after=retry_after)


def exception_chain(err: BaseException) -> Iterator[BaseException]:
    """``err`` and every exception wrapped in it (requests and urllib3 nest them in args and ``reason``)."""
    pending, seen = [err], set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [*current.args, getattr(current, "reason", None), current.__cause__, current.__context__]
        pending.extend(item for item in nested if isinstance(item, BaseException))


def describe_os_error(err: BaseException) -> str:
    """A few words for a socket-level failure (refused, reset, timeout, unknown host)."""
    for item in exception_chain(err):
        if isinstance(item, ConnectionRefusedError):
            return "connection refused"
        if isinstance(item, ConnectionResetError):
            return "connection reset by the PBX"
        if isinstance(item, socket.gaierror):
            return "the host name cannot be resolved"
        if isinstance(item, TimeoutError):
            return "timed out"
    return str(err)
