"""A Mews Connector API simulator (see ``simulator``)."""

from pmsbridge.sim.mews.simulator import MewsOptions, MewsSimulator

__all__ = ["MewsOptions", "MewsSimulator"]
