"""``sfsim assess``: the 两化融合 self-assessment report of a site, as one HTML file."""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from assess import (
    FileSource,
    InfluxSource,
    LineEffect,
    NoData,
    PdfError,
    ReportMeta,
    Simulate,
    Source,
    assess,
    render,
    write_pdf,
)
from collector import Basis, StoreConfig, Unavailable, load_targets, open_store
from shopfloor import Plant, PlantError, load_plant
from shopfloor.config import ConfigError, http_url

from . import _logs
from ._console import print_issues
from ._exit import Exit
from ._whatif import Figures, run_figures, upgrade_events

#: the seed of the what-if runs behind a recommendation's simulated effect
SEED = 1


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "assess", help="the 两化融合 self-assessment report of a site (HTML)",
        description="Write the assessor's report (自评估、自诊断、自对标) of one site: indicators against the "
        "national and city targets with their evidence (which key-process machines are NC, which equipment was "
        "heard), line OEE and the six big losses, energy, and the method notes. The register comes from the "
        "plant file; the evidence from the collector's InfluxDB (--influx) or the demo's files (--data).")
    p.add_argument("plant", metavar="PLANT", help="the plant file (the asset register)")
    p.add_argument("--site", help="site id (default: the plant's only site)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--influx", metavar="URL", help="the collector's InfluxDB, e.g. http://localhost:8086")
    source.add_argument("--data", metavar="DIR", type=Path,
                        help="line protocol files of a demo run (sfsim-demo/<enterprise>/<start time>/data)")
    p.add_argument("--influx-database", default="factory", metavar="NAME",
                   help="1.x database, or the 2.x bucket (default %(default)s)")
    p.add_argument("--influx-token", default=os.environ.get("SFSIM_INFLUX_TOKEN"),
                   help="2.x/3.x API token (default: $SFSIM_INFLUX_TOKEN); without it the 1.x API is used")
    p.add_argument("--influx-username", help="1.x user")
    p.add_argument("--influx-password", default=os.environ.get("SFSIM_INFLUX_PASSWORD"), help="1.x password")
    p.add_argument("--from", dest="start", metavar="ISO", help="period start, e.g. 2026-01-05T08:00+08:00 "
                   "(default: the first stored hour)")
    p.add_argument("--to", dest="end", metavar="ISO", help="period end (default: the end of the last stored hour)")
    p.add_argument("--basis", choices=[b.value for b in Basis], default=Basis.EQUIPMENT.value,
                   help="how 关键工序数控化率 counts (default %(default)s)")
    p.add_argument("--targets", type=Path, metavar="FILE", action="append", default=[],
                   help="more targets (a region's), in the form of collector/data/targets.yaml; repeatable")
    p.add_argument("--out", type=Path, default=Path("assessment.html"), help="the report file (default %(default)s)")
    p.add_argument("--report-number", metavar="TEXT", help="the report's number (default: site and first day)")
    p.add_argument("--assessor", metavar="NAME", help="who assessed (cover and signature block)")
    p.add_argument("--organisation", metavar="NAME", help="the assessor's organisation")
    p.add_argument("--report-date", metavar="DATE", help="the report's date (default: today)")
    p.add_argument("--simulate-hours", type=float, default=8.0, metavar="H",
                   help="hours the plant is simulated to show a recommendation's effect on OEE and output "
                   "(default %(default)s; 0: not simulated)")
    p.add_argument("--pdf", type=Path, metavar="FILE",
                   help="also the report as PDF (A4, page numbers), printed by headless Chromium")
    p.set_defaults(run=run)


def _simulator(plant: Plant, hours: float) -> Simulate | None:
    """The what-if of an upgrade: the plant run as it is and upgraded, with the same random streams."""
    if hours <= 0:
        return None

    @functools.cache
    def as_it_is() -> Figures:
        return run_figures(plant, [], seed=SEED, duration_s=hours * 3600)

    def simulate(paths: Sequence[str]) -> tuple[LineEffect, ...]:
        before = as_it_is()
        after = run_figures(plant, upgrade_events(plant, paths), seed=SEED, duration_s=hours * 3600)
        names = {f"{at.enterprise.id}/{at.site.id}/{at.area.id}/{at.line.id}": at.line.name for at in plant.machines()}
        changed = {at.path.rsplit("/", 1)[0] for at in plant.machines() if at.path in paths}
        return tuple(LineEffect(names[b.path], b.oee, a.oee, b.output, a.output)
                     for b, a in zip(before.lines, after.lines, strict=True) if b.path in changed)
    return simulate


