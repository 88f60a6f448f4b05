"""``sfsim simulate``: run a plant and summarise it from the ground truth."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from shopfloor import PlantError, format_duration, load_plant, parse_duration
from simulator import Simulation

from ._console import percent, print_issues


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return seconds


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'max' or a positive number, got {text!r}") from None
    if not speed > 0:
        raise argparse.ArgumentTypeError(f"expected 'max' or a positive number, got {text!r}")
    return speed


def _start(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO date-time such as 2026-01-05T08:00, got {text!r}") from None


def register(commands: Any) -> None:
    p = commands.add_parser(
        "simulate",
        help="run a plant model and print OEE per line from the ground truth",
        description="Run a plant model as fast as possible (or at --speed times real time) and print a "
        "per-line summary; --truth writes the exact ISO 22400 ground truth as JSON.",
    )
    p.add_argument("plant", metavar="PLANT", help="plant model YAML file")
    p.add_argument("--duration", type=_duration, default=8 * 3600.0, help="simulated time: 30m, 8h, 7d (default 8h)")
    p.add_argument("--seed", type=int, default=1, help="random seed; same seed, same run (default 1)")
    p.add_argument("--speed", type=_speed, default=None, metavar="max|N",
                   help="max (default) or sim seconds per wall second, 1 = real time")
    p.add_argument("--start", type=_start, metavar="ISO",
                   help="start instant (default: first shift on 2026-01-05, in the first site's time zone)")
    p.add_argument("--truth", type=Path, metavar="FILE", help="write the ground truth JSON here")
    p.set_defaults(run=_simulate)


def _simulate(args: argparse.Namespace) -> int:
    try:
        plant = load_plant(args.plant)
    except PlantError as e:
        print_issues(e.issues)
        return 2
    err = Console(stderr=True)
    sim = Simulation(plant, seed=args.seed, start=args.start)
    duration: float = args.duration
    wall0 = time.perf_counter()
    interrupted = False
    with Progress(
        TextColumn("[bold]simulating[/]"),
        BarColumn(),
        TextColumn("{task.fields[at]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("run", total=duration, at="")

        def show(now: float) -> None:
            progress.update(task, completed=now, at=f"{format_duration(round(now))} / {format_duration(duration)}")

        try:
            if args.speed is None:
                sim.run(duration, progress=show)
            else:
                asyncio.run(sim.run_live(duration, speed=args.speed, on_step=show))
        except KeyboardInterrupt:
            interrupted = True
    wall = time.perf_counter() - wall0
    truth = sim.truth()
    if args.truth:
        args.truth.write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    _summary(truth, sim, wall, interrupted, args)
    return 130 if interrupted else 0


def _summary(truth: dict[str, Any], sim: Simulation, wall_s: float, interrupted: bool,
             args: argparse.Namespace) -> None:
    out = Console()
    if not out.is_terminal:
        out.width = 120  # a pipe or file: do not squeeze the table to 80 columns
    stopped = " (interrupted)" if interrupted else ""
    out.print(
        f"[bold]{sim.plant.enterprise.name}[/] · seed {sim.seed} · {truth['start']} → {truth['end']}{stopped}\n"
        f"{len(sim.machines)} machines, {format_duration(round(sim.now))} simulated in {wall_s:.2f} s wall"
    )
    table = Table(title="产线汇总 Line summary (ground truth)", title_justify="left")
    for header, justify in (
        ("厂区\nSite", "left"),
        ("产线\nLine", "left"),
        ("产量\nOutput", "right"),
        ("可用率\nAvailability", "right"),
        ("性能\nPerformance", "right"),
        ("质量\nQuality", "right"),
        ("OEE\n", "right"),
        ("瓶颈\nConstraint", "left"),
    ):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for line in truth["lines"]:
        table.add_row(
            line["site"],
            line["id"],
            str(line["output"]),
            percent(line["availability"]),
            percent(line["effectiveness"]),
            percent(line["quality"]),
            f"[bold]{percent(line['oee'])}[/]",
            line["constraint"],
        )
    out.print(table)
    out.print("Line KPIs are those of the line's constraint station (largest ideal cycle time);\n"
              "output is good parts leaving the last station. See docs/ground-truth.md.")
    if args.truth:
        out.print(f"ground truth written to {args.truth}")
    sys.stdout.flush()
