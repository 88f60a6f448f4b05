"""Edge gateway: OPC UA servers (simulated or real) to the MQTT telemetry contract.

Arrives with the edge-gateway issue; the package exists so the layout and the
``sfsim`` command already show where it goes.
"""

__all__: list[str] = []
