"""The PBX's event reports: what it pushes to the ``url`` the bridge gave at login (``pbx.report_url``).

The guide does not describe the reports, so they are read leniently: a JSON object, or a
list of them, whose type is under ``action``, ``event`` or ``type``; the details may sit in
the object itself or in a ``msg``/``data`` member (an object, or JSON in a string). Every
report is kept raw in the ``pbx_report`` table and counted by type. Extension status
reports (type ``ExtensionStatus`` and spellings of it, with ``extension`` and ``status``)
update the board's line status at once, between two listAccount sweeps. Reports of other
types are kept and counted, never an error; a body that is not JSON is kept too and
answered 400.

Only the PBX may send them: the address of ``pbx.url``'s host, and the networks of
``accounting.report_allow_ips``. Rows older than ``accounting.report_retention_days`` are
pruned.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, insert
from sqlalchemy.engine import Engine

from pmsbridge.accounting.models import PbxReport
from pmsbridge.config import Settings
from pmsbridge.extension_status import ExtensionStatusCache
from pmsbridge.ledger.models import utcnow

log = logging.getLogger(__name__)

STATUS_REPORT_KINDS = frozenset({"extensionstatus", "extension_status", "extensionstate", "extension_state"})
# Report status words -> the listAccount status the board shows.
STATUS_WORDS = {
    "idle": "Idle",
    "inuse": "InUse",
    "in_use": "InUse",
    "busy": "Busy",
    "ringing": "Ringing",
    "unavailable": "Unavailable",
    "registered": "Idle",
    "unregistered": "Unavailable",
}
UNREADABLE = "unreadable"
UNTYPED = "untyped"
MAX_KIND_LENGTH = 64


class ReportUnreadable(ValueError):
    """Raised when a report body is not JSON (or holds no object)."""


@dataclass(frozen=True)
class Report:
    """One report: its type as sent, the extension and status when it names them, and its JSON."""

    kind: str
    extension: str | None
    status: str | None
    raw: str

    @property
    def is_extension_status(self) -> bool:
        return self.kind.lower() in STATUS_REPORT_KINDS


def _details(item: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The object itself, then its ``msg``/``data`` member when that holds an object."""
    yield item
    for name in ("msg", "data"):
        inner = item.get(name)
        if isinstance(inner, str):
            try:
                inner = json.loads(inner)
            except json.JSONDecodeError:
                continue
        if isinstance(inner, Mapping):
            yield inner


def _first(item: Mapping[str, Any], *names: str) -> str | None:
    for part in _details(item):
        for name in names:
            value = part.get(name)
            if value not in (None, "") and not isinstance(value, Mapping | list):
                return str(value).strip()
    return None


