"""The minibar catalog page (admin): bars, goods and waiters, pushed to the PBX with pmsapi.

Every change is a direct pmsapi call; the PBX's answer is shown and audited.
"""

from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from pmsbridge.minibar import KINDS, PushResult
from pmsbridge.pbx.errors import PbxError
from pmsbridge.users import Role
from pmsbridge.web.context import web
from pmsbridge.web.security import current_user, protect

blueprint = Blueprint("minibar", __name__, url_prefix="/minibar")
protect(blueprint, Role.ADMIN)


def _answer(result: PushResult) -> str:
    return json.dumps(result.answer, ensure_ascii=False, sort_keys=True) if result.answer else "ok"


@blueprint.get("")
def catalog() -> str:
    context = web()
    return render_template("minibar.html", kinds=KINDS,
                           entries={kind: context.catalog.entries(kind) for kind in KINDS})


@blueprint.post("/<kind>/add")
def add(kind: str) -> Response:
    return _change(kind, "add")


@blueprint.post("/<kind>/<code>/delete")
def delete(kind: str, code: str) -> Response:
    return _change(kind, "delete", code)


def _change(kind: str, change: str, code: str | None = None) -> Response:
    if kind not in KINDS:
        abort(404)
    context, user = web(), current_user()
    spec = KINDS[kind]
    code = code if code is not None else request.form.get(spec.key, "").strip()
    try:
        if change == "add":
            result = context.catalog.add(kind, request.form, actor=user.name)
        else:
            result = context.catalog.remove(kind, code)
    except ValueError as err:  # a CatalogError, or a value pmsapi cannot carry
        flash(f"Minibar {kind} {code or ''}: {err}", "error")
        return redirect(url_for("minibar.catalog"))
    except PbxError as err:
        message = f"{spec.add_operation if change == 'add' else spec.delete_operation} {code}: the PBX refused " \
                  f"or could not be reached ({err}); the catalog is unchanged."
        context.service.ledger.audit(user.name, f"minibar {kind} {change} failed", detail=message)
        flash(message, "error")
        return redirect(url_for("minibar.catalog"))
    message = f"{result.operation} {code}: the PBX answered {_answer(result)}."
    if result.note:
        message += f" {result.note[0].upper()}{result.note[1:]}."
    context.service.ledger.audit(user.name, f"minibar {kind} {change}", detail=message)
    flash(message, "warn" if result.note else "ok")
    return redirect(url_for("minibar.catalog"))
