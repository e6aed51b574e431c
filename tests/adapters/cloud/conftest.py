"""Fixtures of the cloud PMS adapter tests: each vendor's simulator over real HTTP on 127.0.0.1, the
adapter built from a validated configuration, and the bridge's webhook path served by a real
server, so that the simulator's webhooks reach the adapter over a socket."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from pmsbridge.adapters.base import AdapterContext
from pmsbridge.config import parse_settings, registered_adapters
from pmsbridge.sim.apaleo import ApaleoOptions, ApaleoSimulator
from pmsbridge.sim.cloudbeds import CloudbedsOptions, CloudbedsSimulator
from pmsbridge.sim.mews import MewsOptions, MewsSimulator
from tests.helpers import wait_for
from tests.ledger.conftest import make_ledger

WEBHOOK_TOKEN = "path-token-for-the-tests-0123456789"
PBX = {"url": "https://127.0.0.1:9", "username": "cdrapi", "password": "a-real-secret", "pms_username": "pms",
       "pms_password": "another-secret", "verify": False}


@dataclass(frozen=True)
class Vendor:
    """How the tests run one vendor: its simulator, and the adapter section that reaches it."""

    name: str
    simulator: Callable[..., Any]
    section: Callable[[Any], dict[str, Any]]


def mews_section(sim: MewsSimulator) -> dict[str, Any]:
    credentials = sim.credentials()
    return {"api_url": sim.url, "client_token": credentials["client_token"],
            "access_token": credentials["access_token"], "enterprise_id": credentials["enterprise_id"],
            "posting_service_id": credentials["service_id"]}


def apaleo_section(sim: ApaleoSimulator) -> dict[str, Any]:
    credentials = sim.credentials()
    return {"api_url": sim.url, "token_url": f"{sim.url}/connect/token", "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"], "property_id": credentials["property_id"]}


def cloudbeds_section(sim: CloudbedsSimulator) -> dict[str, Any]:
    credentials = sim.credentials()
    # Within the simulator's (Cloudbeds') limit of 10 requests per second.
    return {"api_url": credentials["api_url"], "api_key": credentials["api_key"],
            "property_id": credentials["property_id"], "requests_per_second": 8}


VENDORS = {
    "mews": Vendor("mews", lambda **options: MewsSimulator(MewsOptions(**options)), mews_section),
    "apaleo": Vendor("apaleo", lambda **options: ApaleoSimulator(ApaleoOptions(**options)), apaleo_section),
    "cloudbeds": Vendor("cloudbeds", lambda **options: CloudbedsSimulator(CloudbedsOptions(**options)),
                        cloudbeds_section),
}


@pytest.fixture
def database_url(tmp_path) -> str:
    """SQLite: the adapters reach the database only through the ledger, whose own tests (and the end
    to end test here, which overrides this fixture) also run on PostgreSQL."""
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture(params=sorted(VENDORS))
def vendor(request) -> Vendor:
    return VENDORS[request.param]


class WebhookServer:
    """A real HTTP server with the adapter's blueprint mounted as the bridge's web server mounts it
    (``serve``: a restarted adapter takes over the path)."""

    def __init__(self) -> None:
        self.app: Flask | None = None
        self.server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhooks", daemon=True)
        self.thread.start()

    def _wsgi(self, environ, start_response):
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"no adapter yet"]
        return self.app(environ, start_response)

    def serve(self, adapter) -> None:
        app = Flask(f"webhooks-{id(adapter)}")
        app.register_blueprint(adapter.web_blueprint())
        self.app = app

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/pms/{name}/{WEBHOOK_TOKEN}"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join()


class Cloud:
    """One vendor's simulator and the bridge's adapter for it, on one ledger."""

    def __init__(self, vendor: Vendor, engine, webhooks: WebhookServer):
        self.vendor = vendor
        self.engine = engine
        self.ledger = make_ledger(engine)
        self.webhooks = webhooks
        self.sim = None
        self.adapters: list = []
        self.dispatcher = None  # set by a test that sends to a PBX

    def simulator(self, **options):
        options.setdefault("seed", 7)
        self.sim = self.vendor.simulator(webhook_url=self.webhooks.url(self.vendor.name), **options).start()
        return self.sim

    def settings(self, pbx: dict | None = None, **section):
        values = {"webhook_tokens": [WEBHOOK_TOKEN], "poll_interval_seconds": 3600, "requests_per_second": 50,
                  "max_retry_wait_seconds": 30, **self.vendor.section(self.sim), **section}
        return parse_settings({"bridge": {"timezone": "Europe/Berlin"}, "pbx": pbx or PBX,
                               "rooms": {"extension_template": "1{room}"},
                               "accounting": {"retry_budget_hours": 1},
                               "adapters": {self.vendor.name: values}})

    def adapter(self, pbx: dict | None = None, **section):
        """Build and start the adapter (the first start of a ledger reads the in-house list)."""
        settings = self.settings(pbx, **section)
        adapter_class = registered_adapters()[self.vendor.name].load()
        adapter = adapter_class(settings.adapter_settings[self.vendor.name],
                                AdapterContext(settings=settings, ledger=self.ledger, dispatcher=self.dispatcher))
        adapter.start()
        self.webhooks.serve(adapter)
        self.adapters.append(adapter)
        return adapter

    def in_ledger(self) -> dict[str, list[str]]:
        """Room -> display names of the guests the ledger has in it (occupied rooms only)."""
        return {room: [guest.display_name for guest in state.reservations]
                for room, state in sorted(self.ledger.room_states().items()) if state.occupied}

    def agree(self, timeout: float = 20.0) -> dict[str, list[str]]:
        """Wait until the ledger holds the simulator's in-house list; returns it."""
        wait_for(lambda: self.sim.webhooks.wait_idle(0.1) and not self.ledger.notifications(self.vendor.name)
                 and self.in_ledger() == self.sim.in_house(), timeout=timeout)
        return self.in_ledger()

    def kinds(self, room: str | None = None) -> list[str]:
        """The kinds of the events recorded (oldest first), for ``room`` or all."""
        return [row.kind for row in reversed(self.ledger.events(room=room, limit=1000))
                if row.source == self.vendor.name and row.kind is not None]

    def stop(self) -> None:
        for adapter in self.adapters:
            adapter.stop()
        if self.sim is not None:
            self.sim.stop()


@pytest.fixture
def webhooks():
    server = WebhookServer()
    yield server
    server.stop()


@pytest.fixture
def cloud(vendor, engine, webhooks):
    harness = Cloud(vendor, engine, webhooks)
    yield harness
    harness.stop()
