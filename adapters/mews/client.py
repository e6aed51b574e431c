"""The Mews Connector API as the adapter uses it (shapes: Mews' Connector API documentation).

Every operation is ``POST [PlatformAddress]/api/connector/v1/<operation>`` with
``ClientToken``, ``AccessToken`` and ``Client`` in the JSON body:

- ``reservations/getAll/2023-06-06``: by ``ReservationIds``, by ``AccountIds`` with
  ``States ["Started"]`` (a customer's stays in house), by ``UpdatedUtc`` (changed in a
  window, at most 3 months), by ``States ["Started"]`` (the in-house list). ``Limitation
  {"Count": 1000, "Cursor"}``; the answer's ``Cursor`` pages on until null or a short page;
- ``customers/getAll``: the guests (``CustomerIds``), and by ``UpdatedUtc`` the guests whose
  name, language or classification changed (a customer change does not move the
  reservation's ``UpdatedUtc``);
- ``resources/getAll``: room ids to names, cached and read again for an unknown id;
- ``orders/add``: a call charge on the guest's account, linked to the reservation;
- ``configuration/get``: the status check.

A reservation is in house when its ``State`` is ``Started``; its room is the resource named by
``AssignedResourceId``; the guest is the customer ``AccountId``; arrival and departure are
``ScheduledStartUtc``/``ScheduledEndUtc``. The language is the primary subtag of
``PreferredLanguageCode`` or ``LanguageCode`` (``en-US`` -> ``en``); the VIP code comes from
``Classifications`` (``vip_classifications``). Mews answers 403 for a business rule (a refused
order). Webhooks (General Webhooks) batch events: ``ServiceOrderUpdated`` names a reservation,
``CustomerAdded``/``CustomerUpdated`` a customer; they carry no delivery id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pmsbridge.accounting.models import Posting
from pmsbridge.accounting.money import major_units
from pmsbridge.adapters.cloud.client import CloudClient, Notification, NotificationNotUnderstood, charge_name
from pmsbridge.adapters.cloud.errors import PmsAnswerUnreadable, PmsRefused
from pmsbridge.adapters.cloud.http import ApiSession
from pmsbridge.adapters.cloud.stays import Stay
from pmsbridge.adapters.hotel_time import ISO, parse_hotel_time
from pmsbridge.adapters.mews.config import MewsSettings
from pmsbridge.events import Guest

PREFIX = "api/connector/v1/"
RESERVATIONS = "reservations/getAll/2023-06-06"
PAGE_SIZE = 1000
# Mews refuses longer time filters.
MAX_WINDOW = timedelta(days=90)
RESERVATION_EVENTS = frozenset({"ServiceOrderUpdated"})
CUSTOMER_EVENTS = frozenset({"CustomerAdded", "CustomerUpdated"})
TITLES = {"Mister": "Mr", "Miss": "Ms", "Misses": "Mrs"}


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def windows(since: datetime, until: datetime) -> list[dict[str, str]]:
    """``{"StartUtc", "EndUtc"}`` intervals covering [since, until], none longer than Mews allows."""
    found = []
    start = since
    while True:
        end = min(start + MAX_WINDOW, until)
        found.append({"StartUtc": _utc(start), "EndUtc": _utc(end)})
        if end >= until:
            return found
        start = end


class MewsClient(CloudClient):
    vendor = "Mews"
    # Mews documents no idempotency for orders/add: a resent order is a second charge.
    idempotent_postings = False

    def __init__(self, session: ApiSession, settings: MewsSettings, zone: ZoneInfo):
        super().__init__(session)
        self.settings = settings
        self.zone = zone
        self._rooms: dict[str, str] = {}

    def call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        """One Connector API operation; the JSON answer (an object)."""
        full = {"ClientToken": self.settings.client_token.get_secret_value(),
                "AccessToken": self.settings.access_token.get_secret_value(),
                "Client": self.settings.client_name, **body}
        answer = self.session.json("POST", PREFIX + operation, json=full, idempotent=operation != "orders/add")
        if not isinstance(answer, dict):
            raise PmsAnswerUnreadable(f"Mews: {operation} answered without a JSON object")
        return answer

    def _all(self, operation: str, body: dict[str, Any], items: str) -> list[dict[str, Any]]:
        """Every item of a paged operation (Mews' cursor: newest first, then older)."""
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            answer = self.call(operation, {**body, "Limitation": {"Count": PAGE_SIZE, "Cursor": cursor}})
            page = answer.get(items) or []
            if not isinstance(page, list):
                raise PmsAnswerUnreadable(f"Mews: {operation} answered {items} that is not a list")
            found.extend(page)
            cursor = answer.get("Cursor")
            if cursor is None or len(page) < PAGE_SIZE:
                return found

    # -- webhooks ------------------------------------------------------------------------------

    def read_notification(self, payload: Any, body: bytes) -> Notification:
        if not isinstance(payload, dict) or not isinstance(payload.get("Events"), list):
            raise NotificationNotUnderstood("no Events list")
        enterprise = payload.get("EnterpriseId")
        if self.settings.enterprise_id and enterprise and enterprise != self.settings.enterprise_id:
            return Notification(ignored=f"enterprise {enterprise} is not {self.settings.enterprise_id}")
        reservations: dict[str, None] = {}
        customers: dict[str, None] = {}
        for event in payload["Events"]:
            if not isinstance(event, dict) or not isinstance(event.get("Value"), dict):
                raise NotificationNotUnderstood("an event without Value")
            entity = event["Value"].get("Id")
            if not isinstance(entity, str) or not entity:
                raise NotificationNotUnderstood("an event without Value.Id")
            if event.get("Discriminator") in RESERVATION_EVENTS:
                reservations[entity] = None
            elif event.get("Discriminator") in CUSTOMER_EVENTS:
                customers[entity] = None
        if not reservations and not customers:
            return Notification(ignored="no reservation or customer event")
        return Notification(reservations=tuple(reservations), customers=tuple(customers))

    # -- reading -------------------------------------------------------------------------------

    def fetch(self, notification: Notification) -> list[Stay]:
        found = []
        if notification.reservations:
            found += self._all(RESERVATIONS, {"ReservationIds": list(notification.reservations)}, "Reservations")
        if notification.customers:
            found += self._all(RESERVATIONS, {"AccountIds": list(notification.customers), "States": ["Started"]},
                               "Reservations")
        return self._stays(found)

    def changed_since(self, since: datetime, until: datetime) -> list[Stay]:
        found = []
        customers: dict[str, None] = {}
        for window in windows(since, until):
            found += self._all(RESERVATIONS, {"UpdatedUtc": window}, "Reservations")
            for customer in self._all("customers/getAll", {"UpdatedUtc": window, "Extent": {"Customers": True}},
                                      "Customers"):
                customers[customer["Id"]] = None
        if customers:
            ids = list(customers)
            for start in range(0, len(ids), PAGE_SIZE):
                found += self._all(RESERVATIONS, {"AccountIds": ids[start:start + PAGE_SIZE], "States": ["Started"]},
                                   "Reservations")
        return self._stays(found)

    def in_house(self) -> list[Stay]:
        return self._stays(self._all(RESERVATIONS, {"States": ["Started"]}, "Reservations"))

    def _stays(self, reservations: Iterable[dict[str, Any]]) -> list[Stay]:
        unique = {item.get("Id"): item for item in reservations if isinstance(item, dict)}
        if None in unique:
            raise PmsAnswerUnreadable("Mews: a reservation without Id")
        accounts = sorted({item["AccountId"] for item in unique.values() if item.get("AccountId")})
        customers = self._customers(accounts)
        rooms = self._room_names({item["AssignedResourceId"] for item in unique.values()
                                  if item.get("AssignedResourceId")})
        return [self.stay(item, customers.get(item.get("AccountId") or ""), rooms) for item in unique.values()]

    def _customers(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), PAGE_SIZE):
            for customer in self._all("customers/getAll", {"CustomerIds": ids[start:start + PAGE_SIZE],
                                                           "Extent": {"Customers": True}}, "Customers"):
                found[customer["Id"]] = customer
        return found

    def _room_names(self, ids: set[str]) -> dict[str, str]:
        if ids - self._rooms.keys():
            resources = self._all("resources/getAll", {"Extent": {"Resources": True}}, "Resources")
            self._rooms = {item["Id"]: item.get("Name") for item in resources if item.get("Id")}
        return self._rooms

    def stay(self, item: dict[str, Any], customer: dict[str, Any] | None, rooms: dict[str, str]) -> Stay:
        """One reservation (with its customer, when found) as a ``Stay``."""
        customer = customer or {}
        language = customer.get("PreferredLanguageCode") or customer.get("LanguageCode")
        raw = {"Reservation": item, "Customer": customer or None}
        resource = item.get("AssignedResourceId")
        return Stay(
            guest=Guest(
                reservation=str(item["Id"]),
                last_name=customer.get("LastName") or None,
                first_name=customer.get("FirstName") or None,
                title=TITLES.get(customer.get("Title") or ""),
                language=language.split("-")[0].lower() if isinstance(language, str) and language else None,
                vip=self._vip(customer.get("Classifications") or []),
                arrival=self._local(item.get("ScheduledStartUtc")),
                departure=self._local(item.get("ScheduledEndUtc")),
            ),
            in_house=item.get("State") == "Started",
            room=rooms.get(resource) if resource else None,
            raw=json.dumps(raw, ensure_ascii=False, sort_keys=True),
        )

    def _vip(self, classifications: list[str]) -> str | None:
        for classification, code in self.settings.vip_classifications.items():
            if classification in classifications:
                return code
        return None

    def _local(self, value: Any) -> datetime | None:
        return parse_hotel_time(value, (ISO,), self.zone) if isinstance(value, str) and value else None

    # -- postings ------------------------------------------------------------------------------

    def posting_unavailable(self) -> str | None:
        if self.settings.posting_service_id is None:
            return "Mews takes charges as orders of a service: set posting_service_id in [adapters.mews]"
        return None

    def post_charge(self, posting: Posting, reservation: str, key: str) -> str:
        if posting.amount is None:
            raise PmsRefused('Mews books amounts, not calls to rate: set accounting.charge_as = "amount"')
        found = self.call(RESERVATIONS, {"ReservationIds": [reservation], "Limitation": {"Count": 1}})
        account = next((item.get("AccountId") for item in found.get("Reservations") or []), None)
        if not account:
            raise PmsRefused(f"reservation {reservation} is not known to Mews")
        item = {"Name": charge_name(posting, self.settings.posting_item_name), "UnitCount": 1,
                "UnitAmount": {"Currency": posting.currency,
                               "GrossValue": float(major_units(posting.amount, posting.currency))},
                "ExternalIdentifier": key}
        answer = self.call("orders/add", {"ServiceId": self.settings.posting_service_id, "AccountId": account,
                                          "LinkedReservationId": reservation, "Items": [item]})
        return f"order {answer.get('OrderId') or '(no id)'}"

    # -- status ----------------------------------------------------------------------------------

    def describe(self) -> str:
        enterprise = self.call("configuration/get", {}).get("Enterprise") or {}
        wanted = self.settings.enterprise_id
        if wanted and enterprise.get("Id") != wanted:
            raise PmsRefused(f"Mews: the AccessToken belongs to enterprise {enterprise.get('Id')}, "
                             f"not enterprise_id {wanted}")
        return f"Mews enterprise {enterprise.get('Name') or '(no name)'} ({enterprise.get('Id')})"
