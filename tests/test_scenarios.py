"""Scenarios: each event kind's effect in the truth by hand numbers, and every problem a scenario file can have.

The plant is made to be worked out by hand: one shift 08:00–16:00 with a break 12:00–12:30, a
line of one station whose cycle is exactly 60 s (no variation, no failures, no micro-stops, no
scrap), and a second line that no event touches. A run of 7 h 59 min 30 s (to 15:59:30, away
from a cycle's end) has 26,970 s of working time: 449 parts undisturbed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from shopfloor import Plant, ScenarioError, load_plant, load_scenario, parse_event, parse_plant
from shopfloor._scenario import parse_scenario
from simulator import Simulation

PLANT = """
version: 1
enterprise: {id: school, name: {zh: 实训, en: school}}
sites:
  - id: lab
    name: {zh: 实训车间, en: lab}
    industry: discrete
    timezone: Asia/Shanghai
    calendar:
      shifts:
        - {id: A, name: {zh: 早班, en: day}, start: "08:00", end: "16:00", breaks: [{start: "12:00", end: "12:30"}]}
    products: [{id: P, name: {zh: 零件, en: part}}]
    areas: [{id: shop, name: {zh: 车间, en: shop}}]
    lines:
      - id: one
        area: shop
        orders: [{product: P, quantity: 1}]
        machines:
          - {id: M1, kind: cnc_lathe, key_process: true, cycle_time: {P: 60s}, cycle_cv: 0, mtbf: never,
             micro_stops_per_hour: 0, micro_stop: 20s, scrap_rate: 0, setup_time: 0}
      - id: two
        area: shop
        orders: [{product: P, quantity: 1}]
        machines:
          - {id: M2, kind: cnc_machining_center, key_process: true, cycle_time: {P: 45s}, setup_time: 0}
          - {id: M3, kind: conventional_mill, key_process: true, cycle_time: {P: 50s}, setup_time: 0}
