"""``pmsbridge demo``: the whole bridge on one machine, with nothing to configure.

Starts the PBX emulator and a FIAS PMS simulator whose guests come and go at random,
writes a configuration for them (``<state-dir>/pmsbridge.toml``, usable with every other
command, e.g. ``pmsbridge ledger list --config ...``), migrates a SQLite ledger and runs
the service with its web interface until Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

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

[adapters.fias]
mode = "client"
host = "127.0.0.1"
port = {fias_port}
encoding = "cp1252"
"""


def run_demo(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    options = EmulatorOptions(port=DEMO_PBX_PORT, rooms=DEMO_ROOMS, extension_template="1{room}",
                              state_dir=state_dir / "pbx")
    rooms = [str(100 + number) for number in range(1, DEMO_ROOMS + 1)]
    pms = FiasSimulator(SimulatorOptions(port=DEMO_FIAS_PORT, rooms=rooms, encoding="cp1252"))
    with PbxEmulator(options) as emulator, pms:
        print(f"PBX emulator on {emulator.url} (certificate {emulator.fingerprint})")
        print(f"FIAS PMS simulator on 127.0.0.1:{pms.port}; guests arrive every few seconds")
        config_path = state_dir / "pmsbridge.toml"
        config_path.write_text(demo_config(state_dir, emulator, options, pms.port, args.listen), encoding="utf-8")
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
