"""The Mews Connector API simulator, over real HTTP on 127.0.0.1 with ``requests``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import requests

from pmsbridge.sim.mews import MewsOptions, MewsSimulator
from tests.webhook_receiver import WebhookReceiver

RESERVATIONS = "reservations/getAll/2023-06-06"


class MewsClient:
    """Posts Connector API operations with the simulator's tokens (or others)."""

    def __init__(self, simulator: MewsSimulator) -> None:
        self.simulator = simulator
        self.session = requests.Session()
        self.session.trust_env = False
        self.access_token = simulator.access_token

    def call(self, operation: str, **body: object) -> requests.Response:
        payload = {"ClientToken": self.simulator.options.client_token, "AccessToken": self.access_token,
                   "Client": "pmsbridge-test 1.0.0", **body}
        return self.session.post(f"{self.simulator.url}/api/connector/v1/{operation}", json=payload, timeout=10)

    def ok(self, operation: str, **body: object) -> dict:
        response = self.call(operation, **body)
        assert response.status_code == 200, response.text
        return response.json()

    def all_reservations(self, count: int, **filters: object) -> list[dict]:
        """Every page, following the cursor until it is null."""
        found, cursor = [], None
        while True:
            page = self.ok(RESERVATIONS, Limitation={"Count": count, "Cursor": cursor}, **filters)
            found += page["Reservations"]
            cursor = page["Cursor"]
            if cursor is None:
                return found


@pytest.fixture
def mews() -> Iterator[MewsSimulator]:
    with MewsSimulator(MewsOptions(seed=3)) as simulator:
        yield simulator


@pytest.fixture
def client(mews: MewsSimulator) -> MewsClient:
    return MewsClient(mews)


def test_tokens_are_checked_and_a_regenerated_access_token_ends_the_old_one(mews, client):
    assert client.ok("configuration/get")["Enterprise"]["Id"] == mews.options.enterprise_id
    client.access_token = "wrong"
    refused = client.call("configuration/get")
    assert refused.status_code == 401
    assert refused.json()["Message"] and refused.json()["RequestId"] == refused.headers["Request-Id"]
    client.access_token = mews.access_token
    old = client.access_token
    new = mews.expire_tokens()["access_token"]
    assert new != old and client.call("configuration/get").status_code == 401
    client.access_token = new
    assert client.call("configuration/get").status_code == 200


def test_a_request_without_client_or_limitation_is_a_bad_request(mews, client):
    response = client.session.post(f"{mews.url}/api/connector/v1/configuration/get",
                                   json={"ClientToken": mews.options.client_token, "AccessToken": mews.access_token})
    assert response.status_code == 400 and "Client" in response.json()["Message"]
    assert client.call(RESERVATIONS).status_code == 400
    assert client.call(RESERVATIONS, Limitation={"Count": 1001}).status_code == 400
    assert client.call("reservations/getAll/").status_code == 404


def test_reservations_page_newest_first_with_the_cursor(mews, client):
    everything = mews.hotel.ordered()
    first = client.ok(RESERVATIONS, Limitation={"Count": 4})
    assert [r["Id"] for r in first["Reservations"]] == [r.id for r in reversed(everything)][:4]
    assert first["Cursor"] == first["Reservations"][-1]["Id"]
    found = client.all_reservations(4)
    assert [r["Id"] for r in found] == [r.id for r in reversed(everything)]
    last = client.ok(RESERVATIONS, Limitation={"Count": 4, "Cursor": found[-1]["Id"]})
    assert last == {"Reservations": [], "Cursor": None}
    assert client.call(RESERVATIONS, Limitation={"Count": 4, "Cursor": "no-such-id"}).status_code == 400


def test_states_map_to_mews_service_order_states(mews, client):
    arrival = mews.book("Arrival", "Ann")
    mews.check_in("110", reservation=arrival)
    walk_in = mews.check_in("111", "Walker", "Will")
    mews.check_out("111")
    canceled, no_show = mews.book("Gone", "Greta"), mews.book("Absent", "Abe")
    mews.cancel(canceled)
    mews.no_show(no_show)
    by_id = {r["Id"]: r for r in client.all_reservations(100)}
    assert by_id[arrival]["State"] == "Started" and by_id[arrival]["ActualStartUtc"]
    assert by_id[walk_in]["State"] == "Processed" and by_id[walk_in]["ActualEndUtc"]
    assert (by_id[canceled]["State"], by_id[canceled]["CancellationReason"]) == ("Canceled", "RequestedByGuest")
    assert (by_id[no_show]["State"], by_id[no_show]["CancellationReason"]) == ("Canceled", "NoShow")
    started = client.all_reservations(100, States=["Started"])
    rooms = {r["Id"]: r["Name"] for r in client.ok("resources/getAll", Extent={"Resources": True},
                                                     Limitation={"Count": 1000})["Resources"]}
    customers = {c["Id"]: c for c in client.ok("customers/getAll", Extent={"Customers": True},
                                                CustomerIds=[r["AccountId"] for r in started],
                                                Limitation={"Count": 1000})["Customers"]}
    seen = {rooms[r["AssignedResourceId"]]: [f"{customers[r['AccountId']]['FirstName']} "
                                             f"{customers[r['AccountId']]['LastName']}"] for r in started}
    assert seen == mews.in_house()


