"""What-if: a plant run as it is and as changed, with the same random streams, and the figures side by side.

The two runs share every random stream (each machine's draws are its own and the changes draw
none), so what differs is what the changes caused. ``upgrade_to`` finds the fewest key-process
machines whose upgrade to numerical control lifts a site's 关键工序数控化率 to a target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from collector import UPGRADE_CONTROL, Rate, fewest_upgrades, indicators, register
from shopfloor import NC_CONTROLS, Event, Plant, parse_event
from simulator import Simulation

from ._console import yaml_value


@dataclass(frozen=True, slots=True)
class SiteFigures:
    """A site's 两化融合 rates, with their counts."""

    site: str
    nc_rate: Rate
    digitization: Rate
    networking: Rate


@dataclass(frozen=True, slots=True)
class LineFigures:
    """A line's run: its constraint station's OEE and factors, its output and energy per good part."""

    path: str
    site: str
    line: str
    constraint: str
    availability: float | None
    performance: float | None
    quality: float | None
    oee: float | None
    output: int
    energy_per_good_kwh: float | None


@dataclass(frozen=True, slots=True)
class Figures:
    """One run's figures."""

    sites: tuple[SiteFigures, ...]
    lines: tuple[LineFigures, ...]
    #: the truth's machine rows of the whole run, by path (to show what the changes did not touch)
    machines: dict[str, dict[str, Any]]


def run_figures(plant: Plant, events: Sequence[Event], *, seed: int, duration_s: float) -> Figures:
    """Run ``plant`` with ``events`` (its changes among them) and sum up the run."""
    sim = Simulation(plant, seed=seed, events=events)
    sim.injector.check(events, duration_s)
    sim.run(duration_s)
    truth = sim.truth()
    equipment = register(sim.plant)
    sites = []
    for site in sim.plant.sites:
        rates = indicators([e for e in equipment if e.site == site.id])
        sites.append(SiteFigures(site.id, rates.nc_rate, rates.digitization, rates.networking_declared))
    machines = {m["path"]: m["run"] for m in truth["machines"]}
    lines = []
    for line in truth["lines"]:
        energy = sum(machines[f"{line['path']}/{m}"]["energy_kWh"] for m in line["machines"])
        lines.append(LineFigures(line["path"], line["site"], line["id"], line["constraint"], line["availability"],
                                 line["effectiveness"], line["quality"], line["oee"], line["output"],
                                 energy / line["output"] if line["output"] else None))
    return Figures(tuple(sites), tuple(lines), machines)


def set_events(plant: Plant, settings: Sequence[str]) -> list[Event]:
    """``MACHINE.FIELD=VALUE`` settings as ``change`` events (``ScenarioError`` naming the setting)."""
    events = []
    for text in settings:
        where, equals, value = text.partition("=")
        machine, dot, field = where.rpartition(".")
        if not equals or not dot or not machine or not field:
            raise ValueError(f"--set {text!r}: expected MACHINE.FIELD=VALUE, e.g. WH-L01.control=cnc")
        events.append(parse_event({"kind": "change", "target": machine, "set": {field: yaml_value(value)}}, plant,
                                  source=f"--set {text}"))
    return events


def upgrade_to(plant: Plant, target: float) -> dict[str, list[str]]:
    """Per site below ``target``: the fewest key-process machines (paths) whose upgrade to NC reaches it.

    The rule when several sets are as small: ``collector.fewest_upgrades``'s."""
    equipment = register(plant)
    found = {site.id: fewest_upgrades([e for e in equipment if e.site == site.id], target) for site in plant.sites}
    return {site: paths for site, paths in found.items() if paths}


def upgrade_events(plant: Plant, paths: Sequence[str]) -> list[Event]:
    """``change`` events that put each machine under its industry's numerical control (and make it digital)."""
    by_path = {at.path: at for at in plant.machines()}
    events = []
    for path in paths:
        at = by_path[path]
        control = UPGRADE_CONTROL[at.site.industry]
        assert control in NC_CONTROLS[at.site.industry]
        events.append(parse_event({"kind": "change", "target": at.machine.id,
                                   "set": {"control": control.value, "digital": True}}, plant,
                                  source=f"upgrade {at.machine.id}"))
    return events
