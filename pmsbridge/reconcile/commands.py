"""``pmsbridge reconcile [--dry-run]``: one reconciliation run from the command line, and its drift table.

Without ``--dry-run`` the run records drift and queues repairs exactly as the service's
scheduled run does; the running service's dispatcher sends them.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime, timedelta

from pmsbridge.command_errors import CommandError
from pmsbridge.config import Settings
from pmsbridge.ledger.commands import open_ledger
from pmsbridge.pbx.client import PbxClient
from pmsbridge.reconcile.reconciler import Reconciler, RunReport
from pmsbridge.reconcile.store import Drift

COLUMNS = ("room", "extension", "kind", "expected", "actual", "first seen (UTC)", "state", "repairs")


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")


def _cell(text: str, width: int = 28) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def drift_table(drifts: Sequence[Drift]) -> list[str]:
    """The drifts as aligned text lines, a header first."""
    rows = [COLUMNS] + [
        (drift.room, drift.extension, drift.kind.value, _cell(drift.expected), _cell(drift.actual),
         _when(drift.first_seen), drift.state.value, str(drift.repair_attempts))
        for drift in drifts
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS))]
    return ["  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip() for row in rows]


def report_lines(report: RunReport) -> list[str]:
    mode = "dry run: nothing recorded or queued" if report.dry_run else "recorded"
    lines = [
        f"reconciliation ({mode}): {report.extensions} extensions read in {report.listing_requests} listAccount "
        f"requests, {report.detail_requests} detail requests; {report.rooms_compared} rooms compared, "
        f"{report.rooms_skipped} skipped (deliveries on their way)",
    ]
    if not report.drifts:
        lines.append("no drift: the PBX matches the desired state")
        return lines
    counts = ", ".join(f"{kind.value} {count}" for kind, count in report.counts().items() if count)
    lines.append(f"{len(report.drifts)} drifts ({counts}):")
    lines.extend(drift_table(report.drifts))
    if report.repaired:
        queued = sum(len(ids) for ids in report.repaired.values())
        lines.append(f"repairs queued: {queued} deliveries for rooms {', '.join(report.repaired)}")
    return lines


def reconcile(settings: Settings, args: argparse.Namespace) -> int:
    ledger = open_ledger(settings)
    client = PbxClient(settings.pbx)
    try:
        reconciler = Reconciler(ledger, client, ledger.mapping, settings.reconcile, settings.pbx,
                                retention=timedelta(days=settings.dispatcher.retention_days))
        report = reconciler.run(reason="command line", dry_run=args.dry_run)
    finally:
        client.close()
        ledger.engine.dispose()
    if report.error:
        raise CommandError(f"reconciliation could not read the PBX: {report.error}")
    for line in report_lines(report):
        print(line)
    return 0
