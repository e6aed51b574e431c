"""``CsvDropAdapter``: a PMS that exports files into a folder instead of talking to the bridge.

One thread looks at the folder every ``poll_interval`` seconds (``poll_once``): files left
in the processing folder by an interruption first, then the settled new ones (see
``folder``). Each file is read (``reader``) and, by its kind:

- a *delta* file records one event per row (``rows``), the row's text as the raw input;
  rows that cannot be used are kept with ``record_rejected`` and written to the
  rejected-rows file; the others go on;
- a *snapshot* is compared with the ledger's rooms and the resulting check-ins,
  checkouts and guest changes are recorded, unless the guard holds them (``snapshot``).

A file that cannot be used at all is rejected whole: kept in the ledger with the reason and
archived with a rejected-rows file holding that reason. An entry that is not a regular file
of the folder's own (a link, a directory, a device) is never read (``folder``). When the
ledger cannot be written, or the file is not settled (it changed after it was seen settled,
or while it was read or processed), the file stays claimed and is tried again at a later
poll; later files wait, so that delta files still apply in order.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as wall_time
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from pmsbridge.adapters.base import Adapter, AdapterContext, LinkState
from pmsbridge.adapters.csvdrop.config import CsvDropSettings
from pmsbridge.adapters.csvdrop.folder import (
    DropFolder,
    FileRefused,
    NotSettled,
    ReadFile,
    RejectedRow,
    original_name,
)
from pmsbridge.adapters.csvdrop.reader import DropFile, FileRejected, decode, read_drop_file
from pmsbridge.adapters.csvdrop.rows import RowReader, RowRejected
from pmsbridge.adapters.csvdrop.snapshot import HELD_SNAPSHOT_KEY, held_reason, plan_snapshot, read_snapshot
from pmsbridge.adapters.fias.swap import held_from_json, held_to_json
from pmsbridge.ledger.models import EventStatus
from pmsbridge.ledger.store import Incoming, RecordResult, RecordsNotWritten

log = logging.getLogger(__name__)

# events.EventBase.source_key holds at most this many characters; longer keys are hashed.
MAX_SOURCE_KEY = 200
# A file's events are handed to the ledger this many at a time (it writes them in shared
# transactions); a stop is noticed between two such chunks.
ROWS_AT_ONCE = 256


class _Interrupted(Exception):
    """Raised inside a file's processing when the adapter is stopping; the file stays claimed."""


@dataclass
class FileOutcome:
    """What became of one file."""

    name: str
    kind: str
    recorded: int = 0
    duplicates: int = 0
    rejected: int = 0
    held: bool = False
    rejected_whole: str | None = None
    archived_as: Path | None = None


def row_key(claimed_name: str, line: int, raw: str) -> str:
    """A delta row's idempotency key: the claim, the line and the line's text.

    The text is part of it because a file that changed while it was processed is processed
    again: its unchanged rows are then duplicates, and a rewritten row is a row of its own.
    """
    digest = hashlib.sha256(raw.encode("utf-8", errors="surrogatepass")).hexdigest()[:16]
    key = f"{claimed_name}:{line}:{digest}"
    return key if len(key) <= MAX_SOURCE_KEY else "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


