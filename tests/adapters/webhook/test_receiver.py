"""Webhook requests through the bridge's Flask app (test client) into a real ledger."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time

from sqlmodel import Session, select

from pmsbridge.adapters.webhook.receiver import InboundRequest
from pmsbridge.ledger.models import AuditEntry, EventStatus
from pmsbridge.validation import EventValidator
from tests.adapters.webhook.conftest import (
    APALEO_SOURCE,
    FULL_SOURCE,
    HMAC_KEY,
    TOKEN,
    check_in_body,
    encode,
    signed_headers,
)


def audit_entries(engine) -> list[AuditEntry]:
    with Session(engine) as session:
        return list(session.execute(select(AuditEntry)).scalars())


def post_signed(client, payload: dict, **signing):
    body = encode(payload)
    return client.post("/webhook/pms", data=body, headers=signed_headers(body, **signing))


# -- recording ------------------------------------------------------------------------------


def test_a_signed_check_in_is_recorded_with_its_raw_body_and_queued(client, ledger):
    body = encode(check_in_body("101"))
    reply = client.post("/webhook/pms", data=body, headers=signed_headers(body))
    assert reply.status_code == 200, reply.json
    assert reply.json["status"] == "applied" and reply.json["deliveries"] == 1
    row = ledger.event(reply.json["event_id"])
    assert (row.source, row.source_key, row.kind, row.room) == ("webhook:pms", "evt-1", "check_in", "101")
    assert row.raw == body.decode()
    assert ledger.room_states()["101"].displayed_guest.last_name == "Doe"
    [delivery] = ledger.deliveries()
    assert (delivery.operation, delivery.room) == ("checkin", "101")


def test_a_duplicate_delivery_changes_nothing(client, ledger):
    first = post_signed(client, check_in_body("101"))
    again = post_signed(client, check_in_body("101"))
    assert again.status_code == 200
    assert again.json == {"status": "duplicate", "event_id": first.json["event_id"], "deliveries": 0}
    assert len(ledger.events()) == 1 and len(ledger.deliveries()) == 1


def test_a_replay_inside_the_window_is_a_duplicate(client, ledger):
    body = encode(check_in_body("101"))
    headers = signed_headers(body)
    assert client.post("/webhook/pms", data=body, headers=headers).status_code == 200
    replay = client.post("/webhook/pms", data=body, headers=headers)
    assert replay.json["status"] == "duplicate" and len(ledger.deliveries()) == 1


def test_a_move_then_checkout_flow(client, ledger):
    post_signed(client, check_in_body("101"))
    post_signed(client, {"id": "evt-2", "event": "reservation.room_changed",
                         "reservation": {"id": "R-101", "room": "102", "previous_room": "101"}})
    post_signed(client, {"id": "evt-3", "event": "reservation.checked_out", "reservation": {"room": "102"}})
    states = ledger.room_states()
    assert not states["101"].occupied and not states["102"].occupied
    assert [d.operation for d in reversed(ledger.deliveries())] == ["checkin", "checkout", "checkin", "checkout"]


# -- authentication -------------------------------------------------------------------------


def test_a_bad_signature_is_refused_audited_and_not_processed(client, ledger, engine):
    body = encode(check_in_body("101"))
    reply = client.post("/webhook/pms", data=body, headers=signed_headers(body, key="not-the-key"))
    assert reply.status_code == 401 and reply.json == {"error": "unauthorized"}
    assert ledger.events() == [] and ledger.deliveries() == []
    [entry] = audit_entries(engine)
    assert (entry.actor, entry.action) == ("webhook:pms", "webhook refused")
    assert "X-Signature does not match the body" in entry.detail and "client 127.0.0.1" in entry.detail
    assert HMAC_KEY not in entry.detail


def test_an_expired_timestamp_is_refused(client, ledger, engine):
    reply = post_signed(client, check_in_body("101"), timestamp=time.time() - 600)
    assert reply.status_code == 401 and ledger.events() == []
    assert "outside the 300 s window" in audit_entries(engine)[0].detail


def test_a_nan_timestamp_is_refused_even_when_the_signature_covers_it(client, ledger, engine):
    body = encode(check_in_body("101"))
    digest = hmac.new(HMAC_KEY.encode(), b"nan." + body, hashlib.sha256).hexdigest()
    reply = client.post("/webhook/pms", data=body, headers={"X-Signature": f"sha256={digest}", "X-Timestamp": "nan"})
    assert reply.status_code == 401 and ledger.events() == []
    assert "timestamp 'nan' is not unix time" in audit_entries(engine)[0].detail


def test_a_rotated_key_is_accepted_during_the_rotation(app_for, ledger):
    source = copy.deepcopy(FULL_SOURCE)
    source["signature"]["secrets"] = ["previous-key-0123456789", HMAC_KEY]
    app, _ = app_for({"pms": source})
    client = app.test_client()
    assert post_signed(client, check_in_body("101", event_id="a"), key="previous-key-0123456789").status_code == 200
    assert post_signed(client, check_in_body("102", event_id="b")).status_code == 200
    assert post_signed(client, check_in_body("103", event_id="c"), key="retired-key-xxxxxxxx").status_code == 401
    assert sorted(ledger.room_states()) == ["101", "102"]


def test_token_in_the_path(client, ledger, engine):
    health = {"topic": "system", "type": "healthcheck", "id": "h1"}
    assert client.post(f"/webhook/apaleo/{TOKEN}", json=health).status_code == 200
    assert client.post("/webhook/apaleo/wrong-token", json=health).status_code == 401
    assert client.post("/webhook/apaleo", json=health).status_code == 401
    assert [entry.detail.split(" (")[0] for entry in audit_entries(engine)] == ["no valid token in the path"] * 2
    assert all(TOKEN not in entry.detail for entry in audit_entries(engine))


def test_token_in_a_header_and_as_a_bearer(app_for):
    header_source = {**APALEO_SOURCE, "token_header": "X-Webhook-Token"}
    bearer_source = {**APALEO_SOURCE, "token_header": "Authorization"}
    app, _ = app_for({"header": header_source, "bearer": bearer_source})
    client = app.test_client()
    health = {"topic": "system", "type": "healthcheck"}
    assert client.post("/webhook/header", json=health, headers={"X-Webhook-Token": TOKEN}).status_code == 200
    assert client.post("/webhook/header", json=health, headers={"X-Webhook-Token": "nope"}).status_code == 401
    assert client.post("/webhook/bearer", json=health, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    # With the token in a header, a token in the path is no address of this webhook.
    assert client.post(f"/webhook/header/{TOKEN}", json=health).status_code == 404


def test_the_ip_allow_list(app_for, engine):
    source = {**APALEO_SOURCE, "allow_ips": ["192.0.2.0/24"], "trusted_proxies": ["127.0.0.1"]}
    app, _ = app_for({"apaleo": source})
    client = app.test_client()
    health = {"topic": "system", "type": "healthcheck"}
    url = f"/webhook/apaleo/{TOKEN}"
    allowed = client.post(url, json=health, environ_base={"REMOTE_ADDR": "192.0.2.40"})
    assert allowed.status_code == 200
    refused = client.post(url, json=health, environ_base={"REMOTE_ADDR": "198.51.100.9"})
    assert refused.status_code == 403 and refused.json == {"error": "forbidden"}
    # Behind the trusted proxy the client is the last hop the proxy added.
    proxied = client.post(url, json=health, headers={"X-Forwarded-For": "203.0.113.5, 192.0.2.41"})
    assert proxied.status_code == 200
    spoofed = client.post(url, json=health, headers={"X-Forwarded-For": "192.0.2.41, 203.0.113.5"})
    assert spoofed.status_code == 403
    details = [entry.detail for entry in audit_entries(engine)]
    assert details == ["client address not in allow_ips (client 198.51.100.9)",
                       "client address not in allow_ips (client 203.0.113.5)"]


# -- bodies ---------------------------------------------------------------------------------


def test_an_oversize_body_is_refused_by_its_content_length(app_for, ledger):
    source = {**APALEO_SOURCE, "max_body_bytes": 1000}
    app, _ = app_for({"apaleo": source})
    reply = app.test_client().post(f"/webhook/apaleo/{TOKEN}", data=b"{" + b" " * 1000 + b"}")
    assert reply.status_code == 413 and ledger.events() == []


def test_an_oversize_body_without_a_content_length_is_refused_by_the_read(make_adapter, ledger):
    adapter = make_adapter({"apaleo": {**APALEO_SOURCE, "max_body_bytes": 1000}})
    reads = []

    def read_body(limit: int) -> bytes:
        reads.append(limit)
        return b" " * limit

    reply = adapter.receivers["apaleo"].handle(InboundRequest(
        headers={}, remote_addr="127.0.0.1", content_length=None, path_token=TOKEN, read_body=read_body))
    assert reply.status == 413 and reads == [1001] and ledger.events() == []
    assert adapter.status.counters["too_large"] == 1


def test_a_body_that_is_not_json_is_kept_and_refused(client, ledger):
    body = b'{"id": "evt-1", "event": '
    reply = client.post("/webhook/pms", data=body, headers=signed_headers(body))
    assert reply.status_code == 400 and reply.json["error"].startswith("the body is not JSON")
    row = ledger.event(reply.json["event_id"])
    assert (row.status, row.raw, row.source) == (EventStatus.REJECTED, body.decode(), "webhook:pms")


def test_an_unmappable_body_is_kept_with_the_reason(client, ledger):
    reply = post_signed(client, {"id": "evt-9", "event": "reservation.exploded", "reservation": {"room": "101"}})
    assert reply.status_code == 400
    assert reply.json["error"] == "event type 'reservation.exploded' is not listed in [events]"
    row = ledger.event(reply.json["event_id"])
    assert row.status == EventStatus.REJECTED and row.problem == reply.json["error"]
    assert ledger.deliveries() == []


def test_an_invalid_event_is_kept_with_the_field_at_fault(client, ledger):
    reply = post_signed(client, check_in_body("10 1"))
    assert reply.status_code == 400
    row = ledger.event(reply.json["event_id"])
    assert row.status == EventStatus.REJECTED and row.problem.startswith("invalid event: room:")


def test_a_source_set_to_accept_answers_202_and_keeps_a_dead_letter(client, ledger):
    reply = client.post(f"/webhook/apaleo/{TOKEN}", json={"topic": "Folio", "type": "created", "id": "f1"})
    assert reply.status_code == 202 and reply.json["status"] == "rejected"
    assert ledger.event(reply.json["event_id"]).problem == "event type 'Folio/created' is not listed in [events]"


def test_apaleo_healthcheck_gets_a_2xx_and_leaves_no_row(client, ledger):
    reply = client.post(f"/webhook/apaleo/{TOKEN}", json={
        "topic": "system", "type": "healthcheck", "id": "h1", "timestamp": 1692268510605})
    assert reply.status_code == 200 and reply.json["status"] == "ignored"
    assert ledger.events() == []


def test_a_thin_payload_is_kept_and_flagged_as_needing_a_fetch(client, ledger):
    thin = {"topic": "Reservation", "type": "checked-in", "id": "a1", "accountId": "DEMO", "propertyId": "MUC",
            "timestamp": 1692268510605, "data": {"entityId": "XPGMSXGF-1"}}
    reply = client.post(f"/webhook/apaleo/{TOKEN}", json=thin)
    assert reply.status_code == 202 and reply.json["status"] == "needs_fetch"
    row = ledger.event(reply.json["event_id"])
    assert row.status == EventStatus.NEEDS_ATTENTION and row.kind is None and row.source_key == "a1"
    assert row.problem.startswith("needs a fetch from the PMS API: Reservation/checked-in for reservation XPGMSXGF-1")
    assert json.loads(row.raw) == thin
    assert ledger.deliveries() == [] and ledger.room_states() == {}
    again = client.post(f"/webhook/apaleo/{TOKEN}", json=thin)
    assert again.json == {"status": "duplicate", "event_id": reply.json["event_id"]}
    assert len(ledger.events()) == 1


# -- the receiver as a whole ----------------------------------------------------------------


def test_unknown_sources_and_a_stopped_adapter(app_for):
    app, adapter = app_for({"apaleo": APALEO_SOURCE})
    client = app.test_client()
    assert client.post("/webhook/nobody", json={}).status_code == 404
    assert client.get(f"/webhook/apaleo/{TOKEN}").status_code == 405
    adapter.stop()
    stopped = client.post(f"/webhook/apaleo/{TOKEN}", json={"topic": "system", "type": "healthcheck"})
    assert stopped.status_code == 503 and stopped.headers["Retry-After"] == "30"


def test_the_status_counts_what_happened(app_for):
    app, adapter = app_for({"pms": FULL_SOURCE})
    client = app.test_client()
    post_signed(client, check_in_body("101"))
    post_signed(client, check_in_body("101"))
    post_signed(client, {"id": "x", "event": "ping"})
    post_signed(client, check_in_body("102", event_id="evt-2"), key="wrong-key-zzzzzzzz")
    assert adapter.status.counters == {"received": 4, "recorded": 1, "duplicate": 1, "ignored": 1, "refused": 1}
    assert adapter.status.state == "up" and adapter.status.detail == "receiving at /webhook/pms"
    assert adapter.status.last_record_at is not None


def test_a_move_to_a_room_the_hotel_does_not_have_is_refused_and_the_guest_keeps_the_phone(client, ledger):
    ledger.validator = EventValidator(ledger.mapping, hotel_rooms=["101", "102"])
    post_signed(client, check_in_body("101"))
    for room in ("999", "abc"):
        reply = post_signed(client, {"id": f"evt-{room}", "event": "reservation.room_changed",
                                     "reservation": {"id": "R-101", "room": room, "previous_room": "101"}})
        assert reply.status_code == 400
        assert f"room {room} is not one of the hotel's rooms" in reply.json["error"]
        row = ledger.event(reply.json["event_id"])
        assert row.status == EventStatus.REJECTED and '"previous_room": "101"' in row.raw
    assert ledger.room_states()["101"].occupied and set(ledger.room_states()) == {"101"}
    assert [d.operation for d in ledger.deliveries()] == ["checkin"]


# -- hostile bodies: kept, answered 400 with a reason, never a traceback ---------------------


def post_raw_signed(client, body: bytes):
    return client.post("/webhook/pms", data=body, headers=signed_headers(body))


def assert_kept_and_refused(reply, body: bytes, ledger, reason: str) -> None:
    assert reply.status_code == 400 and reply.is_json, reply.data[:200]
    assert reason in reply.json["error"]
    row = ledger.event(reply.json["event_id"])
    assert (row.status, row.raw, row.problem) == (EventStatus.REJECTED, body.decode(), reply.json["error"])
    assert ledger.deliveries() == []


def test_a_body_of_100k_nested_brackets_is_kept_and_refused(client, ledger, caplog):
    body = b"[" * 100_000
    assert_kept_and_refused(post_raw_signed(client, body), body, ledger, "nests objects and lists more than 32 deep")
    assert not [record for record in caplog.records if record.levelname in ("ERROR", "CRITICAL")]


def test_brackets_inside_strings_do_not_count_as_nesting(client, ledger):
    reply = post_signed(client, check_in_body("101", last_name="[[[[{{{{" * 20))
    assert reply.status_code == 200 and reply.json["status"] == "applied"


def test_a_number_of_200000_digits_is_kept_and_refused(client, ledger, caplog):
    body = b'{"id": "evt-1", "event": "reservation.checked_in", "reservation": {"room": ' + b"7" * 200_000 + b"}}"
    assert_kept_and_refused(post_raw_signed(client, body), body, ledger, "a number of 200000 characters")
    assert not [record for record in caplog.records if record.levelname in ("ERROR", "CRITICAL")]


def test_non_finite_numbers_are_refused_at_the_door(client, ledger):
    for number, reason in ((b"NaN", "NaN"), (b"Infinity", "Infinity"), (b"-Infinity", "-Infinity"),
                           (b"1e400", "1e400")):
        body = (b'{"id": "evt-%s", "event": "reservation.checked_in", "reservation": {"room": %s}}'
                % (number.strip(b"-"), number))
        assert_kept_and_refused(post_raw_signed(client, body), body, ledger, reason)
    assert "nan" not in ledger.room_states() and "inf" not in ledger.room_states()


def test_a_room_that_is_a_fraction_or_true_is_refused(client, ledger):
    for room in (101.5, 101.0, True):
        reply = post_signed(client, check_in_body(room, event_id=f"evt-{room}"))
        assert reply.status_code == 400
        assert "expected a room number as text or a whole number" in reply.json["error"]
    assert ledger.room_states() == {}
    whole = post_signed(client, check_in_body(102, event_id="evt-102"))
    assert whole.status_code == 200 and ledger.event(whole.json["event_id"]).room == "102"


def test_a_hostile_body_without_authentication_leaves_no_row(client, ledger):
    body = b"[" * 100_000
    reply = client.post("/webhook/pms", data=body, headers=signed_headers(body, key="forged-key-1234"))
    assert reply.status_code == 401 and ledger.events() == []
