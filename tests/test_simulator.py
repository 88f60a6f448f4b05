"""The simulator's ground truth: deterministic, conserved, and true to the configured statistics."""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

import pytest

from shopfloor import load_plant
from simulator import Simulation, signals

from .conftest import EXAMPLES, one_line, plant_from

ELEMENTS = ("no_shift_s", "planned_down_s", "APT_s", "AUST_s", "ADET_s", "ADOT_s")


def run(plant: Any, hours: float, seed: int = 1) -> Simulation:
    sim = Simulation(plant, seed=seed)
    sim.run(hours * 3600)
    return sim


def truth_bytes(sim: Simulation) -> bytes:
    return json.dumps(sim.truth(), ensure_ascii=False, sort_keys=True).encode()


# ------------------------------------------------------------------ determinism


def test_same_seed_gives_byte_identical_truth_and_another_seed_does_not() -> None:
    plant = load_plant(EXAMPLES / "wuhan-machining.yaml")
    first, again, other = (truth_bytes(run(plant, 48, seed)) for seed in (7, 7, 8))
    assert first == again
    assert first != other


TWO_MACHINES = """
enterprise: {id: t}
sites:
  - id: s
    lines:
      - id: L
        machines:
          - {id: A, kind: cnc_lathe, cycle_time: 60s, scrap_rate: 0.05, mtbf: 3h}
          - {id: B, kind: press, cycle_time: 55s, rework_rate: 0.05, mtbf: 2h}
"""
ANOTHER_LINE = """
      - id: L2
        machines:
          - {id: C, kind: press, cycle_time: 40s, mtbf: 1h}
          - {id: D, kind: press, cycle_time: 45s, mtbf: 1h}
"""


def test_adding_a_line_leaves_every_other_machine_unchanged() -> None:
    a = {m["id"]: m for m in run(plant_from(TWO_MACHINES), 24).truth()["machines"]}
    b = {m["id"]: m for m in run(plant_from(TWO_MACHINES + ANOTHER_LINE), 24).truth()["machines"]}
    assert set(b) == {"A", "B", "C", "D"}
    assert a["A"]["run"]["failures"] > 0 and a["A"]["run"]["SQ"] > 0
    assert a["A"] == b["A"] and a["B"] == b["B"]


# ------------------------------------------------------------------ conservation


@pytest.mark.parametrize("example", ["wuhan-machining", "hangzhou-electronics", "ezhou-process"])
def test_time_parts_and_flow_are_conserved(example: str) -> None:
    sim = run(load_plant(EXAMPLES / f"{example}.yaml"), 7 * 24 + 5.5)
    truth = sim.truth()
    for machine in truth["machines"]:
        rows = [machine["run"], *(r for kind in ("hour", "shift", "day") for r in machine["windows"][kind])]
        for row in rows:
            assert sum(row[e] for e in ELEMENTS) == pytest.approx(row["calendar_s"], abs=1e-5)
            assert row["PBT_s"] == pytest.approx(row["APT_s"] + row["AUST_s"] + row["ADET_s"] + row["ADOT_s"],
                                                 abs=1e-5)
            assert row["POT_s"] == pytest.approx(row["PBT_s"] + row["planned_down_s"], abs=1e-5)
            assert row["GQ"] + row["SQ"] + row["RQ"] == row["PQ"]
            assert sum(row["reasons_s"].values()) == pytest.approx(row["calendar_s"], abs=1e-5)
        # hours and days each tile the run exactly
        for kind in ("hour", "day"):
            windows = machine["windows"][kind]
            for key in ("calendar_s", "APT_s", "ADET_s", "ADOT_s", "AUST_s", "energy_kWh", "ideal_s"):
                assert sum(w[key] for w in windows) == pytest.approx(machine["run"][key], abs=1e-4)
            for key in ("PQ", "GQ", "SQ", "RQ", "failures", "micro_stops"):
                assert sum(w[key] for w in windows) == machine["run"][key]
    by_path = {m.path: m for m in sim.machines}
    for line in sim.lines:
        for i, buffer in enumerate(line.buffers):
            up, down = line.machines[i], line.machines[i + 1]
            # every good part that left station i entered buffer i: it is there, queued to enter, or taken
            assert up.good == len(buffer.items) + buffer.waiting + down.started
            assert down.started - down.total in (0, 1)  # at most the part in work
            assert len(buffer.items) <= up.at.machine.buffer
        for m in line.machines:
            run_row = next(x for x in truth["machines"] if x["path"] == m.path)["run"]
            assert (run_row["PQ"], run_row["GQ"]) == (by_path[m.path].total, by_path[m.path].good)
        assert next(x for x in truth["lines"] if x["path"] == line.path)["output"] == line.machines[-1].good


