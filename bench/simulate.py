"""Simulator throughput: the Wuhan example scaled to N machines, beside bare SimPy.

Runs, in one process and one after the other, (1) the Wuhan example plant
replicated to about ``--machines`` machines for ``--duration`` of simulated
time, and (2) a bare SimPy loop — the same number of processes doing nothing
but ``yield env.timeout(...)`` — that processes the same number of events.
Prints events/s for both and their ratio (goal ≥ 0.25), and the wall time of
the plant run (goal: 1,000 machines × 24 h in under 60 s).

With ``--scenario FILE`` (or ``--scenario busy``: an event on every machine in every
simulated hour — breakdowns, changeovers, speed losses, quality drifts and micro-stop storms
in turn), the plant also runs with the scenario, interleaved with the plain runs, and the
cost of the scenario is printed: the time its run takes for the same simulated span over the
plain run's (goal: under 10 %). A shared machine's speed drifts by tens of per cent within
minutes; ``--instructions`` counts instead, under Valgrind, the instructions each run
executes (the same on every run, and for the span the scenario's cost in work): each of
plain and scenario is built once and built and run once, the run's count the difference.

    python bench/simulate.py [--machines 1000] [--duration 24h] [--seed 1] [--repeat 3]
                             [--scenario busy|FILE [--instructions]]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import gc
import itertools
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import simpy

from shopfloor import Event, Plant, load_plant, load_scenario, parse_duration, parse_event
from simulator import Simulation

WUHAN = Path(__file__).resolve().parent.parent / "examples" / "wuhan-machining.yaml"


def scale(plant: Plant, machines: int) -> Plant:
    """Copies of every line of the plant, renamed, until there are at least ``machines``."""
    site = plant.sites[0]
    per_copy = sum(len(line.machines) for area in site.areas for line in area.lines)
    copies = -(-machines // per_copy)
    areas = []
    for area in site.areas:
        lines = []
        for k, line in itertools.product(range(copies), area.lines):
            ms = tuple(dataclasses.replace(m, id=f"{m.id}-{k:03d}") for m in line.machines)
            lines.append(dataclasses.replace(line, id=f"{line.id}-{k:03d}", machines=ms))
        areas.append(dataclasses.replace(area, lines=tuple(lines)))
    return dataclasses.replace(plant, sites=(dataclasses.replace(site, areas=tuple(areas)),))


def events_processed(env: simpy.Environment) -> int:
    # SimPy numbers every scheduled event; nothing public exposes the count
    return next(env._eid)  # type: ignore[attr-defined]


def bare_simpy(processes: int, events: int) -> float:
    """Wall seconds for bare SimPy to process ``events`` timeouts over ``processes`` processes."""
    env = simpy.Environment()
    per_process = events // processes

    def tick(env: simpy.Environment, delay: float) -> Generator[simpy.Event, Any, None]:
        for _ in range(per_process):
            yield env.timeout(delay)

    for i in range(processes):
        env.process(tick(env, 1.0 + i / processes))
    t = time.perf_counter()
    env.run()
    return time.perf_counter() - t


def busy(plant: Plant, duration_s: float) -> list[Event]:
    """An event on every machine in every simulated hour, its kind in turn."""
    kinds: list[dict[str, Any]] = [
        {"kind": "breakdown", "duration": "3m"}, {"kind": "changeover", "duration": "2m"},
        {"kind": "speed_loss", "factor": 1.2, "duration": "10m"},
        {"kind": "quality_drift", "scrap_rate": 0.05, "ramp": "10m", "duration": "20m"},
        {"kind": "micro_stop_storm", "rate": 30, "stop": "20s", "duration": "10m"},
    ]
    events = []
    for i, at in enumerate(plant.machines()):
        for hour in range(int(duration_s // 3600)):
            spec = kinds[(i + hour) % len(kinds)]
            events.append(parse_event({**spec, "target": at.machine.id, "at": hour * 3600 + (i % 60) * 30}, plant))
    return events


def scenario_events(scenario: str | None, plant: Plant, duration_s: float) -> list[Event]:
    if scenario == "busy":
        return busy(plant, duration_s)
    return list(load_scenario(scenario, plant).events) if scenario else []


def instructions(args: argparse.Namespace) -> None:
    """The instructions of the plain run and of the scenario's, each counted by Valgrind."""
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs Valgrind (Debian package valgrind)")
    common = ["--machines", str(args.machines), "--duration", args.duration, "--seed", str(args.seed),
              "--scenario", args.scenario]

    def count(which: str, run: bool) -> int:
        command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                   sys.executable, __file__, *common, "--child", f"{which}-{'run' if run else 'build'}"]
        done = subprocess.run(command, capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": "0"})  # the same dicts, the same work
        found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
        if found is None:
            raise SystemExit(f"no instruction count in Valgrind's output:\n{done.stderr[-2000:]}")
        print(f"  {which} {'built and run' if run else 'built'}: {found.group(1)} instructions", flush=True)
        return int(found.group(1).replace(",", ""))

    print(f"counting under Valgrind (some minutes): {args.machines} machines, {args.duration}, {args.scenario}",
          flush=True)
    jobs = [(which, run) for which in ("plain", "scenario") for run in (False, True)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        n = dict(zip(jobs, pool.map(lambda job: count(*job), jobs), strict=True))
    plain = n["plain", True] - n["plain", False]
    scenario = n["scenario", True] - n["scenario", False]
    print(f"run         : plain {plain:,} instructions, with the scenario {scenario:,}: cost "
          f"{100 * (scenario / plain - 1):+.1f} % (goal < 10 %)")


def child(args: argparse.Namespace) -> None:
    """One run counted by ``instructions``: the plant built, and run unless ``-build``."""
    which, phase = args.child.split("-")
    plant = scale(load_plant(WUHAN), args.machines)
    duration = parse_duration(args.duration)
    sim = Simulation(plant, seed=args.seed,
                     events=scenario_events(args.scenario, plant, duration) if which == "scenario" else [])
    if phase == "run":
        sim.run(duration)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--duration", default="24h")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions; best of each counts")
    parser.add_argument("--scenario", metavar="busy|FILE", help="also run with this scenario and print its cost")
    parser.add_argument("--instructions", action="store_true",
                        help="the scenario's cost in instructions counted by Valgrind, not in time")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.instructions:
        if not args.scenario:
            parser.error("--instructions needs --scenario")
        instructions(args)
        return
    plant = scale(load_plant(WUHAN), args.machines)
    duration = parse_duration(args.duration)
    events = scenario_events(args.scenario, plant, duration)
    with_scenario: list[float] = []
    scripted_events = 0

    builds, runs, bares = [], [], []
    for _ in range(args.repeat):
        # interleaved so both see the same machine load, each run alone in memory (the collector of cycles would
        # walk the other's objects too)
        if events:
            scripted = Simulation(plant, seed=args.seed, events=events)
            t = time.perf_counter()
            scripted.run(duration)
            with_scenario.append(time.perf_counter() - t)
            scripted_events = events_processed(scripted.env)
            del scripted
            gc.collect()
        t = time.perf_counter()
        sim = Simulation(plant, seed=args.seed)
        builds.append(time.perf_counter() - t)
        t = time.perf_counter()
        sim.run(duration)
        runs.append(time.perf_counter() - t)
        processed = events_processed(sim.env)
        bares.append(bare_simpy(len(sim.machines), processed))
    t = time.perf_counter()
    truth = sim.truth()
    truth_s = time.perf_counter() - t
    parts = sum(m["run"]["PQ"] for m in truth["machines"])
    build_s, run_s, bare_s = min(builds), min(runs), min(bares)
    model_rate = processed / run_s
    bare_rate = processed / bare_s
    print(f"plant       : {len(sim.machines)} machines in {len(sim.lines)} lines, {args.duration} simulated, "
          f"best of {args.repeat}")
    print(f"model       : {processed:,} events in {run_s:.2f} s = {model_rate:,.0f} events/s "
          f"({parts:,} parts; build {build_s:.2f} s, ground truth {truth_s:.2f} s)")
    print(f"bare SimPy  : {processed:,} events in {bare_s:.2f} s = {bare_rate:,.0f} events/s")
    print(f"ratio       : {model_rate / bare_rate:.2f} of bare SimPy (goal >= 0.25)")
    total = build_s + run_s + truth_s
    print(f"wall        : {total:.1f} s for build + run + ground truth (goal < 60 s)")
    if with_scenario:
        # the cost in speed: the time for the same plant and span, what the user waits for (SimPy events per
        # second would count the scenario's own events, and the stops rippling through the buffers, as speed).
        # Each repetition's two runs are a pair, back to back: the median of the pairs' costs, as this shared
        # machine's speed drifts by tens of per cent within minutes
        scripted_s = min(with_scenario)
        costs = sorted(s / r - 1 for s, r in zip(with_scenario, runs, strict=True))
        print(f"scenario    : {len(events):,} events injected; run in {scripted_s:.2f} s against {run_s:.2f} s plain "
              f"(best of each; {scripted_events:,} SimPy events against {processed:,}); cost, the median of "
              f"{len(costs)} pairs: {100 * costs[len(costs) // 2]:+.1f} % of the time (pairs from "
              f"{100 * costs[0]:+.1f} to {100 * costs[-1]:+.1f} %; goal < 10 %)")


if __name__ == "__main__":
    main()
