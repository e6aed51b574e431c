"""Is the bridge healthy? The checks behind ``/healthz``, and the PBX probe that keeps them honest.

Healthy means: the ledger database answers, the PBX answered a request within
``bridge.health_pbx_max_age`` seconds, no wake-up due within the next 30 minutes lacks the
PBX's confirmation (``pmsbridge.wakeup_risk``), and every enabled PMS adapter's link is up. The PBX
check reads ``PbxClient.health`` only; a quiet hotel sends nothing for hours, so
``PbxProbe`` (a scheduler job) asks the PBX something cheap whenever no request succeeded
for a third of that age: a reachable PBX never goes stale, an unreachable one does.

Reports name components, states and room numbers, never guests or secrets: monitoring
reads them without logging in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from pmsbridge.adapters.base import AdapterStatus, LinkState
from pmsbridge.pbx.errors import PbxError
from pmsbridge.wakeup_risk import RISK_WINDOW, WakeupAtRisk, wakeups_at_risk

if TYPE_CHECKING:
    from pmsbridge.pbx.client import PbxClient
    from pmsbridge.service import Service

log = logging.getLogger(__name__)

# Link states in which an adapter receives from its PMS (a swap is the PMS talking).
LINK_UP_STATES = frozenset({LinkState.UP, LinkState.SWAPPING})


@dataclass(frozen=True)
class Check:
    """One component's verdict: ``detail`` is one sentence for the operator."""

    name: str
    ok: bool
    detail: str
    facts: dict[str, Any]


@dataclass(frozen=True)
class HealthReport:
    checks: tuple[Check, ...]
    role: str | None = None  # two servers: "leader" or "standby"

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def reasons(self) -> list[str]:
        return [f"{check.name}: {check.detail}" for check in self.checks if not check.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "failing",
            **({"role": self.role} if self.role is not None else {}),
            "reasons": self.reasons,
            "checks": {check.name: {"ok": check.ok, "detail": check.detail, **check.facts} for check in self.checks},
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def check_database(service: Service) -> Check:
    try:
        with service.ledger.reader.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as err:
        log.warning("health check: the ledger database does not answer: %s", err)
        return Check("database", False, f"the ledger database does not answer ({type(err).__name__})", {})
    return Check("database", True, "the ledger database answers", {})


def check_pbx(service: Service, now: datetime) -> Check:
    max_age = service.settings.bridge.health_pbx_max_age
    health = service.client.health
    facts = {
        "last_success": _iso(health.last_success),
        "last_error_at": _iso(health.last_error_at),
        "logged_in": health.logged_in,
        "max_age_seconds": max_age,
    }
    if health.last_success is not None:
        age = (now - health.last_success).total_seconds()
        facts["age_seconds"] = round(age, 1)
        if age <= max_age:
            return Check("pbx", True, f"the PBX answered {age:.0f} s ago", facts)
        detail = f"no successful PBX request for {age:.0f} s (bridge.health_pbx_max_age = {max_age:g})"
    else:
        detail = "no successful PBX request since the start"
    if health.last_error is not None:
        detail += f"; last error: {health.last_error}"
    return Check("pbx", False, detail, facts)


def hotel_wakeups_at_risk(service: Service, now: datetime) -> list[WakeupAtRisk]:
    """The hotel's wake-ups at risk at ``now`` (timezone-aware), from the ledger's books:
    one read of the room table, no PBX request."""
    local = now.astimezone(service.settings.bridge.zone).replace(tzinfo=None)
    return wakeups_at_risk(service.ledger.room_books(), local)


def check_wakeups(service: Service, now: datetime) -> Check:
    window = f"{RISK_WINDOW.total_seconds() / 60:g} minutes"
    try:
        at_risk = hotel_wakeups_at_risk(service, now)
    except SQLAlchemyError as err:
        return Check("wakeups", False, f"the wake-ups cannot be read: the ledger database does not answer "
                                       f"({type(err).__name__})", {})
    facts = {"at_risk": len(at_risk), "rooms": sorted({risk.room for risk in at_risk})}
    if not at_risk:
        return Check("wakeups", True, f"every wake-up due within {window} is confirmed by the phone system", facts)
    return Check("wakeups", False, "; ".join(map(str, at_risk)), facts)


def check_adapter(name: str, status: AdapterStatus) -> Check:
    facts = {"state": str(status.state), "since": _iso(status.since)}
    summary = f"link {status.state} since {_iso(status.since)}" + (f" ({status.detail})" if status.detail else "")
    return Check(f"adapter:{name}", status.state in LINK_UP_STATES, summary, facts)


def check_leader(service: Service) -> Check:
    """A standby is healthy while a leader holds the lease (or none is needed yet: it takes over)."""
    leadership = service.leadership
    facts = {"member": leadership.member_name, "role": leadership.role}
    if leadership.last_error is not None:
        return Check("ha", False, f"the lease's database does not answer: {leadership.last_error}", facts)
    return Check("ha", True, f"standing by as {leadership.member_name}; the leader sends", facts)


def check_health(service: Service, now: datetime | None = None) -> HealthReport:
    """Every check, in a fixed order: database, PBX, wake-ups, then the adapters by name.

    A standby of two servers checks only the database and its lease: the PBX and the PMS
    links are the leader's, and the standby answers 200 with ``role: standby``.
    """
    now = now or datetime.now(UTC)
    leadership = service.leadership
    if leadership is not None and not leadership.leading:
        return HealthReport((check_database(service), check_leader(service)), role=leadership.role)
    checks = [check_database(service), check_pbx(service, now), check_wakeups(service, now)]
    checks += [check_adapter(name, adapter.status) for name, adapter in sorted(service.adapters.items())]
    return HealthReport(tuple(checks), role=None if leadership is None else leadership.role)


# While the PBX does not answer, the probe asks it this often: the first answer after an
# outage ends the dispatcher's wait within seconds, and /healthz turns healthy again.
FAILING_PROBE_INTERVAL = 5.0


class PbxProbe:
    """Asks the PBX for its system status when no request succeeded for ``max_age / 3``
    seconds, and every ``FAILING_PROBE_INTERVAL`` seconds while it does not answer.

    ``on_recovery`` callbacks hear of the first answer after a failure (the dispatcher
    resumes at once instead of waiting out its backoff).
    """

    def __init__(self, client: PbxClient, max_age: float):
        self.client = client
        self.max_age = max_age
        self._failing = False
        self._recovery: list[Callable[[], None]] = []

    @property
    def interval(self) -> float:
        """How often the scheduler should run the probe."""
        return min(self.max_age / 3, FAILING_PROBE_INTERVAL)

    def on_recovery(self, callback: Callable[[], None]) -> None:
        self._recovery.append(callback)

    def run(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        health = self.client.health
        last_success = health.last_success
        recent = last_success is not None and (now - last_success).total_seconds() < self.max_age / 3
        # A failed request since the last success (the dispatcher's, say) starts the outage's probing.
        failed_since = health.last_error_at is not None and (last_success is None
                                                            or health.last_error_at > last_success)
        if recent and not (self._failing or failed_since):
            return
        try:
            self.client.system_status()
        except PbxError as err:
            # The client keeps the error for /healthz; the journal needs it once per outage.
            if not self._failing:
                log.warning("the PBX does not answer the health probe: %s", err)
            self._failing = True
            return
        if self._failing:
            log.info("the PBX answers the health probe again")
            self._failing = False
            for callback in self._recovery:
                try:
                    callback()
                except Exception:
                    log.exception("PBX recovery listener failed")
