"""The gateway's configuration: a YAML file (docs/edge.md), environment variables on top.

Everything is checked once at start-up and every problem reported as
``file:line: path: message`` (or ``environment: VARIABLE: message``); an
endpoint that cannot be reached is not a configuration error (the gateway
keeps trying), a misspelt field or a node map naming an unknown machine is.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from shopfloor import REASONS, MachineAt, MqttSettings, PlantError, load_plant
from shopfloor import config as cfg
from shopfloor import telemetry as contract

from ._bridge import COUNTER_FIELDS, Field, Point

Security = Literal["none", "sign", "sign-encrypt"]
SECURITY: tuple[Security, ...] = ("none", "sign", "sign-encrypt")
DEFAULT_GATEWAY = "edge"
ENV_PREFIX = "SFSIM_EDGE_"

_TOP = ("gateway", "shard", "mqtt", "spool", "health_interval", "reconnect_max", "shutdown_timeout", "endpoints")
_MQTT = ("url", "username", "password", "prefix", "qos", "version", "ca_file")
_SPOOL = ("dir", "max_messages")
_ENDPOINT = ("url", "security", "username", "password", "cert_dir", "trusted_dir", "publishing_interval",
             "sampling_interval", "queue_size", "sample_queue_size", "deadband", "max_items_per_subscription",
             "sessions", "timeout", "plant", "machines")
_MACHINE = ("machine", "reason", "state", "product", "counters", "signals")
_STATE = ("node", "states")
_NODE_ID = re.compile(r"(ns=\d+|nsu=[^;]+);(i|s|g|b)=.+|(i|s)=.+")

#: environment variable → path in the file's structure (endpoint settings apply to every endpoint)
ENVIRONMENT = {
    "ID": "gateway",
    "SHARD": "shard",
    "MQTT_URL": "mqtt.url",
    "MQTT_USERNAME": "mqtt.username",
    "MQTT_PASSWORD": "mqtt.password",
    "MQTT_PREFIX": "mqtt.prefix",
    "MQTT_CA_FILE": "mqtt.ca_file",
    "SPOOL_DIR": "spool.dir",
    "OPCUA_ENDPOINTS": "endpoints",
    "OPCUA_SECURITY": "endpoints[].security",
    "OPCUA_USERNAME": "endpoints[].username",
    "OPCUA_PASSWORD": "endpoints[].password",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class MappedMachine:
    """A machine of a foreign server: where it sits in the plant and which node means what."""

    path: str
    nameplate: Mapping[str, Any]
    points: tuple[Point, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointConfig:
    """One OPC UA endpoint to bridge: how to connect, how to subscribe (intervals in seconds), and its node map
    (none: discovery)."""

    url: str
    security: Security = "none"
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    #: the gateway's own key and self-signed certificate (generated on first start)
    cert_dir: Path = Path(".sfsim/edge-pki")
    #: server certificates trusted; None accepts any server certificate (logged)
    trusted_dir: Path | None = None
    publishing_interval_s: float = 0.5
    #: 0: the server samples as fast as it can (our servers: every change)
    sampling_interval_s: float = 0.0
    #: queue per state variable and counter: every change until the gateway's next publish request must survive
    #: (a simulation at thousands of times real time on a busy machine fills a hundred)
    queue_size: int = 1000
    #: queue per signal: the newest value is enough
    sample_queue_size: int = 1
    #: absolute deadband for signals (0: every change)
    deadband: float = 0.0
    max_items_per_subscription: int = 5000
    sessions: int = 1
    timeout_s: float = 10.0
    #: explicit node map; empty: machines are discovered by browsing
    machines: tuple[MappedMachine, ...] = ()

    @property
    def discover(self) -> bool:
        """Whether the endpoint's machines are found by browsing: no node map was given."""
        return not self.machines


