"""``[adapters.cloudbeds]``: the property's API key and id."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, model_validator

from pmsbridge.adapters.cloud.config import CloudSettings
from pmsbridge.config import resolve_secrets


class CloudbedsSettings(CloudSettings):
    secret_keys = ("api_key",)

    api_url: str = Field(default="https://api.cloudbeds.com/api/v1.3", description="the API's base URL, version included")
    api_key: SecretStr = Field(description="the property's API key (x-api-key)")
    property_id: str = Field(min_length=1, max_length=32, pattern=r"^[0-9]+$", description="the propertyID")
    # Cloudbeds suspends credentials that exceed its limit (5 requests per second per property).
    requests_per_second: float = Field(default=3.0, gt=0, le=10, description="pace of API requests")

    @model_validator(mode="before")
    @classmethod
    def _api_key(cls, values: Any) -> Any:
        return resolve_secrets(values, "api_key")
