"""Staff accounts of the web interface: names, roles, hashed passwords and the login lockout.

Roles:

- ``frontdesk``: the room board, guest actions (check-in, checkout, move, name), wake-ups,
  do-not-disturb, call forward, the status page;
- ``admin``: everything, plus the ledger (replay, drift repair, held swaps), the room
  mapping, the minibar catalog and the staff accounts.

Passwords are stored as werkzeug scrypt hashes, never in clear. A user name that fails
``MAX_FAILED_LOGINS`` logins in a row is locked for ``LOCKOUT``; the count lives in the
database, so neither a restart nor a second process resets it. When the lockout has run
out, the count starts again from zero.

``session_epoch`` goes up whenever a password changes or an account is disabled: a web
session remembers the epoch it was opened with and ends when it no longer matches.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel
from werkzeug.security import check_password_hash, generate_password_hash

from pmsbridge.ledger.database import reader

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
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
    failed_logins: int = 0
    locked_until: datetime | None = None
    session_epoch: int = Field(default=0, description="raised on password change and disable; ends older sessions")
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
    failed_logins: int
    locked_until: datetime | None
    session_epoch: int
    created_at: datetime
    last_login_at: datetime | None
    language: str | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


class UserError(ValueError):
    """Raised when an account cannot be added or changed; the message is for the operator."""


class LoginRefused(Exception):
    """Raised when a login fails. The message is safe to show: it never tells whether the
    name exists. ``locked_until`` is set when the account is (now) locked."""

    def __init__(self, message: str, *, locked_until: datetime | None = None):
        super().__init__(message)
        self.locked_until = locked_until


def normalise_name(name: str) -> str:
    return name.strip().lower()


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if password != password.strip():
        raise UserError("a password may not start or end with a space")


def _account(row: StaffUser) -> Account:
    return Account(name=row.name, role=Role(row.role), disabled=row.disabled, failed_logins=row.failed_logins,
                   locked_until=row.locked_until, session_epoch=row.session_epoch, created_at=row.created_at,
                   last_login_at=row.last_login_at, language=row.language)


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
        name = normalise_name(name)
        if NAME_PATTERN.fullmatch(name) is None:
            raise UserError(f"{name!r} is not a user name: use letters, digits and . _ @ - (at most 64)")
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
        """A new password; also lifts a lockout and ends the user's open sessions."""
        check_new_password(password)
        password_hash = generate_password_hash(password)
        with Session(self.engine) as session:
            row = self._existing(session, name)
            row.password_hash = password_hash
            row.failed_logins, row.locked_until = 0, None
            row.session_epoch += 1
            session.add(row)
            session.commit()

    def set_disabled(self, name: str, disabled: bool) -> None:
        """Disable (ending the user's sessions) or enable an account."""
        with Session(self.engine) as session:
            row = self._existing(session, name)
            if row.disabled != disabled:
                row.disabled = disabled
                row.session_epoch += 1
                session.add(row)
                session.commit()

    def set_language(self, name: str, language: str | None) -> None:
        """The interface language ``name`` chose (a code the web interface offers); None: the browser's."""
        with Session(self.engine) as session:
            row = self._existing(session, name)
            row.language = language
            session.add(row)
            session.commit()

    def authenticate(self, name: str, password: str) -> Account:
        """The account when ``password`` is right; raises LoginRefused otherwise.

        The password is checked outside any transaction (scrypt takes a while, and on
        SQLite a write transaction holds the whole database); the failure count is then
        updated on the locked row.
        """
        now = self.clock()
        with Session(self.reader) as session:
            row = self._row(session, normalise_name(name))
            account, password_hash = (_account(row), row.password_hash) if row is not None else (None, None)
        if account is None or account.disabled:
            check_password_hash(_dummy_hash(), password)
            raise LoginRefused("wrong user name or password")
        if account.locked(now):
            raise LoginRefused(_locked_message(account.locked_until, now), locked_until=account.locked_until)
        right = check_password_hash(password_hash, password)
        with Session(self.engine) as session:
            row = session.execute(
                select(StaffUser).where(StaffUser.name == account.name).with_for_update()
            ).scalar_one()
            if row.locked_until is not None and row.locked_until > now:
                # Another attempt locked it while this password was being checked.
                raise LoginRefused(_locked_message(row.locked_until, now), locked_until=row.locked_until)
            if right:
                row.failed_logins, row.locked_until, row.last_login_at = 0, None, now
            else:
                expired = row.locked_until is not None
                row.failed_logins = 1 if expired else row.failed_logins + 1
                row.locked_until = now + LOCKOUT if row.failed_logins >= MAX_FAILED_LOGINS else None
            session.add(row)
            session.commit()
            session.refresh(row)
            result = _account(row)
        if not right:
            if result.locked(now):
                raise LoginRefused(_locked_message(result.locked_until, now), locked_until=result.locked_until)
            raise LoginRefused("wrong user name or password")
        return result

    # -- helpers ---------------------------------------------------------------------

    @staticmethod
    def _row(session: Session, name: str) -> StaffUser | None:
        return session.execute(select(StaffUser).where(StaffUser.name == name)).scalar_one_or_none()

    def _existing(self, session: Session, name: str) -> StaffUser:
        row = self._row(session, normalise_name(name))
        if row is None:
            raise UserError(f"there is no user {normalise_name(name)}")
        return row


def _locked_message(until: datetime, now: datetime) -> str:
    minutes = max(1, -(-int((until - now).total_seconds()) // 60))
    return f"too many failed logins: this account is locked for {minutes} more minute{'s' if minutes > 1 else ''}"