@dataclass(frozen=True, slots=True, kw_only=True)
class EdgeConfig:
    """A gateway's configuration (docs/edge.md): its id and shard, the broker, the endpoints, the spool, its
    intervals and timeouts (seconds); ``source``: the file it was read from ("environment" without one)."""

    gateway: str = DEFAULT_GATEWAY
    #: (K, N): this process bridges the machines whose path hashes to K of N (several processes share the load)
    shard: tuple[int, int] = (0, 1)
    mqtt: MqttSettings
    endpoints: tuple[EndpointConfig, ...]
    spool_dir: Path = Path(".sfsim/edge-spool")
    spool_max_messages: int = 2_000_000
    health_interval_s: float = 10.0
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    #: how long a graceful shutdown waits for the broker to take the queue (the rest stays in the spool)
    shutdown_timeout_s: float = 10.0
    source: str = ""

    @property
    def name(self) -> str:
        """The gateway id, with the shard when the machines are shared: client ids, health topic, files."""
        k, n = self.shard
        return self.gateway if n == 1 else f"{self.gateway}-{k}"


def load_edge_config(path: str | Path | None, environ: Mapping[str, str] | None = None) -> EdgeConfig:
    """The file at ``path`` (None: environment only) with ``SFSIM_EDGE_*`` variables on top."""
    environ = os.environ if environ is None else environ
    data, lines, source, base = cfg.read_service_file(path, "an edge gateway needs mqtt and endpoints", _TOP)
    env = cfg.apply_environment(data, environ, ENV_PREFIX, ENVIRONMENT, {"endpoints": _endpoint_urls})
    c = cfg.EnvChecker(source, lines, env)
    config = _build(c, data, base)
    if c.issues:
        unique = dict.fromkeys(c.issues)  # an environment value shared by endpoints is wrong once
        raise cfg.ConfigError(sorted(unique, key=lambda i: (i.file != "environment", i.line or 0)))
    assert config is not None
    return config


def _build(c: cfg.EnvChecker, data: dict[str, Any], base: Path) -> EdgeConfig | None:
    m = c.mapping(data, "", _TOP)
    gateway = c.field(m, "gateway", "", cfg.service_id, DEFAULT_GATEWAY)
    shard = c.field(m, "shard", "", cfg.shard, (0, 1))
    mq = c.mapping(m.get("mqtt"), "mqtt", _MQTT)
    mqtt = cfg.mqtt_settings(c, mq, base, "SFSIM_EDGE_MQTT_URL", qos=_qos)
    sp = c.mapping(m.get("spool"), "spool", _SPOOL)
    spool_dir = c.field(sp, "dir", "spool", lambda v: base / cfg.text(v), Path(".sfsim/edge-spool"))
    spool_max = c.field(sp, "max_messages", "spool", cfg.positive_int, 2_000_000)
    health = c.field(m, "health_interval", "", cfg.positive_duration, 10.0)
    reconnect_max = c.field(m, "reconnect_max", "", cfg.positive_duration, 30.0)
    shutdown_timeout = c.field(m, "shutdown_timeout", "", cfg.positive_duration, 10.0)
    raw_endpoints = c.sequence(m.get("endpoints"), "endpoints")
    if not raw_endpoints and "endpoints" not in c.env.values():
        c.error("endpoints", "missing: list at least one OPC UA endpoint (or set SFSIM_EDGE_OPCUA_ENDPOINTS)")
    endpoints = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_endpoints):
        endpoint = _endpoint(c, raw, cfg.join("endpoints", i), base)
        if endpoint is not None:
            if endpoint.url in seen:
                c.error(f"endpoints[{i}].url", f"{endpoint.url} is already endpoints[{seen[endpoint.url]}]; "
                                               "use sessions to open several sessions to one server")
            seen.setdefault(endpoint.url, i)
            endpoints.append(endpoint)
    if c.issues or mqtt is None:
        return None
    return EdgeConfig(gateway=gateway, shard=shard, mqtt=mqtt, endpoints=tuple(endpoints), spool_dir=spool_dir,
                      spool_max_messages=spool_max, health_interval_s=health, reconnect_max_s=reconnect_max,
                      shutdown_timeout_s=shutdown_timeout,
                      source=c.source)


