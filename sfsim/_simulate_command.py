"""``sfsim simulate``: run a plant and summarise it from the ground truth."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from shopfloor import MqttSettings, PlantError, Protocol, ScenarioError, format_duration, load_plant, parse_duration
from simulator import (
    LiveRun,
    MachineSim,
    MqttControl,
    MqttMachines,
    OpcUaServers,
    OpcUaSettings,
    Simulation,
    TelemetrySink,
)

from . import _logs
from ._console import opcua_users, percent, print_issues, shard_arg
from ._exit import Exit
from ._scenarios import add_scenario_option, read_events


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return seconds


def _speed(text: str) -> float:
    if text == "max":
        return math.inf
    try:
        speed = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'max' or a positive number, got {text!r}") from None
    if not speed > 0:
        raise argparse.ArgumentTypeError(f"expected 'max' or a positive number, got {text!r}")
    return speed


def _start(text: str) -> dt.datetime:
    if text == "now":
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO date-time such as 2026-01-05T08:00, got {text!r}") from None


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "simulate",
        help="run a plant model (optionally serving OPC UA / MQTT) and print OEE per line",
        description="Run a plant model as fast as possible (or at --speed times real time) and print a "
        "per-line summary; --truth writes the exact ISO 22400 ground truth as JSON. With --opcua and/or "
        "--mqtt the networked machines serve live telemetry (docs/telemetry.md) until --duration or Ctrl-C.",
    )
    p.add_argument("plant", metavar="PLANT", help="plant model YAML file")
    p.add_argument("--duration", type=_duration, metavar="DURATION",
                   help="simulated time: 30m, 8h, 7d (default 8h; when serving, until Ctrl-C)")
    p.add_argument("--seed", type=int, default=1, help="random seed; same seed, same run (default 1)")
    p.add_argument("--speed", type=_speed, metavar="max|N",
                   help="max or sim seconds per wall second, 1 = real time (default max; when serving, 1)")
    p.add_argument("--start", type=_start, metavar="ISO|now",
                   help="start instant (default: first shift on 2026-01-05 in the first site's time zone; "
                   "when serving, now)")
    add_scenario_option(p)
    p.add_argument("--truth", type=Path, metavar="FILE", help="write the ground truth JSON here")
    p.add_argument("--shard", type=shard_arg, default=(0, 1), metavar="K/N",
                   help="run only every N-th line from the K-th (0-based), so N processes share a plant")
    serve = p.add_argument_group("live telemetry")
    serve.add_argument("--opcua", action="store_true", help="serve machines whose protocol is opcua over OPC UA")
    serve.add_argument("--opcua-host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--opcua-port", type=int, default=4840, help="first server's port (default 4840)")
    serve.add_argument("--opcua-per", choices=("site", "line"), default="site",
                       help="one OPC UA server per site (default) or per line")
    serve.add_argument("--opcua-security", choices=("none", "sign", "sign-encrypt"), default="none",
                       help="none (default), or Basic256Sha256 Sign / SignAndEncrypt with generated certificates")
    serve.add_argument("--opcua-cert-dir", type=Path, default=Path(".sfsim/pki"),
                       help="server keys and self-signed certificates (default .sfsim/pki)")
    serve.add_argument("--opcua-user", action="append", default=[], metavar="USER:PASSWORD",
                       help="accept this user (repeatable); anonymous sessions are then refused")
    serve.add_argument("--opcua-operator", action="append", default=[], metavar="USER:PASSWORD",
                       help="accept this user as --opcua-user does, and let it call InjectFault and ClearFault "
                       "(repeatable; needs --control)")
    serve.add_argument("--mqtt", metavar="URL",
                       help="machines whose protocol is mqtt publish to this broker: mqtt[s]://[user:pass@]host[:port]")
    serve.add_argument("--mqtt-prefix", default="sfsim", help="topic prefix (default sfsim)")
    serve.add_argument("--mqtt-qos", type=int, choices=(0, 1, 2), default=1, help="QoS (default 1)")
    serve.add_argument("--mqtt-version", choices=("5", "3.1.1"), default="5", help="MQTT version (default 5)")
    serve.add_argument("--mqtt-ca", metavar="FILE", help="CA bundle for mqtts:// (default: the system's)")
    serve.add_argument("--control", action="store_true",
                       help="take injection commands: on the broker's control topic with --mqtt (who may send them "
                       "is the broker's ACL), by the OPC UA methods InjectFault and ClearFault of every machine, line "
                       "and site with --opcua (only --opcua-operator users may call them): docs/scenarios.md "
                       "\"Live injection\"")
    serve.add_argument("--sample", type=_duration, default=1.0, metavar="DURATION",
                       help="wall-clock period of counters and signals (default 1s)")
    p.set_defaults(run=_simulate)


def _simulate(args: argparse.Namespace) -> int:
    try:
        plant = load_plant(args.plant)
        events = read_events(args.scenario, plant, Path(args.plant))
    except (PlantError, ScenarioError) as e:
        print_issues(e.issues)
        return Exit.INPUT
    serving = args.opcua or args.mqtt is not None
    try:
        if args.control and args.mqtt is None and not args.opcua:
            raise ValueError("--control needs --mqtt (the broker's control topic) or --opcua (the InjectFault "
                             "methods): the commands come over one of them")
        if args.opcua_operator and not (args.control and args.opcua):
            raise ValueError("--opcua-operator needs --opcua and --control: it grants the right to call the "
                             "methods live control adds")
        sinks = _sinks(args) if serving else None
    except ValueError as e:
        print(f"sfsim simulate: {e}", file=sys.stderr)
        return Exit.INPUT
    _logs.remember(*(settings for _, settings in sinks or ()))
    err = Console(stderr=True)
    start = args.start or (_start("now") if serving else None)
    duration: float | None = args.duration or (None if serving else 8 * 3600.0)
    try:
        sim = Simulation(plant, seed=args.seed, start=start, shard=args.shard, events=events,
                         opcua_per=args.opcua_per)
        sim.injector.check(events, duration)
    except ScenarioError as e:
        print_issues(e.issues)
        return Exit.INPUT
    chosen: float = args.speed or (1.0 if serving else math.inf)
    speed = None if math.isinf(chosen) else chosen  # None: as fast as possible
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
        until = f" / {format_duration(duration)}" if duration else ""

        def show(now: float) -> None:
            progress.update(task, completed=now, at=f"{format_duration(round(now))}{until}")

        try:
            if sinks is not None:
                asyncio.run(_serve(sim, sinks, duration, speed, args.sample, show, err, catch_up=args.start is None,
                                   control=args.control))
            elif speed is None:
                assert duration is not None
                sim.run(duration, progress=show)
            else:
                asyncio.run(sim.run_live(duration, speed=speed, on_step=show))
        except KeyboardInterrupt:
            interrupted = True
        except (OSError, ValueError) as e:
            # a port already in use, an unreadable CA file, a refused certificate directory …: what it was given
            progress.stop()
            print(f"sfsim simulate: {e}", file=sys.stderr)
            return Exit.INPUT
    wall = time.perf_counter() - wall0
    truth = sim.truth()
    if args.truth:
        try:
            args.truth.write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        except OSError as e:
            print(f"sfsim simulate: --truth {args.truth}: {e.strerror or e}", file=sys.stderr)
            return Exit.INPUT
    _summary(truth, sim, wall, interrupted, args)
    return Exit.INTERRUPTED if interrupted else Exit.OK


def _sinks(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """Adapter factories by name, from the command line; ValueError for bad settings."""
    out: list[tuple[str, Any]] = []
    if args.opcua:
        users, operators = opcua_users(args.opcua_user, args.opcua_operator)
        out.append(("opcua", OpcUaSettings(host=args.opcua_host, port=args.opcua_port, per=args.opcua_per,
                                           security=args.opcua_security, cert_dir=args.opcua_cert_dir,
                                           users=users, operators=operators)))
    if args.mqtt is not None:
        out.append(("mqtt", MqttSettings.from_url(args.mqtt, prefix=args.mqtt_prefix, qos=args.mqtt_qos,
                                                  version=args.mqtt_version, ca_file=args.mqtt_ca)))
    return out


async def _serve(sim: Simulation, sinks: list[tuple[str, Any]], duration: float | None, speed: float | None,
                 sample_s: float, show: Callable[[float], None], err: Console, *, catch_up: bool,
                 control: bool = False) -> None:
    adapters: list[tuple[TelemetrySink, list[MachineSim]]] = []
    announcements: list[str] = []
    for name, settings in sinks:
        protocol = Protocol.OPCUA if name == "opcua" else Protocol.MQTT
        machines = [m for m in sim.machines if m.at.machine.networked and m.at.machine.protocol is protocol]
        if not machines:
            err.print(f"no networked machine uses {name}; nothing to serve over it")
            continue
        if name == "opcua":
            servers = OpcUaServers(machines, settings, control=sim if control else None)
            adapters.append((servers, machines))
            announcements += [f"OPC UA  {endpoint}  ({len(server.machines)} machines, security {settings.security})"
                              for endpoint, server in zip(servers.endpoints, servers.servers, strict=True)]
            if control:
                who = ", ".join(sorted(settings.operators)) or "nobody: no --opcua-operator"
                announcements.append(f"control InjectFault, ClearFault on every machine, line and site  (operators: "
                                     f"{who})")
        else:
            adapters.append((MqttMachines(machines, settings, sample_s), machines))
            announcements.append(f"MQTT    {settings.url}  topics {settings.prefix}/v1/…  ({len(machines)} machines, "
                                 f"QoS {settings.qos}, MQTT {settings.version})")
    async with contextlib.AsyncExitStack() as stack:
        mqtt = next((settings for name, settings in sinks if name == "mqtt"), None)
        if control and mqtt is not None:
            commands = await stack.enter_async_context(MqttControl(sim, mqtt))
            await commands.wait_ready(30)
            announcements.append(f"control {commands.command_topic}  (results on {commands.result_topic})")
        live = await stack.enter_async_context(LiveRun(sim, adapters, sample_period_s=sample_s))
        # only now: scripts wait for an endpoint's line and connect, so it must be listening already
        for line in announcements:
            err.print(line, highlight=False, soft_wrap=True)
        # the model and the address spaces live as long as this process: keep them out of
        # garbage collection, whose full passes over ~100k objects stalled the loop (p99 lag
        # 1.03-1.09 s → 0.60-0.80 s in bench/telemetry.py)
        gc.freeze()
        # started "now": the simulated clock follows the wall clock once the servers are up
        await live.run(duration, speed=speed, on_step=show, catch_up=catch_up)


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
