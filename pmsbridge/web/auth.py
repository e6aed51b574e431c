"""Login and logout. Each attempt is audited; refusals never tell whether a name exists."""

from __future__ import annotations

import logging

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from pmsbridge.users import LoginRefused
from pmsbridge.web.context import web
from pmsbridge.web.security import check_csrf, current_user, safe_next, start_session

log = logging.getLogger(__name__)

blueprint = Blueprint("auth", __name__)


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    target = safe_next(request.values.get("next")) or url_for("board.rooms")
    if request.method == "GET":
        if current_user() is not None:
            return redirect(target)
        return render_template("login.html", next=target)
    check_csrf()
    name = request.form.get("name", "").strip().lower()
    password = request.form.get("password", "")
    context = web()
    try:
        account = context.users.authenticate(name, password)
    except LoginRefused as refused:
        # Only names of real accounts are logged: a password typed into the name field is not.
        if name and context.users.get(name) is not None:
            action = "login locked" if refused.locked_until else "login failed"
            log.warning("web %s for %s from %s", action, name, request.remote_addr)
            context.service.ledger.audit(name, action, detail=f"from {request.remote_addr}")
        else:
            log.warning("web login refused for an unknown user name from %s", request.remote_addr)
        flash(str(refused), "error")
        return render_template("login.html", next=target, name=name), 401
    start_session(account)
    context.service.ledger.audit(account.name, "login", detail=f"from {request.remote_addr}")
    log.info("%s logged in to the web interface", account.name)
    return redirect(target)


@blueprint.post("/logout")
def logout() -> Response:
    check_csrf()
    user = current_user()
    if user is not None:
        web().service.ledger.audit(user.name, "logout")
    session.clear()
    flash("You are logged out.", "ok")
    return redirect(url_for("auth.login"))
