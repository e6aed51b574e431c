"""Call charges booked on the folio of a cloud PMS, through the shared postings store.

The postings whose channel is the adapter's source (``mews``, ``apaleo``, ``cloudbeds``)
are sent one at a time, oldest first, for the reservation the ledger has in the room
(its displayed guest). Each carries an idempotency key (``pmsbridge-posting-<id>.<reposts>``,
the webhook postings' key): Apaleo's ``Idempotency-Key`` header, Cloudbeds' ``referenceID``,
Mews' item ``ExternalIdentifier``. So a charge is booked once:

- 2xx: posted, the PMS's answer kept;
- ``PmsRefused`` (a 4xx, Cloudbeds ``success: false``) or a vacant room: refused, with why;
- rate limit, 5xx, credentials refused, or no connection: nothing was booked; tried again
  with doubling pauses (at least ``Retry-After``) until ``accounting.retry_budget_hours``
  is spent, then failed;
- cut off after the request went out: where the PMS recognises the key (Apaleo, Cloudbeds)
  it is sent again like the above; otherwise (Mews) it is *unknown* and waits for an
  operator, as a FIAS posting without answer does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from pmsbridge.accounting.models import Posting
from pmsbridge.accounting.postings import PostingStore
from pmsbridge.adapters.cloud.client import CloudClient
from pmsbridge.adapters.cloud.errors import (
    PmsAnswerUnreadable,
    PmsApiError,
    PmsRateLimited,
    PmsRefused,
    PmsUnreachable,
)
from pmsbridge.adapters.webhook.postings import PostingThread, idempotency_key, retry_delay

log = logging.getLogger(__name__)


class CloudPostings(PostingThread):
    """The thread that sends one cloud adapter's postings; see the module docstring."""

    def __init__(self, store: PostingStore, channel: str, client: CloudClient,
                 reservation_in: Callable[[str], str | None], retry_budget: timedelta):
        """``reservation_in(room)``: the reservation the ledger has in ``room`` (None: vacant)."""
        super().__init__()
        self.thread_name = f"{channel}-postings"
        self.store = store
        self.channel = channel
        self.client = client
        self.reservation_in = reservation_in
        self.retry_budget = retry_budget

    def send_next(self) -> bool:
        posting = self.store.next_due([self.channel])
        if posting is None or not self.store.claim(posting.id):
            return False
        reservation = self.reservation_in(posting.room)
        if reservation is None:
            self.store.answered(posting.id, posted=False,
                                answer=f"room {posting.room} has no guest in the ledger: no folio to post to")
            return True
        try:
            answer = self.client.post_charge(posting, reservation, idempotency_key(posting))
        except PmsRefused as err:
            self.store.answered(posting.id, posted=False, answer=str(err)[:200])
        except PmsAnswerUnreadable as err:
            self.store.unknown_now(posting.id, f"{err}: check the folio, then re-post or settle it")
        except PmsUnreachable as err:
            if err.sent and not self.client.idempotent_postings:
                self.store.unknown_now(posting.id, f"{err} after the request went out: check the folio, "
                                                   "then re-post or settle it")
                log.error("posting %s for room %s: cut off after it went out; state unknown, not sent again",
                          posting.id, posting.room)
            else:
                self._retry(posting, str(err), None)
        except PmsRateLimited as err:
            self._retry(posting, str(err), err.retry_after)
        except PmsApiError as err:
            self._retry(posting, str(err), None)
        else:
            self.store.answered(posting.id, posted=True, answer=answer[:200])
            log.info("posting %s for room %s booked in %s: %s", posting.id, posting.room, self.channel, answer)
        return True

    def _retry(self, posting: Posting, error: str, retry_after: float | None) -> None:
        now = self.store.clock()
        if now - posting.queued_at >= self.retry_budget:
            self.store.fail(posting.id, f"{error}; gave up after {self.retry_budget}")
            return
        at = now + retry_delay(posting.attempts + 1, None if retry_after is None else str(int(retry_after)))
        log.warning("posting %s for room %s: %s; trying again at %s", posting.id, posting.room, error, at)
        self.store.retry_later(posting.id, error=error, at=at)
