"""Builds the bridge from a configuration and runs it: ledger, dispatcher, scheduler,
adapters and web server in one process, stopped cleanly in reverse order.
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
from pmsbridge.health import PbxProbe, check_database
from pmsbridge.ledger.database import create_ledger_engine, require_current_schema
from pmsbridge.ledger.dispatcher import Dispatcher
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
                 mapping: RoomMapping, dispatcher: Dispatcher, *, metrics: ServiceMetrics | None = None):
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
        # Operations: systemd notifications and watchdog, the PBX health probe, /metrics.
        self.notifier = Notifier.from_environment()
        self._watchdog: WatchdogPinger | None = None
        self.pbx_probe = PbxProbe(client, settings.bridge.health_pbx_max_age)
        self.pbx_probe.on_recovery(dispatcher.resume_now)
        self.metrics = metrics or ServiceMetrics()
        self.metrics.watch(self)

    # -- start and stop --------------------------------------------------------------

    def start(self, *, web: bool = True) -> None:
        self.dispatcher.start()
        self._schedule_jobs()
        self.scheduler.start()
        self._start_adapters()
        if web:
            self._start_web()
        log.info("pmsbridge is running")
        self._notify_ready()

    def stop(self, timeout: float | None = None) -> bool:
        """Adapters first (no new events), then the dispatcher (the request in flight
        finishes), the scheduler (waiting for running jobs), the web server, the database.

        Bounded by ``timeout`` seconds (default ``stop_timeout``): a part still busy at the
        deadline is left behind, with a warning. Returns True when everything stopped in time.
        """
        self.notifier.stopping()
        if self._watchdog is not None:
            self._watchdog.stop()
        deadline = time.monotonic() + (self.stop_timeout if timeout is None else timeout)

        def left() -> float:
            return max(0.0, deadline - time.monotonic())

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
        start; a stop never waits for systemd's TimeoutStopSec to kill it.
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

    def request_stop(self) -> None:
        self._stop_requested.set()

    def alive(self) -> bool:
        """What the systemd watchdog vouches for: every dispatcher worker runs and the database answers."""
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
        # Claims of a process that died on another machine sharing the database.
        self.scheduler.add_job(self.dispatcher.recover, "interval", minutes=1, id="recover",
                               max_instances=1, coalesce=True)
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

    def _start_adapters(self) -> None:
        known = registered_adapters()
        context = AdapterContext(settings=self.settings, ledger=self.ledger, dispatcher=self.dispatcher)
        for name, config in self.settings.adapter_settings.items():
            if not getattr(config, "enabled", True):
                continue
            try:
                adapter = known[name].load()(config, context)
                adapter.start()
            except Exception as err:
                log.exception("adapter %s failed to start and is disabled", name)
                failed = FailedAdapter(name)
                failed.status.change(LinkState.FAILED, f"failed to start: {err}")
                self.adapters[name] = failed
                continue
            self.adapters[name] = adapter

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
    engine = create_ledger_engine(settings.bridge.effective_database_url,
                                  sqlite_synchronous=settings.bridge.sqlite_synchronous)
    if check_schema:
        require_current_schema(engine)
    ledger = Ledger.from_settings(settings, engine)
    mapping = ledger.mapping
    metrics = ServiceMetrics()
    client = PbxClient(settings.pbx, observer=metrics.observe_pbx_request)
    dispatcher = Dispatcher(ledger, client, mapping, settings.dispatcher, settings.pbx)
    return Service(settings, engine, ledger, client, mapping, dispatcher, metrics=metrics)
