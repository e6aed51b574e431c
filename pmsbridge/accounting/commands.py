"""``pmsbridge postings list|repost|settle``: the operator's view of the charges sent to the PMS."""

from __future__ import annotations

import argparse
from datetime import datetime

from pmsbridge.command_errors import CommandError
from pmsbridge.accounting.money import format_amount
from pmsbridge.accounting.postings import PostingNotChangeable, PostingStore
from pmsbridge.config import Settings
from pmsbridge.ledger.database import create_ledger_engine, require_current_schema

ACTOR = "command line"


def open_store(settings: Settings) -> PostingStore:
    engine = create_ledger_engine(settings.bridge.effective_database_url)
    require_current_schema(engine)
    return PostingStore(engine)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def list_postings(settings: Settings, args: argparse.Namespace) -> int:
    """Postings newest first, then the totals of the rooms listed."""
    store = open_store(settings)
    rows = store.postings(room=args.room, state=args.state, limit=args.limit)
    print(f"{'id':>7}  {'call start (local)':19}  {'room':6} {'amount':>14} {'dialled':16} {'secs':>5}  "
          f"{'state':8} {'to':12} answer / error")
    for row in rows:
        amount = format_amount(row.amount, row.currency) or "(PMS rates)"
        note = row.answer or ""
        if row.last_error:
            note = f"{note} {row.last_error}".strip()
        print(f"{row.id:>7}  {_when(row.call_start):19}  {row.room:6} {amount:>14} {row.dialled or '-':16} "
              f"{row.duration if row.duration is not None else '-':>5}  {row.state:8} {row.channel or '-':12} {note}")
    if not rows:
        print("no postings match")
        return 0
    currency = settings.accounting.currency
    print()
    print(f"{'room':6} {'posted':>14} {'on its way':>14} {'need an operator':>16} {'postings':>8}")
    rooms = sorted({row.room for row in rows})
    for totals in store.totals():
        if totals.room in rooms:
            print(f"{totals.room:6} {format_amount(totals.posted, currency):>14} "
                  f"{format_amount(totals.open, currency):>14} {totals.needs_operator:>16} {totals.count:>8}")
    return 0


def repost(settings: Settings, args: argparse.Namespace) -> int:
    try:
        posting = open_store(settings).repost(args.id, actor=ACTOR)
    except PostingNotChangeable as err:
        raise CommandError(str(err)) from None
    print(f"posting {posting.id} for room {posting.room} is queued again; the running bridge sends it")
    return 0


def settle(settings: Settings, args: argparse.Namespace) -> int:
    try:
        posting = open_store(settings).settle(args.id, actor=ACTOR, note=args.note)
    except PostingNotChangeable as err:
        raise CommandError(str(err)) from None
    print(f"posting {posting.id} for room {posting.room} is settled by hand; nothing more is sent")
    return 0
