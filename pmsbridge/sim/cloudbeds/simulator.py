"""A Cloudbeds API v1.3 simulator: the calls an integration reading stays and posting charges uses.

Every call is ``{url}/api/v1.3/{method}`` (``v1.2`` answers the same); reads are GET with a
query string, writes POST with a form body. Authentication: the property's API key in the
``x-api-key`` header (or as ``Authorization: Bearer``), or an OAuth access token as
``Authorization: Bearer``, got from ``POST access_token`` (``grant_type=refresh_token``,
``client_id``, ``client_secret``, ``refresh_token``; ``expires_in`` is ``token_lifetime``).
Answers are the ``{"success": true, "data": ..., "count", "total"}`` envelope; a request
the API cannot serve is ``{"success": false, "message": ...}`` with HTTP 200, as the
specification documents; a bad or expired credential is HTTP 401 and too many requests
HTTP 429 with ``Retry-After`` (10 per second per credential by default), both with the
envelope (the specification documents no status but 200).

- ``getHotelDetails``: the property (``propertyID``, ``propertyName``, ``propertyTimezone``)
- ``getRooms`` (``pageNumber``, ``pageSize`` up to 100, default 20):
  ``data: [{"propertyID", "rooms": [{"roomID", "roomName", ...}]}]``
- ``getReservations``: ``status`` (``confirmed``, ``checked_in``, ``checked_out``,
  ``canceled``, ``no_show``), ``modifiedFrom``/``modifiedTo`` (``YYYY-MM-DD HH:MM:SS``,
  UTC, inclusive), ``includeGuestsDetails``, ``sortByRecent``, ``pageNumber``,
  ``pageSize`` (up to 100, default 100); each with ``rooms`` (``roomID``, ``roomName``,
  ``roomStatus``) and, with guest details, ``guestList``
- ``getReservation?reservationID=``: ``guestList``, ``assigned``, ``unassigned``, ``status``
- ``getGuestsByStatus?status=in_house`` (``not_checked_in``, ``checked_out``,
  ``canceled``; pageSize up to 100, default 20): one row per guest and room
- ``getGuest?guestID=|reservationID=``
- ``POST postCustomItem``: ``reservationID``, ``referenceID``, ``items[0][itemName]``,
  ``items[0][itemPrice]``, ``items[0][itemQuantity]``... (or ``items`` as a JSON list) ->
  ``{"success": true, "data": {"soldProductID", "transactionID"}}``; a ``referenceID``
  sent before adds nothing and answers the first item again with a ``notice``.

Cloudbeds has no guest language or VIP field. A guest's name change also moves the
reservation's ``dateModified`` here. Webhooks (JSON, ids only): ``reservation/created``,
``reservation/status_changed`` (``status``), ``reservation/accommodation_changed`` (a move:
``roomId``, ``roomIdPrev``) and ``guest/details_changed``, with ``propertyID`` or
``propertyId`` spelt as Cloudbeds' own samples spell them.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pmsbridge.sim.cloud.hotel import (CANCELED, CHECKED_OUT, CONFIRMED, IN_HOUSE, NO_SHOW, Change, Guest,
                                       Reservation, Room)
from pmsbridge.sim.cloud.options import CloudSimOptions
from pmsbridge.sim.cloud.paging import numbered_page
from pmsbridge.sim.cloud.server import Request, Response
from pmsbridge.sim.cloud.simulator import CloudPmsSimulator
from pmsbridge.sim.cloud.tokens import VALID, TokenIssuer

PATH = re.compile(r"/api/v1\.[23]/(?P<method>[A-Za-z_]+)")
STATUSES = {CONFIRMED: "confirmed", IN_HOUSE: "checked_in", CHECKED_OUT: "checked_out", CANCELED: "canceled",
            NO_SHOW: "no_show"}
ROOM_STATUSES = {CONFIRMED: "not_checked_in", IN_HOUSE: "in_house", CHECKED_OUT: "checked_out",
                 CANCELED: "cancelled", NO_SHOW: "cancelled"}
GUEST_ENTRY_STATUSES = {CONFIRMED: "not_checked_in", IN_HOUSE: "in_house", CHECKED_OUT: "checked_out",
                        CANCELED: "canceled", NO_SHOW: "no_show"}
GUEST_STATUSES = {"in_house": (IN_HOUSE,), "checked_out": (CHECKED_OUT,), "not_checked_in": (CONFIRMED,),
                  "canceled": (CANCELED, NO_SHOW)}
ROOM_TYPE = {"roomTypeID": "501", "roomTypeName": "Double", "roomTypeNameShort": "DBL"}
DATETIME = "%Y-%m-%d %H:%M:%S"
ITEM_FIELD = re.compile(r"items\[(?P<index>[0-9]+)\]\[(?P<field>[A-Za-z]+)\]")


@dataclass(frozen=True, kw_only=True)
class CloudbedsOptions(CloudSimOptions):
    """A Cloudbeds property: its API key, an OAuth client with a refresh token, Cloudbeds' limit."""

    api_key: str = "cbat_simulator0000000000000000000000"
    client_id: str = "sim_client"
    client_secret: str = "sim-cloudbeds-secret"
    refresh_token: str = "sim-refresh-token"
    property_id: str = "318267"
    property_name: str = "Hotel Simulator (Cloudbeds)"
    rate_limit: int | None = 10
    rate_window: float = 1.0


