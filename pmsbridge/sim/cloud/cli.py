"""``pmsbridge sim mews|apaleo|cloudbeds``: run a cloud PMS simulator until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading
from importlib import import_module
from typing import TYPE_CHECKING

from pmsbridge.cli import CommandError

if TYPE_CHECKING:
    from pmsbridge.sim.cloud.simulator import CloudPmsSimulator

# sub-command -> (vendor name, default port, module, simulator class, options class)
VENDORS = {
    "mews": ("Mews", 8091, "pmsbridge.sim.mews", "MewsSimulator", "MewsOptions"),
    "apaleo": ("Apaleo", 8092, "pmsbridge.sim.apaleo", "ApaleoSimulator", "ApaleoOptions"),
    "cloudbeds": ("Cloudbeds", 8093, "pmsbridge.sim.cloudbeds", "CloudbedsSimulator", "CloudbedsOptions"),
}


def add_arguments(parser: argparse.ArgumentParser, vendor: str) -> None:
    """The simulator's options on the ``sim <vendor>`` sub-command."""
    parser.set_defaults(vendor=vendor)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=VENDORS[vendor][1], help="HTTP port (default: %(default)s)")
    parser.add_argument("--webhook-url", default=None, metavar="URL",
                        help="push the thin webhooks here (default: none are sent)")
    parser.add_argument("--random", nargs="?", type=float, const=2.0, default=None, metavar="SECONDS",
                        help="random check-ins, moves, renames, check-outs... every SECONDS (default 2)")
    parser.add_argument("--seed", type=int, default=None, help="make the hotel and the random activity repeatable")
    parser.add_argument("--rooms", type=int, default=20, help="number of rooms, named from 101 (default: %(default)s)")
    parser.add_argument("--in-house", type=int, default=6, help="guests in house at start (default: %(default)s)")
    parser.add_argument("--arrivals", type=int, default=3, help="arrivals due today at start (default: %(default)s)")
    parser.add_argument("--token-lifetime", type=float, default=3600.0, metavar="SECONDS",
                        help="lifetime of the access tokens it issues (default: %(default)s)")
    parser.add_argument("--rate-limit", type=int, default=None, metavar="REQUESTS",
                        help="requests per --rate-window per credential before 429 (default: the vendor's; 0: none)")
    parser.add_argument("--rate-window", type=float, default=None, metavar="SECONDS",
                        help="the window of --rate-limit (default: the vendor's)")


def run_simulator(args: argparse.Namespace) -> int:
    """Start the simulator, print how to reach it, serve until interrupted; returns 0."""
    title, _, module_name, simulator_name, options_name = VENDORS[args.vendor]
    module = import_module(module_name)
    settings = {"host": args.host, "port": args.port, "webhook_url": args.webhook_url, "seed": args.seed,
                "rooms": args.rooms, "in_house": args.in_house, "arrivals": args.arrivals,
                "token_lifetime": args.token_lifetime}
    if args.rate_limit is not None:
        settings["rate_limit"] = args.rate_limit or None
    if args.rate_window is not None:
        settings["rate_window"] = args.rate_window
    try:
        options = getattr(module, options_name)(**settings)
        if args.random is not None and args.random <= 0:
            raise ValueError("--random needs a positive number of seconds")
    except ValueError as err:
        raise CommandError(str(err)) from err
    simulator = getattr(module, simulator_name)(options)
    try:
        simulator.start()
    except OSError as err:
        raise CommandError(f"cannot start the {title} simulator on {args.host}:{args.port}: "
                           f"{err.strerror or err}") from err
    stop_requested = threading.Event()
    # The handler only sets a flag; the main thread does the stopping.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop_requested.set())
    try:
        with simulator:
            if args.random is not None:
                simulator.start_random_activity(args.random, args.seed)
            print_banner(simulator, title, args)
            try:
                while not stop_requested.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def print_banner(simulator: CloudPmsSimulator, title: str, args: argparse.Namespace) -> None:
    snapshot = simulator.snapshot()
    rooms = snapshot["rooms"]
    print(f"{title} simulator listening on {snapshot['url']}")
    print(f"  rooms {rooms[0]['name']}..{rooms[-1]['name']}, {len(snapshot['in_house'])} in house")
    for name, value in snapshot["credentials"].items():
        print(f"  {name}: {value}")
    webhooks = snapshot["webhooks"]["url"] or "none (set one with --webhook-url or POST /sim/webhooks)"
    print(f"  webhooks to: {webhooks}")
    print(f"  state: GET {snapshot['url']}/sim/state   faults: POST {snapshot['url']}/sim/faults   "
          f"front desk: POST {snapshot['url']}/sim/actions")
    if args.random is not None:
        print(f"  random activity every {args.random:g} s")
    print("Press Ctrl-C to stop.", flush=True)
