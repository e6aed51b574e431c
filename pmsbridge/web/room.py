"""A room's page: its guests and settings, its recent events and deliveries, and the actions.

Guest actions (check-in, checkout, move, wake-ups, do-not-disturb, call forward) are
recorded in the ledger as front-desk events (see ``actions``). Editing the name and
language of the extension's user is a direct updateUser on the PBX (with applyChanges
when it asks for one): the PBX's answer is shown at once and audited.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import force_locale, gettext
from werkzeug.wrappers import Response

from pmsbridge.ledger.dead_letters import phantom_problem
from pmsbridge.ledger.models import DeliveryState, EventStatus, RoomStateRow
from pmsbridge.pbx.errors import PbxApplyBlocked, PbxError
from pmsbridge.users import Role
from pmsbridge.web.actions import LABELS, FormError, build_event, describe_result, raw_record
from pmsbridge.web.board_data import RoomLine, queue_counts, room_line, room_rows, room_sort_key
from pmsbridge.web.context import WebContext, web
from pmsbridge.web.security import current_user, protect

log = logging.getLogger(__name__)

REFRESH_SECONDS = 5
HISTORY_ROWS = 15
PBX_USER_FIELDS = {"first_name": "first name", "last_name": "last name", "language": "language"}

blueprint = Blueprint("room", __name__, url_prefix="/rooms")
protect(blueprint, Role.FRONTDESK)


@blueprint.context_processor
def _action_keys() -> dict:
    # Each form gets its own one-time key (see actions.ACTION_KEY_FIELD).
    return {"action_key": lambda: uuid.uuid4().hex}


def _require_room(context: WebContext, room: str) -> RoomStateRow | None:
    """The room's ledger row (None: never seen but configured); 404 for a room neither."""
    row = room_rows(context.service.ledger, [room]).get(room)
    if row is None and room not in context.configured_rooms:
        abort(404, description=gettext("Room %(room)s is not configured and the PMS has never mentioned it.",
                                       room=room))
    return row


def _line(context: WebContext, room: str) -> RoomLine:
    service = context.service
    row = _require_room(context, room)
    return room_line(room, row, mapping=service.mapping, statuses=service.extension_status.snapshot.statuses,
                     queue=queue_counts(service.ledger, room), drift=context.drift_by_room(), now=context.local_now(),
                     phantom=row is not None and phantom_problem(service.ledger, room) is not None)


def _history(context: WebContext, room: str) -> dict:
    ledger = context.service.ledger
    return {"events": ledger.events(room=room, limit=HISTORY_ROWS),
            "deliveries": ledger.deliveries(room=room, limit=HISTORY_ROWS)}


@blueprint.get("/<room>")
def show(room: str) -> str:
    context = web()
    line = _line(context, room)
    now = context.local_now()
    wakeup_day = now.date() if now.hour < 5 else now.date() + timedelta(days=1)
    known = sorted(set(context.configured_rooms) | set(room_rows(context.service.ledger)), key=room_sort_key)
    dead = context.service.ledger.deliveries(state=DeliveryState.DEAD.value, room=room, limit=HISTORY_ROWS)
    return render_template("room.html", line=line, known_rooms=known, wakeup_day=wakeup_day,
                           rooms_settings=context.settings.rooms, refresh_seconds=REFRESH_SECONDS, dead=dead,
                           phantom=phantom_problem(context.service.ledger, room) if line.phantom else None,
                           **_history(context, room))


@blueprint.get("/<room>/history")
def history(room: str) -> str:
    """The room's recent events and deliveries alone, for the page's periodic refresh."""
    context = web()
    _require_room(context, room)
    return render_template("_room_history.html", **_history(context, room))


@blueprint.post("/<room>/actions/<action>")
def act(room: str, action: str) -> Response:
    context, user = web(), current_user()
    _require_room(context, room)
    ledger = context.service.ledger
    try:
        event = build_event(action, room, request.form, user=user.name, now=context.local_now())
    except FormError as err:
        flash(gettext("%(action)s not recorded: %(reason)s", action=str(LABELS.get(action, action)).capitalize(),
                      reason=err), "error")
        return redirect(url_for("room.show", room=room))
    # Strict: the front desk can correct what a PMS's event would have had left out.
    result = ledger.record(event, raw_record(action, room, request.form), actor=user.name, strict=True)
    problem = ledger.event(result.event_id).problem if result.status == EventStatus.NEEDS_ATTENTION else None
    category, message = describe_result(action, result, problem)
    if not result.duplicate:
        # The audit log is one record for every reader: it is written in English.
        with force_locale("en"):
            ledger.audit(user.name, f"frontdesk {LABELS.get(action, action)}", room=room,
                         detail=describe_result(action, result, problem)[1])
    flash(message, category)
    # A refused move leaves the guest where they were: back to that room's page.
    shown = room if result.status == EventStatus.REJECTED else event.room
    return redirect(url_for("room.show", room=shown))


@blueprint.post("/<room>/pbx-user")
def pbx_user(room: str) -> Response:
    """updateUser for the room's extension: first name, last name, language."""
    context, user = web(), current_user()
    _require_room(context, room)
    service = context.service
    extension = service.mapping.extension(room)
    back = redirect(url_for("room.show", room=room))
    if extension is None:
        flash(gettext("Room %(room)s has no extension: nothing to change on the PBX.", room=room), "error")
        return back
    fields = {name: value for name in PBX_USER_FIELDS if (value := request.form.get(name, "").strip())}
    if not fields:
        flash(gettext("Give a first name, a last name or a language to change."), "error")
        return back
    changed = ", ".join(f"{PBX_USER_FIELDS[name]} {value!r}" for name, value in fields.items())
    try:
        applied = service.client.update_user(extension, **fields)
    except PbxApplyBlocked as err:
        category, outcome = "warn", f"stored but not applied yet ({err}); it takes effect at the next applyChanges"
    except PbxError as err:
        category, outcome = "error", f"refused: {err}"
    else:
        category = "ok"
        outcome = "accepted and applied (applyChanges)" if applied else "accepted; the PBX needed no applyChanges"
    message = f"updateUser {extension} ({changed}): {outcome}."
    service.ledger.audit(user.name, "pbx updateUser", room=room, detail=message)
    log.info("%s: updateUser for extension %s: %s", user.name, extension, category)
    # The PBX's answer stays in the words of the audit log and the PBX's documentation.
    flash(gettext("The PBX answered %(answer)s", answer=message), category)
    return back
