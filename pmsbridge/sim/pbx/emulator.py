"""The FCM630A emulator: a real HTTPS server on a thread, with live state and switchable faults.

::

    with PbxEmulator(EmulatorOptions(rooms=20, extension_template="1{room}")) as emu:
        requests.post(emu.url + "/api", json={...}, verify=emu.cert_path)
        emu.set_faults(http_500=True)
        assert emu.counters()["pmsapi:checkin"] == 1
        emu.place_call("101", "00442079460000", talk=65)   # a CDR record, as cdrapi returns it

:meth:`PbxEmulator.start` returns once the server is listening; :meth:`PbxEmulator.stop`
closes open connections and joins every thread.

Calls: :meth:`PbxEmulator.place_call` and :meth:`PbxEmulator.ring_wakeup` (or ``POST
/sim/calls``) store the call records a real unit would write (see ``calls``);
:meth:`PbxEmulator.ring_due_wakeups` rings the wake-up calls that fell due, and
:meth:`PbxEmulator.start_random_activity` makes random traffic (see ``activity``). Extension
status changes and finished calls are pushed as event reports to the ``url`` of the last
login that gave one (see ``reports``).
"""

from __future__ import annotations

import logging
import shutil
import ssl
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from pmsbridge.sim.address import url_host
from pmsbridge.sim.pbx.actions import ApiOutcome, ApiService, InspectedRequest
from pmsbridge.sim.pbx.activity import RandomCalls
from pmsbridge.sim.pbx.auth import Authenticator
from pmsbridge.sim.pbx.calls import CallRecords, as_group
from pmsbridge.sim.pbx.certificate import load_or_create_certificate
from pmsbridge.sim.pbx.control import handle_control
from pmsbridge.sim.pbx.options import EmulatorOptions, Faults
from pmsbridge.sim.pbx.ratelimit import RateLimiter
from pmsbridge.sim.pbx.reports import ReportPusher
from pmsbridge.sim.pbx.server import EmulatorHTTPServer
from pmsbridge.sim.pbx.state import PbxState

log = logging.getLogger(__name__)

REQUEST_LOG_SIZE = 10_000


class RequestRecord(NamedTuple):
    """One ``/api`` request: when it arrived (``time.monotonic()``), its action, its pmsapi
    operation (or ``None``), and its status: the API status code, or the name of the fault
    that answered instead ("down", "dropped", "http_500")."""

    time: float
    action: str | None
    operation: str | None
    status: int | str


