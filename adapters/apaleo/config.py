"""``[adapters.apaleo]``: an Apaleo account's client credentials and the property the bridge serves."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from pmsbridge.adapters.cloud.config import CloudSettings, check_api_url
from pmsbridge.config import resolve_secrets


class ApaleoSettings(CloudSettings):
    secret_keys = ("client_secret",)

    api_url: str = Field(default="https://api.apaleo.com", description="the Booking, Inventory and Finance APIs")
    token_url: str = Field(default="https://identity.apaleo.com/connect/token",
                           description="the OAuth token endpoint (client credentials)")
    client_id: str = Field(min_length=1, description="the simple client's id (Apaleo: Settings > Apps > Connected apps)")
    client_secret: SecretStr
    property_id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$",
                             description='the property code, e.g. "MUC"')
    token_refresh_margin_seconds: float = Field(default=300.0, ge=0,
                                                description="fetch a new token this long before the old one expires")
    posting_service_type: str = Field(default="Other", description="serviceType of the folio charge")
    posting_vat_type: str = Field(default="Normal", description="vatType of the folio charge")

    @model_validator(mode="before")
    @classmethod
    def _client_secret(cls, values: Any) -> Any:
        return resolve_secrets(values, "client_secret")

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, value: str) -> str:
        return check_api_url(value)


