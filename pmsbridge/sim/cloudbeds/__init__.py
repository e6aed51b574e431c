"""A Cloudbeds API simulator (see ``simulator``)."""

from pmsbridge.sim.cloudbeds.simulator import CloudbedsOptions, CloudbedsSimulator

__all__ = ["CloudbedsOptions", "CloudbedsSimulator"]
