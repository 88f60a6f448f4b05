"""``sfsim whatif``: a plant as it is and as changed, run with the same random streams, side by side."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from collector import Rate, targets
from shopfloor import Event, PlantError, ScenarioError, load_plant, parse_duration

from ._console import percent, print_issues
from ._exit import Exit
from ._scenarios import add_scenario_option, read_events
from ._whatif import Figures, run_figures, set_events, upgrade_events, upgrade_to


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "whatif", help="compare the plant as it is with the plant as changed (same random streams)",
        description="Run the plant as it is and as changed (--set, --scenario, --target), with the same seed and "
        "random streams, and print per site and line, side by side with the differences: 关键工序数控化率, "
        "生产设备数字化率, 设备联网率, line OEE with availability, performance and quality, output, energy per "
        "good part and the constraint station. --target finds the fewest key-process machines whose upgrade "
        "to NC reaches an NC rate (docs/scenarios.md \"What-if\").")
    p.add_argument("plant", metavar="PLANT", help="plant model YAML file")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="MACHINE.FIELD=VALUE",
                   help="a machine field as a plant file writes it, e.g. WH-L01.control=cnc (repeatable)")
    add_scenario_option(p)
    p.add_argument("--target", metavar="nc_rate=X|ID",
                   help="upgrade the fewest key-process machines to NC to reach this NC rate (0.9), or a target's "
                   "id from the targets file (wuhan-2025)")
    p.add_argument("--duration", default="8h", help="simulated time of each run (default 8h)")
    p.add_argument("--seed", type=int, default=1, help="random seed of both runs (default 1)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the comparison as JSON (for the report)")
    p.set_defaults(run=run)


def target_rate(text: str) -> float:
    """``nc_rate=0.9`` or a target id (``wuhan-2025``) as an NC rate; ``ValueError`` saying what is accepted."""
    name, equals, value = text.partition("=")
    if equals:
        if name.strip() != "nc_rate":
            raise ValueError(f"--target {text!r}: only nc_rate can be reached by upgrades (nc_rate=0.9)")
        try:
            rate = float(value)
        except ValueError:
            raise ValueError(f"--target {text!r}: expected a share from 0 to 1, e.g. nc_rate=0.9") from None
        if not 0 < rate <= 1:
            raise ValueError(f"--target {text!r}: expected a share above 0 and at most 1, got {rate:g}")
        return rate
    known = {t.id: t for t in targets("nc_rate")}
    if text not in known:
        raise ValueError(f"--target {text!r}: no such NC-rate target; the targets file has {', '.join(known)}")
    return known[text].value


def run(args: argparse.Namespace) -> int:
    try:
        plant = load_plant(args.plant)
        events: list[Event] = [*read_events(args.scenario, plant, Path(args.plant)), *set_events(plant, args.settings)]
    except (PlantError, ScenarioError) as e:
        print_issues(e.issues)
        return Exit.INPUT
    except ValueError as e:
        print(f"sfsim whatif: {e}", file=sys.stderr)
        return Exit.INPUT
    try:
        duration = parse_duration(args.duration)
        goal = target_rate(args.target) if args.target else None
    except ValueError as e:
        print(f"sfsim whatif: {e}", file=sys.stderr)
        return Exit.INPUT
    upgrades = upgrade_to(plant, goal) if goal is not None else {}
    events += upgrade_events(plant, [path for paths in upgrades.values() for path in paths])
    if not events:
        print("sfsim whatif: nothing to compare: give --set, --scenario or --target", file=sys.stderr)
        return Exit.INPUT
    try:
        baseline = run_figures(plant, [], seed=args.seed, duration_s=duration)  # the plant as it is
        changed = run_figures(plant, events, seed=args.seed, duration_s=duration)
    except ScenarioError as e:
        print_issues(e.issues)
        return Exit.INPUT
    console = Console() if sys.stdout.isatty() else Console(width=140)
    _print(console, baseline, changed, upgrades, goal)
    if args.json:
        document = {"plant": plant.source, "seed": args.seed, "duration_s": duration, "target": goal,
                    "upgrades": upgrades, "changes": [_event(e) for e in events],
                    "baseline": _plain(baseline), "changed": _plain(changed)}
        try:
            args.json.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        except OSError as e:
            print(f"sfsim whatif: --json {args.json}: {e.strerror or e}", file=sys.stderr)
            return Exit.INPUT
    return Exit.OK


def _event(e: Event) -> dict[str, Any]:
    params = {k: (dict(v) if isinstance(v, dict) else v) for k, v in e.params.items()}
    return {"kind": e.kind.value, "target": e.path, "params": json.loads(json.dumps(params, default=str))}


def _plain(f: Figures) -> dict[str, Any]:
    return {"sites": [{"site": s.site, **{k: _rate(getattr(s, k)) for k in ("nc_rate", "digitization", "networking")}}
                      for s in f.sites],
            "lines": [dataclasses.asdict(line) for line in f.lines]}


def _rate(r: Rate) -> dict[str, Any]:
    return {"value": r.value, "numerator": r.numerator, "denominator": r.denominator}


def _delta(a: float | None, b: float | None, scale: float = 100.0, unit: str = " pt") -> str:
    if a is None or b is None:
        return "—"
    d = (b - a) * scale
    return "0" if abs(d) < 0.0005 * scale else f"{d:+.{1 if scale == 100.0 else 3}f}{unit}"


def _print(console: Console, base: Figures, changed: Figures, upgrades: dict[str, list[str]],
           goal: float | None) -> None:
    sites = Table(title="两化融合 假设分析 / What-if: indicators", title_justify="left")
    for column in ("厂区\nSite", "指标\nIndicator", "现状\nAs is", "改变后\nChanged", "差值\nΔ"):
        sites.add_column(column, justify="right" if column[0] in "现改差" else "left")
    names = {"nc_rate": "关键工序数控化率\nkey-process NC rate", "digitization": "生产设备数字化率\ndigitization",
             "networking": "设备联网率\nnetworking"}
    for a, b in zip(base.sites, changed.sites, strict=True):
        for key, name in names.items():
            ra, rb = getattr(a, key), getattr(b, key)
            sites.add_row(a.site, name, f"{percent(ra.value)} ({ra.numerator}/{ra.denominator})",
                          f"{percent(rb.value)} ({rb.numerator}/{rb.denominator})", _delta(ra.value, rb.value))
    console.print(sites)
    lines = Table(title="产线 / Lines (the constraint station's OEE)", title_justify="left")
    for column in ("产线\nLine", "\n", "OEE", "可用率\nA", "性能\nP", "质量\nQ", "产量\nOutput",
                   "单件能耗\nkWh/good", "瓶颈\nConstraint"):
        lines.add_column(column, justify="left" if column in ("产线\nLine", "\n", "瓶颈\nConstraint") else "right")
    factors = ("oee", "availability", "performance", "quality")
    for x, y in zip(base.lines, changed.lines, strict=True):
        lines.add_row(f"{x.site}/{x.line}", "现状 as is", *(percent(getattr(x, k)) for k in factors), str(x.output),
                      _kwh(x.energy_per_good_kwh), x.constraint)
        lines.add_row("", "改变后 changed", *(percent(getattr(y, k)) for k in factors), str(y.output),
                      _kwh(y.energy_per_good_kwh), y.constraint)
        lines.add_row("", "差值 Δ", *(_delta(getattr(x, k), getattr(y, k)) for k in factors),
                      f"{y.output - x.output:+d}", _delta(x.energy_per_good_kwh, y.energy_per_good_kwh, 1.0, ""),
                      "", end_section=True)
    console.print(lines)
    if goal is not None:
        if not upgrades:
            console.print(f"Every site already reaches an NC rate of {percent(goal)}: nothing to upgrade.")
        for site, paths in upgrades.items():
            ids = ", ".join(p.rsplit("/", 1)[1] for p in paths)
            console.print(f"{site}: upgrade {len(paths)} key-process machine(s) to NC to reach {percent(goal)}: {ids}")


def _kwh(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"
