"""The ``/sim`` endpoints: look at and change the emulator from outside the API, without a cookie.

``GET /sim/state``                 rooms, extensions, minibar catalogue, counters, CDR count, faults
``POST /sim/faults``               {"latency": 0.2, "http_500": true, ...}: set faults; answers them all
``POST /sim/reset-counters``       zero the operation counters
``POST /sim/expire-cookies``       log every API client out
``POST /sim/rooms/<room>``         change a room behind the bridge's back, e.g. {"fullname": "X"},
                                   {"vacate": true}, {"dnd": true}, {"out_of_service": "yes"}
                                   (the keys of :meth:`PbxState.change_room`)
``POST /sim/cdr``                  store one call record, or a list of them
``POST /sim/calls``                make a call and store its record: {"from": "101", "to": "0044...",
                                   "talk": 65, "ring": 5, "disposition": "ANSWERED", "trunk": "trunk-1",
                                   "start": "2026-11-27 10:00:00", "group": false, "transfer_to": "102",
                                   "transfer_talk": 30} (a transfer is stored as a group of two legs);
                                   or ring a wake-up: {"wakeup": "101", "disposition": "BUSY"};
                                   answers the entry as stored
"""

from __future__ import annotations

import json
from datetime import datetime
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

    def place_call(self, caller: str, callee: str, **details: Any) -> dict[str, Any]: ...

    def ring_wakeup(self, room: str, disposition: str = "ANSWERED", **details: Any) -> dict[str, Any]: ...


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
    if path == "/sim/calls":
        return {"stored": make_call(emulator, object_payload(payload))}
    if path.startswith("/sim/rooms/"):
        number = path.removeprefix("/sim/rooms/")
        emulator.state.change_room(number, **object_payload(payload))
        return emulator.state.room_summary(number)
    raise ApiError(NO_SUCH_ITEM, f"no such endpoint {method} {path}")


def object_payload(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object")
    return payload


CALL_DETAILS = {"talk": int, "ring": int, "disposition": str, "trunk": str, "group": bool, "transfer_to": str,
                "transfer_talk": int}


def make_call(emulator: ControlledEmulator, payload: dict[str, Any]) -> dict[str, Any]:
    """``POST /sim/calls``: a call between two parties, or a wake-up call (see the module docstring)."""
    details: dict[str, Any] = {}
    for name, kind in CALL_DETAILS.items():
        if name in payload:
            if not isinstance(payload[name], kind) or (kind is int and isinstance(payload[name], bool)):
                raise ValueError(f"{name} must be {'true or false' if kind is bool else kind.__name__}")
            details[name] = payload[name]
    if payload.get("start") is not None:
        try:
            details["start"] = datetime.fromisoformat(str(payload["start"]))
        except ValueError:
            raise ValueError("start must look like 2026-11-27 10:00:00") from None
    if "wakeup" in payload:
        details.pop("trunk", None)
        if details.pop("group", False) or details.pop("transfer_to", None) or details.pop("transfer_talk", None):
            raise ValueError("a wake-up call is never a group")
        return emulator.ring_wakeup(str(payload["wakeup"]), **details)
    if not isinstance(payload.get("from"), str) or not isinstance(payload.get("to"), str):
        raise ValueError('give "from" and "to" (room numbers, extensions or outside numbers), or "wakeup"')
    return emulator.place_call(payload["from"], payload["to"], **details)
