"""``pmsbridge demo``: the whole bridge on one machine, with nothing to configure.

Starts the PBX emulator (with random calls, some of them grouped as transfers) and a PMS
simulator whose guests come and go at random (FIAS, or with ``--pms mews|apaleo|cloudbeds``
that cloud PMS's simulator, which sends its webhooks to the bridge's web server), writes a
configuration for them (``<state-dir>/pmsbridge.toml``, usable with every other command, e.g.
``pmsbridge ledger list --config ...``), migrates a SQLite ledger and runs the service with
its web interface and call accounting until Ctrl-C.

Every start is a fresh hotel: the emulator and the simulator keep their guests in memory
only, so the ledger of the previous run (whose guests they no longer know) is removed
first; otherwise the bridge would send check-outs and moves for guests the PBX never saw,
and they would go dead. What survives a restart is what no guest depends on: the
emulator's certificate (its fingerprint stays the same), the web interface's secret key and
the demo login.

The ports are options (``--listen``, ``--pbx-port``, ``--fias-port``, ``--cloud-port``); a
port another program holds ends the command with one sentence naming it and its option,
before anything starts.
"""

from __future__ import annotations

import argparse
import logging
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from importlib import import_module
from pathlib import Path
from typing import Any

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
# A cloud simulator starts with this many guests in house.
DEMO_IN_HOUSE = 12
DEMO_WEBHOOK_TOKEN = "demo-webhook-token"
PMS_CHOICES = ("fias", "mews", "apaleo", "cloudbeds")


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
    parser.add_argument("--pms", choices=PMS_CHOICES, default="fias",
                        help="the PMS to simulate (default: %(default)s)")
    parser.add_argument("--cloud-port", type=port_argument, default=None, metavar="PORT",
                        help="the cloud PMS simulator's HTTP port on 127.0.0.1 (default: 8091 Mews, 8092 Apaleo, "
                             "8093 Cloudbeds)")
    parser.add_argument("--activity-interval", type=float, default=DEMO_ACTIVITY_INTERVAL, metavar="SECONDS",
                        help="seconds between two random guest actions, and between two calls (default: %(default)s)")


def demo_config(state_dir: Path, emulator: PbxEmulator, options: EmulatorOptions, pms_section: str,
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

{pms_section}"""


def fias_section(port: int) -> str:
    return f"""[adapters.fias]
mode = "client"
host = "{DEMO_HOST}"
port = {port}
encoding = "cp1252"
"""


def cloud_section(vendor: str, credentials: dict[str, Any], url: str) -> str:
    """The ``[adapters.<vendor>]`` section that reaches a running cloud PMS simulator."""
    lines = [f"[adapters.{vendor}]", f'webhook_tokens = ["{DEMO_WEBHOOK_TOKEN}"]', "poll_interval_seconds = 60"]
    if vendor == "mews":
        lines += [f'api_url = "{url}"', f'client_token = "{credentials["client_token"]}"',
                  f'access_token = "{credentials["access_token"]}"',
                  f'enterprise_id = "{credentials["enterprise_id"]}"',
                  f'posting_service_id = "{credentials["service_id"]}"']
    elif vendor == "apaleo":
        lines += [f'api_url = "{url}"', f'token_url = "{url}/connect/token"',
                  f'client_id = "{credentials["client_id"]}"', f'client_secret = "{credentials["client_secret"]}"',
                  f'property_id = "{credentials["property_id"]}"']
    else:
        lines += [f'api_url = "{credentials["api_url"]}"', f'api_key = "{credentials["api_key"]}"',
                  f'property_id = "{credentials["property_id"]}"']
    return "\n".join(lines) + "\n"


def cloud_port(args: argparse.Namespace) -> int:
    """The cloud PMS simulator's port: ``--cloud-port``, else its usual one (as ``pmsbridge sim <vendor>``)."""
    from pmsbridge.sim.cloud.cli import VENDORS

    return args.cloud_port if args.cloud_port is not None else VENDORS[args.pms][1]


def cloud_simulator(vendor: str, rooms: int, webhook_url: str, port: int) -> Any:
    """A cloud PMS simulator of ``vendor`` on ``port``, not started."""
    from pmsbridge.sim.cloud.cli import VENDORS

    _, _, module_name, simulator_name, options_name = VENDORS[vendor]
    module = import_module(module_name)
    options = getattr(module, options_name)(host=DEMO_HOST, port=port, rooms=rooms, in_house=DEMO_IN_HOUSE,
                                            webhook_url=webhook_url)
    return getattr(module, simulator_name)(options)


def web_address(listen: str) -> tuple[str, int]:
    try:
        return WebSettings(listen=listen).host_port
    except ValidationError:
        raise CommandError(f"--listen {listen!r} is not HOST:PORT, e.g. 127.0.0.1:9000") from None


def check_ports(args: argparse.Namespace) -> None:
    """CommandError naming every port of the demo that another program holds, and its option."""
    web_host, web_port = web_address(args.listen)
    pms = ((DEMO_HOST, args.fias_port, "the FIAS PMS simulator", "--fias-port PORT") if args.pms == "fias"
           else (DEMO_HOST, cloud_port(args), f"the {args.pms} simulator", "--cloud-port PORT"))
    wanted = (
        (web_host, web_port, "the web interface", f"--listen {web_host}:PORT"),
        (DEMO_HOST, args.pbx_port, "the PBX emulator", "--pbx-port PORT"),
        pms,
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
    vendor = args.pms
    pms: AbstractContextManager
    if vendor == "fias":
        rooms = [str(100 + number) for number in range(1, DEMO_ROOMS + 1)]
        pms = FiasSimulator(SimulatorOptions(host=DEMO_HOST, port=args.fias_port, rooms=rooms, encoding="cp1252"))
    else:
        webhook_url = f"http://{args.listen}/pms/{vendor}/{DEMO_WEBHOOK_TOKEN}"
        pms = cloud_simulator(vendor, DEMO_ROOMS, webhook_url, cloud_port(args))
    with PbxEmulator(options) as emulator, pms:
        print(f"PBX emulator on {emulator.url} (certificate {emulator.fingerprint})")
        if vendor == "fias":
            section = fias_section(pms.port)
            print(f"FIAS PMS simulator on {DEMO_HOST}:{pms.port}; guests arrive every few seconds")
        else:
            section = cloud_section(vendor, pms.credentials(), pms.url)
            print(f"{pms.title} simulator on {pms.url} (control: {pms.url}/sim/state); guests arrive every few "
                  "seconds and its webhooks go to the bridge")
        config_path = state_dir / "pmsbridge.toml"
        config_path.write_text(demo_config(state_dir, emulator, options, section, args.listen), encoding="utf-8")
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
