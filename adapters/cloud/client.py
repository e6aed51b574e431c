"""The contract of a vendor's API client, as the cloud adapter (``adapter``) uses it.

A client knows its vendor's endpoints and shapes and nothing of the ledger: it reads a
webhook body (``read_notification``), fetches what a notification names (``fetch``), the
reservations changed in a window (``changed_since``), the full in-house list
(``in_house``), posts a charge (``post_charge``) and proves its credentials
(``describe``). Reservations come back as ``stays.Stay``. Every call goes through one
``http.ApiSession`` and raises ``errors.PmsApiError`` subclasses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pmsbridge.accounting.models import Posting
from pmsbridge.adapters.cloud.http import ApiSession
from pmsbridge.adapters.cloud.stays import Stay


class NotificationNotUnderstood(ValueError):
    """Raised when a webhook body is not one the vendor documents; the reason is the message."""


@dataclass(frozen=True)
class Notification:
    """What a thin webhook names.

    ``key``: the vendor's id of this delivery (or None), which makes a repeat a duplicate;
    ``ignored``: why nothing is to be fetched (a health check, an event type not about
    guests), or None; ``reservations`` and ``customers``: the ids to fetch.
    """

    key: str | None = None
    ignored: str | None = None
    reservations: tuple[str, ...] = ()
    customers: tuple[str, ...] = ()


def charge_name(posting: Posting, item: str) -> str:
    """The charge's text on the folio: the item name and the number dialled."""
    return f"{item} {posting.dialled}" if posting.dialled else item


class CloudClient(ABC):
    """One vendor's API; see the module docstring."""

    vendor: str
    idempotent_postings: bool = True
    """Whether the PMS recognises a posting sent twice by its key, so that one cut off may be sent again."""

    def __init__(self, session: ApiSession):
        self.session = session

    @abstractmethod
    def read_notification(self, payload: Any, body: bytes) -> Notification:
        """What a webhook body names; raises ``NotificationNotUnderstood``."""

    @abstractmethod
    def fetch(self, notification: Notification) -> list[Stay]:
        """The reservations a notification names, as the PMS holds them now (a missing one is left out)."""

    @abstractmethod
    def changed_since(self, since: datetime, until: datetime) -> list[Stay]:
        """Reservations (and, where guests are separate records, reservations of guests) changed in [since, until] (UTC)."""

    @abstractmethod
    def in_house(self) -> list[Stay]:
        """Every reservation in house now (all pages)."""

    def posting_unavailable(self) -> str | None:
        """Why this PMS (as configured) cannot take postings; None when it can."""
        return None

    @abstractmethod
    def post_charge(self, posting: Posting, reservation: str, key: str) -> str:
        """Book ``posting`` on the folio of ``reservation``, with idempotency key ``key``; the PMS's answer.

        Raises ``PmsRefused`` when the PMS will not book it.
        """

    @abstractmethod
    def describe(self) -> str:
        """Prove the credentials and property id with a cheap read; one line naming the property."""
