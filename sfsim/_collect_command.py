"""``sfsim collect``: MQTT telemetry → InfluxDB and the KPI engine, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from collector import Collector, CollectorConfig, check_connections, load_collector_config
from shopfloor.config import ConfigError

from . import _logs
from ._console import print_checks, print_issues
from ._exit import Exit


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "collect",
        help="store the MQTT telemetry in InfluxDB and compute OEE and 两化融合 indicators",
        description="Subscribe to the telemetry contract (a shared subscription, so several collectors split "
        "the load), check every message, write InfluxDB (spooling to disk while it is away) and write back KPI "
        "results, 两化融合 indicators, grades, fleet status and alarms. Settings come from the config file and "
        "SFSIM_COLLECTOR_* environment variables (docs/collector.md).",
    )
    p.add_argument("--config", metavar="FILE", help="collector.yaml (optional when the environment gives "
                   "SFSIM_COLLECTOR_MQTT_URL)")
    p.add_argument("--check", action="store_true", help="check the configuration and exit")
    p.add_argument("--connect", action="store_true",
                   help="with --check: also log in to the broker and the store with the configured credentials, "
                   "writing nothing, and report each (exit 1 if one fails)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_collector_config(args.config)
    except ConfigError as e:
        print_issues(e.issues)
        return Exit.INPUT
    _logs.remember(config)
    if args.check or args.connect:
        print(f"{args.config or 'environment'}: OK (MQTT {config.mqtt.url}, store {config.store.kind} "
              f"{config.store.target}, KPI {'on' if config.kpi.enabled else 'off'})", flush=True)
        return print_checks(asyncio.run(check_connections(config))) if args.connect else Exit.OK
    for name in ("collector", "shopfloor"):
        logger = logging.getLogger(name)
        logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))
    print(f"collector {config.collector}: {config.mqtt.url} → {config.store.kind} {config.store.target}; "
          f"{config.subscription}; spool {config.spool_dir}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(config))
    return Exit.OK  # stopped by Ctrl-C or SIGTERM: how a service ends


async def _serve(config: CollectorConfig) -> None:
    async with Collector(config) as collector:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows: Ctrl-C still works
            loop.add_signal_handler(signal.SIGTERM, collector.stop)
            loop.add_signal_handler(signal.SIGINT, collector.stop)
        await collector.serve()
