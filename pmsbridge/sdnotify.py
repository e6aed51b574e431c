"""Telling systemd how the service is doing: READY, STOPPING, STATUS and the watchdog.

The protocol (sd_notify(3)) is one datagram per message, ``NAME=value`` lines, sent to the
AF_UNIX socket named by ``$NOTIFY_SOCKET``: a path, or ``@name`` for the abstract
namespace. systemd sets that variable for ``Type=notify`` units; without it every call here
does nothing, so the same code runs in a terminal, in tests and under systemd.

The watchdog (``WatchdogSec=`` in the unit) arrives as ``$WATCHDOG_USEC``, and, when systemd
also sets ``$WATCHDOG_PID``, is meant only for that process. ``WatchdogPinger`` sends
``WATCHDOG=1`` every half interval, but only while a liveness check passes: a process whose
worker thread died or whose database hangs stops pinging and is restarted by systemd,
instead of being kept alive by a thread that merely still runs.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"
WATCHDOG_USEC_ENV = "WATCHDOG_USEC"
WATCHDOG_PID_ENV = "WATCHDOG_PID"


def socket_address(value: str) -> str:
    """The address to send to: a leading ``@`` names the abstract namespace (a NUL byte)."""
    return "\0" + value[1:] if value.startswith("@") else value


class Notifier:
    """Sends notifications to systemd; a no-op when ``address`` is None.

    Failures to send are logged and swallowed: a broken notification socket must not stop a
    bridge that is otherwise working (systemd will notice the missing messages anyway).
    """

    def __init__(self, address: str | None):
        self.address = socket_address(address) if address else None
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        return cls(environ.get(NOTIFY_SOCKET_ENV) or None)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *assignments: str) -> bool:
        """Send ``NAME=value`` assignments in one message; True when it was sent."""
        if self.address is None:
            return False
        message = "\n".join(assignments).encode("utf-8")
        with self._lock:
            try:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # Never block: a watchdog ping that cannot be queued now is worth nothing later,
                # and a blocked send would hold up the stop behind it.
                self._socket.sendto(message, socket.MSG_DONTWAIT, self.address)
            except OSError as err:
                log.warning("cannot notify systemd (%s): %s", assignments[0] if assignments else "", err)
                return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def close(self) -> None:
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None


def watchdog_interval(environ: Mapping[str, str] = os.environ, pid: int | None = None) -> float | None:
    """Seconds between two pings: half of ``$WATCHDOG_USEC``; None when no watchdog is set for us.

    ``$WATCHDOG_PID``, when present, must be this process (``pid``, default ``os.getpid()``):
    a child that inherited the environment is not the one being watched.
    """
    usec = environ.get(WATCHDOG_USEC_ENV, "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    watched = environ.get(WATCHDOG_PID_ENV)
    if watched and watched != str(pid if pid is not None else os.getpid()):
        return None
    return int(usec) / 1_000_000 / 2


class WatchdogPinger:
    """A thread sending ``WATCHDOG=1`` every ``interval`` seconds while ``is_alive()`` is true.

    A failing (or raising) check skips that ping; the first skip of a series is logged as a
    warning, with the reason when ``is_alive`` raised, and the recovery as info.
    """

    def __init__(self, notifier: Notifier, interval: float, is_alive: Callable[[], bool]):
        if interval <= 0:
            raise ValueError("the watchdog interval must be positive")
        self.notifier = notifier
        self.interval = interval
        self.is_alive = is_alive
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._healthy = True

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def ping_if_alive(self) -> bool:
        """Check, and ping when the check passes; True when a ping was sent."""
        try:
            alive, reason = bool(self.is_alive()), "the liveness check failed"
        except Exception as err:
            alive, reason = False, f"the liveness check raised {type(err).__name__}: {err}"
        if not alive:
            if self._healthy:
                log.warning("not feeding the systemd watchdog: %s", reason)
            self._healthy = False
            return False
        if not self._healthy:
            log.info("feeding the systemd watchdog again")
        self._healthy = True
        return self.notifier.watchdog()

    def _run(self) -> None:
        # Ping at once: the first interval must not pass unfed while the first wait runs.
        while not self._stopping.is_set():
            self.ping_if_alive()
            self._stopping.wait(self.interval)
