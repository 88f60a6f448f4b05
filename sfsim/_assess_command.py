"""``sfsim assess``: the 两化融合 self-assessment report of a site, as one HTML file."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from assess import (
    Assessment,
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
    render_summary,
    summarise,
    write_pdf,
)
from collector import Basis, Rate, StoreConfig, Unavailable, indicators, load_targets, open_store, register
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
    p.add_argument("plant", metavar="PLANT", nargs="+",
                   help="the plant file (the asset register); several: one report per site and a summary")
    p.add_argument("--site", help="site id (default: every site, one report each)")
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
    p.add_argument("--from", dest="start", metavar="ISO", help="period start on a whole hour of the site's clock, "
                   "e.g. 2026-01-05T08:00+08:00 (default: the site's first telemetry)")
    p.add_argument("--to", dest="end", metavar="ISO", help="period end on a whole hour (default: the site's last "
                   "telemetry)")
    p.add_argument("--basis", choices=[b.value for b in Basis], default=Basis.EQUIPMENT.value,
                   help="how 关键工序数控化率 counts (default %(default)s)")
    p.add_argument("--targets", type=Path, metavar="FILE", action="append", default=[],
                   help="more targets (a region's), in the form of collector/data/targets.yaml; repeatable")
    p.add_argument("--out", type=Path, default=Path("assessment.html"),
                   help="the report file (default %(default)s); for several sites a folder (assessment.html: "
                   "assessment/) with a report per site and summary.html")
    p.add_argument("--report-number", metavar="TEXT", help="the report's number (default: site and first day)")
    p.add_argument("--assessor", metavar="NAME", help="who assessed (cover and signature block)")
    p.add_argument("--organisation", metavar="NAME", help="the assessor's organisation")
    p.add_argument("--report-date", metavar="DATE", help="the report's date (default: today)")
    p.add_argument("--simulate-hours", type=float, default=8.0, metavar="H",
                   help="hours the plant is simulated to show a recommendation's effect on OEE and output "
                   "(default %(default)s; 0: not simulated)")
    p.add_argument("--pdf", type=Path, metavar="FILE",
                   help="also the report as PDF (A4, page numbers), printed by headless Chromium; for several "
                   "sites a folder, as --out")
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


def _write(html: str, out: Path, pdf: Path | None, what: str | None) -> int | None:
    """The report as HTML at ``out`` (``what``: what to say of it; None: written already) and, with ``pdf``, as
    PDF; an exit code when that fails."""
    if what is not None:
        try:
            out.write_text(html, encoding="utf-8")
        except OSError as e:
            print(f"sfsim assess: --out {out}: {e.strerror or e}", file=sys.stderr)
            return Exit.INPUT
        print(f"{out}: {what}")
    if pdf is None:
        return None
    try:
        write_pdf(html, pdf)
    except PdfError as e:
        print(f"sfsim assess: --pdf {pdf}: {e}", file=sys.stderr)
        return Exit.FAILED
    except OSError as e:
        print(f"sfsim assess: --pdf {pdf}: {e.strerror or e}", file=sys.stderr)
        return Exit.INPUT
    print(f"{pdf}: the same report as PDF")
    return None


def rates_of(plant: Plant, basis: Basis) -> dict[str, Rate]:
    """An enterprise's declared rates from its plant file, by attribute."""
    rates = indicators(register(plant), (), basis)
    return {attr: getattr(rates, attr) for attr in ("nc_rate", "digitization")}


def _folder(path: Path) -> Path:
    """Where the reports of several sites go: ``--out`` as a folder (``assessment.html`` → ``assessment/``)."""
    return path.with_suffix("") if path.suffix.lower() in (".html", ".htm", ".pdf") else path


def run(args: argparse.Namespace) -> int:
    plants = []
    for name in args.plant:
        try:
            plants.append(load_plant(name))
        except ConfigError as e:
            print_issues(e.issues)
            return Exit.INPUT
    if args.site is not None and len(plants) > 1:
        print("sfsim assess: --site names a site of one plant: give one PLANT with it", file=sys.stderr)
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
    # one report per site: the one named, or every site of every plant
    wanted = [(plant, site) for plant in plants for site in ([args.site] if args.site else [s.id for s in plant.sites])]
    meta = ReportMeta(args.report_number, args.assessor, args.organisation, args.report_date)
    basis = Basis(args.basis)
    # the enterprises assessed together are ranked by their plant files, not by what the store learnt of them
    peers = {p.enterprise.id: rates_of(p, basis) for p in plants}
    reports = []
    for plant, site in wanted:
        try:
            reports.append(assess(plant, site, source, start_ms=start_ms, end_ms=end_ms, basis=basis,
                                  extra_targets=extra, meta=meta if len(wanted) == 1 else
                                  dataclasses.replace(meta, number=None),
                                  simulate=_simulator(plant, args.simulate_hours), peers=peers))
        except ValueError as e:  # --site names no site of the plant, --from cuts an hour, a file's bad line
            print(_logs.scrub(f"sfsim assess: {e}"), file=sys.stderr)
            return Exit.INPUT
        except NoData as e:  # nothing stored for the site or period: in a batch, the other sites still are
            print(_logs.scrub(f"sfsim assess: {e}"), file=sys.stderr)
            if len(wanted) == 1:
                return Exit.FAILED
        except (OSError, Unavailable) as e:  # no *.lp files, no server
            print(_logs.scrub(f"sfsim assess: {e}"), file=sys.stderr)
            return Exit.FAILED
    if not reports:
        return Exit.FAILED
    if len(wanted) == 1:
        (report,) = reports
        return _write(render(report), args.out, args.pdf, _said(report)) or Exit.OK
    folder, pdfs = _folder(args.out), None if args.pdf is None else _folder(args.pdf)
    for path in (folder, pdfs):
        if path is not None:
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                print(f"sfsim assess: {path}: {e.strerror or e}", file=sys.stderr)
                return Exit.INPUT
    files = {r.site: f"{r.site.replace('/', '--')}.html" for r in reports}
    summary = summarise(reports)
    pages = [(render(r), folder / files[r.site], _said(r)) for r in reports]
    pages.append((render_summary(summary, files), folder / "summary.html",
                  f"the summary of {len(summary.enterprises)} enterprises, {len(reports)} sites"))
    # every HTML report first: a PDF that fails (no Chromium) leaves them all written
    for html, path, said in pages:
        if failed := _write(html, path, None, said):
            return failed
    if pdfs is not None:
        for html, path, _ in pages:
            if failed := _write(html, path, pdfs / path.with_suffix(".pdf").name, None):
                return failed
    return Exit.FAILED if len(reports) < len(wanted) else Exit.OK


def _said(report: Assessment) -> str:
    nc, measured = report.indicators.nc_rate, report.indicators.networking_measured
    return (f"{report.site}, {report.local(report.start_ms)} – {report.local(report.end_ms)} "
            f"({report.provenance.origin}); 关键工序数控化率 {nc.numerator}/{nc.denominator}, "
            f"设备联网率 measured {measured.numerator}/{measured.denominator}")
