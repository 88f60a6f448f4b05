"""SimPy production lines with an exact ground truth.

``Simulation(plant, seed=…)`` builds every line of a plant; ``run`` goes as
fast as it can, ``run_live`` paces against the wall clock from asyncio, and
``truth()`` returns the ISO 22400-2 time elements and counts per machine and
window that every downstream KPI is checked against.
"""

from ._machine import MachineSim
from ._signals import signals
from ._simulation import REFERENCE_DAY, LineSim, Simulation, default_start
from ._truth import FORMAT as TRUTH_FORMAT

__all__ = ["REFERENCE_DAY", "TRUTH_FORMAT", "LineSim", "MachineSim", "Simulation", "default_start", "signals"]
