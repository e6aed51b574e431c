"""The configuration file: a TOML document validated by pydantic models.

Every section rejects unknown keys, and every problem is reported at once, each with its
key path (``pbx.url: ...``), so an integrator fixes a file in one pass. Secrets (passwords,
tokens, keys) may be written inline, read from a file (``<key>_file``) or from an
environment variable (``<key>_env``); placeholder values are refused outside the demo.

Each PMS adapter validates its own section (``[adapters.<name>]``) with the model its class
declares; ``load_settings`` collects those errors together with the core ones.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from pmsbridge.accounting.tariffs import TariffError, TariffRule, TariffTable
from pmsbridge.config_base import (
    ConfigError,
    Section,
    describe_error,
    is_placeholder,
    resolve_secrets,
)
from pmsbridge.languages import PROMPT_LANGUAGES

CONFIG_ENV = "PMSBRIDGE_CONFIG"


class BridgeSettings(Section):
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the ledger; default: SQLite ledger.db in state_dir",
    )
    state_dir: Path = Path("/var/lib/pmsbridge")
    timezone: str = "UTC"
    demo: bool = Field(default=False, description="set by `pmsbridge demo`; allows placeholder secrets")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    health_pbx_max_age: float = Field(
        default=45.0, ge=1, le=3600,
        description="/healthz fails when no PBX request succeeded for this many seconds (probed meanwhile)"
    )
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL", description="SQLite ledger: sync every commit (FULL), or only at checkpoints (NORMAL)"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite:", "postgresql")):
            raise ValueError("use sqlite:////path/to/ledger.db or postgresql+psycopg://user@host/db")
        return value

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'ledger.db'}"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class PbxSettings(Section):
    url: str = Field(description="base URL of the PBX web server, e.g. https://192.0.2.10:8089")
    username: str = Field(min_length=1, description="the HTTPS API user")
    password: SecretStr
    pms_username: str = Field(min_length=1, description="the PMS API user (pmsapi token)")
    pms_password: SecretStr
    api_version: str = "1.0"
    tls_fingerprint: str | None = Field(default=None, description="sha256:<hex> of the PBX certificate")
    ca_file: Path | None = None
    verify: bool = True
    legacy_tls: bool = Field(
        default=False, description="accept the weak DH parameters of old firmware (lowers OpenSSL's security level)"
    )
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    session_lifetime: float = Field(
        default=540.0, gt=0, description="seconds before the PBX's 10-minute cookie expiry at which to log in again"
    )
    pmsapi_format: Literal["xml", "json"] = "xml"
    move_destination_element: Literal["d_room", "r_room"] = "d_room"
    name_ascii: bool = Field(default=False, description="transliterate guest names to ASCII (old firmware)")
    name_max_length: int = Field(default=0, ge=0, description="cut guest names to this length; 0 = no limit")
    report_url: str | None = Field(default=None, description="where the PBX sends its event reports (login url)")

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, values: Any) -> Any:
        return resolve_secrets(values, "password", "pms_password")

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"{value!r} is not an https:// URL with a host (the PBX API is HTTPS only)")
        try:
            parts.port
        except ValueError:
            raise ValueError(f"{value!r} has an invalid port") from None
        return value.rstrip("/")

    @field_validator("tls_fingerprint")
    @classmethod
    def _fingerprint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digest = value.lower().removeprefix("sha256:").replace(":", "")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError("expected sha256: followed by 64 hex digits (see `pmsbridge pbx fingerprint`)")
        return "sha256:" + digest

    @model_validator(mode="after")
    def _one_trust_source(self) -> PbxSettings:
        chosen = [name for name, on in (("tls_fingerprint", self.tls_fingerprint), ("ca_file", self.ca_file)) if on]
        if len(chosen) > 1:
            raise ValueError("give either tls_fingerprint or ca_file, not both")
        if chosen and not self.verify:
            raise ValueError(f"verify = false contradicts {chosen[0]}; remove one of them")
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ValueError(f"ca_file: {self.ca_file} does not exist")
        return self


class RoomsSettings(Section):
    extension_template: str = Field(default="{room}", description='e.g. "1{room}"')
    map: dict[str, str] = Field(default_factory=dict, description="room -> extension overrides")
    map_file: Path | None = Field(default=None, description="CSV with columns room,extension")
    shared_room_name: Literal["first", "primary"] = "first"
    default_stay_nights: int = Field(default=1, ge=1, description="departure when the PMS sends none")
    default_departure_time: str = Field(default="12:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    default_cos: int = Field(default=3, ge=1, le=4, description="class of service for a check-in that names none")
    rooms: list[str] = Field(
        default_factory=list, description='the hotel\'s rooms, shown on the board before any event: ["101-140", "201"]'
    )

    @field_validator("rooms")
    @classmethod
    def _room_list(cls, value: list[str]) -> list[str]:
        problems = []
        listed_in: dict[str, str] = {}
        for entry in value:
            try:
                rooms = expand_room_range(entry)
            except ValueError as err:
                problems.append(str(err))
                continue
            repeated: dict[str, list[str]] = {}
            for room in rooms:
                if room in listed_in:
                    repeated.setdefault(listed_in[room], []).append(room)
                else:
                    listed_in[room] = entry
            for earlier, again in repeated.items():
                if earlier == entry:
                    problems.append(f"{entry!r} is listed twice")
                    continue
                shown = ", ".join(again[:5]) + (f" and {len(again) - 5} more" if len(again) > 5 else "")
                problems.append(f"{entry!r} lists room{'s' if len(again) > 1 else ''} {shown} again "
                                f"(already in {earlier!r})")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @property
    def listed_rooms(self) -> list[str]:
        """Every room of ``rooms``, ranges expanded, in the order written."""
        return [room for entry in self.rooms for room in expand_room_range(entry)]

    @field_validator("extension_template")
    @classmethod
    def _template(cls, value: str) -> str:
        if "{room}" not in value:
            raise ValueError('must contain {room}, e.g. "1{room}"')
        try:
            value.format(room="101")
        except (KeyError, IndexError, ValueError):
            raise ValueError("only the placeholder {room} is allowed") from None
        return value

    @field_validator("map_file")
    @classmethod
    def _map_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} does not exist")
        return value


MAX_ROOM_RANGE = 10_000
# Letters and digits, with . _ - inside (not at the ends: "abc-" is a range cut short).
_ROOM_NAME = re.compile(r"[0-9A-Za-z](?:[0-9A-Za-z._-]{0,14}[0-9A-Za-z])?")
_ROOM_RANGE = re.compile(r"(\d{1,16})-(\d{1,16})")


def expand_room_range(entry: str) -> list[str]:
    """``"101-140"`` -> 101..140 (a leading zero keeps the width: ``"0101-0103"``); a room alone -> itself.

    Raises ValueError naming the entry when it is neither.
    """
    match = _ROOM_RANGE.fullmatch(entry)
    if match is None:
        if _ROOM_NAME.fullmatch(entry) is None:
            raise ValueError(f"{entry!r} is neither a room number nor a range such as \"101-140\"")
        return [entry]
    first, last = match.groups()
    if int(last) < int(first):
        raise ValueError(f"{entry!r}: the range ends before it starts")
    if int(last) - int(first) >= MAX_ROOM_RANGE:
        raise ValueError(f"{entry!r}: a range may hold at most {MAX_ROOM_RANGE} rooms")
    width = len(first) if first.startswith("0") else 0
    return [str(number).zfill(width) for number in range(int(first), int(last) + 1)]


class ValidationSettings(Section):
    """What the bridge accepts at the door, for every adapter and the web UI (``pmsbridge.validation``)."""

    vip_map: dict[str, str] = Field(
        default_factory=dict,
        description="PMS VIP code -> the PBX's VIP digits; digits pass as they are, other codes are left out",
    )
    language_map: dict[str, str] = Field(
        default_factory=dict, description="PMS language code -> PBX prompt language, over the built-in codes"
    )
    prompt_languages: list[str] = Field(
        default_factory=lambda: list(PROMPT_LANGUAGES), min_length=1,
        description="the languages the PBX has prompts for; others are left out",
    )
    wakeup_horizon_days: int = Field(
        default=365, ge=1, le=3660, description="wake-ups further ahead than this are refused"
    )

    @field_validator("vip_map")
    @classmethod
    def _digits(cls, value: dict[str, str]) -> dict[str, str]:
        for code, digits in value.items():
            if not re.fullmatch(r"[0-9]{1,16}", digits):
                raise ValueError(f"VIP code {code!r} maps to {digits!r}: the PBX takes 1-16 digits")
        return value

    @field_validator("language_map")
    @classmethod
    def _upper_codes(cls, value: dict[str, str]) -> dict[str, str]:
        return {code.upper(): language.lower() for code, language in value.items()}

    @field_validator("prompt_languages")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [language.lower() for language in value]

    @model_validator(mode="after")
    def _map_onto_prompts(self) -> ValidationSettings:
        unknown = sorted({language for language in self.language_map.values()
                          if language not in self.prompt_languages})
        if unknown:
            raise ValueError(f"language_map maps onto {', '.join(unknown)}, which is not in prompt_languages")
        return self


class DispatcherSettings(Section):
    max_in_flight: int = Field(default=1, ge=1, le=8, description="PBX requests at once (an embedded box)")
    min_interval_ms: int = Field(default=0, ge=0, description="pause between two PBX requests")
    retry_budget_hours: float = Field(default=24.0, gt=0, description="transient failures go dead after this")
    backoff_initial_seconds: float = Field(default=2.0, gt=0)
    backoff_max_seconds: float = Field(default=300.0, gt=0)
    retention_days: int = Field(default=30, ge=1, description="delivered rows older than this are pruned")


class WebSettings(Section):
    listen: str = "127.0.0.1:8080"
    secret_key: SecretStr | None = Field(default=None, description="signs sessions; default: generated in state_dir")
    secure_cookies: Literal["auto"] | bool = Field(
        default="auto", description="mark the session cookie Secure: auto = when the request came over HTTPS"
    )
    status_refresh_seconds: float = Field(default=30.0, ge=5, description="how often listAccount is polled for the board")
    connection_limit: int = Field(
        default=1000, ge=10, le=10_000, description="open connections at most; beyond it new ones wait"
    )
    channel_timeout: float = Field(default=30.0, ge=5, le=600, description="an idle connection is closed after this")
    max_request_header_size: int = Field(
        default=32_768, ge=8192, le=262_144, description="request line and headers, in bytes; larger: 431"
    )
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list, description="reverse proxies whose X-Forwarded-For names the client (login throttle)"
    )

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, values: Any) -> Any:
        return resolve_secrets(values, "secret_key")

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError(f"{value!r} is not host:port, e.g. 127.0.0.1:8080 (port 0: any free port)")
        return value

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


DriftPolicy = Literal["report", "repair"]


class ReconcilePolicy(Section):
    """What reconciliation does about each class of drift: "report" it, or "repair" the PBX."""

    name: DriftPolicy = Field(default="repair", description="the PBX shows another guest name")
    not_checked_in: DriftPolicy = Field(default="repair", description="occupied here, vacant on the PBX")
    not_checked_out: DriftPolicy = Field(default="repair", description="vacant here, occupied on the PBX")
    dnd: DriftPolicy = "repair"
    call_forward: DriftPolicy = "repair"
    extension: Literal["report"] = Field(
        default="report", description="extension missing or out of service: pmsapi cannot fix it"
    )


class ReconcileSettings(Section):
    enabled: bool = Field(default=True, description="run reconciliation on a schedule")
    interval_minutes: float = Field(default=15.0, gt=0)
    page_size: int = Field(default=200, ge=1, le=1000, description="extensions per listAccount page")
    max_detail_requests: int = Field(default=40, ge=0, description="getSIPAccount requests per run (DND, forward)")
    detail_pace_ms: int = Field(default=250, ge=0, description="pause between two detail requests")
    max_repairs_per_run: int = Field(default=25, ge=0, description="rooms repaired per run")
    max_repair_attempts: int = Field(default=1, ge=1, description="repairs of one drift before it is repair_failed")
    after_swap_delay_seconds: float = Field(default=60.0, ge=0, description="wait after a PMS database swap")
    policy: ReconcilePolicy = Field(default_factory=ReconcilePolicy)


class AccountingSettings(Section):
    """Call accounting: CDRs read from the PBX, rated, posted to the guest's folio; PBX event reports."""

    enabled: bool = Field(default=False, description="read call records and post charges")
    poll_interval_seconds: float = Field(default=60.0, ge=5)
    lookback_minutes: float = Field(
        default=120.0, gt=0, description="a call shows in the CDR when it ends: records this far back are read again"
    )
    page_size: int = Field(default=1000, ge=1, le=1000, description="records per cdrapi request")
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    charge_as: Literal["amount", "call"] = Field(
        default="amount", description='"amount": rated here (FIAS PT C); "call": the PMS rates it (FIAS PT T)'
    )
    post_via: str | None = Field(default=None, description="the PMS source every charge goes to; default: the room's")
    outside_line_prefix: str = Field(default="", pattern=r"^[0-9*#]*$", description="removed from dialled numbers")
    outbound_trunks: list[str] = Field(default_factory=list, description="dst_trunk_name patterns; empty: any trunk")
    outbound_contexts: list[str] = Field(default_factory=list, description="dcontext patterns; empty: any")
    charged_destinations: list[str] = Field(default_factory=list, description="number patterns; empty: any")
    free_numbers: list[str] = Field(default_factory=lambda: ["110", "112", "911", "999"])
    tariffs: list[TariffRule] = Field(default_factory=list)
    tariff_file: Path | None = Field(default=None, description="CSV with the TariffRule columns")
    wakeup_answers: Literal["acceptance", "outcome"] = Field(
        default="acceptance", description="FIAS WA when the PBX took the order, or when the call rang (from the CDR)"
    )
    wakeup_call_match: dict[str, list[str]] = Field(
        default_factory=lambda: {"action_type": ["WAKEUP*"]}, description="CDR field -> patterns of a wake-up call"
    )
    wakeup_extension_field: str = Field(default="dst", min_length=1, description="the woken extension's CDR field")
    wakeup_no_answer_minutes: float = Field(default=10.0, gt=0)
    retry_budget_hours: float = Field(default=24.0, gt=0, description="postings the PMS could not be reached for")
    report_allow_ips: list[IPvAnyNetwork] = Field(default_factory=list, description="besides the host of pbx.url")
    report_retention_days: int = Field(default=7, ge=1)

    @field_validator("wakeup_call_match", mode="before")
    @classmethod
    def _listed_patterns(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: [item] if isinstance(item, str) else item for key, item in value.items()}
        return value

    @field_validator("tariff_file")
    @classmethod
    def _tariff_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} does not exist")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AccountingSettings:
        try:
            table = TariffTable.from_settings(self)
        except TariffError as err:
            raise ValueError(str(err)) from None
        if self.enabled and self.charge_as == "amount" and not table.rules:
            raise ValueError('charge_as = "amount" needs tariffs (or a tariff_file); "call" lets the PMS rate calls')
        if self.wakeup_answers == "outcome" and not (self.enabled and self.wakeup_call_match):
            raise ValueError('wakeup_answers = "outcome" needs enabled = true and a wakeup_call_match')
        return self


