"""``pmsbridge demo``: the whole bridge on one machine, with nothing to configure.

Starts the PBX emulator and a PMS simulator whose guests come and go at random (FIAS, or with
``--pms mews|apaleo|cloudbeds`` that cloud PMS's simulator, which sends its webhooks to the
bridge's web server), writes a configuration for them (``<state-dir>/pmsbridge.toml``, usable
with every other command, e.g. ``pmsbridge ledger list --config ...``), migrates a SQLite
ledger and runs the service with its web interface until Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
from contextlib import AbstractContextManager
from importlib import import_module
from pathlib import Path
from typing import Any

from pmsbridge.config import load_settings
from pmsbridge.ledger.database import create_ledger_engine, migrate
from pmsbridge.sim.fias import FiasSimulator, SimulatorOptions
from pmsbridge.sim.pbx import EmulatorOptions, PbxEmulator
from pmsbridge.users import UserStore

log = logging.getLogger(__name__)

DEMO_PBX_PORT = 8089
DEMO_FIAS_PORT = 5010
DEMO_ROOMS = 40
# Seconds between two random guest actions of the simulated PMS.
DEMO_ACTIVITY_INTERVAL = 4.0
DEMO_USER, DEMO_PASSWORD = "demo", "demo-password"
# A cloud simulator starts with this many guests in house.
DEMO_IN_HOUSE = 12
DEMO_WEBHOOK_TOKEN = "demo-webhook-token"


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

{pms_section}"""


def fias_section(port: int) -> str:
    return f"""[adapters.fias]
mode = "client"
host = "127.0.0.1"
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


def cloud_simulator(vendor: str, rooms: int, webhook_url: str) -> Any:
    """A cloud PMS simulator of ``vendor`` on its usual port (as ``pmsbridge sim <vendor>``), not started."""
    from pmsbridge.sim.cloud.cli import VENDORS

    _, port, module_name, simulator_name, options_name = VENDORS[vendor]
    module = import_module(module_name)
    options = getattr(module, options_name)(port=port, rooms=rooms, in_house=DEMO_IN_HOUSE, webhook_url=webhook_url)
    return getattr(module, simulator_name)(options)


def run_demo(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    options = EmulatorOptions(port=DEMO_PBX_PORT, rooms=DEMO_ROOMS, extension_template="1{room}",
                              state_dir=state_dir / "pbx")
    vendor = args.pms
    pms: AbstractContextManager
    if vendor == "fias":
        rooms = [str(100 + number) for number in range(1, DEMO_ROOMS + 1)]
        pms = FiasSimulator(SimulatorOptions(port=DEMO_FIAS_PORT, rooms=rooms, encoding="cp1252"))
    else:
        pms = cloud_simulator(vendor, DEMO_ROOMS, f"http://{args.listen}/pms/{vendor}/{DEMO_WEBHOOK_TOKEN}")
    with PbxEmulator(options) as emulator, pms:
        print(f"PBX emulator on {emulator.url} (certificate {emulator.fingerprint})")
        if vendor == "fias":
            section = fias_section(pms.port)
            print(f"FIAS PMS simulator on 127.0.0.1:{pms.port}; guests arrive every few seconds")
        else:
            section = cloud_section(vendor, pms.credentials(), pms.url)
            print(f"{pms.title} simulator on {pms.url} (control: {pms.url}/sim/state); guests arrive every few "
                  "seconds and its webhooks go to the bridge")
        config_path = state_dir / "pmsbridge.toml"
        config_path.write_text(demo_config(state_dir, emulator, options, section, args.listen), encoding="utf-8")
        settings = load_settings(config_path)
        engine = create_ledger_engine(settings.bridge.effective_database_url)
        migrate(engine)
        users = UserStore(engine)
        if users.get(DEMO_USER) is None:
            users.add(DEMO_USER, "admin", DEMO_PASSWORD)
        engine.dispose()

        from pmsbridge.service import build

        service = build(settings)
        pms.start_random_activity(interval=DEMO_ACTIVITY_INTERVAL)
        host, port = settings.web.host_port
        print(f"pmsbridge demo: open http://{host}:{port} and log in as {DEMO_USER} / {DEMO_PASSWORD}")
        print(f"  configuration: {config_path}; Ctrl-C stops")
        service.run_until_signalled()
        pms.stop_random_activity()
    return 0
