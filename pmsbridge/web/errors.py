"""Error pages in the interface's own layout (400 bad form, 403 not allowed, 404 unknown)."""

from __future__ import annotations

from flask import Flask, render_template
from flask_babel import gettext
from werkzeug.exceptions import HTTPException

SHOWN = (400, 403, 404, 405)


def install_error_pages(app: Flask) -> None:
    def page(error: HTTPException) -> tuple[str, int]:
        description = error.description
        if error.code == 403:
            description = gettext("This page is for administrators.")
        return render_template("error.html", code=error.code, name=error.name, description=description), error.code

    for code in SHOWN:
        app.register_error_handler(code, page)
