"""The PBX's event reports: read leniently, kept raw, extension status on the board at once,
accepted from the PBX only; end to end, the emulator pushes them to the running bridge."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json

import pytest
from sqlalchemy import select
from sqlmodel import Session

from pmsbridge.accounting.models import PbxReport
from pmsbridge.extension_status import ExtensionStatusCache
from pmsbridge.pbx_reports import PbxReports, ReportSenders, ReportUnreadable, parse_reports
from pmsbridge.web import create_app
from tests.accounting.conftest import settings_for
from tests.helpers import wait_for
from tests.ledger.conftest import FrozenClock

ACCOUNTS = [{"extension": "1101", "status": "Idle", "addr": "127.0.0.1:5061"},
            {"extension": "1102", "status": "Idle", "addr": "127.0.0.1:5062"}]


def kept(engine) -> list[tuple[str, str | None, bool]]:
    with Session(engine) as session:
        return [(row.kind, row.extension, row.handled)
                for row in session.execute(select(PbxReport).order_by(PbxReport.id)).scalars()]


@pytest.fixture
def cache():
    cache = ExtensionStatusCache(client=None)
    cache.update(ACCOUNTS, {})
    return cache


@pytest.fixture
def reports(engine, cache):
    return PbxReports(engine, cache, ReportSenders("https://127.0.0.1:8089", []))


def test_reports_are_read_leniently():
    [plain] = parse_reports(b'{"action": "ExtensionStatus", "extension": "1101", "status": "InUse"}')
    assert (plain.kind, plain.extension, plain.status, plain.is_extension_status) == (
        "ExtensionStatus", "1101", "InUse", True)
    nested, typed, untyped = parse_reports(json.dumps([
        {"event": "extension_status", "msg": json.dumps({"extension": 1102, "status": "Ringing"})},
        {"type": 30011, "data": {"call_id": "7"}},
        {"something": "else"},
    ]).encode())
    assert (nested.kind, nested.extension, nested.status, nested.is_extension_status) == (
        "extension_status", "1102", "Ringing", True)
    assert (typed.kind, typed.is_extension_status) == ("30011", False)
    assert untyped.kind == "untyped"
    for body in (b"not json", b"[]", b'["text"]', b"\xff"):
        with pytest.raises(ReportUnreadable):
            parse_reports(body)


def test_an_extension_status_reaches_the_board_at_once(reports, cache, engine):
    receipt = reports.receive(b'{"action": "ExtensionStatus", "extension": "1101", "status": "InUse"}')
    assert (receipt.kept, receipt.applied, receipt.unknown) == (1, 1, 0)
    assert cache.snapshot.statuses["1101"].status == "InUse"
    reports.receive(b'{"action": "ExtensionStatus", "extension": "1102", "status": "Unregistered"}')
    assert cache.snapshot.statuses["1102"].status == "Unavailable"
    # An extension the last sweep did not list waits for the next sweep.
    assert reports.receive(b'{"action": "ExtensionStatus", "extension": "9999", "status": "Idle"}').applied == 0
    assert kept(engine) == [("ExtensionStatus", "1101", True), ("ExtensionStatus", "1102", True),
                            ("ExtensionStatus", "9999", False)]


def test_unknown_and_unreadable_reports_are_kept_and_counted_never_an_error(reports, engine):
    assert reports.receive(b'{"action": "CallEnd", "uniqueid": "1.2"}').unknown == 1
    with pytest.raises(ReportUnreadable):
        reports.receive(b"<xml/>")
    assert kept(engine) == [("CallEnd", None, False), ("unreadable", None, False)]
    assert reports.counts == {"CallEnd": 1, "unreadable": 1} and reports.unknown == 2
    with Session(engine) as session:
        assert session.execute(select(PbxReport.raw).order_by(PbxReport.id.desc())).scalars().first() == "<xml/>"


def test_old_reports_are_pruned(engine, cache):
    clock = FrozenClock()
    reports = PbxReports(engine, cache, ReportSenders("https://127.0.0.1", []), clock=clock)
    reports.receive(b'{"action": "CallEnd"}')
    clock.advance(days=8)
    reports.receive(b'{"action": "CallEnd"}')
    assert reports.prune(dt.timedelta(days=7)) == 1 and len(kept(engine)) == 1


def test_only_the_pbx_and_the_allowed_networks_may_send():
    senders = ReportSenders("https://192.0.2.10:8089", [ipaddress.ip_network("198.51.100.0/24")])
    assert senders.allows("192.0.2.10") and senders.allows("::ffff:192.0.2.10")
    assert senders.allows("198.51.100.77")
    assert not senders.allows("192.0.2.11") and not senders.allows(None) and not senders.allows("nonsense")


def test_a_pbx_named_by_host_name_is_resolved_and_resolved_again_later():
    clock, answers = FrozenClock(), [{"192.0.2.10"}, {"192.0.2.20"}]
    senders = ReportSenders("https://pbx.hotel.example:8089", [], resolve=lambda host: answers.pop(0), clock=clock)
    assert senders.allows("192.0.2.10") and not senders.allows("192.0.2.20")
    clock.advance(minutes=10)
    assert senders.allows("192.0.2.20") and not senders.allows("192.0.2.10")


def test_the_endpoint_takes_reports_from_the_pbx_only(emulator, services, caplog):
    settings = settings_for(emulator, sections=services.sections(),
                            report_allow_ips=["198.51.100.0/24"])
    service = services.start(settings)
    app = create_app(settings, service)
    client = app.test_client()
    report = {"action": "ExtensionStatus", "extension": "1101", "status": "Busy"}
    refused = client.post("/pbx/report", json=report, environ_base={"REMOTE_ADDR": "192.0.2.99"})
    assert refused.status_code == 403 and "192.0.2.99" in caplog.text
    for address in ("127.0.0.1", "198.51.100.5"):
        answer = client.post("/pbx/report", json=report, environ_base={"REMOTE_ADDR": address})
        assert answer.status_code == 200 and answer.get_json()["status"] == 0
    assert client.post("/pbx/report", data=b"garbage", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 400
    assert service.pbx_reports.counts == {"ExtensionStatus": 2, "unreadable": 1}


def test_the_emulator_pushes_status_changes_that_show_on_the_board(emulator, services):
    settings = settings_for(emulator, sections=services.sections())
    service = services.start(settings, web=True)
    port = service.web_server.effective_port
    # The report URL names the bridge's own port, known only now; a new login sends it.
    settings.pbx.report_url = f"http://127.0.0.1:{port}/pbx/report"
    service.client.login()
    wait_for(lambda: emulator.state.snapshot()["report_url"] == settings.pbx.report_url)
    wait_for(service.extension_status.refresh)
    emulator.state.set_status("1105", "Ringing")
    wait_for(lambda: service.extension_status.snapshot.statuses["1105"].status == "Ringing")
    emulator.place_call("105", "00442079460000", talk=30)
    wait_for(lambda: service.pbx_reports.counts["CallEnd"] == 1)
    assert service.extension_status.snapshot.statuses["1105"].status == "Idle"
    assert emulator.reports.failed == 0
