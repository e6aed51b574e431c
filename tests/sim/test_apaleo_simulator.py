"""The Apaleo simulator, over real HTTP on 127.0.0.1 with ``requests``."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from pmsbridge.sim.apaleo import ApaleoOptions, ApaleoSimulator
from tests.webhook_receiver import WebhookReceiver


class ApaleoClient:
    """Gets a client-credentials token, then calls the API with it."""

    def __init__(self, simulator: ApaleoSimulator) -> None:
        self.simulator = simulator
        self.session = requests.Session()
        self.session.trust_env = False
        self.token: str | None = None

    def get_token(self, secret: str | None = None) -> requests.Response:
        options = self.simulator.options
        response = self.session.post(f"{self.simulator.url}/connect/token", data={"grant_type": "client_credentials"},
                                     auth=(options.client_id, secret or options.client_secret), timeout=10)
        if response.status_code == 200:
            self.token = response.json()["access_token"]
        return response

    def get(self, path: str, **params: object) -> requests.Response:
        if self.token is None:
            self.get_token()
        return self.session.get(f"{self.simulator.url}{path}", params=params,
                                headers={"Authorization": f"Bearer {self.token}"}, timeout=10)

    def ok(self, path: str, **params: object) -> dict:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def charge(self, folio: str, amount: float, key: str | None = None, name: str = "Telephone") -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"} | ({"Idempotency-Key": key} if key else {})
        return self.session.post(f"{self.simulator.url}/finance/v1/folio-actions/{folio}/charges", headers=headers,
                                 json={"serviceType": "Other", "name": name, "quantity": 1,
                                       "amount": {"amount": amount, "currency": "EUR"}}, timeout=10)


@pytest.fixture
def apaleo() -> Iterator[ApaleoSimulator]:
    with ApaleoSimulator(ApaleoOptions(seed=4)) as simulator:
        yield simulator


@pytest.fixture
def client(apaleo) -> ApaleoClient:
    return ApaleoClient(apaleo)


def test_client_credentials_give_a_bearer_token_that_expires():
    with ApaleoSimulator(ApaleoOptions(token_lifetime=1.0)) as apaleo:
        client = ApaleoClient(apaleo)
        assert client.get_token("wrong").json() == {"error": "invalid_client"}
        granted = client.get_token().json()
        assert granted["token_type"] == "Bearer" and granted["expires_in"] == 1
        assert client.get(f"/inventory/v1/properties/{apaleo.options.property_id}").status_code == 200
        time.sleep(1.2)
        expired = client.get(f"/inventory/v1/properties/{apaleo.options.property_id}")
        assert expired.status_code == 401 and "expired" in expired.headers["WWW-Authenticate"]
        client.get_token()
        assert client.get("/inventory/v1/units").status_code == 200
        apaleo.expire_tokens()
        assert client.get("/inventory/v1/units").status_code == 401
        client.token = "made-up"
        assert client.get("/inventory/v1/units").status_code == 401


def test_the_token_endpoint_takes_form_credentials_too(apaleo, client):
    answer = client.session.post(f"{apaleo.url}/connect/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": apaleo.options.client_id,
        "client_secret": apaleo.options.client_secret})
    assert answer.status_code == 200 and answer.json()["access_token"]
    wrong_grant = client.session.post(f"{apaleo.url}/connect/token", data={"grant_type": "password"}, timeout=10)
    assert wrong_grant.json() == {"error": "unsupported_grant_type"}


def test_reservations_page_by_number_and_size(apaleo, client):
    everything = [r.id for r in apaleo.hotel.ordered()]
    first = client.ok("/booking/v1/reservations", pageNumber=1, pageSize=4)
    assert first["count"] == len(everything) == 9
    assert [r["id"] for r in first["reservations"]] == everything[:4]
    pages = [client.ok("/booking/v1/reservations", pageNumber=n, pageSize=4)["reservations"] for n in (1, 2, 3)]
    assert [r["id"] for page in pages for r in page] == everything
    assert client.get("/booking/v1/reservations", pageNumber=4, pageSize=4).status_code == 204
    assert len(client.ok("/booking/v1/reservations")["reservations"]) == 9
    assert client.get("/booking/v1/reservations", pageNumber=0, pageSize=4).status_code == 400


def test_statuses_and_the_in_house_list(apaleo, client):
    arrival = apaleo.book("Arrival", "Ann", language="de")
    apaleo.check_in("110", reservation=arrival)
    gone = apaleo.check_in("111", "Walker")
    apaleo.check_out("111")
    canceled, no_show = apaleo.book("Gone"), apaleo.book("Absent")
    apaleo.cancel(canceled)
    apaleo.no_show(no_show)
    by_id = {r["id"]: r for r in client.ok("/booking/v1/reservations")["reservations"]}
    assert by_id[arrival]["status"] == "InHouse" and by_id[arrival]["checkInTime"]
    assert by_id[arrival]["primaryGuest"] == {"firstName": "Ann", "lastName": "Arrival", "preferredLanguage": "de"}
    assert by_id[arrival]["unit"]["name"] == "110"
    assert by_id[gone]["status"] == "CheckedOut" and "firstName" not in by_id[gone]["primaryGuest"]
    assert by_id[canceled]["status"] == "Canceled" and by_id[canceled]["cancellationTime"]
    assert by_id[no_show]["status"] == "NoShow" and by_id[no_show]["noShowTime"]
    in_house = client.ok("/booking/v1/reservations", status="InHouse", propertyIds=apaleo.options.property_id)
    assert {r["unit"]["name"]: [f"{r['primaryGuest'].get('firstName', '')} {r['primaryGuest']['lastName']}".strip()]
            for r in in_house["reservations"]} == apaleo.in_house()
    assert client.ok(f"/booking/v1/reservations/{arrival}")["id"] == arrival
    assert client.get("/booking/v1/reservations/NOPE-1").status_code == 404
    assert client.get("/booking/v1/reservations", status="Gone").status_code == 400


def test_modification_filter_finds_moves_and_renames(apaleo, client):
    since = apaleo.now().isoformat()
    assert client.get("/booking/v1/reservations", dateFilter="Modification", **{"from": since}).status_code == 204
    moved = apaleo.move("101", "120")
    renamed = apaleo.rename("102", "Renamed", "Rita")
    changed = client.ok("/booking/v1/reservations", dateFilter="Modification", sort="updated:asc",
                        **{"from": since})["reservations"]
    assert [r["id"] for r in changed] == [moved, renamed]
    assert changed[1]["primaryGuest"]["lastName"] == "Renamed"
    moved_model = client.ok(f"/booking/v1/reservations/{moved}", expand="assignedUnits")
    assert [unit["unit"]["name"] for unit in moved_model["assignedUnits"]] == ["101", "120"]


def test_units_and_property(apaleo, client):
    units = client.ok("/inventory/v1/units", propertyId=apaleo.options.property_id, pageNumber=2, pageSize=5)
    assert units["count"] == 20 and [u["name"] for u in units["units"]] == ["106", "107", "108", "109", "110"]
    assert client.ok("/inventory/v1/units/SIM-101")["status"]["isOccupied"] is True
    assert client.get("/inventory/v1/properties/OTHER").status_code == 404


def test_rate_limit_and_storm_answer_429_with_retry_after():
    with ApaleoSimulator(ApaleoOptions(rate_limit=2, rate_window=60)) as apaleo:
        client = ApaleoClient(apaleo)
        assert [client.get("/inventory/v1/units").status_code for _ in range(3)] == [200, 200, 429]
        assert 1 <= int(client.get("/inventory/v1/units").headers["Retry-After"]) <= 60
        apaleo.set_faults(storm=True, retry_after=3)
        stormed = client.get_token()
        assert stormed.status_code == 429 and stormed.headers["Retry-After"] == "3"


def test_charges_are_idempotent_per_key_and_refused_on_a_closed_folio(apaleo, client):
    reservation = apaleo.reservation_in("101")
    folios = client.ok("/finance/v1/folios", reservationIds=reservation)["folios"]
    assert [(f["id"], f["type"], f["status"]) for f in folios] == [(f"{reservation}-1", "Guest", "Open")]
    first = client.charge(folios[0]["id"], 1.25, key="posting-1")
    again = client.charge(folios[0]["id"], 1.25, key="posting-1")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert client.charge(folios[0]["id"], 9.99, key="posting-1").status_code == 422
    assert [(p.key, str(p.amount), p.room) for p in apaleo.postings()] == [("posting-1", "1.25", "101")]
    arrival = next(r for r in apaleo.hotel.ordered() if r.state == "confirmed")
    refused = client.charge(f"{arrival.id}-1", 2.0, key="posting-2")
    assert refused.status_code == 422 and "no charges" in refused.json()["messages"][0]
    apaleo.set_faults(refuse_postings=True)
    assert client.charge(folios[0]["id"], 2.0, key="posting-3").status_code == 422
    apaleo.set_faults(refuse_postings=False)
    assert client.charge(folios[0]["id"], 2.0, key="posting-3").status_code == 201
    assert client.charge("NOPE-1-1", 2.0).status_code == 404
    assert len(apaleo.postings()) == 2


def test_webhooks_name_the_event_and_the_reservation_only(apaleo):
    with WebhookReceiver() as receiver:
        apaleo.set_webhook_url(receiver.url)
        reservation = apaleo.check_in("116", "Hook", "Hanna")
        apaleo.move("116", "117")
        apaleo.rename("117", "Hooked")
        apaleo.check_out("117")
        bodies = receiver.wait_for_count(5)
    assert [b["type"] for b in bodies] == ["created", "checked-in", "unit-assigned", "changed", "checked-out"]
    assert all(b["data"] == {"entityId": reservation} and b["topic"] == "Reservation" for b in bodies)
    assert len({b["id"] for b in bodies}) == 5
    assert {b["propertyId"] for b in bodies} == {apaleo.options.property_id}
    assert all(isinstance(b["timestamp"], int) for b in bodies)
