"""Event reports the emulated PBX pushes to the ``url`` its API client gave at login.

The guide does not describe the reports; the emulator sends JSON objects of this shape::

    {"action": "ExtensionStatus", "extension": "1101", "status": "InUse", "sn": "EMU630A0000000001"}
    {"action": "CallEnd", "uniqueid": "1764234000.7", "src": "1101", "dst": "0044...", "disposition": "ANSWERED"}

Reports are queued and sent, in order, by one thread, so a slow or absent receiver never holds
up the API; a report that cannot be delivered is dropped after one attempt (the PBX does not
queue them either). ``delivered`` and ``failed`` count them.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

import requests

log = logging.getLogger(__name__)

SERIAL_NUMBER = "EMU630A0000000001"
SEND_TIMEOUT = 5.0


class ReportPusher:
    """Posts reports to the URL ``target()`` names at the time of sending (none: dropped)."""

    def __init__(self, target: Callable[[], str | None]):
        self._target = target
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._session = requests.Session()
        self._session.trust_env = False
        self.delivered = 0
        self.failed = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pbx-emulator-reports", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._session.close()

    def push(self, report: dict[str, Any]) -> None:
        """Queue a report (``sn`` is added); nothing is queued while no URL is known."""
        if self._target():
            self._queue.put({**report, "sn": SERIAL_NUMBER})

    def extension_status(self, extension: str, status: str) -> None:
        self.push({"action": "ExtensionStatus", "extension": extension, "status": status})

    def _run(self) -> None:
        while True:
            report = self._queue.get()
            if report is None:
                return
            self._send(report)

    def _send(self, report: dict[str, Any]) -> None:
        url = self._target()
        if not url:
            return
        try:
            reply = self._session.post(url, json=report, timeout=SEND_TIMEOUT)
        except requests.exceptions.RequestException as err:
            self.failed += 1
            log.info("event report to %s not delivered: %s", url, err)
            return
        if reply.status_code >= 300:
            self.failed += 1
            log.info("event report to %s answered HTTP %s", url, reply.status_code)
        else:
            self.delivered += 1