class Refused(Exception):
    """A request Cloudbeds answers ``{"success": false, "message": ...}``."""


def stamp(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).strftime(DATETIME)


class CloudbedsSimulator(CloudPmsSimulator):
    """See the module docstring."""

    name = "cloudbeds"
    title = "Cloudbeds"
    touch_reservation_on_guest_change = True
    options: CloudbedsOptions

    def __init__(self, options: CloudbedsOptions | None = None) -> None:
        options = options or CloudbedsOptions()
        self._ids = random.Random(options.seed)
        self._transactions = iter(range(70001, 10**9))
        self.api_key = options.api_key
        self.tokens = TokenIssuer(lambda: self.options.token_lifetime)
        # referenceID -> the answer given the first time.
        self._references: dict[str, dict[str, Any]] = {}
        super().__init__(options)

    # -- identifiers, credentials ----------------------------------------------------------

    def new_id(self, kind: str) -> str:
        if kind == "reservation":
            return str(self._ids.randrange(10**12, 10**13))
        if kind == "guest":
            return str(self._ids.randrange(10**8, 10**9))
        return str(next(self._transactions))

    def room_id(self, name: str) -> str:
        return f"{ROOM_TYPE['roomTypeID']}-{name}"

    def credentials(self) -> dict[str, Any]:
        return {"api_url": f"{self.url}/api/v1.3" if self._port is not None else None, "api_key": self.api_key,
                "property_id": self.options.property_id, "client_id": self.options.client_id,
                "client_secret": self.options.client_secret, "refresh_token": self.options.refresh_token}

    def expire_tokens(self) -> dict[str, Any]:
        """End every OAuth access token and replace the API key (as one that expired or was revoked)."""
        with self.lock:
            self.api_key = "cbat_" + secrets.token_hex(16)
            return {"expired": self.tokens.expire_all(), "api_key": self.api_key}

    # -- webhooks ----------------------------------------------------------------------------

    def webhook_bodies(self, change: Change) -> list[dict[str, Any]]:
        now = self.now().timestamp()
        property_id = self.options.property_id
        if change.kind in ("created", "checked_in", "checked_out", CANCELED, NO_SHOW):
            event = "reservation/created" if change.kind == "created" else "reservation/status_changed"
            body: dict[str, Any] = {"reservationID": change.reservation_id, "propertyID": int(property_id),
                                    "propertyID_str": property_id}
            if change.kind != "created":
                body["status"] = STATUSES[change.status or CONFIRMED]
            return [body | {"version": "1.0", "event": event, "timestamp": now}]
        common = {"version": "1.0", "propertyId": int(property_id), "propertyId_str": property_id, "timestamp": now}
        if change.kind == "moved":
            return [common | {"event": "reservation/accommodation_changed", "reservationId": change.reservation_id,
                              "subReservationId": f"{change.reservation_id}-1",
                              "roomId": self.hotel.rooms[change.room or ""].id,
                              "roomIdPrev": self.hotel.rooms[change.previous_room or ""].id}]
        return [common | {"event": "guest/details_changed", "guestId": int(change.guest_id),
                          "guestId_str": change.guest_id}]

    # -- the API -----------------------------------------------------------------------------

    def too_many_requests(self, retry_after: int) -> Response:
        return Response(429, {"success": False, "message": "Too many requests"}, {"Retry-After": str(retry_after)})

    def api(self, request: Request) -> Response:
        match = PATH.fullmatch(request.path)
        method = match["method"] if match else None
        if method == "access_token" and request.method == "POST":
            return self.access_token(request)
        if method not in METHODS:
            return Response(404, {"success": False, "message": f"There is no API method {request.path}"})
        verb, call = METHODS[method]
        if request.method != verb:
            return Response(405, {"success": False, "message": f"{method} takes {verb} requests"})
        credential = self._credential(request)
        if credential is None:
            return Response(401, {"success": False, "message": "Invalid or expired access token or API key"})
        limited = self.throttled(credential)
        if limited is not None:
            return limited
        try:
            with self.lock:
                return Response(200, {"success": True, **call(self, request)})
        except (Refused, ValueError) as err:
            return Response(200, {"success": False, "message": str(err)})

    def _credential(self, request: Request) -> str | None:
        header = request.headers.get("Authorization", "")
        bearer = header[7:] if header.startswith("Bearer ") else None
        for candidate in (request.headers.get("x-api-key"), bearer):
            if candidate and (candidate == self.api_key or self.tokens.check(candidate) == VALID):
                return candidate
        return None

    def access_token(self, request: Request) -> Response:
        form = {name: values[-1] for name, values in request.form().items()}
        if form.get("grant_type") != "refresh_token":
            return Response(400, {"error": "unsupported_grant_type"})
        if (form.get("client_id"), form.get("client_secret")) != (self.options.client_id, self.options.client_secret):
            return Response(401, {"error": "invalid_client"})
        if form.get("refresh_token") != self.options.refresh_token:
            return Response(400, {"error": "invalid_grant"})
        token, expires_in = self.tokens.issue()
        return Response(200, {"access_token": token, "token_type": "Bearer", "expires_in": expires_in,
                              "refresh_token": self.options.refresh_token,
                              "resources": [{"type": "property", "id": self.options.property_id}]})

    # -- reads -------------------------------------------------------------------------------

    def hotel_details(self, request: Request) -> dict[str, Any]:
        self._check_property(request.param("propertyID"))
        return {"data": {"propertyID": self.options.property_id, "propertyName": self.options.property_name,
                         "propertyTimezone": "UTC", "propertyCurrency": {"currencyCode": "EUR"},
                         "propertyPrimaryLanguage": "en"}}

    def rooms(self, request: Request) -> dict[str, Any]:
        for wanted in (request.param("propertyIDs") or "").split(","):
            self._check_property(wanted or None)
        rooms = list(self.hotel.rooms.values())
        page = numbered_page(rooms, *paging(request, 20))
        return {"data": [{"propertyID": self.options.property_id, "rooms": [self._room(room) for room in page]}],
                "count": len(page), "total": len(rooms)}

    def _room(self, room: Room) -> dict[str, Any]:
        return {"roomID": room.id, "roomName": room.name, "roomDescription": f"Room {room.name}", "maxGuests": 2,
                "isPrivate": True, "isVirtual": False, "roomBlocked": False, **ROOM_TYPE}

    def reservations(self, request: Request) -> dict[str, Any]:
        self._check_property(request.param("propertyID"))
        status = request.param("status")
        if status is not None and status not in [*STATUSES.values(), "not_confirmed"]:
            raise Refused(f"status {status!r} is not one of {', '.join(STATUSES.values())}, not_confirmed")
        start = when(request.param("modifiedFrom"), "modifiedFrom")
        end = when(request.param("modifiedTo"), "modifiedTo")
        found = [r for r in self.hotel.ordered()
                 if (status is None or STATUSES[r.state] == status)
                 and (start is None or r.updated >= start) and (end is None or r.updated <= end)]
        if flag(request, "sortByRecent"):
            found.sort(key=lambda r: r.updated, reverse=True)
        page = numbered_page(found, *paging(request, 100))
        details = flag(request, "includeGuestsDetails")
        return {"data": [self._listed(r, details) for r in page], "count": len(page), "total": len(found)}

    def _listed(self, reservation: Reservation, details: bool) -> dict[str, Any]:
        guest = self.hotel.guest_of(reservation)
        listed = {
            "propertyID": self.options.property_id, "reservationID": reservation.id,
            "dateCreated": stamp(reservation.created), "dateModified": stamp(reservation.updated),
            "status": STATUSES[reservation.state], "guestID": guest.id, "guestName": guest.display_name,
            "startDate": reservation.arrival.isoformat(), "endDate": reservation.departure.isoformat(),
            "adults": "1", "children": "0", "balance": self._balance(reservation), "sourceName": "Walk-In",
            "subReservationID": f"{reservation.id}-1",
            "rooms": [self._stay_room(reservation) | {"guestID": guest.id, "guestName": guest.display_name,
                                                      "roomStatus": ROOM_STATUSES[reservation.state]}],
        }
        if details:
            listed["guestList"] = {guest.id: self._guest_entry(reservation, guest)}
        return listed

    def _stay_room(self, reservation: Reservation) -> dict[str, Any]:
        room = self.hotel.rooms[reservation.room] if reservation.room else None
        return {"subReservationID": f"{reservation.id}-1", "reservationRoomID": f"{reservation.id}-1",
                "roomTypeID": ROOM_TYPE["roomTypeID"], "roomTypeName": ROOM_TYPE["roomTypeName"],
                "roomTypeIsVirtual": False, "roomID": room.id if room else None,
                "roomName": room.name if room else None, "roomCheckIn": reservation.arrival.isoformat(),
                "roomCheckOut": reservation.departure.isoformat()}

    def _guest_entry(self, reservation: Reservation, guest: Guest) -> dict[str, Any]:
        room = self.hotel.rooms[reservation.room] if reservation.room else None
        return {"guestID": guest.id, "guestName": guest.display_name, "guestFirstName": guest.first_name or "",
                "guestLastName": guest.last_name, "guestStatus": GUEST_ENTRY_STATUSES[reservation.state],
                "roomID": room.id if room else None, "roomName": room.name if room else None,
                "assignedRoom": room is not None, "isMainGuest": True, "subReservationID": f"{reservation.id}-1",
                "startDate": reservation.arrival.isoformat(), "endDate": reservation.departure.isoformat()}

    def _balance(self, reservation: Reservation) -> float:
        return float(sum(p.amount for p in self.postings() if p.reservation_id == reservation.id))

    def reservation_details(self, request: Request) -> dict[str, Any]:
        reservation = self._find(request.param("reservationID"))
        guest = self.hotel.guest_of(reservation)
        stay = self._stay_room(reservation)
        assigned = [stay | {"roomTypeNameShort": ROOM_TYPE["roomTypeNameShort"], "startDate": stay["roomCheckIn"],
                            "endDate": stay["roomCheckOut"], "adults": "1", "children": "0"}]
        return {"data": {
            "propertyID": self.options.property_id, "reservationID": reservation.id, "guestName": guest.display_name,
            "isAnonymized": False, "dateCreated": stamp(reservation.created),
            "dateModified": stamp(reservation.updated), "status": STATUSES[reservation.state], "total": 0,
            "balance": self._balance(reservation), "guestList": {guest.id: self._guest_entry(reservation, guest)},
            "assigned": assigned if reservation.room else [],
            "unassigned": [] if reservation.room else [{key: stay[key] for key in (
                "subReservationID", "reservationRoomID", "roomTypeID", "roomTypeName", "roomTypeIsVirtual")}],
        }}

    def guests_by_status(self, request: Request) -> dict[str, Any]:
        self._check_property(request.param("propertyID"))
        status = request.param("status")
        if status not in GUEST_STATUSES:
            raise Refused(f"status must be one of {', '.join(GUEST_STATUSES)}")
        found = [r for r in self.hotel.ordered() if r.state in GUEST_STATUSES[status]]
        page = numbered_page(found, *paging(request, 20))
        rows = []
        for reservation in page:
            guest, room = self.hotel.guest_of(reservation), self._stay_room(reservation)
            status_date = (reservation.checked_out or reservation.checked_in or reservation.canceled
                           or reservation.created)
            rows.append({"guestID": guest.id, "reservationID": reservation.id,
                         "subReservationID": room["subReservationID"], "roomTypeID": room["roomTypeID"],
                         "roomID": room["roomID"], "roomName": room["roomName"],
                         "guestFirstName": guest.first_name or "",
                         "guestLastName": guest.last_name, "startDate": reservation.arrival.isoformat(),
                         "endDate": reservation.departure.isoformat(), "dateModified": stamp(guest.updated),
                         "currentStatus": status, "statusDate": stamp(status_date)})
        return {"data": rows, "count": len(rows), "total": len(found)}

    def guest(self, request: Request) -> dict[str, Any]:
        guest_id, reservation_id = request.param("guestID"), request.param("reservationID")
        if guest_id is not None:
            guest = self.hotel.guests.get(guest_id)
            if guest is None:
                raise Refused(f"Guest {guest_id} not found")
        else:
            guest = self.hotel.guest_of(self._find(reservation_id))
        return {"data": {"guestID": guest.id, "firstName": guest.first_name or "", "lastName": guest.last_name,
                         "isMerged": False, "newGuestID": None}}

    def _find(self, reservation_id: str | None) -> Reservation:
        reservation = self.hotel.reservations.get(reservation_id or "")
        if reservation is None:
            raise Refused(f"Reservation {reservation_id} not found" if reservation_id else "reservationID is required")
        return reservation

    def _check_property(self, property_id: str | None) -> None:
        if property_id is not None and property_id != self.options.property_id:
            raise Refused(f"You don't have access to property ID {property_id}")

    # -- charges -----------------------------------------------------------------------------

    def custom_item(self, request: Request) -> dict[str, Any]:
        form = request.form()
        field = {name: values[-1] for name, values in form.items()}
        self._check_property(field.get("propertyID") or None)
        reservation = self._find(field.get("reservationID"))
        reference = field.get("referenceID") or None
        if reference is not None and reference in self._references:
            notice = f"referenceID {reference} was sent before: nothing was created or updated"
            return {"data": self._references[reference]["data"] | {"notice": notice}}
        total, names = Decimal(0), []
        for item in items(form):
            total += item_total(item)
            names.append(item["itemName"])
        refusal = self.posting_refusal(reservation)
        if refusal is not None:
            raise Refused(refusal[0].upper() + refusal[1:])
        posting = self.record_posting(reservation, total, "EUR", ", ".join(names), reference)
        answer = {"data": {"soldProductID": posting.id, "transactionID": f"T{posting.id}"}}
        if reference is not None:
            self._references[reference] = answer
        return answer


