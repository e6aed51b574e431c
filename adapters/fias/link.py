"""The FIAS link: one TCP connection to the PMS, its handshake, alive check and reconnects.

Client mode (the usual case: the PMS's interface is the TCP server) keeps one connection
open and reconnects with exponential backoff and jitter between ``reconnect_min`` and
``reconnect_max`` seconds.

Server mode listens on a port the hotel network reaches, so it trusts no one by default:

- a connection from an address outside ``allowed_peers`` (by default ``host`` itself) is
  closed at once, with a log line (one per address and minute);
- a new connection from an allowed address replaces the current one, as the PMS's own
  interface does: an IFC8 that reconnects, or its standby after a failover, must not wait
  for a dead link to time out. Only the PMS's own addresses can do that;
- records other than the handshake's are acted on only once the link is up; earlier ones
  are handed to ``on_fault`` (kept as rejected input, never applied). Client mode acts on
  them, as it always did: there the bridge chose its peer, and older IFCs send records right
  after LS without waiting for the bridge's LA.

On each connection::

    PMS                     bridge
    LS|DA|TI|        ->
                     <-     LD|DA|TI|V#..|IFPB|
                     <-     LR|RI..|FL..|          one per record type used
                     <-     LA|DA|TI|
    LA|DA|TI|        ->     the link is up; buffered and live records follow

The link comes up on the LA that answers the bridge's LD/LR/LA. FIAS gives an answer no mark
of what it answers, so an LA counts only when it came in a later read than the LS the
bridge answered: an LA the PMS sent with its LS, or before any LS, answers nothing and is
ignored, and the bridge sends no alive check (LS, answered LA) before the link is up, so
no answer to one can pass for the handshake's.

Once up, the bridge sends LS every ``alive_interval`` seconds, which the PMS answers with
LA; a connection that brings no byte for ``dead_after`` seconds is dead and is dropped. LE
ends the link either way: ``stop`` sends LE and waits up to about 2 s for the PMS's LE.

One reader thread per connection cuts the bytes into records and hands every record that
is not part of the link layer to the ``LinkHandler``, in order. Sending is serialised by a
lock and allowed from any thread. Bad input never ends the link: framing faults, records
that fail to parse, records before the handshake (server mode) and a record cut off by the
end of the connection are passed to ``LinkHandler.on_fault`` with their bytes, and the
reader carries on; the decoder's ``max_record`` bounds what one record can buffer.

A record whose bytes read as UTF-8 on a link set to a single-byte code page is read as the
configured page all the same (the setting is the site's contract, and switching per record
would misread a genuine cp1252 text), and the log says which encoding is configured and
what the record would read as in UTF-8, once per connection.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
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
    utf8_reading,
)

log = logging.getLogger(__name__)

# How often the reader wakes without data, to run the timers (alive check, dead link,
# the handler's own); the bound on how late any of them fires.
TICK = 0.2
# How long each side waits for the other's LE (the FIAS specification's "about 2 s").
LE_WAIT = 2.0
RECEIVE_CHUNK = 65536
# A refused address is logged at most once in this many seconds (a scanner retries quickly).
REFUSAL_LOG_INTERVAL = 60.0
# Addresses remembered for that; a sweep of many addresses must not grow the memory for ever.
MAX_REFUSALS_REMEMBERED = 1024


class LinkHandler(Protocol):
    """What the link tells its owner. Called from reader threads, one call at a time per connection."""

    def on_record(self, record: Record, payload: bytes) -> None:
        """A record that is not part of the link layer (LS LD LR LA LE), in arrival order."""

    def on_fault(self, problem: str, data: bytes) -> None:
        """Bytes not acted on: a framing fault, a record that failed to parse, a record cut off by
        the end of the connection, or (server mode) a record before the link was up."""

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
        self.reads = 0
        self.handshake_read = 0
        self.up = False
        self.was_up = False
        self.closed = False
        self.close_reason: str | None = None
        self.encoding_noted = False
        self.peer_ended = threading.Event()
        self.finished = threading.Event()
        self.last_received = time.monotonic()
        self.last_alive_sent = time.monotonic()
        self.reader: threading.Thread | None = None
        # Records are small and answers are awaited: send each at once.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self, reason: str | None = None) -> None:
        """Close the socket; ``reason`` says why when the bridge itself ends the connection."""
        if not self.closed and reason is not None:
            self.close_reason = reason
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
        self._peers = settings.peer_networks() if settings.mode == "server" else ()
        self._refusals_logged: dict[str, float] = {}

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
            connection.close("the bridge is stopping")
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
                connection.close(f"the bridge closed the connection: sending {record.type} failed ({err})")
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
            peer = f"{address[0]}:{address[1]}"
            if not self._allowed(address[0]):
                self._refuse(sock, address[0], peer)
                continue
            previous = self._connection
            if previous is not None and not previous.closed:
                log.warning("FIAS: a new connection from %s (an allowed PMS address) replaces the one from %s",
                            peer, previous.peer)
                previous.close(f"the bridge closed the connection: replaced by a new one from {peer}")
            if previous is not None and previous.reader is not None:
                previous.reader.join(5.0)
            connection = _Connection(sock, peer, self.settings)
            connection.reader = threading.Thread(target=self._run, args=(connection,), name="fias-reader",
                                                 daemon=True)
            connection.reader.start()

    def _allowed(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack listener sees IPv4 PMSs this way
        return any(address in network for network in self._peers)

    def _refuse(self, sock: socket.socket, host: str, peer: str) -> None:
        now = time.monotonic()
        if now - self._refusals_logged.get(host, -REFUSAL_LOG_INTERVAL) < REFUSAL_LOG_INTERVAL:
            log.debug("FIAS: refused another connection from %s", peer)
        else:
            if len(self._refusals_logged) >= MAX_REFUSALS_REMEMBERED:
                self._refusals_logged = {known: at for known, at in self._refusals_logged.items()
                                         if now - at < REFUSAL_LOG_INTERVAL}
            self._refusals_logged[host] = now
            allowed = ", ".join(str(network) for network in self._peers)
            log.warning("FIAS: refused a connection from %s: not a PMS address in adapters.fias.allowed_peers (%s)",
                        peer, allowed)
        sock.close()

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
            cut_off = connection.decoder.finish()
            if cut_off is not None:
                self.handler.on_fault(f"record cut off by the end of the connection ({reason})", cut_off.data)
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
                return connection.close_reason or ("closed" if connection.closed else f"receive failed: {err}")
            now = time.monotonic()
            if data == b"":
                # Shutting a socket down ends its own reads too: who closed it is known here.
                return connection.close_reason or "the PMS closed the connection"
            if data:
                connection.last_received = now
                connection.reads += 1
                self.receive(connection, data)
                if connection.peer_ended.is_set():
                    return "link ended (LE)" if self._stopping.is_set() else "the PMS ended the link (LE)"
            elif now - connection.last_received > self.settings.dead_after:
                return f"nothing received for {self.settings.dead_after:g} s"
            if connection.up and now - connection.last_alive_sent >= self.settings.alive_interval:
                connection.last_alive_sent = now
                self._write(connection, link_start(self.local_now()))
            self.handler.on_tick()
        return connection.close_reason or "closed"

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
            if self.settings.mode == "server" and not connection.up:
                self.handler.on_fault(f"{record.type} record before the link was established (the PMS's LS,"
                                      " the bridge's LD/LR/LA, the PMS's LA): not acted on", item.payload)
                continue
            self._note_encoding(connection, record, item.payload)
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
            description = link_description(now)
            for answer in (description, *link_records(RECORDS_WE_USE), link_alive(now)):
                if not self._write(connection, answer):
                    return
            connection.handshake_sent = True
            connection.handshake_read = connection.reads
            log.info("FIAS: described the bridge to %s (pmsbridge, PBX interface IFPB, V#%s)",
                     connection.peer, description.get("V#"))
        elif record.type == "LA":
            if connection.up:
                return
            if not connection.handshake_sent or connection.reads == connection.handshake_read:
                log.info("FIAS: LA from %s ignored: it does not answer the bridge's LD/LR/LA (it came %s)",
                         connection.peer, "before any LS" if not connection.handshake_sent else "with the LS")
                return
            connection.up = connection.was_up = True
            connection.last_alive_sent = time.monotonic()
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

    def _note_encoding(self, connection: _Connection, record: Record, payload: bytes) -> None:
        if connection.encoding_noted:
            return
        as_utf8 = utf8_reading(payload, self.settings.encoding)
        if as_utf8 is None:
            return
        connection.encoding_noted = True
        log.warning("FIAS: a %s record from %s looks like UTF-8 (%s) but adapters.fias.encoding is %s, and it is"
                    " read as %s; if the PMS sends UTF-8, set encoding = \"utf-8\" (noted once per connection)",
                    record.type, connection.peer, as_utf8, self.settings.encoding, self.settings.encoding)

    def _where(self) -> str:
        if self.settings.mode == "server":
            port = self.port if self._listener is not None else self.settings.port
            return f"listening on {self.settings.host}:{port}"
        return f"{self.settings.host}:{self.settings.port}"