"""
RUN_S = 7 * 3600 + 59 * 60 + 30
WORKING_S = 26_970.0
M1 = "school/lab/shop/one/M1"
plant = parse_plant(PLANT, source="plant.yaml")


def run(events_yaml: str, seed: int = 1) -> dict[str, Any]:
    scenario = parse_scenario(f"id: test\nevents:\n{events_yaml}", plant, source="s.yaml")
    sim = Simulation(plant, seed=seed, events=scenario.events)
    sim.run(RUN_S)
    return sim.truth()


def machine(truth: dict[str, Any], path: str = M1) -> dict[str, Any]:
    row: dict[str, Any] = next(m for m in truth["machines"] if m["path"] == path)["run"]
    return row


def test_undisturbed_the_station_makes_a_part_a_minute_of_working_time() -> None:
    m = machine(run("  []"))
    assert (m["APT_s"], m["ADET_s"], m["PQ"]) == (WORKING_S, 0.0, 449)


def test_a_30_minute_breakdown_is_30_minutes_of_adet_and_a_failure() -> None:
    truth = run("  - {at: 1h, kind: breakdown, target: M1, duration: 30m}")
    m = machine(truth)
    assert (m["ADET_s"], m["APT_s"], m["failures"]) == (1800.0, WORKING_S - 1800, 1)
    assert m["PQ"] == math.floor((WORKING_S - 1800) / 60)  # the cycle it cut short goes on afterwards
    assert truth["injected"] == [{"id": 1, "kind": "breakdown", "target": M1, "level": "machine",
                                  "start_ms": truth["start_ms"] + 3_600_000, "end_ms": truth["start_ms"] + 5_400_000,
                                  "params": {"duration": 1800.0}}]


def test_a_breakdown_over_the_break_counts_only_its_working_time() -> None:
    # 11:45 to 12:15: 15 minutes down before the break; the break stays planned down time
    m = machine(run("  - {at: 3h45m, kind: breakdown, target: M1, duration: 30m}"))
    assert (m["ADET_s"], m["planned_down_s"]) == (900.0, 1800.0)


def test_an_unplanned_changeover_is_set_up_time() -> None:
    m = machine(run("  - {at: 2h, kind: changeover, target: M1, duration: 20m}"))
    assert (m["AUST_s"], m["APT_s"]) == (1200.0, WORKING_S - 1200)


def test_a_material_shortage_starves_the_lines_first_station_for_its_period() -> None:
    m = machine(run("  - {at: 1h, kind: material_shortage, target: one, duration: 1h}"))
    assert (m["reasons_s"]["starved"], m["APT_s"]) == (3600.0, WORKING_S - 3600)


def test_an_operator_absence_stops_the_manual_stations_it_reaches_and_no_other() -> None:
    truth = run("  - {at: 1h, kind: operator_absence, target: two, duration: 1h}")
    m3 = "school/lab/shop/two/M3"
    # M3 (a conventional mill, manual) waits an hour for its operator: a delay (ADOT); the CNC M2 is not stopped by it
    assert machine(truth, m3)["reasons_s"]["no_operator"] == 3600.0
    assert machine(truth, "school/lab/shop/two/M2")["reasons_s"].get("no_operator", 0.0) == 0.0
    [entry] = truth["injected"]
    assert (entry["kind"], entry["machines"], entry["end_ms"] - entry["start_ms"]) == (
        "operator_absence", [m3], 3_600_000)


def test_an_operator_absence_needs_a_manual_station() -> None:
    for target, message in (
            ("M2", "M2 is not a manual station (its control is cnc): an operator absence stops manual stations"),
            ("one", "one has no manual station (control: manual)")):
        scenario = parse_scenario(f"id: o\nevents:\n  - {{at: 1h, kind: operator_absence, target: {target}, "
                                  "duration: 1h}", plant, source="o.yaml")
        with pytest.raises(ScenarioError) as e:
            Simulation(plant, events=scenario.events)
        assert [str(i) for i in e.value.issues] == [f"o.yaml:3: events[0]: target: {message}"]


def test_a_speed_loss_makes_the_cycles_of_its_hour_longer() -> None:
    # an hour at 90 s a part instead of 60: 20 parts fewer (the cycle under way at each edge keeps its speed)
    m = machine(run("  - {at: 1h, kind: speed_loss, target: M1, factor: 1.5, duration: 1h}"))
    assert abs(m["PQ"] - (449 - 20)) <= 1 and m["APT_s"] == WORKING_S


def test_quality_drift_reaches_its_scrap_rate_within_binomial_noise() -> None:
    m = machine(run("  - {at: 0, kind: quality_drift, target: M1, scrap_rate: 0.2}"))
    share, n = m["SQ"] / m["PQ"], m["PQ"]
    assert abs(share - 0.2) < 4 * math.sqrt(0.2 * 0.8 / n), share


def test_a_ramped_quality_drift_averages_half_way_over_its_ramp() -> None:
    m = machine(run("  - {at: 0, kind: quality_drift, target: M1, scrap_rate: 0.3, ramp: 7h59m30s}"))
    share, n = m["SQ"] / m["PQ"], m["PQ"]
    assert abs(share - 0.15) < 4 * math.sqrt(0.15 * 0.85 / n), share


def test_a_micro_stop_storm_adds_its_stops_while_producing() -> None:
    m = machine(run("  - {at: 1h, kind: micro_stop_storm, target: M1, rate: 30, stop: 20s, duration: 1h}"))
    assert 12 <= m["micro_stops"] <= 50  # Poisson, mean 30
    assert m["ADET_s"] == pytest.approx(20.0 * m["micro_stops"])


def test_an_event_on_one_line_leaves_every_other_line_exactly_as_it_was() -> None:
    plain = run("  []", seed=7)
    storm = run("  - {at: 1h, kind: micro_stop_storm, target: M1, rate: 30, duration: 2h}\n"
                "  - {at: 3h, kind: breakdown, target: M1, duration: 1h}", seed=7)
    for path in ("school/lab/shop/two/M2", "school/lab/shop/two/M3"):
        assert machine(storm, path) == machine(plain, path)
    assert machine(storm) != machine(plain)


def test_a_change_makes_the_plant_that_runs_and_is_in_the_truth() -> None:
    scenario = parse_scenario("id: upgrade\nevents:\n  - {kind: change, target: M3, set: {control: cnc}}", plant)
    sim = Simulation(plant, events=scenario.events)
    m3 = next(m for m in sim.machines if m.at.machine.id == "M3")
    assert m3.at.machine.control.value == "cnc"
    assert sim.truth()["injected"][0]["params"] == {"set": {"control": "cnc"}}


# ---------------------------------------------------------------- what a user sees for a bad scenario


def test_a_change_at_an_instant_acts_from_then_on() -> None:
    # M1 makes a part a minute; from 10:00 its cycle is 90 s: 120 parts before, and 19,770 s of working time after
    # make 219 more (the part under way at 10:00 keeps its 60 s)
    m = machine(run("  - {at: 2h, kind: change, target: M1, set: {cycle_time: 90s}}"))
    assert m["PQ"] == 120 + 219 and m["APT_s"] == WORKING_S
    assert m["effectiveness"] == pytest.approx((120 * 60 + 219 * 90) / WORKING_S)  # ideal time counts 90 s too
    truth = run("  - {at: 4h, kind: change, target: M1, set: {scrap_rate: 0.5}}")
    hours = next(x for x in truth["machines"] if x["path"] == M1)["windows"]["hour"]
    assert [h["SQ"] for h in hours[:4]] == [0, 0, 0, 0]  # 08:00–12:00: as before
    after = hours[4:]
    scrap, made = sum(h["SQ"] for h in after), sum(h["PQ"] for h in after)
    assert abs(scrap / made - 0.5) < 4 * math.sqrt(0.25 / made)
    (entry,) = truth["injected"]
    assert (entry["kind"], entry["params"], entry["end_ms"]) == ("change", {"set": {"scrap_rate": 0.5}}, None)


def test_a_change_at_an_instant_sets_only_what_acts_while_the_plant_runs() -> None:
    assert problems("id: late\nevents:\n  - {at: 1h, kind: change, target: M1, set: {control: manual, mtbf: 2h}}"
                    ) == ["class.yaml:3: events[0].set.control: applies from the start of the run (at: 0) only; at an "
                          "instant a change may set speed_loss, mtbf, mttr, micro_stops_per_hour, micro_stop, "
                          "scrap_rate, rework_rate, setup_time, cycle_time"]
    sim = Simulation(plant, seed=1)
    sim.run(3600)
    number = sim.inject(parse_event({"kind": "change", "target": "M1", "set": {"mtbf": "20m", "mttr": "5m"}}, plant))
    sim.run(3 * 3600)
    m1 = next(m for m in sim.machines if m.path == M1)
    assert m1.fail_t and min(m1.fail_t) >= 3600  # never failed before the change, did after it
    assert sim.truth()["injected"][0]["id"] == number


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as e:
        parse_scenario(text, plant, source="class.yaml")
    return [str(i) for i in e.value.issues]


def test_every_problem_of_a_scenario_file_names_file_line_path_and_what_is_wrong() -> None:
    assert problems("""id: lesson