METHODS: dict[str, tuple[str, Callable[[CloudbedsSimulator, Request], dict[str, Any]]]] = {
    "getHotelDetails": ("GET", CloudbedsSimulator.hotel_details),
    "getRooms": ("GET", CloudbedsSimulator.rooms),
    "getReservations": ("GET", CloudbedsSimulator.reservations),
    "getReservation": ("GET", CloudbedsSimulator.reservation_details),
    "getGuestsByStatus": ("GET", CloudbedsSimulator.guests_by_status),
    "getGuest": ("GET", CloudbedsSimulator.guest),
    "postCustomItem": ("POST", CloudbedsSimulator.custom_item),
}


def flag(request: Request, name: str) -> bool:
    return (request.param(name) or "").lower() in ("true", "1")


def paging(request: Request, default_size: int) -> tuple[int, int]:
    """``pageNumber`` (default 1) and ``pageSize`` (default ``default_size``, at most 100)."""
    try:
        number = int(request.param("pageNumber") or 1)
        size = int(request.param("pageSize") or default_size)
    except ValueError:
        raise Refused("pageNumber and pageSize must be whole numbers") from None
    if number < 1 or not 1 <= size <= 100:
        raise Refused("pageNumber must be 1 or more and pageSize from 1 to 100")
    return number, size


