"""The contract every PMS adapter fulfils.

An adapter is a class registered under the ``pmsbridge.adapters`` entry point group in
pyproject.toml; only the adapters named in the configuration are imported. An adapter
that fails to load or to start is shown as failed and disabled; it never takes the
service down.

Life cycle: the service builds the adapter with its validated settings and an
``AdapterContext``, calls ``start()`` (which returns promptly; the adapter runs its own
threads), and ``stop()`` at shutdown, before the dispatcher stops. The adapter turns its
protocol's messages into canonical events (``pmsbridge.events``) and calls
``context.ledger.record(event, raw)``; only after that returns may it acknowledge its
source. Input it cannot understand goes to ``context.ledger.record_rejected``.

Optional capabilities, announced by overriding:
- ``request_resync()``: ask the PMS for its full in-house list (FIAS DR);
- ``post_charge(posting)``: send a call charge to the guest's folio;
- ``web_blueprint()``: a Flask blueprint the web server mounts (webhook receivers).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from flask import Blueprint

    from pmsbridge.config import Settings
    from pmsbridge.ledger.dispatcher import Dispatcher
    from pmsbridge.ledger.store import Ledger


class LinkState(StrEnum):
    DOWN = "down"
    CONNECTING = "connecting"
    UP = "up"
    SWAPPING = "swapping"  # a database swap (resync) is being received
    FAILED = "failed"  # the adapter could not load or start; see AdapterStatus.detail


@dataclass
class AdapterStatus:
    """What the status page and /healthz show for an adapter."""

    state: LinkState = LinkState.DOWN
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    detail: str | None = None
    last_record_at: datetime | None = None
    counters: dict[str, int] = field(default_factory=dict)

    def change(self, state: LinkState, detail: str | None = None) -> None:
        if state != self.state:
            self.since = datetime.now(UTC)
        self.state, self.detail = state, detail

    def count(self, name: str, by: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + by


@dataclass
class AdapterContext:
    """What the service hands an adapter."""

    settings: Settings
    ledger: Ledger
    dispatcher: Dispatcher | None = None


class Adapter(ABC):
    """Base class of PMS adapters; see the module docstring for the contract."""

    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]

    def __init__(self, config: BaseModel, context: AdapterContext):
        self.config = config
        self.context = context
        self.status = AdapterStatus()

    @abstractmethod
    def start(self) -> None:
        """Start receiving; return promptly."""

    @abstractmethod
    def stop(self, timeout: float = 5.0) -> None:
        """Stop receiving and close the link; return within ``timeout`` seconds."""

    @property
    def can_resync(self) -> bool:
        return type(self).request_resync is not Adapter.request_resync

    def request_resync(self) -> None:
        raise UnsupportedCapability(f"the {self.name} adapter cannot ask its PMS for a resync")

    def web_blueprint(self) -> Blueprint | None:
        """A blueprint to mount on the bridge's web server, or None."""
        return None


class UnsupportedCapability(Exception):
    """Raised when an adapter is asked for something its PMS cannot do."""
