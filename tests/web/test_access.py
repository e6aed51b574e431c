"""Who may do what: every route for every role, CSRF, throttled logins, sessions, cookies and headers."""

from __future__ import annotations

import re
import shutil
from urllib.parse import urlsplit

import pytest

from pmsbridge.events import CheckIn, Guest
from pmsbridge.login_throttle import ADDRESS, NAME
from pmsbridge.users import UserStore
from pmsbridge.web import create_app
from pmsbridge.web.ledger_pages import audit_entries
from pmsbridge.web.security import safe_next
from tests.helpers import wait_for
from tests.web.conftest import (
    ADMIN,
    FRONTDESK,
    LEDGER_FILE,
    PASSWORDS,
    bridge_settings,
    csrf_of,
    flashes,
    follow,
    freeze_login_clock,
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
    ("POST", "/ledger/dismiss", "ledger.dismiss", "admin"),
    ("POST", "/ledger/deliveries/1/correct", "ledger.correct", "admin"),
    ("POST", "/ledger/rooms/101/resend", "ledger.resend", "admin"),
    ("POST", "/ledger/rooms/999/remove", "ledger.remove_room", "admin"),
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


def test_the_next_page_after_login_stays_on_this_site(app):
    # A bridge of its own: each logout here ends every session of the user.
    client = app.test_client()
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


# -- logins, throttling, sessions: each with a bridge of its own --------------------------------


def login_from(app, address: str, name: str, password: str | None = None):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return login(client, name, password)


def test_wrong_passwords_slow_the_name_down_but_never_lock_it(app, service):
    clock = freeze_login_clock(app)
    for attempt in range(NAME.free):
        response = login_from(app, f"192.0.2.{attempt}", FRONTDESK, "wrong-password")
        assert response.status_code == 401 and flashes(response) == ["wrong user name or password"]
    waiting = login_from(app, "198.51.100.7", FRONTDESK)  # the right password, refused unchecked
    assert waiting.status_code == 429 and waiting.headers["Retry-After"] == "1"
    assert flashes(waiting) == ["too many failed logins: try again in 1 second"]
    clock.advance(seconds=1)
    assert login_from(app, "198.51.100.7", FRONTDESK).status_code == 302
    actions = [(row.actor, row.action) for row in audit_entries(service.ledger)]
    assert actions.count((FRONTDESK, "login failed")) == NAME.free
    [throttled] = [row for row in audit_entries(service.ledger) if row.action == "login throttled"]
    assert throttled.actor == FRONTDESK and throttled.detail.startswith(f"{NAME.free} failed logins in a row for user")
    # Other users were never held.
    assert login(app.test_client(), ADMIN).status_code == 302


def test_unknown_names_get_the_same_answers_as_known_ones(app, service, hashes_checked):
    freeze_login_clock(app)
    answers = {}
    for name, address in ((FRONTDESK, "192.0.2.1"), ("nobody", "192.0.2.2")):
        hashes_checked.clear()
        responses = [login_from(app, address, name, "whatever-it-is") for _ in range(NAME.free + 1)]
        answers[name] = ([(r.status_code, r.headers.get("Retry-After"), flashes(r)) for r in responses],
                         len(hashes_checked))
    assert answers[FRONTDESK] == answers["nobody"]
    assert answers["nobody"][0][-1] == (429, "1", ["too many failed logins: try again in 1 second"])
    entries = audit_entries(service.ledger)
    # The unknown name's tries are audited as much, but the text typed (maybe a password) is not kept.
    assert [row.action for row in entries if row.actor == "unknown user name"] == \
        [row.action for row in entries if row.actor == FRONTDESK]
    assert not any("nobody" in f"{row.actor} {row.detail}" for row in entries)


def test_behind_a_trusted_proxy_failures_count_against_the_forwarded_client(tmp_path, emulator, ledger_template):
    shutil.copy(ledger_template, tmp_path / LEDGER_FILE)
    settings = bridge_settings(tmp_path, emulator, trusted_proxies=["10.0.0.1"])
    service = start_service(settings)
    try:
        app = create_app(settings, service)
        freeze_login_clock(app)

        def through_proxy(client_ip: str, name: str, password: str | None = None):
            client = app.test_client()
            client.environ_base.update(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=client_ip)
            return login(client, name, password)

        for attempt in range(ADDRESS.free):
            assert through_proxy("203.0.113.66", f"guess{attempt}", "wrong").status_code == 401
        assert through_proxy("203.0.113.66", ADMIN).status_code == 429
        assert through_proxy("192.0.2.40", ADMIN).status_code == 302  # another client behind the same proxy
        # From anywhere else the header is the client's own word and is not believed.
        spoofing = app.test_client()
        spoofing.environ_base.update(REMOTE_ADDR="198.51.100.50", HTTP_X_FORWARDED_FOR="192.0.2.41")
        for attempt in range(ADDRESS.free):
            login(spoofing, f"other{attempt}", "wrong")
        assert login_from(app, "198.51.100.50", FRONTDESK).status_code == 429
        assert through_proxy("192.0.2.41", FRONTDESK).status_code == 302
    finally:
        service.stop()


def test_a_next_with_control_characters_does_not_break_the_login(app):
    client = app.test_client()
    client.get("/login?next=/%0D%0ASet-Cookie:%20x=y")
    response = client.post("/login", data={"name": FRONTDESK, "password": PASSWORDS[FRONTDESK],
                                           "csrf_token": csrf_of(client), "next": "/\r\nSet-Cookie: x=y"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert not any(cookie.startswith("x=") for cookie in response.headers.getlist("Set-Cookie"))
    assert safe_next("/rooms/101?floor=1") == "/rooms/101?floor=1"
    for target in ("/\r\nSet-Cookie: x=y", "/rooms\t", "/\x00", "/\x7f", "//evil.example", "https://evil.example"):
        assert safe_next(target) is None, target


def test_a_login_and_a_logout_are_audited(app, service):
    client = app.test_client()
    login(client, FRONTDESK)
    response = follow(client, post(client, "/logout"))
    assert "You are logged out." in flashes(response)
    assert client.get("/").status_code == 302
    assert [(row.actor, row.action) for row in audit_entries(service.ledger)][:2] == [
        (FRONTDESK, "logout"), (FRONTDESK, "login")]


def replayed(app, cookie: str):
    """A fresh client presenting a copied session cookie."""
    client = app.test_client()
    client.set_cookie("pmsbridge_session", cookie)
    return client


def test_a_logout_ends_every_session_of_the_user_and_a_replayed_cookie_opens_nothing(app):
    first, second = app.test_client(), app.test_client()
    login(first, ADMIN)
    login(second, ADMIN)
    copied = first.get_cookie("pmsbridge_session").value
    assert replayed(app, copied).get("/users").status_code == 200
    post(first, "/logout")
    for client in (replayed(app, copied), second):
        for path in ("/", "/users"):
            response = client.get(path)
            assert response.status_code == 302 and response.headers["Location"].startswith("/login"), path
    assert login(app.test_client(), ADMIN).status_code == 302


def test_a_password_change_and_disabling_end_replayed_sessions_too(app, service):
    client = app.test_client()
    login(client, FRONTDESK)
    copied = client.get_cookie("pmsbridge_session").value
    UserStore(service.engine).set_password(FRONTDESK, "a-brand-new-one")
    assert replayed(app, copied).get("/").status_code == 302
    login(client, FRONTDESK, "a-brand-new-one")
    copied = client.get_cookie("pmsbridge_session").value
    UserStore(service.engine).set_disabled(FRONTDESK, True)
    assert replayed(app, copied).get("/").status_code == 302


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
