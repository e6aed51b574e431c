"""The drop folder: which files are ready, claiming them, reading them, archiving them afterwards.

- A file is *ready* once its size and modification time have been seen unchanged for
  ``settle_seconds`` (a PMS or a file share writing it is not done before), its name is not
  one of ``ignore_files`` (``*.tmp``, ``*.part``...) and it is a snapshot or delta file by
  name. Ready files are taken oldest first.
- Only regular files of the folder's own are read. A symbolic link (``envdump.csv ->
  /proc/self/environ``), a directory, a device file, a pipe or socket, and a file with other
  hard links (it may be a file from outside the folder) are refused with a log line naming
  them, once, and left where they are. A claimed file is opened with ``O_NOFOLLOW`` and
  checked again on the opened descriptor, so swapping one in after the check changes nothing:
  such an entry is set aside in the archive unread.
- Claiming renames the file into the processing folder under a unique name
  (``<UTC time>_<n>-<name>``); the rename is atomic, so a file is never read by two
  processes nor while it is being moved. The claimed name identifies the drop: delta rows
  get it (with their line) as idempotency key, so a file processed again after an
  interruption records each row once.
- A claimed file is read once; what was read is what is applied and what is archived. A
  file whose size or modification time differs from when it was seen settled, or changes
  while it is read, is not settled: nothing of it is applied, it stays claimed and is read
  again once it has been unchanged for ``settle_seconds``.
- Files still in the processing folder at the next poll were interrupted (a stop, a ledger
  that could not be written, a file not settled) and are processed again first, in claim
  order, once settled.
- Archiving writes the bytes that were applied into the archive folder, with the rejected
  rows next to them in ``<name>.rejected.csv`` (columns ``line``, ``reason``, then the
  file's own), then removes the claimed file. A claimed file that changed while it was
  processed stays claimed instead and is processed again once settled; its rows already
  recorded are not recorded twice (their keys hold the line and its text), and its new form
  is archived under a name of its own.
"""

from __future__ import annotations

import csv
import errno
import logging
import os
import re
import stat
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


class FileRefused(Exception):
    """Raised by ``DropFolder.read`` for an entry that is not a regular file of the folder's own; it was not read."""


class NotSettled(Exception):
    """Raised by ``DropFolder.read`` when the file changed since it was seen settled, or while it was read."""


@dataclass(frozen=True)
class ReadFile:
    """The bytes of a claimed file, read once, and the file's identity when they were read."""

    data: bytes
    size: int
    mtime_ns: int
    inode: int


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