class HaSettings(Section):
    """Two or more servers sharing one PostgreSQL ledger, one of them leading (``pmsbridge.ha``)."""

    enabled: bool = Field(default=False, description="active/standby: only the leader talks to the PBX and the PMS")
    lease_seconds: float = Field(default=8.0, ge=3, le=60,
                                 description="a leader not heard of for this long is replaced")
    renew_seconds: float = Field(default=2.0, gt=0, le=20, description="how often the lease is renewed or sought")
    member_name: str | None = Field(default=None, min_length=1, max_length=64,
                                    description="this server's name in `pmsbridge ha status`; default: its host name")

    @model_validator(mode="after")
    def _renewals_fit_in_the_lease(self) -> HaSettings:
        if self.renew_seconds * 2 > self.lease_seconds:
            raise ValueError("ha.renew_seconds must be at most half of ha.lease_seconds, so that one late renewal "
                             "does not cost the lease")
        return self


class Settings(Section):
    bridge: BridgeSettings = Field(default_factory=BridgeSettings)
    pbx: PbxSettings
    rooms: RoomsSettings = Field(default_factory=RoomsSettings)
    dispatcher: DispatcherSettings = Field(default_factory=DispatcherSettings)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    reconcile: ReconcileSettings = Field(default_factory=ReconcileSettings)
    accounting: AccountingSettings = Field(default_factory=AccountingSettings)
    ha: HaSettings = Field(default_factory=HaSettings)
    adapters: dict[str, dict[str, Any]] = Field(default_factory=dict)

    # Validated adapter sections, filled by load_settings (name -> the adapter's model).
    adapter_settings: dict[str, Any] = Field(default_factory=dict, exclude=True)

    @model_validator(mode="after")
    def _no_placeholders(self) -> Settings:
        if self.bridge.demo:
            return self
        for key, secret in (
            ("pbx.password", self.pbx.password),
            ("pbx.pms_password", self.pbx.pms_password),
            ("web.secret_key", self.web.secret_key),
        ):
            if is_placeholder(secret):
                raise ValueError(f"{key} is a placeholder; set the real secret (inline, {key}_file or {key}_env)")
        return self


