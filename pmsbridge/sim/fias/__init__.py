"""A simulated hotel PMS speaking FIAS over TCP (an Oracle IFC8-like interface), for tests and the demo."""

from pmsbridge.sim.fias.hotel import Guest, Hotel
from pmsbridge.sim.fias.options import SimulatorOptions
from pmsbridge.sim.fias.script import ScriptError
from pmsbridge.sim.fias.simulator import FiasSimulator

__all__ = ["FiasSimulator", "Guest", "Hotel", "ScriptError", "SimulatorOptions"]