def parse_reports(body: bytes) -> list[Report]:
    """The reports of one request body; ReportUnreadable when it is not JSON objects."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ReportUnreadable(f"not JSON ({err})") from err
    items = document if isinstance(document, list) else [document]
    if not items or not all(isinstance(item, Mapping) for item in items):
        raise ReportUnreadable("expected a JSON object or a list of them")
    reports = []
    for item in items:
        kind = (_first(item, "action", "event", "type") or UNTYPED)[:MAX_KIND_LENGTH]
        reports.append(Report(kind, _first(item, "extension", "ext", "extid"), _first(item, "status", "state"),
                              json.dumps(item, ensure_ascii=False, sort_keys=True)))
    return reports


@dataclass(frozen=True)
class Receipt:
    """What became of one request: reports kept, extension statuses applied, reports of unknown type."""

    kept: int
    applied: int
    unknown: int


class ReportSenders:
    """Who may send reports: the address(es) of ``pbx.url``'s host, and ``accounting.report_allow_ips``.

    A host name is resolved on first use and again after ``RESOLVE_AGAIN``, so a PBX whose
    DNS name moves is followed without a restart.
    """

    RESOLVE_AGAIN = timedelta(minutes=10)

    def __init__(self, pbx_url: str, allowed: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network],
                 *, resolve: Callable[[str], set[str]] | None = None, clock: Callable[[], datetime] = utcnow):
        self.host = urlsplit(pbx_url).hostname or ""
        self.allowed = list(allowed)
        self._resolve = resolve or _addresses_of
        self._clock = clock
        self._lock = threading.Lock()
        self._pbx_addresses: set[str] = set()
        self._resolved_at: datetime | None = None

    def allows(self, address: str | None) -> bool:
        if not address:
            return False
        try:
            client = ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            return False
        if client.version == 6 and client.ipv4_mapped is not None:
            client = client.ipv4_mapped
        if any(client in network for network in self.allowed):
            return True
        return str(client) in self._pbx()

    def _pbx(self) -> set[str]:
        with self._lock:
            now = self._clock()
            if self._resolved_at is None or now - self._resolved_at >= self.RESOLVE_AGAIN:
                self._pbx_addresses = self._resolve(self.host)
                self._resolved_at = now
            return self._pbx_addresses


def _addresses_of(host: str) -> set[str]:
    try:
        return {str(ipaddress.ip_address(host))}
    except ValueError:
        pass
    try:
        return {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as err:
        log.warning("the PBX host %s cannot be resolved (%s): its event reports are refused", host, err)
        return set()


class PbxReports:
    """Receives the PBX's reports (see the module docstring); safe to share between threads."""

    def __init__(self, engine: Engine, extension_status: ExtensionStatusCache, senders: ReportSenders, *,
                 clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.extension_status = extension_status
        self.senders = senders
        self.clock = clock
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.unknown = 0
        self.last_received_at: datetime | None = None

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine, extension_status: ExtensionStatusCache, *,
                      clock: Callable[[], datetime] = utcnow) -> PbxReports:
        senders = ReportSenders(settings.pbx.url, settings.accounting.report_allow_ips, clock=clock)
        return cls(engine, extension_status, senders, clock=clock)

    def receive(self, body: bytes) -> Receipt:
        """Keep and apply one request's reports; raises ReportUnreadable (after keeping the body)."""
        now = self.clock()
        try:
            reports = parse_reports(body)
        except ReportUnreadable:
            self._keep([Report(UNREADABLE, None, None, body.decode("utf-8", errors="backslashreplace"))], set(), now)
            self._count([UNREADABLE], unknown=1)
            raise
        applied: set[int] = set()
        for index, report in enumerate(reports):
            if report.is_extension_status and report.extension and report.status:
                status = STATUS_WORDS.get(report.status.lower().replace(" ", ""), report.status)
                if self.extension_status.apply_status(report.extension, status):
                    applied.add(index)
        self._keep(reports, applied, now)
        unknown = sum(not report.is_extension_status for report in reports)
        self._count([report.kind for report in reports], unknown=unknown)
        if unknown:
            log.debug("kept %d PBX reports of a type the bridge does not use", unknown)
        return Receipt(len(reports), len(applied), unknown)

    def _keep(self, reports: list[Report], applied: set[int], now: datetime) -> None:
        with self.engine.begin() as connection:
            connection.execute(insert(PbxReport.__table__), [
                dict(received_at=now, kind=report.kind, extension=report.extension[:32] if report.extension else None,
                     handled=index in applied, raw=report.raw)
                for index, report in enumerate(reports)
            ])

    def _count(self, kinds: list[str], *, unknown: int) -> None:
        with self._lock:
            self.counts.update(kinds)
            self.unknown += unknown
            self.last_received_at = self.clock()

    def prune(self, older_than: timedelta) -> int:
        with self.engine.begin() as connection:
            removed = connection.execute(
                delete(PbxReport.__table__).where(PbxReport.__table__.c.received_at < self.clock() - older_than)
            ).rowcount
        if removed:
            log.info("pruned %d PBX reports older than %s", removed, older_than)
        return removed
