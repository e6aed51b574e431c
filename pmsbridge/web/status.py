"""The status page: the PBX, the PMS links, the queue and reconciliation, from what is known
already (the client's health, the status sweep, the adapters): viewing it asks the PBX nothing."""

from __future__ import annotations

from flask import Blueprint, render_template

from pmsbridge.health import hotel_wakeups_at_risk
from pmsbridge.users import Role
from pmsbridge.web.context import web
from pmsbridge.web.security import protect

blueprint = Blueprint("status", __name__)
protect(blueprint, Role.FRONTDESK)


@blueprint.get("/status")
def overview() -> str:
    context = web()
    service = context.service
    reconciler = context.reconciler
    return render_template(
        "status.html",
        pbx=service.client.health,
        pbx_url=context.settings.pbx.url,
        sweep=service.extension_status.snapshot,
        dispatcher=service.dispatcher.health,
        stats=service.ledger.stats(),
        adapters={name: adapter.status for name, adapter in sorted(service.adapters.items())},
        reconciler=reconciler,
        drift_counts=reconciler.counts() if reconciler is not None else {},
        wakeups_at_risk=hotel_wakeups_at_risk(service, service.ledger.clock()),
    )
