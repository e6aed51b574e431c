"""Reads the PBX's view of the rooms at a cost known in advance.

A run costs ``ceil(extensions / page_size)`` listAccount requests for every room's name,
occupancy and service state, plus at most ``max_detail_requests`` getSIPAccount requests
(DND, call forward), one ``detail_pace_ms`` apart so that the PBX keeps serving the
dispatcher and the phones in between.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from pmsbridge.pbx.client import PbxClient
from pmsbridge.pbx.errors import PbxRequestRejected
from pmsbridge.reconcile.drift import AccountView, ExtensionDetails, shown_name

log = logging.getLogger(__name__)

LISTING_FIELDS = ("extension", "fullname", "status", "out_of_service")
# The PBX's status code for an extension it does not have.
NO_SUCH_ITEM = -16


@dataclass(frozen=True)
class Listing:
    """Every extension the PBX has, by number, and the listAccount requests it took."""

    accounts: dict[str, AccountView]
    requests: int


@dataclass
class DetailRead:
    """The details read for some extensions; ``missing`` ones the PBX does not have."""

    details: dict[str, ExtensionDetails] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    requests: int = 0


class PbxReader:
    """Reads extensions through ``client``. ``stopping``, when set, cuts the paced detail reads short."""

    def __init__(self, client: PbxClient, *, page_size: int, pace_seconds: float,
                 stopping: threading.Event | None = None):
        self.client = client
        self.page_size = page_size
        self.pace_seconds = pace_seconds
        self.stopping = stopping or threading.Event()

    def accounts(self) -> Listing:
        """Every extension, page by page (listAccount). Raises PbxError."""
        rows = self.client.list_accounts(options=list(LISTING_FIELDS), page_size=self.page_size)
        accounts = {}
        for row in rows:
            account = AccountView.from_listing(row)
            if account.extension:
                accounts[account.extension] = account
        # The client stops at the PBX's total_page, so this is the number of pages it asked for.
        return Listing(accounts, max(1, math.ceil(len(rows) / self.page_size)))

    def details(self, extensions: Sequence[str]) -> DetailRead:
        """DND and call forward of ``extensions`` (getSIPAccount each), paced. Raises PbxError
        except for an extension the PBX does not have, which is listed in ``missing``."""
        read = DetailRead()
        for position, extension in enumerate(extensions):
            if position and self.pace_seconds and self.stopping.wait(self.pace_seconds):
                log.info("reconciliation: stopping; %d of %d detail reads done", position, len(extensions))
                break
            if self.stopping.is_set():
                break
            read.requests += 1
            answer = self._sip_account(extension)
            if answer is None:
                read.missing.add(extension)
            else:
                read.details[extension] = ExtensionDetails.from_sip_account(extension, answer)
        return read

    def extension(self, extension: str) -> tuple[AccountView | None, ExtensionDetails | None]:
        """One extension in one request (getSIPAccount): what listAccount shows of it, and its
        details; (None, None) when the PBX does not have it. Raises PbxError."""
        answer = self._sip_account(extension)
        if answer is None:
            return None, None
        settings = answer.get("extension") if isinstance(answer.get("extension"), dict) else {}
        account = AccountView(
            extension=extension,
            fullname=shown_name(settings.get("fullname")),
            out_of_service=str(settings.get("out_of_service") or "").lower() == "yes",
        )
        return account, ExtensionDetails.from_sip_account(extension, answer)

    def _sip_account(self, extension: str) -> dict | None:
        """The whole getSIPAccount answer (the forward in effect is in its presence settings,
        beside the extension's own); None when the PBX has no such extension."""
        try:
            return self.client.call("getSIPAccount", extension=extension)
        except PbxRequestRejected as err:
            if err.status != NO_SUCH_ITEM:
                raise
            return None
