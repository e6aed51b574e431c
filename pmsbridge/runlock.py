"""One ``pmsbridge run`` per state directory, visible to the commands that must not run beside it.

``pmsbridge run`` holds an exclusive flock(2) on ``<state_dir>/pmsbridge.lock`` for its whole
life. The kernel drops the lock when the process ends, however it ends (kill -9 included),
so a crash never leaves a stale lock behind. ``pmsbridge restore`` takes the same lock
for the time it replaces the ledger, and so refuses while the service runs.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

LOCK_NAME = "pmsbridge.lock"


class AlreadyRunning(Exception):
    """Raised when another process holds the run lock of the state directory."""


class RunLock:
    """The run lock of ``state_dir``; a context manager (``acquire`` / ``release``)."""

    def __init__(self, state_dir: Path, purpose: str = "pmsbridge run"):
        self.path = Path(state_dir) / LOCK_NAME
        self.purpose = purpose
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock now or raise AlreadyRunning; never waits."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Read-only is enough for flock, so a lock file created by root (a restore run
        # with sudo) can still be locked by the service's own user.
        fd = os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(
                f"{self.purpose}: the bridge is running with this state directory (another process holds "
                f"{self.path}); stop it first (systemctl stop pmsbridge)"
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()

