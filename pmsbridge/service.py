"""Builds the bridge from a configuration and runs it: ledger, dispatcher, scheduler,
adapters and web server in one process, stopped cleanly in reverse order.

With ``[ha]`` enabled on a PostgreSQL ledger, several servers run this same process and one
leads (``pmsbridge.ha``): the web server runs on every one, everything that talks to the PBX
or the PMS (the dispatcher, the scheduler's jobs, the adapters' links) only on the leader,
from the moment it wins the lease. A leader that loses the lease stops all of it and exits
with EXIT_DEPOSED; the service manager starts it again, as a standby.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from pmsbridge.accounting.runtime import CallAccounting
from pmsbridge.adapters.base import Adapter, AdapterContext, AdapterStatus, LinkState
from pmsbridge.config import Settings, registered_adapters
from pmsbridge.extension_status import ExtensionStatusCache
from pmsbridge.ha.leadership import LeaderOnlyLedger, Leadership
from pmsbridge.health import PbxProbe, check_database
from pmsbridge.ledger.database import create_ledger_engine, require_current_schema
from pmsbridge.ledger.dispatcher import Dispatcher, worker_identity
from pmsbridge.ledger.store import Ledger
from pmsbridge.mapping import RoomMapping
from pmsbridge.metrics import ServiceMetrics
from pmsbridge.pbx.client import PbxClient
from pmsbridge.pbx_reports import PbxReports
from pmsbridge.reconcile.reconciler import WATCH_INTERVAL, Reconciler, swap_in_progress
from pmsbridge.runlock import RunLock
from pmsbridge.sdnotify import Notifier, WatchdogPinger, watchdog_interval

log = logging.getLogger(__name__)

# What stopping may take besides the PBX request in flight (connect + read timeout).
STOP_GRACE = 10.0
# What an adapter, and the web server, may take of the stop.
PART_STOP_TIMEOUT = 5.0
# The exit status when a part was still busy at the stop deadline and was abandoned.
EXIT_STOP_TIMEOUT = 1
# The exit status of a leader that lost its lease: the service manager starts it again as a standby.
EXIT_DEPOSED = 3


@dataclass
class FailedAdapter:
    """Stands in for an adapter that could not be loaded or started."""

    name: str
    status: AdapterStatus = field(default_factory=AdapterStatus)

    def stop(self, timeout: float = 5.0) -> None:
        pass


class Service:
    """Everything a running bridge consists of. ``build`` makes one; nothing runs until ``start``."""

    def __init__(self, settings: Settings, engine: Engine, ledger: Ledger, client: PbxClient,
                 mapping: RoomMapping, dispatcher: Dispatcher, *, metrics: ServiceMetrics | None = None,
                 leadership: Leadership | None = None):
        self.settings = settings
        self.engine = engine
        self.ledger = ledger
        self.client = client
        self.mapping = mapping
        self.dispatcher = dispatcher
        self.reconciler = Reconciler(ledger, client, mapping, settings.reconcile, settings.pbx, dispatcher=dispatcher,
                                     hold=lambda: swap_in_progress(self.adapters),
                                     retention=timedelta(days=settings.dispatcher.retention_days))
        self.extension_status = ExtensionStatusCache(client)
        self.accounting = CallAccounting(settings, ledger, client, mapping)
        self.pbx_reports = PbxReports.from_settings(settings, engine, self.extension_status)
        self.scheduler = BackgroundScheduler(timezone=settings.bridge.timezone)
        self.adapters: dict[str, Adapter | FailedAdapter] = {}
        self.web_server = None
        self._web_thread: threading.Thread | None = None
        # The web server's sockets (listening and connections), so that a stop can close them all.
        self._web_sockets: dict[int, object] = {}
        self._stop_requested = threading.Event()
        # Two servers: the lease, and why this process stopped leading (then it exits).
        self.leadership = leadership
        self.deposed: str | None = None
        if leadership is not None:
            ledger.fence = leadership.fence
            leadership.watch(on_elected=self._lead, on_deposed=self._step_down)
        # Operations: systemd notifications and watchdog, the PBX health probe, /metrics.
        self.notifier = Notifier.from_environment()
        self._watchdog: WatchdogPinger | None = None
        self.pbx_probe = PbxProbe(client, settings.bridge.health_pbx_max_age)
        self.pbx_probe.on_recovery(dispatcher.resume_now)
        self.metrics = metrics or ServiceMetrics()
        self.metrics.watch(self)

    # -- start and stop --------------------------------------------------------------

    def start(self, *, web: bool = True) -> None:
        if self.leadership is None:
            self._start_leading_parts()
        else:
            # Built (their web receivers mounted) but started only by the leader.
            self._build_adapters()
        if web:
            self._start_web()
        if self.leadership is not None:
            self.leadership.start()
            log.info("pmsbridge is running as %s, standing by until it wins the lead",
                     self.leadership.member_name)
        else:
            log.info("pmsbridge is running")
        self._notify_ready()

    def _start_leading_parts(self) -> None:
        self.dispatcher.start()
        self._schedule_jobs()
        self.scheduler.start()
        if not self.adapters:  # two servers: built at the start already, for the web server
            self._build_adapters()
        for name, adapter in list(self.adapters.items()):
            self._start_adapter(name, adapter)

    def _lead(self, token: int) -> None:
        """Won the lease (on the lease's thread): take over what the previous leader held.

        Its deliveries still in flight are released as uncertain, so that each is checked
        against the PBX before it is sent again, exactly as after a crash; the fence keeps
        the old leader from writing anything more. A PMS that can resend its in-house list
        is asked to (FIAS: a database swap): records on the wire to a leader that died are
        lost, the protocol acknowledges none of them.
        """
        self._release_others()
        self._start_leading_parts()
        if token > 1:
            for name, adapter in self.adapters.items():
                if getattr(adapter, "can_resync", False):
                    log.info("asking the PMS of adapter %s for its in-house list after the takeover", name)
                    adapter.request_resync()
        self.notifier.status(f"leading (term {token})")

    def _step_down(self, reason: str) -> None:
        """Lost the lease (on the lease's thread): the gates are shut already; stop and exit."""
        self.deposed = reason
        self.request_stop()

    def stop(self, timeout: float | None = None) -> bool:
        """Adapters first (no new events), then the dispatcher (the request in flight
        finishes), the lease of two servers (resigned: a standby takes over), the scheduler
        (waiting for running jobs), the web server, the database.

        Bounded by ``timeout`` seconds (default ``stop_timeout``): a part still busy at the
        deadline is left behind, with a warning. Returns True when everything stopped in time.
        """
        self.notifier.stopping()
        if self._watchdog is not None:
            self._watchdog.stop()
        deadline = time.monotonic() + (self.stop_timeout if timeout is None else timeout)

        def left() -> float:
            return max(0.0, deadline - time.monotonic())

        if self.leadership is not None:
            # A standby seeks the lead no more (a takeover under way finishes first); a
            # leader keeps renewing until its outcomes are written.
            self.leadership.retire()
        for name, adapter in self.adapters.items():
            try:
                adapter.stop(timeout=min(PART_STOP_TIMEOUT, left()))
            except Exception:
                log.exception("adapter %s did not stop cleanly", name)
        self.reconciler.stop()
        workers = self._dispatcher_workers()
        self.dispatcher.stop(timeout=left())
        stopped = not any(worker.is_alive() for worker in workers)
        if not stopped:
            log.warning("a PBX request was still running at the stop deadline; its delivery is checked against "
                        "the PBX before it is sent again at the next start")
        if self.leadership is not None:
            # Once the outcomes are written: the gates shut, and a standby takes over at its
            # next look instead of at the lease's expiry.
            self.leadership.stop(timeout=min(PART_STOP_TIMEOUT, left()))
        stopped = self._stop_scheduler(left()) and stopped
        if self.web_server is not None:
            self._stop_web(min(PART_STOP_TIMEOUT, left()))
            self.web_server = None
        self.client.close()
        self.engine.dispose()
        self.notifier.close()
        log.info("pmsbridge stopped")
        return stopped

    @property
    def stop_timeout(self) -> float:
        """Long enough for the PBX request in flight to finish, plus STOP_GRACE."""
        return self.settings.pbx.connect_timeout + self.settings.pbx.read_timeout + STOP_GRACE

    def run_until_signalled(self) -> None:
        """Run until SIGTERM, SIGINT or ``request_stop``; the signal handlers only note the signal.

        Holds the state directory's run lock meanwhile (``AlreadyRunning`` when another
        bridge holds it). A part still busy at the stop deadline is abandoned: the process
        ends at once, with EXIT_STOP_TIMEOUT, and the work it held is recovered at the next
        start; a stop never waits for systemd's TimeoutStopSec to kill it. A leader that lost
        its lease ends with EXIT_DEPOSED once stopped.
        """
        signalled = []

        def on_signal(signum: int, _frame: object) -> None:
            # No lock here (Event.set takes one): the handler interrupts the main thread,
            # which may hold that very lock inside Event.wait, and would deadlock.
            signalled.append(signum)

        with RunLock(self.settings.bridge.state_dir):
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, on_signal)
            try:
                # Inside: what a failed start did get going is stopped too.
                self.start()
                while not signalled and not self._stop_requested.wait(0.5):
                    pass
            finally:
                stopped = self.stop()
        if not stopped:
            os._exit(EXIT_STOP_TIMEOUT)
        if self.deposed is not None:
            log.warning("exiting after losing the lead (%s); started again, this server stands by", self.deposed)
            raise SystemExit(EXIT_DEPOSED)

    def request_stop(self) -> None:
        self._stop_requested.set()

    def alive(self) -> bool:
        """What the systemd watchdog vouches for: every dispatcher worker runs (on a standby: the
        lease's thread) and the database answers."""
        if self.leadership is not None and not self.leadership.leading:
            return self.leadership.alive() and check_database(self).ok
        workers = self._dispatcher_workers()
        return bool(workers) and all(worker.is_alive() for worker in workers) and check_database(self).ok

    def _dispatcher_workers(self) -> list[threading.Thread]:
        return list(self.dispatcher.workers)

    def _notify_ready(self) -> None:
        self.notifier.ready("running")
        interval = watchdog_interval()
        if interval is not None:
            self._watchdog = WatchdogPinger(self.notifier, interval, self.alive)
            self._watchdog.start()

    def _stop_web(self, timeout: float) -> None:
        """Let the requests being answered finish, then close every socket of the web server:
        its loop runs until none is left, and clients keep idle connections open for reuse."""
        from waitress import wasyncore

        self.web_server.task_dispatcher.shutdown(timeout=timeout)
        # close_all must run in the server's loop thread; the trigger runs it there.
        self.web_server.trigger.pull_trigger(lambda: wasyncore.close_all(self._web_sockets))
        self._web_thread.join(timeout)

    def _stop_scheduler(self, timeout: float) -> bool:
        """Shut the scheduler down, waiting at most ``timeout`` seconds for running jobs."""
        if not self.scheduler.running:
            return True
        stopper = threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True}, name="scheduler-stop",
                                   daemon=True)
        stopper.start()
        stopper.join(timeout)
        if stopper.is_alive():
            log.warning("a scheduled job was still running at the stop deadline; not waiting for it")
            return False
        return True

    # -- parts ------------------------------------------------------------------------

    def _schedule_jobs(self) -> None:
        retention = timedelta(days=self.settings.dispatcher.retention_days)
        self.scheduler.add_job(self.ledger.prune, "interval", hours=6, args=[retention], id="prune",
                               max_instances=1, coalesce=True)
        # Claims of a process that died on another machine sharing the database (two servers:
        # any claim not the leader's, which the fence keeps from ever being settled).
        recover = self.dispatcher.recover if self.leadership is None else self._release_others
        self.scheduler.add_job(recover, "interval", minutes=1, id="recover", max_instances=1, coalesce=True)
        # Keeps the PBX check of /healthz fresh while nothing else talks to the PBX.
        self.scheduler.add_job(self.pbx_probe.run, "interval", seconds=self.pbx_probe.interval, id="pbx-probe",
                               max_instances=1, coalesce=True, next_run_time=datetime.now(UTC))
        if self.settings.reconcile.enabled:
            self.scheduler.add_job(self.reconciler.run_scheduled, "interval", id="reconcile",
                                   minutes=self.settings.reconcile.interval_minutes, max_instances=1, coalesce=True)
        # Serves run requests (the UI, adapters) and notices outages ending and database swaps.
        self.scheduler.add_job(self.reconciler.watch, "interval", seconds=WATCH_INTERVAL, id="reconcile-watch",
                               max_instances=1, coalesce=True)
        # The board's line status, first swept at once so that a fresh start shows it.
        self.scheduler.add_job(self.extension_status.refresh, "interval",
                               seconds=self.settings.web.status_refresh_seconds, id="extension-status",
                               max_instances=1, coalesce=True, next_run_time=datetime.now(UTC))
        # Call records read and charged, old call records and PBX reports pruned.
        self.accounting.schedule(self.scheduler, self.pbx_reports)

    def _release_others(self) -> list[int]:
        mine = self.dispatcher.identity
        return self.ledger.release_interrupted(lambda claimed_by, _claimed_at: claimed_by != mine)

    def _build_adapters(self) -> None:
        """Make the enabled adapters (not started); one that cannot be made is shown as failed."""
        known = registered_adapters()
        ledger = self.ledger if self.leadership is None else LeaderOnlyLedger(self.ledger, self.leadership)
        context = AdapterContext(settings=self.settings, ledger=ledger, dispatcher=self.dispatcher)
        for name, config in self.settings.adapter_settings.items():
            if not getattr(config, "enabled", True):
                continue
            try:
                self.adapters[name] = known[name].load()(config, context)
            except Exception as err:
                self._adapter_failed(name, err)

    def _start_adapter(self, name: str, adapter: Adapter | FailedAdapter) -> None:
        if isinstance(adapter, FailedAdapter):
            return
        try:
            adapter.start()
        except Exception as err:
            self._adapter_failed(name, err)

    def _adapter_failed(self, name: str, err: Exception) -> None:
        log.exception("adapter %s failed to start and is disabled", name)
        failed = FailedAdapter(name)
        failed.status.change(LinkState.FAILED, f"failed to start: {err}")
        self.adapters[name] = failed

    def _start_web(self) -> None:
        from pmsbridge.web import create_app
        from pmsbridge.web.server import create_web_server

        self.web_server = create_web_server(create_app(self.settings, self), self.settings.web,
                                            sockets=self._web_sockets)
        self._web_thread = threading.Thread(target=self.web_server.run, name="web", daemon=True)
        self._web_thread.start()
        log.info("web interface on http://%s:%s", self.settings.web.host_port[0], self.web_server.effective_port)