def refusal(info: os.stat_result) -> str | None:
    """Why an entry is never read (its ``lstat`` or ``fstat``), or None for a regular file with one name."""
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    if not stat.S_ISREG(mode):
        return "not a regular file (a pipe or a socket)"
    if info.st_nlink > 1:
        return "a file with other hard links, which may be a file from outside the folder"
    return None


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
        self._claimed: dict[str, _Sighting] = {}
        self._refused: dict[str, tuple[int, str]] = {}
        self._claims = 0

    def prepare(self) -> None:
        if not self.inbox.is_dir():
            raise DropFolderMissing(f"the drop folder {self.inbox} does not exist")
        self.processing.mkdir(parents=True, exist_ok=True)
        self.archive_folder.mkdir(parents=True, exist_ok=True)

    def interrupted(self) -> list[Path]:
        """Entries claimed earlier and not archived, in claim order."""
        return sorted(self.processing.iterdir())

    def ready(self) -> list[str]:
        """Names of the inbox's files that have settled, oldest first; refuses what is not a file to read."""
        now = self.clock()
        present: dict[str, tuple[int, int]] = {}
        refused: set[str] = set()
        with os.scandir(self.inbox) as entries:
            for entry in entries:
                if self.settings.kind_of(entry.name) is None:
                    continue
                info = entry.stat(follow_symlinks=False)
                why = refusal(info)
                if why is None:
                    present[entry.name] = (info.st_size, info.st_mtime_ns)
                else:
                    refused.add(entry.name)
                    self._note_refused(entry.name, info.st_ino, why)
        for gone in set(self._sightings) - set(present):
            del self._sightings[gone]
        for gone in set(self._refused) - refused:
            del self._refused[gone]
        ready = [(mtime_ns, name) for name, (size, mtime_ns) in present.items()
                 if self._settled(self._sightings, name, size, mtime_ns, now)]
        return [name for _, name in sorted(ready)]

    def _settled(self, sightings: dict[str, _Sighting], name: str, size: int, mtime_ns: int, now: float) -> bool:
        """Whether a file has looked the same for ``settle_seconds``; a change starts the wait again."""
        sighting = sightings.get(name)
        if sighting is None or (sighting.size, sighting.mtime_ns) != (size, mtime_ns):
            sightings[name] = _Sighting(size, mtime_ns, now)
            return self.settings.settle_seconds <= 0
        return now - sighting.since >= self.settings.settle_seconds

    def _note_refused(self, name: str, inode: int, why: str) -> None:
        # Once per entry, not at every poll: it stays until someone removes it.
        if self._refused.get(name) == (inode, why):
            return
        self._refused[name] = (inode, why)
        log.warning("csvdrop: %s in %s is %s: refused, never read; remove it from the drop folder",
                    name, self.inbox, why)

    def settled(self, claimed: Path) -> bool:
        """Whether a claimed file has settled (looked the same for ``settle_seconds``); True for one to refuse."""
        info = os.lstat(claimed)
        if refusal(info) is not None:
            return True
        return self._settled(self._claimed, claimed.name, info.st_size, info.st_mtime_ns, self.clock())

    def claim(self, name: str) -> Path | None:
        """Move ``name`` into the processing folder; None when it is gone (another process took it)."""
        sighting = self._sightings.pop(name, None)
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
        if sighting is not None:
            # What settled in the inbox is what must be read; a rename keeps size and time.
            self._claimed[target.name] = sighting
        return target

    def read(self, claimed: Path) -> ReadFile:
        """Read a claimed file once, without following a link, and check it did not change.

        Raises ``FileRefused`` for anything but a regular file with one name (nothing is
        read from it) and ``NotSettled`` when the file differs from when it was seen settled
        or changed while it was read.
        """
        why = refusal(os.lstat(claimed))
        if why is not None:
            raise FileRefused(why)
        try:
            # O_NONBLOCK: a pipe swapped in after the check must not hang the poller in open().
            descriptor = os.open(claimed, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise FileRefused("a symbolic link") from None
            raise
        with os.fdopen(descriptor, "rb") as handle:
            before = os.fstat(descriptor)
            why = refusal(before)
            if why is not None:
                raise FileRefused(why)
            data = handle.read()
            after = os.fstat(descriptor)
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or len(data) != after.st_size:
            raise NotSettled("it changed while it was read")
        seen = self._claimed.get(claimed.name)
        if seen is not None and (seen.size, seen.mtime_ns) != (before.st_size, before.st_mtime_ns):
            raise NotSettled("it changed after it was seen settled")
        return ReadFile(data, before.st_size, before.st_mtime_ns, before.st_ino)

    def archive(self, claimed: Path, read: ReadFile, header: Sequence[str],
                rejected: Sequence[RejectedRow]) -> tuple[Path, bool]:
        """Archive the bytes that were applied, with their rejected rows; remove the claimed file.

        Returns where they went and whether the claimed file was removed: False when it
        changed since it was read, so it stays claimed to be processed again once settled.
        """
        target = self._archive_path(claimed.name)
        if rejected:
            self._write_rejected(self.archive_folder / rejected_name(target.name), header, rejected)
        with target.open("xb") as handle:
            handle.write(read.data)
        # Written before the removal: an interruption in between leaves the file to be processed again.
        now = os.lstat(claimed)
        if (now.st_size, now.st_mtime_ns, now.st_ino) != (read.size, read.mtime_ns, read.inode):
            return target, False
        os.unlink(claimed)
        self._claimed.pop(claimed.name, None)
        return target, True

    def set_aside(self, claimed: Path, reason: str) -> Path:
        """Move a claimed entry that is not read (a link, a directory...) to the archive, unopened."""
        target = self._archive_path(claimed.name)
        self._write_rejected(self.archive_folder / rejected_name(target.name), (), [RejectedRow(None, reason)])
        os.rename(claimed, target)
        self._claimed.pop(claimed.name, None)
        return target

    def _archive_path(self, name: str) -> Path:
        """``name`` in the archive, or ``<stem>.2<suffix>``... when a form of the same claim is there already."""
        path = Path(name)
        candidate, number = self.archive_folder / name, 1
        while candidate.exists() or candidate.is_symlink():
            number += 1
            candidate = self.archive_folder / f"{path.stem}.{number}{path.suffix}"
        return candidate

    def _write_rejected(self, path: Path, header: Sequence[str], rejected: Sequence[RejectedRow]) -> None:
        with path.open("w", encoding=REJECTED_ENCODING, newline="") as handle:
            writer = csv.writer(handle, delimiter=self.settings.delimiter)
            writer.writerow(["line", "reason", *header])
            for row in rejected:
                writer.writerow(["" if row.line is None else row.line, row.reason, *row.fields])
