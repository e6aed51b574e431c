"""``[adapters.mews]``: the integration's ClientToken, the property's AccessToken, and Mews' pace."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from pmsbridge.adapters.cloud.config import CloudSettings
from pmsbridge.config import resolve_secrets

DEFAULT_VIP_CLASSIFICATIONS = {"VeryImportant": "2", "Important": "1"}


class MewsSettings(CloudSettings):
    secret_keys = ("client_token", "access_token")

    api_url: str = Field(default="https://api.mews.com", description="the platform address (demo: api.mews-demo.com)")
    client_token: SecretStr = Field(description="the integration's token, from Mews")
    access_token: SecretStr = Field(description="the property's token, from the property's Mews Marketplace")
    client_name: str = Field(default="pmsbridge 0.1.0", min_length=1, max_length=100,
                             description='the "Client" of every request: name and version')
    enterprise_id: str | None = Field(default=None, description="the property's EnterpriseId, checked by `pms status`")
    # The short poll is Mews' main path: its webhooks lag minutes.
    poll_interval_seconds: float = Field(default=30.0, ge=5, description='the "changed since" poll')
    requests_per_second: float = Field(default=5.0, gt=0, le=50, description="Mews allows 200 per token per 30 s")
    vip_classifications: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_VIP_CLASSIFICATIONS),
        description="customer Classifications -> PBX VIP code (digits); the first listed that a guest has wins")
    posting_service_id: str | None = Field(
        default=None, description="the Id of the Mews service that takes call charges (orders); none: no postings")

    @model_validator(mode="before")
    @classmethod
    def _tokens(cls, values: Any) -> Any:
        return resolve_secrets(values, "client_token", "access_token")

    @field_validator("vip_classifications")
    @classmethod
    def _digit_codes(cls, value: dict[str, str]) -> dict[str, str]:
        for classification, code in value.items():
            if not code.isdigit():
                raise ValueError(f"{classification} = {code!r}: the PBX takes VIP codes of digits only")
        return value
