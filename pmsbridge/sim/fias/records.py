"""The records a PMS sends to a PBX interface, built the way Oracle IFC8 lays them out.

Pure functions returning `Record` values; framing and encoding stay in
`pmsbridge.adapters.fias.protocol`. ``now`` is the DA/TI stamp (hotel local time).
"""

from __future__ import annotations

import datetime as dt

from pmsbridge.adapters.fias.protocol import Record, format_date, format_time
from pmsbridge.sim.fias.hotel import Guest

Fields = list[tuple[str, str]]


def _stamp(now: dt.datetime) -> Fields:
    return [("DA", format_date(now)), ("TI", format_time(now))]


def _yes_no(flag: bool) -> str:
    return "Y" if flag else "N"


def guest_fields(guest: Guest) -> Fields:
    """G# and the guest data of a GI or GC; fields the guest lacks are left out."""
    fields: Fields = [("G#", guest.reservation), ("GN", guest.last_name)]
    optional = (
        ("GF", guest.first_name),
        ("GT", guest.title),
        ("GL", guest.language),
        ("GV", guest.vip),
        ("GG", guest.group),
        ("GA", format_date(guest.arrival) if guest.arrival else None),
        ("GD", format_date(guest.departure) if guest.departure else None),
        ("CS", None if guest.class_of_service is None else str(guest.class_of_service)),
    )
    fields += [(field_id, value) for field_id, value in optional if value is not None]
    return fields


def check_in(room: str, guest: Guest, now: dt.datetime, *, swap: bool = False) -> Record:
    """GI: a guest arrives; with ``swap`` it is one guest of a database swap (SF set)."""
    fields = [("RN", room), *guest_fields(guest), ("GS", _yes_no(guest.shared))]
    if swap:
        fields.append(("SF", ""))
    return Record("GI", (*fields, *_stamp(now)))


def check_out(room: str, reservation: str | None, others_remain: bool, now: dt.datetime) -> Record:
    """GO: a guest leaves (the whole room without ``reservation``); GS says whether others stay."""
    fields: Fields = [("RN", room)]
    if reservation is not None:
        fields.append(("G#", reservation))
    fields.append(("GS", _yes_no(others_remain)))
    return Record("GO", (*fields, *_stamp(now)))


def guest_change(room: str, guest: Guest, now: dt.datetime) -> Record:
    """GC: the guest's data changed; IFC8 sends the whole guest again."""
    fields = [("RN", room), *guest_fields(guest), ("GS", _yes_no(guest.shared))]
    return Record("GC", (*fields, *_stamp(now)))


def room_move(to_room: str, to_shared: bool, guest: Guest, from_room: str, from_shared: bool,
              now: dt.datetime) -> Record:
    """GC for a room move: RN is the new room, RO the old one, each followed by its own GS."""
    fields = [
        ("RN", to_room),
        ("GS", _yes_no(to_shared)),
        *guest_fields(guest),
        ("RO", from_room),
        ("GS", _yes_no(from_shared)),
    ]
    return Record("GC", (*fields, *_stamp(now)))


def room_equipment(room: str, field_id: str, value: str, now: dt.datetime) -> Record:
    """RE: one room status from the PMS (CS class of service, DN do-not-disturb, ML message light)."""
    return Record("RE", (("RN", room), (field_id, value), *_stamp(now)))


def wakeup_request(room: str, at: dt.datetime) -> Record:
    """WR: DA/TI are the wake-up time itself, not a stamp."""
    return Record("WR", (("RN", room), ("DA", format_date(at)), ("TI", format_time(at))))


def wakeup_clear(room: str, at: dt.datetime | None) -> Record:
    """WC: clears the wake-up at ``at``; empty DA and TI clear every wake-up of the room."""
    date, time = ("", "") if at is None else (format_date(at), format_time(at))
    return Record("WC", (("RN", room), ("DA", date), ("TI", time)))


def message_text(room: str, reservation: str | None, message_id: str, text: str, now: dt.datetime) -> Record:
    """XL: a message waits for the guest (MI message id, MT its text)."""
    fields: Fields = [("RN", room)]
    if reservation is not None:
        fields.append(("G#", reservation))
    fields += [("MI", message_id), ("MT", text)]
    return Record("XL", (*fields, *_stamp(now)))


def message_delete(room: str, reservation: str | None, message_id: str | None, now: dt.datetime) -> Record:
    """XD: a message was delivered or withdrawn; without MI every message of the room goes."""
    fields: Fields = [("RN", room)]
    if reservation is not None:
        fields.append(("G#", reservation))
    if message_id is not None:
        fields.append(("MI", message_id))
    return Record("XD", (*fields, *_stamp(now)))


def swap_start(now: dt.datetime) -> Record:
    """DS: a database swap begins."""
    return Record("DS", tuple(_stamp(now)))


def swap_end(now: dt.datetime) -> Record:
    """DE: the database swap is complete; guests not sent since DS are gone."""
    return Record("DE", tuple(_stamp(now)))


def posting_answer(posting: Record, status: str) -> Record:
    """PA: the answer to a PS, echoing its P#, RN, DA and TI (those it carried)."""
    fields: Fields = [("AS", status)]
    fields += [(field_id, value) for field_id in ("P#", "RN", "DA", "TI")
               if (value := posting.get(field_id)) is not None]
    return Record("PA", tuple(fields))
