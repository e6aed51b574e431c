"""``/healthz`` and ``/metrics`` for monitoring: no login, no secrets, no guest names.

``/healthz`` answers 200 with a JSON report when every check passes and 503 with the same
report, its ``reasons`` filled in, when one fails (see ``pmsbridge.health``). ``/metrics``
is the Prometheus text exposition of the service's ``ServiceMetrics``.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from pmsbridge.health import check_health
from pmsbridge.metrics import CONTENT_TYPE
from pmsbridge.web.context import web

blueprint = Blueprint("health", __name__)

# Both answers describe this moment; a proxy or browser must not serve an old one.
NO_STORE = {"Cache-Control": "no-store"}


@blueprint.get("/healthz")
def healthz() -> tuple[Response, int, dict[str, str]]:
    report = check_health(web().service)
    return jsonify(report.as_dict()), 200 if report.ok else 503, NO_STORE


@blueprint.get("/metrics")
def metrics() -> Response:
    return Response(web().service.metrics.exposition(), content_type=CONTENT_TYPE, headers=NO_STORE)
