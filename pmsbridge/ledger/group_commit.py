"""Group commit: items handed in together, or while another commit runs, share one transaction.

A commit on a durable ledger costs a sync to disk (SQLite with synchronous=FULL) or a
round trip and a WAL flush (PostgreSQL), whatever it holds. ``GroupCommit`` lets every
caller write as if alone (``submit`` returns once its own items are committed) while
items that queue up during a commit go together in the next one:

- a caller that finds no commit running writes its items at once, not waiting for
  company: a single item is never delayed;
- items handed in while a commit runs wait for it to end (milliseconds) and are then
  written by one of their callers in one transaction, at most ``limit`` at a time, in
  the order they were handed in;
- a group is all or nothing. When its transaction fails, each of its items is written
  again in a transaction of its own, so one bad item (a duplicate key, a value the
  database refuses) fails only its own caller and never the others of its group;
- one caller's items are written in order, and once one of them fails the ones after it
  are not written at all (they fail with ``NotWritten``): the caller can hand them in
  again in order, and nothing it handed in overtakes an item that failed.

The caller that writes a group is the one whose items are oldest in the queue; it then
returns as soon as its own items are written, and a caller still waiting takes over.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class NotWritten(Exception):
    """An item was not written because an item handed in before it, in the same call, failed."""


class _Submission:
    """The items of one ``submit`` call: the first failure among them, once there is one."""

    __slots__ = ("failed",)

    def __init__(self) -> None:
        self.failed: BaseException | None = None


class _Entry(Generic[Item, Result]):
    __slots__ = ("item", "submission", "result", "error", "done")

    def __init__(self, item: Item, submission: _Submission):
        self.item = item
        self.submission = submission
        self.result: Result | None = None
        self.error: BaseException | None = None
        self.done = False

    def fail(self, error: BaseException) -> None:
        self.error, self.done = error, True
        if self.submission.failed is None:
            self.submission.failed = error


class GroupCommit(Generic[Item, Result]):
    """Writes items in shared transactions; see the module docstring.

    ``write_group(items)`` writes items in one transaction and returns their results in
    order, or raises leaving nothing written; after a group failed it is called again with
    each item alone.
    """

    def __init__(self, write_group: Callable[[list[Item]], Sequence[Result]], *, limit: int):
        if limit < 1:
            raise ValueError("a group holds at least one item")
        self._write_group = write_group
        self._limit = limit
        self._changed = threading.Condition()
        self._queue: deque[_Entry[Item, Result]] = deque()
        self._writing = False  # a caller is writing a group

    def submit(self, items: Sequence[Item]) -> list[Result | BaseException]:
        """Write ``items``; returns once all are committed (or failed), each one's result or
        the exception that kept it from being written."""
        submission = _Submission()
        entries = [_Entry(item, submission) for item in items]
        if not entries:
            return []
        with self._changed:
            self._queue.extend(entries)
            # Groups are taken oldest first: once the last of ours is done, all of ours are.
            while not entries[-1].done:
                if self._writing:
                    self._changed.wait()
                    continue
                self._writing = True
                group = [self._queue.popleft() for _ in range(min(self._limit, len(self._queue)))]
                self._changed.release()
                try:
                    self._write(group)
                finally:
                    self._changed.acquire()
                    self._writing = False
                    self._changed.notify_all()
        return [entry.error if entry.error is not None else entry.result for entry in entries]

    def _write(self, group: list[_Entry[Item, Result]]) -> None:
        group = self._without_failed(group)
        try:
            try:
                results = self._write_group([entry.item for entry in group]) if group else []
            except Exception:
                if len(group) == 1:
                    raise
                for entry in group:  # nothing of the group was written: each on its own
                    if not self._without_failed([entry]):
                        continue
                    try:
                        (entry.result,) = self._write_group([entry.item])
                    except Exception as err:
                        entry.fail(err)
                    entry.done = True
                return
            for entry, result in zip(group, results, strict=True):
                entry.result, entry.done = result, True
        except BaseException as err:
            for entry in group:
                if not entry.done:
                    entry.fail(err)
            if not isinstance(err, Exception):
                raise

    @staticmethod
    def _without_failed(group: list[_Entry[Item, Result]]) -> list[_Entry[Item, Result]]:
        """``group`` less the items whose submission already failed (those fail as NotWritten)."""
        kept = []
        for entry in group:
            if entry.done:
                continue
            if entry.submission.failed is not None:
                entry.error, entry.done = NotWritten(f"not written: an earlier item failed "
                                                     f"({entry.submission.failed})"), True
            else:
                kept.append(entry)
        return kept
