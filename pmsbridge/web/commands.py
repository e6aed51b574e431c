"""``pmsbridge user add|list|passwd|disable|enable``: the web interface's staff accounts.

Passwords are asked twice on the terminal (never echoed), or read from the first line of
standard input with ``--password-stdin`` (for provisioning scripts).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from pmsbridge.command_errors import CommandError
from pmsbridge.config import Settings
from pmsbridge.ledger.commands import ACTOR, open_ledger
from pmsbridge.ledger.store import Ledger
from pmsbridge.users import UserError, UserStore, check_new_name, normalise_name


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    try:
        first = getpass.getpass("Password: ")
        second = getpass.getpass("Password (again): ")
    except EOFError:
        raise CommandError("no terminal to ask the password on: use --password-stdin") from None
    if first != second:
        raise CommandError("the two passwords differ")
    return first


def user_command(settings: Settings, args: argparse.Namespace) -> int:
    ledger = open_ledger(settings)
    try:
        return _run(ledger, UserStore(ledger.engine), args)
    except UserError as err:
        raise CommandError(str(err)) from None
    finally:
        ledger.engine.dispose()


def _run(ledger: Ledger, users: UserStore, args: argparse.Namespace) -> int:
    command = args.user_command
    if command == "list":
        print(f"{'name':24} {'role':10} {'state':10} last login (UTC)")
        for account in users.accounts():
            state = "disabled" if account.disabled else "active"
            last = f"{account.last_login_at:%Y-%m-%d %H:%M}" if account.last_login_at else "never"
            print(f"{account.name:24} {account.role:10} {state:10} {last}")
        return 0
    name = check_new_name(args.name) if command == "add" else normalise_name(args.name)
    exists = users.get(name) is not None
    # Said before the password is asked, not after it was typed twice.
    if command == "add" and exists:
        raise UserError(f"user {name} already exists")
    if command != "add" and not exists:
        raise UserError(f"there is no user {name}")
    if command == "add":
        account = users.add(name, args.role, read_password(args.password_stdin))
        ledger.audit(ACTOR, "user added", detail=f"user {account.name} ({account.role})")
        print(f"user {account.name} ({account.role}) added")
    elif command == "passwd":
        users.set_password(name, read_password(args.password_stdin))
        ledger.audit(ACTOR, "password set", detail=f"user {name}")
        print(f"password of {name} changed; their open sessions have ended")
    else:
        users.set_disabled(name, command == "disable")
        ledger.audit(ACTOR, f"user {command}d", detail=f"user {name}")
        print(f"user {name} {command}d")
    return 0
