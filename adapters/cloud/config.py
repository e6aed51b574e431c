"""What every cloud PMS section (``[adapters.mews]``, ``[adapters.apaleo]``, ``[adapters.cloudbeds]``) has.

Each vendor's model adds its credentials and property id. Secrets follow the configuration's
convention: inline, ``<key>_file`` or ``<key>_env``; outside the demo, example values are
refused in an enabled adapter. The webhook path token (``webhook_tokens``) may hold several values, so that it can
be rotated without a gap: inline as a list, in a file or variable one per line.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator

from pmsbridge.config import is_placeholder, resolve_secrets

# Hosts that may be reached over plain HTTP: the simulators on this machine.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def check_api_url(value: str) -> str:
    """An https:// URL with a host (http:// only to this machine, for the simulators), without a trailing slash."""
    parts = urlsplit(value)
    if not parts.hostname or parts.scheme not in ("https", "http"):
        raise ValueError(f"{value!r} is not an https:// URL with a host")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(f"{value!r}: a PMS is reached over https:// (http:// only on 127.0.0.1, for a simulator)")
    try:
        parts.port
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port") from None
    return value.rstrip("/")


def in_demo(info: ValidationInfo) -> bool:
    settings = (info.context or {}).get("settings")
    return bool(settings is not None and settings.bridge.demo)


class CloudSettings(BaseModel):
    """The keys every cloud PMS adapter shares; see the vendor models for credentials."""

    model_config = ConfigDict(extra="forbid", validate_default=True)
    # The vendor's secrets, refused when they hold an example value (enabled, outside the demo).
    secret_keys: ClassVar[tuple[str, ...]] = ()

    enabled: bool = True
    api_url: str = Field(description="the PMS API's base URL (the vendor's production address by default)")
    webhook_tokens: list[SecretStr] = Field(
        default_factory=list,
        description="secret path token(s) of the webhook URL /pms/<adapter>/<token>; empty: no webhook, poll only")
    poll_interval_seconds: float = Field(default=180.0, ge=5, description='the "changed since" poll')
    poll_overlap_seconds: float = Field(
        default=120.0, ge=0, description="each poll reads back this far before the last one (late timestamps)")
    resync_checkout_guard: float = Field(
        default=0.5, ge=0, le=1, description="hold a resync that would vacate more than this share of occupied rooms")
    requests_per_second: float = Field(default=4.0, gt=0, le=50, description="pace of API requests (rate limit)")
    timeout_seconds: float = Field(default=15.0, gt=0, description="connect and read timeout of one request")
    max_retries: int = Field(default=5, ge=0, le=20, description="retries of a 429, 5xx or lost connection")
    max_retry_wait_seconds: float = Field(default=120.0, ge=0, description="most a request waits for retries")
    ca_file: str | None = Field(default=None, description="CA bundle for the API's certificate; default: the system's")
    posting: bool = Field(default=True, description="post call charges to the guest's folio")
    posting_item_name: str = Field(default="Telephone", min_length=1, max_length=60,
                                   description="the charge's name on the folio")

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, values: Any) -> Any:
        return resolve_secrets(values, "webhook_tokens")

    @field_validator("webhook_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: Any) -> Any:
        return value.split() if isinstance(value, str) else value

    @field_validator("webhook_tokens")
    @classmethod
    def _path_tokens(cls, value: list[SecretStr]) -> list[SecretStr]:
        for token in value:
            if not all(char.isalnum() or char in "-_." for char in token.get_secret_value()):
                raise ValueError("a token travels in the URL path: use letters, digits, '-', '_' and '.' only")
        return value

    @model_validator(mode="after")
    def _real_secrets(self, info: ValidationInfo) -> CloudSettings:
        if not self.enabled or in_demo(info):
            return self
        for token in self.webhook_tokens:
            if _example(token) or len(token.get_secret_value()) < 16:
                raise ValueError("webhook_tokens: each token needs at least 16 characters and no example value "
                                 "(e.g. `openssl rand -hex 24`)")
        for name in self.secret_keys:
            if _example(getattr(self, name)):
                raise ValueError(f"{name} is a placeholder; set the real secret (inline, {name}_file or {name}_env)")
        return self

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return check_api_url(value)

    @property
    def verify(self) -> bool | str:
        return self.ca_file or True


def _example(secret: SecretStr | None) -> bool:
    return secret is not None and (is_placeholder(secret) or secret.get_secret_value().lower().startswith("example"))
