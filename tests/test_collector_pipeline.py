"""End to end: simulator → OPC UA → edge gateway → Mosquitto → collector → InfluxDB, checked against the truth.

Every part is real: the simulator's asyncua servers and MQTT-native machines, the edge
gateway, Debian's Mosquitto and InfluxDB. What the collector wrote is read back with
InfluxQL — as Grafana and reports read it — and compared with the simulator's ground truth.

The shift has a scenario that touches OPC UA and MQTT machines alike (docs/scenarios.md): a
breakdown, a quality drift, a material shortage, a speed loss, a micro-stop storm and an
unplanned changeover. None of them loses data, so every KPI window of every machine and line
— those the events touched and the undisturbed ones — must equal the truth, which includes
the events.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shopfloor import load_plant
from shopfloor._scenario import parse_scenario

from .pipeline import PLANT, SHIFT_S, assert_stored_as_the_truth, run_pipeline
from .servers import InfluxDB, Mosquitto

pytestmark = pytest.mark.integration


SCENARIO = """
id: a-bad-shift
events:
  - {at: 1h, kind: breakdown, target: HZ-PP1, duration: 40m}
  - {at: 2h, kind: quality_drift, target: HZ-SP1, scrap_rate: 0.1, ramp: 1h}
  - {at: 3h, kind: material_shortage, target: smt-2, duration: 30m}
  - {at: 4h, kind: speed_loss, target: HZ-RF1, factor: 1.3, duration: 1h}
  - {at: 5h, kind: micro_stop_storm, target: HZ-AOI1, rate: 60, stop: 30s, duration: 30m}
  - {at: 6h, kind: changeover, target: HZ-RB1, duration: 20m}
"""


def test_a_shift_with_injected_events_through_the_whole_pipeline_reads_back_as_the_ground_truth(
        mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path) -> None:
    events = parse_scenario(SCENARIO, load_plant(PLANT), source="a-bad-shift.yaml").events
    run = run_pipeline(mosquitto, influxdb, tmp_path, span_s=SHIFT_S, wall_s=15, events=events)
    assert [(e["kind"], e["target"].rsplit("/", 1)[1]) for e in run.sim.truth()["injected"]] == [
        ("breakdown", "HZ-PP1"), ("quality_drift", "HZ-SP1"), ("material_shortage", "smt-2"),
        ("speed_loss", "HZ-RF1"), ("micro_stop_storm", "HZ-AOI1"), ("changeover", "HZ-RB1")]
    assert_stored_as_the_truth(run, influxdb)
    c = run.collectors[0].counts
    assert c["invalid"] == 0 and c["seq_missing"] == 0 and c["batches_rejected"] == 0 and c["duplicates"] == 0
