"""An Apaleo simulator (see ``simulator``)."""

from pmsbridge.sim.apaleo.simulator import ApaleoOptions, ApaleoSimulator

__all__ = ["ApaleoOptions", "ApaleoSimulator"]
