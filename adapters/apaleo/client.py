"""Apaleo's APIs as the adapter uses them (shapes: apaleo's Booking API models, webhook guide).

- ``GET /booking/v1/reservations/{id}``: one reservation (thin webhook follow-up); 404 = gone;
- ``GET /booking/v1/reservations?propertyIds=&dateFilter=Modification&from=&to=`` (changed in
  a window) and ``?propertyIds=&status=InHouse`` (the in-house list), ``pageNumber`` from 1,
  ``pageSize`` 100, ``{"reservations": [...], "count": n}``, 204 for an empty page;
- ``GET /finance/v1/folios?reservationIds=&type=Guest`` then ``POST
  /finance/v1/folio-actions/{folioId}/charges`` with ``Idempotency-Key``: a call charge;
- ``GET /inventory/v1/properties/{id}``: the status check.

A reservation is in house when its ``status`` is ``InHouse``; its room is ``unit.name``; the
guest is ``primaryGuest`` (``preferredLanguage`` is ISO 639-1). Apaleo has no VIP field.
Webhook bodies: ``{"topic": "Reservation", "type": "checked-in", "id": ..., "propertyId": ...,
"data": {"entityId": "<reservation id>"}}``; ``system/healthcheck`` needs only a 2xx.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pmsbridge.accounting.models import Posting
from pmsbridge.accounting.money import major_units
from pmsbridge.adapters.apaleo.config import ApaleoSettings
from pmsbridge.adapters.cloud.client import CloudClient, Notification, NotificationNotUnderstood, charge_name
from pmsbridge.adapters.cloud.errors import PmsAnswerUnreadable, PmsRefused
from pmsbridge.adapters.cloud.http import ApiSession
from pmsbridge.adapters.cloud.stays import Stay
from pmsbridge.adapters.hotel_time import ISO, parse_hotel_time
from pmsbridge.events import Guest

PAGE_SIZE = 100
TITLES = {"Mr": "Mr", "Ms": "Ms", "Mrs": "Mrs", "Dr": "Dr", "Prof": "Prof"}


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class ApaleoClient(CloudClient):
    vendor = "Apaleo"

    def __init__(self, session: ApiSession, settings: ApaleoSettings, zone: ZoneInfo):
        super().__init__(session)
        self.settings = settings
        self.zone = zone

    # -- webhooks ------------------------------------------------------------------------------

    def read_notification(self, payload: Any, body: bytes) -> Notification:
        if not isinstance(payload, dict) or not isinstance(payload.get("topic"), str):
            raise NotificationNotUnderstood("no topic")
        topic, kind = payload["topic"].lower(), str(payload.get("type", "")).lower()
        if topic == "system":
            return Notification(ignored=f"system/{kind}")
        if topic != "reservation":
            return Notification(ignored=f"topic {payload['topic']} is not about guests")
        property_id = payload.get("propertyId")
        if property_id is not None and property_id != self.settings.property_id:
            return Notification(ignored=f"property {property_id} is not {self.settings.property_id}")
        data = payload.get("data")
        entity = data.get("entityId") if isinstance(data, dict) else None
        if not isinstance(entity, str) or not entity:
            raise NotificationNotUnderstood("no data.entityId")
        key = payload.get("id")
        return Notification(key=str(key)[:200] if key else None, reservations=(entity,))

    # -- reading -------------------------------------------------------------------------------

    def fetch(self, notification: Notification) -> list[Stay]:
        stays = []
        for reservation in notification.reservations:
            try:
                found = self.session.json("GET", f"booking/v1/reservations/{reservation}")
            except PmsRefused as err:
                if err.status == 404:
                    continue
                raise
            if found is not None:
                stays.append(self.stay(found))
        return stays

    def changed_since(self, since: datetime, until: datetime) -> list[Stay]:
        return self._list({"dateFilter": "Modification", "from": _utc(since), "to": _utc(until)})

    def in_house(self) -> list[Stay]:
        return self._list({"status": "InHouse"})

    def _list(self, filters: dict[str, str]) -> list[Stay]:
        stays: list[Stay] = []
        page = 1
        while True:
            params = {"propertyIds": self.settings.property_id, **filters, "pageNumber": page, "pageSize": PAGE_SIZE}
            answer = self.session.json("GET", "booking/v1/reservations", params=params)
            items = (answer or {}).get("reservations") or []
            if not isinstance(items, list):
                raise PmsAnswerUnreadable("Apaleo: reservations is not a list")
            stays.extend(self.stay(item) for item in items)
            total = (answer or {}).get("count", 0)
            if len(items) < PAGE_SIZE or page * PAGE_SIZE >= total:
                return stays
            page += 1

    def stay(self, item: Any) -> Stay:
        """One ``ReservationModel`` as a ``Stay``."""
        if not isinstance(item, dict) or not item.get("id"):
            raise PmsAnswerUnreadable("Apaleo: a reservation without id")
        guest = item.get("primaryGuest") or {}
        unit = item.get("unit") or {}
        title = TITLES.get(guest.get("title") or "")
        return Stay(
            guest=Guest(
                reservation=str(item["id"]),
                last_name=guest.get("lastName") or None,
                first_name=guest.get("firstName") or None,
                title=title,
                language=(guest.get("preferredLanguage") or None),
                arrival=self._local(item.get("arrival")),
                departure=self._local(item.get("departure")),
            ),
            in_house=item.get("status") == "InHouse",
            room=unit.get("name") or None,
            raw=json.dumps(item, ensure_ascii=False, sort_keys=True),
        )

    def _local(self, value: Any) -> datetime | None:
        return parse_hotel_time(value, (ISO,), self.zone) if isinstance(value, str) and value else None

    # -- postings ------------------------------------------------------------------------------

    def post_charge(self, posting: Posting, reservation: str, key: str) -> str:
        if posting.amount is None:
            raise PmsRefused('Apaleo books amounts, not calls to rate: set accounting.charge_as = "amount"')
        answer = self.session.json("GET", "finance/v1/folios", params={"reservationIds": reservation, "type": "Guest"})
        folios = (answer or {}).get("folios") or []
        if not folios:
            raise PmsRefused(f"reservation {reservation} has no guest folio")
        folio = next((item for item in folios if item.get("isMainFolio")), folios[0])
        body = {"serviceType": self.settings.posting_service_type, "vatType": self.settings.posting_vat_type,
                "name": charge_name(posting, self.settings.posting_item_name),
                "amount": {"amount": float(major_units(posting.amount, posting.currency)), "currency": posting.currency}, "quantity": 1}
        response = self.session.request("POST", f"finance/v1/folio-actions/{folio['id']}/charges", json=body,
                                        headers={"Idempotency-Key": key}, idempotent=False)
        try:
            charge = response.json().get("id") if response.content else None
        except ValueError:
            charge = None
        return f"HTTP {response.status_code}: charge {charge or '(no id)'} on folio {folio['id']}"

    # -- status ----------------------------------------------------------------------------------

    def describe(self) -> str:
        found = self.session.json("GET", f"inventory/v1/properties/{self.settings.property_id}")
        name = (found or {}).get("name")
        if isinstance(name, dict):  # localised: {"en": "..."}
            name = next(iter(name.values()), None)
        return f"Apaleo property {self.settings.property_id}: {name or '(no name)'}"
