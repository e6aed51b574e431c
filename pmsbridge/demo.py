"""``pmsbridge demo``: the whole bridge on one machine, with nothing to configure.

Starts the PBX emulator (with random calls, some of them grouped as transfers) and a FIAS
PMS simulator whose guests come and go at random, writes a configuration for them
(``<state-dir>/pmsbridge.toml``, usable with every other command, e.g.
``pmsbridge ledger list --config ...``), migrates a SQLite ledger and runs the service with
its web interface and call accounting until Ctrl-C.

Every start is a fresh hotel: the emulator and the simulator keep their guests in memory
only, so the ledger of the previous run (whose guests they no longer know) is removed
first; otherwise the bridge would send check-outs and moves for guests the PBX never saw,
and they would go dead. What survives a restart is what no guest depends on: the
emulator's certificate (its fingerprint stays the same), the web interface's secret key and
the demo login.

The three ports are options (``--listen``, ``--pbx-port``, ``--fias-port``); a port another
program holds ends the command with one sentence naming it and its option, before anything
starts.
"""

from __future__ import annotations

import argparse
import logging
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import ValidationError

from pmsbridge.accounting.cdr import SINCE_KEY
from pmsbridge.backup import SIDE_FILES
from pmsbridge.command_errors import EXIT_OK, CommandError
from pmsbridge.config import Settings, WebSettings, load_settings
from pmsbridge.ledger.commands import open_ledger
from pmsbridge.ledger.database import create_ledger_engine, migrate
from pmsbridge.ports import is_address_in_use, is_in_use, port_argument, port_in_use
from pmsbridge.runlock import AlreadyRunning, RunLock
from pmsbridge.sim.fias import FiasSimulator, SimulatorOptions
from pmsbridge.sim.pbx import EmulatorOptions, PbxEmulator
from pmsbridge.users import UserStore

log = logging.getLogger(__name__)

DEMO_STATE_DIR = "var/demo"
DEMO_LISTEN = "127.0.0.1:8080"
DEMO_PBX_PORT = 8089
DEMO_FIAS_PORT = 5010
# The simulators listen here only: the demo is for the machine it runs on.
DEMO_HOST = "127.0.0.1"
DEMO_ROOMS = 40
# Seconds between two random guest actions of the simulated PMS, and between two calls.
DEMO_ACTIVITY_INTERVAL = 4.0
DEMO_USER, DEMO_PASSWORD = "demo", "demo-password"
LEDGER_FILE = "ledger.db"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's options on the ``demo`` sub-command (``make demo DEMO_ARGS="..."`` passes them)."""
    parser.add_argument("--state-dir", default=DEMO_STATE_DIR,
                        help="where the demo keeps its ledger, certificate and configuration (default: %(default)s)")
    parser.add_argument("--listen", default=DEMO_LISTEN, metavar="HOST:PORT",
                        help="the web interface's address (default: %(default)s)")
    parser.add_argument("--pbx-port", type=port_argument, default=DEMO_PBX_PORT, metavar="PORT",
                        help="the PBX emulator's HTTPS port on 127.0.0.1 (default: %(default)s)")
    parser.add_argument("--fias-port", type=port_argument, default=DEMO_FIAS_PORT, metavar="PORT",
                        help="the FIAS PMS simulator's port on 127.0.0.1 (default: %(default)s)")
    parser.add_argument("--activity-interval", type=float, default=DEMO_ACTIVITY_INTERVAL, metavar="SECONDS",
                        help="seconds between two random guest actions, and between two calls (default: %(default)s)")


def demo_config(state_dir: Path, emulator: PbxEmulator, options: EmulatorOptions, fias_port: int,
                listen: str) -> str:
    return f"""# Written by `pmsbridge demo`; the PBX is the built-in emulator.
[bridge]
demo = true
state_dir = "{state_dir}"
timezone = "Europe/Berlin"

[pbx]
url = "{emulator.url}"
username = "{options.username}"
password = "{options.password}"
pms_username = "{options.pms_username}"
pms_password = "{options.pms_password}"
tls_fingerprint = "{emulator.fingerprint}"

[rooms]
extension_template = "{options.extension_template}"
rooms = ["101-{100 + options.rooms}"]

[web]
listen = "{listen}"

[accounting]
enabled = true
poll_interval_seconds = 5
currency = "EUR"
free_numbers = ["110", "112", "0800*"]
tariffs = [
    {{ prefix = "00", name = "International", connection_fee = 50, unit_price = 120, free_seconds = 5 }},
    {{ prefix = "01", name = "Mobile", connection_fee = 20, unit_price = 40, free_seconds = 5 }},
    {{ prefix = "0", name = "National", connection_fee = 20, unit_price = 10, unit_seconds = 30, free_seconds = 5 }},
    {{ prefix = "", name = "Local", unit_price = 10, unit_seconds = 120, free_seconds = 5 }},
]

[adapters.fias]
mode = "client"
host = "{DEMO_HOST}"
port = {fias_port}
encoding = "cp1252"
"""


