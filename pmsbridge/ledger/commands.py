"""``pmsbridge ledger list|show|replay|dismiss|resend|remove-room``: the operator's view of the
ledger, and how dead deliveries end (``pmsbridge.ledger.dead_letters``); every change audited
as the command line's."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime

from pmsbridge.command_errors import CommandError
from pmsbridge.config import Settings
from pmsbridge.ledger import dead_letters
from pmsbridge.ledger.database import create_ledger_engine, require_current_schema
from pmsbridge.ledger.dead_letters import OperatorRefused
from pmsbridge.ledger.raw_text import original
from pmsbridge.ledger.store import Ledger

ACTOR = "command line"


def open_ledger(settings: Settings) -> Ledger:
    engine = create_ledger_engine(settings.bridge.effective_database_url,
                                  sqlite_synchronous=settings.bridge.sqlite_synchronous)
    require_current_schema(engine)
    return Ledger.from_settings(settings, engine)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _one_line(text: str | None, width: int = 70) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def list_rows(settings: Settings, args: argparse.Namespace) -> int:
    ledger = open_ledger(settings)
    if args.events:
        print(f"{'id':>7}  {'received (UTC)':19}  {'source':10} {'kind':16} {'room':6} {'status':15} problem")
        for row in ledger.events(room=args.room, limit=args.limit):
            print(f"{row.id:>7}  {_when(row.received_at):19}  {row.source:10} {row.kind or '-':16} "
                  f"{row.room or '-':6} {row.status:15} {_one_line(row.problem)}")
        return 0
    print(f"{'id':>7}  {'created (UTC)':19}  {'operation':9} {'room':6} {'state':10} {'tries':>5}  last error")
    for row in ledger.deliveries(state=args.state, room=args.room, limit=args.limit):
        room = row.room + (f">{row.target_room}" if row.target_room else "")
        print(f"{row.id:>7}  {_when(row.created_at):19}  {row.operation:9} {room:6} {row.state:10} "
              f"{row.attempts:>5}  {_one_line(row.last_error)}")
    return 0


def show_row(settings: Settings, args: argparse.Namespace) -> int:
    ledger = open_ledger(settings)
    if args.event:
        event = ledger.event(args.id)
        if event is None:
            raise CommandError(f"there is no inbound event {args.id}")
        deliveries = [d for d in ledger.deliveries(room=event.room, limit=1000) if d.event_id == event.id]
    else:
        delivery = ledger.delivery(args.id)
        if delivery is None:
            raise CommandError(f"there is no delivery {args.id}")
        event = ledger.event(delivery.event_id) if delivery.event_id else None
        deliveries = [delivery]
    for delivery in deliveries:
        print(f"delivery {delivery.id}: {delivery.operation} room {delivery.room}"
              + (f" -> {delivery.target_room}" if delivery.target_room else ""))
        print(f"  state {delivery.state}, {delivery.attempts} attempts, next {_when(delivery.next_attempt_at)},"
              f" delivered {_when(delivery.delivered_at)}")
        print(f"  fields {delivery.fields}")
        if delivery.last_error:
            print(f"  last error (PBX status {delivery.last_status}): {delivery.last_error}")
        if delivery.request:
            print(f"  last request: {delivery.request}")
    if event is not None:
        print(f"event {event.id} from {event.source} at {_when(event.received_at)}: {event.kind} room {event.room}"
              f" [{event.status}]" + (f" by {event.actor}" if event.actor else ""))
        if event.problem:
            print(f"  problem: {event.problem}")
        print(f"  raw: {original(event.raw)!r}")
        if event.parsed:
            print(f"  parsed: {json.dumps(json.loads(event.parsed), ensure_ascii=False)}")
    return 0


def replay(settings: Settings, args: argparse.Namespace) -> int:
    ledger = open_ledger(settings)
    queued = ledger.replay(ids=args.ids or (), room=args.room, all_dead=args.all_dead, actor=ACTOR)
    if not queued:
        print("no dead delivery matched: nothing to replay")
        return 1
    print(f"queued {len(queued)} deliveries again: {', '.join(map(str, queued))}")
    return 0


def dismiss(settings: Settings, args: argparse.Namespace) -> int:
    """End dead deliveries with a note, then reconcile their rooms from what the PBX holds."""
    from pmsbridge.pbx.client import PbxClient
    from pmsbridge.reconcile.reconciler import Reconciler

    ledger = open_ledger(settings)
    client = PbxClient(settings.pbx)
    try:
        reconciler = Reconciler(ledger, client, ledger.mapping, settings.reconcile, settings.pbx)
        done = dead_letters.dismiss_and_reconcile(ledger, reconciler, args.ids, note=args.note, actor=ACTOR)
    except OperatorRefused as err:
        raise CommandError(str(err)) from None
    finally:
        client.close()
        ledger.engine.dispose()
    if not done.dismissed:
        print("no dead delivery matched: nothing dismissed")
        return 1
    print(f"dismissed {len(done.dismissed)} deliveries: {', '.join(map(str, done.dismissed))}")
    for repair in done.reconciled.values():
        print(repair)
    return 0


def _on_room(settings: Settings, act: Callable[[Ledger], str]) -> int:
    """Run one operator's action on the ledger and print its sentence; a refusal is the command's error."""

    ledger = open_ledger(settings)
    try:
        print(act(ledger))
    except OperatorRefused as err:
        raise CommandError(str(err)) from None
    finally:
        ledger.engine.dispose()
    return 0


def resend(settings: Settings, args: argparse.Namespace) -> int:
    """Queue what a room lacks on the PBX, from what the PBX confirmed."""
    return _on_room(settings, lambda ledger: dead_letters.resent_sentence(
        args.room, dead_letters.resend_room(ledger, args.room, actor=ACTOR)))


def remove_room(settings: Settings, args: argparse.Namespace) -> int:
    """Remove a room the hotel does not have from the ledger."""
    return _on_room(settings, lambda ledger: dead_letters.remove_phantom_room(ledger, args.room, actor=ACTOR))
