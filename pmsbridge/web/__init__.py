"""The web interface: ``create_app(settings, service)`` builds the Flask application.

Server-rendered pages for the front desk and the integrator (board, room, ledger, status,
mapping, minibar catalog, staff users), behind a login, in each user's language (``i18n``);
every asset and message catalogue ships in the package.
The blueprints of PMS adapters (webhook receivers) are mounted as they are: they carry
their own authentication and are not subject to the login or the CSRF check.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from pmsbridge.config import Settings
    from pmsbridge.service import Service

SESSION_LIFETIME = timedelta(hours=12)


def create_app(settings: Settings, service: Service) -> Flask:
    from pmsbridge.minibar import MinibarCatalog
    from pmsbridge.users import UserStore
    from pmsbridge.web import (auth, board, health, ledger_pages, mapping, minibar, pbx_reports, postings,
                               preferences, room, staff, status)
    from pmsbridge.web.context import WebContext, configured_rooms
    from pmsbridge.web.errors import install_error_pages
    from pmsbridge.web.formatting import install_filters
    from pmsbridge.web.i18n import install_i18n
    from pmsbridge.web.labels import install_labels
    from pmsbridge.web.secret import session_secret
    from pmsbridge.web.security import BridgeSessionInterface, install_security
    from pmsbridge.web.server import MAX_REQUEST_BYTES

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=session_secret(settings),
        SESSION_COOKIE_NAME="pmsbridge_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
    )
    app.session_interface = BridgeSessionInterface(settings.web.secure_cookies)
    app.extensions["pmsbridge"] = WebContext(
        settings=settings,
        service=service,
        users=UserStore(service.engine),
        catalog=MinibarCatalog(service.engine, service.client),
        configured_rooms=configured_rooms(settings.rooms),
    )
    install_i18n(app)
    install_filters(app, settings.bridge.zone)
    install_labels(app)
    install_security(app)
    install_error_pages(app)
    for blueprint in (auth.blueprint, board.blueprint, room.blueprint, status.blueprint, ledger_pages.blueprint,
                      mapping.blueprint, minibar.blueprint, staff.blueprint, postings.blueprint,
                      preferences.blueprint):
        app.register_blueprint(blueprint)

    # Health and metrics (no login: monitoring).
    app.register_blueprint(health.blueprint)
    # The PBX's event reports (no login: only the PBX's address is let in).
    app.register_blueprint(pbx_reports.blueprint)

    for adapter in service.adapters.values():
        blueprint = getattr(adapter, "web_blueprint", lambda: None)()
        if blueprint is not None:
            app.register_blueprint(blueprint)
    return app
