"""The ``/sim`` endpoints: look at and change the emulator from outside the API, without a cookie.

``GET /sim/state``                 rooms, extensions, minibar catalogue, counters, CDR count, faults
``POST /sim/faults``               {"latency": 0.2, "http_500": true, ...}: set faults; answers them all
``POST /sim/reset-counters``       zero the operation counters
``POST /sim/expire-cookies``       log every API client out
``POST /sim/rooms/<room>``         change a room behind the bridge's back, e.g. {"fullname": "X"},
                                   {"vacate": true}, {"dnd": true}, {"out_of_service": "yes"}
                                   (the keys of :meth:`PbxState.change_room`)
``POST /sim/cdr``                  store one call record, or a list of them
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from pmsbridge.sim.pbx.errors import NO_SUCH_ITEM, ApiError
from pmsbridge.sim.pbx.options import Faults
from pmsbridge.sim.pbx.state import PbxState


class ControlledEmulator(Protocol):
    """The parts of the emulator the control endpoints reach."""

    state: PbxState

    @property
    def faults(self) -> Faults: ...

    def set_faults(self, **changes: Any) -> Faults: ...

    def reset_counters(self) -> None: ...

    def expire_cookies(self) -> None: ...


def handle_control(emulator: ControlledEmulator, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """Answer one ``/sim`` request as (HTTP status, JSON object)."""
    try:
        payload = json.loads(body) if body.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return 400, {"error": "the body must be JSON"}
    try:
        return 200, route(emulator, method, path, payload)
    except ApiError as err:
        return (404 if err.status == NO_SUCH_ITEM else 400), {"error": err.message}
    except ValueError as err:
        return 400, {"error": str(err)}


def route(emulator: ControlledEmulator, method: str, path: str, payload: Any) -> dict[str, Any]:
    if method == "GET" and path == "/sim/state":
        return emulator.state.snapshot() | {"faults": emulator.faults.as_dict()}
    if method != "POST":
        raise ApiError(NO_SUCH_ITEM, f"no such endpoint {method} {path}")
    if path == "/sim/faults":
        return emulator.set_faults(**object_payload(payload)).as_dict()
    if path == "/sim/reset-counters":
        emulator.reset_counters()
        return {}
    if path == "/sim/expire-cookies":
        emulator.expire_cookies()
        return {}
    if path == "/sim/cdr":
        rows = payload if isinstance(payload, list) else [payload]
        if not all(isinstance(row, dict) and row for row in rows):
            raise ValueError("send a call record object or a list of them")
        return {"stored": [emulator.state.add_cdr(row) for row in rows]}
    if path.startswith("/sim/rooms/"):
        number = path.removeprefix("/sim/rooms/")
        emulator.state.change_room(number, **object_payload(payload))
        return emulator.state.room_summary(number)
    raise ApiError(NO_SUCH_ITEM, f"no such endpoint {method} {path}")


def object_payload(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object")
    return payload
