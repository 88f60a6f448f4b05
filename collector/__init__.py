"""Collector: MQTT telemetry contract → InfluxDB, and the KPI engine (OEE per ISO 22400-2, 两化融合 indicators).

The KPI core is pure (no I/O): time elements and counts in, ratios out. ``Collector``
is the service (docs/collector.md); ``Engine`` the KPI engine it feeds; stores are
chosen by name (influxdb-v1, influxdb-v2, files).
"""

from shopfloor.telemetry import CounterSample

from ._check import check_connections, check_store
from ._config import CollectorConfig, GradingConfig, KpiConfig, load_collector_config
from ._digitization import Basis, Equipment, FleetRate, Indicators, Rate, fleet, from_birth, indicators, register
from ._engine import Engine, Result, target_lines
from ._grading import COLOURS, DEFAULT_THRESHOLDS, Colour, by_rank, by_thresholds
from ._influx import Rejected, Store, StoreConfig, Unavailable, open_store
from ._kpi import Kpis, Losses, Period, combine, kpis
from ._messages import Invalid, Message, decode
from ._service import Collector, DeadLetters, collector_topic
from ._targets import Benchmark, GreenTarget, Target, benchmarks, gaps, green_targets, load_targets, targets
from ._timeline import MachineTimeline
from ._upgrades import UPGRADE_CONTROL, fewest_upgrades, upgraded

__all__ = [
    "COLOURS",
    "DEFAULT_THRESHOLDS",
    "UPGRADE_CONTROL",
    "Basis",
    "Benchmark",
    "Collector",
    "CollectorConfig",
    "Colour",
    "CounterSample",
    "DeadLetters",
    "Engine",
    "Equipment",
    "FleetRate",
    "GradingConfig",
    "GreenTarget",
    "Indicators",
    "Invalid",
    "KpiConfig",
    "Kpis",
    "Losses",
    "MachineTimeline",
    "Message",
    "Period",
    "Rate",
    "Rejected",
    "Result",
    "Store",
    "StoreConfig",
    "Target",
    "Unavailable",
    "benchmarks",
    "by_rank",
    "by_thresholds",
    "check_connections",
    "check_store",
    "collector_topic",
    "combine",
    "decode",
    "fewest_upgrades",
    "fleet",
    "from_birth",
    "gaps",
    "green_targets",
    "indicators",
    "kpis",
    "load_collector_config",
    "load_targets",
    "open_store",
    "register",
    "target_lines",
    "targets",
    "upgraded",
]
