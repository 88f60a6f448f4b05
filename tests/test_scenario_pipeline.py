"""A shift with injected events, end to end: what the collector stores equals the truth of what was injected.

The Hangzhou plant through its asyncua servers and MQTT-native machines, the edge gateway,
Mosquitto, the collector and InfluxDB (all real), with a scenario that touches OPC UA and MQTT
machines alike: a breakdown, a quality drift, a material shortage, a speed loss, a micro-stop
storm and an unplanned changeover. None of them loses data, so every KPI window of every
machine and line must equal the truth, which includes the events.
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


def test_a_shift_with_injected_events_reads_back_as_the_truth_of_what_was_injected(
        mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path) -> None:
    events = parse_scenario(SCENARIO, load_plant(PLANT), source="a-bad-shift.yaml").events
    run = run_pipeline(mosquitto, influxdb, tmp_path, span_s=SHIFT_S, wall_s=15, events=events)
    injected = run.sim.truth()["injected"]
    assert [(e["kind"], e["target"].rsplit("/", 1)[1]) for e in injected] == [
        ("breakdown", "HZ-PP1"), ("quality_drift", "HZ-SP1"), ("material_shortage", "smt-2"),
        ("speed_loss", "HZ-RF1"), ("micro_stop_storm", "HZ-AOI1"), ("changeover", "HZ-RB1")]
    assert_stored_as_the_truth(run, influxdb)
    c = run.collectors[0].counts
    assert c["invalid"] == 0 and c["seq_missing"] == 0 and c["batches_rejected"] == 0
