"""``POST /pbx/report``: where the PBX pushes its event reports (``pbx.report_url`` points here).

No login and no CSRF token: the PBX cannot have either. Only the PBX's address (and
``accounting.report_allow_ips``) is let in; others get 403 and a warning in the log.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request

from pmsbridge.pbx_reports import ReportUnreadable
from pmsbridge.web.context import web

log = logging.getLogger(__name__)

blueprint = Blueprint("pbx_reports", __name__)


@blueprint.post("/pbx/report")
def receive() -> tuple[Response, int]:
    reports = web().service.pbx_reports
    if not reports.senders.allows(request.remote_addr):
        log.warning("a PBX report from %s was refused: not the PBX's address (pbx.url) nor in "
                    "accounting.report_allow_ips", request.remote_addr)
        return jsonify(status=-1, error="not allowed"), 403
    try:
        receipt = reports.receive(request.get_data(cache=False))
    except ReportUnreadable as err:
        log.warning("an unreadable PBX report from %s was kept: %s", request.remote_addr, err)
        return jsonify(status=-1, error=str(err)), 400
    return jsonify(status=0, kept=receipt.kept, applied=receipt.applied), 200
