"""The minibar catalog: bars, goods and waiters, kept in the ledger database and pushed to the PBX.

The PBX's pmsapi has an add and a delete operation for each kind (``addminibar`` /
``delminibar``, ``addminibargoods`` / ``delminibargoods``, ``addminibarwaiter`` /
``delminibarwaiter``) and no way to list them, so the catalog here is the bridge's record
of what it pushed. An entry is stored only after the PBX accepted it. A removal the PBX
refuses permanently (it does not know the entry, e.g. after a factory reset) still removes
the entry here: the PBX is where it had to be gone.

A waiter's password (the PIN the maid types on the room phone) is passed to the PBX and
never stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel

from pmsbridge.ledger.database import reader
from pmsbridge.pbx.client import PbxClient
from pmsbridge.pbx.errors import PbxRequestRejected

CODE = re.compile(r"[0-9]{1,16}")


def utcnow() -> datetime:
    return datetime.now(UTC)


class MinibarBar(SQLModel, table=True):
    __tablename__ = "minibar_bar"

    barcode: str = Field(primary_key=True, max_length=16)
    barname: str | None = Field(default=None, max_length=64)
    prompt: str | None = Field(default=None, max_length=128, description="the voice prompt file, e.g. record/bar")
    verifyskip: str | None = Field(default=None, max_length=16)
    listgoods: str | None = Field(default=None, max_length=256)
    pushed_at: datetime = Field(default_factory=utcnow)
    pushed_by: str = Field(max_length=64)


class MinibarGoods(SQLModel, table=True):
    __tablename__ = "minibar_goods"

    goodscode: str = Field(primary_key=True, max_length=16)
    goodsname: str | None = Field(default=None, max_length=64)
    pushed_at: datetime = Field(default_factory=utcnow)
    pushed_by: str = Field(max_length=64)


class MinibarWaiter(SQLModel, table=True):
    __tablename__ = "minibar_waiter"

    maidcode: str = Field(primary_key=True, max_length=16)
    pushed_at: datetime = Field(default_factory=utcnow)
    pushed_by: str = Field(max_length=64)


@dataclass(frozen=True)
class CatalogKind:
    """One kind of catalog entry: its table, key, pmsapi operations and fields."""

    name: str
    table: type[SQLModel]
    key: str
    add_operation: str
    delete_operation: str
    fields: tuple[str, ...] = ()
    secret_fields: tuple[str, ...] = ()

    def row_values(self, row: SQLModel) -> dict[str, Any]:
        return {name: getattr(row, name) for name in (self.key, *self.fields, "pushed_at", "pushed_by")}


KINDS: dict[str, CatalogKind] = {
    "bar": CatalogKind("bar", MinibarBar, "barcode", "addminibar", "delminibar",
                       ("barname", "prompt", "verifyskip", "listgoods")),
    "goods": CatalogKind("goods", MinibarGoods, "goodscode", "addminibargoods", "delminibargoods", ("goodsname",)),
    "waiter": CatalogKind("waiter", MinibarWaiter, "maidcode", "addminibarwaiter", "delminibarwaiter",
                          secret_fields=("password",)),
}


class CatalogError(ValueError):
    """Raised when a catalog change is refused before the PBX is asked (bad code, duplicate, unknown)."""


@dataclass(frozen=True)
class PushResult:
    """What the PBX answered to a catalog change; ``note`` explains a removal it refused."""

    operation: str
    answer: dict[str, Any]
    note: str | None = None


class MinibarCatalog:
    """Reads the catalog and changes it on the PBX and here (see the module docstring)."""

    def __init__(self, engine: Engine, client: PbxClient, *, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.reader = reader(engine)
        self.client = client
        self.clock = clock

    def entries(self, kind: str) -> list[dict[str, Any]]:
        spec = self._kind(kind)
        with Session(self.reader) as session:
            rows = session.execute(select(spec.table).order_by(getattr(spec.table, spec.key))).scalars()
            return [spec.row_values(row) for row in rows]

    def add(self, kind: str, values: Mapping[str, str], *, actor: str) -> PushResult:
        """Push a new entry to the PBX, then keep it. Raises CatalogError, ValueError (a field
        pmsapi refuses) or PbxError (the PBX refused or could not be reached)."""
        spec = self._kind(kind)
        code = self._code(spec, values.get(spec.key, ""))
        fields = {name: (values.get(name) or "").strip() or None for name in spec.fields}
        secrets = {name: (values.get(name) or "").strip() for name in spec.secret_fields}
        for name, value in secrets.items():
            if CODE.fullmatch(value) is None:
                raise CatalogError(f"{name}: use 1-16 digits")
        with Session(self.reader) as session:
            if session.get(spec.table, code) is not None:
                raise CatalogError(f"{spec.name} {code} is already in the catalog")
        answer = self.client.pmsapi(spec.add_operation, {spec.key: code, **fields, **secrets})
        with Session(self.engine) as session:
            session.add(spec.table(**{spec.key: code, **fields, "pushed_at": self.clock(), "pushed_by": actor}))
            session.commit()
        return PushResult(spec.add_operation, answer)

    def remove(self, kind: str, code: str) -> PushResult:
        """Delete an entry on the PBX, then here. Raises CatalogError or a transient PbxError."""
        spec = self._kind(kind)
        code = self._code(spec, code)
        with Session(self.reader) as session:
            if session.get(spec.table, code) is None:
                raise CatalogError(f"{spec.name} {code} is not in the catalog")
        note = None
        try:
            answer = self.client.pmsapi(spec.delete_operation, {spec.key: code})
        except PbxRequestRejected as err:
            answer = {"status": err.status, "error": err.detail or str(err)}
            note = f"the PBX refused to delete it ({err}); removed from the catalog all the same"
        with Session(self.engine) as session:
            row = session.get(spec.table, code)
            if row is not None:
                session.delete(row)
                session.commit()
        return PushResult(spec.delete_operation, answer, note)

    @staticmethod
    def _kind(kind: str) -> CatalogKind:
        try:
            return KINDS[kind]
        except KeyError:
            raise CatalogError(f"unknown catalog kind {kind!r}; known: {', '.join(KINDS)}") from None

    @staticmethod
    def _code(spec: CatalogKind, value: str) -> str:
        code = (value or "").strip()
        if CODE.fullmatch(code) is None:
            raise CatalogError(f"{spec.key}: use 1-16 digits")
        return code
