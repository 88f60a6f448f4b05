"""SimPy production lines with an exact ground truth, served live over OPC UA and MQTT.

``Simulation(plant, seed=…)`` builds every line of a plant; ``run`` goes as
fast as it can, ``run_live`` paces against the wall clock from asyncio, and
``truth()`` returns the ISO 22400-2 time elements and counts per machine and
window that every downstream KPI is checked against. ``LiveRun`` serves a
running simulation through protocol adapters (``MqttMachines``, …).
"""

from shopfloor.telemetry import CounterSample

from ._commands import Accepted, Refused
from ._commands import clear as clear_event
from ._commands import inject as inject_event
from ._control import MqttControl
from ._feed import Feed, MachineUpdate, StateEvent, TelemetrySink
from ._live import LiveRun
from ._machine import MachineSim
from ._mqtt import MqttMachines
from ._opcua import NAMESPACE as OPCUA_NAMESPACE
from ._opcua import OpcUaServers, OpcUaSettings
from ._signals import signal_names, signals
from ._simulation import REFERENCE_DAY, LineSim, Pace, Simulation, default_start, live_refusal
from ._truth import FORMAT as TRUTH_FORMAT

__all__ = [
    "OPCUA_NAMESPACE",
    "REFERENCE_DAY",
    "TRUTH_FORMAT",
    "Accepted",
    "CounterSample",
    "Feed",
    "LineSim",
    "LiveRun",
    "MachineSim",
    "MachineUpdate",
    "MqttControl",
    "MqttMachines",
    "OpcUaServers",
    "OpcUaSettings",
    "Pace",
    "Refused",
    "Simulation",
    "StateEvent",
    "TelemetrySink",
    "clear_event",
    "default_start",
    "inject_event",
    "live_refusal",
    "signal_names",
    "signals",
]
