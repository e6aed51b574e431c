"""What the Mews, Apaleo and Cloudbeds simulators share: the hotel, the front desk, the server.

::

    with MewsSimulator(MewsOptions(webhook_url="http://127.0.0.1:8080/hooks/mews")) as pms:
        reservation = pms.check_in("101", "Doe", "John", language="de")
        pms.move("101", "102")
        assert pms.in_house()["102"] == ["John Doe"]
        pms.set_faults(webhook_drop=1.0, storm=True)

:meth:`CloudPmsSimulator.start` returns once the server listens; :meth:`stop` closes open
connections and joins every thread. Each front-desk method changes the hotel under one
lock and queues the vendor's thin webhooks for the change (see ``webhooks``); each vendor
subclass answers its API (``api``) in its documented shapes. Everything the API receives
passes the 429 storm switch first; the vendor applies the rate limit per credential with
:meth:`throttled`. Charges posted through the API are kept (:meth:`postings`), with the
idempotency key the vendor honours, if any.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import threading
from abc import ABC, abstractmethod
from collections import deque
from decimal import Decimal
from types import TracebackType
from typing import Any, NamedTuple

from pmsbridge.sim.address import url_host
from pmsbridge.sim.cloud.activity import RandomFrontDesk
from pmsbridge.sim.cloud.control import handle_control
from pmsbridge.sim.cloud.hotel import CHECKED_OUT, IN_HOUSE, LANGUAGES, Change, Hotel, Reservation, Room
from pmsbridge.sim.cloud.options import CloudSimOptions, Faults
from pmsbridge.sim.cloud.ratelimit import WindowLimiter
from pmsbridge.sim.cloud.server import Request, Response, SimulatorHTTPServer
from pmsbridge.sim.cloud.webhooks import WebhookPusher

log = logging.getLogger(__name__)

REQUEST_LOG_SIZE = 10_000


@dataclasses.dataclass(frozen=True)
class Posting:
    """A charge the PMS took: on which reservation and room, how much, and its idempotency key."""

    id: str
    reservation_id: str
    room: str | None
    guest: str
    amount: Decimal
    currency: str
    description: str
    key: str | None
    posted: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "reservation_id": self.reservation_id, "room": self.room, "guest": self.guest,
                "amount": str(self.amount), "currency": self.currency, "description": self.description,
                "key": self.key, "posted": self.posted.isoformat()}


class RequestRecord(NamedTuple):
    """One API request (not ``/sim``): method, path, the status answered."""

    method: str
    path: str
    status: int


class CloudPmsSimulator(ABC):
    """A cloud PMS on a thread; see the module docstring. Subclasses set ``name``, ``title``
    and ``touch_reservation_on_guest_change`` and implement the abstract methods."""

    name: str
    title: str
    touch_reservation_on_guest_change: bool

    def __init__(self, options: CloudSimOptions) -> None:
        self.options = options
        self._lock = threading.RLock()
        self._random = random.Random(options.seed)
        self._faults = Faults()
        self._webhook_url = options.webhook_url
        rooms = [Room(self.room_id(name), name, int(name) // 100) for name in options.room_names()]
        self.hotel = Hotel(rooms, self.new_id, self.now, self.touch_reservation_on_guest_change)
        self.webhooks = WebhookPusher(lambda: self._webhook_url, lambda: self._faults, options.seed, self.name)
        self._limiter = (WindowLimiter(options.rate_limit, options.rate_window)
                         if options.rate_limit is not None else None)
        self._postings: list[Posting] = []
        self._requests: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_SIZE)
        self._server: SimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._activity: RandomFrontDesk | None = None
        self._populate()

    # -- what each vendor provides -----------------------------------------------------------

    @abstractmethod
    def new_id(self, kind: str) -> str:
        """A fresh identifier of ``kind``: ``reservation``, ``guest``, ``number`` or ``posting``."""

    @abstractmethod
    def room_id(self, name: str) -> str:
        """The PMS's identifier of the room called ``name``."""

    @abstractmethod
    def api(self, request: Request) -> Response:
        """Answer one API request (the storm switch has let it through)."""

    @abstractmethod
    def too_many_requests(self, retry_after: int) -> Response:
        """The vendor's 429 answer."""

    @abstractmethod
    def webhook_bodies(self, change: Change) -> list[dict[str, Any]]:
        """The thin webhook bodies the vendor sends for ``change``."""

    @abstractmethod
    def credentials(self) -> dict[str, Any]:
        """The credentials a client needs, as the configuration would name them."""

    @abstractmethod
    def expire_tokens(self) -> dict[str, Any]:
        """End the access tokens in use now (what a client sees: 401 on its next request)."""

    def webhook_headers(self, body: dict[str, Any]) -> dict[str, str]:
        """Extra headers on a webhook (none by default)."""
        return {}

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> CloudPmsSimulator:
        """Bind and serve on a thread; returns when listening."""
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        server = SimulatorHTTPServer((self.options.host, self.options.port), self)
        self._port = server.server_address[1]
        serving = threading.Event()

        def serve() -> None:
            serving.set()
            server.serve_forever(poll_interval=0.05)

        self._server = server
        self._thread = threading.Thread(target=serve, name=f"{self.name}-sim-{self._port}", daemon=True)
        self._thread.start()
        serving.wait()
        self.webhooks.start()
        log.info("%s simulator listening on %s (%d rooms)", self.title, self.url, len(self.hotel.rooms))
        return self

    def stop(self) -> None:
        """Stop serving, close open connections, join the threads; safe to call twice."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self.stop_random_activity()
        self.webhooks.stop()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = self._thread = None
        log.info("%s simulator stopped", self.title)

    def __enter__(self) -> CloudPmsSimulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the simulator has not been started")
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port``, the base URL a client configures."""
        return f"http://{url_host(self.options.host)}:{self.port}"

    def now(self) -> dt.datetime:
        """The PMS's clock: UTC, aware."""
        return dt.datetime.now(dt.UTC)

    # -- faults and webhooks -----------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self._faults

    def set_faults(self, **changes: Any) -> Faults:
        """Change some faults (see :class:`Faults`); the others stay. ValueError for a bad one."""
        with self._lock:
            self._faults = self._faults.with_changes(**changes)
            faults = self._faults
        log.info("%s simulator faults now %s", self.title, faults)
        return faults

    def clear_faults(self) -> Faults:
        with self._lock:
            self._faults = Faults()
        return self._faults

    @property
    def webhook_url(self) -> str | None:
        return self._webhook_url

    def set_webhook_url(self, url: str | None) -> None:
        """Where webhooks go from now on (``None``: nowhere)."""
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"the webhook URL must start with http:// or https://, not {url!r}")
        self._webhook_url = url

    # -- the front desk ----------------------------------------------------------------------

    def book(self, last_name: str, first_name: str | None = None, *, language: str = "en", vip: bool = False,
             room: str | None = None, nights: int = 2) -> str:
        """A confirmed reservation arriving today; returns its id."""
        with self._lock:
            reservation, change = self.hotel.book(last_name, first_name, language=language, vip=vip, room=room,
                                                  nights=nights)
            self._announce(change)
            return reservation.id

    def check_in(self, room: str, last_name: str | None = None, first_name: str | None = None, *,
                 reservation: str | None = None, language: str = "en", vip: bool = False, nights: int = 2) -> str:
        """Check ``reservation`` (a confirmed one) in to ``room``, or, without one, book a walk-in
        guest called ``last_name`` and check them in; returns the reservation id."""
        with self._lock:
            if reservation is None:
                if last_name is None:
                    raise ValueError("name the reservation to check in, or the walk-in guest's last name")
                if self.hotel.occupant(room) is not None:
                    raise ValueError(f"room {room} is occupied")
                booked, change = self.hotel.book(last_name, first_name, language=language, vip=vip, room=room,
                                                 nights=nights)
                self._announce(change)
                reservation = booked.id
            self._announce(self.hotel.check_in(reservation, room))
            return reservation

    def move(self, room: str, to_room: str) -> str:
        """Move the guest in house in ``room`` to ``to_room``; returns the reservation id."""
        return self._front_desk(lambda: self.hotel.move(room, to_room))

    def rename(self, room: str, last_name: str, first_name: str | None = None) -> str:
        """Change the name of the guest in house in ``room``; returns the reservation id."""
        return self._front_desk(lambda: self.hotel.change_guest(room, last_name=last_name, first_name=first_name))

    def set_language(self, room: str, language: str) -> str:
        return self._front_desk(lambda: self.hotel.change_guest(room, language=language))

    def set_vip(self, room: str, vip: bool) -> str:
        return self._front_desk(lambda: self.hotel.change_guest(room, vip=vip))

    def check_out(self, room: str) -> str:
        """Check out the guest in house in ``room``; returns the reservation id."""
        return self._front_desk(lambda: self.hotel.check_out(room))

    def cancel(self, reservation: str) -> str:
        """Cancel a confirmed reservation."""
        return self._front_desk(lambda: self.hotel.cancel(reservation))

    def no_show(self, reservation: str) -> str:
        """Set a confirmed reservation to no-show."""
        return self._front_desk(lambda: self.hotel.cancel(reservation, no_show=True))

    def _front_desk(self, action: Any) -> str:
        with self._lock:
            change: Change = action()
            self._announce(change)
            return change.reservation_id

    def _announce(self, change: Change) -> None:
        for body in self.webhook_bodies(change):
            self.webhooks.push(body, self.webhook_headers(body))

    # -- what the hotel looks like -----------------------------------------------------------

    def in_house(self) -> dict[str, list[str]]:
        """Room name -> display names ("First Last") of the guests in house, rooms in order."""
        with self._lock:
            return self.hotel.in_house()

    def reservation(self, reservation_id: str) -> dict[str, Any]:
        """One reservation with its guest, vendor-neutral (see ``/sim/state``)."""
        with self._lock:
            return self._summary(self.hotel.reservation(reservation_id))

    def reservation_in(self, room: str) -> str:
        """The id of the reservation in house in ``room``; ValueError when vacant."""
        with self._lock:
            return self.hotel.in_house_reservation(room).id

    def _summary(self, reservation: Reservation) -> dict[str, Any]:
        guest = self.hotel.guest_of(reservation)
        return {"id": reservation.id, "number": reservation.number, "state": reservation.state,
                "room": reservation.room, "arrival": reservation.arrival.isoformat(),
                "departure": reservation.departure.isoformat(), "updated": reservation.updated.isoformat(),
                "guest": {"id": guest.id, "last_name": guest.last_name, "first_name": guest.first_name,
                          "language": guest.language, "vip": guest.vip}}

    def snapshot(self) -> dict[str, Any]:
        """Everything ``GET /sim/state`` shows."""
        with self._lock:
            return {
                "vendor": self.name,
                "url": self.url if self._port is not None else None,
                "rooms": [{"id": room.id, "name": room.name} for room in self.hotel.rooms.values()],
                "reservations": [self._summary(reservation) for reservation in self.hotel.ordered()],
                "in_house": self.hotel.in_house(),
                "postings": [posting.as_dict() for posting in self._postings],
                "faults": self._faults.as_dict(),
                "webhooks": {"url": self._webhook_url, **self.webhooks.counts()},
                "credentials": self.credentials(),
                "languages": list(LANGUAGES),
            }

    # -- postings ----------------------------------------------------------------------------

    def postings(self) -> list[Posting]:
        """Every charge taken, oldest first (a charge answered again for its idempotency key is not repeated)."""
        with self._lock:
            return list(self._postings)

    def posting_with_key(self, key: str) -> Posting | None:
        with self._lock:
            return next((posting for posting in self._postings if posting.key == key), None)

    def posting_refusal(self, reservation: Reservation) -> str | None:
        """Why a charge to ``reservation`` is refused now, or ``None``: only a stay in house or
        checked out takes charges, and none while ``refuse_postings`` is on."""
        if self._faults.refuse_postings:
            return f"the folio of reservation {reservation.id} is closed for charges"
        if reservation.state not in (IN_HOUSE, CHECKED_OUT):
            return f"reservation {reservation.id} is {reservation.state.replace('_', ' ')} and takes no charges"
        return None

    def record_posting(self, reservation: Reservation, amount: Decimal, currency: str, description: str,
                       key: str | None) -> Posting:
        """Keep a charge the API took (the caller holds the lock and has checked the refusal)."""
        posting = Posting(id=self.new_id("posting"), reservation_id=reservation.id, room=reservation.room,
                          guest=self.hotel.guest_of(reservation).display_name, amount=amount, currency=currency,
                          description=description, key=key, posted=self.now())
        self._postings.append(posting)
        log.info("%s simulator took a charge of %s %s on %s (room %s)", self.title, amount, currency,
                 reservation.id, reservation.room)
        return posting

    @property
    def lock(self) -> threading.RLock:
        """Held while the hotel changes; a vendor's API handlers take it too."""
        return self._lock

    # -- requests ----------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Called by the server: ``/sim`` control, or the API behind the storm switch."""
        if request.path.startswith("/sim/"):
            status, payload = handle_control(self, request.method, request.path, request.body)
            return Response(status, payload)
        faults = self._faults
        response = self.too_many_requests(faults.retry_after) if faults.storm else self.api(request)
        self._requests.append(RequestRecord(request.method, request.path, response.status))
        return response

    def throttled(self, credential: str) -> Response | None:
        """The 429 answer when ``credential`` is over the rate limit, else ``None`` (counted)."""
        if self._limiter is None:
            return None
        retry_after = self._limiter.retry_after(credential)
        return None if retry_after is None else self.too_many_requests(retry_after)

    @property
    def requests_log(self) -> list[RequestRecord]:
        """The last 10,000 API requests, oldest first."""
        return list(self._requests)

    # -- random activity ---------------------------------------------------------------------

    def start_random_activity(self, interval: float = 2.0, seed: int | None = None) -> None:
        """Random front-desk activity every ``interval`` seconds (see ``activity``)."""
        if self._activity is not None:
            raise RuntimeError("random activity is already running")
        self._activity = RandomFrontDesk(self, interval, seed)
        self._activity.start()

    def stop_random_activity(self) -> None:
        if self._activity is not None:
            self._activity.stop()
            self._activity = None

    def run_random(self, steps: int, seed: int | None = None) -> list[str]:
        """Do ``steps`` random front-desk actions now, on this thread; returns what was done."""
        desk = RandomFrontDesk(self, 1.0, seed)
        done: list[str] = []
        for _ in range(steps):
            try:
                done += desk.actions()
            except ValueError as err:
                log.info("random step skipped: %s", err)
        return done

    def _populate(self) -> None:
        """The hotel at start: guests in house and today's arrivals, announced to nobody."""
        desk = RandomFrontDesk(self, 1.0, self.options.seed)
        rooms = list(self.hotel.rooms)
        for room in rooms[: self.options.in_house]:
            last_name, first_name, language, vip = desk.new_guest()
            reservation, _ = self.hotel.book(last_name, first_name, language=language, vip=vip, room=room,
                                             nights=desk.nights())
            self.hotel.check_in(reservation.id)
        for _ in range(self.options.arrivals):
            last_name, first_name, language, vip = desk.new_guest()
            self.hotel.book(last_name, first_name, language=language, vip=vip, nights=desk.nights())
