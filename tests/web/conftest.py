"""Web fixtures: a real service (SQLite ledger, dispatcher, scheduler) against the PBX emulator,
its Flask app, and staff users of both roles.

A migrated ledger holding the two staff users is made once per session and copied for
each test, and the emulator's certificate is made once: a test then starts in a blink.
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select
from werkzeug.security import check_password_hash

from pmsbridge import users
from pmsbridge.config import (
    BridgeSettings,
    DispatcherSettings,
    PbxSettings,
    RoomsSettings,
    Settings,
    WebSettings,
)
from pmsbridge.events import Event
from pmsbridge.ledger.database import create_ledger_engine, migrate
from pmsbridge.ledger.store import Ledger
from pmsbridge.login_throttle import LoginFailures
from pmsbridge.service import Service, build
from pmsbridge.sim.pbx import EmulatorOptions, PbxEmulator
from pmsbridge.users import UserStore
from pmsbridge.web import create_app
from tests.ledger.conftest import FrozenClock

ADMIN, ADMIN_PASSWORD = "ada", "ada-password-1"
FRONTDESK, FRONTDESK_PASSWORD = "fred", "fred-password-1"
PASSWORDS = {ADMIN: ADMIN_PASSWORD, FRONTDESK: FRONTDESK_PASSWORD}
LEDGER_FILE = "ledger.db"


def prepare_ledger(path: Path) -> None:
    """A migrated SQLite ledger at ``path`` with the admin and the front-desk user."""
    engine = create_ledger_engine(f"sqlite:///{path}")
    migrate(engine)
    store = UserStore(engine)
    store.add(ADMIN, "admin", ADMIN_PASSWORD)
    store.add(FRONTDESK, "frontdesk", FRONTDESK_PASSWORD)
    engine.dispose()


def start_emulator(certificate_dir: Path, rooms: int = 20) -> PbxEmulator:
    options = EmulatorOptions(port=0, rooms=rooms, extension_template="1{room}", state_dir=certificate_dir)
    return PbxEmulator(options).start()


def bridge_settings(directory: Path, emulator: PbxEmulator, **web) -> Settings:
    options = emulator.options
    return Settings(
        bridge=BridgeSettings(state_dir=directory / "state", database_url=f"sqlite:///{directory / LEDGER_FILE}",
                              timezone="Europe/Berlin"),
        pbx=PbxSettings(url=emulator.url, username=options.username, password=options.password,
                        pms_username=options.pms_username, pms_password=options.pms_password,
                        tls_fingerprint=emulator.fingerprint, connect_timeout=2, read_timeout=5),
        rooms=RoomsSettings(extension_template="1{room}", rooms=["101-110"], map={"120": ""}),
        dispatcher=DispatcherSettings(backoff_initial_seconds=0.05, backoff_max_seconds=0.2),
        web=WebSettings(**{"listen": "127.0.0.1:0", **web}),
    )


def start_service(settings: Settings, *, web: bool = False) -> Service:
    service = build(settings)
    service.start(web=web)
    return service


def record_unchecked(service: Service, event: Event, raw: str = "") -> None:
    """Record ``event`` as input from before the door checks did (pmsbridge.validation): a
    VIP code the PBX refuses, a room the hotel does not have. The service's dispatcher sends it."""
    ledger = service.ledger
    unchecked = Ledger(service.engine, policy=ledger.policy, mapping=ledger.mapping, zone=ledger.zone,
                       clock=ledger.clock)
    unchecked.record(event, raw)
    service.dispatcher.wake()


def freeze_login_clock(app) -> FrozenClock:
    """Stop the login throttle's clock at the present, so that a test, not its speed, decides
    when a wait is over (``clock.advance(seconds=1)``)."""
    clock = FrozenClock(datetime.now(UTC))
    app.extensions["pmsbridge"].users.throttle.clock = clock
    return clock


def pass_login_waits(engine, seconds: float) -> None:
    """Move every counted login failure ``seconds`` into the past, as if that time had gone by."""
    with Session(engine) as session:
        for row in session.execute(select(LoginFailures)).scalars():
            row.last_failure_at -= timedelta(seconds=seconds)
            session.add(row)
        session.commit()


def csrf_of(client) -> str:
    """The session's CSRF token (a page must have been fetched for the session to have one)."""
    with client.session_transaction() as session:
        return session["csrf"]


def login(client, name: str, password: str | None = None):
    # As a browser would, the client says which languages its user reads (dates follow it).
    client.environ_base.setdefault("HTTP_ACCEPT_LANGUAGE", "en-GB,en;q=0.8")
    client.get("/login")
    return client.post("/login", data={"name": name, "password": password or PASSWORDS[name],
                                       "csrf_token": csrf_of(client)})


def post(client, path: str, data: dict | None = None, **kwargs):
    """A form POST carrying the session's CSRF token."""
    return client.post(path, data={"csrf_token": csrf_of(client), **(data or {})}, **kwargs)


def flashes(response) -> list[str]:
    """The flashed messages a page shows, as text."""
    messages = re.findall(r'<p class="flash [a-z]+" role="status">(.*?)</p>', response.get_data(as_text=True), re.S)
    return [re.sub(r"\s+", " ", message).replace("&#39;", "'").replace("&#34;", '"').strip()
            for message in messages]


def follow(client, response):
    """The page a POST redirected to (where its messages are shown)."""
    assert response.status_code == 302, response.status_code
    return client.get(response.headers["Location"])


@pytest.fixture
def hashes_checked(monkeypatch) -> list[str]:
    """The password hashes logins check from now on (the check itself still runs)."""
    checked = []

    def counted(password_hash: str, password: str) -> bool:
        checked.append(password_hash)
        return check_password_hash(password_hash, password)

    monkeypatch.setattr(users, "check_password_hash", counted)
    return checked


@pytest.fixture(scope="session")
def certificate_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pbx-certificate")


@pytest.fixture(scope="session")
def ledger_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ledger-template") / LEDGER_FILE
    prepare_ledger(path)
    return path


@pytest.fixture
def emulator(certificate_dir):
    with start_emulator(certificate_dir) as emulator:
        yield emulator


@pytest.fixture
def settings(tmp_path, emulator, ledger_template) -> Settings:
    shutil.copy(ledger_template, tmp_path / LEDGER_FILE)
    return bridge_settings(tmp_path, emulator)


@pytest.fixture
def service(settings):
    """A running service (dispatcher, scheduler; no web server: the tests use Flask's client)."""
    service = start_service(settings)
    yield service
    service.stop()


@pytest.fixture
def idle_service(settings):
    """A service that is built but not started: no scheduler job talks to the PBX behind a test's back."""
    service = build(settings)
    yield service
    service.stop()


@pytest.fixture
def app(settings, service):
    app = create_app(settings, service)
    app.testing = True
    return app


@pytest.fixture
def admin(app):
    client = app.test_client()
    assert login(client, ADMIN).status_code == 302
    return client


@pytest.fixture
def frontdesk(app):
    client = app.test_client()
    assert login(client, FRONTDESK).status_code == 302
    return client
