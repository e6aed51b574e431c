"""The staff accounts page (admin): add users, set passwords, disable and enable accounts."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from pmsbridge.users import Role, UserError
from pmsbridge.web.context import web
from pmsbridge.web.security import current_user, protect

blueprint = Blueprint("staff", __name__, url_prefix="/users")
protect(blueprint, Role.ADMIN)


@blueprint.get("")
def accounts() -> str:
    return render_template("users.html", accounts=web().users.accounts(), roles=list(Role))


def _done(message: str, *, action: str, name: str) -> Response:
    context, user = web(), current_user()
    context.service.ledger.audit(user.name, action, detail=f"user {name}")
    flash(message, "ok")
    return redirect(url_for("staff.accounts"))


def _refused(err: UserError) -> Response:
    flash(str(err).capitalize() + ".", "error")
    return redirect(url_for("staff.accounts"))


@blueprint.post("/add")
def add() -> Response:
    form = request.form
    if form.get("password", "") != form.get("password_again", ""):
        return _refused(UserError(gettext("the two passwords differ")))
    try:
        account = web().users.add(form.get("name", ""), form.get("role", ""), form.get("password", ""))
    except UserError as err:
        return _refused(err)
    return _done(gettext("User %(name)s (%(role)s) added.", name=account.name, role=account.role),
                 action="user added", name=account.name)


@blueprint.post("/<name>/password")
def password(name: str) -> Response:
    form = request.form
    if form.get("password", "") != form.get("password_again", ""):
        return _refused(UserError(gettext("the two passwords differ")))
    try:
        web().users.set_password(name, form.get("password", ""))
    except UserError as err:
        return _refused(err)
    return _done(gettext("New password set for %(name)s; their open sessions have ended.", name=name),
                 action="password set", name=name)


@blueprint.post("/<name>/disable")
def disable(name: str) -> Response:
    if name == current_user().name:
        return _refused(UserError(gettext("you cannot disable your own account")))
    try:
        web().users.set_disabled(name, True)
    except UserError as err:
        return _refused(err)
    return _done(gettext("User %(name)s is disabled.", name=name), action="user disabled", name=name)


@blueprint.post("/<name>/enable")
def enable(name: str) -> Response:
    try:
        web().users.set_disabled(name, False)
    except UserError as err:
        return _refused(err)
    return _done(gettext("User %(name)s is enabled.", name=name), action="user enabled", name=name)
