"""The Cloudbeds PMS API v1.3 as the adapter uses it (shapes: Cloudbeds' OpenAPI description).

Reads are GET with a query string, writes POST with a form body; the API key goes in
``x-api-key``. Answers are the envelope ``{"success": ..., "data": ..., "message"}``: a
``success: false`` (sent with HTTP 200) is a refusal.

- ``getReservation?reservationID=``: one reservation (thin webhook follow-up): ``status``,
  ``assigned`` rooms and ``guestList``;
- ``getReservations?propertyID=&modifiedFrom=&modifiedTo=&includeGuestsDetails=true``: changed
  in a window (UTC, ``YYYY-MM-DD HH:MM:SS``), pages of 100 (``pageNumber`` from 1);
- ``getGuestsByStatus?propertyID=&status=in_house``: the in-house list, one row per guest and
  room, pages of 100;
- ``POST postCustomItem``: a call charge on the reservation, ``referenceID`` = the posting's key
  (Cloudbeds adds nothing for a referenceID it has seen);
- ``getHotelDetails``: the status check.

A reservation may hold several rooms, one sub-reservation each; each is a ``Stay`` with the
``subReservationID`` as its reservation id (``<reservationID>-<n>``, so the reservation id is
what comes before the last hyphen). A room is in house when its guest's ``guestStatus`` (or
the listing's ``roomStatus``) is ``in_house``. Arrival and departure are dates: midnight and
``rooms.default_departure_time``. Cloudbeds has no guest language or VIP field. Webhook bodies
name ``reservationID`` or ``reservationId`` (and ``propertyID`` or ``propertyId``), or a
``guestId`` for ``guest/*`` events, plus an epoch ``timestamp``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pmsbridge.accounting.models import Posting
from pmsbridge.accounting.money import major_units
from pmsbridge.adapters.cloud.client import CloudClient, Notification, NotificationNotUnderstood, charge_name
from pmsbridge.adapters.cloud.errors import PmsAnswerUnreadable, PmsRefused
from pmsbridge.adapters.cloud.http import ApiSession
from pmsbridge.adapters.cloud.stays import Stay
from pmsbridge.adapters.cloudbeds.config import CloudbedsSettings
from pmsbridge.adapters.hotel_time import ISO, parse_hotel_time
from pmsbridge.events import Guest

PAGE_SIZE = 100
DATETIME = "%Y-%m-%d %H:%M:%S"


def _first(payload: dict[str, Any], *names: str) -> Any:
    return next((payload[name] for name in names if payload.get(name) not in (None, "")), None)


def reservation_of(sub_reservation: str) -> str:
    """The reservationID of a subReservationID (``1234567890123-1`` -> ``1234567890123``)."""
    return sub_reservation.rsplit("-", 1)[0] if "-" in sub_reservation else sub_reservation


class CloudbedsClient(CloudClient):
    vendor = "Cloudbeds"

    def __init__(self, session: ApiSession, settings: CloudbedsSettings, zone: ZoneInfo, departure_time: time):
        super().__init__(session)
        self.settings = settings
        self.zone = zone
        self.departure_time = departure_time

    def call(self, method: str, params: dict[str, Any] | None = None, *, form: dict[str, Any] | None = None) -> Any:
        """One API method (GET, or POST with ``form``); the answer's envelope. ``PmsRefused`` for success false."""
        if form is None:
            answer = self.session.json("GET", method, params=params)
        else:
            answer = self.session.json("POST", method, data=form, idempotent=False)
        if not isinstance(answer, dict) or "success" not in answer:
            raise PmsAnswerUnreadable(f"Cloudbeds: {method} answered without the success envelope")
        if not answer["success"]:
            raise PmsRefused(f"Cloudbeds: {method}: {answer.get('message') or 'refused without a message'}")
        return answer

    def _pages(self, method: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self.call(method, {**params, "pageNumber": page, "pageSize": PAGE_SIZE})
            rows = answer.get("data") or []
            if not isinstance(rows, list):
                raise PmsAnswerUnreadable(f"Cloudbeds: {method} answered data that is not a list")
            found.extend(rows)
            total = answer.get("total")
            if len(rows) < PAGE_SIZE or (isinstance(total, int) and len(found) >= total):
                return found
            page += 1

    # -- webhooks ------------------------------------------------------------------------------

    def read_notification(self, payload: Any, body: bytes) -> Notification:
        if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
            raise NotificationNotUnderstood("no event")
        event = payload["event"]
        property_id = _first(payload, "propertyID_str", "propertyId_str", "propertyID", "propertyId")
        if property_id is not None and str(property_id) != self.settings.property_id:
            return Notification(ignored=f"property {property_id} is not {self.settings.property_id}")
        # The body holds the event's timestamp: a body seen before is the same delivery again.
        key = "sha256:" + hashlib.sha256(body).hexdigest()
        if event.startswith("reservation/"):
            reservation = _first(payload, "reservationID", "reservationId")
            if reservation is None:
                raise NotificationNotUnderstood(f"{event} without reservationID")
            return Notification(key=key, reservations=(str(reservation),))
        if event.startswith("guest/"):
            guest = _first(payload, "guestId_str", "guestID_str", "guestId", "guestID")
            if guest is None:
                raise NotificationNotUnderstood(f"{event} without guestId")
            return Notification(key=key, customers=(str(guest),))
        return Notification(ignored=f"event {event} is not about guests")

    # -- reading -------------------------------------------------------------------------------

    def fetch(self, notification: Notification) -> list[Stay]:
        reservations = list(notification.reservations)
        if notification.customers:
            wanted = set(notification.customers)
            reservations += sorted({str(row["reservationID"]) for row in self._in_house_rows()
                                    if str(row.get("guestID")) in wanted})
        stays = []
        for reservation in reservations:
            try:
                answer = self.call("getReservation", {"propertyID": self.settings.property_id,
                                                      "reservationID": reservation})
            except PmsRefused as err:
                if "not found" in str(err).lower():
                    continue
                raise
            stays += self.reservation_stays(answer.get("data") or {})
        return stays

    def changed_since(self, since: datetime, until: datetime) -> list[Stay]:
        rows = self._pages("getReservations", {"propertyID": self.settings.property_id,
                                               "modifiedFrom": since.strftime(DATETIME),
                                               "modifiedTo": until.strftime(DATETIME),
                                               "includeGuestsDetails": "true"})
        return [stay for row in rows for stay in self.listing_stays(row)]

    def in_house(self) -> list[Stay]:
        stays: dict[str, Stay] = {}
        for row in self._in_house_rows():
            sub = str(row.get("subReservationID") or row.get("reservationID") or "")
            if not sub or sub in stays:
                continue
            stays[sub] = Stay(guest=self._guest(sub, row.get("guestFirstName"), row.get("guestLastName"),
                                                row.get("startDate"), row.get("endDate")),
                              in_house=True, room=row.get("roomName") or None,
                              raw=json.dumps(row, ensure_ascii=False, sort_keys=True))
        return list(stays.values())

    def _in_house_rows(self) -> list[dict[str, Any]]:
        return self._pages("getGuestsByStatus", {"propertyID": self.settings.property_id, "status": "in_house"})

    def reservation_stays(self, data: dict[str, Any]) -> list[Stay]:
        """The stays of one ``getReservation`` answer: one per room (sub-reservation)."""
        if not data.get("reservationID"):
            raise PmsAnswerUnreadable("Cloudbeds: getReservation answered without reservationID")
        raw = json.dumps(data, ensure_ascii=False, sort_keys=True)
        guests = [entry for entry in (data.get("guestList") or {}).values() if isinstance(entry, dict)]
        stays = []
        for room in [*(data.get("assigned") or []), *(data.get("unassigned") or [])]:
            sub = str(room.get("subReservationID") or data["reservationID"])
            guest = self._main_guest(guests, sub)
            status = guest.get("guestStatus")
            in_house = status == "in_house" if status else data.get("status") == "checked_in"
            stays.append(Stay(guest=self._guest(sub, guest.get("guestFirstName"), guest.get("guestLastName"),
                                                room.get("startDate"), room.get("endDate")),
                              in_house=in_house and bool(room.get("roomName")), room=room.get("roomName") or None,
                              raw=raw))
        return stays

    def listing_stays(self, row: dict[str, Any]) -> list[Stay]:
        """The stays of one ``getReservations`` item: one per room."""
        raw = json.dumps(row, ensure_ascii=False, sort_keys=True)
        guests = [entry for entry in (row.get("guestList") or {}).values() if isinstance(entry, dict)]
        stays = []
        for room in row.get("rooms") or []:
            sub = str(room.get("subReservationID") or row.get("reservationID"))
            guest = self._main_guest(guests, sub)
            stays.append(Stay(guest=self._guest(sub, guest.get("guestFirstName"), guest.get("guestLastName"),
                                                row.get("startDate"), row.get("endDate")),
                              in_house=room.get("roomStatus") == "in_house", room=room.get("roomName") or None,
                              raw=raw))
        return stays

    @staticmethod
    def _main_guest(guests: list[dict[str, Any]], sub: str) -> dict[str, Any]:
        mine = [guest for guest in guests if str(guest.get("subReservationID") or sub) == sub] or guests
        return next((guest for guest in mine if guest.get("isMainGuest")), mine[0] if mine else {})

    def _guest(self, sub: str, first: Any, last: Any, arrival: Any, departure: Any) -> Guest:
        return Guest(reservation=sub, last_name=last or None, first_name=first or None,
                     arrival=self._local(arrival, time(0)), departure=self._local(departure, self.departure_time))

    def _local(self, value: Any, day_time: time) -> datetime | None:
        if not isinstance(value, str) or not value:
            return None
        return parse_hotel_time(value, (ISO,), self.zone, day_time=day_time)

    # -- postings ------------------------------------------------------------------------------

    def post_charge(self, posting: Posting, reservation: str, key: str) -> str:
        if posting.amount is None:
            raise PmsRefused('Cloudbeds books amounts, not calls to rate: set accounting.charge_as = "amount"')
        form = {"propertyID": self.settings.property_id, "reservationID": reservation_of(reservation),
                "subReservationID": reservation, "referenceID": key,
                "items[0][itemName]": charge_name(posting, self.settings.posting_item_name),
                "items[0][itemQuantity]": 1,
                "items[0][itemPrice]": str(major_units(posting.amount, posting.currency)),
                "items[0][itemNote]": f"{posting.duration or 0} s, {posting.call_start:%Y-%m-%d %H:%M}"}
        data = self.call("postCustomItem", form=form).get("data") or {}
        answer = f"sold product {data.get('soldProductID') or '(no id)'}"
        return f"{answer} ({data['notice']})" if data.get("notice") else answer

    # -- status ----------------------------------------------------------------------------------

    def describe(self) -> str:
        data = self.call("getHotelDetails", {"propertyID": self.settings.property_id}).get("data") or {}
        return f"Cloudbeds property {data.get('propertyID')}: {data.get('propertyName') or '(no name)'}"
