"""Whatever a scenario file or a live command holds, it is applied or refused with the reason — never a traceback.

The base is every shipped scenario of the Wuhan example and one event of each kind; hypothesis
replaces parts of it with junk. A scenario that parses must also be accepted or refused whole by
the simulation it is given to, and one that is accepted must run. A control command — any bytes —
gets an answer the contract's schema admits.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopfloor import MqttSettings, ScenarioError, load_plant
from shopfloor._scenario import parse_scenario
from shopfloor.telemetry import json_schema
from simulator import MqttControl, Simulation

from .conftest import EXAMPLES
from .fuzzing import junk, mutated, paths

PLANT = load_plant(EXAMPLES / "wuhan-machining.yaml")
SHIPPED = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((EXAMPLES / "scenarios").glob("*.yaml"))]
EACH_KIND = [
    {"at": "1h", "kind": "breakdown", "target": "WH-C01", "duration": "30m"},
    {"at": "1h", "kind": "micro_stop_storm", "target": "WH-M01", "rate": 30, "duration": "20m"},
    {"at": "2h", "kind": "changeover", "target": "WH-C01", "duration": "15m"},
    {"at": "2h", "kind": "speed_loss", "target": "WH-R01", "factor": 1.2, "duration": "1h"},
    {"at": "0", "kind": "quality_drift", "target": "WH-C01", "scrap_rate": 0.05, "ramp": "1h"},
    {"at": "3h", "kind": "material_shortage", "target": "gearbox", "duration": "30m"},
    {"at": "1h", "kind": "operator_absence", "target": "WH-Q01", "duration": "20m"},
    {"at": "1h", "kind": "sensor_fault", "target": "WH-M02", "signal": "coolant_temp_c", "mode": "drift"},
    {"at": "1h", "kind": "clock_skew", "target": "WH-C01", "offset": "-30s", "duration": "1h"},
    {"at": "4h", "kind": "network_outage", "target": "brake-disc", "duration": "10m"},
    {"at": "1h", "kind": "degradation", "target": "WH-C01", "failure_after": "3h"},
    {"at": "2h", "kind": "maintenance", "target": "WH-C01", "duration": "30m"},
    {"kind": "change", "target": "WH-L01", "set": {"control": "cnc"}},
    {"at": "2h", "kind": "change", "target": "WH-M01", "set": {"mtbf": "1h", "cycle_time": "50s"}},
]
BASE = {"id": "fuzz", "events": [e for s in SHIPPED for e in s["events"]] + EACH_KIND}
#: how long an accepted scenario runs (the whole of the events above fits in it)
RUN_S = 8 * 3600.0


PATHS = paths(BASE)[1:]


def test_the_base_is_a_valid_scenario_that_runs() -> None:
    scenario = parse_scenario(yaml.safe_dump(BASE, allow_unicode=True), PLANT, source="fuzz.yaml")
    sim = Simulation(PLANT, seed=1, events=scenario.events)
    sim.run(RUN_S)
    assert len(sim.truth()["injected"]) == len(BASE["events"])


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), junk), min_size=1, max_size=3))
def test_mutated_scenarios_run_or_are_refused_with_where_and_why(mutations: list[tuple[tuple[Any, ...], Any]]) -> None:
    data = mutated(BASE, mutations)
    try:
        scenario = parse_scenario(yaml.safe_dump(data, allow_unicode=True), PLANT, source="fuzz.yaml")
        sim = Simulation(PLANT, seed=1, events=scenario.events)
    except ScenarioError as e:
        assert e.issues and all(str(i).startswith("fuzz.yaml") for i in e.issues)
        return
    sim.run(RUN_S)
    assert all(entry["start_ms"] is not None for entry in sim.truth()["injected"])


SCHEMA = json_schema()
CONTROL = MqttControl(Simulation(PLANT, seed=1), MqttSettings(host="127.0.0.1"))
commands = st.one_of(
    st.binary(max_size=64),
    st.builds(lambda ident, event: json.dumps({"id": ident, "event": event}, default=str).encode(),
              st.text(max_size=6) | st.integers(), st.sampled_from(EACH_KIND) | junk),
    st.builds(lambda event, key, value: json.dumps({"id": "c", "event": {**event, key: value}}, default=str).encode(),
              st.sampled_from(EACH_KIND), st.sampled_from(["at", "kind", "target", "duration", "set", "rate", "x"]),
              junk),
    st.builds(lambda number: json.dumps({"id": "c", "clear": number}, default=str).encode(), junk),
)


@settings(max_examples=300, deadline=None)
@given(commands)
def test_any_control_command_is_answered_accepted_or_refused_with_a_reason(payload: bytes) -> None:
    reply = CONTROL.answer(payload)
    assert reply is not None
    jsonschema.Draft202012Validator({**SCHEMA, "$ref": "#/$defs/control_result"}).validate(reply)
    assert reply["accepted"] or reply["reason"]
