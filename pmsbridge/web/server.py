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

The connections are watched with ``poll`` rather than ``select``, which cannot watch
descriptors numbered 1024 or more, and the process's descriptor limit is raised to fit
``connection_limit`` where the hard limit allows (the systemd unit sets it with
``LimitNOFILE``).
"""

from __future__ import annotations

import logging
import resource
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


def create_web_server(app: Flask, settings: WebSettings, *, sockets: dict[int, object]) -> BaseWSGIServer:
    """A waitress server for ``app`` on ``web.listen``, not yet running (call ``run``).

    ``sockets`` becomes the server's socket map, so that the caller can close every
    connection when it stops.
    """
    from waitress import create_server

    raise_descriptor_limit(settings.connection_limit + OTHER_DESCRIPTORS)
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
