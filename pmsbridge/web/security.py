"""Who may see and do what: the logged-in user, roles per blueprint, CSRF tokens, headers.

- A session (a signed cookie, HttpOnly, SameSite=Lax, Secure per ``web.secure_cookies``)
  holds the user name, the account's session epoch and a CSRF token. The epoch is checked
  against the ledger on every request: a logout, a password change or disabling the account
  raises it and so ends every session of that user at once, copied cookies included. A
  session also ends after ``SESSION_LIFETIME``.
- Every blueprint of the interface calls ``protect(blueprint, role)``: anonymous visitors
  are sent to the login page, a front-desk user gets 403 on an admin blueprint, and every
  POST must carry the session's CSRF token (compared with ``hmac.compare_digest``).
- Every response carries headers that keep the pages out of frames and scripts from other
  origins (everything the pages use ships in the package).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Literal
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.wrappers import Response

from pmsbridge.users import Account, Role
from pmsbridge.web.context import web

CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class BridgeSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with ``Secure`` decided per request when set to "auto"."""

    def __init__(self, secure: Literal["auto"] | bool):
        self.secure = secure

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure if self.secure == "auto" else bool(self.secure)


def csrf_token() -> str:
    """The session's CSRF token, made on first use."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Abort with 400 unless a state-changing request carries the session's token."""
    if request.method in SAFE_METHODS:
        return
    expected = session.get("csrf")
    sent = request.form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token") or ""
    if not expected or not hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8")):
        abort(400, description="The form has expired or did not come from this site. Reload the page and try again.")


def start_session(account: Account) -> None:
    """Log ``account`` in: a fresh session (a new CSRF token too), kept for SESSION_LIFETIME."""
    session.clear()
    session.permanent = True
    session["user"] = account.name
    session["epoch"] = account.session_epoch
    csrf_token()


def current_user() -> Account | None:
    """The logged-in account, or None; a session whose account changed since login is ended."""
    if "user" in g:
        return g.user
    account = None
    name = session.get("user")
    if name:
        account = web().users.get(name)
        if account is None or account.disabled or account.session_epoch != session.get("epoch"):
            session.clear()
            account = None
    g.user = account
    return account


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site (never another host: no open redirect) without
    control characters (a line break would forge headers of the redirect)."""
    if not target or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def protect(blueprint: Blueprint, role: Role) -> None:
    """Require a login with ``role`` (admins may do everything) and a CSRF token on POST."""

    @blueprint.before_request
    def _guard() -> Response | None:
        user = current_user()
        if user is None:
            wanted = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("auth.login", next=wanted))
        if role is Role.ADMIN and not user.is_admin:
            abort(403)
        check_csrf()
        return None


def install_security(app: Flask) -> None:
    """Headers on every response, and the user and token for every template."""

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if "user" in session:
            # Pages show guest names: no shared cache, no back-button copy after logout.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.context_processor
    def _template_globals() -> dict[str, object]:
        return {"current_user": current_user(), "csrf_token": csrf_token, "csrf_field": CSRF_FIELD}
