"""pmsapi operations: what checkin, update, mov, checkout, wakeup, dnd, cfu and the minibar
operations do to the emulated PBX.

Choices where the guide is silent, made strict so that a client's mistakes show:

- A wrong ``token`` (not md5(pms_username + pms_password), compared case-insensitively)
  answers status -1 with the error "Invalid token", like every other pmsapi failure; a
  -37 would tell the client its API login is wrong, which it is not.
- ``address`` (the extension) is what identifies a room; ``room`` is stored as the PMS sent
  it. Unknown elements in an operation are refused, so are a check-in of an occupied room
  and a move onto an occupied room. Cancelling a wake-up that does not exist succeeds.
- ``datein``/``dateout`` are ``YYYY/MM/DD hh:mm``; in JSON format ``YYYYMMDD`` is accepted
  too. ``cos`` must be 1-4 and sets the extension's outbound permission. ``vipcode`` must be
  digits (and one of the unit's VIP categories when they are configured), ``language`` one
  of its prompt languages (any case) or ``default``.
- The destination room of a move may be given as ``d_room`` (the guide's example) or
  ``r_room`` (its table).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from pmsbridge.sim.pbx.errors import INVALID_PARAMETERS, ApiError
from pmsbridge.sim.pbx.pmsdata import PmsRequest
from pmsbridge.sim.pbx.state import Extension, Guest, PbxState, Room, Wakeup

GUEST_FIELDS = ("account", "firstname", "lastname", "language", "vipcode", "credit", "cos", "datein", "dateout")
ALLOWED_FIELDS = {
    "checkin": {"address", "room", *GUEST_FIELDS},
    "update": {"address", "room", *GUEST_FIELDS},
    "mov": {"address", "room", "d_address", "d_room", "r_room"},
    "checkout": {"address", "room"},
    "wakeup": {"address", "room", "w_action", "w_mode", "w_date", "w_time"},
    "dnd": {"address", "room", "status"},
    "cfu": {"address", "room", "cfwt"},
    "addminibar": {"barcode", "barname", "prompt", "verifyskip", "listgoods"},
    "delminibar": {"barcode"},
    "addminibargoods": {"goodscode", "goodsname"},
    "delminibargoods": {"goodscode"},
    "addminibarwaiter": {"maidcode", "password"},
    "delminibarwaiter": {"maidcode"},
}
NOT_CHECKED_IN = "room is not checked in"
PHONE_NUMBER = re.compile(r"[0-9*#+]{1,32}")
DIGITS = re.compile(r"[0-9]{1,32}")


def execute(state: PbxState, request: PmsRequest) -> None:
    """Carry out one pmsapi operation; ApiError(-1, reason) when it cannot be done."""
    allowed = ALLOWED_FIELDS.get(request.operation)
    if allowed is None:
        raise ApiError(INVALID_PARAMETERS, f"unsupported operation {request.operation!r}")
    unknown = sorted(set(request.fields) - allowed)
    if unknown:
        raise ApiError(INVALID_PARAMETERS, f"unknown element {unknown[0]!r} in {request.operation}")
    with state.lock:
        OPERATIONS[request.operation](state, request)


def required(request: PmsRequest, name: str) -> str:
    value = request.fields.get(name, "")
    if not value:
        raise ApiError(INVALID_PARAMETERS, f"missing {name}")
    return value


def optional(request: PmsRequest, name: str) -> str | None:
    """The field's value; ``None`` when absent or empty."""
    return request.fields.get(name) or None


def extension_at(state: PbxState, address: str) -> Extension:
    extension = state.find_extension(address)
    if extension is None:
        raise ApiError(INVALID_PARAMETERS, f"no such extension {address!r}")
    return extension


def occupied_room(state: PbxState, request: PmsRequest) -> Room:
    room = state.room_of(extension_at(state, required(request, "address")))
    if not room.occupied:
        raise ApiError(INVALID_PARAMETERS, NOT_CHECKED_IN)
    return room


