"""The room board: every room at a glance, refreshed in place every few seconds."""

from __future__ import annotations

from flask import Blueprint, render_template

from pmsbridge.users import Role
from pmsbridge.web.board_data import board_lines, summarise
from pmsbridge.web.context import WebContext, web
from pmsbridge.web.security import protect

REFRESH_SECONDS = 5

blueprint = Blueprint("board", __name__)
protect(blueprint, Role.FRONTDESK)


def _board(context: WebContext) -> dict:
    service = context.service
    now = context.local_now()
    lines = board_lines(service.ledger, service.mapping, context.configured_rooms,
                        service.extension_status.snapshot.statuses, context.drift_by_room(), now)
    return {
        "now": now,
        "lines": lines,
        "summary": summarise(lines),
        "stats": service.ledger.stats(),
        "dispatcher": service.dispatcher.health,
        "sweep": service.extension_status.snapshot,
    }


@blueprint.get("/")
def rooms() -> str:
    data = _board(web())
    floors = sorted({line.floor for line in data["lines"] if line.floor}, key=int)
    return render_template("board.html", floors=floors, refresh_seconds=REFRESH_SECONDS, **data)


@blueprint.get("/board/table")
def table() -> str:
    """The board's table alone, for the page's periodic refresh."""
    return render_template("_board_table.html", **_board(web()))
