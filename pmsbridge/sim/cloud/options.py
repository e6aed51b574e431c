"""What a cloud PMS simulator is built with (:class:`CloudSimOptions`) and how it misbehaves (:class:`Faults`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class CloudSimOptions:
    """What every cloud PMS simulator shares; each vendor adds its credentials.

    Rooms are named ``str(100 + i)`` for ``i`` in ``1..rooms``. At start the hotel holds
    ``in_house`` guests in house and ``arrivals`` confirmed reservations arriving today,
    made with ``seed`` (the same hotel every run with one). ``webhook_url`` receives the
    thin webhooks (none: none are sent). ``token_lifetime`` is how many seconds an access
    token the simulator issues stays valid. ``rate_limit`` requests per ``rate_window``
    seconds per credential are answered, the next ones get 429 with ``Retry-After``
    (``None``: no limit).
    """

    host: str = "127.0.0.1"
    port: int = 0
    rooms: int = 20
    in_house: int = 6
    arrivals: int = 3
    seed: int | None = None
    webhook_url: str | None = None
    token_lifetime: float = 3600.0
    rate_limit: int | None = None
    rate_window: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.port < 65536:
            raise ValueError("port must be between 0 and 65535")
        if self.rooms < 1:
            raise ValueError("rooms must be at least 1")
        if self.in_house < 0 or self.arrivals < 0:
            raise ValueError("in_house and arrivals must not be negative")
        if self.in_house > self.rooms:
            raise ValueError(f"{self.in_house} guests in house do not fit in {self.rooms} rooms")
        if self.token_lifetime <= 0:
            raise ValueError("token_lifetime must be a positive number of seconds")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError("rate_limit must be at least 1 (or None for no limit)")
        if self.rate_window <= 0:
            raise ValueError("rate_window must be a positive number of seconds")
        if self.webhook_url is not None and not self.webhook_url.startswith(("http://", "https://")):
            raise ValueError(f"webhook_url must be an http:// or https:// URL, not {self.webhook_url!r}")

    def room_names(self) -> list[str]:
        return [str(100 + i) for i in range(1, self.rooms + 1)]


@dataclass(frozen=True)
class Faults:
    """How the simulator misbehaves; the ``/sim`` endpoints are never affected.

    ``storm``: every API request (token requests included) is answered 429 with
    ``Retry-After: retry_after``. ``refuse_postings``: every charge is refused as the
    vendor refuses one (closed folio, business rule). Webhooks: each waits
    ``webhook_delay`` seconds before it is sent; ``webhook_duplicate`` is the probability
    (0 to 1; true means 1) that one is sent twice, ``webhook_reorder`` that one is held
    back until the next has overtaken it, ``webhook_drop`` that one is never sent.
    """

    storm: bool = False
    retry_after: int = 1
    refuse_postings: bool = False
    webhook_delay: float = 0.0
    webhook_duplicate: float = 0.0
    webhook_reorder: float = 0.0
    webhook_drop: float = 0.0

    def with_changes(self, **changes: object) -> Faults:
        """A copy with ``changes`` applied; unknown names and wrong values raise ValueError."""
        known = [field.name for field in dataclasses.fields(self)]
        checked: dict[str, object] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(known)}")
            if name in ("storm", "refuse_postings"):
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false")
            elif name == "retry_after":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError("retry_after must be a whole number of seconds, 0 or more")
            elif name == "webhook_delay":
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError("webhook_delay must be a non-negative number of seconds")
            else:
                if isinstance(value, bool):
                    value = 1.0 if value else 0.0
                if not isinstance(value, int | float) or not 0 <= value <= 1:
                    raise ValueError(f"{name} must be a probability from 0 to 1 (or true/false)")
                value = float(value)
            checked[name] = value
        return dataclasses.replace(self, **checked)

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)
