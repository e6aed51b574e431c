"""The PBX's view of its extensions (listAccount) and of itself, cached for the web interface.

A scheduler job calls ``ExtensionStatusCache.refresh()`` every ``web.status_refresh_seconds``;
pages read the last sweep and never ask the PBX themselves, so fifty open boards cost the
PBX nothing more than one. Only one sweep runs at a time: a refresh that finds another
still running returns at once. A failed sweep keeps the previous figures (their age shows
how stale they are) and remembers the error.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pmsbridge.pbx.client import PbxClient
from pmsbridge.pbx.errors import PbxError

log = logging.getLogger(__name__)

ACCOUNT_FIELDS = ("extension", "fullname", "status", "addr", "out_of_service", "urgemsg", "newmsg")
PAGE_SIZE = 200


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ExtensionStatus:
    """One row of listAccount: registration status (Idle, InUse, Busy, Unavailable, Ringing),
    the device address(es), the caller-ID name and the voicemail counts."""

    extension: str
    status: str | None
    addr: str | None
    fullname: str | None
    out_of_service: bool
    new_messages: int

    @classmethod
    def from_account(cls, row: Mapping[str, Any]) -> ExtensionStatus:
        def number(name: str) -> int:
            value = row.get(name)
            return int(value) if str(value or "").isdigit() else 0

        addr = row.get("addr")
        return cls(
            extension=str(row.get("extension")),
            status=row.get("status") or None,
            addr=None if addr in (None, "", "-") else str(addr),
            fullname=row.get("fullname") or None,
            out_of_service=str(row.get("out_of_service") or "").lower() == "yes",
            new_messages=number("newmsg") + number("urgemsg"),
        )


@dataclass(frozen=True)
class PbxIdentity:
    """What getSystemGeneralStatus says the PBX is."""

    model: str | None
    firmware: str | None


@dataclass(frozen=True)
class StatusSnapshot:
    """The last sweep: ``statuses`` by extension, when it ended well, and the last failure."""

    statuses: Mapping[str, ExtensionStatus]
    identity: PbxIdentity | None
    refreshed_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None


class ExtensionStatusCache:
    """listAccount and getSystemGeneralStatus, swept on a schedule (see the module docstring)."""

    def __init__(self, client: PbxClient, *, clock: Callable[[], datetime] = utcnow):
        self.client = client
        self.clock = clock
        self._sweep_lock = threading.Lock()
        self._report_lock = threading.Lock()
        self._snapshot = StatusSnapshot({}, None, None, None, None)

    @property
    def snapshot(self) -> StatusSnapshot:
        return self._snapshot

    def refresh(self) -> bool:
        """Sweep now unless a sweep is running; True when this call swept and succeeded."""
        if not self._sweep_lock.acquire(blocking=False):
            return False
        try:
            return self._sweep()
        finally:
            self._sweep_lock.release()

    def _sweep(self) -> bool:
        try:
            accounts = self.client.list_accounts(ACCOUNT_FIELDS, page_size=PAGE_SIZE)
            general = self.client.system_general_status()
        except PbxError as err:
            log.warning("extension status not refreshed: %s", err)
            previous = self._snapshot
            self._snapshot = StatusSnapshot(previous.statuses, previous.identity, previous.refreshed_at,
                                            str(err), self.clock())
            return False
        self.update(accounts, general)
        return True

    def update(self, accounts: list[Mapping[str, Any]], general: Mapping[str, Any]) -> None:
        """Take the answers of one sweep (listAccount rows, getSystemGeneralStatus)."""
        statuses = {}
        for row in accounts:
            status = ExtensionStatus.from_account(row)
            statuses[status.extension] = status
        identity = PbxIdentity(model=general.get("product-model"), firmware=general.get("prog-version"))
        previous = self._snapshot
        self._snapshot = StatusSnapshot(statuses, identity, self.clock(), previous.last_error, previous.last_error_at)

    def apply_status(self, extension: str, status: str) -> bool:
        """Take one extension's new status from a PBX event report, between sweeps; False when
        the last sweep did not list the extension (the next sweep brings it)."""
        with self._report_lock:
            previous = self._snapshot
            current = previous.statuses.get(extension)
            if current is None:
                return False
            statuses = {**previous.statuses, extension: dataclasses.replace(current, status=status)}
            self._snapshot = dataclasses.replace(previous, statuses=statuses)
            return True
