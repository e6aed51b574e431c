"""An Apaleo simulator: the identity token endpoint and the Booking, Inventory and Finance API calls
an integration reading stays and posting charges uses. One base URL serves them all
(Apaleo has ``identity.apaleo.com`` and ``api.apaleo.com``).

- ``POST /connect/token``: OAuth2 client credentials (``grant_type=client_credentials``,
  form-encoded, client id and secret as HTTP Basic or form fields) -> ``{"access_token",
  "expires_in", "token_type": "Bearer", "scope"}``; tokens expire after
  ``token_lifetime`` seconds. A bad client is 400 ``{"error": "invalid_client"}``.
- Every other call wants ``Authorization: Bearer <token>``: none, unknown or expired is 401
  with ``WWW-Authenticate: Bearer error="invalid_token"``. Errors carry ``{"messages": [...]}``
  (400 bad parameter, 404 unknown id, 422 refused); 429 carries ``Retry-After`` (the rate
  limit counts per client id).
- ``GET /booking/v1/reservations``: ``propertyIds``, ``status`` (``Confirmed``, ``InHouse``,
  ``CheckedOut``, ``Canceled``, ``NoShow``; comma-separated or repeated), ``unitIds``,
  ``dateFilter`` (``Modification``, ``Creation``, ``Arrival``, ``Departure``, ``Stay``) with
  ``from`` (inclusive) and ``to`` (exclusive), ``expand`` (``assignedUnits``), ``sort``
  (``created|updated|arrival|departure|id`` with ``:asc``/``:desc``), ``pageNumber``
  (1-based) and ``pageSize`` (none: every item) -> ``{"reservations": [...], "count": <all
  matching>}``, or 204 for an empty page.
- ``GET /booking/v1/reservations/{id}``: one reservation.
- ``GET /inventory/v1/properties/{id}``, ``GET /inventory/v1/units`` (``propertyId``,
  ``pageNumber``, ``pageSize``) -> ``{"units": [...], "count"}``, ``GET /inventory/v1/units/{id}``.
- ``GET /finance/v1/folios?reservationIds=...`` -> ``{"folios": [...], "count"}`` (each
  reservation has one guest folio, ``<reservation id>-1``).
- ``POST /finance/v1/folio-actions/{folioId}/charges`` with ``{"serviceType", "name",
  "amount": {"amount", "currency"}, "quantity", "receipt"}`` -> 201 ``{"id"}``. An
  ``Idempotency-Key`` header makes a repeat answer the first charge again (nothing new is
  posted); the same key with another body is 422.

Guests are embedded in the reservation (``primaryGuest`` with ``firstName``, ``lastName``,
``preferredLanguage``), so a name or language change moves the reservation's ``modified``;
Apaleo has no VIP field. Webhooks: ``{"topic": "Reservation", "type": "checked-in", "id",
"accountId", "propertyId", "timestamp" (epoch ms), "clientId", "subjectId", "data":
{"entityId": <reservation id>}}`` with types ``created``, ``checked-in``, ``unit-assigned``
(a move), ``changed`` (guest data), ``checked-out``, ``canceled`` and ``set-to-no-show``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import random
import re
import string
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pmsbridge.sim.cloud.hotel import (CANCELED, CHECKED_OUT, CONFIRMED, IN_HOUSE, NO_SHOW, Change, Reservation,
                                       Room)
from pmsbridge.sim.cloud.options import CloudSimOptions
from pmsbridge.sim.cloud.paging import numbered_page
from pmsbridge.sim.cloud.server import Request, Response
from pmsbridge.sim.cloud.simulator import CloudPmsSimulator
from pmsbridge.sim.cloud.tokens import EXPIRED, VALID, TokenIssuer

STATUSES = {CONFIRMED: "Confirmed", IN_HOUSE: "InHouse", CHECKED_OUT: "CheckedOut", CANCELED: "Canceled",
            NO_SHOW: "NoShow"}
WEBHOOK_TYPES = {"created": "created", "checked_in": "checked-in", "moved": "unit-assigned",
                 "guest_changed": "changed", "checked_out": "checked-out", CANCELED: "canceled",
                 NO_SHOW: "set-to-no-show"}
SORT_KEYS = {"created": lambda r: r.created, "updated": lambda r: r.updated, "arrival": lambda r: r.arrival,
             "departure": lambda r: r.departure, "id": lambda r: r.sequence}
SCOPES = "reservations.read setup.read folios.read folios.manage"
UNIT_GROUP = "DBL"
MAX_PAGE_SIZE = 1000
RESERVATION_PATH = re.compile(r"/booking/v1/reservations/(?P<id>[^/]+)")
UNIT_PATH = re.compile(r"/inventory/v1/units/(?P<id>[^/]+)")
PROPERTY_PATH = re.compile(r"/inventory/v1/properties/(?P<id>[^/]+)")
CHARGES_PATH = re.compile(r"/finance/v1/folio-actions/(?P<id>[^/]+)/charges")


@dataclass(frozen=True, kw_only=True)
class ApaleoOptions(CloudSimOptions):
    """An Apaleo account with one property, and the client credentials of an integration."""

    client_id: str = "SIM-AC-pmsbridge"
    client_secret: str = "sim-apaleo-secret"
    account_code: str = "SIM"
    property_id: str = "SIM"
    property_name: str = "Hotel Simulator (Apaleo)"


class ApaleoError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def messages(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, {"messages": [text]}, dict(headers or {}))


def timestamp(moment: dt.datetime | None) -> str | None:
    """Apaleo's datetime format: ISO 8601 with the offset, to the second."""
    return None if moment is None else moment.astimezone(dt.UTC).isoformat(timespec="seconds")


