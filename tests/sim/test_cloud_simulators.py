"""What every cloud PMS simulator does alike: webhook faults, the /sim control API, random activity.

Each runs against every simulator over real HTTP on 127.0.0.1; ``in_house_by_api`` reads
the in-house list through the vendor's own API, as an adapter would.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from pmsbridge.sim.apaleo import ApaleoOptions, ApaleoSimulator
from pmsbridge.sim.cloud.hotel import CONFIRMED, IN_HOUSE
from pmsbridge.sim.cloud.simulator import CloudPmsSimulator
from pmsbridge.sim.cloudbeds import CloudbedsOptions, CloudbedsSimulator
from pmsbridge.sim.mews import MewsOptions, MewsSimulator
from tests.helpers import wait_for
from tests.webhook_receiver import WebhookReceiver


def session() -> requests.Session:
    client = requests.Session()
    client.trust_env = False
    return client


def mews_in_house(simulator: MewsSimulator) -> dict[str, list[str]]:
    client = session()
    tokens = {"ClientToken": simulator.options.client_token, "AccessToken": simulator.access_token,
              "Client": "pmsbridge-test 1.0.0"}

    def call(operation: str, **body: object) -> dict:
        response = client.post(f"{simulator.url}/api/connector/v1/{operation}", json={**tokens, **body}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    started, cursor = [], None
    while True:
        page = call("reservations/getAll/2023-06-06", States=["Started"], Limitation={"Count": 7, "Cursor": cursor})
        started += page["Reservations"]
        cursor = page["Cursor"]
        if cursor is None:
            break
    rooms = {room["Id"]: room["Name"] for room in call("resources/getAll", Extent={"Resources": True},
                                                        Limitation={"Count": 1000})["Resources"]}
    customers = {customer["Id"]: customer for customer in call(
        "customers/getAll", Extent={"Customers": True}, CustomerIds=[r["AccountId"] for r in started] or ["none"],
        Limitation={"Count": 1000})["Customers"]}
    found: dict[str, list[str]] = {}
    for reservation in started:
        customer = customers[reservation["AccountId"]]
        name = " ".join(part for part in (customer["FirstName"], customer["LastName"]) if part)
        found.setdefault(rooms[reservation["AssignedResourceId"]], []).append(name)
    return dict(sorted(found.items()))


def apaleo_in_house(simulator: ApaleoSimulator) -> dict[str, list[str]]:
    client = session()
    options = simulator.options
    token = client.post(f"{simulator.url}/connect/token", data={"grant_type": "client_credentials"},
                        auth=(options.client_id, options.client_secret), timeout=10).json()["access_token"]
    found: dict[str, list[str]] = {}
    page = 1
    while True:
        response = client.get(f"{simulator.url}/booking/v1/reservations", headers={"Authorization": f"Bearer {token}"},
                              params={"status": "InHouse", "pageNumber": page, "pageSize": 7}, timeout=10)
        if response.status_code == 204:
            return dict(sorted(found.items()))
        for reservation in response.json()["reservations"]:
            guest = reservation["primaryGuest"]
            name = " ".join(part for part in (guest.get("firstName"), guest["lastName"]) if part)
            found.setdefault(reservation["unit"]["name"], []).append(name)
        page += 1


def cloudbeds_in_house(simulator: CloudbedsSimulator) -> dict[str, list[str]]:
    client = session()
    found: dict[str, list[str]] = {}
    page = 1
    while True:
        answer = client.get(f"{simulator.url}/api/v1.3/getGuestsByStatus", headers={"x-api-key": simulator.api_key},
                            params={"status": "in_house", "pageNumber": page, "pageSize": 7}, timeout=10).json()
        assert answer["success"] is True, answer
        for row in answer["data"]:
            name = " ".join(part for part in (row["guestFirstName"], row["guestLastName"]) if part)
            found.setdefault(row["roomName"], []).append(name)
        if answer["count"] < 7:
            return dict(sorted(found.items()))
        page += 1


VENDORS: dict[str, tuple[Callable[..., CloudPmsSimulator], Callable[..., dict[str, list[str]]]]] = {
    "mews": (lambda **options: MewsSimulator(MewsOptions(**options)), mews_in_house),
    "apaleo": (lambda **options: ApaleoSimulator(ApaleoOptions(**options)), apaleo_in_house),
    "cloudbeds": (lambda **options: CloudbedsSimulator(CloudbedsOptions(rate_limit=None, **options)),
                  cloudbeds_in_house),
}


@pytest.fixture(params=sorted(VENDORS))
def vendor(request) -> str:
    return request.param


@pytest.fixture
def simulator(vendor) -> Iterator[CloudPmsSimulator]:
    make, _ = VENDORS[vendor]
    with make(seed=11) as running:
        yield running


@pytest.fixture
def receiver(simulator) -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        simulator.set_webhook_url(running.url)
        yield running


def test_every_check_in_pushes_a_webhook(simulator, receiver):
    simulator.check_in("120", "Plain", "Paula")
    assert simulator.webhooks.wait_idle()
    assert len(receiver.bodies()) == len(simulator.webhooks.deliveries) >= 1
    assert simulator.webhooks.counts() == {"delivered": len(receiver.bodies()), "failed": 0, "dropped": 0,
                                           "queued": 0}


def test_duplicated_webhooks_arrive_twice(simulator, receiver):
    simulator.set_faults(webhook_duplicate=True)
    simulator.check_out("101")
    assert simulator.webhooks.wait_idle()
    first, second = receiver.bodies()
    assert first == second


def test_dropped_webhooks_never_arrive(simulator, receiver):
    simulator.set_faults(webhook_drop=1.0)
    simulator.check_out("101")
    assert simulator.webhooks.wait_idle()
    assert receiver.bodies() == [] and len(simulator.webhooks.dropped) == 1


def test_reordered_webhooks_arrive_swapped(simulator, receiver):
    simulator.set_faults(webhook_reorder=True)
    first, second = simulator.check_out("101"), simulator.check_out("102")
    assert simulator.webhooks.wait_idle()
    arrived = [json.dumps(body) for body in receiver.bodies()]
    assert len(arrived) == 2
    assert second in arrived[0] and first in arrived[1]


def test_late_webhooks_wait_their_delay(simulator, receiver):
    simulator.set_faults(webhook_delay=0.5)
    queued = time.monotonic()
    simulator.check_out("101")
    receiver.wait_for_count(1)
    assert time.monotonic() - queued >= 0.5


def test_a_failing_receiver_is_recorded_not_retried(simulator, receiver):
    receiver.status = 500
    simulator.check_out("101")
    assert simulator.webhooks.wait_idle()
    assert simulator.webhooks.counts()["failed"] == len(receiver.bodies()) >= 1


def test_the_control_api_drives_the_front_desk(simulator):
    client = session()
    answer = client.post(f"{simulator.url}/sim/actions", json={"action": "check_in", "room": "120",
                                                               "last_name": "Control", "first_name": "Carl",
                                                               "language": "fr", "vip": True}, timeout=10).json()
    assert answer["in_house"]["120"] == ["Carl Control"]
    moved = client.post(f"{simulator.url}/sim/actions", json={"action": "move", "room": "120", "to_room": "119"},
                        timeout=10).json()
    assert moved["reservation"] == answer["reservation"] and "119" in moved["in_house"]
    state = client.get(f"{simulator.url}/sim/state", timeout=10).json()
    summary = next(r for r in state["reservations"] if r["id"] == answer["reservation"])
    assert (summary["state"], summary["room"], summary["guest"]["language"], summary["guest"]["vip"]) == (
        IN_HOUSE, "119", "fr", True)
    assert state["in_house"] == simulator.in_house() and state["vendor"] == simulator.name
    bad = client.post(f"{simulator.url}/sim/actions", json={"action": "move", "room": "119", "to_room": "101"},
                      timeout=10)
    assert bad.status_code == 400 and "occupied" in bad.json()["error"]
    assert client.post(f"{simulator.url}/sim/faults", json={"storm": "yes"}, timeout=10).status_code == 400
    assert client.post(f"{simulator.url}/sim/faults", json={"webhook_drop": 0.5},
                       timeout=10).json()["webhook_drop"] == 0.5
    arrival = next(r["id"] for r in state["reservations"] if r["state"] == CONFIRMED)
    assert client.post(f"{simulator.url}/sim/actions", json={"action": "no_show", "reservation": arrival},
                       timeout=10).status_code == 200
    assert simulator.reservation(arrival)["state"] == "no_show"


def test_random_activity_keeps_the_hotel_consistent_with_the_api(vendor, simulator):
    _, in_house_by_api = VENDORS[vendor]
    done = simulator.run_random(300, seed=5)
    assert len(done) > 150
    in_house = simulator.in_house()
    assert all(len(names) == 1 for names in in_house.values())
    rooms = [r.room for r in simulator.hotel.reservations.values() if r.state == IN_HOUSE]
    assert len(rooms) == len(set(rooms)) == len(in_house)
    assert in_house_by_api(simulator) == in_house


def test_random_activity_runs_on_its_thread(simulator, receiver):
    simulator.start_random_activity(interval=0.01, seed=2)
    receiver.wait_for_count(10)
    simulator.stop_random_activity()
    assert simulator.webhooks.wait_idle()


def test_command_line_serves_with_random_activity_until_sigterm(vendor):
    command = [sys.executable, "-m", "pmsbridge.cli", "sim", vendor, "--port", "0", "--seed", "3", "--rooms", "5",
               "--in-house", "2", "--random", "0.05"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env=os.environ | {"PYTHONUNBUFFERED": "1"})
    try:
        lines: list[str] = []
        # A thread reads, so that a blocking readline cannot hang the test.
        reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
        reader.start()
        wait_for(lambda: any(line.startswith("Press Ctrl-C") for line in list(lines)), timeout=20)
        text = "".join(lines)
        url = re.search(r"simulator listening on (http://127\.0\.0\.1:\d+)", text).group(1)
        assert "rooms 101..105, 2 in house" in text
        client = session()
        state = client.get(f"{url}/sim/state", timeout=10).json()
        assert state["vendor"] == vendor and len(state["rooms"]) == 5
        wait_for(lambda: len(client.get(f"{url}/sim/state", timeout=10).json()["reservations"]) > 5)
        client.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        reader.join(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()


def test_command_line_refuses_bad_options():
    result = subprocess.run([sys.executable, "-m", "pmsbridge.cli", "sim", "mews", "--in-house", "30"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "do not fit in 20 rooms" in result.stderr
