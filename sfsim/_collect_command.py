"""``sfsim collect``: MQTT telemetry → InfluxDB and the KPI engine, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from collector import Collector, CollectorConfig, check_connections, load_collector_config
from console import Births, CollectorFleet, ConsoleServer
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
    p.add_argument("--web-port", type=int, metavar="N",
                   help="serve the live web console of what the collector computes on this port (0: a free one; "
                   "default: no console): its plant files' machines and those it knows from births")
    p.add_argument("--web-host", default="127.0.0.1", metavar="HOST",
                   help="the address the console listens on (default %(default)s: this machine only)")
    p.set_defaults(run=run)


class WebError(Exception):
    """The console cannot listen where it was told to."""


def run(args: argparse.Namespace) -> int:
    try:
        config = load_collector_config(args.config)
    except ConfigError as e:
        print_issues(e.issues)
        return Exit.INPUT
    _logs.remember(config)
    if args.web_port is not None and not config.kpi.enabled:
        print(f"sfsim collect: --web-port: {args.config or 'environment'}: the console shows what the KPI engine "
              "computes, and kpi.enabled is false", file=sys.stderr)
        return Exit.INPUT
    if args.web_port is not None and not 0 <= args.web_port <= 65535:
        print(f"sfsim collect: --web-port: expected a port from 0 to 65535, got {args.web_port}", file=sys.stderr)
        return Exit.INPUT
    if args.check or args.connect:
        print(f"{args.config or 'environment'}: OK (MQTT {config.mqtt.url}, store {config.store.kind} "
              f"{config.store.target}, KPI {'on' if config.kpi.enabled else 'off'})", flush=True)
        return print_checks(asyncio.run(check_connections(config))) if args.connect else Exit.OK
    for name in ("collector", "shopfloor"):
        logger = logging.getLogger(name)
        logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))
    print(f"collector {config.collector}: {config.mqtt.url} → {config.store.kind} {config.store.target}; "
          f"{config.subscription}; spool {config.spool_dir}", file=sys.stderr, flush=True)
    web = (args.web_host, args.web_port) if args.web_port is not None else None
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(config, web))
    except WebError as e:
        print(f"sfsim collect: --web-host/--web-port: {e}", file=sys.stderr)
        return Exit.INPUT
    return Exit.OK  # stopped by Ctrl-C or SIGTERM: how a service ends


async def _serve(config: CollectorConfig, web: tuple[str, int] | None = None) -> None:
    collector = Collector(config)
    async with contextlib.AsyncExitStack() as stack:
        if web is not None:
            assert collector.engine is not None  # run() refuses a console without the KPI engine
            births = Births()
            collector.consumers.append(births)  # before the first message: every retained birth is seen
            view = CollectorFleet(collector.engine, config.kpi.plants, births, config.sites)
            try:
                # before the collector connects: a port in use is the command line's mistake, said at once
                server = await stack.enter_async_context(ConsoleServer(view.snapshot, host=web[0], port=web[1]))
            except OSError as e:
                raise WebError(str(e)) from None
            print(f"web console 网页控制台: {server.url}", file=sys.stderr, flush=True)
        await stack.enter_async_context(collector)
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows: Ctrl-C still works
            loop.add_signal_handler(signal.SIGTERM, collector.stop)
            loop.add_signal_handler(signal.SIGINT, collector.stop)
        await collector.serve()