def check_stay(request: PmsRequest, name: str) -> None:
    """``datein``/``dateout``: YYYY/MM/DD hh:mm (JSON also YYYYMMDD), a real date and time."""
    value = optional(request, name)
    if value is None:
        return
    formats = [("%Y/%m/%d %H:%M", r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}")]
    if request.json_format:
        formats.append(("%Y%m%d", r"\d{8}"))
    for pattern, shape in formats:
        if re.fullmatch(shape, value):
            try:
                datetime.strptime(value, pattern)
            except ValueError:
                break
            return
    expected = " or ".join(("YYYY/MM/DD hh:mm", "YYYYMMDD")[: len(formats)])
    raise ApiError(INVALID_PARAMETERS, f"{name} {value!r} is not a valid date ({expected})")


def stay_start(value: str) -> datetime:
    return datetime.strptime(value, "%Y%m%d" if len(value) == 8 else "%Y/%m/%d %H:%M")


def check_guest_fields(state: PbxState, request: PmsRequest) -> None:
    check_stay(request, "datein")
    check_stay(request, "dateout")
    datein, dateout = optional(request, "datein"), optional(request, "dateout")
    if datein and dateout and stay_start(dateout) < stay_start(datein):
        raise ApiError(INVALID_PARAMETERS, "dateout is before datein")
    cos = optional(request, "cos")
    if cos is not None and cos not in ("1", "2", "3", "4"):
        raise ApiError(INVALID_PARAMETERS, "cos must be 1, 2, 3 or 4")
    for name, shape in (("vipcode", r"\d{1,16}"), ("credit", r"-?\d{1,16}(\.\d{1,4})?")):
        value = optional(request, name)
        if value is not None and not re.fullmatch(shape, value):
            raise ApiError(INVALID_PARAMETERS, f"{name} must be a number")
    vip = optional(request, "vipcode")
    if vip is not None and state.vip_codes is not None and vip not in state.vip_codes:
        raise ApiError(INVALID_PARAMETERS, f"vipcode {vip} is not a VIP category ({', '.join(state.vip_codes)})")
    language = optional(request, "language")
    if language is not None and language.lower() not in state.prompt_languages:
        raise ApiError(INVALID_PARAMETERS, f"language {language!r} has no voice prompts on this PBX")


def checkin(state: PbxState, request: PmsRequest) -> None:
    address, room_label = required(request, "address"), required(request, "room")
    required(request, "datein")
    required(request, "dateout")
    check_guest_fields(state, request)
    room = state.room_of(extension_at(state, address))
    if room.occupied:
        raise ApiError(INVALID_PARAMETERS, "room is already checked in")
    guest = Guest(room=room_label, **{name: request.fields.get(name) for name in GUEST_FIELDS})
    state.occupy(room, guest)


def update(state: PbxState, request: PmsRequest) -> None:
    check_guest_fields(state, request)
    room = occupied_room(state, request)
    for name in GUEST_FIELDS:
        if name in request.fields and (request.fields[name] or name in ("firstname", "lastname")):
            setattr(room.guest, name, request.fields[name])
    if request.fields.get("room"):
        room.guest.room = request.fields["room"]
    state.show_guest(room)


def move(state: PbxState, request: PmsRequest) -> None:
    required(request, "room")
    destination_label = optional(request, "d_room") or optional(request, "r_room")
    if destination_label is None:
        raise ApiError(INVALID_PARAMETERS, "missing d_room")
    source = occupied_room(state, request)
    destination = state.room_of(extension_at(state, required(request, "d_address")))
    if destination is source:
        raise ApiError(INVALID_PARAMETERS, "the destination is the source room")
    if destination.occupied:
        raise ApiError(INVALID_PARAMETERS, "destination room is occupied")
    state.move(source, destination, destination_label)


def checkout(state: PbxState, request: PmsRequest) -> None:
    state.vacate(occupied_room(state, request))


def wakeup(state: PbxState, request: PmsRequest) -> None:
    action = required(request, "w_action")
    if action not in ("0", "1"):
        raise ApiError(INVALID_PARAMETERS, "w_action must be 1 (set) or 0 (cancel)")
    mode = optional(request, "w_mode") or "1"
    if mode not in ("1", "2"):
        raise ApiError(INVALID_PARAMETERS, "w_mode must be 1 (single) or 2 (daily)")
    date, time = optional(request, "w_date"), optional(request, "w_time")
    if date is not None:
        check_wakeup_value("w_date", date, "%Y%m%d", "YYYYMMDD")
    if time is not None:
        check_wakeup_value("w_time", time, "%H%M", "HHMM")
    room = occupied_room(state, request)
    if action == "0":
        room.wakeups[:] = [call for call in room.wakeups if not call.matches(date, time)]
        return
    if time is None:
        raise ApiError(INVALID_PARAMETERS, "missing w_time")
    if mode == "1" and date is None:
        raise ApiError(INVALID_PARAMETERS, "missing w_date")
    call = Wakeup(time=time, mode=int(mode), date=date if mode == "1" else None)
    # Setting the same call again replaces it rather than ringing twice.
    room.wakeups[:] = [other for other in room.wakeups if other != call]
    room.wakeups.append(call)


def check_wakeup_value(name: str, value: str, pattern: str, shape: str) -> None:
    valid = len(value) == len(shape) and value.isdigit()
    if valid:
        try:
            datetime.strptime(value, pattern)
        except ValueError:
            valid = False
    if not valid:
        raise ApiError(INVALID_PARAMETERS, f"{name} {value!r} is not valid ({shape})")


def dnd(state: PbxState, request: PmsRequest) -> None:
    status = required(request, "status")
    if status not in ("0", "1"):
        raise ApiError(INVALID_PARAMETERS, "status must be 1 (on) or 0 (off)")
    room = occupied_room(state, request)
    state.extensions[room.extension].dnd = "yes" if status == "1" else "no"


def call_forward(state: PbxState, request: PmsRequest) -> None:
    if "cfwt" not in request.fields:
        raise ApiError(INVALID_PARAMETERS, "missing cfwt")
    target = request.fields["cfwt"]
    if target and not PHONE_NUMBER.fullmatch(target):
        raise ApiError(INVALID_PARAMETERS, f"cfwt {target!r} is not a phone number")
    extension = extension_at(state, required(request, "address"))
    if target == extension.number:
        raise ApiError(INVALID_PARAMETERS, "an extension cannot forward to itself")
    extension.cfu = target or None


def code(request: PmsRequest, name: str) -> str:
    value = required(request, name)
    if not DIGITS.fullmatch(value):
        raise ApiError(INVALID_PARAMETERS, f"{name} must be digits")
    return value


def add_minibar(state: PbxState, request: PmsRequest) -> None:
    barcode = code(request, "barcode")
    if barcode in state.minibars:
        raise ApiError(INVALID_PARAMETERS, f"minibar {barcode} already exists")
    details = ("barname", "prompt", "verifyskip", "listgoods")
    state.minibars[barcode] = {name: optional(request, name) for name in details}


def delete_minibar(state: PbxState, request: PmsRequest) -> None:
    barcode = code(request, "barcode")
    if state.minibars.pop(barcode, None) is None:
        raise ApiError(INVALID_PARAMETERS, f"no such minibar {barcode}")


def add_goods(state: PbxState, request: PmsRequest) -> None:
    goodscode = code(request, "goodscode")
    if goodscode in state.minibar_goods:
        raise ApiError(INVALID_PARAMETERS, f"goods {goodscode} already exist")
    state.minibar_goods[goodscode] = optional(request, "goodsname")


def delete_goods(state: PbxState, request: PmsRequest) -> None:
    goodscode = code(request, "goodscode")
    if goodscode not in state.minibar_goods:
        raise ApiError(INVALID_PARAMETERS, f"no such goods {goodscode}")
    del state.minibar_goods[goodscode]


def add_waiter(state: PbxState, request: PmsRequest) -> None:
    maidcode = code(request, "maidcode")
    if maidcode in state.minibar_waiters:
        raise ApiError(INVALID_PARAMETERS, f"waiter {maidcode} already exists")
    state.minibar_waiters[maidcode] = code(request, "password")


def delete_waiter(state: PbxState, request: PmsRequest) -> None:
    maidcode = code(request, "maidcode")
    if maidcode not in state.minibar_waiters:
        raise ApiError(INVALID_PARAMETERS, f"no such waiter {maidcode}")
    del state.minibar_waiters[maidcode]


OPERATIONS: dict[str, Callable[[PbxState, PmsRequest], None]] = {
    "checkin": checkin,
    "update": update,
    "mov": move,
    "checkout": checkout,
    "wakeup": wakeup,
    "dnd": dnd,
    "cfu": call_forward,
    "addminibar": add_minibar,
    "delminibar": delete_minibar,
    "addminibargoods": add_goods,
    "delminibargoods": delete_goods,
    "addminibarwaiter": add_waiter,
    "delminibarwaiter": delete_waiter,
}
