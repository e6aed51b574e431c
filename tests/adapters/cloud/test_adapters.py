"""Each cloud PMS adapter against its vendor's simulator, over real sockets: webhooks, poll, resync,
tokens, rate limits and postings."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from pmsbridge import held_swaps
from pmsbridge.accounting.models import PostingState
from pmsbridge.accounting.postings import Charge, PostingStore
from pmsbridge.adapters.base import LinkState
from pmsbridge.ledger.models import EventStatus
from tests.adapters.cloud.conftest import VENDORS
from tests.helpers import wait_for

# The vendors whose credential is a fixed key, not a token the adapter renews: its name in the section.
FIXED_KEYS = {"mews": "access_token", "cloudbeds": "api_key"}


def test_check_in_move_rename_check_out_and_cancel_arrive_by_webhook(cloud):
    sim = cloud.simulator()
    cloud.adapter()
    before = cloud.agree()
    assert len(before) == 6 and cloud.kinds().count("check_in") == 6

    vacant = [room for room in sim.hotel.vacant_rooms()]
    reservation = sim.check_in(vacant[0], "Doe", "Jane", language="de")
    cloud.agree()
    guest = cloud.ledger.room_states()[vacant[0]].displayed_guest
    # Cloudbeds keeps one sub-reservation per room, and no guest language.
    assert guest.reservation in (reservation, f"{reservation}-1")
    assert (guest.last_name, guest.first_name) == ("Doe", "Jane")
    assert guest.language == (None if cloud.vendor.name == "cloudbeds" else "de")
    sim.move(vacant[0], vacant[1])
    cloud.agree()
    assert cloud.kinds(vacant[1])[-1] == "room_move"
    sim.rename(vacant[1], "Doe-Smith", "Jane")
    cloud.agree()
    assert cloud.kinds(vacant[1])[-1] == "guest_change"
    assert cloud.ledger.room_states()[vacant[1]].displayed_guest.last_name == "Doe-Smith"
    sim.check_out(vacant[1])
    cloud.agree()
    assert cloud.kinds(vacant[1])[-1] == "check_out"

    events = len(cloud.kinds())
    booked = sim.book("Roe", "Rick")
    sim.cancel(booked)
    cloud.agree()
    assert len(cloud.kinds()) == events
    fetched = cloud.ledger.events(status=EventStatus.FETCHED.value, limit=1000)
    assert fetched and all(row.source == cloud.vendor.name and row.kind is None for row in fetched)


def test_duplicated_and_reordered_webhooks_change_nothing_twice(cloud):
    sim = cloud.simulator()
    cloud.adapter()
    cloud.agree()
    before = len(cloud.kinds())
    sim.set_faults(webhook_duplicate=1, webhook_reorder=1)
    vacant = sim.hotel.vacant_rooms()
    sim.check_in(vacant[0], "Doe", "Jane")
    sim.check_in(vacant[1], "Roe", "Rick")
    sim.move(vacant[0], vacant[2])
    sim.rename(vacant[1], "Roe-Smith", "Rick")
    sim.check_out(sim.hotel.occupied_rooms()[0])
    cloud.agree()
    assert sum(1 for delivery in sim.webhooks.deliveries if delivery.delivered) >= 10
    # Each notification fetches the reservation as it is by then: a late check-in notification of a
    # guest who has moved on checks the guest in where they are now. Nothing happens twice.
    new = [(row.kind, row.room) for row in reversed(cloud.ledger.events(limit=1000))
           if row.source == cloud.vendor.name and row.kind is not None][before:]
    assert len(new) == len(set(new)) and [kind for kind, _ in new].count("check_in") == 2
    assert [kind for kind, _ in new].count("check_out") == 1


def test_a_dropped_webhook_is_caught_by_the_poll_within_its_interval(cloud):
    sim = cloud.simulator()
    adapter = cloud.adapter(poll_interval_seconds=5, poll_overlap_seconds=5)
    cloud.agree()
    sim.set_faults(webhook_drop=1)
    room = sim.hotel.vacant_rooms()[0]
    sim.check_in(room, "Doe", "Jane")
    occupied = sim.hotel.occupied_rooms()[0]
    sim.rename(occupied, "Renamed", "Rita")
    assert cloud.sim.webhooks.counts()["dropped"] >= 2
    cloud.agree(timeout=15)
    wait_for(lambda: adapter.status.counters.get("recorded_by_poll", 0) >= 2)
    assert cloud.ledger.room_states()[occupied].displayed_guest.last_name == "Renamed"


def test_a_429_storm_is_waited_out_and_loses_nothing(cloud):
    sim = cloud.simulator()
    adapter = cloud.adapter()
    cloud.agree()
    sim.set_faults(storm=True, retry_after=1)
    room = sim.hotel.vacant_rooms()[0]
    sim.check_in(room, "Doe", "Jane")
    wait_for(lambda: adapter.session.counters.get("rate_limited", 0) >= 2)
    assert room not in cloud.in_ledger()
    sim.set_faults(storm=False)
    cloud.agree()
    assert cloud.ledger.room_states()[room].displayed_guest.last_name == "Doe"


def test_the_resync_at_first_start_and_on_request_with_its_mass_checkout_guard(cloud):
    sim = cloud.simulator(in_house=8)
    adapter = cloud.adapter()
    assert len(cloud.agree()) == 8
    sim.set_webhook_url(None)
    occupied = sim.hotel.occupied_rooms()
    sim.check_out(occupied[0])
    adapter.request_resync()
    wait_for(lambda: occupied[0] not in cloud.in_ledger())
    assert len(cloud.in_ledger()) == 7
    for room in occupied[1:6]:
        sim.check_out(room)
    adapter.request_resync()
    held = wait_for(lambda: held_swaps.held_swaps(cloud.ledger, [cloud.vendor.name]))
    assert held[0].plan.vacated == 5 and held[0].plan.occupied == 7
    wait_for(lambda: "held" in (adapter.status.detail or ""))
    assert len(cloud.in_ledger()) == 7
    held_swaps.confirm(cloud.ledger, cloud.vendor.name, actor="test")
    assert cloud.in_ledger() == sim.in_house()
    wait_for(lambda: "held" not in (adapter.status.detail or ""))


def test_a_posting_answered_and_a_posting_refused(cloud):
    sim = cloud.simulator()
    cloud.adapter()
    cloud.agree()
    store = PostingStore(cloud.engine)
    room = sim.hotel.occupied_rooms()[0]
    vacant = sim.hotel.vacant_rooms()[0]

    def charge(room: str, amount: int) -> int:
        return store.create(Charge(room=room, call_start=datetime(2026, 11, 27, 10, 15), channel=cloud.vendor.name,
                                   amount=amount, currency="EUR", dialled="00441234567", duration=65))

    answered = charge(room, 150)
    posted = wait_for(lambda: store.get(answered).state == PostingState.POSTED.value and store.get(answered))
    [taken] = sim.postings()
    assert taken.amount == 1.5 and taken.room == room and "00441234567" in taken.description
    assert taken.key == f"pmsbridge-posting-{answered}.0" and posted.answer
    sim.set_faults(refuse_postings=True)
    refused = charge(room, 250)
    nobody = charge(vacant, 90)
    wait_for(lambda: {store.get(refused).state, store.get(nobody).state} == {PostingState.REFUSED.value})
    assert "closed" in store.get(refused).answer and "no guest" in store.get(nobody).answer
    assert len(sim.postings()) == 1


def test_an_expired_token_is_renewed_or_reported(cloud):
    sim = cloud.simulator()
    adapter = cloud.adapter()
    cloud.agree()
    sim.expire_tokens()
    room = sim.hotel.vacant_rooms()[0]
    sim.check_in(room, "Doe", "Jane")
    if cloud.vendor.name in FIXED_KEYS:
        # Mews' AccessToken and Cloudbeds' API key do not expire by the hour: a regenerated one replaces
        # the old, which is refused for good. The notification waits in the ledger until the bridge
        # runs with the new one.
        wait_for(lambda: adapter.status.state is LinkState.DOWN and "credentials" in adapter.status.detail)
        assert cloud.ledger.notifications(cloud.vendor.name)
        adapter.stop()
        key = FIXED_KEYS[cloud.vendor.name]
        cloud.adapter(**{key: sim.credentials()[key]})
    else:
        wait_for(lambda: adapter.session.counters.get("token_renewals", 0) >= 1)
    cloud.agree()
    assert cloud.ledger.room_states()[room].displayed_guest.last_name == "Doe"


def test_language_and_vip_changes_reach_the_ledger_where_the_pms_has_them(cloud):
    sim = cloud.simulator()
    cloud.adapter()
    cloud.agree()
    room = sim.hotel.occupied_rooms()[0]
    sim.set_language(room, "fr")
    sim.set_vip(room, True)
    cloud.agree()
    wait_for(lambda: not cloud.ledger.notifications(cloud.vendor.name) and sim.webhooks.wait_idle(0.1))
    guest = cloud.ledger.room_states()[room].displayed_guest
    # Apaleo has no VIP field, Cloudbeds neither a VIP nor a language field.
    expected = {"mews": ("fr", "2"), "apaleo": ("fr", None), "cloudbeds": (None, None)}[cloud.vendor.name]
    assert (guest.language, guest.vip) == expected


@pytest.mark.parametrize("vendor", [VENDORS["apaleo"]])
def test_apaleo_fetches_a_new_token_before_the_old_one_expires(cloud):
    sim = cloud.simulator(token_lifetime=2)
    adapter = cloud.adapter()
    cloud.agree()
    for name in ("Doe", "Roe", "Moe"):
        sim.check_in(sim.hotel.vacant_rooms()[0], name)
        time.sleep(1)
        cloud.agree()
    assert adapter.session.tokens.fetched >= 2
    assert adapter.session.counters.get("token_renewals", 0) == 0
    assert all(request.status != 401 for request in sim.requests_log)
