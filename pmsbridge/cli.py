"""The ``pmsbridge`` command.

Each sub-command is a small function taking the parsed arguments and returning an exit
code. Expected failures (a bad configuration, an unreachable PBX) are printed as one
sentence on stderr with exit code 2 or 1, never as a stack trace.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from pmsbridge.command_errors import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, CommandError
from pmsbridge.config import CONFIG_ENV, ConfigError, Settings, config_warnings, load_settings

log = logging.getLogger(__name__)


def settings_from(args: argparse.Namespace) -> Settings:
    from pmsbridge.logs import configured_secrets, redact_secrets

    settings = load_settings(args.config)
    redact_secrets(configured_secrets(settings))
    return settings


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    warnings = config_warnings(settings)
    verdict = f"OK, {len(warnings)} warning{'s' if len(warnings) > 1 else ''}" if warnings else "OK"
    print(f"{args.config or os.environ.get(CONFIG_ENV)}: {verdict}")
    for name, config in sorted(settings.adapter_settings.items()):
        print(f"  adapter {name}: {'enabled' if getattr(config, 'enabled', True) else 'disabled'}")
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_OK


def cmd_pbx_status(args: argparse.Namespace) -> int:
    from pmsbridge.pbx.commands import print_status

    return print_status(settings_from(args))


def cmd_pbx_fingerprint(args: argparse.Namespace) -> int:
    from pmsbridge.pbx.commands import print_fingerprint

    return print_fingerprint(settings_from(args))


def cmd_pms_status(args: argparse.Namespace) -> int:
    from pmsbridge.adapters.cloud.commands import print_status

    return print_status(settings_from(args))


def cmd_sim_pbx(args: argparse.Namespace) -> int:
    from pmsbridge.sim.pbx.cli import run_emulator

    return run_emulator(args)


def cmd_sim_fias(args: argparse.Namespace) -> int:
    from pmsbridge.sim.fias.cli import run_simulator

    return run_simulator(args)


def cmd_sim_cloud(args: argparse.Namespace) -> int:
    from pmsbridge.sim.cloud.cli import run_simulator

    return run_simulator(args)


def cmd_migrate(args: argparse.Namespace) -> int:
    from pmsbridge.ledger.database import create_ledger_engine, migrate

    settings = settings_from(args)
    engine = create_ledger_engine(settings.bridge.effective_database_url)
    try:
        before, after = migrate(engine)
    finally:
        engine.dispose()
    print(f"ledger schema: {before or 'empty'} -> {after}" if before != after else f"ledger schema is current ({after})")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from pmsbridge.ledger.database import SchemaOutOfDate
    from pmsbridge.logs import setup_logging
    from pmsbridge.ports import is_address_in_use, port_in_use
    from pmsbridge.runlock import AlreadyRunning
    from pmsbridge.service import build

    settings = settings_from(args)
    setup_logging(settings.bridge.log_level, settings.bridge.log_format)
    try:
        service = build(settings)
        service.run_until_signalled()
    except (SchemaOutOfDate, AlreadyRunning) as err:
        raise CommandError(str(err)) from None
    except OSError as err:
        if not is_address_in_use(err):
            raise
        port = settings.web.host_port[1]
        raise CommandError(port_in_use(port, "the web interface, web.listen", "change web.listen")) from None
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    from pmsbridge.backup import run_backup

    return run_backup(settings_from(args), args)


def cmd_restore(args: argparse.Namespace) -> int:
    from pmsbridge.backup import run_restore

    return run_restore(settings_from(args), args)


def cmd_demo(args: argparse.Namespace) -> int:
    from pmsbridge.demo import run_demo

    return run_demo(args)


def cmd_ledger_list(args: argparse.Namespace) -> int:
    from pmsbridge.ledger.commands import list_rows

    return list_rows(settings_from(args), args)


def cmd_ledger_show(args: argparse.Namespace) -> int:
    from pmsbridge.ledger.commands import show_row

    return show_row(settings_from(args), args)


def cmd_ledger_replay(args: argparse.Namespace) -> int:
    from pmsbridge.ledger.commands import replay

    return replay(settings_from(args), args)


def cmd_ledger_dismiss(args: argparse.Namespace) -> int:
    from pmsbridge.ledger.commands import dismiss

    return dismiss(settings_from(args), args)


def cmd_ledger_resend(args: argparse.Namespace) -> int:
    from pmsbridge.ledger.commands import resend

    return resend(settings_from(args), args)


def cmd_ledger_remove_room(args: argparse.Namespace) -> int:
    from pmsbridge.ledger.commands import remove_room

    return remove_room(settings_from(args), args)


def cmd_postings_list(args: argparse.Namespace) -> int:
    from pmsbridge.accounting.commands import list_postings

    return list_postings(settings_from(args), args)


def cmd_postings_repost(args: argparse.Namespace) -> int:
    from pmsbridge.accounting.commands import repost

    return repost(settings_from(args), args)


def cmd_postings_settle(args: argparse.Namespace) -> int:
    from pmsbridge.accounting.commands import settle

    return settle(settings_from(args), args)


def cmd_resync(args: argparse.Namespace) -> int:
    from pmsbridge.adapters.fias.commands import resync

    return resync(settings_from(args), args)


def cmd_reconcile(args: argparse.Namespace) -> int:
    from pmsbridge.reconcile.commands import reconcile

    return reconcile(settings_from(args), args)


def cmd_ha_status(args: argparse.Namespace) -> int:
    from pmsbridge.ha.commands import status

    return status(settings_from(args), args)


def cmd_user(args: argparse.Namespace) -> int:
    from pmsbridge.web.commands import user_command

    return user_command(settings_from(args), args)


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=f"the configuration file (default: ${CONFIG_ENV})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pmsbridge", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler: Callable[[argparse.Namespace], int], help: str, config: bool = True,
                parent: argparse._SubParsersAction = commands, serves: bool = False) -> argparse.ArgumentParser:
        sub = parent.add_parser(name, help=help, description=help)
        if config:
            add_config_option(sub)
        # A command that serves until stopped logs what it does; one that prints its result
        # logs only warnings, or its modules' INFO lines would say the result a second time.
        sub.set_defaults(handler=handler, log_level="INFO" if serves else "WARNING")
        return sub

    command("check-config", cmd_check_config, "validate the configuration file and list every problem")
    command("migrate", cmd_migrate, "create or upgrade the ledger's database schema")
    command("run", cmd_run, "run the bridge (what systemd starts)", serves=True)
    backup = command("backup", cmd_backup, "copy the SQLite ledger, also while the service runs (PostgreSQL: pg_dump)")
    backup.add_argument("--to", required=True, metavar="FILE", help="the backup file (replaced if it exists)")
    restore = command("restore", cmd_restore, "put a backup in place of the SQLite ledger (stop the service first)")
    restore.add_argument("--from", required=True, dest="source", metavar="FILE", help="a file made by pmsbridge backup")
    demo = command("demo", cmd_demo, "run everything locally: PBX emulator, a PMS simulator, SQLite, UI",
                   config=False, serves=True)
    from pmsbridge.demo import add_arguments as add_demo_arguments

    add_demo_arguments(demo)

    ledger = commands.add_parser("ledger", help="inspect the ledger and end dead deliveries").add_subparsers(
        dest="ledger_command", required=True)
    listing = command("list", cmd_ledger_list, "list deliveries (newest first)", parent=ledger)
    listing.add_argument("--state", choices=["pending", "in_flight", "retrying", "delivered", "dead", "skipped",
                                             "dismissed"])
    listing.add_argument("--room")
    listing.add_argument("--events", action="store_true", help="list inbound events instead of deliveries")
    listing.add_argument("--limit", type=int, default=50)
    show = command("show", cmd_ledger_show, "show one delivery with its event", parent=ledger)
    show.add_argument("id", type=int)
    show.add_argument("--event", action="store_true", help="ID is an inbound event's id")
    replay = command("replay", cmd_ledger_replay, "queue dead deliveries again", parent=ledger)
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, action="append", dest="ids", help="a dead delivery's id (repeatable)")
    which.add_argument("--room")
    which.add_argument("--all-dead", action="store_true")
    dismiss = command("dismiss", cmd_ledger_dismiss,
                      "end dead deliveries with a note, then reconcile their rooms from the PBX (audited)",
                      parent=ledger)
    dismiss.add_argument("ids", type=int, nargs="+", metavar="ID", help="a dead delivery's id")
    dismiss.add_argument("--note", required=True, help="why they are dismissed, for the audit log")
    command("resend", cmd_ledger_resend, "queue what a room lacks on the PBX, from what the PBX confirmed (audited)",
            parent=ledger).add_argument("--room", required=True)
    command("remove-room", cmd_ledger_remove_room,
            "remove a room the hotel does not have from the ledger, its dead deliveries dismissed (audited)",
            parent=ledger).add_argument("room")

    postings = commands.add_parser("postings", help="charges posted to the PMS").add_subparsers(
        dest="postings_command", required=True)
    postings_list = command("list", cmd_postings_list, "list postings (newest first) and the rooms' totals",
                            parent=postings)
    postings_list.add_argument("--room")
    postings_list.add_argument("--state", choices=["queued", "sent", "posted", "refused", "unknown", "failed",
                                                   "settled"])
    postings_list.add_argument("--limit", type=int, default=50)
    command("repost", cmd_postings_repost, "send a refused, unknown or failed posting again (audited)",
            parent=postings).add_argument("id", type=int)
    postings_settle = command("settle", cmd_postings_settle,
                              "mark a refused, unknown or failed posting as handled by hand (audited)", parent=postings)
    postings_settle.add_argument("id", type=int)
    postings_settle.add_argument("--note", help="what was done, for the audit log")

    resync = command("resync", cmd_resync, "ask the PMS for a database swap, or settle one held by the guard")
    held = resync.add_mutually_exclusive_group()
    held.add_argument("--confirm", action="store_true", help="apply the database swap the guard held back")
    held.add_argument("--discard", action="store_true", help="drop the held database swap without applying it")

    reconcile = command("reconcile", cmd_reconcile,
                        "compare the PBX with the desired room state, print the drift and repair it per policy")
    reconcile.add_argument("--dry-run", action="store_true", help="only report: record nothing, queue no repairs")

    ha = commands.add_parser("ha", help="two servers, one bridge").add_subparsers(dest="ha_command", required=True)
    command("status", cmd_ha_status, "who leads, since when, the lease's age and the servers seen recently",
            parent=ha)

    users = commands.add_parser("user", help="staff users of the web interface").add_subparsers(
        dest="user_command", required=True)
    user_add = command("add", cmd_user, "add a staff user (asks the password twice)", parent=users)
    user_add.add_argument("name")
    user_add.add_argument("--role", choices=["frontdesk", "admin"], required=True)
    command("list", cmd_user, "list the staff users", parent=users)
    user_passwd = command("passwd", cmd_user, "set a user's password (ends their sessions)", parent=users)
    for sub in (user_add, user_passwd):
        sub.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    user_passwd.add_argument("name")
    command("disable", cmd_user, "disable a user (ends their sessions)", parent=users).add_argument("name")
    command("enable", cmd_user, "enable a disabled user", parent=users).add_argument("name")

    pbx = commands.add_parser("pbx", help="talk to the PBX").add_subparsers(dest="pbx_command", required=True)
    command("status", cmd_pbx_status, "log in and print model, firmware and uptime", parent=pbx)
    command("fingerprint", cmd_pbx_fingerprint, "print the SHA-256 fingerprint of the PBX certificate", parent=pbx)

    pms = commands.add_parser("pms", help="talk to a cloud PMS").add_subparsers(dest="pms_command", required=True)
    command("status", cmd_pms_status, "prove the cloud PMS credentials and property id against the PMS's API",
            parent=pms)

    sim = commands.add_parser("sim", help="run a simulator").add_subparsers(dest="sim_command", required=True)
    sim_pbx = command("pbx", cmd_sim_pbx, "run the FCM630A emulator (HTTPS)", config=False, parent=sim,
                      serves=True)
    from pmsbridge.sim.pbx.cli import add_arguments as add_emulator_arguments

    add_emulator_arguments(sim_pbx)
    sim_fias = command("fias", cmd_sim_fias, "run the FIAS PMS simulator (an IFC8-like server)", config=False,
                       parent=sim, serves=True)
    from pmsbridge.sim.fias.cli import add_arguments as add_simulator_arguments

    add_simulator_arguments(sim_fias)
    from pmsbridge.sim.cloud.cli import VENDORS as CLOUD_PMS
    from pmsbridge.sim.cloud.cli import add_arguments as add_cloud_arguments

    for vendor, (title, *_) in CLOUD_PMS.items():
        add_cloud_arguments(command(vendor, cmd_sim_cloud, f"run the {title} cloud PMS simulator (HTTP)",
                                    config=False, parent=sim), vendor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pmsbridge.logs import setup_logging

    setup_logging("DEBUG" if args.verbose else args.log_level)
    try:
        code = args.handler(args)
        # Written out here, inside the try, so that a reader gone away is handled below.
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader stopped reading (`pmsbridge ledger list | head`): nothing is wrong with
        # the command. Point stdout at /dev/null so the interpreter's last flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except ConfigError as err:
        print("The configuration has problems:", file=sys.stderr)
        for problem in err.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except CommandError as err:
        print(f"pmsbridge: {err}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
