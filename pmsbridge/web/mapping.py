"""The room mapping page (admin): which extension rings in which room, and what is wrong with it.

The mapping comes from the configuration (``rooms.extension_template``, ``rooms.map``,
``rooms.map_file``); this page shows its result for every known room, the mapping's own
problems and, from the last status sweep, extensions the PBX does not have.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from pmsbridge.users import Role
from pmsbridge.web.board_data import room_rows, room_sort_key
from pmsbridge.web.context import web
from pmsbridge.web.security import protect

blueprint = Blueprint("mapping", __name__)
protect(blueprint, Role.ADMIN)


@blueprint.get("/mapping")
def overview() -> str:
    context = web()
    service = context.service
    rooms = sorted(set(context.configured_rooms) | set(room_rows(service.ledger)), key=room_sort_key)
    statuses = service.extension_status.snapshot.statuses
    known = statuses.keys() if statuses else None
    entries = []
    for room in rooms:
        extension = service.mapping.extension(room)
        entries.append({"room": room, "extension": extension,
                        "on_pbx": None if known is None or extension is None else extension in known})
    return render_template("mapping.html", entries=entries, rooms=context.settings.rooms,
                           problems=service.mapping.validate(known, rooms=rooms),
                           sweep=service.extension_status.snapshot)
