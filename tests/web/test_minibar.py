"""The minibar catalog: pushed to the PBX with pmsapi, kept in the ledger, every change audited."""

from __future__ import annotations

from sqlmodel import Session, select

from pmsbridge.minibar import MinibarWaiter
from pmsbridge.web.ledger_pages import audit_entries
from tests.web.conftest import ADMIN, flashes, follow, post


def minibar(emulator) -> dict:
    return emulator.state.snapshot()["minibar"]


def test_bars_goods_and_waiters_are_pushed_and_kept(admin, service, emulator):
    page = follow(admin, post(admin, "/minibar/bar/add", {"barcode": "12450", "barname": "winebar",
                                                         "prompt": "record/bar"}))
    assert flashes(page) == ["addminibar 12450: the PBX answered ok."]
    follow(admin, post(admin, "/minibar/goods/add", {"goodscode": "900", "goodsname": "beverage"}))
    page = follow(admin, post(admin, "/minibar/waiter/add", {"maidcode": "9898", "password": "1324"}))
    assert flashes(page) == ["addminibarwaiter 9898: the PBX answered ok."]
    pbx = minibar(emulator)
    assert pbx["bars"]["12450"]["barname"] == "winebar" and pbx["goods"] == {"900": "beverage"}
    assert pbx["waiters"] == ["9898"]
    text = page.get_data(as_text=True)
    assert "winebar" in text and "beverage" in text and "9898" in text and "1324" not in text
    actions = [(row.actor, row.action) for row in audit_entries(service.ledger)]
    assert {(ADMIN, "minibar bar add"), (ADMIN, "minibar goods add"), (ADMIN, "minibar waiter add")} <= set(actions)


def test_a_waiter_pin_is_never_stored(admin, service):
    follow(admin, post(admin, "/minibar/waiter/add", {"maidcode": "7", "password": "4321"}))
    with Session(service.engine) as session:
        rows = session.execute(select(MinibarWaiter)).scalars().all()
    assert [row.maidcode for row in rows] == ["7"]
    assert "4321" not in repr(rows[0].model_dump())
    assert all("4321" not in (row.detail or "") for row in audit_entries(service.ledger))


def test_delete_removes_it_on_the_pbx_and_here(admin, emulator):
    follow(admin, post(admin, "/minibar/goods/add", {"goodscode": "900", "goodsname": "beverage"}))
    page = follow(admin, post(admin, "/minibar/goods/900/delete"))
    assert flashes(page) == ["delminibargoods 900: the PBX answered ok."]
    assert minibar(emulator)["goods"] == {}
    assert ">900<" not in page.get_data(as_text=True)


def test_an_entry_the_pbx_lost_is_removed_all_the_same(admin, emulator):
    follow(admin, post(admin, "/minibar/bar/add", {"barcode": "1"}))
    with emulator.state.lock:
        emulator.state.minibars.clear()  # a factory reset of the PBX
    page = follow(admin, post(admin, "/minibar/bar/1/delete"))
    message = flashes(page)[0]
    assert message.startswith("delminibar 1: the PBX answered") and "removed from the catalog all the same" in message
    assert "None yet." in page.get_data(as_text=True)


def test_refusals_change_nothing(admin, service, emulator):
    page = follow(admin, post(admin, "/minibar/bar/add", {"barcode": "12a"}))
    assert flashes(page) == ["Minibar bar 12a: barcode: use 1-16 digits"]
    follow(admin, post(admin, "/minibar/bar/add", {"barcode": "5"}))
    page = follow(admin, post(admin, "/minibar/bar/add", {"barcode": "5"}))
    assert flashes(page) == ["Minibar bar 5: bar 5 is already in the catalog"]
    page = follow(admin, post(admin, "/minibar/waiter/add", {"maidcode": "8", "password": "secret"}))
    assert flashes(page) == ["Minibar waiter 8: password: use 1-16 digits"]
    emulator.set_faults(down=True)
    page = follow(admin, post(admin, "/minibar/goods/add", {"goodscode": "1"}))
    assert "the PBX refused or could not be reached" in flashes(page)[0]
    assert "the catalog is unchanged" in flashes(page)[0]
    assert minibar(emulator)["goods"] == {}
    assert (ADMIN, "minibar goods add failed") in [(row.actor, row.action) for row in audit_entries(service.ledger)]
    assert admin.post("/minibar/cellar/add", data={"csrf_token": "x"}).status_code == 400
    assert post(admin, "/minibar/cellar/add").status_code == 404
