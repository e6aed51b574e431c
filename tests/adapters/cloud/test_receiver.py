"""The cloud webhook path over a real socket: the token, the size, bodies that cannot be used, health checks."""

from __future__ import annotations

import json

import pytest
import requests

from pmsbridge.ledger.models import EventStatus
from tests.accounting.conftest import audit_entries
from tests.adapters.cloud.conftest import VENDORS, WEBHOOK_TOKEN
from tests.helpers import wait_for


@pytest.mark.parametrize("vendor", [VENDORS["apaleo"]])
def test_what_the_webhook_path_refuses_keeps_and_ignores(cloud):
    sim = cloud.simulator()
    cloud.adapter()
    cloud.agree()
    url = cloud.webhooks.url("apaleo")
    wrong = url.replace(WEBHOOK_TOKEN, "a-wrong-token-0123456789")
    assert requests.post(wrong, json={"topic": "Reservation"}, timeout=5).status_code == 404
    assert any(detail.startswith("wrong path token") for _, _, _, detail in audit_entries(cloud.engine))

    health = {"id": "h1", "topic": "system", "type": "healthcheck", "accountId": "SIM", "propertyIds": ["SIM"]}
    answer = requests.post(url, json=health, timeout=5)
    assert (answer.status_code, answer.json()["status"]) == (200, "ignored")

    answer = requests.post(url, data=b"\xff not json", timeout=5)
    assert (answer.status_code, answer.json()["status"]) == (202, "rejected")
    rejected = cloud.ledger.event(answer.json()["event_id"])
    assert rejected.status == EventStatus.REJECTED.value and "not JSON" in rejected.problem

    answer = requests.post(url, data=b"x" * (600 * 1024), timeout=5)
    assert answer.status_code == 413

    reservation = sim.reservation_in(sim.hotel.occupied_rooms()[0])
    body = {"topic": "Reservation", "type": "changed", "id": "w-1", "propertyId": "SIM",
            "data": {"entityId": reservation}}
    first = requests.post(url, data=json.dumps(body), timeout=5).json()
    again = requests.post(url, data=json.dumps(body), timeout=5).json()
    assert (first["status"], again["status"], again["event_id"]) == ("received", "duplicate", first["event_id"])
    settled = wait_for(lambda: cloud.ledger.event(first["event_id"]).status == "fetched"
                       and cloud.ledger.event(first["event_id"]))
    assert settled.problem == f"fetched {reservation}: 0 events recorded"

