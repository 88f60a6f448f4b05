"""``sfsim edge``: run the OPC UA → MQTT gateway until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import signal
import sys

from edge import EdgeConfig, EdgeGateway, check_connections, load_edge_config
from shopfloor.config import ConfigError

from . import _logs
from ._console import print_checks, print_issues, shard_arg
from ._exit import Exit


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "edge",
        help="bridge OPC UA servers to the MQTT telemetry contract (store-and-forward)",
        description="Bridge OPC UA servers (our simulator's or any other, through a node map) to the MQTT "
        "telemetry contract, with a disk spool so broker outages lose nothing. Settings come from the config "
        "file and SFSIM_EDGE_* environment variables (docs/edge.md).",
    )
    p.add_argument("--config", metavar="FILE", help="edge.yaml (optional when the environment gives "
                   "SFSIM_EDGE_MQTT_URL and SFSIM_EDGE_OPCUA_ENDPOINTS)")
    p.add_argument("--check", action="store_true", help="check the configuration and exit")
    p.add_argument("--connect", action="store_true",
                   help="with --check: also log in to the broker and every OPC UA endpoint with the configured "
                   "credentials and find the machines, publishing and subscribing nothing; report each (exit 1 if "
                   "one fails)")
    p.add_argument("--shard", type=shard_arg, metavar="K/N",
                   help="bridge only the machines whose path hashes to K of N: N gateway processes share the "
                   "machines of the same endpoints (overrides shard in the file and SFSIM_EDGE_SHARD)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_edge_config(args.config)
    except ConfigError as e:
        print_issues(e.issues)
        return Exit.INPUT
    _logs.remember(config)
    if args.shard is not None:
        config = dataclasses.replace(config, shard=args.shard)
    if args.check or args.connect:
        print(f"{args.config or 'environment'}: OK ({len(config.endpoints)} endpoint(s), MQTT {config.mqtt.url})",
              flush=True)
        return print_checks(asyncio.run(check_connections(config))) if args.connect else Exit.OK
    # the gateway's own progress (connects, counts, losses) is what an operator watches
    logging.getLogger("edge").setLevel(min(logging.getLogger("edge").getEffectiveLevel(), logging.INFO))
    logging.getLogger("shopfloor").setLevel(min(logging.getLogger("shopfloor").getEffectiveLevel(), logging.INFO))
    print(f"edge {config.name}: {len(config.endpoints)} OPC UA endpoint(s) → {config.mqtt.url} "
          f"(topics {config.mqtt.prefix}/v1/…), spool {config.spool_dir}", file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(config))
    return Exit.OK  # stopped by Ctrl-C or SIGTERM: how a service ends


async def _serve(config: EdgeConfig) -> None:
    async with EdgeGateway(config) as gateway:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows: Ctrl-C still works
            loop.add_signal_handler(signal.SIGTERM, gateway.stop)
            loop.add_signal_handler(signal.SIGINT, gateway.stop)
        await gateway.serve()
