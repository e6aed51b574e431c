"""The pure part of reconciliation: what differs between the PBX and a room's desired state,
which operations repair it, and which rooms get a detailed look in a run. No I/O.

What the PBX shows, and how it is read:

- ``listAccount`` gives every extension's caller-ID name (``fullname``), status and
  ``out_of_service``. The PBX writes the guest's first and last name into the extension's
  user at check-in and clears them at checkout, so a name on a room's extension means the
  room is checked in there, and no name means it is vacant. A guest without any name can
  therefore not be told from a vacant room: for such a room occupancy and name are not
  judged.
- ``getSIPAccount`` gives one extension's DND and call forward: it costs a request per
  room, so only some rooms are looked at per run (``rotation``).

Wake-ups and the message light cannot be read through the API and are not compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pmsbridge.ledger.recovery import expected_fullname
from pmsbridge.pbx.names import NamePolicy
from pmsbridge.reconcile.models import DriftKind
from pmsbridge.rooms import PbxOperation, PbxRoom, RoomState, pbx_operations, pbx_target, transition_operations

# The kinds only getSIPAccount can decide; a listAccount page decides the others, for every room.
DETAIL_KINDS = frozenset({DriftKind.DND, DriftKind.CALL_FORWARD})
# Drifts pmsapi can repair; an extension that is missing or out of service needs an administrator.
REPAIRABLE_KINDS = frozenset(DriftKind) - {DriftKind.EXTENSION}

VACANT = "vacant"
NO_FORWARD = "none"


@dataclass(frozen=True)
class AccountView:
    """One extension as ``listAccount`` shows it; ``fullname`` is "" when the PBX shows none."""

    extension: str
    fullname: str
    status: str | None = None
    out_of_service: bool = False

    @property
    def occupied(self) -> bool:
        return bool(self.fullname)

    @classmethod
    def from_listing(cls, row: Mapping[str, Any]) -> AccountView:
        return cls(
            extension=str(row.get("extension") or ""),
            fullname=shown_name(row.get("fullname")),
            status=row.get("status"),
            out_of_service=str(row.get("out_of_service") or "").lower() == "yes",
        )


@dataclass(frozen=True)
class ExtensionDetails:
    """One extension's DND and call forward as ``getSIPAccount`` shows them."""

    extension: str
    dnd: bool
    call_forward: str | None

    @classmethod
    def from_sip_account(cls, extension: str, answer: Mapping[str, Any]) -> ExtensionDetails:
        """Read a getSIPAccount answer.

        The forward in effect is the one of the extension's current presence status (in
        ``sip_presence_settings``); firmware without presence settings has ``cfu`` on the
        extension itself.
        """
        settings = answer.get("extension")
        settings = settings if isinstance(settings, Mapping) else {}
        dnd = str(settings.get("dnd") or "").lower() in ("yes", "1", "true", "on")
        forward = settings.get("cfu")
        presence = answer.get("sip_presence_settings")
        if isinstance(presence, list):
            current = settings.get("presence_status") or "available"
            for entry in presence:
                if isinstance(entry, Mapping) and entry.get("presence_status") == current:
                    forward = entry.get("cfu")
                    break
        return cls(extension=extension, dnd=dnd, call_forward=(str(forward).strip() or None) if forward else None)


@dataclass(frozen=True)
class Finding:
    """One difference seen in one run: what the desired state says and what the PBX showed."""

    room: str
    extension: str
    kind: DriftKind
    expected: str
    actual: str


@dataclass(frozen=True)
class RoomComparison:
    """What one room's comparison found, and which kinds it could judge at all.

    A kind that was judged and not found is gone; a kind that was not judged (no detail
    read this run, a nameless guest, a missing extension) says nothing either way.
    """

    room: str
    extension: str
    findings: tuple[Finding, ...]
    judged: frozenset[DriftKind]


def shown_name(value: object) -> str:
    """A caller-ID name as compared: surrounding and repeated blanks do not count."""
    return " ".join(str(value or "").split())


def _vacant(state: RoomState) -> RoomState:
    return RoomState(room=state.room, shared_room_name=state.shared_room_name)


def rebuild_operations(state: RoomState) -> tuple[PbxOperation, ...]:
    """The operations that take a checked-out extension to ``state``: check-in, wake-ups, DND, forward."""
    return transition_operations(_vacant(state), state)


def expected_name(state: RoomState, names: NamePolicy) -> str:
    """The caller-ID name the PBX shows for the room's displayed guest ("" when vacant or nameless)."""
    if not state.occupied:
        return ""
    return expected_fullname(rebuild_operations(state)[0].fields, names)


def _on_off(value: bool) -> str:
    return "on" if value else "off"