def test_changed_since_finds_moves_but_a_rename_only_moves_the_customer(mews, client):
    since = mews.now()
    window = {"StartUtc": since.isoformat(), "EndUtc": (since + dt.timedelta(hours=1)).isoformat()}
    assert client.all_reservations(100, UpdatedUtc=window) == []
    moved = mews.move("101", "120")
    renamed = mews.rename("102", "Renamed", "Rita")
    changed = client.all_reservations(100, UpdatedUtc=window)
    assert [r["Id"] for r in changed] == [moved]
    customers = client.ok("customers/getAll", Extent={"Customers": True}, UpdatedUtc=window,
                          Limitation={"Count": 100})["Customers"]
    assert [(c["LastName"], c["FirstName"]) for c in customers] == [("Renamed", "Rita")]
    assert customers[0]["Id"] == mews.hotel.reservations[renamed].guest_id
    too_long = {"StartUtc": "2026-01-01T00:00:00Z", "EndUtc": "2026-06-01T00:00:00Z"}
    assert client.call(RESERVATIONS, UpdatedUtc=too_long, Limitation={"Count": 1}).status_code == 400


def test_language_and_vip_show_on_the_customer(mews, client):
    reservation = mews.check_in("115", "Important", "Ida", language="de", vip=True)
    account = mews.hotel.reservations[reservation].guest_id
    customer = client.ok("customers/getAll", Extent={"Customers": True}, CustomerIds=[account],
                         Limitation={"Count": 1})["Customers"][0]
    assert customer["LanguageCode"] == "de-DE" and customer["Classifications"] == ["VeryImportant"]
    mews.set_vip("115", False)
    mews.set_language("115", "fr")
    customer = client.ok("customers/getAll", Extent={"Customers": True}, CustomerIds=[account],
                         Limitation={"Count": 1})["Customers"][0]
    assert customer["LanguageCode"] == "fr-FR" and customer["Classifications"] == []


def test_rate_limit_and_storm_answer_429_with_retry_after():
    with MewsSimulator(MewsOptions(rate_limit=3, rate_window=60)) as mews:
        client = MewsClient(mews)
        assert [client.call("configuration/get").status_code for _ in range(3)] == [200, 200, 200]
        limited = client.call("configuration/get")
        assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
        mews.set_faults(storm=True, retry_after=7)
        assert client.call("configuration/get").headers["Retry-After"] == "7"


def order(mews: MewsSimulator, account: str, amount: float, key: str = "call-1", **extra: object) -> dict:
    return {"ServiceId": mews.order_service_id, "AccountId": account,
            "Items": [{"Name": "Telephone call", "UnitCount": 1,
                       "UnitAmount": {"Currency": "EUR", "GrossValue": amount}, "ExternalIdentifier": key}], **extra}


def test_orders_are_charged_to_the_stay_in_house_or_refused(mews, client):
    reservation = mews.reservation_in("101")
    account = mews.hotel.reservations[reservation].guest_id
    answer = client.ok("orders/add", **order(mews, account, 2.35))
    [posting] = mews.postings()
    assert (posting.id, posting.reservation_id, posting.room, str(posting.amount), posting.key) == (
        answer["OrderId"], reservation, "101", "2.35", "call-1")
    arrival = next(r for r in mews.hotel.ordered() if r.state == "confirmed")
    refused = client.call("orders/add", **order(mews, arrival.guest_id, 1.0, "call-2"))
    assert refused.status_code == 403 and "no charges" in refused.json()["Message"]
    mews.set_faults(refuse_postings=True)
    assert client.call("orders/add", **order(mews, account, 1.0, "call-3")).status_code == 403
    mews.set_faults(refuse_postings=False)
    assert client.call("orders/add", **order(mews, account, 1.0) | {"ServiceId": "x"}).status_code == 400
    # Mews documents no idempotency: the same order twice is two charges.
    client.ok("orders/add", **order(mews, account, 2.35))
    assert [p.key for p in mews.postings()] == ["call-1", "call-1"]


def test_webhooks_are_thin_general_webhooks(mews):
    with WebhookReceiver() as receiver:
        mews.set_webhook_url(receiver.url)
        reservation = mews.check_in("116", "Hook", "Hanna")
        guest = mews.hotel.reservations[reservation].guest_id
        mews.rename("116", "Hooked")
        booked, checked_in, renamed = receiver.wait_for_count(3)
    assert booked == {"EnterpriseId": mews.options.enterprise_id, "IntegrationId": mews.options.integration_id,
                      "Events": [{"Discriminator": "ServiceOrderUpdated", "Value": {"Id": reservation}},
                                 {"Discriminator": "CustomerAdded", "Value": {"Id": guest}},
                                 {"Discriminator": "CustomerUpdated", "Value": {"Id": guest}}]}
    assert checked_in["Events"] == [{"Discriminator": "ServiceOrderUpdated", "Value": {"Id": reservation}}]
    assert renamed["Events"] == [{"Discriminator": "CustomerUpdated", "Value": {"Id": guest}}]
