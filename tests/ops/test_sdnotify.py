"""sd_notify on a real AF_UNIX datagram socket: READY, STOPPING, STATUS and the watchdog."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator

import pytest

from pmsbridge.sdnotify import Notifier, WatchdogPinger, watchdog_interval
from tests.helpers import wait_for
from tests.ops.conftest import settings_document


class NotifySocket:
    """A bound datagram socket standing in for systemd's; a thread reads it, as systemd does."""

    def __init__(self, address: str):
        self.name = address
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind("\0" + address[1:] if address.startswith("@") else address)
        self.socket.settimeout(0.05)
        self._messages: list[str] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closing.is_set():
            try:
                data = self.socket.recv(4096)
            except TimeoutError:
                continue
            with self._lock:
                self._messages.append(data.decode("utf-8"))

    def messages(self) -> list[str]:
        """Every message received so far (each ``NAME=value`` lines), oldest first."""
        with self._lock:
            return list(self._messages)

    def assignments(self) -> list[str]:
        return [line for message in self.messages() for line in message.split("\n")]

    def close(self) -> None:
        self._closing.set()
        self._reader.join()
        self.socket.close()


@pytest.fixture
def notify_socket(tmp_path) -> Iterator[NotifySocket]:
    listener = NotifySocket(str(tmp_path / "notify"))
    yield listener
    listener.close()


@pytest.fixture
def abstract_notify_socket() -> Iterator[NotifySocket]:
    listener = NotifySocket(f"@pmsbridge-test-{uuid.uuid4().hex[:12]}")
    yield listener
    listener.close()


def test_messages_reach_a_path_socket(notify_socket):
    notifier = Notifier(notify_socket.name)
    assert notifier.enabled
    assert notifier.ready("running")
    assert notifier.status("3 deliveries waiting")
    assert notifier.watchdog()
    assert notifier.stopping()
    notifier.close()
    wait_for(lambda: len(notify_socket.messages()) == 4)
    assert notify_socket.messages() == ["READY=1\nSTATUS=running", "STATUS=3 deliveries waiting", "WATCHDOG=1",
                                        "STOPPING=1"]


def test_messages_reach_an_abstract_socket(abstract_notify_socket):
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": abstract_notify_socket.name})
    assert notifier.ready()
    notifier.close()
    assert wait_for(abstract_notify_socket.messages) == ["READY=1"]


def test_without_notify_socket_nothing_is_sent():
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.watchdog()


def test_a_vanished_socket_is_logged_not_raised(tmp_path, caplog):
    notifier = Notifier(str(tmp_path / "gone"))
    assert not notifier.ready()
    assert "cannot notify systemd" in caplog.text


@pytest.mark.parametrize("environment, expected", [
    ({}, None),
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "junk"}, None),
    ({"WATCHDOG_USEC": "60000000"}, 30.0),
    ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "4242"}, 1.0),
    ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, None),
])
def test_watchdog_interval_is_half_the_timeout_for_this_process(environment, expected):
    assert watchdog_interval(environment, pid=4242) == expected


def test_the_pinger_pings_only_while_alive(notify_socket, caplog):
    alive = threading.Event()
    alive.set()
    notifier = Notifier(notify_socket.name)
    pinger = WatchdogPinger(notifier, 0.02, alive.is_set)
    pinger.start()
    try:
        wait_for(lambda: notify_socket.messages().count("WATCHDOG=1") >= 3)
    finally:
        pinger.stop()

    notifier.status("before")
    alive.clear()
    assert not pinger.ping_if_alive()
    assert "not feeding the systemd watchdog: the liveness check failed" in caplog.text
    notifier.status("after")
    alive.set()
    assert pinger.ping_if_alive()
    # Datagrams arrive in order: nothing between the two markers was sent while dead.
    messages = wait_for(lambda: (m := notify_socket.messages())[-2:] == ["STATUS=after", "WATCHDOG=1"] and m)
    assert messages[messages.index("STATUS=before"):] == ["STATUS=before", "STATUS=after", "WATCHDOG=1"]


def test_a_raising_check_skips_the_ping(notify_socket, caplog):
    def broken() -> bool:
        raise RuntimeError("database is locked")

    pinger = WatchdogPinger(Notifier(notify_socket.name), 1.0, broken)
    assert not pinger.ping_if_alive()
    assert "RuntimeError: database is locked" in caplog.text


def test_the_service_reports_ready_feeds_the_watchdog_and_reports_stopping(
        tmp_path, emulator, make_service, notify_socket, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", notify_socket.name)
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # a ping every 50 ms
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    service = make_service(settings_document(tmp_path, emulator))
    wait_for(lambda: "WATCHDOG=1" in notify_socket.assignments())
    assert notify_socket.assignments()[0] == "READY=1"
    assert service.alive()

    assert service.stop(timeout=10)
    assignments = notify_socket.assignments()
    assert "STOPPING=1" in assignments
    # Nothing but the stop message follows it: the watchdog was stopped first.
    assert "WATCHDOG=1" not in assignments[assignments.index("STOPPING=1"):]


def test_the_service_is_not_alive_without_its_dispatcher(tmp_path, emulator, make_service):
    service = make_service(settings_document(tmp_path, emulator))
    assert service.alive()
    service.dispatcher.stop()
    assert not service.alive()