def build(settings: Settings, *, check_schema: bool = True) -> Service:
    """Build (but do not start) a service from validated settings."""
    url = settings.bridge.effective_database_url
    two_servers = settings.ha.enabled and not url.startswith("sqlite")
    if settings.ha.enabled and not two_servers:
        log.warning("ha.enabled is ignored: the SQLite ledger serves one server only, and this bridge runs alone; "
                    "two servers share a PostgreSQL ledger (docs/INSTALL.md, \"Two servers\")")
    # Two servers: a transaction left open by a frozen or cut-off leader must not hold its
    # rows from the next one.
    engine = create_ledger_engine(url, sqlite_synchronous=settings.bridge.sqlite_synchronous,
                                  idle_transaction_timeout=settings.ha.lease_seconds if two_servers else None)
    if check_schema:
        require_current_schema(engine)
    identity = worker_identity()
    leadership = Leadership(url, settings.ha, identity) if two_servers else None
    ledger = Ledger.from_settings(settings, engine)
    mapping = ledger.mapping
    metrics = ServiceMetrics()
    client = PbxClient(settings.pbx, observer=metrics.observe_pbx_request,
                       gate=None if leadership is None else leadership.refusal)
    dispatcher = Dispatcher(ledger, client, mapping, settings.dispatcher, settings.pbx, identity=identity)
    return Service(settings, engine, ledger, client, mapping, dispatcher, metrics=metrics, leadership=leadership)
