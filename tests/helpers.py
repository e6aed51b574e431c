"""Small helpers shared by test modules (fixtures live in conftest.py files)."""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from pmsbridge.accounting.models import Posting, PostingState
from pmsbridge.adapters.fias.config import MIN_POSTING_TIMEOUT
from pmsbridge.config import PbxSettings
from pmsbridge.sim.pbx import PbxEmulator


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something true, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a subprocess to listen on)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pbx_settings_for(emulator: PbxEmulator, **overrides: Any) -> PbxSettings:
    """[pbx] settings that reach ``emulator``, pinned to its certificate, with short timeouts."""
    options = emulator.options
    values: dict[str, Any] = dict(url=emulator.url, username=options.username, password=options.password,
                                  pms_username=options.pms_username, pms_password=options.pms_password,
                                  tls_fingerprint=emulator.fingerprint, connect_timeout=2, read_timeout=5)
    values.update(overrides)
    return PbxSettings(**values)


def pms_silent_past_posting_timeout(engine: Engine) -> bool:
    """Move every sent posting's send time back past the FIAS posting timeout, as if the PMS had
    not answered for that long; returns True, so that it can lead a ``wait_for`` predicate."""
    table = Posting.__table__
    with engine.begin() as connection:
        sent = connection.execute(select(table.c.id, table.c.sent_at).where(table.c.state == PostingState.SENT.value))
        for posting_id, sent_at in sent.all():
            connection.execute(update(table).where(table.c.id == posting_id)
                               .values(sent_at=sent_at - dt.timedelta(seconds=MIN_POSTING_TIMEOUT + 1)))
    return True
