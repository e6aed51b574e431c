"""Staff accounts: the store (hashes, throttled logins, sessions), the `pmsbridge user` command and the
users page."""

from __future__ import annotations

import io
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from pmsbridge.cli import main
from pmsbridge.config import load_settings
from pmsbridge.ledger.commands import open_ledger
from pmsbridge.ledger.database import create_ledger_engine
from pmsbridge.login_throttle import ADDRESS, NAME
from pmsbridge.users import LoginRefused, Role, StaffUser, UserError, UserStore
from pmsbridge.web.ledger_pages import audit_entries
from tests.web.conftest import ADMIN, FRONTDESK, LEDGER_FILE, flashes, follow, login, post


class Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(engine, clock):
    store = UserStore(engine, clock=clock)
    store.add("Anna", "frontdesk", "correct horse")
    return store


HERE, THERE = "192.0.2.10", "198.51.100.20"


def test_passwords_are_stored_as_scrypt_hashes(store, engine):
    with Session(engine) as session:
        row = session.execute(select(StaffUser)).scalar_one()
    assert row.name == "anna" and row.password_hash.startswith("scrypt:") and "correct" not in row.password_hash
    assert store.authenticate(" ANNA ", "correct horse", HERE).role is Role.FRONTDESK


def test_bad_accounts_are_refused(store):
    with pytest.raises(UserError, match="already exists"):
        store.add("anna", "admin", "another password")
    with pytest.raises(UserError, match="at least 8 characters"):
        store.add("bob", "admin", "short")
    with pytest.raises(UserError, match="unknown role"):
        store.add("bob", "root", "long enough")
    with pytest.raises(UserError, match="is not a user name"):
        store.add("bob smith", "admin", "long enough")
    with pytest.raises(UserError, match="there is no user"):
        store.set_password("nobody", "long enough")


def refusal(store, name: str, password: str, address: str) -> LoginRefused:
    with pytest.raises(LoginRefused) as caught:
        store.authenticate(name, password, address)
    return caught.value


def test_failures_slow_a_name_down_and_never_lock_it(store, clock):
    # Guesses from many addresses: the name waits 1 s after the fifth, then 2 s, 4 s...
    for attempt in range(NAME.free):
        assert refusal(store, "anna", "wrong", f"192.0.2.{attempt}").retry_after is None
    waiting = refusal(store, "anna", "correct horse", THERE)  # refused unchecked, and not counted
    assert (str(waiting), waiting.retry_after) == ("too many failed logins: try again in 1 second", 1)
    clock.now += timedelta(seconds=1)
    assert refusal(store, "anna", "wrong", THERE).retry_after is None
    assert refusal(store, "anna", "correct horse", THERE).retry_after == 2
    # However long it goes on, the wait never grows beyond a minute.
    for step in range(20):
        clock.now += timedelta(seconds=NAME.longest)
        refusal(store, "anna", "wrong", f"203.0.113.{step}")
    assert refusal(store, "anna", "correct horse", THERE).retry_after == NAME.longest
    clock.now += timedelta(seconds=NAME.longest)
    account = store.authenticate("anna", "correct horse", THERE)
    assert account.last_login_at == clock.now
    # The success cleared the name: the next mistake is free again.
    assert refusal(store, "anna", "wrong", THERE).retry_after is None


def test_an_address_is_slowed_down_across_names(store, clock):
    for attempt in range(ADDRESS.free):
        refusal(store, f"guess{attempt}", "wrong", HERE)
    assert refusal(store, "anna", "correct horse", HERE).retry_after == 1
    # The account itself is not held: from another address its owner gets in at once.
    assert store.authenticate("anna", "correct horse", THERE).name == "anna"


def test_an_unknown_name_is_answered_exactly_like_a_known_one(store, clock, hashes_checked):
    answers = {}
    for name, address in (("anna", HERE), ("nobody", THERE)):
        hashes_checked.clear()
        seen = [refusal(store, name, "wrong", address) for _ in range(NAME.free + 1)]
        answers[name] = ([(str(r), r.retry_after, r.throttle_started) for r in seen], len(hashes_checked))
        assert [r.account for r in seen] == [None if name == "nobody" else name] * len(seen)
    known, unknown = answers["anna"], answers["nobody"]
    assert [(m, w, len(s)) for m, w, s in known[0]] == [(m, w, len(s)) for m, w, s in unknown[0]]
    assert known[1] == unknown[1] == NAME.free  # a hash for every checked attempt, none for the throttled one


def test_a_new_password_lifts_the_wait_and_ends_sessions(store):
    for attempt in range(NAME.free):
        refusal(store, "anna", "wrong", f"192.0.2.{attempt}")
    epoch = store.get("anna").session_epoch
    store.set_password("anna", "battery staple")
    account = store.authenticate("anna", "battery staple", THERE)
    assert account.session_epoch == epoch + 1


def test_a_logout_ends_every_session(store):
    epoch = store.get("anna").session_epoch
    store.end_sessions("Anna")
    assert store.get("anna").session_epoch == epoch + 1


def test_disabled_accounts_cannot_log_in(store):
    store.set_disabled("anna", True)
    with pytest.raises(LoginRefused, match="wrong user name or password"):
        store.authenticate("anna", "correct horse", HERE)
    store.set_disabled("anna", False)
    assert store.authenticate("anna", "correct horse", HERE).name == "anna"


