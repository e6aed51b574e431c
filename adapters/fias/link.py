"""The FIAS link: one TCP connection to the PMS, its handshake, alive check and reconnects.

Client mode (the usual case: the PMS's interface is the TCP server) keeps one connection
open and reconnects with exponential backoff and jitter between ``reconnect_min`` and
``reconnect_max`` seconds. Server mode listens, and a new connection from the PMS replaces
the old one, as the PMS's own interface does.

On each connection::

    PMS                     bridge
    LS|DA|TI|        ->
                     <-     LD|DA|TI|V#..|IFPB|
                     <-     LR|RI..|FL..|          one per record type used
                     <-     LA|DA|TI|
    LA|DA|TI|        ->     the link is up; buffered and live records follow

The bridge sends LS every ``alive_interval`` seconds, which the PMS answers with LA; a
connection that brings no byte for ``dead_after`` seconds is dead and is dropped. LE ends
the link either way: ``stop`` sends LE and waits up to about 2 s for the PMS's LE.

One reader thread per connection cuts the bytes into records and hands every record that
is not part of the link layer to the ``LinkHandler``, in order. Sending is serialised by a
lock and allowed from any thread. Bad input never ends the link: framing faults and
records that fail to parse are passed to ``LinkHandler.on_fault`` with their bytes, and
the reader carries on; the decoder's ``max_record`` bounds what one record can buffer.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import Protocol

from pmsbridge.adapters.base import LinkState
from pmsbridge.adapters.fias.config import FiasSettings
from pmsbridge.adapters.fias.protocol import (
    LINK_LAYER_RECORDS,
    RECORDS_WE_USE,
    FrameDecoder,
    FramingError,
    Record,
    RecordError,
    compose_record,
    encode_frame,
    link_alive,
    link_description,
    link_end,
    link_records,
    link_start,
    parse_record,
)

log = logging.getLogger(__name__)

# How often the reader wakes without data, to run the timers (alive check, dead link,
# the handler's own); the bound on how late any of them fires.
TICK = 0.2
# How long each side waits for the other's LE (the FIAS specification's "about 2 s").
LE_WAIT = 2.0
RECEIVE_CHUNK = 65536


class LinkHandler(Protocol):
    """What the link tells its owner. Called from reader threads, one call at a time per connection."""

    def on_record(self, record: Record, payload: bytes) -> None:
        """A record that is not part of the link layer (LS LD LR LA LE), in arrival order."""

    def on_fault(self, problem: str, data: bytes) -> None:
        """Bytes that are not a readable record: a framing fault or a record that failed to parse."""

    def on_up(self) -> None:
        """The handshake completed: the PMS will send buffered and live records."""

    def on_down(self) -> None:
        """The connection that was up (or coming up) ended."""

    def on_tick(self) -> None:
        """Called about every ``TICK`` seconds while a connection is open."""

    def on_state(self, state: LinkState, detail: str | None) -> None:
        """The link changed state (down, connecting, up)."""


class _Connection:
    """One TCP connection and what the handshake knows about it."""

    def __init__(self, sock: socket.socket, peer: str, settings: FiasSettings) -> None:
        self.sock = sock
        self.peer = peer
        self.decoder = FrameDecoder(settings.max_record, settings.lrc)
        self.send_lock = threading.Lock()
        self.handshake_sent = False
        self.up = False
        self.was_up = False
        self.closed = False
        self.peer_ended = threading.Event()
        self.finished = threading.Event()
        self.last_received = time.monotonic()
        self.last_alive_sent = time.monotonic()
        self.reader: threading.Thread | None = None
        # Records are small and answers are awaited: send each at once.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class FiasLink:
    """The TCP link to the PMS; see the module docstring.

    ``local_now`` gives the hotel's local wall-clock time (naive) for the DA/TI stamps.
    """

    def __init__(self, settings: FiasSettings, handler: LinkHandler, local_now: Callable[[], dt.datetime]) -> None:
        self.settings = settings
        self.handler = handler
        self.local_now = local_now
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._connection: _Connection | None = None
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._failures = 0

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start connecting (client) or listening (server); returns at once.

        In server mode the listening socket is bound before this returns, so ``port`` is
        known. Raises ``OSError`` when it cannot be bound.
        """
        self._stopping.clear()
        if self.settings.mode == "server":
            self._listener = socket.create_server((self.settings.host, self.settings.port), reuse_port=False)
            self._listener.settimeout(TICK)
            target, name = self._serve, "fias-listen"
        else:
            target, name = self._keep_connected, "fias-link"
        self.handler.on_state(LinkState.CONNECTING if self.settings.mode == "client" else LinkState.DOWN,
                              self._where())
        self._thread = threading.Thread(target=target, name=name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Send LE, wait up to about 2 s for the PMS's, close and join, all within ``timeout``."""
        deadline = time.monotonic() + timeout
        self._stopping.set()
        connection = self._connection
        if connection is not None and connection.up and not connection.closed:
            if self._write(connection, link_end(self.local_now())):
                # The reader finishes on the PMS's LE, or when the PMS simply closes.
                connection.finished.wait(max(0.0, min(LE_WAIT, deadline - time.monotonic() - 0.5)))
        if connection is not None:
            connection.close()
        if self._listener is not None:
            self._listener.close()
        for thread in (self._thread, connection.reader if connection else None):
            if thread is not None and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        self._thread = None

    @property
    def up(self) -> bool:
        connection = self._connection
        return connection is not None and connection.up and not connection.closed

    @property
    def port(self) -> int | None:
        """The port listened on (server mode), useful when the settings say 0."""
        return self._listener.getsockname()[1] if self._listener is not None else None

    # -- sending --------------------------------------------------------------------------

    def send(self, record: Record) -> bool:
        """Send a record to the PMS if the link is up; False when it is not (nothing was sent).

        Raises ValueError for a record the site encoding cannot carry.
        """
        connection = self._connection
        if connection is None or not connection.up or connection.closed:
            return False
        return self._write(connection, record)

    def _write(self, connection: _Connection, record: Record) -> bool:
        frame = encode_frame(compose_record(record.type, record.fields, self.settings.encoding), self.settings.lrc)
        with connection.send_lock:
            if connection.closed:
                return False
            try:
                connection.sock.sendall(frame)
            except OSError as err:
                log.warning("FIAS link to %s: sending %s failed (%s); closing the connection",
                            connection.peer, record.type, err)
                connection.close()
                return False
        log.debug("FIAS sent %s", frame[1:-1].decode(self.settings.encoding, errors="backslashreplace"))
        return True

    # -- client mode ------------------------------------------------------------------------

    def _keep_connected(self) -> None:
        while not self._stopping.is_set():
            self.handler.on_state(LinkState.CONNECTING, self._where())
            try:
                sock = socket.create_connection((self.settings.host, self.settings.port),
                                                timeout=self.settings.connect_timeout)
            except OSError as err:
                self._failures += 1
                delay = self._backoff()
                log.warning("FIAS: cannot connect to %s (%s); next attempt in %.1f s", self._where(), err, delay)
                self.handler.on_state(LinkState.DOWN, f"cannot connect to {self._where()}: {err}")
                self._stopping.wait(delay)
                continue
            connection = _Connection(sock, self._where(), self.settings)
            connection.reader = threading.current_thread()
            self._run(connection)
            if not connection.was_up:
                # A PMS that takes the connection but never completes the handshake must not
                # be redialled at the shortest interval forever.
                self._failures += 1
            if not self._stopping.is_set():
                delay = self._backoff()
                log.info("FIAS: reconnecting to %s in %.1f s", self._where(), delay)
                self._stopping.wait(delay)

    def _backoff(self) -> float:
        """Doubling from reconnect_min up to reconnect_max, jittered over the upper half."""
        ceiling = min(self.settings.reconnect_max, self.settings.reconnect_min * 2 ** max(0, self._failures - 1))
        return max(self.settings.reconnect_min, random.uniform(ceiling / 2, ceiling))

    # -- server mode ------------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if not self._stopping.is_set():
                    log.exception("FIAS: the listening socket failed")
                    self.handler.on_state(LinkState.FAILED, f"cannot accept connections on {self._where()}")
                return
            previous = self._connection
            if previous is not None and not previous.closed:
                log.warning("FIAS: a new connection from %s:%s replaces the one from %s",
                            address[0], address[1], previous.peer)
                previous.close()
            if previous is not None and previous.reader is not None:
                previous.reader.join(5.0)
            connection = _Connection(sock, f"{address[0]}:{address[1]}", self.settings)
            connection.reader = threading.Thread(target=self._run, args=(connection,), name="fias-reader",
                                                 daemon=True)
            connection.reader.start()

    # -- one connection ---------------------------------------------------------------------

    def _run(self, connection: _Connection) -> None:
        """Read one connection until it ends; the connection's reader thread."""
        with self._lock:
            self._connection = connection
        connection.sock.settimeout(TICK)
        log.info("FIAS: connected to %s; waiting for the PMS's LS", connection.peer)
        self.handler.on_state(LinkState.CONNECTING, f"connected to {connection.peer}, handshake in progress")
        reason = "closed"
        try:
            reason = self._read(connection)
        finally:
            was_up = connection.up
            connection.up = False
            if not connection.closed:
                connection.close()
            if was_up:
                log.warning("FIAS: link to %s is down (%s)", connection.peer, reason)
            else:
                log.info("FIAS: connection to %s ended before the link came up (%s)", connection.peer, reason)
            self.handler.on_down()
            if not self._stopping.is_set():
                self.handler.on_state(LinkState.DOWN, f"link to {connection.peer} is down: {reason}")
            connection.finished.set()

    def _read(self, connection: _Connection) -> str:
        """The read loop; returns why it ended.

        It runs on while ``stop`` waits for the PMS's LE, until ``stop`` closes the socket.
        """
        while not connection.closed:
            try:
                data = connection.sock.recv(RECEIVE_CHUNK)
            except TimeoutError:
                data = None
            except OSError as err:
                return "closed" if connection.closed else f"receive failed: {err}"
            now = time.monotonic()
            if data == b"":
                return "the PMS closed the connection"
            if data:
                connection.last_received = now
                self.receive(connection, data)
                if connection.peer_ended.is_set():
                    return "link ended (LE)" if self._stopping.is_set() else "the PMS ended the link (LE)"
            elif now - connection.last_received > self.settings.dead_after:
                return f"nothing received for {self.settings.dead_after:g} s"
            if now - connection.last_alive_sent >= self.settings.alive_interval:
                connection.last_alive_sent = now
                self._write(connection, link_start(self.local_now()))
            self.handler.on_tick()
        return "closed"

    def receive(self, connection: _Connection, data: bytes) -> None:
        """Cut ``data`` into records and act on each; never raises for any input."""
        for item in connection.decoder.feed(data):
            if isinstance(item, FramingError):
                self.handler.on_fault(f"framing fault ({item})", item.data)
                continue
            try:
                record = parse_record(item.payload, self.settings.encoding)
            except RecordError as err:
                self.handler.on_fault(f"unreadable record: {err.reason}", item.payload)
                continue
            if record.type in LINK_LAYER_RECORDS:
                self._on_link_record(connection, record)
                continue
            try:
                self.handler.on_record(record, item.payload)
            except Exception as err:
                # A fault in handling one record must not end the link for the next.
                log.exception("FIAS: handling a %s record failed", record.type)
                self.handler.on_fault(f"the bridge failed to handle this record: {err}", item.payload)

    def _on_link_record(self, connection: _Connection, record: Record) -> None:
        if record.type == "LS":
            # The PMS (re)starts the link: describe ourselves. Records keep flowing meanwhile.
            now = self.local_now()
            for answer in (link_description(now), *link_records(RECORDS_WE_USE), link_alive(now)):
                if not self._write(connection, answer):
                    return
            connection.handshake_sent = True
        elif record.type == "LA":
            if connection.handshake_sent and not connection.up:
                connection.up = connection.was_up = True
                self._failures = 0
                log.info("FIAS: link to %s is up", connection.peer)
                self.handler.on_state(LinkState.UP, f"linked to {connection.peer}")
                self.handler.on_up()
        elif record.type == "LE":
            if not self._stopping.is_set() and connection.up:
                self._write(connection, link_end(self.local_now()))
            connection.peer_ended.set()
        else:
            log.debug("FIAS: %s from the PMS: %s", record.type, record.fields)

    def _where(self) -> str:
        if self.settings.mode == "server":
            port = self.port if self._listener is not None else self.settings.port
            return f"listening on {self.settings.host}:{port}"
        return f"{self.settings.host}:{self.settings.port}"
