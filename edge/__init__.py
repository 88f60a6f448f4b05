"""Edge gateway: any OPC UA server (simulated or real) to the MQTT telemetry contract.

Machines are found by browsing our Machinery-style model or listed in a node
map; each bridged machine publishes exactly what an MQTT-native one does,
through a disk spool that survives broker outages and gateway restarts.
"""

from ._bridge import Field, Point, Stats
from ._check import check_connections
from ._config import EdgeConfig, EndpointConfig, MappedMachine, load_edge_config
from ._gateway import EdgeGateway
from ._source import EndpointState

__all__ = [
    "EdgeConfig",
    "EdgeGateway",
    "EndpointConfig",
    "EndpointState",
    "Field",
    "MappedMachine",
    "Point",
    "Stats",
    "check_connections",
    "load_edge_config",
]
