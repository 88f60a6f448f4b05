"""``sfsim demo``: the whole pipeline in one process, with no server installed.

Simulator → OPC UA servers → edge gateway ┐
Simulator → MQTT-native machines ─────────┴→ embedded MQTT broker → collector → line protocol files
(or InfluxDB with ``--influx``), a live fleet status in the terminal, and the OEE and 两化融合
summary at the end — the collector's numbers beside the simulator's ground truth.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import logging
import os
import secrets
import sys
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from classroom import Classroom
from collector import Collector, CollectorConfig, Engine, KpiConfig, StoreConfig
from console import AlarmLog, ConsoleServer, fleet
from edge import EdgeConfig, EdgeGateway, EndpointConfig
from shopfloor import MqttSettings, PlantError, Protocol, ScenarioError, format_duration, load_plant, parse_duration
from shopfloor.config import http_url
from shopfloor.lifecycle import Service
from shopfloor.redaction import redact
from simulator import LiveRun, MachineSim, MqttControl, MqttMachines, OpcUaServers, OpcUaSettings, Pace, Simulation

from . import _logs
from ._broker import EmbeddedBroker, free_port
from ._classroom import DemoTeacher
from ._console import opcua_users, print_issues
from ._exit import Exit
from ._report import fleet_status, summary
from ._scenarios import add_scenario_option, read_events

log = logging.getLogger(__name__)
T = TypeVar("T")

#: the repository's example (an editable install or a checkout), else one in the working directory (the image)
_IN_REPOSITORY = Path(__file__).resolve().parents[1] / "examples" / "wuhan-machining.yaml"
DEFAULT_PLANT = _IN_REPOSITORY if _IN_REPOSITORY.exists() else Path("examples") / "wuhan-machining.yaml"
#: how long a part of the pipeline may take to be ready (a real broker far away, a slow disk)
READY_TIMEOUT_S = 30.0


class NotReady(Exception):
    """A part of the pipeline did not get ready in time."""


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "demo",
        help="run simulator, OPC UA, edge gateway, MQTT broker and collector in one command (no server needed)",
        description="The whole pipeline on this machine: the plant's OPC UA machines are bridged by the edge "
        "gateway, its MQTT machines publish directly, an embedded MQTT broker carries the telemetry to the "
        "collector, which computes OEE and the 两化融合 indicators live and stores everything as line protocol "
        "files (importable into InfluxDB later) or in InfluxDB (--influx). Ends with a summary beside the "
        "simulator's ground truth.",
    )
    p.add_argument("plant", nargs="?", default=str(DEFAULT_PLANT), help="plant file (default: the Wuhan example)")
    p.add_argument("--duration", default="8h", help="simulated time to run (default 8h: a shift)")
    p.add_argument("--speed", type=float, default=240.0, help="simulated seconds per wall second (default 240: a "
                   "shift in two minutes)")
    p.add_argument("--seed", type=int, default=1)
    add_scenario_option(p)
    p.add_argument("--control", action="store_true",
                   help="take injection commands (sfsim inject) on the broker's control topic (the embedded broker "
                   "listens on 127.0.0.1 only) and by the OPC UA methods InjectFault and ClearFault")
    p.add_argument("--opcua-operator", action="append", default=[], metavar="USER:PASSWORD",
                   help="with --control: this user may call the OPC UA methods (repeatable); the demo's OPC UA "
                   "servers then accept only their users, and the edge gateway logs in as one of its own")
    p.add_argument("--out", default="sfsim-demo", metavar="DIR",
                   help="each run writes its line protocol files, spools and dead letters to a new folder "
                   "DIR/<enterprise id>/<start time> (default DIR: sfsim-demo)")
    p.add_argument("--web-port", type=int, metavar="N",
                   help=f"the live web console's port (default {WEB_PORT}, or a free one when another program has it; "
                   "0: a free one)")
    p.add_argument("--web-host", default="127.0.0.1", metavar="HOST",
                   help="the address the console listens on (default %(default)s: this machine only)")
    p.add_argument("--no-web", action="store_true", help="no web console: the terminal view only")
    p.add_argument("--teacher-password", default=os.environ.get("SFSIM_TEACHER_PASSWORD"), metavar="TEXT",
                   help="the password of the console's teacher controls (default: $SFSIM_TEACHER_PASSWORD); needed "
                   "when the console listens beyond this machine")
    p.add_argument("--open", action="store_true", help="open the console in the default browser")
    p.add_argument("--exercise-seed", type=int, metavar="N",
                   help="the class seed of the console's exercises (default: --seed); a team gets the same "
                   "exercises again with the same seed and team name")
    p.add_argument("--mqtt", metavar="URL", help="use this MQTT broker instead of the embedded one")
    p.add_argument("--influx", metavar="URL", help="write to this InfluxDB instead of files")
    p.add_argument("--influx-database", default="factory", metavar="DB", help="1.x database (default factory)")
    p.add_argument("--influx-token", metavar="TOKEN", help="2.x/3.x API token (selects the v2 write API)")
    p.add_argument("--influx-org", default="", metavar="ORG", help="2.x organisation")
    p.add_argument("--influx-bucket", default="factory", metavar="BUCKET", help="2.x bucket (default factory)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        plant = load_plant(args.plant)
        events = read_events(args.scenario, plant, Path(args.plant))
    except (PlantError, ScenarioError) as e:
        print_issues(e.issues)
        return Exit.INPUT
    try:
        duration = _option(args, "duration", parse_duration)
        mqtt = _option(args, "mqtt", MqttSettings.from_url)
        influx = _option(args, "influx", lambda url: http_url(url, credentials="--influx-token"))
        if args.opcua_operator and not args.control:
            raise ValueError("--opcua-operator needs --control: it grants the right to call the methods live "
                             "control adds")
        opcua_settings = _opcua_settings(*opcua_users((), args.opcua_operator))
    except ValueError as e:
        print(f"sfsim demo: {e}", file=sys.stderr)
        return Exit.INPUT
    assert duration is not None  # it has a default
    try:
        sim = Simulation(plant, seed=args.seed, events=events)
        sim.injector.check(events, duration)
    except ScenarioError as e:
        print_issues(e.issues)
        return Exit.INPUT
    try:
        out = run_folder(Path(args.out), plant.enterprise.id)
    except OSError as e:
        print(f"sfsim demo: --out: {e}", file=sys.stderr)
        return Exit.INPUT
    if sys.platform == "win32":  # paho under asyncio needs a selector loop on Windows
        asyncio.set_event_loop_policy(asyncio.WindowsSelectorEventLoopPolicy())  # type: ignore[attr-defined]
    console = Console() if sys.stdout.isatty() else Console(width=120)  # a log keeps the tables whole
    # the status view shows alarms and counts; the services' own log lines would only tear it
    for name in ("collector", "edge", "shopfloor", "simulator", "asyncua"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        web = None if args.no_web else Web(args.web_host, args.web_port, args.open, args.teacher_password,
                                           args.seed if args.exercise_seed is None else args.exercise_seed)
        if args.teacher_password:
            _logs.remember(args.teacher_password)  # in no log line, whichever library writes it
        asyncio.run(_demo(sim, args.speed, args.control, duration, mqtt, _store(args, influx, out), out, console,
                          opcua_settings, web))
    except KeyboardInterrupt:
        return Exit.INTERRUPTED
    except NotReady as e:
        print(f"sfsim demo: {e}", file=sys.stderr)
        return Exit.FAILED
    except WebError as e:
        print(f"sfsim demo: --web-host/--web-port: {e}", file=sys.stderr)
        return Exit.INPUT
    return Exit.OK


#: the console's port unless told: a second demo on the same laptop takes a free one instead
WEB_PORT = 8765


@dataclasses.dataclass(frozen=True, slots=True)
class Web:
    """Where the live web console listens (port None: ``WEB_PORT``, or a free one when it is taken), and whether
    to open it in a browser."""

    host: str
    port: int | None
    open: bool
    #: the teacher controls' password (None: on loopback anyone may, beyond it nobody)
    teacher_password: str | None = dataclasses.field(default=None, repr=False)
    #: the class seed of the exercises (a team's instance: this and its name, ``classroom.team_seed``)
    exercise_seed: int = 1


class WebError(Exception):
    """The console cannot listen where it was told to."""


#: the edge gateway's user on the demo's OPC UA servers, when they have operators (and so refuse anonymous sessions)
DEMO_GATEWAY_USER = "demo-edge"


def _opcua_settings(users: dict[str, str], operators: frozenset[str]) -> OpcUaSettings:
    """The demo's OPC UA servers: one per site on free ports, with the operators and a user for the gateway."""
    if operators:
        users = users | {DEMO_GATEWAY_USER: secrets.token_urlsafe(16)}  # made anew each run, known to no one else
    return OpcUaSettings(port=free_port(), per="site", users=users, operators=operators)


