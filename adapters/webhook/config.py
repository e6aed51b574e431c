"""The ``[adapters.webhook]`` section: one receiver per PMS source, each under its own path.

``[adapters.webhook.sources.<name>]`` answers at ``/webhook/<name>`` (or
``/webhook/<name>/<token>`` when the token travels in the path) and records events with the
ledger source ``webhook:<name>``. Each source says how its requests are authenticated
(``tokens``, ``[...signature]``, ``allow_ips``), how big a body may be, which JSON paths
(JMESPath) hold the event's parts (``[...mapping]``) and which of its event types mean what
(``[...events]``). With ``[...posting]`` the charges for its rooms are posted back to the
PMS at a URL, signed with an HMAC (``[...posting.signing]``).

Secrets (``tokens``, ``signature.secrets``, ``posting.signing.secret``) follow the
configuration's convention: inline, ``<key>_file`` or ``<key>_env``. Several values may be
given at once so that a secret can be rotated without a gap: inline as a list, in a file or
variable one per line (or separated by blanks). In an enabled adapter, outside the demo,
example values are refused.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator

from pmsbridge.adapters.hotel_time import check_format
from pmsbridge.client_address import IpNetwork
from pmsbridge.config_base import Section, is_placeholder, resolve_secrets
from pmsbridge.web.server import MAX_REQUEST_BYTES


# What a source's event type may be mapped to: a canonical event, a thin notification that
# needs a fetch from the PMS API (kept, flagged for an operator), or nothing at all.
EventTarget = Literal[
    "check_in", "check_out", "guest_change", "room_move", "wakeup_set", "wakeup_clear", "dnd_on", "dnd_off",
    "needs_fetch", "ignore",
]
# Targets that build a canonical event, and the mapping paths each one cannot do without.
EVENT_TARGETS_NEEDING = {
    "check_in": ("room",),
    "check_out": ("room",),
    "guest_change": ("room",),
    "room_move": ("room", "from_room"),
    "wakeup_set": ("room", "wakeup_at"),
    "wakeup_clear": ("room",),
    "dnd_on": ("room",),
    "dnd_off": ("room",),
}
SIGNED_STRING_PLACEHOLDERS = ("{body}", "{timestamp}")


def _listed_secrets(value: Any) -> Any:
    """A secret read from a file or variable (one string) holds one value per line or blank-separated."""
    if isinstance(value, str):
        return value.split()
    return value


def check_signed_template(value: str) -> str:
    """A signed-string template: ``{body}``, optionally ``{timestamp}``, and no other placeholder."""
    if "{body}" not in value:
        raise ValueError('must contain {body}, e.g. "{body}" or "{timestamp}.{body}"')
    rest = value
    for placeholder in SIGNED_STRING_PLACEHOLDERS:
        rest = rest.replace(placeholder, "")
    if "{" in rest or "}" in rest:
        raise ValueError("only the placeholders {body} and {timestamp} are allowed")
    return value


def _example_secret(secret: SecretStr) -> bool:
    return is_placeholder(secret) or secret.get_secret_value().lower().startswith("example")


class SignatureSettings(Section):
    """An HMAC over the raw body (and optionally a timestamp), sent in a header."""

    header: str = Field(min_length=1, description="the header carrying the signature, e.g. X-Signature")
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = Field(default="", description='text before the digest in the header, e.g. "sha256="')
    template: str = Field(default="{body}", description='the signed string, e.g. "{timestamp}.{body}"')
    secrets: list[SecretStr] = Field(min_length=1, description="HMAC keys; several during a rotation")
    timestamp_header: str | None = Field(default=None, description="the header carrying the signing time")
    timestamp_format: Literal["unix", "unix_ms", "iso"] = "unix"
    max_age_seconds: float = Field(default=300.0, gt=0, description="older (or that far in the future): refused")

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, values: Any) -> Any:
        return resolve_secrets(values, "secrets")

    @field_validator("secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: Any) -> Any:
        return _listed_secrets(value)

    @field_validator("template")
    @classmethod
    def _template(cls, value: str) -> str:
        return check_signed_template(value)

    @model_validator(mode="after")
    def _timestamp_source(self) -> SignatureSettings:
        if "{timestamp}" in self.template and self.timestamp_header is None:
            raise ValueError("the template signs {timestamp}: set timestamp_header")
        if self.timestamp_header is not None and "{timestamp}" not in self.template:
            # The window would check a time nobody signed: a captured body could be sent
            # again with a fresh timestamp, for ever.
            raise ValueError(f"timestamp_header = {self.timestamp_header!r} enforces a time window, but template "
                             f"{self.template!r} does not sign {{timestamp}}, so a captured request could be resent "
                             'with a fresh time: use a template such as "{timestamp}.{body}", or remove '
                             "timestamp_header")
        return self


class SigningSettings(Section):
    """How an outbound posting is signed: an HMAC over the raw body (and optionally a timestamp)."""

    header: str = Field(default="X-Signature", min_length=1, description="the header carrying the signature")
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = Field(default="", description='text before the digest in the header, e.g. "sha256="')
    template: str = Field(default="{body}", description='the signed string, e.g. "{timestamp}.{body}"')
    secret: SecretStr = Field(description="the HMAC key")
    timestamp_header: str | None = Field(default=None, description="the header carrying the signing time")
    timestamp_format: Literal["unix", "unix_ms", "iso"] = "unix"

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, values: Any) -> Any:
        return resolve_secrets(values, "secret")

    @field_validator("template")
    @classmethod
    def _template(cls, value: str) -> str:
        return check_signed_template(value)

    @model_validator(mode="after")
    def _timestamp_source(self) -> SigningSettings:
        if "{timestamp}" in self.template and self.timestamp_header is None:
            raise ValueError("the template signs {timestamp}: set timestamp_header")
        return self


class PostingSettings(BaseModel):
    """Where the charges for a source's rooms go: a JSON POST to ``url``, signed."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    url: str = Field(description="the PMS's endpoint for charges (https:// unless on the hotel LAN)")
    signing: SigningSettings
    timeout_seconds: float = Field(default=10.0, gt=0, description="connect and answer, each")
    verify: bool = Field(default=True, description="check the endpoint's TLS certificate")
    ca_file: str | None = Field(default=None, description="a CA bundle for the endpoint's certificate")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http:// or https:// URL with a host")
        return value


class MappingSettings(BaseModel):
    """JMESPath expressions into the JSON body; a path that finds nothing means "not sent"."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    event_type: str = Field(description="the source's event type, looked up in [events]")
    idempotency_key: str | None = Field(default=None, description="the delivery's unique id; default: body sha256")
    occurred_at: str | None = Field(default=None, description="when it happened (unix seconds/ms or ISO 8601)")
    room: str | None = None
    from_room: str | None = Field(default=None, description="a move's old room")
    reservation: str | None = None
    last_name: str | None = None
    first_name: str | None = None
    title: str | None = None
    language: str | None = None
    vip: str | None = None
    group: str | None = None
    arrival: str | None = None
    departure: str | None = None
    wakeup_at: str | None = Field(default=None, description="a wake-up's date and time")

    @field_validator("*")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            jmespath.compile(value)
        except JMESPathError as err:
            raise ValueError(f"{value!r} is not a JMESPath expression ({str(err).splitlines()[0]})") from None
        return value


class SourceSettings(Section):
    """One PMS (or property) posting to ``/webhook/<name>``."""

    tokens: list[SecretStr] = Field(default_factory=list, description="accepted tokens; several during a rotation")
    token_header: str | None = Field(default=None, description="header carrying the token; none: in the path")
    signature: SignatureSettings | None = None
    allow_ips: list[IpNetwork] = Field(default_factory=list, description="allowed client networks; empty: any")
    trusted_proxies: list[IpNetwork] = Field(
        default_factory=list, description="reverse proxies whose X-Forwarded-For names the client"
    )
    max_body_bytes: int = Field(
        default=262_144, ge=1, le=MAX_REQUEST_BYTES, description="larger bodies are refused (413)"
    )
    on_bad_body: Literal["reject", "accept"] = Field(
        default="reject", description='"reject": 400; "accept": 202 and a dead letter (stops the PMS retrying)'
    )
    date_formats: list[str] = Field(default_factory=lambda: ["iso"], min_length=1)
    mapping: MappingSettings
    events: dict[str, EventTarget] = Field(min_length=1, description="source event type (or glob) -> meaning")
    posting: PostingSettings | None = Field(default=None, description="post this source's charges back to it")

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, values: Any) -> Any:
        return resolve_secrets(values, "tokens")

    @field_validator("tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: Any) -> Any:
        return _listed_secrets(value)

    @field_validator("allow_ips", "trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        # A bare address is a network of one; strict=False also accepts 192.0.2.1/24 as its network.
        if isinstance(value, list):
            try:
                return [ipaddress.ip_network(item, strict=False) if isinstance(item, str) else item for item in value]
            except ValueError as err:
                raise ValueError(str(err)) from None
        return value

    @field_validator("date_formats")
    @classmethod
    def _formats(cls, value: list[str]) -> list[str]:
        return [check_format(pattern) for pattern in value]

    @model_validator(mode="after")
    def _consistent(self) -> SourceSettings:
        if not self.tokens and self.signature is None:
            raise ValueError("a source needs tokens or a [signature] (or both): anyone could post otherwise")
        if self.token_header is not None and not self.tokens:
            raise ValueError("token_header is set but no tokens are configured")
        for target in dict.fromkeys(self.events.values()):
            missing = [path for path in EVENT_TARGETS_NEEDING.get(target, ()) if getattr(self.mapping, path) is None]
            if missing:
                raise ValueError(f"events mapped to {target} need mapping.{', mapping.'.join(missing)}")
        return self

    def secrets(self) -> list[SecretStr]:
        return [*self.tokens, *(self.signature.secrets if self.signature else ()),
                *((self.posting.signing.secret,) if self.posting else ())]


class WebhookSettings(BaseModel):
    """The webhook receivers; see the module docstring."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    enabled: bool = True
    sources: dict[str, SourceSettings] = Field(min_length=1)

    @field_validator("sources")
    @classmethod
    def _names(cls, value: dict[str, SourceSettings]) -> dict[str, SourceSettings]:
        for name in value:
            # The name is a URL path segment and part of the ledger's source ("webhook:<name>", 64 chars).
            if not (0 < len(name) <= 56 and name[0].isalnum() and all(c.isalnum() or c in "-_" for c in name)
                    and name.isascii() and name == name.lower()):
                raise ValueError(f"source name {name!r}: use 1-56 lower-case letters, digits, - and _")
        return value

    @model_validator(mode="after")
    def _no_example_secrets(self, info: ValidationInfo) -> WebhookSettings:
        settings = (info.context or {}).get("settings")
        if not self.enabled or (settings is not None and settings.bridge.demo):
            return self
        for name, source in self.sources.items():
            if any(_example_secret(secret) for secret in source.secrets()):
                raise ValueError(f"sources.{name} uses an example token or secret; set the site's own")
        return self
