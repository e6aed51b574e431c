"""The interface's language: chosen per user, else the browser's; dates in the locale's format."""

from __future__ import annotations

import re

from pmsbridge.web.i18n import choose_locale
from tests.web.conftest import FRONTDESK, flashes, login, post


def test_the_locale_is_the_users_choice_else_the_browsers_with_its_territory():
    assert choose_locale(None, ["de-DE", "en;q=0.5"]) == "de_DE"
    assert choose_locale(None, ["it-IT", "fr-CH", "en"]) == "fr_CH"
    assert choose_locale("es", ["de-DE", "es-MX"]) == "es_MX"
    assert choose_locale("es", ["de-DE"]) == "es"
    assert choose_locale("en", ["en-GB", "de"]) == "en_GB"
    assert choose_locale(None, ["*"]) == choose_locale(None, []) == "en"
    assert choose_locale("xx", ["nonsense-!"]) == "en"


def test_a_user_chooses_a_language_and_keeps_it(app):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de-DE"
    login(client, FRONTDESK)
    assert '<html lang="de">' in client.get("/status").get_data(as_text=True)
    response = post(client, "/preferences/language", {"language": "fr", "next": "/status"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/status")
    assert app.extensions["pmsbridge"].users.get(FRONTDESK).language == "fr"
    assert '<html lang="fr">' in client.get("/status").get_data(as_text=True)
    # Another session of the same user (another browser) speaks it too.
    other = app.test_client()
    login(other, FRONTDESK)
    assert '<html lang="fr">' in other.get("/").get_data(as_text=True)
    post(client, "/preferences/language", {"language": ""})
    assert '<html lang="de">' in client.get("/status").get_data(as_text=True)


def test_an_unknown_language_is_refused(frontdesk):
    response = post(frontdesk, "/preferences/language", {"language": "tlh"})
    assert response.status_code == 400
    assert re.search(r"speaks English, Deutsch, Français, Español", response.get_data(as_text=True))
    assert flashes(response) == []
