"""``sfsim`` argument parsing and dispatch; each job lives in its own module."""

from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import PackageNotFoundError, version

from . import (
    _assess_command,
    _collect_command,
    _dashboards_command,
    _demo_command,
    _edge_command,
    _plant_commands,
    _simulate_command,
)


def _version() -> str:
    try:
        return version("sfsim")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sfsim",
        description="Smart factory monitoring simulation: plant models, SimPy lines, telemetry, OEE and "
        "两化融合 indicators.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _plant_commands.register(commands)
    _simulate_command.register(commands)
    _edge_command.register(commands)
    _collect_command.register(commands)
    _demo_command.register(commands)
    _dashboards_command.register(commands)
    _assess_command.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        # libraries that warn about choices the user made on purpose (security none, busy publishers)
        for noisy in ("asyncua", "mqtt"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    return code
