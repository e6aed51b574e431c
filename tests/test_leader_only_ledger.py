"""A deposed leader's PMS links record nothing, one event or many (pmsbridge.ha.leadership)."""

from types import SimpleNamespace

import pytest

from pmsbridge.ha.leadership import Deposed, LeaderOnlyLedger


class RecordingLedger:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.clock = "the ledger's own"

    def record(self, *args, **kwargs):
        self.calls.append("record")

    def record_many(self, *args, **kwargs):
        self.calls.append("record_many")


def test_records_go_through_while_leading_and_are_refused_once_deposed():
    ledger, leadership = RecordingLedger(), SimpleNamespace(leading=True)
    guarded = LeaderOnlyLedger(ledger, leadership)
    guarded.record("event", raw="")
    guarded.record_many([("event", "")])
    assert ledger.calls == ["record", "record_many"] and guarded.clock == "the ledger's own"
    leadership.leading = False
    for call in (lambda: guarded.record("event", raw=""), lambda: guarded.record_many([("event", "")])):
        with pytest.raises(Deposed, match="no longer leads"):
            call()
    assert ledger.calls == ["record", "record_many"]
