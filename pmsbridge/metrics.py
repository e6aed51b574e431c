"""Prometheus metrics for ``/metrics``: ``ServiceMetrics`` owns one registry per service.

Only the PBX request latency is observed as it happens (through ``PbxClient``'s
``observer``); everything else is read from the service when Prometheus scrapes
(``ServiceCollector``): the ledger's tables, the dispatcher's and PBX client's health, the
adapters' link states and counters, the reconciler's drift counts. Nothing is counted twice
and the ledger's figures survive a restart. No label carries a guest name, a room or a secret.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from pmsbridge.adapters.base import LinkState
from pmsbridge.health import check_health, hotel_wakeups_at_risk
from pmsbridge.ledger.models import Delivery, DeliveryState, InboundEvent, RoomStateRow

if TYPE_CHECKING:
    from pmsbridge.service import Service

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST

# From a LAN round trip to a login that waits on a busy embedded box.
PBX_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _timestamp(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment else None


class ServiceMetrics:
    """The registry behind ``/metrics``; ``observe_pbx_request`` is the PbxClient's observer."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.pbx_request_seconds = Histogram(
            "pmsbridge_pbx_request_duration_seconds",
            "Time from sending a request to the PBX's /api to its answer (or failure), by API action.",
            ["action"],
            buckets=PBX_LATENCY_BUCKETS,
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)

    def observe_pbx_request(self, action: str, seconds: float) -> None:
        self.pbx_request_seconds.labels(action=action).observe(seconds)

    def watch(self, service: Service) -> None:
        """Read ``service`` at every scrape from now on."""
        self.registry.register(ServiceCollector(service))

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format (``CONTENT_TYPE``)."""
        return generate_latest(self.registry)


def _gauge(name: str, documentation: str, value: float | None) -> Iterator[Metric]:
    if value is not None:
        yield GaugeMetricFamily(name, documentation, value=value)


class ServiceCollector:
    """A custom collector: every value is read from the service when it is scraped."""

    def __init__(self, service: Service):
        self.service = service

    def collect(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        yield from self._health(now)
        yield from self._ledger()
        yield from self._rooms(now)
        yield from self._dispatcher(now)
        yield from self._pbx()
        yield from self._adapters()
        yield from self._drift()
        yield from self._ha()

    def _ha(self) -> Iterator[Metric]:
        leadership = self.service.leadership
        if leadership is None:
            return
        role = GaugeMetricFamily("pmsbridge_ha_role", "1 for this server's role (leader or standby).",
                                 labels=["role"])
        for name in ("leader", "standby"):
            role.add_metric([name], 1.0 if leadership.role == name else 0.0)
        yield role
        yield CounterMetricFamily("pmsbridge_ha_failovers",
                                  "Times this server took the lead over from another one, since its start.",
                                  value=leadership.failovers)
        yield from _gauge("pmsbridge_ha_term", "The fencing token of this server's term as leader.",
                          leadership.token if leadership.leading else None)

    def _health(self, now: datetime) -> Iterator[Metric]:
        checks = GaugeMetricFamily("pmsbridge_health_check_ok", "1 when the /healthz check passes.", labels=["check"])
        for check in check_health(self.service, now).checks:
            checks.add_metric([check.name], 1.0 if check.ok else 0.0)
        yield checks

    def _ledger(self) -> Iterator[Metric]:
        ledger = self.service.ledger
        try:
            with Session(ledger.reader) as session:
                events = session.execute(
                    select(InboundEvent.source, InboundEvent.kind, InboundEvent.status, func.count(InboundEvent.id))
                    .group_by(InboundEvent.source, InboundEvent.kind, InboundEvent.status)
                ).all()
                deliveries = dict(session.execute(
                    select(Delivery.state, func.count(Delivery.id)).group_by(Delivery.state)
                ).all())
            stats = ledger.stats()
        except SQLAlchemyError as err:
            log.warning("metrics: cannot read the ledger: %s", err)
            yield GaugeMetricFamily("pmsbridge_database_up", "1 when the ledger database answers.", value=0)
            return
        yield GaugeMetricFamily("pmsbridge_database_up", "1 when the ledger database answers.", value=1)

        by_kind = GaugeMetricFamily(
            "pmsbridge_ledger_events",
            "Inbound events held in the ledger by source, canonical kind and status (old ones are pruned).",
            labels=["source", "kind", "status"],
        )
        for source, kind, status, count in events:
            by_kind.add_metric([source, kind or "none", status], count)
        yield by_kind

        by_state = GaugeMetricFamily(
            "pmsbridge_ledger_deliveries",
            "Deliveries held in the ledger by state (delivered ones are pruned after dispatcher.retention_days; "
            "skipped: not sent after an earlier one of the room died; dismissed: dead ones an operator ended).",
            labels=["state"],
        )
        for state in DeliveryState:
            by_state.add_metric([state.value], deliveries.get(state.value, 0))
        yield by_state

        yield GaugeMetricFamily("pmsbridge_queue_depth", "Deliveries not yet delivered nor dead.", value=stats.depth)
        yield GaugeMetricFamily("pmsbridge_queue_dead", "Dead deliveries waiting for an operator.", value=stats.dead)
        yield GaugeMetricFamily("pmsbridge_queue_oldest_pending_age_seconds",
                                "Age of the oldest open delivery (0 when the queue is empty).",
                                value=stats.oldest_pending_age or 0.0)

    def _rooms(self, now: datetime) -> Iterator[Metric]:
        try:
            at_risk = hotel_wakeups_at_risk(self.service, now)
            with Session(self.service.ledger.reader) as session:
                degraded = session.execute(select(func.count(RoomStateRow.room))
                                           .where(RoomStateRow.degraded.is_not(None))).scalar()
        except SQLAlchemyError as err:
            log.warning("metrics: cannot read the room books: %s", err)
            return
        yield GaugeMetricFamily("pmsbridge_rooms_degraded",
                                "Rooms the PBX holds without optional fields it refused (a VIP code, a language...).",
                                value=degraded)
        yield GaugeMetricFamily("pmsbridge_wakeups_at_risk",
                                "Wake-ups due within 30 minutes that the PBX has not confirmed.", value=len(at_risk))

    def _dispatcher(self, now: datetime) -> Iterator[Metric]:
        health = self.service.dispatcher.health
        yield GaugeMetricFamily("pmsbridge_dispatcher_running", "1 while the dispatcher runs.",
                                value=1 if health.running else 0)
        paused = health.paused_until is not None and health.paused_until > now
        yield GaugeMetricFamily("pmsbridge_dispatcher_paused",
                                "1 while the dispatcher waits out a PBX outage or a refused login.",
                                value=1 if paused else 0)
        yield CounterMetricFamily("pmsbridge_dispatcher_sent", "Deliveries the PBX accepted since the start.",
                                  value=health.sent)
        yield CounterMetricFamily("pmsbridge_dispatcher_failed",
                                  "Failed delivery attempts (retried or dead) since the start.", value=health.failed)
        yield CounterMetricFamily("pmsbridge_dispatcher_degraded",
                                  "Deliveries the PBX accepted only without optional fields it refused, since the start.",
                                  value=health.degraded)
        yield from _gauge("pmsbridge_dispatcher_last_delivered_timestamp_seconds",
                          "When the last delivery was accepted by the PBX.", _timestamp(health.last_delivered_at))

    def _pbx(self) -> Iterator[Metric]:
        health = self.service.client.health
        yield from _gauge("pmsbridge_pbx_last_success_timestamp_seconds",
                          "When a PBX request last succeeded.", _timestamp(health.last_success))
        yield from _gauge("pmsbridge_pbx_last_error_timestamp_seconds",
                          "When a PBX request last failed.", _timestamp(health.last_error_at))
        yield GaugeMetricFamily("pmsbridge_pbx_logged_in", "1 while the bridge holds a fresh PBX session.",
                                value=1 if health.logged_in else 0)
        yield GaugeMetricFamily("pmsbridge_pbx_login_refused",
                                "1 after the PBX refused the API credentials, until a login succeeds.",
                                value=1 if health.ban_risk is not None else 0)

    def _adapters(self) -> Iterator[Metric]:
        states = GaugeMetricFamily("pmsbridge_adapter_link_state",
                                   "1 for the current link state of each PMS adapter, 0 for the others.",
                                   labels=["adapter", "state"])
        counts = CounterMetricFamily("pmsbridge_adapter_count",
                                     "What each adapter counted since the start (records, faults, link ups...).",
                                     labels=["adapter", "counter"])
        last_record = GaugeMetricFamily("pmsbridge_adapter_last_record_timestamp_seconds",
                                        "When the adapter last received something from its PMS.", labels=["adapter"])
        for name, adapter in sorted(self.service.adapters.items()):
            status = adapter.status
            for state in LinkState:
                states.add_metric([name, state.value], 1 if status.state == state else 0)
            for counter, value in sorted(dict(status.counters).items()):
                counts.add_metric([name, counter], value)
            if status.last_record_at is not None:
                last_record.add_metric([name], status.last_record_at.timestamp())
        yield from (states, counts, last_record)

    def _drift(self) -> Iterator[Metric]:
        reconciler = getattr(self.service, "reconciler", None)
        if reconciler is None:
            return
        try:
            counts = reconciler.counts()
        except Exception as err:  # drift figures are optional; the rest of the scrape is not
            log.warning("metrics: cannot read the drift counts: %s", err)
            return
        drift = GaugeMetricFamily("pmsbridge_drift_open",
                                  "Differences between the PBX and the desired room state, by kind.", labels=["kind"])
        for kind, count in sorted(counts.items()):
            drift.add_metric([str(kind)], count)
        yield drift