def run_folder(parent: Path, enterprise: str) -> Path:
    """A folder no run used before, ``parent/<enterprise>/<local start time>``: a run's spools, dead letters
    and files are its own, so one plant's run never takes in another's machines or adds to its files."""
    base = parent / enterprise / time.strftime("%Y%m%d-%H%M%S")
    for n in itertools.count(1):
        folder = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            folder.mkdir(parents=True)
        except FileExistsError:
            continue
        return folder
    raise AssertionError("unreachable")


def _option(args: argparse.Namespace, name: str, convert: Callable[[str], T]) -> T | None:
    """An option's value converted, or None when it was not given; ValueError names the option."""
    value = getattr(args, name)
    if value is None:
        return None
    try:
        return convert(value)
    except ValueError as e:
        raise ValueError(f"--{name}: {e}") from None


def _store(args: argparse.Namespace, influx: str | None, out: Path) -> StoreConfig:
    if influx is None:
        return StoreConfig(kind="files", directory=out / "data", database=args.influx_database)
    if args.influx_token:
        return StoreConfig(kind="influxdb-v2", url=influx, org=args.influx_org, bucket=args.influx_bucket,
                           token=args.influx_token)
    return StoreConfig(kind="influxdb-v1", url=influx, database=args.influx_database)


async def _demo(sim: Simulation, speed: float, control: bool, duration: float, real_broker: MqttSettings | None,
                store: StoreConfig, out: Path, console: Console, settings: OpcUaSettings | None = None,
                web: Web | None = None) -> None:
    plant = sim.plant
    pace = Pace(speed)
    networked = [m for m in sim.machines if m.at.machine.networked]
    opcua = [m for m in networked if m.at.machine.protocol is Protocol.OPCUA]
    native = [m for m in networked if m.at.machine.protocol is Protocol.MQTT]
    async with contextlib.AsyncExitStack() as stack:
        if real_broker is not None:
            mqtt = real_broker
        else:
            broker = await stack.enter_async_context(EmbeddedBroker())
            mqtt = MqttSettings.from_url(broker.url, version="3.1.1")  # what the embedded broker speaks
        _logs.remember(mqtt, store)
        collector = Collector(CollectorConfig(
            # a session of its own on a real broker (none of an earlier run's messages), gone soon after the run
            collector=f"demo-{out.name}", session_expiry_s=300, mqtt=mqtt, store=store,
            ack_after_store=real_broker is not None,
            spool_dir=out / "collector-spool",
            dead_letter_file=out / "dead-letters.jsonl", dead_letter_topic=False, batch_max_delay_s=0.1,
            kpi=KpiConfig(plants=(plant,), interval_s=1.0, rolling_s=3600.0), health_interval_s=5.0,
            plant_sites_only=True))
        await stack.enter_async_context(collector)
        # subscribed before anything is published
        await _ready(collector, f"the collector is not subscribed to {mqtt.url}")
        if web is not None:
            assert collector.engine is not None
            live_engine: Engine = collector.engine
            alarm_log = AlarmLog()

            def snapshot() -> dict[str, Any]:
                now = live_engine.now_ms or 0
                return fleet(live_engine, [plant], now, injected=sim.injector.truth(),
                             alarms=alarm_log.see(live_engine, now))

            async def log_alarms() -> None:
                # the engine keeps the active alarms only, and the console snapshots only while a page is open:
                # an alarm that came and went with no page open would be missing from the timeline
                while True:
                    alarm_log.see(live_engine, live_engine.now_ms or 0)
                    await asyncio.sleep(1.0)

            logging_alarms = asyncio.create_task(log_alarms(), name="console alarm log")
            stack.callback(logging_alarms.cancel)

            server = None
            for port in ([web.port] if web.port is not None else [WEB_PORT, 0]):
                try:
                    server = await stack.enter_async_context(ConsoleServer(
                        snapshot, host=web.host, port=port, teacher=DemoTeacher(sim, pace),
                        password=web.teacher_password,
                        exercises=Classroom(plant, web.exercise_seed, record=out / "exercise-results.jsonl")))
                    break
                except OSError as e:
                    if web.port is not None or port == 0:
                        raise WebError(str(e)) from None
            assert server is not None
            console.print(f"web console 网页控制台: {server.url}", highlight=False, soft_wrap=True)
            console.print(f"teacher 教师面板: {server.url}teacher · exercises 练习: {server.url}exercises (class seed "
                          f"{web.exercise_seed})", highlight=False, soft_wrap=True)
            if web.open:
                webbrowser.open(server.url)
        if control:
            commands = await stack.enter_async_context(MqttControl(sim, mqtt))
            await _ready(commands, f"the control topic is not subscribed on {mqtt.url}")
            console.print(f"live injection: sfsim inject --mqtt {redact(mqtt.url)} --mqtt-version {mqtt.version} "
                          f"--enterprise {plant.enterprise.id} TARGET KIND [--duration D] [NAME=VALUE …]",
                          highlight=False, soft_wrap=True)
        settings = settings or _opcua_settings({}, frozenset())
        _logs.remember(settings)
        servers = OpcUaServers(opcua, settings, control=sim if control else None) if opcua else None
        if servers is not None and control and settings.operators:
            for endpoint in servers.endpoints:
                console.print(f"live injection over OPC UA: sfsim inject --opcua opc.tcp://USER:…@"
                              f"{endpoint.removeprefix('opc.tcp://')} TARGET KIND [--duration D] [NAME=VALUE …] "
                              f"(USER: {', '.join(sorted(settings.operators))})", highlight=False, soft_wrap=True)
        machines = MqttMachines(native, mqtt, 1.0) if native else None
        sinks = [(s, ms) for s, ms in ((servers, opcua), (machines, native)) if s is not None]
        console.print(f"[bold]{plant.enterprise.name.zh} / {plant.enterprise.name.en}[/] · {len(sim.machines)} "
                      f"machines ({len(opcua)} OPC UA via the edge gateway, {len(native)} MQTT, "
                      f"{len(sim.machines) - len(networked)} not networked) · {format_duration(duration)} at "
                      f"{speed:g}× · MQTT {mqtt.url}{' (embedded)' if real_broker is None else ''} · "
                      f"store {store.kind} {store.target} · run folder {out}")
        gateway_password = settings.users.get(DEMO_GATEWAY_USER)
        gateway = EdgeGateway(EdgeConfig(
            gateway="demo-edge", mqtt=mqtt, spool_dir=out / "edge-spool", health_interval_s=5.0,
            # its own user when the servers have users (they have operators), else anonymous
            endpoints=tuple(EndpointConfig(url=u, publishing_interval_s=0.2,
                                           username=DEMO_GATEWAY_USER if gateway_password else None,
                                           password=gateway_password) for u in servers.endpoints),
        )) if servers is not None else None
        # a part that fails stops the demo with its error: its TaskGroup cancels this task, its exit raises it
        async with LiveRun(sim, sinks, sample_period_s=1.0) as live, \
                gateway if gateway is not None else contextlib.nullcontext():
            if gateway is not None:
                await _ready(gateway, "the edge gateway has not bridged every OPC UA machine")
            if machines is not None:
                await _ready(machines, f"the MQTT machines are not connected to {mqtt.url}")
            started = time.monotonic()
            running = asyncio.create_task(live.run(duration, speed=pace))
            try:
                await _watch(console, collector, sim, running, duration, started)
            finally:
                if not running.done():
                    running.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await running
            await live.publish(sample=True)
            await _settle(collector, networked)
    engine = collector.engine
    assert engine is not None
    truth = sim.truth()
    truth_oee = {line["path"]: line["oee"] for line in truth["lines"]}
    console.print(summary(engine, truth["start_ms"], truth["end_ms"], truth_oee=truth_oee))
    c = collector.counts
    console.print(f"{c['received']:,} messages ({c['invalid']} invalid, {c['seq_missing']} missing by seq) → "
                  f"{c['points_written']:,} points to {store.kind} {store.target}" + (
                      f"; import with: influx -import -path={store.directory}/<file>.lp -precision=u"
                      if store.kind == "files" else ""))


