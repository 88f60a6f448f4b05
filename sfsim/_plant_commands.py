"""``sfsim validate`` and ``sfsim ledger import``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shopfloor import LedgerOptions, PlantError, import_ledger, load_plant
from shopfloor._ledger import POOL_MEANS, load_map, write_template

from ._console import print_issues
from ._exit import Exit


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = commands.add_parser(
        "validate",
        help="check plant files and report every problem",
        description="Check plant files; every problem is reported with file, line, path and what is wrong.",
    )
    validate.add_argument("plants", nargs="+", metavar="PLANT", help="plant model YAML file(s)")
    validate.set_defaults(run=_validate)

    ledger = commands.add_parser("ledger", help="equipment ledger (设备台账) tools")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True, metavar="COMMAND")
    imp = ledger_commands.add_parser(
        "import",
        help="turn an equipment ledger (.xlsx or CSV) into a plant file",
        description="Turn an equipment ledger (设备台账: an Excel workbook, .xlsx, or CSV in UTF-8, UTF-16 or "
        "GB18030; Chinese or English headers, title rows above them) into a plant model YAML file. Column set: "
        "docs/plant-file.md.",
    )
    imp.add_argument("ledger", metavar="LEDGER.xlsx|LEDGER.csv")
    imp.add_argument("--sheet", metavar="NAME", help="the workbook's sheet to read (default: the first)")
    imp.add_argument("--map", type=Path, metavar="MAP.yaml",
                     help="the enterprise's own column names and values (docs/plant-file.md, \"Mapping file\")")
    imp.add_argument("--out", required=True, metavar="PLANT.yaml", help="plant file to write")
    imp.add_argument("--enterprise-id", default="enterprise", help="enterprise id (default: enterprise)")
    imp.add_argument("--enterprise-name", help="enterprise name")
    imp.add_argument("--site-id", default="site",
                     help="the site of rows with no 厂区 cell, or of a ledger with no such column (default: site)")
    imp.add_argument("--site-name", help="that site's name")
    imp.add_argument("--region", help="that site's province and city, e.g. 湖北省襄阳市: its targets are the national "
                                      "ones and its region's")
    imp.add_argument(
        "--cycle-time", metavar="DURATION", help="ideal cycle time for rows that give none (e.g. 60s)"
    )
    imp.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    imp.set_defaults(run=_ledger_import)
    template = ledger_commands.add_parser(
        "template",
        help="write a blank equipment ledger with every column",
        description="Write a blank equipment ledger (设备台账) with every column sfsim ledger import reads, headed "
        "in 中文: an .xlsx workbook (with a sheet of notes in 中文 and English) or a CSV file.",
    )
    template.add_argument("--out", required=True, metavar="FILE.xlsx|FILE.csv", help="the file to write")
    template.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    template.set_defaults(run=_ledger_template)


def _validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.plants:
        try:
            plant = load_plant(path)
        except PlantError as e:
            print_issues(e.issues)
            print(f"{path}: {len(e.issues)} problem(s)", file=sys.stderr)
            failed += 1
            continue
        machines = sum(1 for _ in plant.machines())
        lines = sum(len(a.lines) for s in plant.sites for a in s.areas)
        pool = sum(1 for _ in plant.auxiliary())
        print(f"{path}: ok ({len(plant.sites)} site(s), {lines} line(s), {machines} machine(s)"
              f"{f', {pool} in the auxiliary pool' if pool else ''})")
    return Exit.INPUT if failed else Exit.OK  # a plant file with problems is unusable input, as for every command


def _kept(out: Path, force: bool) -> bool:
    """Is ``out`` there already, and not to be overwritten (said so)?"""
    if out.exists() and not force:
        print(f"{out}: already exists; pass --force to overwrite it", file=sys.stderr)
        return True
    return False


def _ledger_import(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if _kept(out, args.force):
        return Exit.INPUT
    try:
        mapping = load_map(args.map) if args.map else None
        result = import_ledger(args.ledger, LedgerOptions(
            enterprise_id=args.enterprise_id, enterprise_name=args.enterprise_name, site_id=args.site_id,
            site_name=args.site_name, region=args.region, default_cycle_time=args.cycle_time, sheet=args.sheet,
            mapping=mapping))
    except PlantError as e:
        print_issues(e.issues)
        print(f"{args.ledger}: {len(e.issues)} problem(s); nothing written", file=sys.stderr)
        return Exit.INPUT
    try:
        out.write_text(result.yaml, encoding="utf-8")
    except OSError as e:
        print(f"{out}: cannot write: {e.strerror or e}", file=sys.stderr)
        return Exit.INPUT
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{out}: {result.machines} machine(s) written from {args.ledger}")
    if result.auxiliary:
        print(f"{args.ledger}: in the sites' auxiliary pools (auxiliary equipment, or on no line; {POOL_MEANS}): "
              f"{', '.join(result.auxiliary)}")
    if result.foreign_protocols:
        print(f"{args.ledger}: protocols sfsim does not speak, networked and simulated over MQTT: " +
              ", ".join(f"{name} ({n} machine(s))" for name, n in result.foreign_protocols.items()))
    for column, ids in result.made_ids.items():
        print(f"{args.ledger}: ids made from {column} names: " + ", ".join(f"{n} → {i}" for n, i in ids.items()))
    if result.ignored_columns:
        print(f"{args.ledger}: columns not used: {', '.join(result.ignored_columns)}", file=sys.stderr)
    return Exit.OK


def _ledger_template(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if _kept(out, args.force):
        return Exit.INPUT
    try:
        write_template(out)
    except ValueError as e:
        print(e, file=sys.stderr)
        return Exit.INPUT
    except OSError as e:
        print(f"{out}: cannot write: {e.strerror or e}", file=sys.stderr)
        return Exit.INPUT
    print(f"{out}: a blank ledger; fill a row per piece of equipment, then: sfsim ledger import {out} --out PLANT.yaml")
    return Exit.OK
