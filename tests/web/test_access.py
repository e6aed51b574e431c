"""Who may do what: every route for every role, CSRF, the lockout, sessions, cookies and headers."""

from __future__ import annotations

import re
import shutil
from urllib.parse import urlsplit

import pytest

from pmsbridge.events import CheckIn, Guest
from pmsbridge.users import LOCKOUT, MAX_FAILED_LOGINS, UserStore
from pmsbridge.web import create_app
from pmsbridge.web.ledger_pages import audit_entries
from tests.helpers import wait_for
from tests.web.conftest import (
    ADMIN,
    FRONTDESK,
    LEDGER_FILE,
    bridge_settings,
    csrf_of,
    flashes,
    follow,
    login,
    post,
    start_emulator,
    start_service,
)

# (method, path, endpoint, role): every route of the interface; "public" needs no login.
ROUTES = [
    ("GET", "/login", "auth.login", "public"),
    ("POST", "/logout", "auth.logout", "public"),
    ("GET", "/", "board.rooms", "frontdesk"),
    ("GET", "/board/table", "board.table", "frontdesk"),
    ("GET", "/rooms/101", "room.show", "frontdesk"),
    ("GET", "/rooms/101/history", "room.history", "frontdesk"),
    ("POST", "/rooms/104/actions/dnd", "room.act", "frontdesk"),
    ("POST", "/rooms/104/pbx-user", "room.pbx_user", "frontdesk"),
    ("GET", "/status", "status.overview", "frontdesk"),
    ("POST", "/preferences/language", "preferences.language", "frontdesk"),
    ("GET", "/ledger", "ledger.overview", "admin"),
    ("GET", "/ledger/deliveries/1", "ledger.delivery", "admin"),
    ("GET", "/ledger/events/1", "ledger.event", "admin"),
    ("POST", "/ledger/replay", "ledger.replay", "admin"),
    ("POST", "/ledger/drift/101/repair", "ledger.repair", "admin"),
    ("POST", "/ledger/reconcile", "ledger.check_now", "admin"),
    ("POST", "/ledger/swaps/fias/confirm", "ledger.settle_swap", "admin"),
    ("GET", "/mapping", "mapping.overview", "admin"),
    ("GET", "/minibar", "minibar.catalog", "admin"),
    ("POST", "/minibar/bar/add", "minibar.add", "admin"),
    ("POST", "/minibar/bar/1/delete", "minibar.delete", "admin"),
    ("GET", "/users", "staff.accounts", "admin"),
    ("POST", "/users/add", "staff.add", "admin"),
    ("POST", "/users/nobody/password", "staff.password", "admin"),
    ("POST", "/users/nobody/disable", "staff.disable", "admin"),
    ("POST", "/users/nobody/enable", "staff.enable", "admin"),
]
NOT_OURS = {"static"}  # and the blueprints of others: health, adapters' receivers


@pytest.fixture(scope="module")
def hotel(tmp_path_factory, certificate_dir, ledger_template):
    """One running bridge for the whole module: these tests only look, or change nothing."""
    directory = tmp_path_factory.mktemp("access")
    shutil.copy(ledger_template, directory / LEDGER_FILE)
    with start_emulator(certificate_dir) as emulator:
        settings = bridge_settings(directory, emulator)
        service = start_service(settings)
        service.ledger.record(CheckIn(source="fias", room="101", guest=Guest(last_name="Doe")), raw="GI|RN101|")
        wait_for(lambda: service.ledger.stats().depth == 0)
        app = create_app(settings, service)
        app.testing = True
        try:
            yield app
        finally:
            service.stop()


@pytest.fixture(scope="module")
def clients(hotel):
    made = {"anonymous": hotel.test_client()}
    made["anonymous"].get("/login")
    for name, role in ((ADMIN, "admin"), (FRONTDESK, "frontdesk")):
        client = hotel.test_client()
        assert login(client, name).status_code == 302
        made[role] = client
    return made


def request(client, method: str, path: str):
    if method == "GET":
        return client.get(path)
    return post(client, path)


def test_the_table_names_every_route(hotel):
    ours = {rule.endpoint for rule in hotel.url_map.iter_rules()
            if rule.endpoint.split(".")[0] in {"auth", "board", "room", "status", "ledger", "mapping", "minibar",
                                               "staff", "preferences"}}
    assert ours == {endpoint for _, _, endpoint, _ in ROUTES}


