"""A Mews Connector API simulator: the operations an integration reading stays and posting charges uses.

Every operation is ``POST {url}/api/connector/v1/{resource}/{action}`` with a JSON body
holding ``ClientToken``, ``AccessToken`` and ``Client``; answers carry a ``Request-Id``
header, errors are ``{"Message": ..., "RequestId": ...}`` with 400 (bad request), 401 (bad
tokens), 403 (business rule, e.g. a refused charge), 404 (unknown operation) or 429 (with
``Retry-After``; by default after 200 requests per AccessToken in 30 s, as Mews limits).

- ``configuration/get``: ``{"NowUtc", "Enterprise": {"Id", "Name", "TimeZoneIdentifier", ...}}``
- ``services/getAll``: the stay service (reservations) and the ``Telephone`` additional
  service that takes orders
- ``reservations/getAll/2023-06-06``: filters ``ReservationIds``, ``AccountIds``,
  ``Numbers``, ``AssignedResourceIds``, ``States``, and the intervals ``UpdatedUtc``,
  ``CreatedUtc``, ``CollidingUtc``, ``ScheduledStartUtc``, ``ScheduledEndUtc``,
  ``ActualStartUtc``, ``ActualEndUtc`` (``{"StartUtc", "EndUtc"}``, inclusive, at most
  3 months); ``Limitation {"Count": 1..1000, "Cursor"}`` required
- ``customers/getAll``: ``CustomerIds``, ``UpdatedUtc``, ``CreatedUtc``, ``LastNames``;
  ``Extent {"Customers": true}`` and ``Limitation`` required; at least one filter
- ``resources/getAll``: ``ResourceIds``, ``Names``, ``UpdatedUtc``; ``Extent`` and
  ``Limitation`` required
- ``orders/add``: ``ServiceId`` (the Telephone service), ``AccountId`` (the customer),
  ``LinkedReservationId`` (optional; else the customer's stay in house), ``Items`` with
  ``Name``, ``UnitCount``, ``UnitAmount {"Currency", "GrossValue"|"NetValue"}`` and
  ``ExternalIdentifier``; answers ``{"OrderId"}``. Mews documents no idempotency: a repeated
  order is a second charge (the ``ExternalIdentifier`` is kept on the posting as ``key``).

Paging follows Mews' cursor: newest items first, ``Cursor`` in the answer is the id of the
last (oldest) item returned, ``null`` when none was; a request with that ``Cursor`` gets the
next older items. A customer's name, language or VIP change moves the customer's
``UpdatedUtc``, not the reservation's. Webhooks are General Webhooks:
``{"EnterpriseId", "IntegrationId", "Events": [{"Discriminator": "ServiceOrderUpdated",
"Value": {"Id": <reservation>}}, ...]}``, with ``CustomerAdded`` + ``CustomerUpdated`` for a
new customer and ``CustomerUpdated`` for a changed one. AccessTokens do not expire at Mews;
``expire_tokens`` replaces the AccessToken (as regenerating it in Mews does), so the old
one gets 401.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pmsbridge.sim.cloud.hotel import CANCELED, CHECKED_OUT, CONFIRMED, IN_HOUSE, NO_SHOW, Change, Guest, Reservation
from pmsbridge.sim.cloud.options import CloudSimOptions
from pmsbridge.sim.cloud.paging import newest_first_page
from pmsbridge.sim.cloud.server import Request, Response
from pmsbridge.sim.cloud.simulator import CloudPmsSimulator

PREFIX = "/api/connector/v1/"
STATES = {CONFIRMED: "Confirmed", IN_HOUSE: "Started", CHECKED_OUT: "Processed", CANCELED: "Canceled",
          NO_SHOW: "Canceled"}
KNOWN_STATES = ("Inquired", "Confirmed", "Started", "Processed", "Canceled", "Optional", "Requested")
LANGUAGE_CODES = {"en": "en-US", "de": "de-DE", "fr": "fr-FR", "it": "it-IT", "es": "es-ES", "nl": "nl-NL",
                  "pl": "pl-PL", "ja": "ja-JP"}
MAX_INTERVAL = dt.timedelta(days=92)
RESERVATION_INTERVALS = {
    "UpdatedUtc": lambda r: [r.updated],
    "CreatedUtc": lambda r: [r.created],
    "ScheduledStartUtc": lambda r: [start_utc(r)],
    "ScheduledEndUtc": lambda r: [end_utc(r)],
    "ActualStartUtc": lambda r: [r.checked_in] if r.checked_in else [],
    "ActualEndUtc": lambda r: [r.checked_out] if r.checked_out else [],
}


@dataclass(frozen=True, kw_only=True)
class MewsOptions(CloudSimOptions):
    """A Mews enterprise: the integration's tokens, its ids, Mews' request limit."""

    client_token: str = "SimClientToken-mews"
    access_token: str = "SimAccessToken-mews"
    enterprise_id: str = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    integration_id: str = "c8bee838-7fb1-4f4e-8fac-ac87008b2f90"
    enterprise_name: str = "Hotel Simulator (Mews)"
    rate_limit: int | None = 200
    rate_window: float = 30.0


class MewsError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def utc(moment: dt.datetime | None) -> str | None:
    """Mews' datetime format: ISO 8601 UTC to the second."""
    return None if moment is None else moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def start_utc(reservation: Reservation) -> dt.datetime:
    return dt.datetime.combine(reservation.arrival, dt.time(14), dt.UTC)


