"""The ``[adapters.fias]`` section: where the PMS is and how it speaks.

Every key has a default that suits an OPERA/Suite8 IFC on the hotel LAN, so a site usually
writes only ``host``, ``port`` and ``encoding``. Unknown keys are errors, like everywhere
else in the configuration.

In server mode the FIAS port faces the hotel network, so only the PMS may use it:
``allowed_peers`` lists the addresses (or networks) a PMS connects from, an IFC8 pair after a
failover included. Without it only ``host`` itself may connect (a PMS on the same machine,
or loopback); listening on every address (0.0.0.0, ::) or on a name requires the list.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pmsbridge.adapters.fias.protocol import check_encoding

# FIAS class of service: 0 barred/internal, 1 local, 2 national, 3 unrestricted.
DEFAULT_COS_TABLE = {"0": 1, "1": 2, "2": 3, "3": 4}

# The FIAS specification allows the vendor's alive check at most every 5 minutes.
MAX_ALIVE_INTERVAL = 300.0
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# FIAS has the vendor wait at least this long for a posting's answer before judging it lost.
MIN_POSTING_TIMEOUT = 30.0


class FiasSettings(BaseModel):
    """Settings of the FIAS link to the PMS (Oracle Hospitality IFC8 and compatibles)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    enabled: bool = True
    mode: Literal["client", "server"] = Field(
        default="client", description='"client": the PMS is the TCP server (usual); "server": the PMS connects to us'
    )
    host: str = Field(default="127.0.0.1", min_length=1, description="the PMS's address, or ours to listen on")
    port: int = Field(default=5010, ge=0, le=65535, description="0 (server mode) picks a free port, for tests")
    allowed_peers: list[str] | None = Field(
        default=None,
        description="server mode: the PMS addresses (or networks) that may connect; default: host, when it is one",
    )
    encoding: str = Field(default="cp1252", description="the site's code page (cp1252, cp850, utf-8...)")
    lrc: bool = Field(default=False, description="a check byte follows every record (serial-style framing)")
    alive_interval: float = Field(default=60.0, gt=0, le=MAX_ALIVE_INTERVAL, description="seconds between our LS")
    dead_after: float = Field(default=180.0, gt=0, description="no data for this long: the link is dead")
    connect_timeout: float = Field(default=5.0, gt=0)
    reconnect_min: float = Field(default=1.0, gt=0, description="first reconnect delay (seconds)")
    reconnect_max: float = Field(default=60.0, gt=0, description="reconnect delays double up to this")
    max_record: int = Field(default=4096, ge=64, le=1_048_576, description="longest record accepted (bytes)")
    date_pivot: int = Field(default=70, ge=0, le=100, description="YY below this is 20YY, else 19YY")
    posting_timeout: float = Field(default=MIN_POSTING_TIMEOUT, description="seconds to wait for a posting's PA")
    cos_table: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_COS_TABLE), description="FIAS CS value -> PBX class of service 1-4"
    )
    swap_checkout_guard: float = Field(
        default=0.5, ge=0, le=1, description="hold a database swap that would vacate more than this share"
    )
    language_map: dict[str, str] = Field(
        default_factory=dict, description="FIAS language (GL) -> PBX language; unlisted codes pass unchanged"
    )
    move_pair_window: float = Field(
        default=3.0, ge=0, le=60, description="seconds within which GO + GI of one reservation make a move; 0: off"
    )
    source: str = Field(default="fias", min_length=1, max_length=64, description="the ledger's source name")

    @field_validator("encoding")
    @classmethod
    def _usable_encoding(cls, value: str) -> str:
        return check_encoding(value)

    @field_validator("allowed_peers")
    @classmethod
    def _addresses(cls, value: list[str] | None) -> list[str] | None:
        for entry in value or ():
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network (e.g. \"192.0.2.20\" or"
                                 " \"192.0.2.0/28\")") from None
        if value is not None and not value:
            raise ValueError("an empty list would refuse every PMS; name the PMS's addresses")
        return value

    @field_validator("posting_timeout")
    @classmethod
    def _patient_enough(cls, value: float) -> float:
        if not value >= MIN_POSTING_TIMEOUT:
            raise ValueError(
                f"{value:g} s is too short: FIAS asks for at least {MIN_POSTING_TIMEOUT:g} s before a posting without"
                " an answer (PA) is judged lost, and a PMS that answers later would see it reposted by hand"
            )
        return value

    @field_validator("cos_table")
    @classmethod
    def _pbx_classes(cls, value: dict[str, int]) -> dict[str, int]:
        wrong = sorted(key for key, cos in value.items() if not 1 <= cos <= 4)
        if wrong:
            raise ValueError(f"FIAS class {wrong[0]!r} maps to {value[wrong[0]]}; PBX classes of service are 1-4")
        if not value:
            raise ValueError("needs at least one FIAS class, e.g. {\"0\" = 1, \"1\" = 2, \"2\" = 3, \"3\" = 4}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FiasSettings:
        if self.dead_after <= self.alive_interval:
            raise ValueError(
                f"dead_after ({self.dead_after:g} s) must be longer than alive_interval ({self.alive_interval:g} s),"
                " or a quiet link would be dropped before its alive check is answered"
            )
        if self.reconnect_max < self.reconnect_min:
            raise ValueError(f"reconnect_max ({self.reconnect_max:g}) is below reconnect_min ({self.reconnect_min:g})")
        if self.mode == "client" and self.port == 0:
            raise ValueError("port 0 is only meaningful in server mode; give the PMS's port")
        if self.mode == "client" and self.allowed_peers is not None:
            raise ValueError("allowed_peers applies in server mode only; in client mode the bridge connects to host")
        if self.mode == "server" and self.allowed_peers is None and self._host_addresses() is None:
            raise ValueError(
                f"in server mode listening on {self.host!r}, allowed_peers must name the PMS addresses that may"
                ' connect (e.g. allowed_peers = ["192.0.2.20"]): by default only the listening address may'
            )
        return self

    def peer_networks(self) -> tuple[IpNetwork, ...]:
        """Server mode: the addresses a PMS may connect from (``allowed_peers``, or ``host`` itself)."""
        entries = self.allowed_peers if self.allowed_peers is not None else self._host_addresses() or ()
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)

    def _host_addresses(self) -> tuple[str, ...] | None:
        """``host`` as the addresses it stands for, or None when it stands for no one address."""
        if self.host == "localhost":
            return ("127.0.0.1", "::1")
        try:
            address = ipaddress.ip_address(self.host)
        except ValueError:
            return None  # a name: what it resolves to may change, and the PMS is not the bridge
        # 0.0.0.0 or :: listens everywhere, which names no PMS.
        return None if address.is_unspecified else (self.host,)