async def _ready(service: Service, what: str) -> None:
    try:
        await service.wait_ready(READY_TIMEOUT_S)
    except TimeoutError:
        raise NotReady(f"{what} after {READY_TIMEOUT_S:.0f} s") from None


async def _watch(console: Console, collector: Collector, sim: Simulation, running: asyncio.Task[None],
                 duration: float, started: float) -> None:
    """The live fleet status, twice a second, until the run ends."""
    engine = collector.engine
    assert engine is not None

    def view() -> Group:
        done = min(1.0, sim.now / duration) if duration else 1.0
        bar = "█" * round(done * 30) + "░" * (30 - round(done * 30))
        c = collector.counts
        header = Text(f"{bar} {100 * done:5.1f} %  plant time {format_duration(round(sim.now))} · wall "
                      f"{time.monotonic() - started:.0f} s · {c['received']:,} messages · {c['points_written']:,} "
                      f"points · {c['invalid']} dead letters")
        return Group(header, fleet_status(engine, engine.now_ms or 0))

    if console.is_terminal:
        with Live(view(), console=console, refresh_per_second=2, transient=False) as screen:
            while not running.done():
                await asyncio.sleep(0.5)
                screen.update(view())
    else:  # a log, not a screen: a progress line every tenth of the run
        reported = -1
        while not running.done():
            await asyncio.sleep(0.5)
            tenth = int(10 * sim.now / duration) if duration else 10
            if tenth > reported:
                reported = tenth
                console.print(view().renderables[0])
    await running


async def _settle(collector: Collector, networked: list[MachineSim], timeout_s: float = 15.0) -> None:
    """Wait until the collector has the final counters of every networked machine (or the timeout)."""
    engine = collector.engine
    assert engine is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        caught_up = True
        for m in networked:
            known = engine.machines.get(m.path)
            last = known.timeline.last_counters if known is not None else None
            if last is None or last.total != m.total:
                caught_up = False
                break
        if caught_up:
            await asyncio.sleep(1.2)  # one more KPI tick
            return
        await asyncio.sleep(0.2)
    log.warning("the collector did not receive every machine's final counters within %.0f s", timeout_s)