def end_utc(reservation: Reservation) -> dt.datetime:
    return dt.datetime.combine(reservation.departure, dt.time(10), dt.UTC)


class MewsSimulator(CloudPmsSimulator):
    """See the module docstring."""

    name = "mews"
    title = "Mews"
    touch_reservation_on_guest_change = False
    options: MewsOptions

    def __init__(self, options: MewsOptions | None = None) -> None:
        options = options or MewsOptions()
        self._ids = random.Random(options.seed)
        self._numbers = iter(range(1001, 10**9))
        self.access_token = options.access_token
        self.stay_service_id = str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
        self.order_service_id = str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
        super().__init__(options)

    # -- identifiers, credentials ----------------------------------------------------------

    def new_id(self, kind: str) -> str:
        if kind == "number":
            return str(next(self._numbers))
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def room_id(self, name: str) -> str:
        return str(uuid.uuid5(uuid.UUID(self.options.enterprise_id), f"resource {name}"))

    def credentials(self) -> dict[str, Any]:
        return {"platform_url": self.url if self._port is not None else None,
                "client_token": self.options.client_token, "access_token": self.access_token,
                "enterprise_id": self.options.enterprise_id, "service_id": self.order_service_id}

    def expire_tokens(self) -> dict[str, Any]:
        with self.lock:
            self.access_token = "SimAccessToken-" + secrets.token_hex(8)
            return {"access_token": self.access_token}

    # -- webhooks ----------------------------------------------------------------------------

    def webhook_bodies(self, change: Change) -> list[dict[str, Any]]:
        if change.kind == "guest_changed":
            events = [event("CustomerUpdated", change.guest_id)]
        else:
            events = [event("ServiceOrderUpdated", change.reservation_id)]
            if change.new_guest:
                events += [event("CustomerAdded", change.guest_id), event("CustomerUpdated", change.guest_id)]
        return [{"EnterpriseId": self.options.enterprise_id, "IntegrationId": self.options.integration_id,
                 "Events": events}]

    # -- the API -----------------------------------------------------------------------------

    def too_many_requests(self, retry_after: int) -> Response:
        return error(429, "Too many requests: wait as Retry-After says.", {"Retry-After": str(retry_after)})

    def api(self, request: Request) -> Response:
        if not request.path.startswith(PREFIX) or request.path.endswith("/"):
            return error(404, f"There is no operation {request.path}.")
        operation = request.path.removeprefix(PREFIX)
        handler = OPERATIONS.get(operation)
        if handler is None:
            return error(404, f"There is no operation {request.path}.")
        if request.method != "POST":
            return error(404, f"{operation} takes POST requests.")
        try:
            body = request.json()
            if not isinstance(body, dict):
                raise MewsError(400, "The body must be a JSON object.")
            if body.get("ClientToken") != self.options.client_token or body.get("AccessToken") != self.access_token:
                raise MewsError(401, "Invalid ClientToken or AccessToken.")
            if not isinstance(body.get("Client"), str) or not body["Client"].strip():
                raise MewsError(400, "Client (the name and version of the application) is required.")
            limited = self.throttled(self.access_token)
            if limited is not None:
                return limited
            with self.lock:
                return with_request_id(Response(200, handler(self, body)))
        except MewsError as err:
            return error(err.status, err.message)
        except ValueError as err:
            return error(400, str(err))

    # -- operations --------------------------------------------------------------------------

    def configuration(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"NowUtc": utc(self.now()),
                "Enterprise": {"Id": self.options.enterprise_id, "Name": self.options.enterprise_name,
                               "TimeZoneIdentifier": "Etc/UTC", "DefaultLanguageCode": "en-US",
                               "Currencies": [{"Currency": "EUR", "IsDefault": True, "IsEnabled": True}]}}

    def services(self, body: dict[str, Any]) -> dict[str, Any]:
        services = [
            {"Id": self.stay_service_id, "EnterpriseId": self.options.enterprise_id, "IsActive": True,
             "Name": "Accommodation", "Data": {"Discriminator": "Bookable", "Value": {}}},
            {"Id": self.order_service_id, "EnterpriseId": self.options.enterprise_id, "IsActive": True,
             "Name": "Telephone", "Data": {"Discriminator": "Additional", "Value": {}}},
        ]
        return {"Services": services, "Cursor": None}

    def reservations(self, body: dict[str, Any]) -> dict[str, Any]:
        count, cursor = limitation(body)
        everything = self.hotel.ordered()
        wanted = [r for r in everything if self._reservation_matches(r, body)]
        page, next_cursor = newest_first_page(everything, wanted, lambda r: r.id, cursor, count)
        return {"Reservations": [self._reservation(r) for r in page], "Cursor": next_cursor}

    def _reservation_matches(self, reservation: Reservation, body: dict[str, Any]) -> bool:
        room = self.hotel.rooms[reservation.room].id if reservation.room else None
        for key, value in (("ReservationIds", reservation.id), ("AccountIds", reservation.guest_id),
                           ("Numbers", reservation.number), ("AssignedResourceIds", room),
                           ("ServiceIds", self.stay_service_id), ("EnterpriseIds", self.options.enterprise_id)):
            if body.get(key) is not None and value not in id_list(body, key):
                return False
        if body.get("States") is not None:
            states = id_list(body, "States")
            unknown = set(states) - set(KNOWN_STATES)
            if unknown:
                raise MewsError(400, f"Unknown state {sorted(unknown)[0]!r} in States.")
            if STATES[reservation.state] not in states:
                return False
        for key, moments in RESERVATION_INTERVALS.items():
            window = interval(body, key)
            if window is not None and not any(window[0] <= moment <= window[1] for moment in moments(reservation)):
                return False
        colliding = interval(body, "CollidingUtc")
        return colliding is None or (start_utc(reservation) <= colliding[1] and end_utc(reservation) >= colliding[0])

    def _reservation(self, reservation: Reservation) -> dict[str, Any]:
        room = self.hotel.rooms[reservation.room].id if reservation.room else None
        in_house_or_after = reservation.state in (IN_HOUSE, CHECKED_OUT)
        return {
            "Id": reservation.id, "ServiceId": self.stay_service_id, "AccountId": reservation.guest_id,
            "AccountType": "Customer", "Number": reservation.number, "State": STATES[reservation.state],
            "Origin": "Connector", "CreatedUtc": utc(reservation.created), "UpdatedUtc": utc(reservation.updated),
            "CancelledUtc": utc(reservation.canceled),
            "Options": {"OwnerCheckedIn": in_house_or_after, "AllCompanionsCheckedIn": in_house_or_after,
                        "AnyCompanionCheckedIn": in_house_or_after, "ConnectorCheckIn": False},
            "AssignedResourceId": room, "AssignedResourceLocked": False,
            "CancellationReason": {CANCELED: "RequestedByGuest", NO_SHOW: "NoShow"}.get(reservation.state),
            "ScheduledStartUtc": utc(start_utc(reservation)), "ActualStartUtc": utc(reservation.checked_in),
            "ScheduledEndUtc": utc(end_utc(reservation)), "ActualEndUtc": utc(reservation.checked_out),
            "PersonCounts": [],
        }

    def customers(self, body: dict[str, Any]) -> dict[str, Any]:
        count, cursor = limitation(body)
        extent = body.get("Extent")
        if not isinstance(extent, dict):
            raise MewsError(400, "Extent is required.")
        filters = ("CustomerIds", "UpdatedUtc", "CreatedUtc", "LastNames", "FirstNames", "Emails")
        if all(body.get(key) is None for key in filters):
            raise MewsError(400, "CustomerIds is required if no other filter is provided.")
        everything = list(self.hotel.guests.values())
        wanted = [guest for guest in everything if customer_matches(guest, body)]
        page, next_cursor = newest_first_page(everything, wanted, lambda guest: guest.id, cursor, count)
        customers = [self._customer(guest) for guest in page] if extent.get("Customers") else []
        return {"Customers": customers, "Cursor": next_cursor}

    def _customer(self, guest: Guest) -> dict[str, Any]:
        return {
            "Id": guest.id, "ChainId": self.options.enterprise_id, "Number": str(uuid.UUID(guest.id).int % 10**8),
            "FirstName": guest.first_name, "LastName": guest.last_name,
            "LanguageCode": LANGUAGE_CODES[guest.language], "PreferredLanguageCode": LANGUAGE_CODES[guest.language],
            "HasOtaEmail": False, "CreatedUtc": utc(guest.created), "UpdatedUtc": utc(guest.updated),
            "Classifications": ["VeryImportant"] if guest.vip else [], "Options": [], "IsActive": True,
            "PreferredSpaceFeatures": [],
        }

    def resources(self, body: dict[str, Any]) -> dict[str, Any]:
        count, cursor = limitation(body)
        if not isinstance(body.get("Extent"), dict):
            raise MewsError(400, "Extent is required.")
        everything = list(self.hotel.rooms.values())
        wanted = [room for room in everything
                  if (body.get("ResourceIds") is None or room.id in id_list(body, "ResourceIds"))
                  and (body.get("Names") is None or room.name in id_list(body, "Names"))]
        page, next_cursor = newest_first_page(everything, wanted, lambda room: room.id, cursor, count)
        resources = [{"Id": room.id, "EnterpriseId": self.options.enterprise_id, "IsActive": True,
                      "ParentResourceId": None, "Name": room.name, "State": "Inspected",
                      "Data": {"Discriminator": "Space", "Value": {"FloorNumber": str(room.floor)}}}
                     for room in page] if body["Extent"].get("Resources") else []
        return {"Resources": resources, "Cursor": next_cursor}

    def add_order(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("ServiceId") != self.order_service_id:
            raise MewsError(400, "ServiceId must be the Telephone service (services/getAll lists it).")
        account = body.get("AccountId") or body.get("CustomerId")
        if account not in self.hotel.guests:
            raise MewsError(400, f"Invalid AccountId {account!r}.")
        if body.get("ProductOrders"):
            raise MewsError(400, "This enterprise has no products: send Items.")
        items = body.get("Items")
        if not isinstance(items, list) or not items:
            raise MewsError(400, "Items must hold at least one item.")
        total, currency, names, key = Decimal(0), None, [], None
        for item in items:
            amount, item_currency = item_amount(item)
            if currency not in (None, item_currency):
                raise MewsError(400, "All items of an order must have the same currency.")
            total, currency = total + amount, item_currency
            names.append(str(item["Name"]))
            key = key or item.get("ExternalIdentifier")
        reservation = self._charged_stay(account, body.get("LinkedReservationId"))
        refusal = self.posting_refusal(reservation)
        if refusal is not None:
            raise MewsError(403, refusal[0].upper() + refusal[1:] + ".")
        posting = self.record_posting(reservation, total, currency or "EUR", ", ".join(names), key)
        return {"OrderId": posting.id}

    def _charged_stay(self, account: str, linked: object) -> Reservation:
        if linked is not None:
            reservation = self.hotel.reservations.get(str(linked))
            if reservation is None or reservation.guest_id != account:
                raise MewsError(400, f"Invalid LinkedReservationId {linked!r} for this account.")
            return reservation
        stays = [r for r in self.hotel.ordered() if r.guest_id == account]
        in_house = [r for r in stays if r.state == IN_HOUSE]
        return (in_house or stays)[-1]


OPERATIONS = {
    "configuration/get": MewsSimulator.configuration,
    "services/getAll": MewsSimulator.services,
    "reservations/getAll/2023-06-06": MewsSimulator.reservations,
    "customers/getAll": MewsSimulator.customers,
    "resources/getAll": MewsSimulator.resources,
    "orders/add": MewsSimulator.add_order,
}


def event(discriminator: str, entity_id: str) -> dict[str, Any]:
    return {"Discriminator": discriminator, "Value": {"Id": entity_id}}


def with_request_id(response: Response) -> Response:
    response.headers["Request-Id"] = str(uuid.uuid4())
    return response


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    response = with_request_id(Response(status, {"Message": message}, dict(headers or {})))
    response.body["RequestId"] = response.headers["Request-Id"]
    return response


def limitation(body: dict[str, Any]) -> tuple[int, str | None]:
    """``Limitation``'s Count (1..1000) and Cursor; MewsError when missing or out of range."""
    value = body.get("Limitation")
    if not isinstance(value, dict):
        raise MewsError(400, "Limitation is required.")
    count, cursor = value.get("Count"), value.get("Cursor")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
        raise MewsError(400, "Limitation.Count must be a number from 1 to 1000.")
    if cursor is not None and not isinstance(cursor, str):
        raise MewsError(400, "Limitation.Cursor must be a string.")
    return count, cursor


def id_list(body: dict[str, Any], key: str) -> list[str]:
    value = body[key]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value) or len(value) > 1000:
        raise MewsError(400, f"{key} must be a list of at most 1000 strings.")
    return value