events:
  - {at: 1h, kind: breakdown, target: M11, duration: 30m}
  - {at: 1h, kind: brekdown, target: M1, duration: 30m}
  - {at: soon, kind: breakdown, target: M1, duration: 30m}
  - {at: 1h, kind: breakdown, target: M1, duration: -5m}
  - {at: 1h, kind: breakdown, target: M1}
  - {at: 1h, kind: breakdown, target: one, duration: 5m}
  - {at: 1h, kind: breakdown, target: M1, duration: 5m, speed: 2}
  - {kind: change, target: M1, set: {colour: red}}
""") == [
        "class.yaml:3: events[0].target: no machine 'M11' in plant school (did you mean 'M1'?)",
        "class.yaml:4: events[1].kind: unknown event kind 'brekdown' (did you mean 'breakdown'?); expected one of: "
        "breakdown, micro_stop_storm, changeover, speed_loss, quality_drift, material_shortage, "
        "operator_absence, sensor_fault, clock_skew, network_outage, degradation, maintenance, change",
        "class.yaml:5: events[2].at: expected a duration from the run's start (1h30m) or an ISO instant "
        "(2026-01-05T10:00), got 'soon'",
        "class.yaml:6: events[3].duration: must be a positive duration, got '-5m'",
        "class.yaml:7: events[4].duration: missing required field",
        "class.yaml:8: events[5].target: no machine 'one' in plant school ('one' is a line; this kind acts on a "
        "machine)",
        "class.yaml:9: events[6].speed: unknown field 'speed'",
        "class.yaml:10: events[7].set.colour: unknown field 'colour'",
    ]


def test_a_change_that_breaks_a_plant_rule_is_refused_when_the_plant_is_made() -> None:
    scenario = parse_scenario("id: bad\nevents:\n  - {kind: change, target: M1, set: {networked: true, "
                              "digital: false}}", plant, source="bad.yaml")
    with pytest.raises(ScenarioError) as e:
        Simulation(plant, events=scenario.events)
    assert [str(i) for i in e.value.issues] == [
        "bad.yaml:3: events[0]: networked: a networked machine must be digital (set digital: true)"]


def test_an_event_before_the_runs_start_is_refused() -> None:
    scenario = parse_scenario("id: early\nevents:\n  - {at: 2026-01-05T07:00, kind: breakdown, target: M1, "
                              "duration: 5m}", plant, source="early.yaml")
    with pytest.raises(ScenarioError) as e:
        Simulation(plant, events=scenario.events)
    assert [str(i) for i in e.value.issues] == [
        "early.yaml:3: events[0]: starts at 2026-01-05T07:00:00+08:00, before the run's start "
        "(2026-01-05T08:00:00+08:00)"]


def test_an_event_given_live_is_checked_the_same_way() -> None:
    assert parse_event({"kind": "breakdown", "target": "M1", "duration": "10m"}, plant).path == M1
    with pytest.raises(ScenarioError) as e:
        parse_event({"kind": "breakdown", "target": "M1"}, plant, source="sfsim inject")
    assert [str(i) for i in e.value.issues] == ["sfsim inject: event.duration: missing required field"]


def test_the_shipped_scenarios_are_valid_against_the_plants_they_name() -> None:
    files = sorted((Path(__file__).parent.parent / "examples" / "scenarios").glob("*.yaml"))
    assert files
    for path in files:
        named = load_scenario(path, plant_of(path)).plant
        assert named is not None and named.exists(), path


def plant_of(scenario: Path) -> Plant:
    """The plant a shipped scenario names (its ``plant:`` line), read as ``sfsim simulate`` reads it."""
    line = next(t for t in scenario.read_text(encoding="utf-8").splitlines() if t.startswith("plant:"))
    return load_plant(scenario.parent / line.split(":", 1)[1].strip())


def test_a_degradation_drifts_the_signals_out_of_band_and_ends_in_a_breakdown_at_its_time() -> None:
    from simulator._signals import signals

    scenario = parse_scenario("id: wear\nevents:\n  - {at: 1h, kind: degradation, target: M1, failure_after: 2h30m, "
                              "repair: 30m, scrap_rate: 0.1, micro_stops_per_hour: 12}", plant)
    sim = Simulation(plant, seed=1, events=scenario.events)
    m1 = next(m for m in sim.machines if m.path == M1)
    vibration = {}
    for t in (1800, 3600 + 1800, 3600 + 6000, 3600 + 8500):  # new, early wear, late wear, just before failure
        sim.run(t)
        vibration[t] = signals(m1)["vibration_mm_s"]
    sim.run(RUN_S)
    truth = sim.truth()
    (entry,) = truth["injected"]
    t0 = truth["start_ms"]
    # wear = (elapsed / 2.5 h)²; vibration 1.6 mm/s × (1 + 3.6 wear) reaches 2.8 (ISO 10816 zone B/C) at wear
    # 0.208; the failure at 11:30, its repair to 12:00 (before the break)
    assert entry["failure_ms"] == t0 + 3 * 3_600_000 + 1_800_000
    assert entry["out_of_band_ms"] == t0 + 3_600_000 + round(9_000_000 * math.sqrt(0.75 / 3.6))
    assert entry["end_ms"] == entry["failure_ms"] + 1_800_000
    assert vibration[1800] < 2.0 and vibration[3600 + 1800] < 2.8 < vibration[3600 + 6000] < vibration[3600 + 8500]
    m = machine(truth)
    assert m["failures"] == 1
    assert m["ADET_s"] == pytest.approx(1800.0 + 20.0 * m["micro_stops"])  # the repair, and the worn micro-stops
    assert m["micro_stops"] > 0 and m["SQ"] > 0


def test_a_maintenance_before_the_failure_restores_the_machine() -> None:
    truth = run("  - {at: 1h, kind: degradation, target: M1, failure_after: 3h, micro_stops_per_hour: 0}\n"
                "  - {at: 3h, kind: maintenance, target: M1, duration: 30m}")
    wear, maintenance = truth["injected"]
    assert wear["failure_ms"] is None and wear["end_ms"] == truth["start_ms"] + 3 * 3_600_000
    assert maintenance["end_ms"] == truth["start_ms"] + 3 * 3_600_000 + 1_800_000
    m = machine(truth)
    assert (m["failures"], m["ADET_s"], m["reasons_s"]["planned_maintenance"]) == (0, 0.0, 1800.0)


def test_control_commands_and_their_results_follow_the_contracts_schema() -> None:
    import json

    import jsonschema

    from shopfloor import MqttSettings
    from shopfloor.telemetry import json_schema
    from simulator import MqttControl

    schema = json_schema()

    def valid(kind: str, document: object) -> None:
        jsonschema.Draft202012Validator({**schema, "$ref": f"#/$defs/{kind}"}).validate(document)

    control = MqttControl(Simulation(plant), MqttSettings(host="127.0.0.1"))
    command = {"id": "c1", "event": {"kind": "breakdown", "target": "M1", "duration": "5m"}}
    valid("control_command", command)
    accepted = control.answer(json.dumps(command).encode())
    assert accepted is not None and accepted["accepted"] and accepted["event"] == 1
    valid("control_result", accepted)
    for payload, reason in ((b"{", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
                            (b'{"event": {}}', 'expected {"id": "<text>", "event": {kind, target, …}}'),
                            (json.dumps({"id": "c2", "event": {"kind": "change", "target": "M1",
                                                               "set": {"control": "cnc"}}}).encode(),
                             "set.control: applies from the start of a run only; live, a change may set speed_loss, "
                             "mtbf, mttr, micro_stops_per_hour, micro_stop, scrap_rate, rework_rate, setup_time, "
                             "cycle_time")):
        refused = control.answer(payload)
        assert refused is not None and refused["accepted"] is False and refused["reason"].startswith(reason), refused
        valid("control_result", refused)
    clear = {"id": "c3", "clear": 1}
    valid("control_command", clear)
    cleared = control.answer(json.dumps(clear).encode())
    assert cleared is not None and cleared["accepted"] and cleared["event"] == 1
    again = control.answer(json.dumps(clear).encode())
    assert again is not None and again["reason"] == "event 1 is not under way"
    valid("control_result", again)
    (entry,) = control.sim.truth()["injected"]
    assert entry["kind"] == "breakdown" and entry["end_ms"] == entry["start_ms"]  # cleared at once


def test_a_failed_sensor_reports_what_its_mode_says_while_the_machine_runs_on() -> None:
    from simulator._signals import readings, signals

    scenario = parse_scenario("""id: sensors
