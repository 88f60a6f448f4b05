"""``sfsim`` argument parsing and dispatch; each job lives in its own module."""

from __future__ import annotations

import argparse
import logging
from importlib.metadata import PackageNotFoundError, version

from . import (
    _assess_command,
    _collect_command,
    _dashboards_command,
    _demo_command,
    _edge_command,
    _exercise_command,
    _inject_command,
    _logs,
    _plant_commands,
    _simulate_command,
    _whatif_command,
)
from ._exit import Exit

log = logging.getLogger("sfsim")


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
    parser.add_argument("--debug-libraries", action="store_true",
                        help="with -v, the libraries' debug messages too (asyncua, paho, influxdb-client …: many); "
                        "secrets are redacted from them as from every line")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _plant_commands.add_commands(commands)
    _simulate_command.add_command(commands)
    _edge_command.add_command(commands)
    _collect_command.add_command(commands)
    _demo_command.add_command(commands)
    _dashboards_command.add_command(commands)
    _assess_command.add_command(commands)
    _whatif_command.add_command(commands)
    _exercise_command.add_command(commands)
    _inject_command.add_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit code (``Exit``: 0 done, 1 failed, 2 unusable input, 130 interrupted)."""
    args = build_parser().parse_args(argv)  # a usage error exits here with 2, Exit.INPUT
    _logs.configure(verbose=args.verbose, libraries=args.debug_libraries)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return Exit.INTERRUPTED
    except Exception:  # through the log's redaction: a traceback may quote a URL or a library's request
        log.critical("sfsim %s stopped by an unexpected error", args.command, exc_info=True)
        return Exit.FAILED
    return code
