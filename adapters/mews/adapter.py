"""``MewsAdapter``: Mews on the cloud core (push, pull, resync, postings; see ``cloud.adapter``).

The main path is the short "changed since" poll (``poll_interval_seconds``, 30 s by default):
Mews' General Webhooks lag minutes and come in batches, and its WebSocket feed carries
reservation and resource events but no customer (name, language, VIP) changes, has "limited
support" and needs a poll after every reconnect anyway. Two requests per poll (reservations
and customers updated in the window) are a small part of Mews' 200 requests per token per
30 s. Webhooks, when Mews is asked to send them to ``https://<bridge>/pms/mews/<token>``,
only bring a change forward. The tokens travel in the request body, so the session carries
no credentials of its own; the AccessToken does not expire (a regenerated one replaces it
in the configuration).
"""

from __future__ import annotations

from pmsbridge.adapters.cloud.adapter import CloudAdapter
from pmsbridge.adapters.cloud.http import ApiSession, NoToken
from pmsbridge.adapters.mews.client import MewsClient
from pmsbridge.adapters.mews.config import MewsSettings
from pmsbridge.config import Settings


class MewsAdapter(CloudAdapter):
    name = "mews"
    config_model = MewsSettings
    # 403 is a business rule at Mews (a refused order), not a credentials problem.
    auth_statuses = (401,)

    @classmethod
    def tokens_for(cls, config: MewsSettings) -> NoToken:
        return NoToken()

    @classmethod
    def client_for(cls, session: ApiSession, config: MewsSettings, settings: Settings) -> MewsClient:
        return MewsClient(session, config, settings.bridge.zone)