class ApaleoSimulator(CloudPmsSimulator):
    """See the module docstring."""

    name = "apaleo"
    title = "Apaleo"
    touch_reservation_on_guest_change = True
    options: ApaleoOptions

    def __init__(self, options: ApaleoOptions | None = None) -> None:
        options = options or ApaleoOptions()
        self._ids = random.Random(options.seed)
        self._numbers = iter(range(1, 10**9))
        self.tokens = TokenIssuer(lambda: self.options.token_lifetime)
        # Idempotency-Key -> (request body, the answer given).
        self._idempotent: dict[str, tuple[Any, Response]] = {}
        super().__init__(options)

    # -- identifiers, credentials ----------------------------------------------------------

    def new_id(self, kind: str) -> str:
        if kind == "reservation":
            return "".join(self._ids.choices(string.ascii_uppercase, k=8)) + "-1"
        if kind == "posting":
            return f"C{next(self._numbers)}"
        return str(next(self._numbers)) if kind == "number" else str(uuid.UUID(int=self._ids.getrandbits(128)))

    def room_id(self, name: str) -> str:
        return f"{self.options.property_id}-{name}"

    def credentials(self) -> dict[str, Any]:
        url = self.url if self._port is not None else None
        return {"api_url": url, "identity_url": url, "client_id": self.options.client_id,
                "client_secret": self.options.client_secret, "property_id": self.options.property_id}

    def expire_tokens(self) -> dict[str, Any]:
        return {"expired": self.tokens.expire_all()}

    # -- webhooks ----------------------------------------------------------------------------

    def webhook_bodies(self, change: Change) -> list[dict[str, Any]]:
        return [{"topic": "Reservation", "type": WEBHOOK_TYPES[change.kind], "id": str(uuid.uuid4()),
                 "accountId": self.options.account_code, "propertyId": self.options.property_id,
                 "timestamp": int(self.now().timestamp() * 1000), "clientId": "frontdesk", "subjectId": "sim-user",
                 "data": {"entityId": change.reservation_id}}]

    # -- the API -----------------------------------------------------------------------------

    def too_many_requests(self, retry_after: int) -> Response:
        return messages(429, "Too many requests.", {"Retry-After": str(retry_after)})

    def api(self, request: Request) -> Response:
        if request.path == "/connect/token":
            return self.token(request)
        refusal = self._unauthorized(request)
        if refusal is not None:
            return refusal
        limited = self.throttled(self.options.client_id)
        if limited is not None:
            return limited
        try:
            with self.lock:
                return self._route(request)
        except ApaleoError as err:
            return messages(err.status, err.message)
        except ValueError as err:
            return messages(400, str(err))

    def token(self, request: Request) -> Response:
        if request.method != "POST":
            return messages(405, "The token endpoint takes POST requests.")
        form = {name: values[-1] for name, values in request.form().items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            try:
                client_id, _, client_secret = base64.b64decode(basic[6:], validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return Response(400, {"error": "invalid_client"})
        if form.get("grant_type") != "client_credentials":
            return Response(400, {"error": "unsupported_grant_type"})
        if (client_id, client_secret) != (self.options.client_id, self.options.client_secret):
            return Response(400, {"error": "invalid_client"})
        access_token, expires_in = self.tokens.issue()
        return Response(200, {"access_token": access_token, "expires_in": expires_in, "token_type": "Bearer",
                              "scope": SCOPES}, {"Cache-Control": "no-store"})

    def _unauthorized(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization", "")
        state = self.tokens.check(header[7:] if header.startswith("Bearer ") else None)
        if state == VALID:
            return None
        challenge = 'Bearer error="invalid_token"'
        if state == EXPIRED:
            challenge += ', error_description="The token expired"'
        return Response(401, None, {"WWW-Authenticate": challenge})

    def _route(self, request: Request) -> Response:
        path, method = request.path, request.method
        if method == "GET" and path == "/booking/v1/reservations":
            return self.reservations(request)
        if method == "GET" and (match := RESERVATION_PATH.fullmatch(path)):
            return Response(200, self._reservation(self._find(match["id"]), expand(request)))
        if method == "GET" and path == "/inventory/v1/units":
            return self.units(request)
        if method == "GET" and (match := UNIT_PATH.fullmatch(path)):
            room = self.hotel.room_by_id(match["id"])
            if room is None:
                raise ApaleoError(404, f"The unit {match['id']} does not exist.")
            return Response(200, self._unit(room))
        if method == "GET" and (match := PROPERTY_PATH.fullmatch(path)):
            if match["id"] != self.options.property_id:
                raise ApaleoError(404, f"The property {match['id']} does not exist.")
            return Response(200, self._property() | {"timeZone": "Etc/UTC", "currencyCode": "EUR",
                                                     "status": "Live", "isArchived": False})
        if method == "GET" and path == "/finance/v1/folios":
            return self.folios(request)
        if method == "POST" and (match := CHARGES_PATH.fullmatch(path)):
            return self.charge(request, match["id"])
        raise ApaleoError(404, f"There is no {method} {path}.")

    # -- booking -----------------------------------------------------------------------------

    def _find(self, reservation_id: str) -> Reservation:
        reservation = self.hotel.reservations.get(reservation_id)
        if reservation is None:
            raise ApaleoError(404, f"The reservation {reservation_id} does not exist.")
        return reservation

    def reservations(self, request: Request) -> Response:
        page_number, page_size = paging(request)
        found = [r for r in self.hotel.ordered() if self._matches(r, request)]
        field, _, direction = (request.param("sort") or "id:asc").partition(":")
        if field not in SORT_KEYS or direction not in ("", "asc", "desc"):
            raise ApaleoError(400, f"sort must be one of {', '.join(SORT_KEYS)} with :asc or :desc.")
        found.sort(key=SORT_KEYS[field], reverse=direction == "desc")
        page = numbered_page(found, page_number, page_size)
        if not page:
            return Response(204)
        return Response(200, {"reservations": [self._reservation(r, expand(request)) for r in page],
                              "count": len(found)})

    def _matches(self, reservation: Reservation, request: Request) -> bool:
        properties = values(request, "propertyIds")
        if properties and self.options.property_id not in properties:
            return False
        statuses = values(request, "status")
        unknown = set(statuses) - set(STATUSES.values())
        if unknown:
            raise ApaleoError(400, f"status {sorted(unknown)[0]!r} is not one of {', '.join(STATUSES.values())}.")
        if statuses and STATUSES[reservation.state] not in statuses:
            return False
        units = values(request, "unitIds")
        if units and (reservation.room is None or self.hotel.rooms[reservation.room].id not in units):
            return False
        return self._in_date_filter(reservation, request)

    def _in_date_filter(self, reservation: Reservation, request: Request) -> bool:
        date_filter = request.param("dateFilter")
        start, end = moment(request.param("from"), "from"), moment(request.param("to"), "to")
        if date_filter is None:
            if start or end:
                raise ApaleoError(400, "from and to need a dateFilter.")
            return True
        if date_filter == "Stay":
            arrival, departure = stay_start(reservation), stay_end(reservation)
            return (end is None or arrival < end) and (start is None or departure > start)
        moments = {"Modification": reservation.updated, "Creation": reservation.created,
                   "Arrival": stay_start(reservation), "Departure": stay_end(reservation)}
        if date_filter not in moments:
            raise ApaleoError(400, f"dateFilter must be one of {', '.join([*moments, 'Stay'])}.")
        value = moments[date_filter]
        return (start is None or value >= start) and (end is None or value < end)

    def _property(self) -> dict[str, Any]:
        return {"id": self.options.property_id, "code": self.options.property_id, "name": self.options.property_name,
                "description": self.options.property_name}

    def _embedded_unit(self, room: Room) -> dict[str, Any]:
        return {"id": room.id, "name": room.name, "description": f"Room {room.name}",
                "unitGroupId": f"{self.options.property_id}-{UNIT_GROUP}"}

    def _reservation(self, reservation: Reservation, expanded: set[str]) -> dict[str, Any]:
        guest = self.hotel.guest_of(reservation)
        money = {"amount": 0, "currency": "EUR"}
        primary = {"lastName": guest.last_name, "preferredLanguage": guest.language}
        if guest.first_name:
            primary["firstName"] = guest.first_name
        model: dict[str, Any] = {
            "id": reservation.id, "bookingId": reservation.id.rsplit("-", 1)[0],
            "status": STATUSES[reservation.state], "checkInTime": timestamp(reservation.checked_in),
            "checkOutTime": timestamp(reservation.checked_out),
            "cancellationTime": timestamp(reservation.canceled) if reservation.state == CANCELED else None,
            "noShowTime": timestamp(reservation.canceled) if reservation.state == NO_SHOW else None,
            "property": self._property(),
            "ratePlan": {"id": f"{self.options.property_id}-FLEX-{UNIT_GROUP}", "code": "FLEX", "name": "Flexible",
                         "isSubjectToCityTax": False},
            "unitGroup": {"id": f"{self.options.property_id}-{UNIT_GROUP}", "code": UNIT_GROUP, "name": "Double",
                          "type": "BedRoom"},
            "totalGrossAmount": money, "arrival": timestamp(stay_start(reservation)),
            "departure": timestamp(stay_end(reservation)), "created": timestamp(reservation.created),
            "modified": timestamp(reservation.updated), "adults": 1, "channelCode": "Direct",
            "primaryGuest": primary, "guaranteeType": "PM6Hold", "balance": money, "hasCityTax": False,
            "isOpenForCharges": self.posting_refusal(reservation) is None,
        }
        model = {key: value for key, value in model.items() if value is not None}
        if reservation.room is not None:
            model["unit"] = self._embedded_unit(self.hotel.rooms[reservation.room])
        if "assignedUnits" in expanded:
            model["assignedUnits"] = self._assigned_units(reservation)
        return model

    def _assigned_units(self, reservation: Reservation) -> list[dict[str, Any]]:
        history = reservation.room_history
        ranges = []
        for index, (room, since) in enumerate(history):
            until = history[index + 1][1] if index + 1 < len(history) else stay_end(reservation)
            start = max(since, stay_start(reservation)) if index == 0 else since
            ranges.append({"unit": self._embedded_unit(self.hotel.rooms[room]),
                           "timeRanges": [{"from": timestamp(start), "to": timestamp(until)}]})
        return ranges

    # -- inventory ---------------------------------------------------------------------------

    def _unit(self, room: Room) -> dict[str, Any]:
        occupied = self.hotel.occupant(room.name) is not None
        return {"id": room.id, "name": room.name, "description": f"Room {room.name}", "property": self._property(),
                "unitGroup": {"id": f"{self.options.property_id}-{UNIT_GROUP}", "code": UNIT_GROUP,
                              "name": "Double", "type": "BedRoom"},
                "status": {"isOccupied": occupied, "condition": "Clean"}, "maxPersons": 2}

    def units(self, request: Request) -> Response:
        page_number, page_size = paging(request)
        wanted = request.param("propertyId")
        rooms = [] if wanted not in (None, self.options.property_id) else list(self.hotel.rooms.values())
        page = numbered_page(rooms, page_number, page_size)
        if not page:
            return Response(204)
        return Response(200, {"units": [self._unit(room) for room in page], "count": len(rooms)})

    # -- finance -----------------------------------------------------------------------------

    def _folio(self, reservation: Reservation) -> dict[str, Any]:
        guest = self.hotel.guest_of(reservation)
        return {"id": f"{reservation.id}-1", "type": "Guest", "isMainFolio": True,
                "status": "Open" if self.posting_refusal(reservation) is None else "Closed",
                "reservation": {"id": reservation.id, "bookingId": reservation.id.rsplit("-", 1)[0]},
                "property": self._property(),
                "debitor": {"type": "Guest", "name": guest.last_name, "firstName": guest.first_name},
                "balance": {"amount": -float(sum(p.amount for p in self.postings()
                                                 if p.reservation_id == reservation.id)), "currency": "EUR"}}

    def folios(self, request: Request) -> Response:
        wanted = values(request, "reservationIds")
        found = [r for r in self.hotel.ordered() if not wanted or r.id in wanted]
        page_number, page_size = paging(request)
        page = numbered_page(found, page_number, page_size)
        if not page:
            return Response(204)
        return Response(200, {"folios": [self._folio(r) for r in page], "count": len(found)})

    def charge(self, request: Request, folio_id: str) -> Response:
        reservation = self.hotel.reservations.get(folio_id.removesuffix("-1")) if folio_id.endswith("-1") else None
        if reservation is None:
            raise ApaleoError(404, f"The folio {folio_id} does not exist.")
        try:
            body = request.json()
        except ValueError as err:
            raise ApaleoError(400, str(err)) from None
        key = request.headers.get("Idempotency-Key")
        if key is not None and key in self._idempotent:
            first_body, answer = self._idempotent[key]
            if first_body != body:
                raise ApaleoError(422, "The Idempotency-Key was already used for another request.")
            return answer
        amount, currency, name = charge_amount(body)
        refusal = self.posting_refusal(reservation)
        if refusal is not None:
            raise ApaleoError(422, refusal[0].upper() + refusal[1:] + ".")
        posting = self.record_posting(reservation, amount, currency, name, key)
        answer = Response(201, {"id": f"{folio_id}-{posting.id}"},
                          {"Location": f"/finance/v1/folios/{folio_id}"})
        if key is not None:
            self._idempotent[key] = (body, answer)
        return answer


def stay_start(reservation: Reservation) -> dt.datetime:
    return dt.datetime.combine(reservation.arrival, dt.time(14), dt.UTC)


def stay_end(reservation: Reservation) -> dt.datetime:
    return dt.datetime.combine(reservation.departure, dt.time(11), dt.UTC)


def values(request: Request, name: str) -> list[str]:
    """A list parameter, comma-separated or repeated."""
    return [part for value in request.query.get(name, []) for part in value.split(",") if part]


def expand(request: Request) -> set[str]:
    return set(values(request, "expand"))


def paging(request: Request) -> tuple[int, int | None]:
    """``pageNumber`` (default 1) and ``pageSize`` (default: everything)."""
    number, size = request.param("pageNumber"), request.param("pageSize")
    try:
        page_number = int(number) if number is not None else 1
        page_size = int(size) if size is not None else None
    except ValueError:
        raise ApaleoError(400, "pageNumber and pageSize must be whole numbers.") from None
    if page_number < 1 or (page_size is not None and not 1 <= page_size <= MAX_PAGE_SIZE):
        raise ApaleoError(400, f"pageNumber must be 1 or more and pageSize from 1 to {MAX_PAGE_SIZE}.")
    if page_size is None and number is not None:
        raise ApaleoError(400, "pageNumber needs a pageSize.")
    return page_number, page_size


def moment(text: str | None, name: str) -> dt.datetime | None:
    """``from``/``to``: an ISO 8601 date and time (with offset; UTC without) or a date (its midnight UTC)."""
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApaleoError(400, f"{name} must be an ISO 8601 date and time, not {text!r}.") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def charge_amount(body: Any) -> tuple[Decimal, str, str]:
    """The charge's total (amount times quantity), currency and name; ApaleoError when malformed."""
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"].strip():
        raise ApaleoError(400, "A charge needs a name.")
    money, quantity = body.get("amount"), body.get("quantity", 1)
    if not isinstance(money, dict) or not isinstance(money.get("currency"), str):
        raise ApaleoError(400, "A charge needs an amount with amount and currency.")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ApaleoError(400, "quantity must be a whole number, 1 or more.")
    if body.get("serviceType") not in ("Other", "Accommodation", "FoodAndBeverages", "NoShow", "CityTax"):
        raise ApaleoError(400, "serviceType must be Other, Accommodation, FoodAndBeverages, NoShow or CityTax.")
    try:
        amount = Decimal(json.dumps(money.get("amount")))
    except InvalidOperation:
        raise ApaleoError(400, "amount.amount must be a number.") from None
    if isinstance(money.get("amount"), bool) or not amount.is_finite():
        raise ApaleoError(400, "amount.amount must be a number.")
    return amount * quantity, money["currency"], body["name"]
