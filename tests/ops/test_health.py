"""/healthz and /metrics of a running service: no login, the right verdicts, no secrets or guest names."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pmsbridge.config import parse_settings
from pmsbridge.events import CheckIn, Guest, WakeupClear
from pmsbridge.health import PbxProbe, check_health
from pmsbridge.pbx.errors import PbxError
from pmsbridge.service import build
from pmsbridge.web import create_app
from tests.ledger.events import check_in, check_out, dnd, wakeup
from tests.helpers import free_port, wait_for
from tests.ops.conftest import settings_document
from tests.web.conftest import record_unchecked

GUESTS = ["Fairweather", "Oyelaran", "Quintanilla"]


def client_of(service):
    return create_app(service.settings, service).test_client()


def families(body: str) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(body)}


def sample(family, **labels) -> float:
    values = [s.value for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items())
              and s.name in (family.name, family.name + "_total")]
    assert len(values) == 1, (family.name, labels, family.samples)
    return values[0]


def test_healthz_follows_the_pbx_down_and_back(tmp_path, emulator, make_service):
    service = make_service(settings_document(tmp_path, emulator, bridge={"health_pbx_max_age": 1.5}))
    web = client_of(service)
    # Nothing was delivered yet: the probe alone shows the PBX reachable.
    answer = wait_for(lambda: (r := web.get("/healthz")).status_code == 200 and r)
    assert answer.json["status"] == "ok" and answer.json["reasons"] == []
    assert set(answer.json["checks"]) == {"database", "pbx", "wakeups"}
    assert answer.json["checks"]["wakeups"] == {
        "ok": True, "detail": "every wake-up due within 30 minutes is confirmed by the phone system",
        "at_risk": 0, "rooms": []}
    assert emulator.counters().get("getSystemStatus", 0) >= 1

    emulator.set_faults(down=True)
    answer = wait_for(lambda: (r := web.get("/healthz")).status_code == 503 and r)
    assert answer.json["status"] == "failing"
    assert answer.json["checks"]["database"]["ok"] and not answer.json["checks"]["pbx"]["ok"]
    [reason] = answer.json["reasons"]
    assert reason.startswith("pbx: no successful PBX request for")
    assert "connection reset by the PBX" in reason

    emulator.clear_faults()
    wait_for(lambda: web.get("/healthz").status_code == 200)


def test_healthz_fails_for_an_adapter_whose_link_is_down(tmp_path, emulator, make_service):
    document = settings_document(tmp_path, emulator)
    document["adapters"] = {"fias": {"mode": "client", "host": "127.0.0.1", "port": free_port(),
                                     "reconnect_min": 0.1, "reconnect_max": 0.2}}
    service = make_service(document)
    web = client_of(service)
    answer = wait_for(lambda: (r := web.get("/healthz")).json["checks"]["pbx"]["ok"] and r)
    assert answer.status_code == 503
    assert answer.json["checks"]["adapter:fias"]["ok"] is False
    assert answer.json["checks"]["adapter:fias"]["state"] in ("connecting", "down")
    assert [reason.split(":", 2)[:2] for reason in answer.json["reasons"]] == [["adapter", "fias"]]


def test_healthz_fails_when_the_database_does_not_answer(tmp_path, emulator):
    document = settings_document(tmp_path, emulator)
    document["bridge"]["database_url"] = f"postgresql+psycopg://pmsbridge@127.0.0.1:{free_port()}/ledger"
    service = build(parse_settings(document), check_schema=False)
    try:
        report = check_health(service)
    finally:
        service.client.close()
        service.engine.dispose()
    assert not report.ok
    assert report.reasons[0] == "database: the ledger database does not answer (OperationalError)"
    assert report.reasons[1] == "pbx: no successful PBX request since the start"
    assert report.reasons[2] == ("wakeups: the wake-ups cannot be read: the ledger database does not answer "
                                 "(OperationalError)")


def test_a_wake_up_the_pbx_has_not_confirmed_fails_healthz_and_is_counted(tmp_path, emulator, make_service):
    service = make_service(settings_document(tmp_path, emulator))
    web = client_of(service)
    for room in ("104", "105"):
        service.ledger.record(check_in(room, "Doe"), raw="")
    wait_for(lambda: service.ledger.stats().depth == 0)
    emulator.state.vacate_room("104")  # checked out on the PBX by hand: its wake-up is refused
    local = datetime.now(service.settings.bridge.zone).replace(tzinfo=None, second=0, microsecond=0)
    soon = local + timedelta(minutes=20)
    for room in ("104", "105"):
        service.ledger.record(wakeup(room, soon), raw="")
    wait_for(lambda: service.ledger.stats().dead == 1 and service.ledger.stats().depth == 0)

    answer = wait_for(lambda: (r := web.get("/healthz")).json["checks"]["pbx"]["ok"] and r)
    assert answer.status_code == 503
    assert answer.json["reasons"] == [f"wakeups: room 104 {soon:%H:%M} not confirmed by the phone system"]
    assert answer.json["checks"]["wakeups"]["rooms"] == ["104"]
    metrics = families(web.get("/metrics").get_data(as_text=True))
    assert sample(metrics["pmsbridge_wakeups_at_risk"]) == 1
    assert sample(metrics["pmsbridge_health_check_ok"], check="wakeups") == 0

    # The wake-up is cancelled: nothing is at risk any more.
    service.ledger.record(WakeupClear(source="test", room="104"), raw="")
    assert web.get("/healthz").status_code == 200
    assert sample(families(web.get("/metrics").get_data(as_text=True))["pmsbridge_wakeups_at_risk"]) == 0


def test_the_probe_asks_only_when_nothing_else_succeeded_lately(tmp_path, emulator):
    service = build(parse_settings(settings_document(tmp_path, emulator)), check_schema=False)
    probe = PbxProbe(service.client, max_age=900)
    try:
        probe.run()
        probe.run()
    finally:
        service.client.close()
        service.engine.dispose()
    assert emulator.counters()["getSystemStatus"] == 1


def test_healthz_and_metrics_need_no_login(tmp_path, emulator, make_service):
    service = make_service(settings_document(tmp_path, emulator))
    web = client_of(service)
    assert web.get("/").status_code == 302  # the board wants a login...
    assert web.get("/healthz").status_code in (200, 503)  # ...monitoring does not
    answer = web.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert answer.headers["Cache-Control"] == "no-store"


def test_metrics_count_events_deliveries_and_pbx_latency(tmp_path, emulator, make_service):
    service = make_service(settings_document(tmp_path, emulator))
    for number, guest in enumerate(GUESTS):
        service.ledger.record(check_in(str(101 + number), guest), raw="")
    service.ledger.record(check_out("101"), raw="")
    wait_for(lambda: service.ledger.stats().depth == 0 and service.dispatcher.health.sent == 4)

    body = client_of(service).get("/metrics").get_data(as_text=True)
    metrics = families(body)
    events = metrics["pmsbridge_ledger_events"]
    assert sample(events, source="test", kind="check_in", status="applied") == 3
    assert sample(events, source="test", kind="check_out", status="applied") == 1
    deliveries = metrics["pmsbridge_ledger_deliveries"]
    assert sample(deliveries, state="delivered") == 4
    assert sample(deliveries, state="dead") == 0
    assert sample(metrics["pmsbridge_queue_depth"]) == 0
    assert sample(metrics["pmsbridge_queue_oldest_pending_age_seconds"]) == 0
    assert sample(metrics["pmsbridge_dispatcher_sent"]) == 4
    assert sample(metrics["pmsbridge_database_up"]) == 1
    latency = metrics["pmsbridge_pbx_request_duration_seconds"]
    counts = {s.labels["action"]: s.value for s in latency.samples if s.name.endswith("_count")}
    assert counts["pmsapi"] == 4 and counts["login"] >= 1
    assert sample(metrics["pmsbridge_health_check_ok"], check="database") == 1
    assert "pmsbridge_drift_open" in metrics  # the service has a reconciler


def test_metrics_count_degraded_rooms_and_deliveries_skipped_and_dismissed(tmp_path, emulator, make_service):
    service = make_service(settings_document(tmp_path, emulator))
    # A VIP code from before the door checks: the PBX refuses it, the guest is checked in without it.
    record_unchecked(service, CheckIn(source="test", room="101", guest=Guest(last_name="Gold", vip="V1")))
    service.ledger.record(check_in("104", "Doe"), raw="")
    wait_for(lambda: service.ledger.stats().depth == 0)
    emulator.state.vacate_room("104")  # checked out on the PBX by hand: DND is refused, the wake-up skipped
    later = datetime.now(service.settings.bridge.zone).replace(tzinfo=None, second=0, microsecond=0) + timedelta(
        days=1)
    service.ledger.record(dnd("104"), raw="")
    service.ledger.record(wakeup("104", later), raw="")
    [dead] = wait_for(lambda: service.ledger.stats().depth == 0 and service.ledger.deliveries(state="dead"))
    service.ledger.dismiss([dead.id], note="the guest asked for no calls", actor="test")

    metrics = families(client_of(service).get("/metrics").get_data(as_text=True))
    assert sample(metrics["pmsbridge_rooms_degraded"]) == 1
    assert sample(metrics["pmsbridge_dispatcher_degraded"]) == 1
    deliveries = metrics["pmsbridge_ledger_deliveries"]
    assert sample(deliveries, state="skipped") == 1
    assert sample(deliveries, state="dismissed") == 1
    assert sample(deliveries, state="dead") == 0


def test_metrics_show_adapter_link_states(tmp_path, emulator, make_service):
    document = settings_document(tmp_path, emulator)
    document["adapters"] = {"fias": {"mode": "client", "host": "127.0.0.1", "port": free_port(),
                                     "reconnect_min": 0.1, "reconnect_max": 0.2}}
    service = make_service(document)
    metrics = families(client_of(service).get("/metrics").get_data(as_text=True))
    states = metrics["pmsbridge_adapter_link_state"]
    assert sum(s.value for s in states.samples if s.labels["adapter"] == "fias") == 1
    assert sample(states, adapter="fias", state="up") == 0


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_no_secret_and_no_guest_name_is_shown(tmp_path, emulator, make_service, path):
    document = settings_document(tmp_path, emulator, web={"secret_key": "web-session-signing-key-0042"})
    service = make_service(document)
    for number, guest in enumerate(GUESTS):
        service.ledger.record(check_in(str(101 + number), guest), raw="")
    wait_for(lambda: service.ledger.stats().depth == 0)
    emulator.set_faults(http_500=True)
    with pytest.raises(PbxError):  # an error on record too
        service.client.system_status()

    body = client_of(service).get(path).get_data(as_text=True)
    options = emulator.options
    pms_token = hashlib.md5((options.pms_username + options.pms_password).encode()).hexdigest()
    for secret in (options.password, options.pms_password, "web-session-signing-key-0042", pms_token, *GUESTS):
        assert secret not in body