def compare_room(state: RoomState, extension: str, account: AccountView | None,
                 details: ExtensionDetails | None, names: NamePolicy) -> RoomComparison:
    """Compare one room's desired ``state`` with its extension's ``account`` (None: the PBX has
    no such extension) and, when read this run, its ``details``."""
    room = state.room
    findings: list[Finding] = []

    def found(kind: DriftKind, expected: str, actual: str) -> None:
        findings.append(Finding(room, extension, kind, expected, actual))

    if account is None:
        found(DriftKind.EXTENSION, "present", "missing")
        return RoomComparison(room, extension, tuple(findings), frozenset({DriftKind.EXTENSION}))
    judged = {DriftKind.EXTENSION, DriftKind.NOT_CHECKED_OUT}
    if account.out_of_service:
        found(DriftKind.EXTENSION, "in service", "out of service")

    if not state.occupied:
        # A vacant room has no DND or forward to compare: pmsapi refuses both for it.
        judged |= {DriftKind.NAME, DriftKind.NOT_CHECKED_IN, *DETAIL_KINDS}
        if account.occupied:
            found(DriftKind.NOT_CHECKED_OUT, VACANT, account.fullname)
        return RoomComparison(room, extension, tuple(findings), frozenset(judged))

    wanted = expected_name(state, names)
    if not wanted:
        return RoomComparison(room, extension, tuple(findings), frozenset(judged))
    judged |= {DriftKind.NAME, DriftKind.NOT_CHECKED_IN}
    if not account.occupied:
        found(DriftKind.NOT_CHECKED_IN, wanted, VACANT)
        return RoomComparison(room, extension, tuple(findings), frozenset(judged))
    if account.fullname != wanted:
        found(DriftKind.NAME, wanted, account.fullname)
    if details is not None:
        judged |= DETAIL_KINDS
        if details.dnd != state.dnd:
            found(DriftKind.DND, _on_off(state.dnd), _on_off(details.dnd))
        if (details.call_forward or None) != (state.call_forward or None):
            found(DriftKind.CALL_FORWARD, state.call_forward or NO_FORWARD, details.call_forward or NO_FORWARD)
    return RoomComparison(room, extension, tuple(findings), frozenset(judged))


def observed_pbx(target: PbxRoom, confirmed: PbxRoom, kinds: Iterable[DriftKind]) -> PbxRoom:
    """What the PBX holds for a room whose target is ``target``, told by the drifts of ``kinds``
    found by a read, and by what it ``confirmed`` before for what a read cannot see.

    A room the PBX holds vacant is vacant (it is then rebuilt whole: check-in, wake-ups, DND,
    forward); one it holds occupied against a vacant target is checked in with guest data
    unknown (it is checked out); a wrong name means the guest data is unknown (an ``update``
    carries every field again); DND and forward are the other way round. Wake-ups cannot be
    read: they are what the PBX confirmed, none when it had not confirmed the check-in. Kinds
    pmsapi cannot repair change nothing.
    """
    kinds = set(kinds)
    if DriftKind.NOT_CHECKED_OUT in kinds and not target.checked_in:
        return PbxRoom(room=target.room, checked_in=True)
    if not target.checked_in:
        return target
    if DriftKind.NOT_CHECKED_IN in kinds:
        return PbxRoom(room=target.room)
    seen = target.model_copy(update={"wakeups": confirmed.wakeups if confirmed.checked_in else ()})
    if DriftKind.NAME in kinds:
        seen = seen.model_copy(update={"guest": {}})
    if DriftKind.DND in kinds:
        seen = seen.model_copy(update={"dnd": not target.dnd})
    if DriftKind.CALL_FORWARD in kinds:
        seen = seen.model_copy(update={"call_forward": None if target.call_forward else "?"})
    return seen


def repair_operations(state: RoomState, kinds: Iterable[DriftKind]) -> tuple[PbxOperation, ...]:
    """The pmsapi operations that repair drifts of ``kinds`` in a room whose desired state is
    ``state`` (see ``observed_pbx``)."""
    target = pbx_target(state)
    return pbx_operations(observed_pbx(target, target, kinds), target)


def room_order(room: str) -> tuple[int, int, str]:
    """Rooms in the order a hotel counts them: numbers by value ("99" before "101"), then the rest."""
    return (0, int(room), room) if room.isdigit() else (1, 0, room)


def rotation(candidates: Sequence[str], priority: Sequence[str], cursor: str | None,
             limit: int) -> tuple[list[str], str | None]:
    """The rooms to read details of this run, and the cursor for the next run.

    ``priority`` rooms (whose DND or forward drift is awaiting confirmation) come first;
    the rest of the ``limit`` goes to ``candidates`` after ``cursor`` in ``room_order``,
    wrapping round, so that every occupied room is looked at once every
    ``len(candidates) / limit`` runs. The cursor moves only over the rotation's rooms.
    """
    if limit <= 0:
        return [], cursor
    allowed = set(candidates)
    chosen = [room for room in dict.fromkeys(priority) if room in allowed][:limit]
    ordered = sorted(allowed - set(chosen), key=room_order)
    if cursor is not None:
        position = next((index for index, room in enumerate(ordered) if room_order(room) > room_order(cursor)),
                        len(ordered))
        ordered = ordered[position:] + ordered[:position]
    turn = ordered[: limit - len(chosen)]
    return chosen + turn, (turn[-1] if turn else cursor)