def test_machines_follow_the_calendar() -> None:
    sim = run(load_plant(EXAMPLES / "wuhan-machining.yaml"), 24 * 6.5)
    cal = sim.plant.sites[0].calendar
    periods = cal.intervals(sim.start_epoch, sim.epoch())
    planned_down = sum(p.end - p.start for p in periods if p.state.value in ("break", "maintenance"))
    no_shift = sum(p.end - p.start for p in periods if p.state.value == "no_shift")
    for m in sim.machines:
        # no production outside working periods: each logged span lies inside one calendar state
        for t, code in zip(m.log_t, m.log_r, strict=True):
            state = next(p.state.value for p in periods if p.start - sim.start_epoch <= t < p.end - sim.start_epoch)
            expected = {"break": {30}, "maintenance": {31}, "no_shift": {32}}.get(state)
            if expected:
                assert code in expected, (m.path, t, code, state)
            else:
                assert code < 30, (m.path, t, code, state)
    for row in (x["run"] for x in sim.truth()["machines"]):
        assert row["planned_down_s"] == pytest.approx(planned_down)
        assert row["no_shift_s"] == pytest.approx(no_shift)


# ------------------------------------------------------------------ statistics


@pytest.mark.slow
def test_long_run_reproduces_configured_mtbf_mttr_and_micro_stops() -> None:
    plant = one_line(
        """
        - {id: M, kind: press, cycle_time: 60s, cycle_cv: 0.1, mtbf: 2h, mttr: 15m, repair_cv: 0.5,
           micro_stops_per_hour: 4, micro_stop: 30s}
        """
    )
    days = 90
    row = run(plant, 24 * days).truth()["machines"][0]["run"]
    apt_h = row["APT_s"] / 3600
    # ~1,000 failures: 10 % is about three standard errors of the MTBF estimate
    assert row["failures"] > 800
    assert row["mtbf_s"] == pytest.approx(7200, rel=0.10)
    assert row["mttr_s"] == pytest.approx(900, rel=0.08)
    # micro-stops per operating hour (Poisson, ~8,000 events)
    assert row["micro_stops"] / apt_h == pytest.approx(4, rel=0.05)
    assert row["reasons_s"]["micro_stop"] / row["micro_stops"] == pytest.approx(30, rel=0.05)


@pytest.mark.slow
def test_weibull_failures_keep_their_mean() -> None:
    plant = one_line(
        """
        - {id: M, kind: press, cycle_time: 60s, mtbf: 3h, mttr: 10m, failure_distribution: weibull,
           failure_shape: 2.5, repair_distribution: exponential, micro_stops_per_hour: 0}
        """
    )
    row = run(plant, 24 * 120).truth()["machines"][0]["run"]
    assert row["failures"] > 700
    assert row["mtbf_s"] == pytest.approx(3 * 3600, rel=0.06)  # shape 2.5: cv 0.42, tighter than exponential
    assert row["mttr_s"] == pytest.approx(600, rel=0.10)


# ------------------------------------------------------------------ analytic lines

DETERMINISTIC = "cycle_cv: 0, mtbf: never, micro_stops_per_hour: 0, setup_time: 0"


