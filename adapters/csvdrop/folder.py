"""The drop folder: which files are ready, claiming them, and archiving them afterwards.

- A file is *ready* once its size and modification time have been seen unchanged for
  ``settle_seconds`` (a PMS or a file share writing it is not done before), its name is not
  one of ``ignore_files`` (``*.tmp``, ``*.part``...) and it is a snapshot or delta file by
  name. Ready files are taken oldest first.
- Claiming renames the file into the processing folder under a unique name
  (``<UTC time>_<n>-<name>``); the rename is atomic, so a file is never read by two
  processes nor while it is being moved. The claimed name identifies the drop: delta rows
  get it (with their line) as idempotency key, so a file processed again after an
  interruption records each row once.
- Files still in the processing folder at the next poll were interrupted (a stop, a ledger
  that could not be written) and are processed again first, in claim order.
- Archiving moves a processed file into the archive folder, with its rejected rows next to
  it in ``<name>.rejected.csv`` (columns ``line``, ``reason``, then the file's own).
"""

from __future__ import annotations

import csv
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pmsbridge.adapters.csvdrop.config import CsvDropSettings

log = logging.getLogger(__name__)

_CLAIM_PREFIX = re.compile(r"^\d{8}T\d{12}Z_\d+-")
# The rejected-rows file opens in spreadsheet programs, which need the BOM to detect UTF-8.
REJECTED_ENCODING = "utf-8-sig"


class DropFolderMissing(Exception):
    """Raised at start when the drop folder does not exist."""


@dataclass(frozen=True)
class RejectedRow:
    line: int | None
    reason: str
    fields: Sequence[str] = ()


@dataclass
class _Sighting:
    size: int
    mtime_ns: int
    since: float


def original_name(claimed: Path) -> str:
    """The name the PMS gave a claimed file."""
    return _CLAIM_PREFIX.sub("", claimed.name, count=1)


def rejected_name(name: str) -> str:
    path = Path(name)
    return f"{path.stem if path.suffix.lower() == '.csv' else path.name}.rejected.csv"


class DropFolder:
    """The three folders of one file-drop adapter; see the module docstring."""

    def __init__(self, settings: CsvDropSettings, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.inbox = settings.folder
        self.processing = settings.processing_folder
        self.archive_folder = settings.archive_folder
        self.clock = clock
        self._sightings: dict[str, _Sighting] = {}
        self._claims = 0

    def prepare(self) -> None:
        if not self.inbox.is_dir():
            raise DropFolderMissing(f"the drop folder {self.inbox} does not exist")
        self.processing.mkdir(parents=True, exist_ok=True)
        self.archive_folder.mkdir(parents=True, exist_ok=True)

    def interrupted(self) -> list[Path]:
        """Files claimed earlier and not archived, in claim order."""
        return sorted(path for path in self.processing.iterdir() if path.is_file())

    def ready(self) -> list[str]:
        """Names of the inbox's files that have settled, oldest first."""
        now = self.clock()
        present: dict[str, tuple[int, int]] = {}
        with os.scandir(self.inbox) as entries:
            for entry in entries:
                if entry.is_file() and self.settings.kind_of(entry.name) is not None:
                    stat = entry.stat()
                    present[entry.name] = (stat.st_size, stat.st_mtime_ns)
        for gone in set(self._sightings) - set(present):
            del self._sightings[gone]
        ready: list[tuple[int, str]] = []
        for name, (size, mtime_ns) in present.items():
            sighting = self._sightings.get(name)
            if sighting is None or (sighting.size, sighting.mtime_ns) != (size, mtime_ns):
                self._sightings[name] = _Sighting(size, mtime_ns, now)
                if self.settings.settle_seconds > 0:
                    continue
            elif now - sighting.since < self.settings.settle_seconds:
                continue
            ready.append((mtime_ns, name))
        return [name for _, name in sorted(ready)]

    def claim(self, name: str) -> Path | None:
        """Move ``name`` into the processing folder; None when it is gone (another process took it)."""
        self._sightings.pop(name, None)
        stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}Z"
        while True:
            target = self.processing / f"{stamp}_{self._claims}-{name}"
            self._claims += 1
            if not target.exists():
                break
        try:
            os.rename(self.inbox / name, target)
        except FileNotFoundError:
            return None
        return target

    def archive(self, claimed: Path, header: Sequence[str], rejected: Sequence[RejectedRow]) -> Path:
        """Move a processed file to the archive, its rejected rows (if any) written next to it."""
        if rejected:
            # Written before the move: an interruption in between leaves the file to be processed again.
            self._write_rejected(self.archive_folder / rejected_name(claimed.name), header, rejected)
        target = self.archive_folder / claimed.name
        shutil.move(claimed, target)
        return target

    def _write_rejected(self, path: Path, header: Sequence[str], rejected: Sequence[RejectedRow]) -> None:
        with path.open("w", encoding=REJECTED_ENCODING, newline="") as handle:
            writer = csv.writer(handle, delimiter=self.settings.delimiter)
            writer.writerow(["line", "reason", *header])
            for row in rejected:
                writer.writerow(["" if row.line is None else row.line, row.reason, *row.fields])
