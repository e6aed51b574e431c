"""`FiasSimulator`: the PMS side of a FIAS link (Oracle IFC8-like) on a real TCP socket.

Link behaviour, as IFC8 does it:

- on connect the simulator sends ``LS|DA|TI|``; the bridge answers LD, one LR per record
  type, then LA; the simulator answers that LA with LA, sends the records buffered while
  the link was down, then live ones. With ``require_link_description`` nothing but LS goes
  out before the bridge's LA, and an LA without an LD before it is ignored;
- an LS from the bridge (alive check) is answered LA; an LE is answered LE and the
  connection closed; a new connection replaces the old one (one client per port);
- DR is answered DS, a GI with SF for every in-house guest, DE; PS is recorded in the folio
  and answered PA; WA is recorded.

Every record the PMS produces (check-in, wake-up, ...) is first built and encoded, then the
hotel state changes, then the record goes out or into the buffer, all under one lock: the
bridge sees records in the order the hotel changed, and a name the site encoding cannot
write raises ValueError without changing anything.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from pmsbridge.adapters.fias.protocol import (
    Frame,
    FramingError,
    Record,
    RecordError,
    compose_record,
    encode_frame,
    link_alive,
    link_end,
    link_start,
    parse_amount,
    parse_datetime,
    parse_record,
)
from pmsbridge.sim.fias import records
from pmsbridge.sim.fias.activity import RandomActivity
from pmsbridge.sim.fias.hotel import Guest, Hotel
from pmsbridge.sim.fias.link import Connection, Dialer, Handshake, Listener
from pmsbridge.sim.fias.options import SimulatorOptions
from pmsbridge.sim.fias.script import run_script

log = logging.getLogger(__name__)

MOVE_STYLES = ("GC", "GO+GI", "GI+GO")

# guest_change() keyword -> Guest attribute; values are converted the way check_in() does.
_CHANGEABLE = {
    "last_name": "last_name",
    "first_name": "first_name",
    "title": "title",
    "language": "language",
    "vip": "vip",
    "group": "group",
    "arrival": "arrival",
    "departure": "departure",
    "cos": "class_of_service",
}


@dataclasses.dataclass(frozen=True)
class _Outgoing:
    record: Record
    frame: bytes


class FiasSimulator:
    """A simulated PMS speaking FIAS over TCP on 127.0.0.1 (or wherever it is told).

    `start` returns once the simulator listens (server mode) or dials (client mode); `stop`
    sends LE and closes; the simulator is a context manager too. Every method is
    thread-safe. Methods that send a record raise ValueError for a room the hotel does not
    have, a guest that is not there, or text the site encoding cannot write.

    Observed from the bridge: `received` (every record the bridge sent, in order), `folio`
    (its postings) and `folio_total` (what they add up to), `wakeup_answers` (its WA records), `link_records` (its LR
    announcements), `faults` (framing and record errors). Sent to the bridge: `sent`.
    """

    def __init__(self, options: SimulatorOptions | None = None) -> None:
        self.options = options or SimulatorOptions()
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._hotel = Hotel(self.options.rooms)
        self._received: list[Record] = []
        self._sent: list[Record] = []
        self._folio: list[dict[str, Any]] = []
        self._faults: list[str] = []
        self._backlog: collections.deque[_Outgoing] = collections.deque()
        self._connection: Connection | None = None
        self._connections: list[Connection] = []
        self._next_message_id = 1
        self._stopping = threading.Event()
        self._server: Listener | Dialer | None = None
        self._port = self.options.port
        self._workers: list[threading.Thread | threading.Timer] = []
        self._activity: RandomActivity | None = None
        self._state = "new"

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Listen (server mode; returns once the port is bound) or start dialling (client mode).

        Raises OSError when the port cannot be bound, RuntimeError when called twice.
        """
        if self._state != "new":
            raise RuntimeError("a simulator can be started only once")
        if self.options.mode == "server":
            listener = Listener(self.options.host, self.options.port, self._on_socket)
            self._port = listener.port
            self._server = listener
            log.info("FIAS simulator listening on %s:%s", self.options.host, self._port)
        else:
            self._server = Dialer(self.options.host, self.options.port, self.options.reconnect_interval,
                                  self._on_socket)
            log.info("FIAS simulator connecting to the bridge at %s:%s", self.options.host, self._port)
        self._state = "running"
        self._server.start()

    def stop(self) -> None:
        """Stop random activity, send LE, wait up to ``link_end_wait`` s for the bridge's LE, close."""
        if self._state != "running":
            self._state = "stopped"
            return
        self._state = "stopped"
        self.stop_random_activity()
        self._stopping.set()
        with self._lock:
            connection = self._connection
            if connection is not None:
                connection.ending = True
                self._write(connection, link_end(self._now()))
        if connection is not None:
            connection.closed.wait(self.options.link_end_wait)
        with self._lock:
            connections, workers = list(self._connections), list(self._workers)
        for each in connections:
            each.close()
            each.join()
        for worker in workers:
            if isinstance(worker, threading.Timer):
                worker.cancel()
            worker.join()
        assert self._server is not None
        self._server.close()
        log.info("FIAS simulator stopped")

    def __enter__(self) -> FiasSimulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (server mode, after `start`) or the bridge's port (client mode)."""
        return self._port

    def now(self) -> dt.datetime:
        """Hotel local time, from the options' clock."""
        return self._now()

    # ------------------------------------------------------------------ observation

    @property
    def hotel(self) -> Hotel:
        """A snapshot of the simulator's own state (rooms -> guests, DND, wake-ups, ...)."""
        with self._lock:
            return self._hotel.copy()

    @property
    def received(self) -> list[Record]:
        """Every record the bridge sent (LD, LR, LA, WA, PS, DR, LS, ...), in order."""
        with self._lock:
            return list(self._received)

    @property
    def sent(self) -> list[Record]:
        """Every record written to the bridge, in order (buffered ones when they went out)."""
        with self._lock:
            return list(self._sent)

    @property
    def folio(self) -> list[dict[str, Any]]:
        """Postings received, each ``{sequence, room, type, amount, dialled, duration, answered, record}``.

        ``sequence`` is the P# (an int when numeric), ``amount`` minor units (TA, or MA for
        minibar) or None, ``duration`` a timedelta or None, ``answered`` the AS sent back
        (None until, or unless, a PA went out).
        """
        with self._lock:
            return [dict(entry) for entry in self._folio]

    def folio_total(self, room: str | None = None) -> int:
        """The amounts (minor units) of the postings answered OK, for ``room`` or the whole hotel."""
        with self._lock:
            return sum(entry["amount"] or 0 for entry in self._folio
                       if entry["answered"] == "OK" and (room is None or entry["room"] == room))

    @property
    def wakeup_answers(self) -> list[Record]:
        """The WA records the bridge sent."""
        with self._lock:
            return [record for record in self._received if record.type == "WA"]

    @property
    def link_records(self) -> dict[str, str]:
        """The current connection's LR announcements: record type -> field ids."""
        with self._lock:
            return dict(self._connection.link_records) if self._connection else {}

    @property
    def faults(self) -> list[str]:
        """Framing faults and malformed records from the bridge, one sentence each."""
        with self._lock:
            return list(self._faults)

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._connection is not None

    def link_up(self, timeout: float = 5.0) -> bool:
        """Wait until the handshake of the current connection completed (the bridge's LA)."""
        with self._changed:
            return self._changed.wait_for(self._link_is_up, timeout)

    def wait_for(self, predicate: Callable[[list[Record]], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate(received)`` holds; False when ``timeout`` s passed first."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                seen = list(self._received)
            if predicate(seen):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._changed:
                self._changed.wait_for(lambda: len(self._received) != len(seen), remaining)

    # ------------------------------------------------------------------ guests

    def check_in(self, room: str, last_name: str, first_name: str | None = None, reservation: str | None = None,
                 language: str = "EA", vip: str | int | None = None, arrival: dt.date | None = None,
                 departure: dt.date | None = None, shared: bool = False, cos: int | None = None,
                 title: str | None = None, group: str | None = None) -> str:
        """Send GI and return the reservation (G#), a new one unless ``reservation`` is given.

        A guest joining an occupied room is sent with GS=Y (so is one with ``shared``); a GI
        for a reservation already in the room updates it, as a PMS repeating itself does.
        """
        with self._lock:
            self._hotel.require_room(room)
            if reservation is not None:
                elsewhere = self._hotel.room_of(reservation)
                if elsewhere not in (None, room):
                    raise ValueError(f"reservation {reservation} is in room {elsewhere}; move it instead")
            existing = {guest.reservation: guest for guest in self._hotel.guests(room)}
            reservation = reservation if reservation is not None else self._hotel.new_reservation()
            if reservation in existing:
                shared = shared or existing[reservation].shared
            else:
                shared = shared or bool(existing)
            guest = Guest(reservation=reservation, last_name=last_name, first_name=first_name, title=title,
                          language=language, vip=None if vip is None else str(vip), group=group,
                          arrival=_as_date(arrival), departure=_as_date(departure),
                          class_of_service=_class_of_service(cos), shared=shared)
            outgoing = self._prepare([records.check_in(room, guest, self._now())])
            self._hotel.put_guest(room, guest)
            self._deliver(outgoing)
            return reservation

    def check_out(self, room: str, reservation: str | None = None) -> None:
        """Send GO (with G# when ``reservation`` is given: only that guest leaves).

        A GO for a vacant room still goes out (a PMS repeats itself); the bridge must take
        it as a no-op.
        """
        with self._lock:
            guests = self._hotel.guests(room)
            others_remain = reservation is not None and any(g.reservation != reservation for g in guests)
            outgoing = self._prepare([records.check_out(room, reservation, others_remain, self._now())])
            self._hotel.remove_guests(room, reservation)
            self._deliver(outgoing)

    def guest_change(self, room: str, reservation: str | None = None, **fields: Any) -> None:
        """Send GC with the guest's data after the change (the room's first guest by default).

        ``fields`` takes check_in's names: last_name, first_name, title, language, vip,
        group, arrival, departure, cos. Raises ValueError for any other name.
        """
        unknown = sorted(set(fields) - set(_CHANGEABLE))
        if unknown:
            raise ValueError(f"cannot change {', '.join(unknown)}; changeable: {', '.join(_CHANGEABLE)}")
        changes = {_CHANGEABLE[name]: value for name, value in fields.items()}
        for name in ("arrival", "departure"):
            if name in changes:
                changes[name] = _as_date(changes[name])
        if "vip" in changes and changes["vip"] is not None:
            changes["vip"] = str(changes["vip"])
        if "class_of_service" in changes:
            changes["class_of_service"] = _class_of_service(changes["class_of_service"])
        with self._lock:
            guest = dataclasses.replace(self._hotel.guest(room, reservation), **changes)
            outgoing = self._prepare([records.guest_change(room, guest, self._now())])
            self._hotel.put_guest(room, guest)
            self._deliver(outgoing)

    def move(self, from_room: str, to_room: str, reservation: str | None = None, style: str = "GC") -> None:
        """Move a guest (every guest of ``from_room`` without ``reservation``) to ``to_room``.

        ``style`` "GC": one GC per guest with RN new room + its GS, RO old room + its GS.
        "GO+GI" / "GI+GO": a room-based PMS's check-out and check-in, in that order.
        """
        if style not in MOVE_STYLES:
            raise ValueError(f"move style must be one of {', '.join(MOVE_STYLES)}, not {style!r}")
        with self._lock:
            self._hotel.require_room(to_room)
            if from_room == to_room:
                raise ValueError(f"room {from_room} cannot move into itself")
            moving = [self._hotel.guest(from_room, reservation)] if reservation else self._hotel.guests(from_room)
            if not moving:
                raise ValueError(f"room {from_room} has no guest")
            plan = self._hotel.copy()
            planned: list[Record] = []
            now = self._now()
            for guest in moving:
                plan.move_guest(guest.reservation, from_room, to_room)
                to_shared = len(plan.rooms[to_room]) > 1
                from_shared = bool(plan.rooms[from_room])
                arrived = dataclasses.replace(guest, shared=to_shared)
                plan.put_guest(to_room, arrived)
                gone = records.check_out(from_room, guest.reservation, from_shared, now)
                came = records.check_in(to_room, arrived, now)
                if style == "GC":
                    planned.append(records.room_move(to_room, to_shared, arrived, from_room, from_shared, now))
                else:
                    planned += [gone, came] if style == "GO+GI" else [came, gone]
            outgoing = self._prepare(planned)
            self._hotel = plan
            self._deliver(outgoing)

    # ------------------------------------------------------------------ room features

    def wakeup(self, room: str, at: dt.datetime) -> None:
        """Send WR for a wake-up at ``at`` (naive hotel local time)."""
        self._room_record(room, records.wakeup_request(room, at), lambda hotel: hotel.add_wakeup(room, at))

    def clear_wakeup(self, room: str, at: dt.datetime | None = None) -> None:
        """Send WC for the wake-up at ``at``; without ``at`` (empty DA/TI) every wake-up of the room."""
        self._room_record(room, records.wakeup_clear(room, at), lambda hotel: hotel.clear_wakeups(room, at))

    def dnd(self, room: str, on: bool) -> None:
        """Send RE with DN Y/N."""
        self._room_record(room, records.room_equipment(room, "DN", "Y" if on else "N", self._now()),
                          lambda hotel: hotel.set_dnd(room, on))

    def class_of_service(self, room: str, fias_cs: int) -> None:
        """Send RE with CS (0 barred/internal, 1 local, 2 national, 3 unrestricted)."""
        level = _class_of_service(fias_cs)
        self._room_record(room, records.room_equipment(room, "CS", str(level), self._now()),
                          lambda hotel: hotel.set_class_of_service(room, level))

    def message_light(self, room: str, on: bool) -> None:
        """Send RE with ML Y/N."""
        self._room_record(room, records.room_equipment(room, "ML", "Y" if on else "N", self._now()),
                          lambda hotel: hotel.set_message_light(room, on))

    def message(self, room: str, text: str) -> str:
        """Send XL with the text for the room's (first) guest; return the message id (MI)."""
        with self._lock:
            guests = self._hotel.guests(room)
            message_id = str(self._next_message_id)
            reservation = guests[0].reservation if guests else None
            self._room_record(room, records.message_text(room, reservation, message_id, text, self._now()),
                              lambda hotel: hotel.add_message(room, message_id, text))
            self._next_message_id += 1
            return message_id

    def delete_message(self, room: str, message_id: str | None = None) -> None:
        """Send XD for one message, or (without ``message_id``) every message of the room."""
        with self._lock:
            guests = self._hotel.guests(room)
            reservation = guests[0].reservation if guests else None
            self._room_record(room, records.message_delete(room, reservation, message_id, self._now()),
                              lambda hotel: hotel.delete_messages(room, message_id))

    def swap(self) -> None:
        """Send a database swap unsolicited: DS, a GI with SF per in-house guest, DE."""
        with self._lock:
            self._start_swap()

    # ------------------------------------------------------------------ link control

    def send_raw(self, payload: bytes, framed: bool = False) -> None:
        """Write ``payload`` to the bridge now, as is (``framed``: inside STX/ETX and LRC if set).

        For bad-input tests: nothing is validated or buffered. Raises ConnectionError when
        no bridge is connected.
        """
        data = encode_frame(payload, self.options.lrc) if framed else bytes(payload)
        with self._lock:
            connection = self._connection
            if connection is None:
                raise ConnectionError("no bridge is connected")
            try:
                connection.send(data)
            except OSError as err:
                connection.close()
                raise ConnectionError(f"the bridge connection failed: {err}") from err

    def drop_link(self) -> None:
        """Close the connection abruptly, without LE; records sent meanwhile are buffered."""
        with self._lock:
            connection = self._connection
            self._connection = None
            self._changed.notify_all()
        if connection is not None:
            log.info("dropping the link to %s", connection.peer)
            connection.close()

    def run_script(self, text: str) -> None:
        """Run commands of the simulator's command language; raises ScriptError naming the line."""
        run_script(self, text)

    def start_random_activity(self, interval: float = 2.0, seed: int | None = None) -> None:
        """Check guests in and out, set wake-ups, toggle DND and move rooms every ``interval`` s."""
        self.stop_random_activity()
        activity = RandomActivity(self, interval, seed)
        with self._lock:
            self._activity = activity
        activity.start()

    def stop_random_activity(self) -> None:
        with self._lock:
            activity, self._activity = self._activity, None
        if activity is not None:
            activity.stop()

    # ------------------------------------------------------------------ sending

    def _now(self) -> dt.datetime:
        return self.options.clock()

    def _room_record(self, room: str, record: Record, apply: Callable[[Hotel], None]) -> None:
        with self._lock:
            self._hotel.require_room(room)
            outgoing = self._prepare([record])
            apply(self._hotel)
            self._deliver(outgoing)

    def _prepare(self, planned: Iterable[Record]) -> list[_Outgoing]:
        """Encode every record first: one the site encoding cannot write stops the whole change."""
        return [_Outgoing(record, self._frame(record)) for record in planned]

    def _frame(self, record: Record) -> bytes:
        return encode_frame(compose_record(record.type, record.fields, self.options.encoding), self.options.lrc)

    def _link_is_up(self) -> bool:
        return self._connection is not None and self._connection.handshake is Handshake.UP

    def _ready(self) -> bool:
        connection = self._connection
        if connection is None or connection.ending:
            return False
        return connection.handshake is Handshake.UP or not self.options.require_link_description

    def _deliver(self, outgoing: list[_Outgoing]) -> None:
        """Send now when the link is ready, else buffer behind what is already waiting (lock held)."""
        self._backlog.extend(outgoing)
        self._flush()

    def _flush(self) -> None:
        while self._backlog and self._ready():
            assert self._connection is not None
            if not self._send(self._connection, self._backlog[0]):
                return
            self._backlog.popleft()

    def _write(self, connection: Connection, record: Record) -> bool:
        """Send a link-layer record, which is never buffered."""
        return self._send(connection, _Outgoing(record, self._frame(record)))

    def _send(self, connection: Connection, outgoing: _Outgoing) -> bool:
        try:
            connection.send(outgoing.frame)
        except OSError as err:
            log.warning("sending %s to %s failed: %s", outgoing.record.type, connection.peer, err)
            connection.close()
            if self._connection is connection:
                self._connection = None
                self._changed.notify_all()
            return False
        self._sent.append(outgoing.record)
        log.debug("sent %s", _describe(outgoing.record))
        if self.options.trace is not None:
            self.options.trace("->", outgoing.record)
        return True

    # ------------------------------------------------------------------ database swap

    def _start_swap(self) -> None:
        """Send DS, the in-house GIs, DE (lock held); paced on a thread when live records mix in.

        Without mixing the whole swap is delivered under the lock, so no live record can
        come between DS and DE, on the wire or in the buffer.
        """
        if self.options.swap_mixes_live:
            worker = threading.Thread(target=self._paced_swap, name="fias-sim-swap", daemon=True)
            self._workers.append(worker)
            worker.start()
            return
        now = self._now()
        planned = [records.swap_start(now)]
        planned += [records.check_in(room, guest, now, swap=True) for room, guest in self._hotel.in_house()]
        planned.append(records.swap_end(now))
        self._deliver(self._prepare(planned))

    def _paced_swap(self) -> None:
        """One record every ``swap_record_pause`` s, each room's GIs built as they go out.

        Building them late keeps the stream true to "the last record for a room wins": a
        guest who left during the swap is not resent after the live GO that said so.
        """
        try:
            with self._lock:
                self._deliver(self._prepare([records.swap_start(self._now())]))
            for room in self.options.rooms:
                with self._lock:
                    staying = self._hotel.guests(room)
                for guest in staying:
                    if self._stopping.wait(self.options.swap_record_pause):
                        return
                    with self._lock:
                        current = [present for present in self._hotel.rooms[room]
                                   if present.reservation == guest.reservation]
                        self._deliver(self._prepare([records.check_in(room, present, self._now(), swap=True)
                                                     for present in current]))
            if self._stopping.wait(self.options.swap_record_pause):
                return
            with self._lock:
                self._deliver(self._prepare([records.swap_end(self._now())]))
        finally:
            with self._lock:
                self._workers.remove(threading.current_thread())

    # ------------------------------------------------------------------ receiving

    def _on_socket(self, sock: socket.socket, peer: str) -> Connection | None:
        connection = Connection(sock, peer, self.options.lrc)
        with self._lock:
            if self._stopping.is_set():
                sock.close()
                return None
            previous, self._connection = self._connection, connection
            self._connections.append(connection)
            if previous is not None:
                log.info("connection from %s replaces the one from %s", peer, previous.peer)
                previous.close()
            log.info("bridge connected (%s)", peer)
            if self._write(connection, link_start(self._now())):
                self._flush()
            self._changed.notify_all()
        connection.start_reading(self._on_items, self._on_closed)
        return connection

    def _on_closed(self, connection: Connection) -> None:
        with self._lock:
            self._connections.remove(connection)
            if self._connection is connection:
                self._connection = None
                log.info("bridge disconnected (%s)", connection.peer)
            self._changed.notify_all()

    def _on_items(self, connection: Connection, items: list[Frame | FramingError]) -> None:
        for item in items:
            if isinstance(item, FramingError):
                self._fault(f"framing fault from {connection.peer}: {item} ({item.data.hex(' ')})")
                continue
            try:
                record = parse_record(item.payload, self.options.encoding)
            except RecordError as err:
                self._fault(f"malformed record from {connection.peer}: {err.reason} ({err.raw!r})")
                continue
            with self._lock:
                self._received.append(record)
                log.debug("received %s", _describe(record))
                if self.options.trace is not None:
                    self.options.trace("<-", record)
                if connection is self._connection:
                    self._handle(connection, record)
                self._changed.notify_all()

    def _fault(self, description: str) -> None:
        log.warning("%s", description)
        with self._lock:
            self._faults.append(description)

    def _handle(self, connection: Connection, record: Record) -> None:
        handler = {
            "LS": self._on_link_start,
            "LD": self._on_link_description,
            "LR": self._on_link_record,
            "LA": self._on_link_alive,
            "LE": self._on_link_end,
            "DR": self._on_resync_request,
            "PS": self._on_posting,
        }.get(record.type)
        if handler is not None:
            handler(connection, record)
        elif record.type != "WA":
            log.debug("nothing to do for %s from the bridge", record.type)

    def _on_link_start(self, connection: Connection, record: Record) -> None:
        self._write(connection, link_alive(self._now()))

    def _on_link_description(self, connection: Connection, record: Record) -> None:
        # An LD on a live link starts the handshake over, as after a reconnect.
        connection.handshake = Handshake.AWAITING_ALIVE
        connection.link_records.clear()

    def _on_link_record(self, connection: Connection, record: Record) -> None:
        record_type = record.get("RI")
        if record_type:
            connection.link_records[record_type] = record.get("FL", "") or ""

    def _on_link_alive(self, connection: Connection, record: Record) -> None:
        if connection.handshake is Handshake.UP:
            return
        if connection.handshake is Handshake.AWAITING_DESCRIPTION and self.options.require_link_description:
            log.warning("LA from %s without an LD before it: the link stays down", connection.peer)
            return
        if not self._write(connection, link_alive(self._now())):
            return
        connection.handshake = Handshake.UP
        log.info("link up with %s (%d records buffered)", connection.peer, len(self._backlog))
        self._flush()
        if self.options.stream_in_house_on_link_up:
            now = self._now()
            self._deliver(self._prepare(records.check_in(room, guest, now) for room, guest in self._hotel.in_house()))

    def _on_link_end(self, connection: Connection, record: Record) -> None:
        if not connection.ending:
            connection.ending = True
            self._write(connection, link_end(self._now()))
        log.info("link ended by %s", connection.peer)
        self._connection = None
        connection.close()

    def _on_resync_request(self, connection: Connection, record: Record) -> None:
        self._start_swap()

    def _on_posting(self, connection: Connection, record: Record) -> None:
        entry: dict[str, Any] = {
            "sequence": _number_or_text(record.get("P#")),
            "room": record.get("RN"),
            "type": record.get("PT"),
            "amount": _amount(record.get("TA") or record.get("MA")),
            "dialled": record.get("DD"),
            "duration": _duration(record.get("DU")),
            "when": _when(record.get("DA"), record.get("TI")),
            "answered": None,
            "record": record,
        }
        self._folio.append(entry)
        status = self.options.posting_answer
        if status is None:
            return
        if self.options.posting_delay <= 0:
            self._answer_posting(entry, record, status)
            return
        timer = threading.Timer(self.options.posting_delay, self._answer_posting_later, args=(entry, record, status))
        timer.daemon = True
        self._workers.append(timer)
        timer.start()

    def _answer_posting_later(self, entry: dict[str, Any], posting: Record, status: str) -> None:
        with self._lock:
            self._workers.remove(threading.current_thread())
            self._answer_posting(entry, posting, status)

    def _answer_posting(self, entry: dict[str, Any], posting: Record, status: str) -> None:
        try:
            outgoing = self._prepare([records.posting_answer(posting, status)])
        except ValueError as err:
            self._fault(f"cannot answer posting {entry['sequence']!r}: {err}")
            return
        entry["answered"] = status
        self._deliver(outgoing)


def _describe(record: Record) -> str:
    return "|".join([record.type, *(field_id + value for field_id, value in record.fields)]) + "|"


def _as_date(value: dt.date | None) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    return value


def _class_of_service(value: int | str | None) -> int | None:
    if value is None:
        return None
    level = int(value)
    if not 0 <= level <= 3:
        raise ValueError(f"FIAS class of service is 0 to 3, not {value}")
    return level


def _number_or_text(value: str | None) -> int | str | None:
    return int(value) if value and value.isdigit() else value


def _amount(value: str | None) -> int | None:
    try:
        return parse_amount(value) if value is not None else None
    except ValueError:
        return None


def _duration(value: str | None) -> dt.timedelta | None:
    if not value or not value.isdigit() or len(value) != 6:
        return None
    return dt.timedelta(hours=int(value[:2]), minutes=int(value[2:4]), seconds=int(value[4:]))


def _when(date: str | None, time_of_day: str | None) -> dt.datetime | None:
    try:
        return parse_datetime(date, time_of_day) if date and time_of_day else None
    except ValueError:
        return None