@pytest.mark.parametrize(("first_s", "second_s"), [(30, 45), (45, 30), (40, 40)])
def test_two_station_line_runs_at_the_bottleneck_rate(first_s: int, second_s: int) -> None:
    plant = one_line(
        f"""
        - {{id: A, kind: press, cycle_time: {first_s}s, buffer: 3, {DETERMINISTIC}}}
        - {{id: B, kind: press, cycle_time: {second_s}s, {DETERMINISTIC}}}
        """
    )
    hours = 10
    sim = run(plant, hours)
    bottleneck = max(first_s, second_s)
    output = sim.lines[0].machines[-1].good
    # analytic: one part per bottleneck cycle once the first part is through
    # the k-th part leaves B at min + k × bottleneck; a run to T processes instants before T
    assert output == math.ceil((hours * 3600 - min(first_s, second_s)) / bottleneck) - 1
    a, b = (m["run"] for m in sim.truth()["machines"])
    if first_s < second_s:  # A is blocked for the difference, B never waits
        assert a["reasons_s"]["blocked"] / a["calendar_s"] == pytest.approx(1 - first_s / second_s, abs=0.01)
        assert "starved" not in b["reasons_s"] or b["reasons_s"]["starved"] == first_s
    elif first_s > second_s:  # B starves for the difference
        assert b["reasons_s"]["starved"] / b["calendar_s"] == pytest.approx(1 - second_s / first_s, abs=0.01)
        assert "blocked" not in a["reasons_s"]


def test_hand_computed_oee_table() -> None:
    """One machine, 08:00-16:00 shift with a 12:00-12:30 break, run to 15:59.

    ideal cycle 60 s, 25 % speed loss → 75 s per part; no stops.
    morning 08:00-12:00 = 14,400 s → 192 parts; afternoon 12:30-15:59 = 12,540 s → 167 parts (+ one in work).
    PBT = 26,940 s = APT; PQ = 359; Effectiveness = 359 × 60 / 26,940 = 0.799555; OEE = the same.
    """
    plant = one_line(
        f"- {{id: M, kind: press, cycle_time: 60s, speed_loss: 0.25, {DETERMINISTIC}, "
        "power_kw: {executing: 10, standby: 1}}",
        calendar="""
            calendar:
              shifts: [{id: A, start: "08:00", end: "16:00", breaks: [{start: "12:00", end: "12:30"}]}]
        """,
    )
    sim = Simulation(plant, seed=1)
    sim.run(7 * 3600 + 59 * 60)
    row = sim.truth()["machines"][0]["run"]
    assert (row["calendar_s"], row["PBT_s"], row["APT_s"], row["planned_down_s"]) == (28740, 26940, 26940, 1800)
    assert (row["AUST_s"], row["ADET_s"], row["ADOT_s"]) == (0, 0, 0)
    assert (row["PQ"], row["GQ"]) == (359, 359)
    assert row["availability"] == 1.0
    assert row["effectiveness"] == round(359 * 60 / 26940, 6) == 0.799555
    assert row["quality"] == 1.0 and row["oee"] == 0.799555
    # energy: 26,940 s at 10 kW + 1,800 s break at 1 kW
    assert row["energy_kWh"] == pytest.approx((26940 * 10 + 1800 * 1) / 3600, abs=1e-6)
    assert sim.machines[0].energy_kwh() == pytest.approx(row["energy_kWh"], abs=1e-6)
    hours = sim.truth()["machines"][0]["windows"]["hour"]
    assert [h["label"][11:16] for h in hours] == [f"{h:02d}:00" for h in range(8, 16)]
    assert hours[4]["planned_down_s"] == 1800 and hours[4]["APT_s"] == 1800