@pytest.mark.parametrize("method, path, endpoint, role", [r for r in ROUTES if r[3] != "public"],
                         ids=lambda value: value if isinstance(value, str) and value.startswith("/") else "")
def test_anonymous_visitors_are_sent_to_the_login(clients, method, path, endpoint, role):
    response = request(clients["anonymous"], method, path)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"


@pytest.mark.parametrize("method, path, endpoint, role", [r for r in ROUTES if r[3] != "public"],
                         ids=lambda value: value if isinstance(value, str) and value.startswith("/") else "")
def test_front_desk_may_use_its_pages_and_not_the_admin_ones(clients, method, path, endpoint, role):
    response = request(clients["frontdesk"], method, path)
    if role == "admin":
        assert response.status_code == 403
        assert "for administrators" in response.get_data(as_text=True)
    else:
        assert response.status_code in (200, 302)
        if response.status_code == 302:
            assert urlsplit(response.headers["Location"]).path != "/login"


@pytest.mark.parametrize("method, path, endpoint, role", [r for r in ROUTES if r[3] != "public"],
                         ids=lambda value: value if isinstance(value, str) and value.startswith("/") else "")
def test_admins_may_use_every_page(clients, method, path, endpoint, role):
    response = request(clients["admin"], method, path)
    assert response.status_code in (200, 302, 404), response.status_code
    if response.status_code == 302:
        assert urlsplit(response.headers["Location"]).path != "/login"
    if endpoint == "ledger.settle_swap":
        assert response.status_code == 404  # no adapter called fias runs here


def test_the_login_page_is_public_and_logged_in_users_skip_it(clients):
    assert clients["anonymous"].get("/login").status_code == 200
    response = clients["frontdesk"].get("/login")
    assert response.status_code == 302 and response.headers["Location"] == "/"


@pytest.mark.parametrize("token", [None, "", "not-the-token"])
def test_a_post_without_the_session_token_is_refused(clients, hotel, token):
    client = clients["frontdesk"]
    data = {"on": "1"} if token is None else {"on": "1", "csrf_token": token}
    before = len(hotel.extensions["pmsbridge"].service.ledger.events(room="104"))
    response = client.post("/rooms/104/actions/dnd", data=data)
    assert response.status_code == 400
    assert "did not come from this site" in response.get_data(as_text=True)
    assert len(hotel.extensions["pmsbridge"].service.ledger.events(room="104")) == before


def test_the_token_may_come_as_a_header(clients):
    client = clients["frontdesk"]
    response = client.post("/rooms/104/actions/dnd", data={"on": "1"}, headers={"X-CSRF-Token": csrf_of(client)})
    assert response.status_code == 302


def test_a_login_form_without_its_token_is_refused(hotel):
    client = hotel.test_client()
    response = client.post("/login", data={"name": FRONTDESK, "password": "fred-password-1"})
    assert response.status_code == 400


def test_a_token_from_another_session_is_refused(hotel, clients):
    other = hotel.test_client()
    assert login(other, FRONTDESK).status_code == 302
    response = other.post("/rooms/104/actions/dnd", data={"on": "1", "csrf_token": csrf_of(clients["admin"])})
    assert response.status_code == 400


def test_logging_in_renews_the_token(hotel):
    client = hotel.test_client()
    client.get("/login")
    before = csrf_of(client)
    login(client, FRONTDESK)
    assert csrf_of(client) != before


def test_the_next_page_after_login_stays_on_this_site(hotel):
    client = hotel.test_client()
    client.get("/login")
    data = {"name": FRONTDESK, "password": "fred-password-1", "csrf_token": csrf_of(client)}
    for target, expected in (("/rooms/101", "/rooms/101"), ("//evil.example/", "/"),
                             ("https://evil.example/", "/"), ("/\\evil.example", "/")):
        response = client.post("/login", data={**data, "next": target})
        assert response.headers["Location"] == expected
        client.post("/logout", data={"csrf_token": csrf_of(client)})
        client.get("/login")
        data["csrf_token"] = csrf_of(client)


def test_an_anonymous_visit_remembers_the_page_wanted(clients):
    response = clients["anonymous"].get("/rooms/101?x=1")
    assert response.headers["Location"] == "/login?next=/rooms/101?x%3D1"


