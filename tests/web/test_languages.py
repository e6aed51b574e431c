"""The interface's language: chosen per user, else the browser's; dates in the locale's format."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import pmsbridge.web
from pmsbridge.events import CheckIn, Guest, WakeupSet
from pmsbridge.web.i18n import choose_locale
from pmsbridge.web.ledger_pages import audit_entries
from tests.helpers import wait_for
from tests.web.conftest import ADMIN, FRONTDESK, flashes, login, post
from tests.web.test_pages import board_row, make_dead_delivery

TRANSLATIONS = Path(pmsbridge.web.__file__).parent / "translations"


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


def test_every_catalogue_is_complete_keeps_the_placeholders_and_ships_compiled():
    def placeholders(text: str) -> set[str]:
        return set(re.findall(r"%\((\w+)\)", text))

    def entries(catalogue) -> dict:
        def whole(value):
            return tuple(value) if isinstance(value, (list, tuple)) else value
        return {whole(message.id): whole(message.string) for message in catalogue if message.id}

    template = read_po(open(TRANSLATIONS / "messages.pot", "rb"))
    wanted = {message.id for message in template if message.id}
    for language in ("de", "fr", "es"):
        folder = TRANSLATIONS / language / "LC_MESSAGES"
        catalogue = read_po(open(folder / "messages.po", "rb"))
        assert {message.id for message in catalogue if message.id} == wanted, language
        for message in catalogue:
            if not message.id:
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(strings), (language, message.id)
            for string in strings:
                assert placeholders(string) <= placeholders(" ".join(ids)), (language, message.id, string)
                assert placeholders(ids[-1]) - {"num"} <= placeholders(string), (language, message.id, string)
        shipped = read_mo(open(folder / "messages.mo", "rb"))
        assert entries(shipped) == entries(catalogue), \
            f"{folder}/messages.mo differs from messages.po: run make translations"


def test_a_german_user_reads_german(app, service):
    now = service.ledger.clock().astimezone(service.settings.bridge.zone).replace(tzinfo=None)
    at = now.replace(year=now.year + 1, day=3, hour=6, minute=30, second=0, microsecond=0)
    service.ledger.record(CheckIn(source="fias", room="102", guest=Guest(last_name="Keller", language="EA")), raw="")
    service.ledger.record(WakeupSet(source="fias", room="102", at=at), raw="")
    wait_for(lambda: service.ledger.stats().depth == 0)
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de-DE,de;q=0.9,en;q=0.5"
    login(client, FRONTDESK)
    board = client.get("/").get_data(as_text=True)
    for shown in ("Zimmer", "Gast", "Sprache", "Weckruf", "Englisch", "Versand an die Telefonanlage läuft",
                  f"3.{at.month}.{at.year}, 06:30", "Abmelden"):
        assert shown in board, shown
    room = client.get("/rooms/102").get_data(as_text=True)
    for shown in ("Weckrufe", "Weckruf setzen", "Auschecken", "Abreise", "Rufumleitung"):
        assert shown in room, shown
    response = post(client, "/rooms/102/actions/dnd", {"on": "1", "action_key": "k1"})
    assert flashes(client.get(response.headers["Location"]))[0].startswith("Bitte nicht stören erfasst (Ereignis")
    # The audit log stays one record in English.
    assert "frontdesk do-not-disturb" in {row.action for row in audit_entries(service.ledger)}


def test_french_and_spanish_users_read_theirs(app):
    for language, words in (("fr", ("Chambres", "Recherche", "Se déconnecter")),
                            ("es", ("Habitaciones", "Buscar", "Cerrar sesión"))):
        client = app.test_client()
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
        login(client, FRONTDESK)
        page = client.get("/").get_data(as_text=True)
        assert all(word in page for word in words), language


def test_dead_deliveries_and_what_the_pbx_lacks_read_in_german(app, service, emulator):
    dead = make_dead_delivery(service, emulator, "104")
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de-DE"
    login(client, ADMIN)
    row = board_row(client.get("/").get_data(as_text=True), "104")
    assert "„Bitte nicht stören“ soll an sein, die Telefonanlage hat es aus" in row
    room = client.get("/rooms/104").get_data(as_text=True)
    for shown in ("Für die Administration", "Angehakte abschließen", "Gastdaten speichern", "VIP-Code"):
        assert shown in room, shown
    response = post(client, "/ledger/dismiss", {"id": str(dead), "note": "Gast abgereist"})
    [dismissed, reconciled] = flashes(client.get(response.headers["Location"]))
    assert dismissed == f"1 Auftrag abgeschlossen: {dead}."
    assert reconciled.startswith("Zimmer 104: Reparatur eingereiht (Aufträge ")
    audit = client.get("/ledger?view=audit").get_data(as_text=True)
    assert '<td title="login">angemeldet</td>' in audit