def test_changeovers_are_setup_time() -> None:
    plant = plant_from(
        """
        enterprise: {id: t}
        sites:
          - id: s
            calendar: {shifts: [{id: D, start: "00:00", end: "24:00"}], non_working_days: []}
            products: [{id: X}, {id: Y}]
            lines:
              - id: L
                orders: [{product: X, quantity: 10}, {product: Y, quantity: 5}]
                machines:
                  - {id: M, kind: press, cycle_time: {X: 60s, Y: 90s}, setup_time: 20m, cycle_cv: 0,
                     mtbf: never, micro_stops_per_hour: 0}
        """
    )
    row = run(plant, 10).truth()["machines"][0]["run"]
    # one turn of the plan: 10 × 60 s + 20 min + 5 × 90 s + 20 min = 3,450 s.
    # 10 h = 10 turns (34,500 s) + 600 s for ten more X + 900 s into the next changeover.
    assert row["AUST_s"] == 10 * 2400 + 900
    assert row["PQ"] == 10 * 15 + 10
    assert row["ideal_s"] == 10 * (10 * 60 + 5 * 90) + 600 == row["APT_s"]
    assert row["effectiveness"] == 1.0


# ------------------------------------------------------------------ signals and live running


def test_signals_follow_state_and_are_reproducible() -> None:
    plant = load_plant(EXAMPLES / "wuhan-machining.yaml")
    sampled = []
    for _ in range(2):
        sim = Simulation(plant, seed=3)
        lathe = next(m for m in sim.machines if m.at.machine.id == "WH-C01")
        values = []
        for minute in range(1, 9 * 60, 7):
            sim.run(minute * 60.0)
            values.append((lathe.reason, signals(lathe)))
        sampled.append(values)
    assert sampled[0] == sampled[1]
    producing = [s for reason, s in sampled[0] if reason == 0]
    on_break = [s for reason, s in sampled[0] if reason == 30]
    assert producing and on_break
    assert all(2500 < s["spindle_speed_rpm"] < 3500 and s["power_kw"] == 12.0 for s in producing)
    assert all(s["spindle_speed_rpm"] == 0 and s["power_kw"] == 0.2 for s in on_break)
    assert all(s["last_cycle_time_s"] > 0 for s in producing)


def test_live_run_paces_against_the_clock_without_blocking_the_loop() -> None:
    plant = load_plant(EXAMPLES / "hangzhou-electronics.yaml")

    async def main() -> tuple[float, float, list[float]]:
        sim = Simulation(plant, seed=1)
        gaps: list[float] = []

        async def heartbeat() -> None:
            last = time.perf_counter()
            while True:
                await asyncio.sleep(0.01)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        beat = asyncio.create_task(heartbeat())
        t = time.perf_counter()
        await sim.run_live(2 * 3600, speed=3600)  # 2 h at 3,600× = 2 s
        paced = time.perf_counter() - t
        t = time.perf_counter()
        await sim.run_live(2 * 3600 + 12 * 3600, speed=None)  # 12 h as fast as possible
        beat.cancel()
        return paced, time.perf_counter() - t, gaps

    paced, fastest, gaps = asyncio.run(main())
    assert 1.9 < paced < 3.0
    assert fastest < paced * 3
    # the event loop kept turning: no stall longer than a few slices
    assert max(gaps) < 0.25


def test_live_and_fast_runs_agree() -> None:
    plant = load_plant(EXAMPLES / "ezhou-process.yaml")
    fast = run(plant, 30)
    live = Simulation(plant, seed=1)
    asyncio.run(live.run_live(30 * 3600, speed=None))
    assert truth_bytes(fast) == truth_bytes(live)


def test_shards_together_are_the_whole_plant() -> None:
    plant = load_plant(EXAMPLES / "hangzhou-electronics.yaml")
    whole = {m["path"]: m for m in run(plant, 24).truth()["machines"]}
    parts: dict[str, Any] = {}
    for k in range(2):
        sim = Simulation(plant, seed=1, shard=(k, 2))
        sim.run(24 * 3600)
        for m in sim.truth()["machines"]:
            assert m["path"] not in parts
            parts[m["path"]] = m
    assert parts == whole
    with pytest.raises(ValueError, match="shard must be K/N with 0 <= K < N, got 2/2"):
        Simulation(plant, shard=(2, 2))
