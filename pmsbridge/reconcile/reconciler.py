"""The reconciler: reads the PBX, compares it with the ledger's desired room state, records
drift, and repairs it through the ledger where ``[reconcile.policy]`` says so.

When it runs:

- on a schedule (``reconcile.interval_minutes``, ``run_scheduled``);
- on request (``request_run``: the UI, adapters, a PMS database swap, the PBX coming back
  after an outage); requests are served by ``watch``, which the service calls every
  ``WATCH_INTERVAL`` seconds, so a request waits at most that long;
- from the command line (``pmsbridge reconcile``).

A run never judges a room whose PBX state may be changing under it: rooms with an open
delivery, or with one claimed or delivered while the run was reading, are left for the
next run. A repair goes out as ordinary deliveries (``Ledger.enqueue_repair``), queued only
if the room's desired state is still the one the repair was worked out from, so an event
that arrives meanwhile always wins. A drift still there after its repair is escalated to
``repair_failed`` once ``max_repair_attempts`` repairs were tried, and is then only
repaired on an operator's request (``repair``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pmsbridge.config import PbxSettings, ReconcileSettings
from pmsbridge.ledger.store import Ledger
from pmsbridge.mapping import RoomMapping
from pmsbridge.pbx.client import PbxClient
from pmsbridge.pbx.errors import PbxError
from pmsbridge.pbx.names import NamePolicy
from pmsbridge.reconcile.drift import (
    DETAIL_KINDS,
    REPAIRABLE_KINDS,
    compare_room,
    observed_pbx,
    repair_operations,
    room_order,
    rotation,
)
from pmsbridge.reconcile.models import DriftKind, DriftState
from pmsbridge.reconcile.reader import PbxReader
from pmsbridge.reconcile.store import Drift, DriftStore
from pmsbridge.rooms import RoomState

if TYPE_CHECKING:
    from pmsbridge.ledger.dispatcher import Dispatcher

log = logging.getLogger(__name__)

# How often the service calls ``watch`` (seconds).
WATCH_INTERVAL = 30
# Ledger values: where the detail rotation stopped, and the last run's summary.
CURSOR_KEY = "reconcile.detail_cursor"
LAST_RUN_KEY = "reconcile.last_run"
# Written by the FIAS adapter when a PMS database swap starts.
SWAP_SEEN_KEY = "fias.swap_seen"


@dataclass(frozen=True)
class RunReport:
    """What one run did. ``drifts`` are the drifts found (as stored after the run's repairs);
    ``repaired`` maps each repaired room to its queued delivery ids; ``error`` says why a run
    ended early (the PBX could not be read), in which case nothing was recorded."""

    reason: str
    started_at: datetime
    finished_at: datetime
    dry_run: bool = False
    extensions: int = 0
    listing_requests: int = 0
    detail_requests: int = 0
    rooms_compared: int = 0
    rooms_skipped: int = 0
    drifts: tuple[Drift, ...] = ()
    repaired: dict[str, tuple[int, ...]] = field(default_factory=dict)
    error: str | None = None
    drift_count: int | None = None  # set on a report read back from its summary, which has no drift rows

    @property
    def found(self) -> int:
        """How many drifts the run found."""
        return len(self.drifts) if self.drift_count is None else self.drift_count

    def counts(self) -> dict[DriftKind, int]:
        """Drifts found per kind, every kind present."""
        found = Counter(drift.kind for drift in self.drifts)
        return {kind: found[kind] for kind in DriftKind}

    def summary(self) -> dict[str, Any]:
        """The report without the drift rows, JSON-ready (kept in the ledger for the status page)."""
        values = asdict(self)
        values.pop("drifts")
        values["drift_count"] = len(self.drifts)
        values["counts"] = {kind.value: count for kind, count in self.counts().items()}
        values["repaired"] = {room: list(ids) for room, ids in self.repaired.items()}
        values["started_at"], values["finished_at"] = self.started_at.isoformat(), self.finished_at.isoformat()
        return values

    @classmethod
    def from_summary(cls, values: Mapping[str, Any]) -> RunReport:
        names = {"reason", "dry_run", "extensions", "listing_requests", "detail_requests", "rooms_compared",
                 "rooms_skipped", "error", "drift_count"}
        return cls(**{name: values[name] for name in names if name in values},
                   started_at=datetime.fromisoformat(values["started_at"]),
                   finished_at=datetime.fromisoformat(values["finished_at"]),
                   repaired={room: tuple(ids) for room, ids in values.get("repaired", {}).items()})


@dataclass(frozen=True)
class RepairOutcome:
    """What ``Reconciler.repair`` found in the room and queued; ``note`` says why nothing was."""

    room: str
    drifts: tuple[Drift, ...]
    deliveries: tuple[int, ...] = ()
    note: str | None = None


def swap_in_progress(adapters: Mapping[str, Any]) -> str | None:
    """Why a run should wait: an adapter is receiving a PMS database swap (None: no reason)."""
    from pmsbridge.adapters.base import LinkState

    for name, adapter in adapters.items():
        status = getattr(adapter, "status", None)
        if status is not None and status.state == LinkState.SWAPPING:
            return f"adapter {name} is receiving a database swap"
    return None


class Reconciler:
    """Finds and heals drift between the PBX and the desired room state; see the module docstring.

    ``dispatcher`` (optional) tells, with the client's health, when the PBX comes back
    from an outage. ``hold`` returns a reason to postpone runs (a database swap in
    progress) or None. ``retention`` is how long resolved drifts are kept.
    """

    def __init__(
        self,
        ledger: Ledger,
        client: PbxClient,
        mapping: RoomMapping,
        settings: ReconcileSettings,
        pbx_settings: PbxSettings,
        *,
        dispatcher: Dispatcher | None = None,
        hold: Callable[[], str | None] | None = None,
        retention: timedelta = timedelta(days=30),
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.ledger = ledger
        self.client = client
        self.mapping = mapping
        self.settings = settings
        self.dispatcher = dispatcher
        self.hold = hold
        self.retention = retention
        self.names = NamePolicy.from_settings(pbx_settings)
        self.drifts = DriftStore(ledger.engine, clock=ledger.clock)
        self._stopping = threading.Event()
        self.reader = PbxReader(client, page_size=settings.page_size, pace_seconds=settings.detail_pace_ms / 1000,
                                stopping=self._stopping)
        self._monotonic = monotonic
        self._run_lock = threading.Lock()
        self._requests_lock = threading.Lock()
        self._requests: dict[str, float] = {}
        self._last_run: RunReport | None = None
        self._last_dry_run: RunReport | None = None
        self._pbx_was_failing = False
        self._swap_seen: str | None = None
        self._swap_watched = False

    # -- what the UI and the metrics read --------------------------------------------------

    def counts(self) -> dict[DriftKind, int]:
        """Unresolved drifts per kind (open, repairing and repair_failed), every kind present."""
        return self.drifts.counts()

    def drift_by_room(self) -> dict[str, list[Drift]]:
        """Unresolved drifts, by room."""
        return self.drifts.by_room()

    @property
    def last_run(self) -> RunReport | None:
        """The newest recorded run: this process's, unless the ledger holds a newer one (from the
        command line, or before a restart), which comes without its drift rows."""
        stored = self.ledger.get_value(LAST_RUN_KEY)
        recorded = RunReport.from_summary(json.loads(stored)) if stored else None
        if self._last_run is None or (recorded is not None and recorded.finished_at > self._last_run.finished_at):
            return recorded
        return self._last_run

    @property
    def latest_check(self) -> RunReport | None:
        """The newest result of either kind: the last recorded run, or this process's last dry
        run (which records nothing, so it is known only here)."""
        reports = [report for report in (self.last_run, self._last_dry_run) if report is not None]
        return max(reports, key=lambda report: report.finished_at, default=None)

    # -- when to run ------------------------------------------------------------------------

    def request_run(self, reason: str, delay: float = 0.0) -> None:
        """Ask for a run in ``delay`` seconds (served by ``watch``); a reason already waiting keeps
        the earlier time. Safe to call from any thread."""
        due = self._monotonic() + delay
        with self._requests_lock:
            self._requests[reason] = min(due, self._requests.get(reason, due))

    def run_scheduled(self) -> RunReport | None:
        """The scheduled run; while ``hold`` gives a reason it becomes a request served later."""
        reason = self.hold() if self.hold is not None else None
        if reason is not None:
            log.info("reconciliation postponed: %s", reason)
            self.request_run("scheduled")
            return None
        return self.run(reason="scheduled")

    def watch(self) -> RunReport | None:
        """Notice the PBX's return from an outage and PMS database swaps (unless automatic runs
        are off: ``reconcile.enabled``), and serve due requests."""
        if self.settings.enabled:
            self._notice_pbx_return()
            self._notice_swap()
        now = self._monotonic()
        with self._requests_lock:
            due = sorted(reason for reason, at in self._requests.items() if at <= now)
        if not due:
            return None
        held = self.hold() if self.hold is not None else None
        if held is not None:
            log.info("reconciliation (%s) postponed: %s", ", ".join(due), held)
            return None
        with self._requests_lock:
            for reason in due:
                self._requests.pop(reason, None)
        return self.run(reason=", ".join(due))

    def _notice_pbx_return(self) -> None:
        health = self.client.health
        failing = health.last_error_at is not None and (
            health.last_success is None or health.last_error_at > health.last_success)
        if self.dispatcher is not None and self.dispatcher.health.pause_reason is not None:
            failing = True
        if self._pbx_was_failing and not failing and health.last_success is not None:
            log.info("the PBX answers again: reconciling")
            self.request_run("the PBX is back")
        self._pbx_was_failing = failing

    def _notice_swap(self) -> None:
        seen = self.ledger.get_value(SWAP_SEEN_KEY)
        if self._swap_watched and seen != self._swap_seen:
            self.request_run("PMS database swap", delay=self.settings.after_swap_delay_seconds)
        self._swap_seen, self._swap_watched = seen, True

    def stop(self) -> None:
        """Cut a run's paced reads short (the service is stopping)."""
        self._stopping.set()

    # -- a run ------------------------------------------------------------------------------

    def run(self, *, reason: str = "on demand", dry_run: bool = False) -> RunReport:
        """Read the PBX, compare, record drift and (unless ``dry_run``) repair per policy.

        A PBX that cannot be read ends the run with ``error`` set; nothing is recorded then.
        ``dry_run`` writes nothing at all: no drift rows, no deliveries, no cursor.
        """
        with self._run_lock:
            started = self.ledger.clock()
            try:
                report = self._run(reason, started, dry_run)
            except PbxError as err:
                log.warning("reconciliation (%s) could not read the PBX: %s", reason, err)
                report = RunReport(reason=reason, started_at=started, finished_at=self.ledger.clock(),
                                   dry_run=dry_run, error=str(err))
            if dry_run:
                self._last_dry_run = report
            else:
                self._last_run = report
                self.ledger.set_value(LAST_RUN_KEY, json.dumps(report.summary()))
            return report

    def _run(self, reason: str, started: datetime, dry_run: bool) -> RunReport:
        listing = self.reader.accounts()
        states = self.ledger.room_states()
        extensions = {room: self.mapping.extension(room) for room in states}
        moving = self.ledger.rooms_in_motion(started)

        # DND and forward only mean something on an extension checked in on both sides.
        shown_occupied = {extension for extension, account in listing.accounts.items() if account.occupied}
        candidates = [room for room, state in states.items()
                      if state.occupied and room not in moving and extensions[room] in shown_occupied]
        awaiting = [drift.room for drift in self.drifts.unresolved() if drift.kind in DETAIL_KINDS]
        cursor = self.ledger.get_value(CURSOR_KEY) or None
        chosen, next_cursor = rotation(candidates, awaiting, cursor, self.settings.max_detail_requests)
        details = self.reader.details([extensions[room] for room in chosen])

        # Whatever moved while the PBX was read cannot be judged from what was read.
        moving = self.ledger.rooms_in_motion(started)
        comparisons = []
        skipped = 0
        for room, state in sorted(states.items(), key=lambda item: room_order(item[0])):
            extension = extensions[room]
            if extension is None:
                continue
            if room in moving:
                skipped += 1
                continue
            account = None if extension in details.missing else listing.accounts.get(extension)
            comparisons.append(compare_room(state, extension, account, details.details.get(extension), self.names))
        found = self.drifts.observe(comparisons, max_repair_attempts=self.settings.max_repair_attempts,
                                    dry_run=dry_run)
        repaired: dict[str, tuple[int, ...]] = {}
        if not dry_run:
            self.ledger.set_value(CURSOR_KEY, next_cursor or "")
            found, repaired = self._repair(found, states)
            self.drifts.prune(self.retention)
        report = RunReport(
            reason=reason, started_at=started, finished_at=self.ledger.clock(), dry_run=dry_run,
            extensions=len(listing.accounts), listing_requests=listing.requests, detail_requests=details.requests,
            rooms_compared=len(comparisons), rooms_skipped=skipped, drifts=tuple(found), repaired=repaired,
        )
        counts = ", ".join(f"{kind} {count}" for kind, count in report.counts().items() if count)
        log.info("reconciliation (%s%s): %d extensions in %d listAccount pages, %d detail reads; %d rooms "
                 "compared, %d skipped while changing; %d drifts%s; %d rooms repaired", reason,
                 ", dry run" if dry_run else "", report.extensions, report.listing_requests,
                 report.detail_requests, report.rooms_compared, report.rooms_skipped, len(found),
                 f" ({counts})" if counts else "", len(repaired))
        return report

    def _policy(self, kind: DriftKind) -> str:
        return getattr(self.settings.policy, kind.value)

    def _repair(self, found: list[Drift], states: Mapping[str, RoomState]
                ) -> tuple[list[Drift], dict[str, tuple[int, ...]]]:
        """Queue repairs for open drifts whose policy is "repair", at most max_repairs_per_run rooms."""
        wanted: dict[str, list[Drift]] = defaultdict(list)
        for drift in found:
            repairable = drift.kind in REPAIRABLE_KINDS and self._policy(drift.kind) == "repair"
            if drift.state == DriftState.OPEN and repairable:
                wanted[drift.room].append(drift)
        repaired: dict[str, tuple[int, ...]] = {}
        marked: dict[int, Drift] = {}
        for room in sorted(wanted, key=room_order):
            if len(repaired) >= self.settings.max_repairs_per_run:
                log.info("reconciliation: repair cap (%d rooms) reached; %d rooms wait for the next run",
                         self.settings.max_repairs_per_run, len(wanted) - len(repaired))
                break
            deliveries = self._queue_repair(room, states[room], wanted[room], actor="reconcile")
            if deliveries:
                repaired[room] = deliveries
                marked.update({drift.id: drift for drift in wanted[room]})
        now = self.ledger.clock()
        updated = [replace(drift, state=DriftState.REPAIRING, repair_attempts=drift.repair_attempts + 1,
                           last_repair_at=now) if drift.id in marked else drift for drift in found]
        return updated, repaired

    def _queue_repair(self, room: str, state: RoomState, drifts: Iterable[Drift], *, actor: str) -> tuple[int, ...]:
        drifts = list(drifts)
        found = {drift.kind for drift in drifts}
        if not repair_operations(state, found):
            return ()
        kinds = ", ".join(sorted(kind.value for kind in found))
        deliveries = self.ledger.enqueue_repair(room, partial(observed_pbx, kinds=found), based_on=state,
                                                actor=actor, reason=f"drift ({kinds})")
        if deliveries:
            self.drifts.mark_repairing(drift.id for drift in drifts)
            log.info("room %s: repair of %s queued (deliveries %s)", room, kinds,
                     ", ".join(map(str, deliveries)))
        else:
            log.info("room %s: the desired state changed since the drift was found; no repair queued", room)
        return deliveries

    # -- one room, on an operator's request -------------------------------------------------

    def repair(self, room: str, *, actor: str = "operator") -> RepairOutcome:
        """Look at ``room`` on the PBX now (one getSIPAccount) and queue the repair of every
        repairable drift found, whatever the policy and however often it was repaired before.

        Raises PbxError when the PBX cannot be read.
        """
        with self._run_lock:
            extension = self.mapping.extension(room)
            if extension is None:
                return RepairOutcome(room, (), note=f"room {room} has no extension (rooms.map or "
                                                    "rooms.extension_template)")
            started = self.ledger.clock()
            state = self.ledger.room_states([room]).get(room) or RoomState(room=room)
            account, details = self.reader.extension(extension)
            if room in self.ledger.rooms_in_motion(started):
                return RepairOutcome(room, tuple(self.drifts.unresolved(room)),
                                     note="deliveries for this room are on their way to the PBX; look again "
                                          "when they are done")
            comparison = compare_room(state, extension, account, details, self.names)
            found = self.drifts.observe([comparison], max_repair_attempts=self.settings.max_repair_attempts)
            repairable = [drift for drift in found if drift.kind in REPAIRABLE_KINDS]
            if not found:
                # The books take in the read; wake-ups the PBX never confirmed are sent again.
                deliveries = self.ledger.enqueue_repair(room, partial(observed_pbx, kinds=()), based_on=state,
                                                        actor=actor, reason="wake-ups not confirmed")
                return RepairOutcome(room, (), deliveries, note="the PBX matches the desired state")
            if not repairable:
                return RepairOutcome(room, tuple(found), note="pmsapi cannot repair this; see the extension on "
                                                              "the PBX")
            deliveries = self._queue_repair(room, state, repairable, actor=actor)
            if not deliveries:
                return RepairOutcome(room, tuple(found), note="the room changed meanwhile; look again")
            return RepairOutcome(room, tuple(self.drifts.unresolved(room)), deliveries)