events:
  - {at: 1h, kind: sensor_fault, target: M1, signal: spindle_load_pct, mode: stuck, duration: 1h}
  - {at: 1h, kind: sensor_fault, target: M1, signal: coolant_temp_c, mode: drift, rate: 0.2}
  - {at: 1h, kind: sensor_fault, target: M1, signal: feed_rate_mm_min, mode: dropout, duration: 30m}
  - {at: 1h, kind: sensor_fault, target: M1, signal: spindle_speed_rpm, mode: bad_status, duration: 30m}
  - {at: 1h, kind: sensor_fault, target: M1, signal: vibration_mm_s, mode: spike, factor: 10, every: 10m}
""", plant)
    sim = Simulation(plant, events=scenario.events)
    m1 = next(m for m in sim.machines if m.path == M1)
    seen = []
    for t in (3000, 3601, 3900, 4200, 6600, 7500):  # (a run to t stops just before what happens at t)
        sim.run(t)
        values, bad = readings(m1)
        seen.append((values, bad, signals(m1)))
    before, at_start, five, ten, forty, after = seen
    assert before[1] == frozenset() and before[0] == before[2]  # no fault yet: the readings are the signals
    assert at_start[0]["spindle_load_pct"] == five[0]["spindle_load_pct"] == forty[0]["spindle_load_pct"]  # stuck
    assert after[0]["spindle_load_pct"] == after[2]["spindle_load_pct"]  # its hour is over
    assert "feed_rate_mm_min" not in five[0] and "feed_rate_mm_min" in forty[0]  # dropped out for 30 minutes
    assert five[1] == frozenset({"spindle_speed_rpm"}) and forty[1] == frozenset()  # a bad status for 30 minutes
    assert five[0]["spindle_speed_rpm"] == five[2]["spindle_speed_rpm"]  # the value itself is right
    # drift: 20 % of the value an hour, from 09:00 on, to the end of the run
    assert after[0]["coolant_temp_c"] == pytest.approx(after[2]["coolant_temp_c"] * (1 + 0.2 * 3900 / 3600), abs=0.01)
    # a spike on the first reading of every ten minutes: at 09:00 and at 09:10, not at 09:05
    assert at_start[0]["vibration_mm_s"] == pytest.approx(at_start[2]["vibration_mm_s"] * 10, abs=0.01)
    assert five[0]["vibration_mm_s"] == five[2]["vibration_mm_s"]
    assert ten[0]["vibration_mm_s"] == pytest.approx(ten[2]["vibration_mm_s"] * 10, abs=0.01)
    assert [e["params"]["mode"] for e in sim.truth()["injected"]] == ["stuck", "drift", "dropout", "bad_status",
                                                                       "spike"]


def test_a_sensor_fault_of_a_signal_the_machine_does_not_have_is_refused() -> None:
    scenario = parse_scenario("id: s\nevents:\n  - {at: 1h, kind: sensor_fault, target: M1, signal: torque_nm, "
                              "mode: stuck}", plant, source="s.yaml")
    with pytest.raises(ScenarioError) as e:
        Simulation(plant, events=scenario.events)
    assert [str(i) for i in e.value.issues] == [
        "s.yaml:3: events[0]: signal: M1 has no signal 'torque_nm' (it has spindle_speed_rpm, spindle_load_pct, "
        "feed_rate_mm_min, coolant_temp_c, vibration_mm_s, power_kw, last_cycle_time_s)"]


@pytest.mark.integration
def test_a_failed_sensor_over_opcua_serves_its_value_with_a_bad_status_then_good_again() -> None:
    import asyncio

    from asyncua import Client

    from simulator import LiveRun, OpcUaServers, OpcUaSettings

    from .opcua import find_machines
    from .servers import free_port

    wuhan = load_plant(Path(__file__).parent.parent / "examples" / "wuhan-machining.yaml")
    scenario = parse_scenario("id: s\nevents:\n  - {at: 1m, kind: sensor_fault, target: WH-M02, "
                              "signal: spindle_speed_rpm, mode: bad_status, duration: 2m}", wuhan)

    async def main() -> list[str]:
        sim = Simulation(wuhan, seed=1, events=scenario.events)
        machines = [m for m in sim.machines if m.at.machine.protocol.value == "opcua"]
        servers = OpcUaServers(machines, OpcUaSettings(port=free_port()))
        (endpoint,) = servers.endpoints
        statuses = []
        async with LiveRun(sim, [(servers, machines)], sample_period_s=0.05) as live, Client(endpoint) as client:
            node = (await find_machines(client))[next(m.path for m in machines if m.at.machine.id == "WH-M02")]
            ns = node.nodeid.NamespaceIndex
            speed = await node.get_child([f"{ns}:Monitoring", f"{ns}:spindle_speed_rpm"])
            for until in (50, 120, 240):  # before, during, after the fault
                await live.run(until, speed=None)
                await live.publish(sample=True)
                value = await speed.read_data_value(raise_on_bad_status=False)
                statuses.append(value.StatusCode.name if value.StatusCode is not None else "Good")
        return statuses

    assert asyncio.run(main()) == ["Good", "BadSensorFailure", "Good"]


def test_a_skewed_clock_moves_the_timestamps_the_machine_sends_and_nothing_it_does() -> None:
    from simulator import Feed

    scenario = parse_scenario("id: skew\nevents:\n  - {at: 1h, kind: clock_skew, target: M1, offset: 5m, "
                              "duration: 1h}", plant)
    sim = Simulation(plant, events=scenario.events)
    feed = Feed(sim.machines, sim.start_epoch)
    sent = {}
    for t in (1800, 5400, 9000):
        sim.run(t)
        update = next(u for u in feed.collect(sim.now, sample=True) if u.machine.path == M1)
        assert update.counters is not None
        sent[t] = (update.counters.ts_ms - round(sim.epoch() * 1000), update.signals_ts_ms - round(sim.epoch() * 1000))
    assert sent == {1800: (0, 0), 5400: (300_000, 300_000), 9000: (0, 0)}
    sim.run(RUN_S)
    assert machine(sim.truth()) == machine(run("  []"))  # what it did is what it would have done


def test_a_cleared_event_ends_at_once_and_undoes_what_it_did() -> None:
    sim = Simulation(plant, seed=1)
    sim.run(3600)
    breakdown = sim.inject(parse_event({"kind": "breakdown", "target": "M1", "duration": "1h"}, plant))
    slower = sim.inject(parse_event({"kind": "speed_loss", "target": "M1", "factor": 2}, plant))
    wear = sim.inject(parse_event({"kind": "degradation", "target": "M1", "failure_after": "3h"}, plant))
    sim.run(3600 + 600)
    m1 = next(m for m in sim.machines if m.path == M1)
    assert (m1.reason, m1.speed) == (10, 2.0) and m1.wear > 0
    for number in (breakdown, slower, wear):
        sim.clear(number)
    sim.run(3600 + 601)
    assert (m1.reason, m1.speed, m1.wear) == (0, 1.0, 0.0)
    with pytest.raises(ValueError, match="event 1 is not under way"):
        sim.clear(breakdown)
    with pytest.raises(ValueError, match="no event 9"):
        sim.clear(9)
    sim.run(RUN_S)
    entries = {e["id"]: e for e in sim.truth()["injected"]}
    assert entries[1]["end_ms"] - entries[1]["start_ms"] == 600_000  # ten minutes of its hour
    assert entries[3]["failure_ms"] is None  # cleared before it failed
    m = machine(sim.truth())
    assert (m["ADET_s"], m["failures"]) == (600.0, 1)
