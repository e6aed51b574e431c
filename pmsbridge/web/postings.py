"""The postings page: call charges sent to the PMS, per room with totals and states.

Front-desk staff see everything; re-posting a posting or settling it by hand (only for
refused, unknown or failed ones) is for administrators, and audited.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from pmsbridge.accounting.models import NEEDS_OPERATOR_STATES, Posting, PostingState
from pmsbridge.accounting.money import format_amount
from pmsbridge.accounting.postings import PostingNotChangeable
from pmsbridge.users import Role
from pmsbridge.web.context import WebContext, web
from pmsbridge.web.security import current_user, protect

STATES = tuple(state.value for state in PostingState)
LIMITS = (50, 100, 500)
ATTENTION_SHOWN = 200
# Posting states drawn with the badge colours the ledger page uses for deliveries.
BADGES = {"queued": "pending", "sent": "pending", "posted": "state-delivered", "settled": "state-delivered",
          "refused": "dead", "unknown": "dead", "failed": "dead"}

blueprint = Blueprint("postings", __name__, url_prefix="/postings")
protect(blueprint, Role.FRONTDESK)


@blueprint.app_template_filter("money")
def money(amount: int | None, currency: str) -> str:
    return format_amount(amount, currency)


def _channels_without_sender(context: WebContext, rows: list[Posting]) -> list[str]:
    """Channels of queued postings that no running adapter sends."""
    served: set[str] = set()
    for adapter in context.service.adapters.values():
        channels = getattr(adapter, "posting_channels", None)
        if channels is not None:
            served |= channels()
    return sorted({row.channel for row in rows if row.channel and row.channel not in served})


def _links_without_postings(context: WebContext) -> list[tuple[str, str]]:
    """Running PMS links that cannot book charges on a folio, with why (a cloud PMS without posting set up)."""
    found = []
    for name, adapter in sorted(context.service.adapters.items()):
        unavailable = getattr(adapter, "posting_unavailable", None)
        reason = unavailable() if unavailable is not None else None
        if reason is not None:
            found.append((name, reason))
    return found


@blueprint.get("")
def overview() -> str:
    context = web()
    service = context.service
    store = service.accounting.store
    room = request.args.get("room", "").strip() or None
    state = request.args.get("state") if request.args.get("state") in STATES else None
    limit = request.args.get("limit", type=int, default=LIMITS[0])
    limit = limit if limit in LIMITS else LIMITS[0]
    attention = [row for name in NEEDS_OPERATOR_STATES for row in store.postings(state=name, limit=ATTENTION_SHOWN)]
    attention.sort(key=lambda row: row.id)
    queued = store.postings(state=PostingState.QUEUED.value, limit=ATTENTION_SHOWN)
    return render_template(
        "postings.html",
        rows=store.postings(room=room, state=state, limit=limit),
        totals=store.totals(room),
        counts=store.counts(),
        attention=attention,
        unsent_channels=_channels_without_sender(context, queued),
        links_without_postings=_links_without_postings(context),
        room=room or "", state=state or "", limit=limit, states=STATES, limits=LIMITS, badges=BADGES,
        currency=context.settings.accounting.currency,
        accounting=context.settings.accounting,
        collector=service.accounting.collector,
        reports=service.pbx_reports,
    )


@blueprint.post("/<int:posting_id>/repost")
def repost(posting_id: int) -> Response:
    return _operator_action(posting_id, "repost")


@blueprint.post("/<int:posting_id>/settle")
def settle(posting_id: int) -> Response:
    return _operator_action(posting_id, "settle")


def _operator_action(posting_id: int, action: str) -> Response:
    user = current_user()
    if not user.is_admin:
        abort(403)
    store = web().service.accounting.store
    back = url_for("postings.overview", room=request.form.get("room") or None)
    try:
        if action == "repost":
            posting = store.repost(posting_id, actor=user.name)
            flash(f"Posting {posting.id} for room {posting.room} is queued again.", "ok")
        else:
            note = request.form.get("note", "").strip()[:200] or None
            posting = store.settle(posting_id, actor=user.name, note=note)
            flash(f"Posting {posting.id} for room {posting.room} is settled by hand; nothing more is sent.", "ok")
    except PostingNotChangeable as err:
        flash(f"{str(err)[0].upper()}{str(err)[1:]}.", "warn")
    return redirect(back)
