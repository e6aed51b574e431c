"""The interface in the staff's language: English, German, French and Spanish.

Each member of staff may choose a language, kept with their account
(``staff_user.language``); without a choice the browser's languages (Accept-Language)
decide, and English is the fallback. The browser's territory for that language is kept,
so dates and times follow it (en-GB: 03/12/2026, 08:30; en-US: 12/3/2026, 8:30 AM).

The catalogues are ``translations/<language>/LC_MESSAGES/messages.po``; the compiled
``messages.mo`` beside each ships in the package, so a server compiles nothing and needs
no network. ``make translations`` extracts the strings again, updates the catalogues and
compiles them.
"""

from __future__ import annotations

from collections.abc import Iterable

from babel import Locale, UnknownLocaleError
from flask import Flask, request
from flask_babel import Babel, get_locale

# Offered languages, each named in its own language (the way its speakers look for it).
LANGUAGES = {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español"}
DEFAULT_LANGUAGE = "en"


def _parse(tag: str) -> Locale | None:
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return None


def choose_locale(chosen: str | None, accepted: Iterable[str]) -> str:
    """The locale of a page: the language ``chosen`` by the user, else the first offered one
    among the browser's ``accepted`` tags (best first), else English; with the territory of
    the first accepted tag of that language that has one."""
    tags = [locale for locale in map(_parse, accepted) if locale is not None]
    language = chosen if chosen in LANGUAGES else next(
        (locale.language for locale in tags if locale.language in LANGUAGES), DEFAULT_LANGUAGE)
    territory = next((locale.territory for locale in tags if locale.language == language and locale.territory),
                     None)
    return f"{language}_{territory}" if territory and _parse(f"{language}_{territory}") else language


def install_i18n(app: Flask) -> None:
    """Flask-Babel with the per-request locale above; templates get ``_``, ``ngettext``, the
    ``languages`` offered and the page's ``locale``."""
    from pmsbridge.web.security import current_user

    def select_locale() -> str:
        user = current_user()
        return choose_locale(user.language if user else None,
                             (tag for tag, quality in request.accept_languages if quality > 0))

    Babel(app, locale_selector=select_locale)

    @app.context_processor
    def _languages() -> dict[str, object]:
        return {"languages": LANGUAGES, "locale": get_locale()}
