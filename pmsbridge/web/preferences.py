"""A member of staff's own preferences: the interface language, kept with their account."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from pmsbridge.users import Role
from pmsbridge.web.context import web
from pmsbridge.web.i18n import LANGUAGES
from pmsbridge.web.security import current_user, protect, safe_next

blueprint = Blueprint("preferences", __name__, url_prefix="/preferences")
protect(blueprint, Role.FRONTDESK)


@blueprint.post("/language")
def language() -> Response:
    """Keep the language chosen (empty: follow the browser) and go back to the page it was chosen on."""
    chosen = request.form.get("language") or None
    if chosen is not None and chosen not in LANGUAGES:
        abort(400, description=gettext("The interface speaks %(languages)s; %(chosen)s is none of them.",
                                       languages=", ".join(LANGUAGES.values()), chosen=repr(chosen)))
    web().users.set_language(current_user().name, chosen)
    return redirect(safe_next(request.form.get("next")) or url_for("board.rooms"))