def when(text: str | None, name: str) -> dt.datetime | None:
    """``YYYY-MM-DD HH:MM:SS`` (or a date: its midnight), in UTC."""
    if text is None:
        return None
    for pattern in (DATETIME, "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, pattern).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    raise Refused(f"{name} must look like 2026-12-03 10:00:00, not {text!r}")


def items(form: dict[str, list[str]]) -> list[dict[str, str]]:
    """The posted items: ``items[N][field]`` form fields, or ``items`` as a JSON list."""
    if "items" in form:
        try:
            listed = json.loads(form["items"][-1])
        except json.JSONDecodeError:
            raise Refused("items must be a JSON list of items") from None
        if not isinstance(listed, list) or not all(isinstance(item, dict) for item in listed):
            raise Refused("items must be a JSON list of items")
        found = [{key: str(value) for key, value in item.items()} for item in listed]
    else:
        indexed: dict[int, dict[str, str]] = {}
        for name, values in form.items():
            match = ITEM_FIELD.fullmatch(name)
            if match:
                indexed.setdefault(int(match["index"]), {})[match["field"]] = values[-1]
        found = [indexed[index] for index in sorted(indexed)]
    if not found:
        raise Refused("items must hold at least one item")
    return found


def item_total(item: dict[str, str]) -> Decimal:
    if not item.get("itemName", "").strip():
        raise Refused("every item needs an itemName")
    try:
        price, quantity = Decimal(item.get("itemPrice", "")), int(item.get("itemQuantity", "1"))
    except (InvalidOperation, ValueError):
        raise Refused("itemPrice must be a number and itemQuantity a whole number") from None
    if not price.is_finite() or quantity < 1:
        raise Refused("itemPrice must be a number and itemQuantity 1 or more")
    return price * quantity
