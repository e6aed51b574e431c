"""The emulated PBX's data: extensions and their users, PMS rooms, the minibar catalogue, CDRs.

One re-entrant lock (:attr:`PbxState.lock`) guards all of it. Every public method takes
the lock, so the HTTP worker threads, the ``/sim`` endpoints and a test can all call them;
code that reads several things that must agree holds ``with state.lock:`` around them.

Two kinds of change exist, as on the firmware: configuration edits (``updateUser``,
``updateSIPAccount``) are staged and take effect on :meth:`PbxState.apply_pending`
(``applyChanges``); PMS operations and the test-only :meth:`PbxState.change_room` take
effect at once.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pmsbridge.languages import PROMPT_LANGUAGES
from pmsbridge.sim.pbx.errors import INVALID_PARAMETERS, NO_SUCH_ITEM, ApiError

# Outbound permissions, weakest first; pmsapi's class of service 1..4 picks one of them.
PERMISSIONS = (
    "internal",
    "internal-local",
    "internal-local-national",
    "internal-local-national-international",
)
DEFAULT_PERMISSION = "internal"
EXTENSION_STATUSES = ("Idle", "InUse", "Busy", "Unavailable", "Ringing")
PRESENCE_STATUSES = ("available", "away", "chat", "dnd", "unavailable", "userdef")
# The user fields updateUser may change; the others are the PBX's own bookkeeping.
EDITABLE_USER_FIELDS = frozenset(
    {
        "department",
        "first_name",
        "last_name",
        "email",
        "language",
        "fax",
        "family_number",
        "phone_number",
        "email_to_user",
        "enable_multiple_extension",
        "multiple_extension",
    }
)
# The extension settings updateSIPAccount may change in the emulator.
EDITABLE_SIP_FIELDS = frozenset({"dnd", "cfu", "permission"})


@dataclass
class User:
    """The user account behind an extension (listUser/getUser); its names make the caller-ID name."""

    user_id: int
    user_name: str
    privilege: int = 3
    department: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    enable_multiple_extension: str = "no"
    multiple_extension: str | None = None
    email: str | None = None
    language: str | None = None
    fax: str | None = None
    family_number: str | None = None
    phone_number: str | None = None
    email_to_user: str = "no"

    def as_dict(self) -> dict[str, Any]:
        # cookie, login_time and ip belong to web logins, which the emulator has none of.
        return dataclasses.asdict(self) | {"cookie": None, "login_time": None, "ip": None}


@dataclass
class Extension:
    """A SIP extension: registration, status and the settings the bridge touches."""

    number: str
    room: str
    user: User
    contact: str
    status: str = "Idle"
    out_of_service: str = "no"
    dnd: str = "no"
    cfu: str | None = None
    permission: str = DEFAULT_PERMISSION
    urgemsg: int = 0
    newmsg: int = 0
    oldmsg: int = 0

    @property
    def fullname(self) -> str | None:
        """The caller-ID name: first name, space, last name; ``None`` when both are empty."""
        name = " ".join(part for part in (self.user.first_name, self.user.last_name) if part).strip()
        return name or None

    @property
    def addr(self) -> str:
        return "-" if self.status == "Unavailable" else self.contact

    def account(self) -> dict[str, Any]:
        """One row of listAccount, every field."""
        return {
            "extension": self.number,
            "account_type": "SIP",
            "fullname": self.fullname,
            "out_of_service": self.out_of_service,
            "status": self.status,
            "addr": self.addr,
            "urgemsg": self.urgemsg,
            "newmsg": self.newmsg,
            "oldmsg": self.oldmsg,
        }

    def sip_account(self, known_extensions: set[str]) -> dict[str, Any]:
        """The getSIPAccount response: settings, presence settings (where CFU lives), voicemail."""
        settings = {
            "account_type": "SIP",
            "alertinfo": None,
            "allow": "ulaw,alaw,gsm,g722",
            "auto_record": "off",
            "bypass_outrt_auth": "no",
            "call_waiting": "yes",
            "callbarging_monitor": "",
            "cfu": self.cfu,
            "cidnumber": self.number,
            "directmedia": "no",
            "dnd": self.dnd,
            "dnd_timetype": 0,
            "dndwhitelist": "",
            "dtmfmode": "rfc4733",
            "enable_ldap": "yes",
            "enable_qualify": "no",
            "enable_webrtc": "no",
            "enablehotdesk": "no",
            "encryption": "no",
            "extension": self.number,
            "faxdetect": "no",
            "fullname": self.fullname,
            "hasvoicemail": "yes",
            "max_contacts": 1,
            "mohsuggest": "default",
            "nat": "yes",
            "out_of_service": self.out_of_service,
            "permission": self.permission,
            "presence_status": "available",
            "qualifyfreq": 60,
            "ring_timeout": None,
            "skip_vmsecret": "no",
            "strategy_ipacl": 0,
            "t38_udptl": "no",
            "tel_uri": "disabled",
        }
        presence = [self.presence_entry(status, known_extensions) for status in PRESENCE_STATUSES]
        return {
            "extension": settings,
            "sip_presence_settings": presence,
            "voicemail": {"vm_attach": None, "vm_reserve": None},
        }

    def presence_entry(self, status: str, known_extensions: set[str]) -> dict[str, Any]:
        # The forward applies to the active presence ("available") only.
        cfu = self.cfu if status == "available" else None
        cfu_type = "0" if not cfu else ("1" if cfu in known_extensions else "2")
        return {
            "presence_status": status,
            "cfb": None,
            "cfb_destination_type": "0",
            "cfb_timetype": 0,
            "cfn": None,
            "cfn_destination_type": "0",
            "cfn_timetype": 0,
            "cfu": cfu,
            "cfu_destination_type": cfu_type,
            "cfu_timetype": 0,
        }

    def summary(self) -> dict[str, Any]:
        """What ``/sim/state`` shows of the extension."""
        return {
            "room": self.room,
            "fullname": self.fullname,
            "status": self.status,
            "addr": self.addr,
            "out_of_service": self.out_of_service,
            "dnd": self.dnd,
            "cfu": self.cfu,
            "permission": self.permission,
            "user": self.user.as_dict(),
        }


@dataclass
class Guest:
    """A checked-in guest as pmsapi stored it; ``room`` is the room number the PMS sent."""

    room: str
    account: str | None = None
    firstname: str | None = None
    lastname: str | None = None
    language: str | None = None
    vipcode: str | None = None
    credit: str | None = None
    cos: str | None = None
    datein: str | None = None
    dateout: str | None = None


@dataclass
class Wakeup:
    """A wake-up call: ``mode`` 1 rings once on ``date`` (YYYYMMDD), 2 every day; ``time`` is HHMM."""

    time: str
    mode: int = 1
    date: str | None = None

    def matches(self, date: str | None, time: str | None) -> bool:
        """Whether a cancel naming ``date`` and ``time`` (either may be absent) means this call."""
        same_time = time is None or time == self.time
        same_date = date is None or self.mode == 2 or date == self.date
        return same_time and same_date


@dataclass
class Room:
    """A PMS room: the extension it rings, its guest and wake-up calls."""

    number: str
    extension: str
    guest: Guest | None = None
    wakeups: list[Wakeup] = field(default_factory=list)

    @property
    def occupied(self) -> bool:
        return self.guest is not None


class PbxState:
    """All the emulated PBX knows, behind one lock. See the module docstring."""

    def __init__(self, room_extensions: dict[str, str], *, vip_codes: tuple[str, ...] | None = None,
                 prompt_languages: tuple[str, ...] = PROMPT_LANGUAGES):
        self.lock = threading.RLock()
        self.vip_codes = vip_codes
        self.prompt_languages = frozenset(language.lower() for language in prompt_languages) | {"default"}
        self.rooms: dict[str, Room] = {}
        self.extensions: dict[str, Extension] = {}
        self._room_by_extension: dict[str, str] = {}
        for index, (room, extension) in enumerate(room_extensions.items(), start=1):
            user = User(user_id=index, user_name=extension)
            self.extensions[extension] = Extension(extension, room, user, contact=f"127.0.0.1:{5060 + index}")
            self.rooms[room] = Room(room, extension)
            self._room_by_extension[extension] = room
        self.minibars: dict[str, dict[str, str | None]] = {}
        self.minibar_goods: dict[str, str | None] = {}
        self.minibar_waiters: dict[str, str | None] = {}
        self.report_url: str | None = None
        self._cdr: list[dict[str, Any]] = []
        # The last AcctId given per month of the records' start ("2026-11").
        self._acct_ids: Counter[str] = Counter()
        self._pending_users: dict[str, dict[str, Any]] = {}
        self._pending_sip: dict[str, dict[str, Any]] = {}
        self._counters: Counter[str] = Counter()
        # Told (extension, status) after every status change: the event reports.
        self.status_listeners: list[Callable[[str, str], None]] = []

    # -- lookups ---------------------------------------------------------------------------

    def find_extension(self, number: str) -> Extension | None:
        with self.lock:
            return self.extensions.get(number)

    def room_of(self, extension: Extension) -> Room:
        with self.lock:
            return self.rooms[self._room_by_extension[extension.number]]

    def room(self, number: str) -> Room:
        """The room with that number; ApiError(-16) when there is none."""
        with self.lock:
            room = self.rooms.get(number)
            if room is None:
                raise ApiError(NO_SUCH_ITEM, f"no such room {number!r}")
            return room

    # -- counters --------------------------------------------------------------------------

    def count(self, operation: str) -> None:
        with self.lock:
            self._counters[operation] += 1

    def counters(self) -> dict[str, int]:
        with self.lock:
            return dict(self._counters)

    def reset_counters(self) -> None:
        with self.lock:
            self._counters.clear()

    # -- call detail records ---------------------------------------------------------------

    def add_cdr(self, row: dict[str, Any]) -> dict[str, Any]:
        """Store a CDR entry (a flat record or a ``main_cdr``/``sub_cdr_N`` group) and return it.

        A record without ``AcctId`` (a flat one, or each leg of a group; never the group's
        summary) gets the next number of its month: like a real unit's, the sequence starts
        again at 1 about monthly, so an ``AcctId`` alone never identifies a call.
        """
        stored = copy.deepcopy(row)
        records = [leg for name, leg in stored.items() if name.startswith("sub_cdr")] if "main_cdr" in stored \
            else [stored]
        with self.lock:
            for record in records:
                if "AcctId" not in record:
                    month = str(record.get("start", ""))[:7]
                    self._acct_ids[month] += 1
                    record["AcctId"] = str(self._acct_ids[month])
            self._cdr.append(stored)
        return copy.deepcopy(stored)

    def select_cdr(self, keep: Callable[[dict[str, Any]], bool] | None, offset: int,
                   count: int) -> list[dict[str, Any]]:
        """Copies of the stored entries ``keep`` accepts (all when ``None``), from ``offset``, at most ``count``."""
        with self.lock:
            rows = self._cdr if keep is None else [row for row in self._cdr if keep(row)]
            return copy.deepcopy(rows[offset:offset + count])

    # -- staged configuration --------------------------------------------------------------

    def stage_user_change(self, user_name: str, changes: dict[str, Any]) -> None:
        with self.lock:
            if self.find_extension(user_name) is None:
                raise ApiError(NO_SUCH_ITEM, f"no such user {user_name!r}")
            self._pending_users.setdefault(user_name, {}).update(changes)

    def stage_sip_change(self, extension: str, changes: dict[str, Any]) -> None:
        with self.lock:
            if self.find_extension(extension) is None:
                raise ApiError(NO_SUCH_ITEM, f"no such extension {extension!r}")
            self._pending_sip.setdefault(extension, {}).update(changes)

    def apply_pending(self) -> int:
        """Make every staged change take effect; returns how many objects changed."""
        with self.lock:
            for user_name, changes in self._pending_users.items():
                user = self.extensions[user_name].user
                for name, value in changes.items():
                    setattr(user, name, value)
            for number, changes in self._pending_sip.items():
                extension = self.extensions[number]
                for name, value in changes.items():
                    setattr(extension, name, value)
            applied = len(self._pending_users) + len(self._pending_sip)
            self._pending_users.clear()
            self._pending_sip.clear()
            return applied

    # -- guests (pmsapi) -------------------------------------------------------------------

    def occupy(self, room: Room, guest: Guest) -> None:
        """Check ``guest`` into ``room``: the extension takes the guest's name and language."""
        with self.lock:
            room.guest = guest
            self.show_guest(room)

    def show_guest(self, room: Room) -> None:
        """Copy the guest's name, language and class of service onto the room's extension."""
        with self.lock:
            guest = room.guest
            if guest is None:
                return
            extension = self.extensions[room.extension]
            extension.user.first_name = guest.firstname or None
            extension.user.last_name = guest.lastname or None
            if guest.language:
                extension.user.language = guest.language
            if guest.cos:
                extension.permission = PERMISSIONS[int(guest.cos) - 1]

    def vacate(self, room: Room) -> None:
        """Check the room out: no guest, no wake-ups; the extension's defaults come back."""
        with self.lock:
            room.guest = None
            room.wakeups.clear()
            extension = self.extensions[room.extension]
            extension.user.first_name = None
            extension.user.last_name = None
            extension.user.language = None
            extension.dnd = "no"
            extension.cfu = None
            extension.permission = DEFAULT_PERMISSION

    def move(self, source: Room, destination: Room, destination_label: str) -> None:
        """Move the guest, wake-ups and do-not-disturb from ``source`` to ``destination``."""
        with self.lock:
            guest = dataclasses.replace(source.guest, room=destination_label)
            wakeups = list(source.wakeups)
            dnd = self.extensions[source.extension].dnd
            self.vacate(source)
            destination.guest = guest
            destination.wakeups = wakeups
            self.extensions[destination.extension].dnd = dnd
            self.show_guest(destination)

    # -- changes behind the bridge's back (tests, /sim/rooms) ------------------------------

    def change_room(self, number: str, **changes: Any) -> None:
        """Change a room the way staff at the PBX would, without pmsapi.

        Keys: ``fullname`` (str or None), ``vacate`` (true: check out), ``guest`` (a dict of
        :class:`Guest` fields: check in), ``dnd`` (bool), ``cfu`` (str or None),
        ``out_of_service`` ("yes"/"no"), ``status`` (an extension status), ``permission``.
        ApiError(-16) for an unknown room, ApiError(-1) for an unknown key or a bad value.
        """
        with self.lock:
            room = self.room(number)
            extension = self.extensions[room.extension]
            for name, value in changes.items():
                if name == "fullname":
                    if value is not None and not isinstance(value, str):
                        raise ApiError(INVALID_PARAMETERS, "fullname must be a string or null")
                    extension.user.first_name, extension.user.last_name = value or None, None
                elif name == "vacate":
                    if value:
                        self.vacate(room)
                elif name == "guest":
                    self.occupy(room, guest_from_dict(value, room.number))
                elif name == "dnd":
                    extension.dnd = "yes" if value else "no"
                elif name == "cfu":
                    extension.cfu = value or None
                elif name == "out_of_service":
                    extension.out_of_service = choice("out_of_service", value, ("yes", "no"))
                elif name == "status":
                    extension.status = choice("status", value, EXTENSION_STATUSES)
                    self._status_changed(extension)
                elif name == "permission":
                    extension.permission = choice("permission", value, PERMISSIONS)
                else:
                    raise ApiError(INVALID_PARAMETERS, f"unknown room change {name!r}")

    def set_fullname(self, room: str, fullname: str | None) -> None:
        self.change_room(room, fullname=fullname)

    def set_dnd(self, room: str, on: bool) -> None:
        self.change_room(room, dnd=on)

    def set_out_of_service(self, room: str, value: str) -> None:
        self.change_room(room, out_of_service=value)

    def vacate_room(self, room: str) -> None:
        self.change_room(room, vacate=True)

    def set_status(self, extension: str, status: str) -> None:
        """Set an extension's status (Idle, InUse, Busy, Unavailable, Ringing)."""
        with self.lock:
            found = self.find_extension(extension)
            if found is None:
                raise ApiError(NO_SUCH_ITEM, f"no such extension {extension!r}")
            found.status = choice("status", status, EXTENSION_STATUSES)
            self._status_changed(found)

    def _status_changed(self, extension: Extension) -> None:
        for listener in self.status_listeners:
            listener(extension.number, extension.status)

    # -- inspection ------------------------------------------------------------------------

    def room_summary(self, number: str) -> dict[str, Any]:
        """What ``/sim/state`` shows of a room: its guest, wake-ups, do-not-disturb and forward."""
        with self.lock:
            room = self.room(number)
            extension = self.extensions[room.extension]
            return {
                "extension": room.extension,
                "occupied": room.occupied,
                "guest": dataclasses.asdict(room.guest) if room.guest else None,
                "wakeups": [dataclasses.asdict(wakeup) for wakeup in room.wakeups],
                "dnd": extension.dnd == "yes",
                "cfu": extension.cfu,
            }

    def snapshot(self) -> dict[str, Any]:
        """Everything, as plain JSON-ready data (what ``GET /sim/state`` answers)."""
        with self.lock:
            return {
                "rooms": {number: self.room_summary(number) for number in self.rooms},
                "extensions": {number: ext.summary() for number, ext in self.extensions.items()},
                "minibar": {
                    "bars": copy.deepcopy(self.minibars),
                    "goods": dict(self.minibar_goods),
                    # Waiter passwords are secrets even in a simulator.
                    "waiters": sorted(self.minibar_waiters),
                },
                "pending_changes": {
                    "users": copy.deepcopy(self._pending_users),
                    "sip_accounts": copy.deepcopy(self._pending_sip),
                },
                "counters": dict(self._counters),
                "cdr_count": len(self._cdr),
                "report_url": self.report_url,
            }


def choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ApiError(INVALID_PARAMETERS, f"{name} must be one of {', '.join(allowed)}")
    return value


def guest_from_dict(values: Any, room: str) -> Guest:
    if not isinstance(values, dict):
        raise ApiError(INVALID_PARAMETERS, "guest must be an object of guest fields")
    names = {f.name for f in dataclasses.fields(Guest)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ApiError(INVALID_PARAMETERS, f"unknown guest fields: {', '.join(unknown)}")
    if values.get("cos") not in (None, "1", "2", "3", "4"):
        raise ApiError(INVALID_PARAMETERS, "cos must be 1, 2, 3 or 4")
    return Guest(**({"room": room} | {name: None if value is None else str(value) for name, value in values.items()}))
