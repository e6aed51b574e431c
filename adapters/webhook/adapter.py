"""``WebhookAdapter``: generic JSON webhooks from PMSs that do not speak FIAS.

Each ``[adapters.webhook.sources.<name>]`` is received at ``POST /webhook/<name>`` (or
``/webhook/<name>/<token>`` with the token in the path) on the bridge's own web server:
``web_blueprint()`` returns the Flask blueprint that ``pmsbridge.web.create_app`` mounts.
Requests arrive on the web server's threads and are handled by one ``WebhookReceiver`` per
source (see ``receiver`` for the checks and answers, ``mapping`` for how a body becomes an
event, ``signature`` for authentication). Sources with ``[...posting]`` get their rooms'
charges posted back by one ``PostingSender`` thread (``postings``).
"""

from __future__ import annotations

from datetime import time, timedelta

from flask import Blueprint, Response, jsonify, request

from pmsbridge.accounting.postings import PostingStore
from pmsbridge.adapters.base import Adapter, AdapterContext, LinkState
from pmsbridge.adapters.webhook.config import WebhookSettings
from pmsbridge.adapters.webhook.mapping import PayloadMapper
from pmsbridge.adapters.webhook.postings import PostingSender
from pmsbridge.adapters.webhook.receiver import InboundRequest, Reply, WebhookReceiver

# Bodies are read in pieces of this size, so a lying Content-Length cannot make one big read.
READ_CHUNK = 64 * 1024


def read_at_most(stream, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``stream``; fewer only when the stream ends."""
    chunks, size = [], 0
    while size < limit:
        chunk = stream.read(min(READ_CHUNK, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class WebhookAdapter(Adapter):
    """Receives JSON webhooks, one path per configured source."""

    name = "webhook"
    config_model = WebhookSettings

    def __init__(self, config: WebhookSettings, context: AdapterContext):
        super().__init__(config, context)
        zone = context.settings.bridge.zone
        departure_time = time.fromisoformat(context.settings.rooms.default_departure_time)
        self.receivers = {
            name: WebhookReceiver(name, source, context.ledger,
                                  PayloadMapper(f"webhook:{name}", source, zone, departure_time), self.status)
            for name, source in config.sources.items()
        }
        targets = {f"webhook:{name}": source.posting for name, source in config.sources.items() if source.posting}
        self.sender: PostingSender | None = None
        if targets:
            ledger = context.ledger
            self.sender = PostingSender(PostingStore(ledger.engine, clock=ledger.clock), targets,
                                        timedelta(hours=context.settings.accounting.retry_budget_hours))
        self.running = False

    def start(self) -> None:
        self.running = True
        if self.sender is not None:
            self.sender.start()
        self.status.change(LinkState.UP, "receiving at " + ", ".join(f"/webhook/{name}" for name in self.receivers))

    def stop(self, timeout: float = 5.0) -> None:
        self.running = False
        if self.sender is not None:
            self.sender.stop(timeout)
        self.status.change(LinkState.DOWN, "stopped")

    def posting_channels(self) -> frozenset[str]:
        """The posting channels this adapter sends: ``webhook:<name>`` of each source with ``[...posting]``."""
        return frozenset(self.sender.targets) if self.sender is not None else frozenset()

    def web_blueprint(self) -> Blueprint:
        blueprint = Blueprint("webhook", __name__, url_prefix="/webhook")

        @blueprint.post("/<name>", defaults={"token": None})
        @blueprint.post("/<name>/<token>")
        def receive(name: str, token: str | None) -> tuple[Response, int, dict[str, str]]:
            receiver = self.receivers.get(name)
            if receiver is None:
                reply = Reply(404, {"error": "no such webhook"})
            elif not self.running:
                reply = Reply(503, {"error": "the webhook receiver is stopped"}, {"Retry-After": "30"})
            else:
                reply = receiver.handle(InboundRequest(
                    headers=request.headers,
                    remote_addr=request.remote_addr,
                    content_length=request.content_length,
                    path_token=token,
                    read_body=lambda limit: read_at_most(request.stream, limit),
                ))
            return jsonify(reply.body), reply.status, reply.headers

        return blueprint
