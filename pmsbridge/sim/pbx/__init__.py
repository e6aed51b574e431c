"""An emulated FCM630A IP PBX speaking the HTTPS API (``/api``) for tests, the demo and benchmarks."""

from pmsbridge.sim.pbx.emulator import PbxEmulator, RequestRecord
from pmsbridge.sim.pbx.options import EmulatorOptions, Faults

__all__ = ["EmulatorOptions", "Faults", "PbxEmulator", "RequestRecord"]