def _endpoint(c: cfg.EnvChecker, raw: object, path: str, base: Path) -> EndpointConfig | None:
    if not isinstance(raw, dict):
        c.error(path, f"expected a mapping of fields ({', '.join(_ENDPOINT)}), got {cfg.show(raw)}")
        return None
    e = c.mapping(raw, path, _ENDPOINT)
    url = c.field(e, "url", path, _opc_url, "")
    security = cast(Security, c.field(e, "security", path, cfg.choice("security", SECURITY), "none"))
    username = c.field(e, "username", path, cfg.text, None)
    password = c.field(e, "password", path, lambda v: str(v), None)
    if password is not None and username is None:
        c.error(cfg.join(path, "password"), "a password needs a username")
    cert_dir = c.field(e, "cert_dir", path, lambda v: base / cfg.text(v), Path(".sfsim/edge-pki"))
    trusted = c.field(e, "trusted_dir", path, lambda v: base / cfg.text(v), None)
    publishing = c.field(e, "publishing_interval", path, cfg.positive_duration, 0.5)
    sampling = c.field(e, "sampling_interval", path, cfg.non_negative_duration, 0.0)
    queue_size = c.field(e, "queue_size", path, cfg.positive_int, 1000)
    sample_queue = c.field(e, "sample_queue_size", path, cfg.positive_int, 1)
    deadband = c.field(e, "deadband", path, cfg.non_negative, 0.0)
    max_items = c.field(e, "max_items_per_subscription", path, cfg.positive_int, 5000)
    sessions = c.field(e, "sessions", path, cfg.positive_int, 1)
    timeout = c.field(e, "timeout", path, cfg.positive_duration, 10.0)
    machines: tuple[MappedMachine, ...] = ()
    if "machines" in e:
        machines = _node_map(c, e, path, base, publishing)
    elif "plant" in e:
        c.error(cfg.join(path, "plant"), "a plant file is only used with a node map (machines)")
    return EndpointConfig(url=url, security=security, username=username, password=password, cert_dir=cert_dir,
                          trusted_dir=trusted, publishing_interval_s=publishing, sampling_interval_s=sampling,
                          queue_size=queue_size, sample_queue_size=sample_queue, deadband=deadband,
                          max_items_per_subscription=max_items, sessions=sessions, timeout_s=timeout,
                          machines=machines)


def _node_map(c: cfg.EnvChecker, e: Mapping[str, Any], path: str, base: Path,
              publishing_s: float) -> tuple[MappedMachine, ...]:
    if "plant" not in e:
        c.error(cfg.join(path, "plant"), "a node map needs the plant file that names its machines (plant: FILE)")
        return ()
    plant_file = base / str(e["plant"])
    try:
        plant = load_plant(plant_file)
    except PlantError as err:
        for issue in err.issues:
            c.error(cfg.join(path, "plant"), f"plant file {issue}")
        return ()
    by_id: dict[str, MachineAt] = {}
    for at in plant.machines():
        by_id[at.machine.id] = at
        by_id[at.path] = at
    out = []
    for i, raw in enumerate(c.sequence(e.get("machines"), cfg.join(path, "machines"), required=True)):
        mp = cfg.join(cfg.join(path, "machines"), i)
        m = c.mapping(raw, mp, _MACHINE)
        name = c.field(m, "machine", mp, cfg.text, "")
        found = by_id.get(name)
        if found is None:
            if name:
                c.error(cfg.join(mp, "machine"), f"no machine '{name}' in {plant_file}")
            continue
        at = found
        points = _points(c, m, mp, at.path)
        signals = [p.name for p in points if p.field is Field.SIGNAL]
        nameplate = contract.nameplate(at, signals=signals, sample_period_ms=round(publishing_s * 1000),
                                       origin=contract.Origin.MEASURED)  # a foreign server: the machine itself
        out.append(MappedMachine(path=at.path, nameplate=nameplate, points=tuple(points)))
    return tuple(out)


