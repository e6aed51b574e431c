"""The web server: waitress, set up for a hotel network that guests' devices and the
internet (webhooks) can reach.

``create_web_server`` is the one place the service builds it. What it refuses before a
request reaches Flask:

- more than ``web.connection_limit`` open connections (waitress stops accepting until some
  close), set well above what a slowloris from one laptop holds so that ``/healthz``, the
  board and the webhooks still get through while hundreds of connections trickle headers;
- a connection idle for ``web.channel_timeout`` seconds (closed);
- request headers over ``web.max_request_header_size`` bytes (431);
- a body over ``MAX_REQUEST_BYTES``, the largest any route takes (413): a declared
  ``Content-Length`` is refused before a byte of the body is read, a chunked body when it
  passes the limit, so no request, authenticated or not, is buffered beyond it.

When every thread is busy, waitress warns "Task queue depth is N" for each request that
waits; ``QueueWarningFilter`` lets one such line through per minute, so a burst of a
thousand webhooks logs one line, not a thousand.

The connections are watched with ``poll`` rather than ``select``, which cannot watch
descriptors numbered 1024 or more, and the process's descriptor limit is raised to fit
``connection_limit`` where the hard limit allows (the systemd unit sets it with
``LimitNOFILE``).
"""

from __future__ import annotations

import logging
import resource
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask
    from waitress.server import BaseWSGIServer

    from pmsbridge.config import WebSettings

log = logging.getLogger(__name__)

# The largest request body any route takes: a webhook (adapters.webhook max_body_bytes may
# not exceed it) or a form. Flask's MAX_CONTENT_LENGTH and waitress's limit both use it.
MAX_REQUEST_BYTES = 1024 * 1024
# Threads answering requests; the rest wait in waitress's queue.
WEB_THREADS = 8
# Descriptors the process needs besides the web connections (database, PBX, PMS links, logs).
OTHER_DESCRIPTORS = 256
# At most one "Task queue depth" warning in this many seconds.
QUEUE_WARNING_INTERVAL = 60.0


def create_web_server(app: Flask, settings: WebSettings, *, sockets: dict[int, object]) -> BaseWSGIServer:
    """A waitress server for ``app`` on ``web.listen``, not yet running (call ``run``).

    ``sockets`` becomes the server's socket map, so that the caller can close every
    connection when it stops.
    """
    from waitress import create_server

    raise_descriptor_limit(settings.connection_limit + OTHER_DESCRIPTORS)
    install_queue_warning_filter()
    host, port = settings.host_port
    return create_server(
        app, host=host, port=port, threads=WEB_THREADS, ident="pmsbridge", map=sockets,
        connection_limit=settings.connection_limit,
        channel_timeout=settings.channel_timeout,
        # The maintenance pass that closes idle connections runs this often.
        cleanup_interval=max(1, min(30, int(settings.channel_timeout // 2))),
        max_request_header_size=settings.max_request_header_size,
        # waitress refuses a body of this size or more: a body of exactly MAX_REQUEST_BYTES passes.
        max_request_body_size=MAX_REQUEST_BYTES + 1,
        asyncore_use_poll=True,
    )


def raise_descriptor_limit(wanted: int) -> None:
    """Raise the soft limit of open files to ``wanted`` (at most the hard limit); warn when it stays lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (OSError, ValueError):
        # A system call filter (the systemd unit's) may forbid it: LimitNOFILE sets it there.
        target = soft
    if target < wanted:
        log.warning("the process may open only %d files (hard limit); web.connection_limit needs about %d: "
                    "raise LimitNOFILE in the systemd unit or lower web.connection_limit", target, wanted)


class QueueWarningFilter(logging.Filter):
    """Lets one of waitress's "Task queue depth is N" warnings through per ``interval`` seconds.

    Under a burst waitress warns for every request that finds all threads busy (a thousand
    webhooks, nearly a thousand lines). A burst still shows, once; the next line that passes
    says how many were folded since the one before and the deepest queue they saw.
    """

    def __init__(self, interval: float = QUEUE_WARNING_INTERVAL, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._last_passed: float | None = None
        self._folded = 0
        self._deepest = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Task queue depth"):
            return True
        depth = record.args[0] if isinstance(record.args, tuple) and record.args else 0
        with self._lock:
            now = self.clock()
            if self._last_passed is not None and now - self._last_passed < self.interval:
                self._folded += 1
                self._deepest = max(self._deepest, depth)
                return False
            folded, deepest = self._folded, max(self._deepest, depth)
            self._last_passed, self._folded, self._deepest = now, 0, 0
        if folded:
            record.msg = "Task queue depth is %d (%d more such warnings folded since the last line, the deepest %d)"
            record.args = (depth, folded, deepest)
        else:
            record.msg = "Task queue depth is %d (all web threads busy; further warnings folded for %d s)"
            record.args = (depth, int(self.interval))
        return True


def install_queue_warning_filter() -> None:
    """Put one ``QueueWarningFilter`` on waitress's queue logger (once per process)."""
    logger = logging.getLogger("waitress.queue")
    if not any(isinstance(existing, QueueWarningFilter) for existing in logger.filters):
        logger.addFilter(QueueWarningFilter())
