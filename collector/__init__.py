"""Collector: MQTT telemetry to InfluxDB, and the KPI engine (OEE, 两化融合 indicators).

Arrives with the collector issue; the package exists so the layout and the
``sfsim`` command already show where it goes.
"""

__all__: list[str] = []
