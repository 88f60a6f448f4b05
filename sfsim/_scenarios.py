"""``--scenario FILE`` of ``sfsim simulate`` and ``sfsim demo``: scenario files read against the plant being run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from shopfloor import Event, Plant, load_scenario


def add_scenario_option(parser: argparse.ArgumentParser) -> None:
    """``--scenario FILE``, repeatable."""
    parser.add_argument("--scenario", action="append", default=[], type=Path, metavar="FILE",
                        help="events to inject: a scenario file (docs/scenarios.md); repeatable")


def read_events(paths: Sequence[Path], plant: Plant, plant_path: Path) -> tuple[Event, ...]:
    """The events of every scenario, in the order given (``ScenarioError`` lists the problems of the first bad
    file); a scenario written for another plant file is said so, and still checked against this one."""
    events: list[Event] = []
    for path in paths:
        scenario = load_scenario(path, plant)
        if scenario.plant is not None and scenario.plant.resolve() != plant_path.resolve():
            print(f"{path}: written for {scenario.plant}; its targets were found in {plant_path}", file=sys.stderr)
        events.extend(scenario.events)
    return tuple(events)
