"""The drift store: the only code that writes the ``drift`` table (see ``models`` for the states)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from pmsbridge.ledger.database import reader
from pmsbridge.ledger.models import utcnow
from pmsbridge.reconcile.drift import RoomComparison
from pmsbridge.reconcile.models import UNRESOLVED_STATES, DriftKind, DriftRow, DriftState


@dataclass(frozen=True)
class Drift:
    """One drift as the UI, the metrics and the command line see it (``id`` None: not stored)."""

    id: int | None
    room: str
    extension: str
    kind: DriftKind
    expected: str
    actual: str
    first_seen: datetime
    last_seen: datetime
    repair_attempts: int
    state: DriftState
    last_repair_at: datetime | None = None
    resolved_at: datetime | None = None

    @classmethod
    def of(cls, row: DriftRow) -> Drift:
        return cls(id=row.id, room=row.room, extension=row.extension, kind=DriftKind(row.kind),
                   expected=row.expected, actual=row.actual, first_seen=row.first_seen, last_seen=row.last_seen,
                   repair_attempts=row.repair_attempts, state=DriftState(row.state),
                   last_repair_at=row.last_repair_at, resolved_at=row.resolved_at)


_UNRESOLVED = [state.value for state in UNRESOLVED_STATES]


class DriftStore:
    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.reader = reader(engine)
        self.clock = clock

    def observe(self, comparisons: Iterable[RoomComparison], *, max_repair_attempts: int,
                dry_run: bool = False) -> list[Drift]:
        """Record what one run found; returns the drifts found, as stored (or, with ``dry_run``,
        as they would be stored: nothing is written then).

        A drift found again keeps its first sighting. One found again after its repair goes
        back to open while repairs are left (``max_repair_attempts``), else to
        repair_failed. A kind a comparison judged but did not find is resolved. The caller
        leaves out rooms whose PBX state was changing during the run.
        """
        now = self.clock()
        found: list[DriftRow] = []
        with Session(self.reader if dry_run else self.engine) as session:
            rows = session.execute(select(DriftRow).where(DriftRow.state.in_(_UNRESOLVED))).scalars().all()
            unresolved = {(row.room, row.kind): row for row in rows}
            for comparison in comparisons:
                for finding in comparison.findings:
                    row = unresolved.get((finding.room, finding.kind.value))
                    if row is None:
                        row = DriftRow(room=finding.room, extension=finding.extension, kind=finding.kind.value,
                                       expected=finding.expected, actual=finding.actual, first_seen=now,
                                       last_seen=now, state=DriftState.OPEN.value)
                        if not dry_run:
                            session.add(row)
                    else:
                        row.extension, row.expected, row.actual, row.last_seen = (
                            finding.extension, finding.expected, finding.actual, now)
                        if row.state == DriftState.REPAIRING:
                            exhausted = row.repair_attempts >= max_repair_attempts
                            row.state = (DriftState.REPAIR_FAILED if exhausted else DriftState.OPEN).value
                    found.append(row)
                seen = {finding.kind for finding in comparison.findings}
                for kind in comparison.judged - seen:
                    row = unresolved.get((comparison.room, kind.value))
                    if row is not None:
                        row.state, row.resolved_at = DriftState.RESOLVED.value, now
            if dry_run:
                return [Drift.of(row) for row in found]
            session.flush()
            drifts = [Drift.of(row) for row in found]
            session.commit()
        return drifts

    def mark_repairing(self, ids: Iterable[int]) -> None:
        """Note that repair deliveries were queued for these drifts."""
        ids = list(ids)
        if not ids:
            return
        with Session(self.engine) as session:
            session.execute(
                update(DriftRow)
                .where(DriftRow.id.in_(ids), DriftRow.state.in_(_UNRESOLVED))
                .values(state=DriftState.REPAIRING.value, repair_attempts=DriftRow.repair_attempts + 1,
                        last_repair_at=self.clock())
            )
            session.commit()

    def unresolved(self, room: str | None = None) -> list[Drift]:
        """The drifts not resolved yet, by room and kind."""
        with Session(self.reader) as session:
            query = select(DriftRow).where(DriftRow.state.in_(_UNRESOLVED)).order_by(DriftRow.room, DriftRow.kind)
            if room is not None:
                query = query.where(DriftRow.room == room)
            return [Drift.of(row) for row in session.execute(query).scalars()]

    def by_room(self) -> dict[str, list[Drift]]:
        rooms: dict[str, list[Drift]] = defaultdict(list)
        for drift in self.unresolved():
            rooms[drift.room].append(drift)
        return dict(rooms)

    def counts(self) -> dict[DriftKind, int]:
        """Unresolved drifts per kind, every kind present."""
        with Session(self.reader) as session:
            rows = session.execute(
                select(DriftRow.kind, func.count(DriftRow.id)).where(DriftRow.state.in_(_UNRESOLVED))
                .group_by(DriftRow.kind)
            ).all()
        counts = {kind: 0 for kind in DriftKind}
        for kind, count in rows:
            counts[DriftKind(kind)] = count
        return counts

    def prune(self, older_than: timedelta) -> int:
        """Delete drifts resolved longer than ``older_than`` ago."""
        with Session(self.engine) as session:
            removed = session.execute(
                delete(DriftRow).where(DriftRow.state == DriftState.RESOLVED.value,
                                       DriftRow.resolved_at < self.clock() - older_than)
            ).rowcount
            session.commit()
        return removed
