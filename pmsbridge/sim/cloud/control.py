"""The ``/sim`` endpoints: look at and drive a cloud PMS simulator from outside its API, without credentials.

``GET /sim/state``            rooms, reservations with guests, in-house list, postings, faults,
                              webhook counts, credentials
``POST /sim/faults``          {"storm": true, "retry_after": 2, "refuse_postings": true,
                              "webhook_delay": 1.5, "webhook_duplicate": 1, "webhook_reorder": 0.5,
                              "webhook_drop": true}: set faults; answers them all
``POST /sim/webhooks``        {"url": "http://..."} (or null): where webhooks go from now on
``POST /sim/expire-tokens``   end the access tokens in use; answers what changed
``POST /sim/actions``         one front-desk action, answers {"reservation": id, "in_house": {...}}:
                              {"action": "book", "last_name": "Doe", "first_name": "John",
                               "language": "de", "vip": false, "room": "101", "nights": 2}
                              {"action": "check_in", "room": "101", "reservation": "<id>"} or, for a
                               walk-in, {"action": "check_in", "room": "101", "last_name": "Doe", ...}
                              {"action": "move", "room": "101", "to_room": "102"}
                              {"action": "rename", "room": "101", "last_name": "Roe", "first_name": "Jane"}
                              {"action": "language", "room": "101", "language": "fr"}
                              {"action": "vip", "room": "101", "vip": true}
                              {"action": "check_out", "room": "101"}
                              {"action": "cancel", "reservation": "<id>"}, {"action": "no_show", ...}
``POST /sim/random``          {"steps": 300, "seed": 7}: that many random actions now; answers them
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pmsbridge.sim.cloud.simulator import CloudPmsSimulator

ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # action: (required keys, optional keys)
    "book": (("last_name",), ("first_name", "language", "vip", "room", "nights")),
    "check_in": (("room",), ("reservation", "last_name", "first_name", "language", "vip", "nights")),
    "move": (("room", "to_room"), ()),
    "rename": (("room", "last_name"), ("first_name",)),
    "language": (("room", "language"), ()),
    "vip": (("room", "vip"), ()),
    "check_out": (("room",), ()),
    "cancel": (("reservation",), ()),
    "no_show": (("reservation",), ()),
}


class NotFound(Exception):
    pass


def handle_control(simulator: CloudPmsSimulator, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """Answer one ``/sim`` request as (HTTP status, JSON object)."""
    try:
        payload = json.loads(body) if body.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return 400, {"error": "the body must be JSON"}
    try:
        return 200, route(simulator, method, path, payload)
    except NotFound:
        return 404, {"error": f"no such endpoint {method} {path}"}
    except ValueError as err:
        return 400, {"error": str(err)}


def route(simulator: CloudPmsSimulator, method: str, path: str, payload: Any) -> dict[str, Any]:
    if method == "GET" and path == "/sim/state":
        return simulator.snapshot()
    if method != "POST":
        raise NotFound
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object")
    if path == "/sim/faults":
        return simulator.set_faults(**payload).as_dict()
    if path == "/sim/webhooks":
        url = payload.get("url")
        if url is not None and not isinstance(url, str):
            raise ValueError('give {"url": "http://..."} or {"url": null}')
        simulator.set_webhook_url(url)
        return {"url": simulator.webhook_url}
    if path == "/sim/expire-tokens":
        return simulator.expire_tokens()
    if path == "/sim/actions":
        reservation = front_desk(simulator, payload)
        return {"reservation": reservation, "in_house": simulator.in_house()}
    if path == "/sim/random":
        steps, seed = payload.get("steps", 1), payload.get("seed")
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 10_000:
            raise ValueError("steps must be a whole number from 1 to 10000")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError("seed must be a whole number")
        return {"done": simulator.run_random(steps, seed), "in_house": simulator.in_house()}
    raise NotFound


def front_desk(simulator: CloudPmsSimulator, payload: dict[str, Any]) -> str:
    """Carry out ``POST /sim/actions``; returns the reservation id."""
    action = payload.get("action")
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    required, optional = ACTIONS[action]
    missing = [key for key in required if payload.get(key) is None]
    if missing:
        raise ValueError(f"{action} needs {', '.join(missing)}")
    unknown = set(payload) - set(required) - set(optional) - {"action"}
    if unknown:
        raise ValueError(f"{action} takes no {', '.join(sorted(unknown))}")
    # A null optional value is the same as leaving it out.
    arguments = {key: value for key, value in payload.items() if key != "action" and value is not None}
    for key, value in arguments.items():
        wanted = bool if key == "vip" else int if key == "nights" else str
        if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
            raise ValueError(f"{key} must be {'true or false' if wanted is bool else wanted.__name__}")
    if action == "book":
        return simulator.book(arguments.pop("last_name"), **arguments)
    if action == "check_in":
        return simulator.check_in(arguments.pop("room"), arguments.pop("last_name", None),
                                  arguments.pop("first_name", None), **arguments)
    if action == "move":
        return simulator.move(arguments["room"], arguments["to_room"])
    if action == "rename":
        return simulator.rename(arguments["room"], arguments["last_name"], arguments.get("first_name"))
    if action == "language":
        return simulator.set_language(arguments["room"], arguments["language"])
    if action == "vip":
        return simulator.set_vip(arguments["room"], arguments["vip"])
    if action == "check_out":
        return simulator.check_out(arguments["room"])
    if action == "cancel":
        return simulator.cancel(arguments["reservation"])
    return simulator.no_show(arguments["reservation"])
