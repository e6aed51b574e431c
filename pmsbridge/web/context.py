"""What every page works with: the running service and the web interface's own stores."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import current_app

from pmsbridge.config import RoomsSettings, Settings
from pmsbridge.mapping import read_map_file
from pmsbridge.minibar import MinibarCatalog
from pmsbridge.users import UserStore

if TYPE_CHECKING:
    from pmsbridge.service import Service


@dataclass(frozen=True)
class WebContext:
    """Kept in ``app.extensions["pmsbridge"]``; ``configured_rooms`` are the rooms the
    configuration names (``rooms.rooms``, ``rooms.map``, ``rooms.map_file``)."""

    settings: Settings
    service: Service
    users: UserStore
    catalog: MinibarCatalog
    configured_rooms: tuple[str, ...]

    @property
    def reconciler(self) -> Any | None:
        """The reconciler, on a service that has one (drift lists, repair, last run)."""
        return getattr(self.service, "reconciler", None)

    def drift_by_room(self) -> dict[str, list[Any]]:
        """Unresolved drift by room ({} without a reconciler)."""
        return self.reconciler.drift_by_room() if self.reconciler is not None else {}

    def local_now(self) -> datetime:
        """The hotel's wall-clock time, naive, as room states and events use it."""
        return self.service.ledger.clock().astimezone(self.settings.bridge.zone).replace(tzinfo=None)


def configured_rooms(settings: RoomsSettings) -> tuple[str, ...]:
    from_file = read_map_file(settings.map_file) if settings.map_file is not None else {}
    return tuple(dict.fromkeys([*settings.listed_rooms, *settings.map, *from_file]))


def web() -> WebContext:
    return current_app.extensions["pmsbridge"]
