"""End to end: simulator → OPC UA → edge gateway → Mosquitto → collector → InfluxDB, checked against the truth.

Every part is real: the simulator's asyncua servers and MQTT-native machines, the edge
gateway, Debian's Mosquitto and InfluxDB. What the collector wrote is read back with
InfluxQL — as Grafana and reports read it — and compared with the simulator's ground truth.

The shift has a scenario that touches OPC UA and MQTT machines alike (docs/scenarios.md): a
breakdown, a quality drift, a material shortage, a speed loss, a micro-stop storm and an
unplanned changeover. None of them loses data, so every KPI window of every machine and line
— those the events touched and the undisturbed ones — must equal the truth, which includes
the events. So must the shipped scenarios of docs/scenarios.md, run at once on the Wuhan example.

A network outage of a line is the one event that loses data, and exactly what the contract says
it loses: its MQTT machines' outboxes keep their states and counters, so their KPIs stay the
truth; its OPC UA machines are unknown for as long as their server cannot reach them — their
time elements are the truth's over the rest, and the parts they made meanwhile are counted after
it, each once (docs/scenarios.md, docs/collector.md "Gaps").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shopfloor import load_plant
from shopfloor._scenario import load_scenario, parse_scenario

from .conftest import EXAMPLES
from .pipeline import (
    PLANT,
    SHIFT_S,
    assert_hours_as_the_truth_where_known,
    assert_stored_as_the_truth,
    opcua_plant,
    run_pipeline,
    stored_gaps,
)
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


def test_a_network_outage_of_a_line_loses_what_the_contract_says_and_nothing_else(
        mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path) -> None:
    events = parse_scenario("id: cut\nevents:\n  - {at: 3h, kind: network_outage, target: smt-1, duration: 1h}",
                            load_plant(PLANT), source="cut.yaml").events
    run = run_pipeline(mosquitto, influxdb, tmp_path, span_s=SHIFT_S, wall_s=15, events=events)
    (outage,) = run.sim.truth()["injected"]
    networked = [m for m in run.sim.machines if m.at.machine.networked]
    cut = {m.path: m for m in networked if m.path in outage["machines"]}
    assert {m.at.machine.id for m in cut.values()} == {"HZ-SP1", "HZ-PP1", "HZ-PP2", "HZ-RF1", "HZ-AOI1"}
    opcua = {path for path, m in cut.items() if m.at.machine.protocol.value == "opcua"}
    assert {path: entry["lost"] for path, entry in outage["machines"].items()} == {
        path: ["state", "counters", "signals"] if path in opcua else ["signals"] for path in cut}
    gaps = stored_gaps(influxdb)
    for path in opcua:  # unknown for exactly as long as the server could not reach the machine
        assert gaps.get((path, "state")) == [(outage["start_ms"], outage["end_ms"])], path
    for m in networked:  # the MQTT machines' outboxes kept what the contract keeps: nothing of theirs is unknown
        if m.path not in opcua:
            assert (m.path, "state") not in gaps, m.path
    flagged, known = assert_hours_as_the_truth_where_known(run.sim, influxdb, networked, opcua)
    assert flagged >= len(opcua) and known >= 10 * len(networked) - 2 * len(opcua)
    c = run.collectors[0].counts
    assert c["invalid"] == 0 and c["batches_rejected"] == 0


def test_the_shipped_scenarios_at_once_through_the_whole_pipeline_read_back_as_the_truth(
        mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path) -> None:
    # the Wuhan example with every machine over OPC UA (a stuck sensor's bad status goes through the edge gateway);
    # every shipped scenario but the network outage, the one that loses data (the test above)
    plant = opcua_plant()
    files = sorted(p for p in (EXAMPLES / "scenarios").glob("*.yaml") if "outage" not in p.name)
    events = [e for f in files for e in load_scenario(f, plant).events]
    run = run_pipeline(mosquitto, influxdb, tmp_path, span_s=8 * 3600, wall_s=15, events=events, plant=plant)
    assert len(run.sim.truth()["injected"]) == len(events) >= 10
    assert stored_gaps(influxdb) == {}
    flagged, known = assert_hours_as_the_truth_where_known(run.sim, influxdb, run.sim.machines, set())
    assert flagged == 0 and known >= 8 * len(run.sim.machines) - 2
    c = run.collectors[0].counts
    assert c["invalid"] == 0 and c["seq_missing"] == 0 and c["batches_rejected"] == 0
