"""The ``pmsbridge`` command.

Each sub-command is a small function taking the parsed arguments and returning an exit
code. Expected failures (a bad configuration, an unreachable PBX) are printed as one
sentence on stderr with exit code 2 or 1, never as a stack trace.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from pmsbridge.config import CONFIG_ENV, ConfigError, Settings, load_settings

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


class CommandError(Exception):
    """Raised by a command for an expected failure; the message is shown to the operator."""


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    print(f"{args.config or 'configuration'}: OK")
    for name in sorted(settings.adapter_settings):
        print(f"  adapter {name}: configured")
    return EXIT_OK


def cmd_pbx_status(args: argparse.Namespace) -> int:
    from pmsbridge.pbx.commands import print_status

    return print_status(settings_from(args))


def cmd_pbx_fingerprint(args: argparse.Namespace) -> int:
    from pmsbridge.pbx.commands import print_fingerprint

    return print_fingerprint(settings_from(args))


def cmd_sim_pbx(args: argparse.Namespace) -> int:
    from pmsbridge.sim.pbx.cli import run_emulator

    return run_emulator(args)


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
                parent: argparse._SubParsersAction = commands) -> argparse.ArgumentParser:
        sub = parent.add_parser(name, help=help, description=help)
        if config:
            add_config_option(sub)
        sub.set_defaults(handler=handler)
        return sub

    command("check-config", cmd_check_config, "validate the configuration file and list every problem")

    pbx = commands.add_parser("pbx", help="talk to the PBX").add_subparsers(dest="pbx_command", required=True)
    command("status", cmd_pbx_status, "log in and print model, firmware and uptime", parent=pbx)
    command("fingerprint", cmd_pbx_fingerprint, "print the SHA-256 fingerprint of the PBX certificate", parent=pbx)

    sim = commands.add_parser("sim", help="run a simulator").add_subparsers(dest="sim_command", required=True)
    sim_pbx = command("pbx", cmd_sim_pbx, "run the FCM630A emulator (HTTPS)", config=False, parent=sim)
    from pmsbridge.sim.pbx.cli import add_arguments as add_emulator_arguments

    add_emulator_arguments(sim_pbx)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pmsbridge.logs import setup_logging

    setup_logging("DEBUG" if args.verbose else "INFO")
    try:
        return args.handler(args)
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