def _points(c: cfg.EnvChecker, m: Mapping[str, Any], path: str, machine: str) -> list[Point]:
    points = []
    if "reason" in m and "state" in m:
        c.error(cfg.join(path, "state"), "give either reason (a stop-reason code node) or state (a node and a "
                                         "table of its values), not both")
    if "reason" in m:
        points.append(Point(machine, Field.REASON, c.field(m, "reason", path, _node_id, "")))
    if "state" in m:
        sp = cfg.join(path, "state")
        s = c.mapping(m["state"], sp, _STATE)
        node = c.field(s, "node", sp, _node_id, "")
        table = {}
        raw_states = s.get("states")
        if not isinstance(raw_states, dict) or not raw_states:
            c.error(cfg.join(sp, "states"), "expected a table of source value: stop reason (e.g. 1: executing)")
        else:
            for key, reason in raw_states.items():
                try:
                    table[key] = _reason(reason)
                except ValueError as err:
                    c.error(cfg.join(cfg.join(sp, "states"), str(key)), str(err))
        points.append(Point(machine, Field.STATE, node, states=table))
    if "product" in m:
        points.append(Point(machine, Field.PRODUCT, c.field(m, "product", path, _node_id, "")))
    counters = m.get("counters")
    cp = cfg.join(path, "counters")
    names = tuple(f.value for f in COUNTER_FIELDS)
    cm = c.mapping(counters, cp, names)
    if cm and "total" not in cm:
        c.error(cp, "counters need at least total (good, scrap, rework, energy_kwh and ideal_s are optional)")
    for key in names:
        if key in cm:
            points.append(Point(machine, Field(key), c.field(cm, key, cp, _node_id, "")))
    sg = m.get("signals")
    sgp = cfg.join(path, "signals")
    if sg is not None and not isinstance(sg, dict):
        c.error(sgp, f"expected a table of signal name: node id, got {cfg.show(sg)}")
    for name in sg if isinstance(sg, dict) else ():
        if not isinstance(name, str) or not contract.LEVEL.fullmatch(name):
            c.error(cfg.join(sgp, str(name)), "a signal name is letters, digits, '_' or '-' (units in the name, "
                                              "e.g. spindle_speed_rpm)")
            continue
        assert isinstance(sg, dict)
        points.append(Point(machine, Field.SIGNAL, c.field(sg, name, sgp, _node_id, ""), name=name))
    if not any(p.field in (Field.REASON, Field.STATE) for p in points) and "counters" not in m:
        c.error(path, "map at least a state (reason or state) or counters")
    return points


def _reason(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value in REASONS:
        return int(value)
    names = {info.name: int(code) for code, info in REASONS.items()}
    if isinstance(value, str) and value in names:
        return names[value]
    raise ValueError(f"unknown stop reason {cfg.show(value)}; expected a code or one of: {', '.join(names)}")


def _node_id(value: object) -> str:
    if not isinstance(value, str) or not _NODE_ID.fullmatch(value.strip()):
        raise ValueError(f"expected an OPC UA node id such as 'ns=2;s=Press1.Count', 'ns=3;i=1001' or "
                         f"'nsu=urn:vendor:plc;s=Count', got {cfg.show(value)}")
    return value.strip()


def _opc_url(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"opc\.tcp://[^/:\s]+(:\d+)?(/\S*)?", value.strip()):
        raise ValueError(f"expected opc.tcp://host[:port][/path], got {cfg.show(value)}")
    return value.strip()


def _endpoint_urls(value: str) -> list[dict[str, str]]:
    return [{"url": u.strip()} for u in value.split(",") if u.strip()]


def _qos(value: object) -> int:
    # QoS 2 is refused: a reconnect starts a new paho client whose packet ids restart, which a
    # persistent broker session can take for duplicates; seqs already make QoS 1 exactly-once
    if isinstance(value, bool) or str(value) not in ("0", "1"):
        raise ValueError(f"the gateway publishes with MQTT QoS 0 or 1, got {cfg.show(value)}")
    return int(str(value))
