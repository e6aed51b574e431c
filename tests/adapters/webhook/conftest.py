"""Webhook fixtures: a migrated ledger (SQLite, and PostgreSQL when PMSBRIDGE_TEST_DATABASE_URL
is set), settings built through the real configuration loader, and a Flask app with the
adapter's blueprint mounted as ``pmsbridge.web.create_app`` mounts it."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time

import pytest
from flask import Flask

from pmsbridge.adapters.base import AdapterContext
from pmsbridge.adapters.webhook.adapter import WebhookAdapter
from pmsbridge.config import parse_settings
from tests.ledger.conftest import make_ledger

TOKEN = "t0k3n-for-the-tests-0123456789"
HMAC_KEY = "hmac-key-for-the-tests-abcdef"
PBX = {"url": "https://192.0.2.10:8089", "username": "cdrapi", "password": "s3cret-api", "pms_username": "pms",
       "pms_password": "s3cret-pms", "tls_fingerprint": "sha256:" + "ab" * 32}

# A full-payload source, signed, as in config.example.toml.
FULL_SOURCE = {
    "signature": {"header": "X-Signature", "prefix": "sha256=", "template": "{timestamp}.{body}",
                  "secrets": [HMAC_KEY], "timestamp_header": "X-Timestamp"},
    "mapping": {
        "event_type": "event", "idempotency_key": "id", "occurred_at": "created_at",
        "room": "reservation.room", "from_room": "reservation.previous_room", "reservation": "reservation.id",
        "last_name": "reservation.guest.last_name", "first_name": "reservation.guest.first_name",
        "language": "reservation.guest.language", "arrival": "reservation.arrival",
        "departure": "reservation.departure", "wakeup_at": "wakeup.at",
    },
    "events": {
        "reservation.checked_in": "check_in", "reservation.checked_out": "check_out",
        "reservation.updated": "guest_change", "reservation.room_changed": "room_move",
        "wakeup.set": "wakeup_set", "room.dnd_on": "dnd_on", "ping": "ignore",
    },
}
APALEO_SOURCE = {
    "tokens": [TOKEN],
    "on_bad_body": "accept",
    "mapping": {"event_type": "join('/', [topic || '', type || ''])", "idempotency_key": "id",
                "occurred_at": "timestamp", "reservation": "data.entityId"},
    "events": {"system/healthcheck": "ignore", "reservation/*": "needs_fetch"},
}


def settings_with(sources: dict, **webhook) -> object:
    document = {"bridge": {"timezone": "Europe/Berlin"}, "pbx": dict(PBX),
                "adapters": {"webhook": {"sources": copy.deepcopy(sources), **webhook}}}
    return parse_settings(document)


def check_in_body(room: str = "101", *, event_id: str = "evt-1", last_name: str = "Doe", **extra) -> dict:
    return {"id": event_id, "event": "reservation.checked_in", "created_at": "2026-11-27T08:00:00Z",
            "reservation": {"id": f"R-{room}", "room": room, "arrival": "2026-11-27",
                            "departure": "2026-11-29", "guest": {"last_name": last_name, "first_name": "Jane",
                                                                 "language": "en"}, **extra}}


def signed_headers(body: bytes, *, key: str = HMAC_KEY, timestamp: float | None = None) -> dict[str, str]:
    stamp = str(int(time.time() if timestamp is None else timestamp))
    digest = hmac.new(key.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Signature": f"sha256={digest}", "X-Timestamp": stamp, "Content-Type": "application/json"}


def encode(payload: dict) -> bytes:
    return json.dumps(payload).encode()


@pytest.fixture
def ledger(engine):
    return make_ledger(engine)


@pytest.fixture
def make_adapter(ledger):
    """Build and start a WebhookAdapter for the given sources."""
    adapters = []

    def build(sources: dict) -> WebhookAdapter:
        settings = settings_with(sources)
        adapter = WebhookAdapter(settings.adapter_settings["webhook"], AdapterContext(settings, ledger))
        adapter.start()
        adapters.append(adapter)
        return adapter

    yield build
    for adapter in adapters:
        adapter.stop()


@pytest.fixture
def app_for(make_adapter):
    """A Flask app with a webhook adapter's blueprint, for the given sources."""

    def build(sources: dict):
        adapter = make_adapter(sources)
        app = Flask("webhook-tests")
        # The bridge's app limits every request to 1 MiB; the sources' own limits are lower.
        app.config.update(TESTING=True, MAX_CONTENT_LENGTH=1024 * 1024)
        app.register_blueprint(adapter.web_blueprint())
        return app, adapter

    return build


@pytest.fixture
def client(app_for):
    """A test client for the signed full-payload source "pms" and the Apaleo-shaped source "apaleo"."""
    app, _ = app_for({"pms": FULL_SOURCE, "apaleo": APALEO_SOURCE})
    return app.test_client()
