"""``Leadership``: seeks, renews and loses the lease; the gates that keep a deposed leader quiet.

One thread ("ha-lease") runs every ``ha.renew_seconds`` on its own database connection: a
standby takes the lease when it lapsed, the leader renews it, and each records itself in
the members' table. Two gates follow the lease without asking the database:

- ``refusal()``, asked by the PBX client before every request: the lease counts as held until
  the monotonic time of the last successful renewal's *start* plus ``lease_seconds``, which
  is never later than the expiry the database wrote. A leader frozen past its lease (SIGSTOP,
  a stalled VM) wakes up refused before any standby could have taken over;
- ``fence(tx)``, run by the ledger first in every claim and outcome transaction: the term's
  token must still be the lease's, in the database's clock, or nothing is written.

The PMS links record through ``LeaderOnlyLedger``, which refuses as soon as the lease
counts as lost: a leader frozen with PMS records in its socket buffer does not record them
late, behind what the new leader recorded since (the new leader asks the PMS for its
in-house list instead).

A leader that loses its lease (a renewal refused, or no renewal within the lease) calls
``on_deposed`` once; the service then stops and exits, and a fresh process stands by.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from pmsbridge.config import HaSettings
from pmsbridge.ha import lease
from pmsbridge.ledger.statements import Statement, Transaction

if TYPE_CHECKING:
    from pmsbridge.ledger.store import Ledger

log = logging.getLogger(__name__)

LEADER = "leader"
STANDBY = "standby"


class Deposed(SQLAlchemyError):
    """Raised where the ledger refuses the writes of a server that no longer leads.

    A SQLAlchemyError, so that every writer treats it as a ledger that cannot be written:
    the dispatcher keeps its outcomes, an adapter holds its record unacknowledged.
    """


class Leadership:
    """The lease of one ``pmsbridge run``; ``member`` is its dispatcher's identity (host:pid:token),
    so that the lease's holder and the deliveries' ``claimed_by`` name the same process."""

    def __init__(self, url: str, settings: HaSettings, member: str, *,
                 clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.member = member
        self.member_name = settings.member_name or socket.gethostname()
        self.engine = lease.lease_engine(url, settings.renew_seconds)
        self.started_at = datetime.now(UTC)
        self.role = STANDBY
        self.token: int | None = None
        self.since: datetime | None = None
        self.failovers = 0  # terms this process began after another member's
        self.last_error: str | None = None
        self._on_elected: Callable[[int], None] = lambda _token: None
        self._on_deposed: Callable[[str], None] = lambda _reason: None
        self._clock = clock
        self._held_until = 0.0  # monotonic: the lease counts as ours until then
        self._stopping = threading.Event()
        self._retiring = threading.Event()
        # Held by each look at the lease, the takeover it may lead to included.
        self._looking = threading.Lock()
        self._thread: threading.Thread | None = None
        self._fence: Statement | None = None

    def watch(self, *, on_elected: Callable[[int], None], on_deposed: Callable[[str], None]) -> None:
        """Call ``on_elected(token)`` when this process wins the lease and ``on_deposed(reason)``
        (once, the gates already shut) when it loses it; both on the lease's thread."""
        self._on_elected, self._on_deposed = on_elected, on_deposed

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ha-lease", daemon=True)
        self._thread.start()

    def retire(self) -> None:
        """Seek the lead no more (the service is stopping): returns once a takeover under way
        has finished. A leader keeps renewing until ``stop``."""
        self._retiring.set()
        with self._looking:
            pass

    def stop(self, timeout: float = 5.0) -> None:
        """Stop seeking and renewing; a leader resigns, so that a standby takes over at once."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if self.role == LEADER and self.token is not None:
            self._close_gates()
            try:
                with self.engine.begin() as connection:
                    lease.resign(connection, self.member, self.token)
                log.info("resigned the lead")
            except SQLAlchemyError as err:
                log.warning("could not resign the lead (%s); a standby takes over when the lease lapses", err)
        self.engine.dispose()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def leading(self) -> bool:
        return self.role == LEADER and self._clock() < self._held_until

    # -- the gates --------------------------------------------------------------------

    def refusal(self) -> str | None:
        """None while this process leads within its lease, else why it must not talk to the PBX."""
        if self.leading:
            return None
        return "this server is the standby: only the leader talks to the PBX (pmsbridge ha status)"

    def fence(self, tx: Transaction) -> None:
        """Raise Deposed unless this process's term is still the lease's (run inside ``tx``)."""
        if self._fence is None:
            self._fence = Statement(lease.fence_statement(), self.engine.dialect)
        token = self.token
        if token is None or tx.scalar(self._fence, fence_token=token, fence_holder=self.member) is None:
            raise Deposed(f"the lease of term {token} is no longer held by this server; nothing written")

    # -- the thread -------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._tick()
            except Exception:
                log.exception("leader election failed; trying again")
            self._stopping.wait(self.settings.renew_seconds)

    def _tick(self) -> None:
        with self._looking:
            if self.role == LEADER or not self._retiring.is_set():
                self._look()

    def _look(self) -> None:
        started = self._clock()
        seconds = self.settings.lease_seconds
        renewed: bool | None = None
        won: int | None = None
        try:
            with self.engine.begin() as connection:
                if self.role == LEADER:
                    renewed = lease.renew(connection, self.member, self.token, seconds)
                else:
                    won = lease.acquire(connection, self.member, self.member_name, seconds)
                role = LEADER if renewed or won is not None else self.role
                lease.heartbeat(connection, self.member, self.member_name, role, self.started_at)
            if self.last_error is not None:
                log.info("the lease's database answers again")
            self.last_error = None
        except SQLAlchemyError as err:
            if self.last_error is None:
                log.warning("cannot reach the database for the lease: %s", err)
            self.last_error = str(err)
        if self.role == LEADER:
            if renewed:
                self._held_until = started + seconds
            elif renewed is False:
                self._depose("the lease lapsed or another server took it")
            elif self._clock() >= self._held_until:
                self._depose(f"no renewal within {seconds:g} s (ha.lease_seconds): {self.last_error}")
        elif won is not None:
            self._held_until = started + seconds
            self.role, self.token, self.since = LEADER, won, datetime.now(UTC)
            if won > 1:
                self.failovers += 1
            log.warning("this server leads now (term %d)", won)
            try:
                self._on_elected(won)
            except Exception as err:
                log.exception("could not take over the lead")
                self._depose(f"could not take over: {err}")

    def _depose(self, reason: str) -> None:
        self._close_gates()
        self._stopping.set()
        log.error("this server no longer leads: %s; stopping every PBX request and PMS link", reason)
        self._on_deposed(reason)

    def _close_gates(self) -> None:
        self.role = STANDBY
        self._held_until = 0.0


class LeaderOnlyLedger:
    """The ledger as the PMS links of a leader use it: ``record`` and ``record_many`` refused
    (Deposed) once this server no longer leads; everything else as the ledger itself."""

    def __init__(self, ledger: Ledger, leadership: Leadership):
        self._ledger = ledger
        self._leadership = leadership

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)

    def _require_lead(self) -> None:
        if not self._leadership.leading:
            raise Deposed("this server no longer leads: PMS input is recorded by the leader")

    def record(self, *args: Any, **kwargs: Any) -> Any:
        self._require_lead()
        return self._ledger.record(*args, **kwargs)

    def record_many(self, *args: Any, **kwargs: Any) -> Any:
        self._require_lead()
        return self._ledger.record_many(*args, **kwargs)