# -- pmsbridge user ... -----------------------------------------------------------------------


@pytest.fixture
def config_file(tmp_path, ledger_template) -> Path:
    shutil.copy(ledger_template, tmp_path / LEDGER_FILE)
    path = tmp_path / "pmsbridge.toml"
    path.write_text(f"""
[bridge]
database_url = "sqlite:///{tmp_path / LEDGER_FILE}"
state_dir = "{tmp_path / 'state'}"
[pbx]
url = "https://127.0.0.1:8089"
username = "cdrapi"
password = "an-api-password"
pms_username = "pms"
pms_password = "a-pms-password"
verify = false
""")
    return path


@pytest.fixture
def stored_users(config_file):
    """The staff accounts in the ledger the configuration names."""
    engine = create_ledger_engine(f"sqlite:///{config_file.parent / LEDGER_FILE}")
    yield UserStore(engine)
    engine.dispose()


def test_user_add_with_the_password_on_stdin(config_file, stored_users, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("night-shift-2\n"))
    assert main(["user", "add", "Nora", "--role", "frontdesk", "--password-stdin", "--config", str(config_file)]) == 0
    assert capsys.readouterr().out.strip() == "user nora (frontdesk) added"
    assert stored_users.authenticate("nora", "night-shift-2", HERE).role is Role.FRONTDESK


def test_user_add_asks_twice(config_file, stored_users, monkeypatch, capsys):
    answers = iter(["first-password", "other-password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    assert main(["user", "add", "nora", "--role", "admin", "--config", str(config_file)]) == 1
    assert "the two passwords differ" in capsys.readouterr().err
    answers = iter(["same-password", "same-password"])
    assert main(["user", "add", "nora", "--role", "admin", "--config", str(config_file)]) == 0
    assert stored_users.get("nora").role is Role.ADMIN


def test_user_list_passwd_disable_enable(config_file, stored_users, monkeypatch, capsys):
    arguments = ["--config", str(config_file)]
    assert main(["user", "list", *arguments]) == 0
    listing = capsys.readouterr().out
    assert "ada" in listing and "admin" in listing and "fred" in listing and "never" in listing
    monkeypatch.setattr("sys.stdin", io.StringIO("fresh-password\n"))
    assert main(["user", "passwd", "fred", "--password-stdin", *arguments]) == 0
    assert stored_users.authenticate("fred", "fresh-password", HERE)
    assert main(["user", "disable", "fred", *arguments]) == 0
    assert "disabled" in [line.split()[2] for line in _listing(arguments, capsys) if line.startswith("fred")]
    assert main(["user", "enable", "fred", *arguments]) == 0
    ledger = open_ledger(load_settings(config_file))
    try:
        actions = [(row.actor, row.action, row.detail) for row in audit_entries(ledger)]
    finally:
        ledger.engine.dispose()
    assert actions == [("command line", "user enabled", "user fred"), ("command line", "user disabled", "user fred"),
                       ("command line", "password set", "user fred")]


def _listing(arguments, capsys) -> list[str]:
    main(["user", "list", *arguments])
    return capsys.readouterr().out.splitlines()


def test_user_commands_name_mistakes(config_file, capsys):
    arguments = ["--config", str(config_file)]
    assert main(["user", "add", "ada", "--role", "admin", *arguments]) == 1
    assert "user ada already exists" in capsys.readouterr().err
    assert main(["user", "disable", "nobody", *arguments]) == 1
    assert "there is no user nobody" in capsys.readouterr().err


# -- the users page ---------------------------------------------------------------------------


def test_admins_manage_users_on_the_page(app, admin, service):
    page = follow(admin, post(admin, "/users/add", {"name": "Nora", "role": "frontdesk", "password": "night-shift-2",
                                                   "password_again": "night-shift-2"}))
    assert flashes(page) == ["User nora (frontdesk) added."]
    nora = app.test_client()
    assert login(nora, "nora", "night-shift-2").status_code == 302
    page = follow(admin, post(admin, "/users/nora/disable"))
    assert flashes(page) == ["User nora is disabled."]
    assert nora.get("/").status_code == 302
    follow(admin, post(admin, "/users/nora/enable"))
    page = follow(admin, post(admin, "/users/nora/password", {"password": "day-shift-33",
                                                             "password_again": "day-shift-33"}))
    assert flashes(page) == ["New password set for nora; their open sessions have ended."]
    assert login(app.test_client(), "nora", "day-shift-33").status_code == 302
    actions = [(row.actor, row.action, row.detail) for row in audit_entries(service.ledger)]
    for action in ("user added", "user disabled", "user enabled", "password set"):
        assert (ADMIN, action, "user nora") in actions


def test_the_users_page_refuses_mistakes(admin, service):
    page = follow(admin, post(admin, "/users/add", {"name": "x", "role": "admin", "password": "long-enough-1",
                                                   "password_again": "long-enough-2"}))
    assert flashes(page) == ["The two passwords differ."]
    page = follow(admin, post(admin, "/users/ada/disable"))
    assert flashes(page) == ["You cannot disable your own account."]
    page = follow(admin, post(admin, "/users/fred/password", {"password": "short", "password_again": "short"}))
    assert flashes(page) == ["A password needs at least 8 characters."]
    page = admin.get("/users").get_data(as_text=True)
    assert FRONTDESK in page and "scrypt" not in page
