"""The Cloudbeds API simulator, over real HTTP on 127.0.0.1 with ``requests``."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from pmsbridge.sim.cloudbeds import CloudbedsOptions, CloudbedsSimulator
from tests.webhook_receiver import WebhookReceiver


class CloudbedsClient:
    """Calls API v1.3 methods with the property's API key (or a bearer token)."""

    def __init__(self, simulator: CloudbedsSimulator) -> None:
        self.simulator = simulator
        self.session = requests.Session()
        self.session.trust_env = False
        self.headers = {"x-api-key": simulator.api_key}

    def get(self, method: str, **params: object) -> requests.Response:
        return self.session.get(f"{self.simulator.url}/api/v1.3/{method}", params=params, headers=self.headers,
                                timeout=10)

    def ok(self, method: str, **params: object) -> dict:
        response = self.get(method, **params)
        assert response.status_code == 200 and response.json()["success"] is True, response.text
        return response.json()

    def post(self, method: str, form: dict) -> requests.Response:
        return self.session.post(f"{self.simulator.url}/api/v1.3/{method}", data=form, headers=self.headers,
                                 timeout=10)

    def custom_item(self, reservation: str, price: str, reference: str | None = None) -> dict:
        form = {"propertyID": self.simulator.options.property_id, "reservationID": reservation,
                "items[0][itemName]": "Telephone", "items[0][itemPrice]": price, "items[0][itemQuantity]": "1"}
        if reference is not None:
            form["referenceID"] = reference
        response = self.post("postCustomItem", form)
        assert response.status_code == 200
        return response.json()


@pytest.fixture
def cloudbeds() -> Iterator[CloudbedsSimulator]:
    with CloudbedsSimulator(CloudbedsOptions(seed=5, rate_limit=None)) as simulator:
        yield simulator


@pytest.fixture
def client(cloudbeds) -> CloudbedsClient:
    return CloudbedsClient(cloudbeds)


def test_api_key_and_oauth_tokens_are_checked():
    with CloudbedsSimulator(CloudbedsOptions(token_lifetime=1.0)) as cloudbeds:
        client = CloudbedsClient(cloudbeds)
        assert client.ok("getHotelDetails")["data"]["propertyID"] == cloudbeds.options.property_id
        client.headers = {"Authorization": f"Bearer {cloudbeds.api_key}"}
        assert client.get("getHotelDetails").status_code == 200
        client.headers = {"x-api-key": "cbat_wrong"}
        refused = client.get("getHotelDetails")
        assert refused.status_code == 401 and refused.json()["success"] is False
        options = cloudbeds.options
        granted = client.session.post(f"{cloudbeds.url}/api/v1.3/access_token", timeout=10, data={
            "grant_type": "refresh_token", "client_id": options.client_id, "client_secret": options.client_secret,
            "refresh_token": options.refresh_token}).json()
        assert granted["token_type"] == "Bearer" and granted["resources"] == [
            {"type": "property", "id": options.property_id}]
        client.headers = {"Authorization": f"Bearer {granted['access_token']}"}
        assert client.get("getHotelDetails").status_code == 200
        time.sleep(1.2)
        assert client.get("getHotelDetails").status_code == 401
        old_key = cloudbeds.api_key
        new_key = cloudbeds.expire_tokens()["api_key"]
        client.headers = {"x-api-key": old_key}
        assert client.get("getHotelDetails").status_code == 401
        client.headers = {"x-api-key": new_key}
        assert client.get("getHotelDetails").status_code == 200


def test_reservations_page_by_number_and_size(cloudbeds, client):
    everything = [r.id for r in cloudbeds.hotel.ordered()]
    pages = [client.ok("getReservations", pageNumber=n, pageSize=4) for n in (1, 2, 3, 4)]
    assert [p["count"] for p in pages] == [4, 4, 1, 0] and {p["total"] for p in pages} == {9}
    assert [r["reservationID"] for p in pages for r in p["data"]] == everything
    assert client.ok("getReservations")["count"] == 9
    assert client.get("getReservations", pageSize=101).json()["success"] is False


def test_statuses_rooms_and_guest_lists(cloudbeds, client):
    arrival = cloudbeds.book("Arrival", "Ann")
    cloudbeds.check_in("110", reservation=arrival)
    gone = cloudbeds.check_in("111", "Walker", "Will")
    cloudbeds.check_out("111")
    canceled, no_show = cloudbeds.book("Gone"), cloudbeds.book("Absent")
    cloudbeds.cancel(canceled)
    cloudbeds.no_show(no_show)
    by_id = {r["reservationID"]: r for r in client.ok("getReservations", includeGuestsDetails="true")["data"]}
    assert by_id[arrival]["status"] == "checked_in" and by_id[arrival]["rooms"][0]["roomName"] == "110"
    assert by_id[arrival]["rooms"][0]["roomStatus"] == "in_house"
    [guest] = by_id[arrival]["guestList"].values()
    assert (guest["guestFirstName"], guest["guestLastName"], guest["roomName"]) == ("Ann", "Arrival", "110")
    assert by_id[gone]["status"] == "checked_out" and by_id[canceled]["status"] == "canceled"
    assert by_id[no_show]["status"] == "no_show" and by_id[no_show]["rooms"][0]["roomStatus"] == "cancelled"
    assert [r["reservationID"] for r in client.ok("getReservations", status="checked_out")["data"]] == [gone]
    details = client.ok("getReservation", reservationID=arrival)["data"]
    assert details["status"] == "checked_in" and details["assigned"][0]["roomName"] == "110"
    assert client.ok("getReservation", reservationID=canceled)["data"]["unassigned"]
    missing = client.get("getReservation", reservationID="1")
    assert missing.status_code == 200 and missing.json() == {"success": False, "message": "Reservation 1 not found"}
    in_house = client.ok("getGuestsByStatus", status="in_house", pageSize=100)
    assert {row["roomName"]: [f"{row['guestFirstName']} {row['guestLastName']}".strip()]
            for row in in_house["data"]} == cloudbeds.in_house()
    assert client.ok("getGuest", reservationID=arrival)["data"]["lastName"] == "Arrival"