def web_address(listen: str) -> tuple[str, int]:
    try:
        return WebSettings(listen=listen).host_port
    except ValidationError:
        raise CommandError(f"--listen {listen!r} is not HOST:PORT, e.g. 127.0.0.1:9000") from None


def check_ports(args: argparse.Namespace) -> None:
    """CommandError naming every port of the demo that another program holds, and its option."""
    web_host, web_port = web_address(args.listen)
    wanted = (
        (web_host, web_port, "the web interface", f"--listen {web_host}:PORT"),
        (DEMO_HOST, args.pbx_port, "the PBX emulator", "--pbx-port PORT"),
        (DEMO_HOST, args.fias_port, "the FIAS PMS simulator", "--fias-port PORT"),
    )
    busy = [port_in_use(port, what, f'choose another with {option} (make demo DEMO_ARGS="{option}")')
            for host, port, what, option in wanted if is_in_use(host, port)]
    if busy:
        raise CommandError("; ".join(busy))


def start_fresh(state_dir: Path) -> None:
    """Remove the previous run's ledger (see the module docstring); refuse while a demo runs on it."""
    try:
        with RunLock(state_dir, purpose="pmsbridge demo"):
            for suffix in ("", *SIDE_FILES):
                (state_dir / f"{LEDGER_FILE}{suffix}").unlink(missing_ok=True)
    except AlreadyRunning as err:
        raise CommandError(f"{err}, or give this demo another --state-dir") from None


def prepare_ledger(settings: Settings) -> None:
    """Migrate the fresh ledger, add the demo login, and charge every call the emulator records.

    The collector charges only calls that started after it first ran, and the emulator
    records a call when it ends, dated back by its length: a demo would post nothing for
    its first quarter of an hour. The emulator started empty with this ledger, so every call
    it holds is the demo's own: accounting starts from a lookback before now.
    """
    engine = create_ledger_engine(settings.bridge.effective_database_url)
    migrate(engine)
    engine.dispose()
    ledger = open_ledger(settings)
    try:
        UserStore(ledger.engine).add(DEMO_USER, "admin", DEMO_PASSWORD)
        started = datetime.now(settings.bridge.zone).replace(tzinfo=None, microsecond=0)
        ledger.set_value(SINCE_KEY, (started - timedelta(minutes=settings.accounting.lookback_minutes)).isoformat())
    finally:
        ledger.engine.dispose()


def run_demo(args: argparse.Namespace) -> int:
    if args.activity_interval <= 0:
        raise CommandError("--activity-interval must be a positive number of seconds")
    state_dir = Path(args.state_dir).resolve()
    check_ports(args)
    start_fresh(state_dir)
    options = EmulatorOptions(host=DEMO_HOST, port=args.pbx_port, rooms=DEMO_ROOMS, extension_template="1{room}",
                              state_dir=state_dir / "pbx", timezone="Europe/Berlin")
    rooms = [str(100 + number) for number in range(1, DEMO_ROOMS + 1)]
    pms = FiasSimulator(SimulatorOptions(host=DEMO_HOST, port=args.fias_port, rooms=rooms, encoding="cp1252"))
    with PbxEmulator(options) as emulator, pms:
        print(f"PBX emulator on {emulator.url} (certificate {emulator.fingerprint})")
        print(f"FIAS PMS simulator on {DEMO_HOST}:{pms.port}; guests arrive every few seconds")
        config_path = state_dir / "pmsbridge.toml"
        config_path.write_text(demo_config(state_dir, emulator, options, pms.port, args.listen), encoding="utf-8")
        settings = load_settings(config_path)
        prepare_ledger(settings)

        from pmsbridge.service import build

        service = build(settings)
        pms.start_random_activity(interval=args.activity_interval)
        emulator.start_random_activity(interval=args.activity_interval)
        host, port = settings.web.host_port
        print(f"pmsbridge demo: open http://{host}:{port} and log in as {DEMO_USER} / {DEMO_PASSWORD}")
        print(f"  configuration: {config_path}; every start begins with an empty hotel; Ctrl-C stops", flush=True)
        try:
            service.run_until_signalled()
        except OSError as err:
            if not is_address_in_use(err):
                raise
            raise CommandError(port_in_use(port, "the web interface", f"choose another with --listen {host}:PORT")) \
                from None
        finally:
            emulator.stop_random_activity()
            pms.stop_random_activity()
    return EXIT_OK
