"""``ApaleoAdapter``: Apaleo on the cloud core (push, pull, resync, postings; see ``cloud.adapter``).

Webhooks: a subscription for ``reservation/*`` to ``https://<bridge>/pms/apaleo/<token>``;
deliveries come within about a minute, in no order, sometimes twice. The poll reads the
reservations whose modification date falls in the window (``dateFilter=Modification``).
"""

from __future__ import annotations

from pmsbridge.adapters.apaleo.client import ApaleoClient
from pmsbridge.adapters.apaleo.config import ApaleoSettings
from pmsbridge.adapters.cloud.adapter import CloudAdapter
from pmsbridge.adapters.cloud.http import ApiSession
from pmsbridge.adapters.cloud.tokens import ClientCredentials
from pmsbridge.config import Settings


class ApaleoAdapter(CloudAdapter):
    name = "apaleo"
    config_model = ApaleoSettings

    @classmethod
    def tokens_for(cls, config: ApaleoSettings) -> ClientCredentials:
        return ClientCredentials(config.token_url, config.client_id, config.client_secret,
                                 refresh_margin=config.token_refresh_margin_seconds,
                                 timeout=config.timeout_seconds, verify=config.verify)

    @classmethod
    def client_for(cls, session: ApiSession, config: ApaleoSettings, settings: Settings) -> ApaleoClient:
        return ApaleoClient(session, config, settings.bridge.zone)
