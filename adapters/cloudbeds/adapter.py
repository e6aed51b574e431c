"""``CloudbedsAdapter``: Cloudbeds on the cloud core (push, pull, resync, postings; see ``cloud.adapter``).

Webhooks: subscriptions (``postWebhook``) for ``reservation/status_changed``,
``reservation/accommodation_changed`` and ``guest/details_changed`` (and ``reservation/created``)
to ``https://<bridge>/pms/cloudbeds/<token>``. The poll reads reservations by ``modifiedFrom``;
the in-house list comes from ``getGuestsByStatus``. The API key is long-lived (it expires after
30 days unused); a revoked one is reported, not renewed.
"""

from __future__ import annotations

from datetime import time

from pmsbridge.adapters.cloud.adapter import CloudAdapter
from pmsbridge.adapters.cloud.http import ApiSession
from pmsbridge.adapters.cloud.tokens import HeaderKey
from pmsbridge.adapters.cloudbeds.client import CloudbedsClient
from pmsbridge.adapters.cloudbeds.config import CloudbedsSettings
from pmsbridge.config import Settings


class CloudbedsAdapter(CloudAdapter):
    name = "cloudbeds"
    config_model = CloudbedsSettings

    @classmethod
    def tokens_for(cls, config: CloudbedsSettings) -> HeaderKey:
        return HeaderKey("x-api-key", config.api_key)

    @classmethod
    def client_for(cls, session: ApiSession, config: CloudbedsSettings, settings: Settings) -> CloudbedsClient:
        return CloudbedsClient(session, config, settings.bridge.zone,
                               time.fromisoformat(settings.rooms.default_departure_time))
