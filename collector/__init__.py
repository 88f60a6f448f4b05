"""Collector: MQTT telemetry contract → InfluxDB, and the KPI engine (OEE per ISO 22400-2, 两化融合 indicators).

The KPI core is pure (no I/O): time elements and counts in, ratios out; the
ingest and storage services arrive with the rest of the collector issue.
"""

from shopfloor.telemetry import CounterSample

from ._digitization import Basis, Equipment, FleetRate, Indicators, Rate, fleet, from_birth, indicators, register
from ._grading import COLOURS, DEFAULT_THRESHOLDS, Colour, by_rank, by_thresholds
from ._kpi import Kpis, Losses, Period, combine, kpis
from ._ledger import MachineLedger
from ._targets import Target, gaps, targets

__all__ = [
    "COLOURS",
    "DEFAULT_THRESHOLDS",
    "Basis",
    "Colour",
    "CounterSample",
    "Equipment",
    "FleetRate",
    "Indicators",
    "Kpis",
    "Losses",
    "MachineLedger",
    "Period",
    "Rate",
    "Target",
    "by_rank",
    "by_thresholds",
    "combine",
    "fleet",
    "from_birth",
    "gaps",
    "indicators",
    "kpis",
    "register",
    "targets",
]