def test_modified_from_finds_moves_and_renames(cloudbeds, client):
    time.sleep(1)  # modifiedFrom has whole seconds: step past the second the hotel was made in.
    since = cloudbeds.now().strftime("%Y-%m-%d %H:%M:%S")
    assert client.ok("getReservations", modifiedFrom=since)["data"] == []
    moved = cloudbeds.move("101", "120")
    renamed = cloudbeds.rename("102", "Renamed", "Rita")
    changed = client.ok("getReservations", modifiedFrom=since, sortByRecent="true")["data"]
    assert {r["reservationID"] for r in changed} == {moved, renamed}
    assert client.get("getReservations", modifiedFrom="yesterday").json()["success"] is False


def test_rooms_page_with_their_default_size(cloudbeds, client):
    first = client.ok("getRooms", propertyIDs=cloudbeds.options.property_id)
    assert first["total"] == 20 and first["count"] == 20
    second = client.ok("getRooms", pageNumber=2, pageSize=15)
    assert [room["roomName"] for room in second["data"][0]["rooms"]] == [str(n) for n in range(116, 121)]


def test_rate_limit_and_storm_answer_429_with_retry_after():
    with CloudbedsSimulator(CloudbedsOptions(rate_limit=2, rate_window=30)) as cloudbeds:
        client = CloudbedsClient(cloudbeds)
        assert [client.get("getHotelDetails").status_code for _ in range(3)] == [200, 200, 429]
        assert 1 <= int(client.get("getHotelDetails").headers["Retry-After"]) <= 30
        cloudbeds.set_faults(storm=True, retry_after=4)
        stormed = client.get("getRooms")
        assert stormed.status_code == 429 and stormed.headers["Retry-After"] == "4"


def test_custom_items_are_kept_once_per_reference_and_refused_before_arrival(cloudbeds, client):
    reservation = cloudbeds.reservation_in("101")
    first = client.custom_item(reservation, "3.10", reference="posting-1")
    again = client.custom_item(reservation, "3.10", reference="posting-1")
    assert first["success"] and again["data"]["soldProductID"] == first["data"]["soldProductID"]
    assert "notice" in again["data"] and "notice" not in first["data"]
    assert [(p.key, str(p.amount), p.room) for p in cloudbeds.postings()] == [("posting-1", "3.10", "101")]
    arrival = next(r for r in cloudbeds.hotel.ordered() if r.state == "confirmed")
    refused = client.custom_item(arrival.id, "1.00", reference="posting-2")
    assert refused["success"] is False and "no charges" in refused["message"]
    cloudbeds.set_faults(refuse_postings=True)
    assert client.custom_item(reservation, "1.00", reference="posting-3")["success"] is False
    cloudbeds.set_faults(refuse_postings=False)
    listed = client.post("postCustomItem", {"reservationID": reservation, "referenceID": "posting-4",
                                            "items": '[{"itemName": "Call", "itemPrice": 0.5, "itemQuantity": 2}]'})
    assert listed.json()["success"] is True
    assert [str(p.amount) for p in cloudbeds.postings()] == ["3.10", "1.0"]
    assert client.ok("getReservation", reservationID=reservation)["data"]["balance"] == 4.1


def test_webhooks_are_thin_and_spelt_as_cloudbeds_spells_them(cloudbeds):
    with WebhookReceiver() as receiver:
        cloudbeds.set_webhook_url(receiver.url)
        reservation = cloudbeds.check_in("116", "Hook", "Hanna")
        guest = cloudbeds.hotel.reservations[reservation].guest_id
        cloudbeds.move("116", "117")
        cloudbeds.rename("117", "Hooked")
        cloudbeds.check_out("117")
        created, checked_in, moved, renamed, checked_out = receiver.wait_for_count(5)
    assert created["event"] == "reservation/created" and created["reservationID"] == reservation
    assert (checked_in["event"], checked_in["status"], checked_in["propertyID"]) == (
        "reservation/status_changed", "checked_in", int(cloudbeds.options.property_id))
    assert (moved["event"], moved["roomId"], moved["roomIdPrev"]) == (
        "reservation/accommodation_changed", cloudbeds.hotel.rooms["117"].id, cloudbeds.hotel.rooms["116"].id)
    assert (renamed["event"], renamed["guestId_str"]) == ("guest/details_changed", guest)
    assert checked_out["status"] == "checked_out" and isinstance(checked_out["timestamp"], float)
