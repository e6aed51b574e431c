"""TCP plumbing of the simulator: one connection at a time, as a server or as a client.

`Connection` owns a socket, cuts what arrives into frames on its own reader thread and
writes frames when told to. `Listener` accepts connections (server mode) and `Dialer`
connects out and dials again after a loss (client mode); both hand every new socket to
the simulator, which decides what the link means.
"""

from __future__ import annotations

import enum
import logging
import socket
import threading
from collections.abc import Callable

from pmsbridge.adapters.fias.protocol import Frame, FrameDecoder, FramingError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 2.0
ACCEPT_POLL = 0.5
READ_CHUNK = 4096


class Handshake(enum.Enum):
    """Where a connection stands in the FIAS link handshake."""

    AWAITING_DESCRIPTION = "awaiting LD"
    AWAITING_ALIVE = "awaiting LA"
    UP = "up"


class Connection:
    """One TCP connection to the bridge.

    ``handshake``, ``link_records`` (LR: record type -> field ids) and ``ending`` (an LE was
    sent, the next LE or EOF closes) are kept by the simulator under its lock.
    """

    def __init__(self, sock: socket.socket, peer: str, lrc: bool) -> None:
        self.sock = sock
        self.peer = peer
        self.closed = threading.Event()
        self.handshake = Handshake.AWAITING_DESCRIPTION
        self.link_records: dict[str, str] = {}
        self.ending = False
        self._decoder = FrameDecoder(lrc=lrc)
        self._reader: threading.Thread | None = None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def start_reading(self, on_items: Callable[[Connection, list[Frame | FramingError]], None],
                      on_closed: Callable[[Connection], None]) -> None:
        """Read on a thread of its own; ``on_closed`` runs once when the connection is gone."""
        self._reader = threading.Thread(target=self._read, args=(on_items, on_closed),
                                        name=f"fias-sim-read-{self.peer}", daemon=True)
        self._reader.start()

    def send(self, frame: bytes) -> None:
        """Write one frame; raises OSError when the connection is gone."""
        self.sock.sendall(frame)

    def close(self) -> None:
        """Close abruptly, without LE; the reader thread notices and finishes."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by the peer

    def join(self, timeout: float | None = None) -> None:
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout)

    def _read(self, on_items: Callable[[Connection, list[Frame | FramingError]], None],
              on_closed: Callable[[Connection], None]) -> None:
        try:
            while True:
                try:
                    data = self.sock.recv(READ_CHUNK)
                except OSError as err:
                    log.debug("connection from %s failed: %s", self.peer, err)
                    break
                if not data:
                    break
                on_items(self, self._decoder.feed(data))
        finally:
            self.sock.close()
            self.closed.set()
            on_closed(self)


NewSocket = Callable[[socket.socket, str], Connection | None]
"""Told of each new socket and its peer; returns the `Connection` made of it (None: refused)."""


class Listener:
    """Accepts connections on ``host:port`` (port 0: a free one) until closed."""

    def __init__(self, host: str, port: int, on_socket: NewSocket) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self._socket = socket.create_server((host, port), family=family)
        except OSError as err:
            raise OSError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
        # The timeout only bounds how long close() may wait where shutdown() does not wake accept().
        self._socket.settimeout(ACCEPT_POLL)
        self._on_socket = on_socket
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=f"fias-sim-accept-{self.port}", daemon=True)

    @property
    def port(self) -> int:
        return self._socket.getsockname()[1]

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # not every platform allows shutting down a listening socket
        self._thread.join()
        self._socket.close()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                sock, address = self._socket.accept()
            except TimeoutError:
                continue
            except OSError as err:
                if not self._closing.is_set():
                    log.warning("accepting connections failed: %s", err)
                return
            sock.settimeout(None)
            self._on_socket(sock, f"{address[0]}:{address[1]}")


class Dialer:
    """Connects to the bridge at ``host:port`` and dials again ``interval`` s after each loss."""

    def __init__(self, host: str, port: int, interval: float, on_socket: NewSocket) -> None:
        self._address = (host, port)
        self._interval = interval
        self._on_socket = on_socket
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._dial, name=f"fias-sim-dial-{port}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop dialling; the current connection is the simulator's to close."""
        self._closing.set()
        self._thread.join()

    def _dial(self) -> None:
        host, port = self._address
        while not self._closing.is_set():
            try:
                sock = socket.create_connection(self._address, timeout=CONNECT_TIMEOUT)
            except OSError as err:
                log.debug("cannot connect to the bridge at %s:%s: %s", host, port, err)
                self._closing.wait(self._interval)
                continue
            sock.settimeout(None)
            connection = self._on_socket(sock, f"{host}:{port}")
            while connection is not None and not connection.closed.wait(ACCEPT_POLL):
                if self._closing.is_set():
                    return
            self._closing.wait(self._interval)