class PbxEmulator:
    """An emulated FCM630A; see the module docstring."""

    def __init__(self, options: EmulatorOptions | None = None):
        self.options = options or EmulatorOptions()
        self.state = PbxState(self.options.room_extensions())
        self._faults = Faults()
        self._faults_lock = threading.Lock()
        self._auth = Authenticator(self.options)
        limiter = RateLimiter(self.options.rate_limit) if self.options.rate_limit is not None else None
        self._api = ApiService(self.options, self.state, self._auth, lambda: self._faults, limiter)
        self._requests: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_SIZE)
        self._requests_lock = threading.Lock()
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._temporary_dir: Path | None = None
        self._port: int | None = None
        self.cert_path: Path | None = None
        self.key_path: Path | None = None
        self.fingerprint: str | None = None
        self._calls = CallRecords()
        self.reports = ReportPusher(lambda: self.state.report_url)
        self.state.status_listeners.append(self.reports.extension_status)
        self._activity: RandomCalls | None = None
        # Wake-ups already rung: (room, HHMM, YYYYMMDD); a single one is removed once it rang.
        self._rung: set[tuple[str, str, str]] = set()

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> PbxEmulator:
        """Generate (or reuse) the certificate, bind, and serve on a thread; returns when listening."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        directory = self.options.state_dir
        if directory is None:
            self._temporary_dir = directory = Path(tempfile.mkdtemp(prefix="pbx-emulator-"))
        certificate = load_or_create_certificate(Path(directory), self.options.host)
        self.cert_path, self.key_path, self.fingerprint = (
            certificate.cert_path, certificate.key_path, certificate.fingerprint)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate.cert_path, certificate.key_path)
        try:
            server = EmulatorHTTPServer((self.options.host, self.options.port), context, self)
        except OSError:
            self._remove_temporary_dir()
            raise
        self._port = server.server_address[1]
        serving = threading.Event()

        def serve() -> None:
            serving.set()
            # stop() waits up to one poll interval for the loop to notice.
            server.serve_forever(poll_interval=0.05)

        self._server = server
        self._thread = threading.Thread(target=serve, name=f"pbx-emulator-{self.port}", daemon=True)
        self._thread.start()
        serving.wait()
        self.reports.start()
        log.info("FCM630A emulator listening on %s (%d rooms)", self.url, len(self.state.rooms))
        return self

    def stop(self) -> None:
        """Stop serving, close open connections, join the threads; safe to call twice."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self.stop_random_activity()
        self.reports.stop()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = self._thread = None
        self._remove_temporary_dir()
        log.info("FCM630A emulator stopped")

    def _remove_temporary_dir(self) -> None:
        if self._temporary_dir is not None:
            shutil.rmtree(self._temporary_dir, ignore_errors=True)
            self._temporary_dir = None

    def __enter__(self) -> PbxEmulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    # -- where it is -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port it listens (or, after stop, listened) on."""
        if self._port is None:
            raise RuntimeError("the emulator has not been started")
        return self._port

    @property
    def url(self) -> str:
        """``https://host:port`` (127.0.0.1 when listening on every address)."""
        return f"https://{url_host(self.options.host)}:{self.port}"

    # -- faults ----------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self._faults

    def set_faults(self, **changes: Any) -> Faults:
        """Change some faults (``latency``, ``drop_connections``, ``http_500``, ``down``,
        ``apply_blocked``); the others stay. ValueError for an unknown name or a bad value."""
        with self._faults_lock:
            self._faults = self._faults.with_changes(**changes)
            faults = self._faults
        log.info("faults now %s", faults)
        return faults

    def clear_faults(self) -> Faults:
        with self._faults_lock:
            self._faults = Faults()
        return self._faults

    # -- what happened ---------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """Operation -> number of successful requests, e.g. {"login": 1, "pmsapi:checkin": 3}."""
        return self.state.counters()

    def reset_counters(self) -> None:
        self.state.reset_counters()

    @property
    def requests_log(self) -> list[RequestRecord]:
        """The last 10,000 ``/api`` requests, oldest first."""
        with self._requests_lock:
            return list(self._requests)

    def expire_cookies(self) -> None:
        """Invalidate every cookie: the next request of each client answers -6."""
        self._auth.expire_cookies()

    # -- calls -----------------------------------------------------------------------------

    def local_now(self) -> datetime:
        """The PBX's wall-clock time (``options.timezone``), naive, as its call records write it."""
        zone = ZoneInfo(self.options.timezone) if self.options.timezone else None
        return datetime.now(zone).replace(tzinfo=None, microsecond=0)

    def _extension_of(self, party: str) -> str | None:
        with self.state.lock:
            if party in self.state.extensions:
                return party
            room = self.state.rooms.get(party)
            return room.extension if room is not None else None

    def place_call(self, caller: str, callee: str, *, talk: int = 60, ring: int = 5, disposition: str = "ANSWERED",
                   trunk: str = "trunk-1", start: datetime | None = None, group: bool = False) -> dict[str, Any]:
        """Make a call that has just ended and store its call record; returns the record as stored.

        ``caller`` and ``callee`` are room numbers, extensions or outside numbers: room to
        outside is an outside call on ``trunk``, outside to room an inbound one, room to room
        internal. ``start`` (PBX local time) defaults to ``ring + talk`` seconds ago. ``group``
        stores it as a main record with one leg. ValueError for an impossible call.
        """
        caller_extension, callee_extension = self._extension_of(caller), self._extension_of(callee)
        if caller_extension and callee_extension:
            kind = "Internal"
        elif caller_extension:
            kind = "Outbound"
        elif callee_extension:
            kind = "Inbound"
        else:
            raise ValueError(f"neither {caller!r} nor {callee!r} is a room or an extension of this PBX")
        if start is None:
            start = self.local_now() - timedelta(seconds=ring + (talk if disposition == "ANSWERED" else 0))
        record = self._calls.call(caller=caller_extension or caller, callee=callee_extension or callee, kind=kind,
                                  start=start, ring=ring, talk=talk, disposition=disposition, trunk=trunk)
        return self._store_call(record, group, [party for party in (caller_extension, callee_extension) if party])

    def ring_wakeup(self, room: str, disposition: str = "ANSWERED", *, talk: int = 15, ring: int = 20,
                    start: datetime | None = None) -> dict[str, Any]:
        """Ring ``room`` for its wake-up now (or at ``start``) and store the call record."""
        extension = self.state.room(room).extension
        record = self._calls.wakeup_call(extension=extension, start=start or self.local_now(), ring=ring, talk=talk,
                                         disposition=disposition)
        return self._store_call(record, False, [extension])

    def ring_due_wakeups(self, outcome: Callable[[], str] | str = "ANSWERED") -> list[dict[str, Any]]:
        """Ring every wake-up whose time has come and that has not rung yet; single wake-ups are
        then removed, as the PBX does. ``outcome`` is a disposition, or gives one per call."""
        now = self.local_now()
        today, now_hhmm = now.strftime("%Y%m%d"), now.strftime("%H%M")
        due = []
        with self.state.lock:
            for room in self.state.rooms.values():
                for wakeup in list(room.wakeups):
                    date = wakeup.date if wakeup.mode == 1 else today
                    key = (room.number, wakeup.time, date or "")
                    if not date or (date, wakeup.time) > (today, now_hhmm) or key in self._rung:
                        continue
                    self._rung.add(key)
                    if wakeup.mode == 1:
                        room.wakeups.remove(wakeup)
                    due.append(room.number)
        return [self.ring_wakeup(room, outcome() if callable(outcome) else outcome) for room in due]

    def _store_call(self, record: dict[str, Any], group: bool, extensions: list[str]) -> dict[str, Any]:
        for extension in extensions:
            self.reports.extension_status(extension, "InUse")
        stored = self.state.add_cdr(as_group(record) if group else record)
        for extension in extensions:
            self.reports.extension_status(extension, "Idle")
        self.reports.push({"action": "CallEnd", "uniqueid": record["uniqueid"], "src": record["src"],
                           "dst": record["dst"], "disposition": record["disposition"]})
        return stored

    def start_random_activity(self, interval: float = 2.0, seed: int | None = None) -> None:
        """Make random calls (and ring due wake-ups) every ``interval`` seconds until stopped."""
        self.stop_random_activity()
        self._activity = RandomCalls(self, interval, seed)
        self._activity.start()

    def stop_random_activity(self) -> None:
        if self._activity is not None:
            self._activity.stop()
            self._activity = None

    # -- called by the server --------------------------------------------------------------

    def answer_api(self, inspected: InspectedRequest, client_ip: str) -> ApiOutcome:
        return self._api.handle(inspected, client_ip)

    def record_request(self, received: float, action: str | None, operation: str | None,
                       status: int | str) -> None:
        with self._requests_lock:
            self._requests.append(RequestRecord(received, action, operation, status))

    def control(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        return handle_control(self, method, path, body)
