"""One webhook source's request handling, from the raw request to the ledger and the answer.

The order of the checks is the order of their cost, and nothing is read or parsed before
the request is known to be allowed:

1. the client's address against ``allow_ips`` (403);
2. the token, from the path or a header (401);
3. the declared ``Content-Length``, then the bytes actually read, against ``max_body_bytes``
   (413): Flask's ``MAX_CONTENT_LENGTH`` is app-wide, the limit here is per source;
4. the signature and its timestamp window, over the raw bytes (401);
5. JSON (within the bounds of ``json_body``: nesting, number size, finite numbers only),
   then the mapping: a body that cannot be used is kept with ``record_rejected`` and
   answered 400, or 202 when the source is set to ``on_bad_body = "accept"`` (a PMS that
   retries every non-2xx would otherwise resend it for days);
6. ``Ledger.record``: one transaction stores the raw body, the room state and the PBX
   deliveries; only then is the answer sent (200, or 202 for a thin notification kept for a
   fetch). The dispatcher sends to the PBX afterwards, on its own threads.

Refused requests (1, 2, 4) leave an audit entry naming the check and the client address;
a secret never appears in it, nor in a log line. A ledger that cannot be written answers
503, so the PMS delivers again later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from pmsbridge.adapters.base import AdapterStatus
from pmsbridge.adapters.webhook.config import SourceSettings
from pmsbridge.adapters.webhook.json_body import BodyRefused, parse_body
from pmsbridge.adapters.webhook.mapping import Ignored, NeedsFetch, PayloadMapper, PayloadNotMapped
from pmsbridge.adapters.webhook.signature import RequestRefused, token_matches, verify_signature
from pmsbridge.ledger.models import EventStatus
from pmsbridge.client_address import IpAddress, client_address
from pmsbridge.ledger.store import Ledger

log = logging.getLogger(__name__)

# events.RoomNumber's longest room; a thin notification's room id is kept only if it fits.
MAX_ROOM_LENGTH = 16


@dataclass(frozen=True)
class InboundRequest:
    """What the receiver needs of an HTTP request; ``read_body(n)`` returns at most ``n`` bytes."""

    headers: Mapping[str, str]
    remote_addr: str | None
    content_length: int | None
    path_token: str | None
    read_body: Callable[[int], bytes]


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _bearer(value: str | None) -> str | None:
    if value is not None and value[:7].lower() == "bearer ":
        return value[7:].strip()
    return value


class WebhookReceiver:
    """Handles the requests of one ``[adapters.webhook.sources.<name>]``."""

    def __init__(self, name: str, settings: SourceSettings, ledger: Ledger, mapper: PayloadMapper,
                 status: AdapterStatus, *, clock: Callable[[], float] = time.time):
        self.name = name
        self.source = f"webhook:{name}"
        self.settings = settings
        self.ledger = ledger
        self.mapper = mapper
        self.status = status
        self.clock = clock
        self._status_lock = threading.Lock()

    def _count(self, counter: str, *, recorded: bool = False) -> None:
        with self._status_lock:
            self.status.count(counter)
            if recorded:
                self.status.last_record_at = datetime.now(UTC)

    # -- the checks ---------------------------------------------------------------------

    def _refuse(self, status: int, reason: str, client: IpAddress | str | None) -> Reply:
        self._count("refused")
        log.warning("webhook %s refused a request from %s: %s", self.name, client, reason)
        try:
            self.ledger.audit(self.source, "webhook refused", detail=f"{reason} (client {client})")
        except SQLAlchemyError:
            log.exception("webhook %s could not write the audit entry", self.name)
        return Reply(status, {"error": "forbidden" if status == 403 else "unauthorized"})

    def _token_presented(self, request: InboundRequest) -> str | None:
        if self.settings.token_header is None:
            return request.path_token
        value = request.headers.get(self.settings.token_header)
        return _bearer(value) if self.settings.token_header.lower() == "authorization" else value

    def _too_large(self, declared: int | None) -> Reply:
        self._count("too_large")
        body = f"a body of {declared} bytes" if declared is not None else "a body without a Content-Length"
        log.warning("webhook %s: %s is over max_body_bytes (%d)", self.name, body, self.settings.max_body_bytes)
        return Reply(413, {"error": f"the body is larger than {self.settings.max_body_bytes} bytes"})

    # -- the contract -------------------------------------------------------------------

    def handle(self, request: InboundRequest) -> Reply:
        """Check, record and answer one request; see the module docstring."""
        if request.path_token is not None and (self.settings.token_header is not None or not self.settings.tokens):
            return Reply(404, {"error": "no such webhook"})
        self._count("received")
        settings = self.settings
        client = client_address(request.remote_addr, request.headers.get("X-Forwarded-For"),
                                settings.trusted_proxies)
        if settings.allow_ips and (client is None or not any(client in net for net in settings.allow_ips)):
            return self._refuse(403, "client address not in allow_ips", client or request.remote_addr)
        if settings.tokens and not token_matches(self._token_presented(request), settings.tokens):
            where = f"the {settings.token_header} header" if settings.token_header else "the path"
            return self._refuse(401, f"no valid token in {where}", client)
        if request.content_length is not None and request.content_length > settings.max_body_bytes:
            return self._too_large(request.content_length)
        body = request.read_body(settings.max_body_bytes + 1)
        if len(body) > settings.max_body_bytes:
            return self._too_large(None)
        if settings.signature is not None:
            try:
                verify_signature(body, request.headers, settings.signature, self.clock())
            except RequestRefused as refused:
                return self._refuse(401, str(refused), client)
        try:
            return self._record(body)
        except SQLAlchemyError:
            log.exception("webhook %s: the ledger could not be written; the PMS is asked to retry", self.name)
            return Reply(503, {"error": "the ledger is unavailable; deliver again later"}, {"Retry-After": "30"})

    def _record(self, body: bytes) -> Reply:
        raw = body.decode("utf-8", errors="backslashreplace")
        try:
            payload = parse_body(body)
        except BodyRefused as err:
            return self._bad_body(raw, str(err))
        try:
            mapped = self.mapper.map(payload, body, self.ledger.clock())
        except PayloadNotMapped as err:
            return self._bad_body(raw, str(err))
        except ValidationError as err:
            self._count("rejected")
            event_id = self.ledger.record_invalid(self.source, raw, err)
            return self._bad_body_reply(event_id, f"invalid event (see ledger event {event_id})")
        if isinstance(mapped, Ignored):
            self._count("ignored")
            log.debug("webhook %s: event type %s is ignored", self.name, mapped.event_type)
            return Reply(200, {"status": "ignored", "event_type": mapped.event_type})
        if isinstance(mapped, NeedsFetch):
            room = mapped.room if mapped.room and len(mapped.room) <= MAX_ROOM_LENGTH else None
            result = self.ledger.record_needs_attention(self.source, raw, mapped.problem,
                                                        source_key=mapped.source_key, room=room)
            self._count("duplicate" if result.duplicate else "needs_fetch", recorded=not result.duplicate)
            return Reply(202, {"status": "duplicate" if result.duplicate else "needs_fetch",
                               "event_id": result.event_id})
        result = self.ledger.record(mapped.event, raw)
        if result.status == EventStatus.REJECTED and not result.duplicate:
            # Refused at the door (a room the hotel does not have...): kept with the sentence.
            self._count("rejected")
            return self._bad_body_reply(result.event_id, result.notes[0])
        self._count("duplicate" if result.duplicate else "recorded", recorded=not result.duplicate)
        return Reply(200, {"status": "duplicate" if result.duplicate else str(result.status),
                           "event_id": result.event_id, "deliveries": len(result.deliveries)})

    def _bad_body(self, raw: str, problem: str) -> Reply:
        self._count("rejected")
        event_id = self.ledger.record_rejected(self.source, raw, problem)
        return self._bad_body_reply(event_id, problem)

    def _bad_body_reply(self, event_id: int, problem: str) -> Reply:
        if self.settings.on_bad_body == "accept":
            return Reply(202, {"status": "rejected", "event_id": event_id, "error": problem})
        return Reply(400, {"error": problem, "event_id": event_id})
