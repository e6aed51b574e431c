"""The postings page: per room with totals and states; re-post and settle for administrators, audited."""

from __future__ import annotations

import datetime as dt

import pytest

from pmsbridge.accounting.postings import Charge
from pmsbridge.users import UserStore
from pmsbridge.web import create_app
from tests.accounting.conftest import audit_entries, settings_for
from tests.web.conftest import ADMIN, ADMIN_PASSWORD, FRONTDESK, FRONTDESK_PASSWORD, flashes, follow, login, post

WHEN = dt.datetime(2026, 11, 27, 10, 15)


@pytest.fixture
def service(emulator, services, engine):
    users = UserStore(engine)
    users.add(ADMIN, "admin", ADMIN_PASSWORD)
    users.add(FRONTDESK, "frontdesk", FRONTDESK_PASSWORD)
    return services.build(settings_for(emulator, sections=services.sections()))


@pytest.fixture
def app(service):
    app = create_app(service.settings, service)
    app.testing = True
    return app


def client_of(app, name: str):
    client = app.test_client()
    assert login(client, name).status_code == 302
    return client


def messages(response) -> list[str]:
    """The flashed messages, without the page's standing note that no PMS link runs here."""
    return [message for message in flashes(response) if "no running PMS link" not in message]


def charge(store, room: str, amount: int | None, state: str) -> int:
    posting_id = store.create(Charge(room=room, call_start=WHEN, channel="fias", amount=amount, dialled="0044",
                                     duration=65, tariff="International"))
    if state != "queued":
        store.claim(posting_id, sequence=posting_id)
    if state in ("posted", "refused"):
        store.answered(posting_id, posted=state == "posted", answer="OK" if state == "posted" else "NG")
    elif state == "unknown":
        store.expire("fias", dt.timedelta(0))
    return posting_id


def test_rooms_with_their_totals_and_the_postings_that_need_an_operator(app, service):
    store = service.accounting.store
    charge(store, "101", 290, "posted")
    charge(store, "101", 1050, "posted")
    waiting = charge(store, "102", 40, "queued")
    unknown = charge(store, "102", 70, "unknown")
    page = client_of(app, FRONTDESK).get("/postings").get_data(as_text=True)
    assert "13.40 EUR" in page and "0.40 EUR" in page  # posted in 101, on its way in 102
    assert "Need an operator (1)" in page and f"<td>{unknown}</td>" in page
    assert "Re-post" not in page  # front desk sees, administrators act
    assert "no running PMS link sends them" in page  # no FIAS adapter runs here
    assert "Call records</dt><dd>not read yet" in page
    service.accounting.collector.run()
    service.pbx_reports.receive(b'{"action": "CallEnd"}')
    page = client_of(app, FRONTDESK).get("/postings").get_data(as_text=True)
    assert "Call records</dt><dd>read up to" in page and "1 since start, 1 of a type not used" in page
    room = client_of(app, FRONTDESK).get("/postings?room=102&state=queued").get_data(as_text=True)
    assert f"<td>{waiting}</td>" in room and "13.40 EUR" not in room


def test_an_administrator_reposts_and_settles_and_it_is_audited(app, service, engine):
    store = service.accounting.store
    unknown = charge(store, "102", 70, "unknown")
    refused = charge(store, "103", 90, "refused")
    admin = client_of(app, ADMIN)
    assert "Re-post" in admin.get("/postings").get_data(as_text=True)
    shown = follow(admin, post(admin, f"/postings/{unknown}/repost", {"room": "102"}))
    assert messages(shown) == [f"Posting {unknown} for room 102 is queued again."]
    assert store.get(unknown).state == "queued"
    shown = follow(admin, post(admin, f"/postings/{refused}/settle", {"note": "booked by hand"}))
    assert messages(shown) == [f"Posting {refused} for room 103 is settled by hand; nothing more is sent."]
    shown = follow(admin, post(admin, f"/postings/{refused}/settle"))
    assert messages(shown) == [f"Posting {refused} is settled; only refused, unknown or failed postings can be "
                              "re-posted or settled."]
    assert [(actor, action, room) for actor, action, room, _ in audit_entries(engine)
            if action.startswith("posting")] == [(ADMIN, "posting re-post", "102"), (ADMIN, "posting settle", "103")]


def test_front_desk_staff_cannot_act_and_strangers_cannot_look(app, service):
    unknown = charge(service.accounting.store, "102", 70, "unknown")
    assert post(client_of(app, FRONTDESK), f"/postings/{unknown}/repost").status_code == 403
    assert service.accounting.store.get(unknown).state == "unknown"
    anonymous = app.test_client()
    assert anonymous.get("/postings").status_code == 302