@dataclass(frozen=True)
class AdapterEntry:
    """An adapter class registered under the ``pmsbridge.adapters`` entry point group."""

    name: str
    target: str

    def load(self) -> type:
        from importlib.metadata import EntryPoint

        return EntryPoint(self.name, self.target, "pmsbridge.adapters").load()


def registered_adapters() -> dict[str, AdapterEntry]:
    from importlib.metadata import entry_points

    return {ep.name: AdapterEntry(ep.name, ep.value) for ep in entry_points(group="pmsbridge.adapters")}


def validate_adapters(sections: Any, settings: Settings | None) -> tuple[dict[str, Any], list[str]]:
    """Each ``[adapters.<name>]`` section checked by its adapter's model: (name -> model, problems).

    ``settings`` is None when the core sections have problems of their own: the adapters'
    sections are still checked, so that one run reports everything.
    """
    if not isinstance(sections, dict):
        return {}, []
    validated: dict[str, Any] = {}
    problems: list[str] = []
    known = registered_adapters()
    for name, section in sections.items():
        if not isinstance(section, dict):
            problems.append(f"adapters.{name}: expected a table [adapters.{name}]")
            continue
        entry = known.get(name)
        if entry is None:
            problems.append(f"adapters.{name}: no adapter of that name is installed (known: {', '.join(sorted(known))})")
            continue
        try:
            model = entry.load().config_model
        except Exception as err:  # a broken plugin must not hide the other problems
            problems.append(f"adapters.{name}: the adapter cannot be loaded ({err})")
            continue
        try:
            validated[name] = model.model_validate(section, context={"settings": settings})
        except ValidationError as err:
            problems.extend(describe_error(e, ("adapters", name)) for e in err.errors())
    return validated, problems


