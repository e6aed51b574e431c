"""``pmsbridge sim pbx``: run the FCM630A emulator in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from pmsbridge.command_errors import CommandError
from pmsbridge.ports import is_address_in_use, port_in_use
from pmsbridge.sim.pbx.emulator import PbxEmulator
from pmsbridge.sim.pbx.options import EmulatorOptions

DEFAULTS = EmulatorOptions()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The emulator's options on the ``sim pbx`` sub-command."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8089, help="HTTPS port (default: %(default)s)")
    parser.add_argument("--rooms", type=int, default=100,
                        help="number of rooms, numbered from 101 (default: %(default)s)")
    parser.add_argument("--extension-template", default="{room}",
                        help='extension of each room, e.g. "1{room}" (default: %(default)s)')
    parser.add_argument("--username", default=DEFAULTS.username, help="API user (default: %(default)s)")
    parser.add_argument("--password", default=DEFAULTS.password, help="API password (default: %(default)s)")
    parser.add_argument("--pms-username", default=DEFAULTS.pms_username, help="PMS API user (default: %(default)s)")
    parser.add_argument("--pms-password", default=DEFAULTS.pms_password,
                        help="PMS API password (default: %(default)s)")
    parser.add_argument("--rate-limit", type=float, default=None, metavar="PER_SECOND",
                        help="requests per second per client before answering -45 (default: no limit)")
    parser.add_argument("--timezone", default=None,
                        help="the PBX's local time for its call records, e.g. Europe/Berlin (default: the system's)")
    parser.add_argument("--vip-codes", default=None, metavar="CODES",
                        help='the only VIP codes taken, e.g. "0,1" as on some units (default: any digits)')
    parser.add_argument("--random-calls", type=float, default=None, metavar="SECONDS",
                        help="make a random call (and ring due wake-ups) every SECONDS (default: no traffic)")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="keep the certificate here, so its fingerprint survives restarts "
                             "(default: a temporary directory)")


def run_emulator(args: argparse.Namespace) -> int:
    """Start the emulator, print how to reach it, serve until interrupted; returns 0."""
    try:
        options = EmulatorOptions(
            host=args.host,
            port=args.port,
            rooms=args.rooms,
            extension_template=args.extension_template,
            username=args.username,
            password=args.password,
            pms_username=args.pms_username,
            pms_password=args.pms_password,
            rate_limit=args.rate_limit,
            state_dir=args.state_dir,
            timezone=args.timezone,
            vip_codes=tuple(code.strip() for code in args.vip_codes.split(",")) if args.vip_codes else None,
        )
        if args.random_calls is not None and args.random_calls <= 0:
            raise ValueError("--random-calls must be a positive number of seconds")
    except ValueError as err:
        raise CommandError(str(err)) from err
    emulator = PbxEmulator(options)
    try:
        emulator.start()
    except OSError as err:
        if is_address_in_use(err):
            raise CommandError(port_in_use(args.port, "the PBX emulator", "choose another with --port PORT")) from None
        raise CommandError(f"cannot start the emulator on {args.host}:{args.port}: {err.strerror or err}") from err
    stop_requested = threading.Event()
    # The handler only sets a flag; the main thread does the stopping.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop_requested.set())
    try:
        with emulator:
            if args.random_calls is not None:
                emulator.start_random_activity(args.random_calls)
            print_banner(emulator, args)
            try:
                while not stop_requested.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def print_banner(emulator: PbxEmulator, args: argparse.Namespace) -> None:
    options = emulator.options
    rooms = list(emulator.state.rooms)
    print(f"FCM630A emulator listening on {emulator.url}/api")
    print(f"  certificate fingerprint: {emulator.fingerprint}")
    print(f"  certificate file:        {emulator.cert_path}")
    if rooms:
        first, last = rooms[0], rooms[-1]
        print(f"  rooms {first}..{last}, extensions {emulator.state.rooms[first].extension}.."
              f"{emulator.state.rooms[last].extension}")
    defaults = (args.password, args.pms_password) == (DEFAULTS.password, DEFAULTS.pms_password)
    where = "the demo defaults (see --help)" if defaults else "as given on the command line"
    print(f"  API user {options.username!r}, PMS user {options.pms_username!r}; passwords: {where}")
    print("  for the bridge's configuration:")
    print("    [pbx]")
    print(f'    url = "{emulator.url}"')
    print(f'    tls_fingerprint = "{emulator.fingerprint}"')
    print(f"  state: GET {emulator.url}/sim/state   faults: POST {emulator.url}/sim/faults")
    print(f"  calls: POST {emulator.url}/sim/calls"
          + (f" (random calls every {args.random_calls:g} s)" if args.random_calls else ""))
    print("Press Ctrl-C to stop.", flush=True)
