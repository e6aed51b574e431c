"""The thin webhook of a cloud PMS: checked, kept in the ledger, answered; fetched afterwards.

``POST /pms/<adapter>/<token>`` on the bridge's web server. In order:

1. the token in the path against ``webhook_tokens`` (404, as for a path that does not exist:
   a guessed URL learns nothing; the refusal is audited with the client's address);
2. the declared and the actual size against ``MAX_NOTIFICATION_BYTES`` (413);
3. JSON, then the vendor's shape (``CloudClient.read_notification``): a body that cannot be
   used is kept with ``record_rejected`` and answered 202, so that the PMS does not resend
   it for days;
4. a notification the vendor marks as not about guests (a health check) is answered 200 and
   not kept;
5. ``Ledger.record_notification`` commits the raw body (a repeat of the vendor's delivery id
   is a duplicate); only then the answer, 200, well within the vendors' time limits (Mews:
   5 s). The adapter's worker fetches what it names (``adapter``).

A ledger that cannot be written answers 503, so the PMS delivers again later.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence

from pydantic import SecretStr
from sqlalchemy.exc import SQLAlchemyError

from pmsbridge.adapters.base import AdapterStatus
from pmsbridge.adapters.cloud.client import CloudClient, NotificationNotUnderstood
from pmsbridge.adapters.webhook.receiver import Reply
from pmsbridge.adapters.webhook.signature import token_matches
from pmsbridge.ledger.store import Ledger

log = logging.getLogger(__name__)

# A Mews delivery batches up to hundreds of events of ~100 bytes each.
MAX_NOTIFICATION_BYTES = 512 * 1024


class NotificationReceiver:
    """Handles the webhook requests of one cloud adapter; see the module docstring."""

    def __init__(self, source: str, tokens: Sequence[SecretStr], client: CloudClient, ledger: Ledger,
                 status: AdapterStatus, on_kept: Callable[[], None]):
        self.source = source
        self.tokens = list(tokens)
        self.client = client
        self.ledger = ledger
        self.status = status
        self.on_kept = on_kept

    def handle(self, token: str, content_length: int | None, read_body: Callable[[int], bytes],
               client_address: str | None) -> Reply:
        """Check, keep and answer one request."""
        if not token_matches(token, self.tokens):
            self.status.count("refused")
            log.warning("%s webhook: a request from %s with a wrong path token", self.source, client_address)
            try:
                self.ledger.audit(self.source, "webhook refused", detail=f"wrong path token (client {client_address})")
            except SQLAlchemyError:
                log.exception("%s webhook: the audit entry could not be written", self.source)
            return Reply(404, {"error": "no such webhook"})
        if content_length is not None and content_length > MAX_NOTIFICATION_BYTES:
            return Reply(413, {"error": f"the body is larger than {MAX_NOTIFICATION_BYTES} bytes"})
        body = read_body(MAX_NOTIFICATION_BYTES + 1)
        if len(body) > MAX_NOTIFICATION_BYTES:
            return Reply(413, {"error": f"the body is larger than {MAX_NOTIFICATION_BYTES} bytes"})
        self.status.count("notifications")
        try:
            return self._keep(body)
        except SQLAlchemyError:
            log.exception("%s webhook: the ledger could not be written; the PMS is asked to deliver again",
                          self.source)
            return Reply(503, {"error": "the ledger is unavailable; deliver again later"}, {"Retry-After": "30"})

    def _keep(self, body: bytes) -> Reply:
        raw = body.decode("utf-8", errors="backslashreplace")
        try:
            notification = self.client.read_notification(json.loads(body.decode("utf-8")), body)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            return self._rejected(raw, f"the webhook body is not JSON in UTF-8 ({err})")
        except NotificationNotUnderstood as err:
            return self._rejected(raw, f"the webhook body is not a {self.client.vendor} notification: {err}")
        if notification.ignored is not None:
            self.status.count("ignored")
            return Reply(200, {"status": "ignored", "reason": notification.ignored})
        result = self.ledger.record_notification(self.source, raw, source_key=notification.key)
        if result.duplicate:
            self.status.count("duplicate")
            return Reply(200, {"status": "duplicate", "event_id": result.event_id})
        self.on_kept()
        return Reply(200, {"status": "received", "event_id": result.event_id})

    def _rejected(self, raw: str, problem: str) -> Reply:
        self.status.count("rejected")
        event_id = self.ledger.record_rejected(self.source, raw, problem)
        return Reply(202, {"status": "rejected", "event_id": event_id, "error": problem})
