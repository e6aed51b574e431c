"""Staff accounts of the web interface: names, roles, hashed passwords, logins and sessions.

Roles:

- ``frontdesk``: the room board, guest actions (check-in, checkout, move, name), wake-ups,
  do-not-disturb, call forward, the status page;
- ``admin``: everything, plus the ledger (replay, drift repair, held swaps), the room
  mapping, the minibar catalog and the staff accounts.

Passwords are stored as werkzeug scrypt hashes, never in clear. Failed logins are not
locked out but slowed down, per client address and per typed name (``login_throttle``).
A login is refused with the same message, after the same work (a password hash is
checked for an unknown or disabled name too), whether or not the name exists.

``session_epoch`` goes up at a logout, a password change and when an account is disabled:
a web session remembers the epoch it was opened with and ends when it no longer matches,
so each of these ends every open session of that user at once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel
from werkzeug.security import check_password_hash, generate_password_hash

from pmsbridge.ledger.database import reader
from pmsbridge.login_throttle import LoginThrottle, name_key, throttle_keys

MIN_PASSWORD_LENGTH = 8
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Role(StrEnum):
    FRONTDESK = "frontdesk"
    ADMIN = "admin"


class StaffUser(SQLModel, table=True):
    """One member of staff who may log in to the web interface."""

    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=16)
    password_hash: str = Field(max_length=256)
    disabled: bool = False
    session_epoch: int = Field(default=0, description="raised at logout, password change and disable; ends sessions")
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None
    language: str | None = Field(default=None, max_length=16,
                                 description="the interface language chosen (None: the browser's)")


@dataclass(frozen=True)
class Account:
    """A staff user as the rest of the program sees it (no password hash)."""

    name: str
    role: Role
    disabled: bool
    session_epoch: int
    created_at: datetime
    last_login_at: datetime | None
    language: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


class UserError(ValueError):
    """Raised when an account cannot be added or changed; the message is for the operator."""


class LoginRefused(Exception):
    """Raised when a login fails. The message is safe to show: it never tells whether the
    name exists. ``retry_after`` is set (seconds) when the attempt was refused unchecked
    because its address or name has to wait; ``account`` names the account the attempt was
    for, when there is one (for the audit log, never for the answer); ``throttle_started``
    lists the throttle keys this failure made wait for the first time."""

    def __init__(self, message: str, *, retry_after: int | None = None, account: str | None = None,
                 throttle_started: tuple[str, ...] = ()):
        super().__init__(message)
        self.retry_after = retry_after
        self.account = account
        self.throttle_started = throttle_started


WRONG_NAME_OR_PASSWORD = "wrong user name or password"


def normalise_name(name: str) -> str:
    return name.strip().lower()


def check_new_name(name: str) -> str:
    """The name normalised; UserError when it cannot be a user name (said before a password is asked)."""
    name = normalise_name(name)
    if NAME_PATTERN.fullmatch(name) is None:
        raise UserError(f"{name!r} is not a user name: use letters, digits and . _ @ - (at most 64)")
    return name


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if password != password.strip():
        raise UserError("a password may not start or end with a space")


def _account(row: StaffUser) -> Account:
    return Account(name=row.name, role=Role(row.role), disabled=row.disabled, session_epoch=row.session_epoch,
                   created_at=row.created_at, last_login_at=row.last_login_at, language=row.language)


@functools.cache
def _dummy_hash() -> str:
    """A hash to check against when the name is unknown, so that an unknown name takes as
    long to refuse as a wrong password and the answer time tells nothing."""
    return generate_password_hash("not-a-password-of-anyone")


class UserStore:
    """The staff accounts in the ledger database; see the module docstring."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.reader = reader(engine)
        self.clock = clock
        self.throttle = LoginThrottle(engine, clock=clock)

    # -- reading ---------------------------------------------------------------------

    def get(self, name: str) -> Account | None:
        with Session(self.reader) as session:
            row = self._row(session, normalise_name(name))
            return _account(row) if row else None

    def accounts(self) -> list[Account]:
        with Session(self.reader) as session:
            return [_account(row) for row in session.execute(select(StaffUser).order_by(StaffUser.name)).scalars()]

    # -- changing --------------------------------------------------------------------

    def add(self, name: str, role: Role | str, password: str) -> Account:
        """Create an account; raises UserError for a bad or taken name, a weak password or an unknown role."""
        name = check_new_name(name)
        try:
            role = Role(role)
        except ValueError:
            raise UserError(f"unknown role {role!r}; use frontdesk or admin") from None
        check_new_password(password)
        with Session(self.engine) as session:
            if self._row(session, name) is not None:
                raise UserError(f"user {name} already exists")
            row = StaffUser(name=name, role=role.value, password_hash=generate_password_hash(password),
                            created_at=self.clock())
            session.add(row)
            session.commit()
            session.refresh(row)
            return _account(row)

    def set_password(self, name: str, password: str) -> None:
        """A new password; ends the user's open sessions and lifts the wait on their name."""
        check_new_password(password)
        password_hash = generate_password_hash(password)
        with Session(self.engine) as session:
            row = self._existing(session, name)
            row.password_hash = password_hash
            row.session_epoch += 1
            session.add(row)
            session.commit()
            name = row.name
        self.throttle.succeeded([name_key(name)])

    def set_disabled(self, name: str, disabled: bool) -> None:
        """Disable (ending the user's sessions) or enable an account."""
        with Session(self.engine) as session:
            row = self._existing(session, name)
            if row.disabled != disabled:
                row.disabled = disabled
                row.session_epoch += 1
                session.add(row)
                session.commit()

    def end_sessions(self, name: str) -> None:
        """End every open session of the user (a logout on one screen logs out all of them)."""
        with Session(self.engine) as session:
            session.execute(update(StaffUser).where(StaffUser.name == normalise_name(name))
                            .values(session_epoch=StaffUser.session_epoch + 1))
            session.commit()

    def set_language(self, name: str, language: str | None) -> None:
        """The interface language ``name`` chose (a code the web interface offers); None: the browser's."""
        with Session(self.engine) as session:
            row = self._existing(session, name)
            row.language = language
            session.add(row)
            session.commit()

    def authenticate(self, name: str, password: str, address: str | None) -> Account:
        """The account when ``password`` is right; raises LoginRefused otherwise.

        An attempt whose ``address`` or name has to wait is refused before any password
        is checked. Otherwise a password hash is checked whatever the name (a dummy one for
        an unknown or disabled name), and the failure is counted against both, so that
        neither the message nor the time taken tells whether the name exists.
        """
        name = normalise_name(name)
        keys = throttle_keys(address, name)
        wait = self.throttle.wait(keys)
        if wait:
            raise LoginRefused(_wait_message(wait), retry_after=wait, account=self._name_if_exists(name))
        with Session(self.reader) as session:
            row = self._row(session, name)
            account, password_hash = (_account(row), row.password_hash) if row is not None else (None, None)
        if account is None or account.disabled:
            check_password_hash(_dummy_hash(), password)
            right = False
        else:
            right = check_password_hash(password_hash, password)
        if not right:
            started = self.throttle.failed(keys)
            raise LoginRefused(WRONG_NAME_OR_PASSWORD, account=account.name if account else None,
                               throttle_started=tuple(started))
        self.throttle.succeeded(keys)
        with Session(self.engine) as session:
            row = self._existing(session, name)
            row.last_login_at = self.clock()
            session.add(row)
            session.commit()
            session.refresh(row)
            return _account(row)

    # -- helpers ---------------------------------------------------------------------

    @staticmethod
    def _row(session: Session, name: str) -> StaffUser | None:
        return session.execute(select(StaffUser).where(StaffUser.name == name)).scalar_one_or_none()

    def _name_if_exists(self, name: str) -> str | None:
        with Session(self.reader) as session:
            row = self._row(session, name)
            return row.name if row is not None else None

    def _existing(self, session: Session, name: str) -> StaffUser:
        row = self._row(session, normalise_name(name))
        if row is None:
            raise UserError(f"there is no user {normalise_name(name)}")
        return row


def _wait_message(seconds: int) -> str:
    return f"too many failed logins: try again in {seconds} second{'s' if seconds != 1 else ''}"
