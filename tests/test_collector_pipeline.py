"""End to end: simulator → OPC UA → edge gateway → Mosquitto → collector → InfluxDB, checked against the truth.

Every part is real: the simulator's asyncua servers and MQTT-native machines, the edge
gateway, Debian's Mosquitto and InfluxDB. What the collector wrote is read back with
InfluxQL — as Grafana and reports read it — and compared with the simulator's ground truth.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .pipeline import SHIFT_S, assert_stored_as_the_truth, run_pipeline
from .servers import InfluxDB, Mosquitto

pytestmark = pytest.mark.integration


def test_a_shift_through_the_whole_pipeline_reads_back_as_the_ground_truth(
        mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path) -> None:
    run = run_pipeline(mosquitto, influxdb, tmp_path, span_s=SHIFT_S, wall_s=15)
    assert_stored_as_the_truth(run, influxdb)
    c = run.collectors[0].counts
    assert c["invalid"] == 0 and c["seq_missing"] == 0 and c["batches_rejected"] == 0 and c["duplicates"] == 0
