"""The ledger page (admin): what needs an operator first (dead deliveries to replay or
dismiss, drift to repair, held database swaps to confirm, the latest reconciliation and a
check on demand), then the history of events, deliveries and the audit log, filtered; one
page per event and per delivery (where a dead guest operation is replayed with corrected
guest data); and the room actions of an administrator: resend what a room lacks, remove a
room the hotel does not have (``pmsbridge.ledger.dead_letters``)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import force_locale, gettext, ngettext
from sqlalchemy import select
from sqlmodel import Session
from werkzeug.wrappers import Response

from pmsbridge import held_swaps as swaps
from pmsbridge.ledger import dead_letters
from pmsbridge.ledger.dead_letters import OperatorRefused
from pmsbridge.ledger.models import AuditEntry, Delivery, DeliveryState, EventStatus
from pmsbridge.ledger.store import Ledger
from pmsbridge.users import Role
from pmsbridge.web.actions import FormError, build_event, describe_result, raw_record
from pmsbridge.web.context import WebContext, web
from pmsbridge.web.labels import LEDGER_VIEWS
from pmsbridge.web.security import current_user, protect, safe_next

log = logging.getLogger(__name__)

VIEWS = ("deliveries", "events", "audit")
DELIVERY_STATES = tuple(state.value for state in DeliveryState)
EVENT_STATUSES = tuple(status.value for status in EventStatus)
LIMITS = (50, 100, 500)
DEAD_SHOWN = 200

blueprint = Blueprint("ledger", __name__, url_prefix="/ledger")
protect(blueprint, Role.ADMIN)


def audit_entries(ledger: Ledger, *, room: str | None = None, limit: int = 100) -> list[AuditEntry]:
    with Session(ledger.reader) as session:
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if room:
            query = query.where(AuditEntry.room == room)
        return list(session.execute(query).scalars())


def event_deliveries(ledger: Ledger, event_id: int) -> list[Delivery]:
    with Session(ledger.reader) as session:
        return list(session.execute(select(Delivery).where(Delivery.event_id == event_id).order_by(Delivery.id))
                    .scalars())


def _adapter_names(context: WebContext) -> set[str]:
    return set(context.service.adapters) | set(context.settings.adapters)


@blueprint.get("")
def overview() -> str:
    context = web()
    ledger = context.service.ledger
    view = request.args.get("view", "deliveries")
    if view not in VIEWS:
        view = "deliveries"
    room = request.args.get("room", "").strip() or None
    state = request.args.get("state") if request.args.get("state") in DELIVERY_STATES else None
    status = request.args.get("status") if request.args.get("status") in EVENT_STATUSES else None
    limit = request.args.get("limit", type=int, default=LIMITS[0])
    limit = limit if limit in LIMITS else LIMITS[0]
    if view == "deliveries":
        rows = ledger.deliveries(state=state, room=room, limit=limit)
    elif view == "events":
        rows = ledger.events(status=status, room=room, limit=limit)
    else:
        rows = audit_entries(ledger, room=room, limit=limit)
    return render_template(
        "ledger.html",
        view=view, rows=rows, room=room or "", state=state or "", status=status or "", limit=limit,
        views=VIEWS, view_names=LEDGER_VIEWS, limits=LIMITS, delivery_states=DELIVERY_STATES,
        event_statuses=EVENT_STATUSES,
        dead=ledger.deliveries(state=DeliveryState.DEAD, limit=DEAD_SHOWN),
        stats=ledger.stats(),
        reconciler=context.reconciler,
        check=context.reconciler.latest_check if context.reconciler is not None else None,
        drift=context.drift_by_room(),
        held=swaps.held_swaps(ledger, _adapter_names(context)),
    )


def _back(default: str | None = None) -> Response:
    """Back where the form came from (its ``next`` field, a path on this site), else ``default``."""
    return redirect(safe_next(request.form.get("next")) or default or url_for("ledger.overview"))


@blueprint.get("/deliveries/<int:delivery_id>")
def delivery(delivery_id: int) -> str:
    ledger = web().service.ledger
    row = ledger.delivery(delivery_id)
    if row is None:
        abort(404, description=gettext("There is no delivery %(id)s.", id=delivery_id))
    event = ledger.event(row.event_id) if row.event_id is not None else None
    try:
        room = dead_letters.guest_room(ledger, delivery_id)
    except OperatorRefused:
        room, guest = None, None  # nothing to correct: no form
    else:
        guest = ledger.room_states([room])[room].displayed_guest
    return render_template("delivery.html", delivery=row, event=event, guest_room=room, guest=guest,
                           action_key=uuid.uuid4().hex)


@blueprint.get("/events/<int:event_id>")
def event(event_id: int) -> str:
    ledger = web().service.ledger
    row = ledger.event(event_id)
    if row is None:
        abort(404, description=gettext("There is no event %(id)s.", id=event_id))
    return render_template("event.html", event=row, deliveries=event_deliveries(ledger, event_id))


@blueprint.post("/replay")
def replay() -> Response:
    """Queue dead deliveries again: the ones ticked, or every dead one."""
    context, user = web(), current_user()
    all_dead = request.form.get("all_dead") == "1"
    ids = [int(value) for value in request.form.getlist("id") if value.isdigit()]
    if not all_dead and not ids:
        flash(gettext("Tick the dead deliveries to replay, or replay all of them."), "error")
        return redirect(url_for("ledger.overview"))
    queued = context.service.ledger.replay(ids=ids, all_dead=all_dead, actor=user.name)
    if queued:
        flash(ngettext("Queued %(num)d delivery again: %(ids)s.", "Queued %(num)d deliveries again: %(ids)s.",
                       len(queued), ids=", ".join(map(str, queued))), "ok")
    else:
        flash(gettext("Nothing was replayed: those deliveries are no longer dead."), "warn")
    return _back()


@blueprint.post("/dismiss")
def dismiss() -> Response:
    """End the ticked dead deliveries with a note, then reconcile their rooms from the PBX."""
    context, user = web(), current_user()
    ids = [int(value) for value in request.form.getlist("id") if value.isdigit()]
    if not ids:
        flash(gettext("Tick the dead deliveries to dismiss."), "error")
        return _back()
    try:
        done = dead_letters.dismiss_and_reconcile(context.service.ledger, context.reconciler, ids,
                                                  note=request.form.get("note", ""), actor=user.name)
    except OperatorRefused as err:
        flash(gettext("Nothing was dismissed: %(reason)s.", reason=err), "error")
        return _back()
    if not done.dismissed:
        flash(gettext("Nothing was dismissed: those deliveries are no longer dead."), "warn")
        return _back()
    flash(ngettext("Dismissed %(num)d delivery: %(ids)s.", "Dismissed %(num)d deliveries: %(ids)s.",
                   len(done.dismissed), ids=", ".join(map(str, done.dismissed))), "ok")
    for repair in done.reconciled.values():
        flash(_repair_said(repair), repair.category)
    return _back()


@blueprint.post("/deliveries/<int:delivery_id>/correct")
def correct(delivery_id: int) -> Response:
    """Replay a dead guest operation with corrected guest data (see dead_letters.correct_guest)."""
    context, user = web(), current_user()
    ledger = context.service.ledger
    try:
        room = dead_letters.guest_room(ledger, delivery_id)
        change = build_event("guest", room, request.form, user=user.name, now=context.local_now())
        done = dead_letters.correct_guest(ledger, delivery_id, change, raw_record("guest", room, request.form),
                                          actor=user.name)
    except (FormError, OperatorRefused) as err:
        flash(gettext("Nothing was replayed: %(reason)s.", reason=err), "error")
        return redirect(url_for("ledger.delivery", delivery_id=delivery_id))

    def said() -> str:
        message = describe_result("guest", done.result)[1]
        if done.replaced:
            message += " " + ngettext("Replaced dead delivery %(ids)s (dismissed).",
                                      "Replaced dead deliveries %(ids)s (dismissed).", len(done.replaced),
                                      ids=", ".join(map(str, done.replaced)))
        return message

    if not done.result.duplicate:
        _audit(context, user.name, "corrected guest data", said, room=room)
    flash(said(), describe_result("guest", done.result)[0])
    if done.replaced:
        return redirect(url_for("room.show", room=room))
    return redirect(url_for("ledger.delivery", delivery_id=delivery_id))


@blueprint.post("/rooms/<room>/resend")
def resend(room: str) -> Response:
    """Queue what the room lacks on the PBX, from what the PBX confirmed."""
    context, user = web(), current_user()
    try:
        queued = dead_letters.resend_room(context.service.ledger, room, actor=user.name)
    except OperatorRefused as err:
        flash(gettext("Nothing was resent: %(reason)s.", reason=err), "error")
    else:
        if queued:
            flash(gettext("Room %(room)s: queued what the PBX lacks (deliveries %(ids)s).", room=room,
                          ids=", ".join(map(str, queued))), "ok")
        else:
            flash(gettext("Room %(room)s: nothing to send: the PBX confirmed all the room needs.", room=room), "ok")
    return _back(url_for("room.show", room=room))


@blueprint.post("/rooms/<room>/remove")
def remove_room(room: str) -> Response:
    """Remove a room the hotel does not have (a phantom) from the ledger."""
    context, user = web(), current_user()
    try:
        dead_letters.remove_phantom_room(context.service.ledger, room, actor=user.name)
    except OperatorRefused as err:
        flash(gettext("Room %(room)s was not removed: %(reason)s.", room=room, reason=err), "error")
        return _back(url_for("room.show", room=room))
    log.info("%s removed room %s, which is not one of the hotel's", user.name, room)
    flash(gettext("Room %(room)s is removed from the ledger (not one of the hotel's rooms); its dead deliveries "
                  "are dismissed.", room=room), "ok")
    return redirect(url_for("board.rooms"))


@blueprint.post("/drift/<room>/repair")
def repair(room: str) -> Response:
    context, user = web(), current_user()
    if context.reconciler is None:
        abort(404, description=gettext("This bridge does not reconcile."))
    repair = dead_letters.repair_room(context.reconciler, room, actor=user.name)
    context.service.ledger.audit(user.name, "drift repair", room=room, detail=str(repair))
    flash(_repair_said(repair), repair.category)
    return redirect(url_for("ledger.overview"))


def _repair_said(repair: dead_letters.RoomRepair) -> str:
    """``RoomRepair`` in the reader's language (the reconciler's note stays as it is written)."""
    room = repair.room
    if not repair.reconciles:
        return gettext("Room %(room)s: this bridge does not reconcile; resend the room to send what the PBX lacks.",
                       room=room)
    if repair.error is not None:
        return gettext("Room %(room)s: the PBX could not be read (%(error)s); nothing was repaired.", room=room,
                       error=repair.error)
    if repair.deliveries:
        return gettext("Room %(room)s: repair queued (deliveries %(ids)s).", room=room,
                       ids=", ".join(map(str, repair.deliveries)))
    return gettext("Room %(room)s: %(note)s.", room=room, note=repair.note)


@blueprint.post("/reconcile")
def check_now() -> Response:
    """Reconcile now: ``mode=look`` compares and records nothing (a dry run); ``mode=record``
    records the drift found and queues repairs per ``[reconcile.policy]``, as a scheduled run."""
    context, user = web(), current_user()
    reconciler = context.reconciler
    if reconciler is None:
        abort(404, description=gettext("This bridge does not reconcile."))
    dry_run = request.form.get("mode") != "record"
    report = reconciler.run(reason=f"asked for by {user.name}", dry_run=dry_run)

    def said() -> str:
        if report.error:
            return gettext("The PBX could not be read (%(error)s); nothing was compared.", error=report.error)
        found = ngettext("%(num)d difference found in %(rooms)d rooms", "%(num)d differences found in %(rooms)d rooms",
                         report.found, rooms=report.rooms_compared)
        done = gettext("nothing recorded (look only)") if dry_run else ngettext(
            "repairs queued for %(num)d room", "repairs queued for %(num)d rooms", len(report.repaired))
        return gettext("Reconciliation: %(found)s; %(done)s.", found=found, done=done)

    _audit(context, user.name, "reconcile look" if dry_run else "reconcile", said)
    flash(said(), "error" if report.error else "warn" if report.found else "ok")
    return redirect(url_for("ledger.overview", _anchor="reconciliation"))


def _audit(context: WebContext, actor: str, action: str, said: Callable[[], str], room: str | None = None) -> None:
    """Audit what ``said`` tells, in English: the audit log is one record for every reader."""
    with force_locale("en"):
        context.service.ledger.audit(actor, action, room=room, detail=said())


@blueprint.post("/swaps/<adapter>/<decision>")
def settle_swap(adapter: str, decision: str) -> Response:
    """Confirm (record its events) or discard a database swap the guard held back."""
    context, user = web(), current_user()
    if decision not in ("confirm", "discard") or adapter not in _adapter_names(context):
        abort(404)
    settle = swaps.confirm if decision == "confirm" else swaps.discard
    try:
        held = settle(context.service.ledger, adapter, actor=user.name)
    except swaps.NoHeldSwap as err:
        flash(str(err).capitalize() + ".", "warn")
    else:
        log.info("%s %s the held database swap of %s", user.name, decision, adapter)
        if decision == "confirm":
            message = gettext("The held database swap of %(adapter)s is confirmed: its events are recorded "
                              "(%(summary)s).", adapter=adapter, summary=held.summary)
        else:
            message = gettext("The held database swap of %(adapter)s is discarded (%(summary)s).", adapter=adapter,
                              summary=held.summary)
        flash(message, "ok")
    return redirect(url_for("ledger.overview"))
