"""Login and logout. Failures are audited; refusals never tell whether a name exists.

The client's address is the peer's, or behind ``web.trusted_proxies`` the one their
X-Forwarded-For names. A failed login answers 401 with "wrong user name or password"; an
attempt whose address or name has to wait after repeated failures
(``pmsbridge.login_throttle``) answers 429 with ``Retry-After``, for known and unknown names
alike. The audit log gets each failure and each address or name that starts to be slowed
down; a name that is not an account's is never written down (it may be a password typed
into the wrong field).
"""

from __future__ import annotations

import logging

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext, ngettext
from werkzeug.wrappers import Response

from pmsbridge.client_address import IpAddress, client_address
from pmsbridge.login_throttle import NAME, RULES
from pmsbridge.users import LoginRefused
from pmsbridge.web.context import web
from pmsbridge.web.security import check_csrf, current_user, safe_next, start_session

log = logging.getLogger(__name__)

blueprint = Blueprint("auth", __name__)

# The audit log's actor for a login with a name no account has.
UNKNOWN_NAME = "unknown user name"


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int, dict[str, str]]:
    target = safe_next(request.values.get("next")) or url_for("board.rooms")
    if request.method == "GET":
        if current_user() is not None:
            return redirect(target)
        return render_template("login.html", next=target)
    check_csrf()
    name = request.form.get("name", "").strip().lower()
    password = request.form.get("password", "")
    context = web()
    address = client_address(request.remote_addr, request.headers.get("X-Forwarded-For"),
                             context.settings.web.trusted_proxies)
    try:
        account = context.users.authenticate(name, password, str(address) if address else None)
    except LoginRefused as refused:
        _record_refusal(refused, address)
        flash(_refusal(refused), "error")
        if refused.retry_after:
            return render_template("login.html", next=target, name=name), 429, {
                "Retry-After": str(refused.retry_after)}
        return render_template("login.html", next=target, name=name), 401, {}
    start_session(account)
    context.service.ledger.audit(account.name, "login", detail=f"from {address}")
    log.info("%s logged in to the web interface", account.name)
    return redirect(target)


def _refusal(refused: LoginRefused) -> str:
    """Why the login was refused, in the reader's language (``LoginRefused`` says it in English)."""
    if refused.retry_after:
        return ngettext("too many failed logins: try again in %(num)d second",
                        "too many failed logins: try again in %(num)d seconds", refused.retry_after)
    return gettext("wrong user name or password")


def _record_refusal(refused: LoginRefused, address: IpAddress | None) -> None:
    """Log and audit a refused login: the same work for a known and an unknown name."""
    actor = refused.account or UNKNOWN_NAME
    ledger = web().service.ledger
    if refused.retry_after:
        log.warning("web login for %s from %s refused unchecked: %d s to wait after repeated failures",
                    actor, address, refused.retry_after)
        return
    log.warning("web login failed for %s from %s", actor, address)
    ledger.audit(actor, "login failed", detail=f"from {address}")
    for key in refused.throttle_started:
        kind, _, value = key.partition(":")
        rule = RULES[kind]
        subject = f"user name {actor}" if rule is NAME else f"address {value}"
        ledger.audit(actor, "login throttled",
                     detail=f"{rule.free} failed logins in a row for {subject}: each further try waits, "
                            f"from 1 s doubling up to {rule.longest:g} s")


@blueprint.post("/logout")
def logout() -> Response:
    check_csrf()
    user = current_user()
    if user is not None:
        # Every session of the user ends, on every screen: a copied cookie opens nothing.
        web().users.end_sessions(user.name)
        web().service.ledger.audit(user.name, "logout")
    session.clear()
    flash(gettext("You are logged out."), "ok")
    return redirect(url_for("auth.login"))