def test_security_headers(clients):
    response = clients["frontdesk"].get("/")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_pages_use_only_assets_of_the_package(clients):
    for path in ("/", "/rooms/101", "/login"):
        page = clients["admin"].get(path).get_data(as_text=True)
        for link in re.findall(r'(?:src|href|action)="([^"]*)"', page):
            assert link.startswith(("/", "data:")) and not link.startswith("//"), link
        for asset in re.findall(r'(?:src|href)="(/static/[^"]*)"', page):
            assert clients["admin"].get(asset).status_code == 200


def test_unknown_rooms_and_rows_are_404(clients):
    assert clients["frontdesk"].get("/rooms/999").status_code == 404
    assert clients["admin"].get("/ledger/deliveries/999999").status_code == 404
    assert clients["admin"].get("/ledger/events/999999").status_code == 404
    assert clients["admin"].get("/nowhere").status_code == 404


# -- logins, lockout, sessions: each with a bridge of its own --------------------------------


def test_wrong_passwords_lock_the_account(app, service):
    client = app.test_client()
    for attempt in range(1, MAX_FAILED_LOGINS + 1):
        response = login(client, FRONTDESK, "wrong-password")
        assert response.status_code == 401
        expected = "locked" if attempt == MAX_FAILED_LOGINS else "wrong user name or password"
        assert expected in flashes(response)[0]
    response = login(client, FRONTDESK)  # the right password, too late
    assert response.status_code == 401
    assert "locked for 15 more minutes" in flashes(response)[0]
    account = UserStore(service.engine).get(FRONTDESK)
    assert account.failed_logins == MAX_FAILED_LOGINS
    assert LOCKOUT.total_seconds() - 60 < (account.locked_until - service.ledger.clock()).total_seconds() <= 900
    actions = [(row.actor, row.action) for row in audit_entries(service.ledger)]
    assert actions.count((FRONTDESK, "login failed")) == MAX_FAILED_LOGINS - 1
    assert (FRONTDESK, "login locked") in actions
    # Other users are not locked out.
    assert login(app.test_client(), ADMIN).status_code == 302


def test_unknown_names_get_the_same_answer_as_wrong_passwords(app, service):
    response = login(app.test_client(), "nobody", "whatever-it-is")
    assert response.status_code == 401
    assert flashes(response) == ["wrong user name or password"]
    assert audit_entries(service.ledger) == []


def test_a_login_and_a_logout_are_audited(app, service):
    client = app.test_client()
    login(client, FRONTDESK)
    response = follow(client, post(client, "/logout"))
    assert "You are logged out." in flashes(response)
    assert client.get("/").status_code == 302
    assert [(row.actor, row.action) for row in audit_entries(service.ledger)][:2] == [
        (FRONTDESK, "logout"), (FRONTDESK, "login")]


def test_disabling_an_account_ends_its_sessions(app, service, frontdesk):
    assert frontdesk.get("/").status_code == 200
    UserStore(service.engine).set_disabled(FRONTDESK, True)
    assert frontdesk.get("/").status_code == 302
    assert login(app.test_client(), FRONTDESK).status_code == 401


def test_a_new_password_ends_the_old_sessions(app, service, frontdesk):
    UserStore(service.engine).set_password(FRONTDESK, "a-brand-new-one")
    assert frontdesk.get("/").status_code == 302
    assert login(app.test_client(), FRONTDESK, "a-brand-new-one").status_code == 302


def session_cookie(response) -> str:
    return next(value for value in response.headers.getlist("Set-Cookie") if value.startswith("pmsbridge_session="))


def test_the_session_cookie_is_http_only_and_same_site(app):
    response = login(app.test_client(), FRONTDESK)
    cookie = session_cookie(response)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # auto, over plain HTTP


def test_auto_marks_the_cookie_secure_over_https(app):
    client = app.test_client()
    client.get("/login", base_url="https://bridge.example")
    with client.session_transaction(base_url="https://bridge.example") as session:
        token = session["csrf"]
    response = client.post("/login", base_url="https://bridge.example",
                           data={"name": FRONTDESK, "password": "fred-password-1", "csrf_token": token})
    assert "Secure" in session_cookie(response)


def test_secure_cookies_true_behind_a_tls_proxy(tmp_path, emulator, ledger_template):
    shutil.copy(ledger_template, tmp_path / LEDGER_FILE)
    settings = bridge_settings(tmp_path, emulator, secure_cookies=True)
    service = start_service(settings)
    try:
        app = create_app(settings, service)
        assert "Secure" in session_cookie(login(app.test_client(), FRONTDESK))
    finally:
        service.stop()
