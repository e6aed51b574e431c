"""Call accounting as the running service has it: the postings store, the CDR collector
(with ``accounting.enabled``) and their scheduled jobs. The adapters send the postings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler

from pmsbridge.accounting.cdr import CdrCollector
from pmsbridge.accounting.charging import ChargePolicy
from pmsbridge.accounting.postings import PostingStore
from pmsbridge.accounting.tariffs import TariffTable
from pmsbridge.config import Settings
from pmsbridge.ledger.store import Ledger
from pmsbridge.mapping import RoomMapping
from pmsbridge.pbx.client import PbxClient
from pmsbridge.pbx_reports import PbxReports

# How often old call records and PBX reports are pruned.
PRUNE_HOURS = 6


class CallAccounting:
    def __init__(self, settings: Settings, ledger: Ledger, client: PbxClient, mapping: RoomMapping):
        self.settings = settings.accounting
        self.store = PostingStore(ledger.engine, clock=ledger.clock)
        self.retention = timedelta(days=settings.dispatcher.retention_days)
        self.collector: CdrCollector | None = None
        if self.settings.enabled:
            policy = ChargePolicy(self.settings, TariffTable.from_settings(self.settings), mapping)
            self.collector = CdrCollector(client, self.store, ledger, policy, self.settings, settings.bridge.zone)

    def schedule(self, scheduler: BaseScheduler, reports: PbxReports) -> None:
        """Add the collector (first run at once), the pruning of call records and of PBX reports."""
        if self.collector is not None:
            scheduler.add_job(self.collector.run_scheduled, "interval", seconds=self.settings.poll_interval_seconds,
                              id="cdr-collector", max_instances=1, coalesce=True, next_run_time=datetime.now(UTC))
        # Records younger than the lookback must stay: they are read again and recognised.
        keep_calls = max(self.retention, timedelta(minutes=self.settings.lookback_minutes) * 2)
        scheduler.add_job(self.store.prune_calls, "interval", hours=PRUNE_HOURS, args=[keep_calls],
                          id="prune-call-records", max_instances=1, coalesce=True)
        scheduler.add_job(reports.prune, "interval", hours=PRUNE_HOURS,
                          args=[timedelta(days=self.settings.report_retention_days)], id="prune-pbx-reports",
                          max_instances=1, coalesce=True)