def parse_utc(text: object, where: str) -> dt.datetime:
    if not isinstance(text, str):
        raise MewsError(400, f"{where} must be an ISO 8601 UTC date and time.")
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MewsError(400, f"{where} must be an ISO 8601 UTC date and time, not {text!r}.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def interval(body: dict[str, Any], key: str) -> tuple[dt.datetime, dt.datetime] | None:
    """The time interval ``key`` (inclusive at both ends), or None; at most 3 months long."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MewsError(400, f"{key} must be an object with StartUtc and EndUtc.")
    start, end = parse_utc(value.get("StartUtc"), f"{key}.StartUtc"), parse_utc(value.get("EndUtc"), f"{key}.EndUtc")
    if end < start:
        raise MewsError(400, f"{key}.EndUtc is before {key}.StartUtc.")
    if end - start > MAX_INTERVAL:
        raise MewsError(400, f"{key} must not be longer than 3 months.")
    return start, end


def customer_matches(guest: Guest, body: dict[str, Any]) -> bool:
    for key, value in (("CustomerIds", guest.id), ("LastNames", guest.last_name), ("FirstNames", guest.first_name)):
        if body.get(key) is not None and value not in id_list(body, key):
            return False
    if body.get("Emails") is not None:
        return False
    for key, moment in (("UpdatedUtc", guest.updated), ("CreatedUtc", guest.created)):
        window = interval(body, key)
        if window is not None and not window[0] <= moment <= window[1]:
            return False
    return True


def item_amount(item: object) -> tuple[Decimal, str]:
    """An order item's total (unit amount times count) and currency."""
    if not isinstance(item, dict) or not isinstance(item.get("Name"), str) or not item["Name"].strip():
        raise MewsError(400, "Every item needs a Name.")
    count, unit = item.get("UnitCount"), item.get("UnitAmount")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise MewsError(400, "UnitCount must be a whole number, 1 or more.")
    if not isinstance(unit, dict) or not isinstance(unit.get("Currency"), str):
        raise MewsError(400, "UnitAmount needs a Currency and a GrossValue or NetValue.")
    value = unit.get("GrossValue", unit.get("NetValue"))
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise MewsError(400, "UnitAmount needs a GrossValue or NetValue.") from None
    if isinstance(value, bool) or not amount.is_finite():
        raise MewsError(400, "UnitAmount needs a GrossValue or NetValue.")
    return amount * count, unit["Currency"]