def _ms(text: str | None, what: str) -> int | None:
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what} {text!r}: expected an ISO date and time, e.g. 2026-01-05T08:00+08:00") from None
    if when.tzinfo is None:
        raise ValueError(f"{what} {text!r}: give the UTC offset, e.g. 2026-01-05T08:00+08:00")
    return round(when.timestamp() * 1000)


def _store(args: argparse.Namespace) -> StoreConfig:
    if args.influx_token:
        return StoreConfig(kind="influxdb-v2", url=args.influx, bucket=args.influx_database, token=args.influx_token)
    return StoreConfig(kind="influxdb-v1", url=args.influx, database=args.influx_database,
                       username=args.influx_username, password=args.influx_password, create_database=False)


def run(args: argparse.Namespace) -> int:
    try:
        plant = load_plant(args.plant)
    except ConfigError as e:
        print_issues(e.issues)
        return Exit.INPUT
    try:
        start_ms, end_ms = _ms(args.start, "--from"), _ms(args.end, "--to")
    except ValueError as e:
        print(f"sfsim assess: {e}", file=sys.stderr)
        return Exit.INPUT
    try:
        if args.influx is not None:
            http_url(args.influx, credentials="--influx-token, or --influx-username and --influx-password")
    except ValueError as e:
        print(_logs.scrub(f"sfsim assess: --influx: {e}"), file=sys.stderr)
        return Exit.INPUT
    if args.data is not None and not args.data.is_dir():
        print(f"sfsim assess: --data {args.data}: no such folder", file=sys.stderr)
        return Exit.INPUT
    source: Source
    if args.data is not None:
        source = FileSource(args.data)
    else:
        store = _store(args)
        _logs.remember(store)
        source = InfluxSource(open_store(store))
    try:
        extra = [t for path in args.targets for t in load_targets(path)]
    except PlantError as e:
        print_issues(e.issues)
        return Exit.INPUT
    try:
        meta = ReportMeta(args.report_number, args.assessor, args.organisation, args.report_date)
        report = assess(plant, args.site, source, start_ms=start_ms, end_ms=end_ms, basis=Basis(args.basis),
                        extra_targets=extra, meta=meta, simulate=_simulator(plant, args.simulate_hours))
    except ValueError as e:  # --site names no site of the plant (or none when it has several), a file's bad line
        print(_logs.scrub(f"sfsim assess: {e}"), file=sys.stderr)
        return Exit.INPUT
    except (NoData, OSError, Unavailable) as e:  # nothing stored for the site or period (no *.lp files), no server
        print(_logs.scrub(f"sfsim assess: {e}"), file=sys.stderr)
        return Exit.FAILED
    html = render(report)
    try:
        args.out.write_text(html, encoding="utf-8")
    except OSError as e:
        print(f"sfsim assess: --out {args.out}: {e.strerror or e}", file=sys.stderr)
        return Exit.INPUT
    nc = report.indicators.nc_rate
    print(f"{args.out}: {report.site}, {report.local(report.start_ms)} – {report.local(report.end_ms)} "
          f"({report.provenance.origin}); "
          f"关键工序数控化率 {nc.numerator}/{nc.denominator}, "
          f"设备联网率 measured {report.indicators.networking_measured.numerator}/"
          f"{report.indicators.networking_measured.denominator}")
    if args.pdf is not None:
        try:
            write_pdf(html, args.pdf)
        except PdfError as e:
            print(f"sfsim assess: --pdf {args.pdf}: {e}", file=sys.stderr)
            return Exit.FAILED
        except OSError as e:
            print(f"sfsim assess: --pdf {args.pdf}: {e.strerror or e}", file=sys.stderr)
            return Exit.INPUT
        print(f"{args.pdf}: the same report as PDF")
    return Exit.OK