class CsvDropAdapter(Adapter):
    """Reads delta and snapshot files dropped into a folder; see the module docstring."""

    name = "csvdrop"
    config_model = CsvDropSettings

    def __init__(self, config: CsvDropSettings, context: AdapterContext, *,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(config, context)
        self.ledger = context.ledger
        self.folder = DropFolder(config, clock)
        self.rows = RowReader(config, context.settings.bridge.zone,
                              wall_time.fromisoformat(context.settings.rooms.default_departure_time))
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        self.folder.prepare()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="csvdrop", daemon=True)
        self._thread.start()
        self.status.change(LinkState.UP, f"watching {self.config.folder}")

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the csvdrop poller did not stop within %.1f s", timeout)
        self.status.change(LinkState.DOWN, "stopped")

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except Exception as err:  # the poller must survive anything a folder or a file throws at it
                log.exception("csvdrop: looking at %s failed", self.config.folder)
                self.status.change(LinkState.UP, f"last poll failed: {err}")
            self._stopping.wait(self.config.poll_interval)

    # -- the work -------------------------------------------------------------------------

    def poll_once(self) -> list[FileOutcome]:
        """Process interrupted files, then the ready ones; stops at the first that must wait."""
        outcomes: list[FileOutcome] = []
        if self._process_all(self.folder.interrupted(), outcomes) and self._process_all(self._claim_ready(), outcomes):
            self._show_state()
        return outcomes

    def _claim_ready(self) -> Iterator[Path]:
        # Claimed one at a time, just before processing: a file that must wait keeps the later ones unclaimed.
        for name in self.folder.ready():
            if self._stopping.is_set():
                return
            claimed = self.folder.claim(name)
            if claimed is not None:
                yield claimed

    def _process_all(self, claimed_files: Iterable[Path], outcomes: list[FileOutcome]) -> bool:
        """Process files in order; False when one stays claimed (the later ones wait)."""
        for claimed in claimed_files:
            outcome = self._process(claimed)
            if outcome is None:
                return False
            outcomes.append(outcome)
        return True

    def _show_state(self) -> None:
        """The status line: a held snapshot (possibly confirmed or discarded since) or the folder watched."""
        plan = held_from_json(self.ledger.get_value(HELD_SNAPSHOT_KEY))
        self.status.change(LinkState.UP, held_reason(plan) if plan else f"watching {self.config.folder}")

    def _process(self, claimed: Path) -> FileOutcome | None:
        """Process one claimed file; None when it stays claimed for a later poll."""
        name = original_name(claimed)
        kind = self.config.kind_of(name) or "delta"
        outcome = FileOutcome(name, kind)
        if not self.folder.settled(claimed):
            return None
        try:
            read = self.folder.read(claimed)
        except NotSettled as err:
            log.info("csvdrop: %s is not settled (%s); it is read again once it stops changing", name, err)
            return None
        except FileRefused as err:
            outcome.rejected_whole = f"refused, not read: it is {err}"
            outcome.archived_as = self.folder.set_aside(claimed, outcome.rejected_whole)
            log.warning("csvdrop: %s %s; set aside as %s", name, outcome.rejected_whole, outcome.archived_as)
            return outcome
        data = read.data
        try:
            if kind == "snapshot":
                rejected, header = self._snapshot(name, data, outcome)
            else:
                rejected, header = self._delta(claimed, data, outcome)
        except FileRejected as err:
            return self._reject_whole(claimed, name, read, str(err), outcome)
        except _Interrupted:
            log.info("csvdrop: stopping; %s stays claimed and is finished at the next start", name)
            return None
        except SQLAlchemyError:
            log.exception("csvdrop: the ledger could not be written; %s is tried again at the next poll", name)
            self.status.change(LinkState.UP, f"{name} waits: the ledger could not be written")
            return None
        except Exception as err:  # a file that breaks the adapter is set aside, not retried for ever
            log.exception("csvdrop: %s could not be processed", name)
            return self._reject_whole(claimed, name, read, f"could not be processed: {err}", outcome)
        outcome.archived_as, removed = self.folder.archive(claimed, read, header, rejected)
        outcome.rejected = len(rejected)
        if not removed:
            log.warning("csvdrop: %s changed while it was processed: the %d bytes applied are archived as %s; it is"
                        " processed again once it stops changing (rows recorded are not recorded twice)",
                        name, read.size, outcome.archived_as.name)
            return None
        log.info("csvdrop: %s (%s): %d recorded, %d duplicates, %d rejected%s", name, kind, outcome.recorded,
                 outcome.duplicates, outcome.rejected, ", held" if outcome.held else "")
        return outcome

    def _record_rows(self, rows: list[Incoming], outcome: FileOutcome) -> list[RecordResult]:
        """Record a file's events in order, in shared transactions (one sync to disk for many);
        a stop is noticed between chunks. A row the ledger cannot write raises its error: the
        file stays claimed and is read again, and the rows recorded are answered as duplicates."""
        results = []
        for first in range(0, len(rows), ROWS_AT_ONCE):
            if self._stopping.is_set():
                raise _Interrupted
            try:
                chunk = self.ledger.record_many(rows[first:first + ROWS_AT_ONCE])
            except RecordsNotWritten as err:
                raise err.__cause__ from err
            for result in chunk:
                self._count(result, outcome)
            results += chunk
        return results

    def _count(self, result: RecordResult, outcome: FileOutcome) -> None:
        if result.duplicate:
            outcome.duplicates += 1
            self.status.count("duplicate")
        elif result.status == EventStatus.REJECTED:  # refused at the door, kept with its reason
            outcome.rejected += 1
            self.status.count("rejected")
        else:
            outcome.recorded += 1
            self.status.count("recorded")
            self.status.last_record_at = datetime.now(UTC)

    def _reject_row(self, name: str, line: int, raw: str, reason: str) -> None:
        self.status.count("rejected")
        self.ledger.record_rejected(self.config.source, raw, f"{name} line {line}: {reason}")

    def _delta(self, claimed: Path, data: bytes, outcome: FileOutcome) -> tuple[list[RejectedRow], tuple[str, ...]]:
        drop = read_drop_file(data, self.config, required=("action", "room"), trailer_required=False)
        self._note_reading(outcome.name, drop)
        rejected: list[RejectedRow] = []
        understood = []
        for row in drop.rows:
            try:
                event = self.rows.delta_event(row, source=self.config.source,
                                              source_key=row_key(claimed.name, row.line, row.raw),
                                              occurred_at=self.ledger.clock())
            except RowRejected as err:
                self._reject_row(outcome.name, row.line, row.raw, str(err))
                rejected.append(RejectedRow(row.line, str(err), row.fields))
                continue
            understood.append((row, Incoming(event, row.raw)))
        results = self._record_rows([incoming for _, incoming in understood], outcome)
        for (row, _), result in zip(understood, results):
            if result.status == EventStatus.REJECTED and not result.duplicate:
                rejected.append(RejectedRow(row.line, result.notes[0], row.fields))
        rejected.sort(key=lambda item: item.line or 0)
        return rejected, drop.header

    def _snapshot(self, name: str, data: bytes, outcome: FileOutcome) -> tuple[list[RejectedRow], tuple[str, ...]]:
        drop = read_drop_file(data, self.config, required=("room",), trailer_required=True)
        self._note_reading(name, drop)
        now = self.ledger.clock()
        reading = read_snapshot(drop, self.rows, source=self.config.source, now_utc=now)
        rejected: list[RejectedRow] = []
        for row, problem in reading.rejected:
            reason = f"{problem} (room left as it is)"
            self._reject_row(name, row.line, row.raw, reason)
            rejected.append(RejectedRow(row.line, reason, row.fields))
        plan = plan_snapshot(self.ledger.room_states(), reading, file_name=name, source=self.config.source,
                             now_utc=now, guard=self.config.snapshot_checkout_guard)
        if plan.held:
            reason = f"{name}: {held_reason(plan)}"
            self.ledger.set_value(HELD_SNAPSHOT_KEY, held_to_json(plan))
            self.ledger.audit(self.config.source, "snapshot held", detail=reason)
            log.warning("csvdrop: %s", reason)
            self.status.count("held")
            outcome.held = True
        else:
            self._record_rows([Incoming(pending.event, pending.raw) for pending in plan.events], outcome)
            if self.ledger.get_value(HELD_SNAPSHOT_KEY):
                self.ledger.set_value(HELD_SNAPSHOT_KEY, "")
                log.warning("csvdrop: the held snapshot is dropped: %s brought the rooms up to date", name)
        return rejected, drop.header

    def _reject_whole(self, claimed: Path, name: str, read: ReadFile, reason: str,
                      outcome: FileOutcome) -> FileOutcome | None:
        self.status.count("rejected_files")
        try:
            raw, _ = decode(read.data, self.config.encodings)
        except FileRejected:
            raw = read.data.decode("utf-8", errors="backslashreplace")
        self.ledger.record_rejected(self.config.source, raw, f"{name} rejected whole: {reason}")
        log.warning("csvdrop: %s rejected whole: %s", name, reason)
        outcome.rejected_whole = reason
        outcome.archived_as, removed = self.folder.archive(
            claimed, read, (), [RejectedRow(None, f"file rejected whole: {reason}")])
        if not removed:
            log.warning("csvdrop: %s changed while it was processed; its new form is read once it stops changing",
                        name)
            return None
        return outcome

    def _note_reading(self, name: str, drop: DropFile) -> None:
        log.debug("csvdrop: %s read as %s: %d rows", name, drop.encoding, len(drop.rows))
        if drop.ignored_columns:
            log.info("csvdrop: %s: columns ignored (no alias knows them): %s", name, ", ".join(drop.ignored_columns))
