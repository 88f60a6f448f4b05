"""The shared plant model and machine-state vocabulary of the platform.

Simulator, edge gateway and collector all import their names, states, units
and the plant file format from here, so they never disagree.
"""

from . import telemetry
from ._calendar import WINDOW_KINDS, Calendar, CalendarInterval, CalendarState, ShiftInstance, Window
from ._durations import format_duration, parse_duration
from ._kinds import CONTROL_NAMES, KINDS, NC_CONTROLS, Control, Industry, KindDefaults, Protocol
from ._ledger import COLUMNS as LEDGER_COLUMNS
from ._ledger import LedgerImport, LedgerOptions, import_ledger
from ._loader import Issue, PlantError, build_plant, load_plant, parse_plant
from ._model import (
    Area,
    AuxiliaryAt,
    AuxiliaryEquipment,
    AuxiliaryReason,
    Enterprise,
    FailureDistribution,
    Line,
    Machine,
    MachineAt,
    Name,
    Order,
    Plant,
    PowerDraw,
    Product,
    Region,
    RepairDistribution,
    Site,
    parse_region,
)
from ._mqtt_settings import MqttSettings, MqttVersion
from ._scenario import (
    EVENT_KINDS,
    Event,
    EventKind,
    Scenario,
    ScenarioError,
    load_scenario,
    opcua_server,
    parse_event,
)
from ._states import (
    REASONS,
    MachineryItemState,
    MachineryOperationMode,
    PowerClass,
    ReasonInfo,
    StopReason,
    TimeElement,
)
from .telemetry import CONTRACT_VERSION, MessageKind, machine_topic, parse_topic, subscription

__all__ = [
    "CONTRACT_VERSION",
    "CONTROL_NAMES",
    "EVENT_KINDS",
    "KINDS",
    "LEDGER_COLUMNS",
    "NC_CONTROLS",
    "REASONS",
    "WINDOW_KINDS",
    "Area",
    "AuxiliaryAt",
    "AuxiliaryEquipment",
    "AuxiliaryReason",
    "Calendar",
    "CalendarInterval",
    "CalendarState",
    "Control",
    "Enterprise",
    "Event",
    "EventKind",
    "FailureDistribution",
    "Industry",
    "Issue",
    "KindDefaults",
    "LedgerImport",
    "LedgerOptions",
    "Line",
    "Machine",
    "MachineAt",
    "MachineryItemState",
    "MachineryOperationMode",
    "MessageKind",
    "MqttSettings",
    "MqttVersion",
    "Name",
    "Order",
    "Plant",
    "PlantError",
    "PowerClass",
    "PowerDraw",
    "Product",
    "Protocol",
    "ReasonInfo",
    "Region",
    "RepairDistribution",
    "Scenario",
    "ScenarioError",
    "ShiftInstance",
    "Site",
    "StopReason",
    "TimeElement",
    "Window",
    "build_plant",
    "format_duration",
    "import_ledger",
    "load_plant",
    "load_scenario",
    "machine_topic",
    "opcua_server",
    "parse_duration",
    "parse_event",
    "parse_plant",
    "parse_region",
    "parse_topic",
    "subscription",
    "telemetry",
]