def parse_settings(document: dict[str, Any]) -> Settings:
    """Validate a parsed TOML document; raise ConfigError listing every problem, adapters' sections too."""
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(document)
    except ValidationError as err:
        problems = [describe_error(e) for e in err.errors()]
    else:
        problems = []
    sections = settings.adapters if settings is not None else document.get("adapters", {})
    validated, adapter_problems = validate_adapters(sections, settings)
    problems.extend(adapter_problems)
    if problems or settings is None:
        raise ConfigError(problems)
    settings.adapter_settings.update(validated)
    return settings


def config_warnings(settings: Settings) -> list[str]:
    """What a valid configuration may still get wrong at a hotel, one sentence each (check-config prints them)."""
    warnings = []
    if not any(getattr(config, "enabled", True) for config in settings.adapter_settings.values()):
        warnings.append("no PMS adapter is enabled ([adapters.fias], [adapters.webhook] or [adapters.csvdrop]): "
                        "only the front desk's actions reach the PBX")
    pbx = settings.pbx
    if not pbx.verify:
        warnings.append("pbx.verify = false: the PBX's certificate is not checked at all; pin it with "
                        "pbx.tls_fingerprint (`pmsbridge pbx fingerprint` prints it)")
    elif pbx.tls_fingerprint is None and pbx.ca_file is None:
        warnings.append("pbx.tls_fingerprint is not set: the PBX's certificate is checked against the system's "
                        "certificate authorities, which a PBX's own (self-signed) certificate fails; pin it with "
                        "pbx.tls_fingerprint (`pmsbridge pbx fingerprint` prints it)")
    return warnings


def load_settings(path: str | os.PathLike[str] | None) -> Settings:
    """Read and validate the configuration file (or the one named by PMSBRIDGE_CONFIG)."""
    if path is None:
        path = os.environ.get(CONFIG_ENV)
    if not path:
        raise ConfigError([f"no configuration file: pass --config FILE or set {CONFIG_ENV}"])
    path = Path(path)
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except OSError as err:
        raise ConfigError([f"{path}: cannot be read ({err.strerror})"]) from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([f"{path}: not valid TOML ({err})"]) from None
    return parse_settings(document)
