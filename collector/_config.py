"""The collector's configuration: a YAML file (docs/collector.md), environment variables on top.

Checked once at start-up; every problem is reported as ``file:line: path: message``
(or ``environment: VARIABLE: message``). A store or broker that cannot be reached is
not a configuration error (the collector spools and retries); a misspelt field is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from shopfloor import MqttSettings, Plant, PlantError, load_plant
from shopfloor import config as cfg

from ._digitization import Basis
from ._grading import DEFAULT_THRESHOLDS
from ._influx import STORE_KINDS, StoreConfig, StoreKind, check_name
from ._messages import DEFAULT_MAX_PAYLOAD
from ._partition import Partition, owned, topic_filters

DEFAULT_COLLECTOR = "collector"
DEFAULT_MAX_AHEAD_S = 300.0
ENV_PREFIX = "SFSIM_COLLECTOR_"
#: composite score of the five-colour grading: indicator → weight (docs/collector.md)
DEFAULT_WEIGHTS = {"oee": 0.5, "nc_rate": 0.25, "networking": 0.25}
SCORE_PARTS = ("oee", "availability", "quality", "nc_rate", "digitization", "networking")

_TOP = ("collector", "partition", "mqtt", "store", "batch", "spool", "dead_letter", "kpi", "health_interval",
        "shutdown_timeout")
_MQTT = ("url", "username", "password", "prefix", "version", "ca_file", "group", "session_expiry", "max_payload",
         "max_ahead")
_STORE = ("kind", "url", "database", "retention_policy", "username", "password", "org", "bucket", "token",
          "directory", "timeout", "create_database")
_BATCH = ("max_points", "max_delay")
_SPOOL = ("dir", "max_batches")
_DEAD = ("file", "topic")
_KPI = ("enabled", "plant", "interval", "rolling", "keep", "basis", "alarm_after", "grading")
_GRADING = ("method", "thresholds", "weights")

ENVIRONMENT = {
    "ID": "collector",
    "MQTT_URL": "mqtt.url",
    "MQTT_USERNAME": "mqtt.username",
    "MQTT_PASSWORD": "mqtt.password",
    "MQTT_PREFIX": "mqtt.prefix",
    "PARTITION": "partition",
    "MQTT_GROUP": "mqtt.group",
    "MQTT_SESSION_EXPIRY": "mqtt.session_expiry",
    "MQTT_CA_FILE": "mqtt.ca_file",
    "MQTT_MAX_AHEAD": "mqtt.max_ahead",
    "STORE_KIND": "store.kind",
    "STORE_URL": "store.url",
    "STORE_DATABASE": "store.database",
    "STORE_USERNAME": "store.username",
    "STORE_PASSWORD": "store.password",
    "STORE_ORG": "store.org",
    "STORE_BUCKET": "store.bucket",
    "STORE_TOKEN": "store.token",
    "STORE_DIRECTORY": "store.directory",
    "SPOOL_DIR": "spool.dir",
    "DEAD_LETTER_FILE": "dead_letter.file",
    "KPI_ENABLED": "kpi.enabled",
    "KPI_PLANT": "kpi.plant",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class GradingConfig:
    """How sites and lines are graded: ``method`` rank (fifths of the ranking) or thresholds (four descending
    lower bounds on the score), and the weights of the composite score."""

    method: str = "rank"  # or "thresholds"
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))


@dataclass(frozen=True, slots=True, kw_only=True)
class KpiConfig:
    """What the KPI engine works from: the plant files, how often it computes (``interval_s``), its rolling
    window, how long late data counts, the NC-rate basis, the alarm delay and the grading; seconds."""

    enabled: bool = True
    #: plant files: the asset register (machines that send nothing still count) and the shift calendars
    plants: tuple[Plant, ...] = ()
    interval_s: float = 10.0
    rolling_s: float = 3600.0
    #: telemetry older than this (behind the newest) no longer changes results
    keep_s: float = 2 * 86400.0
    basis: Basis = Basis.EQUIPMENT
    #: a machine stopped (not planned) longer than this raises an alarm
    alarm_after_s: float = 600.0
    grading: GradingConfig = field(default_factory=GradingConfig)


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectorConfig:
    """A collector's configuration (docs/collector.md): its id and partition, the broker, the store, batches,
    spool, dead letters and KPIs, intervals and timeouts in seconds; ``source``: the file it was read from
    ("environment" without one)."""

    collector: str = DEFAULT_COLLECTOR
    mqtt: MqttSettings
    #: the share of the fleet's sites this collector stores and computes KPIs for (``_partition``)
    partition: Partition = field(default_factory=Partition)
    session_expiry_s: float = 7 * 86400.0
    max_payload: int = DEFAULT_MAX_PAYLOAD
    #: a message whose timestamp is further ahead of its arrival is refused (None: no limit, for a simulation
    #: running faster than real time from now on)
    max_ahead_s: float | None = DEFAULT_MAX_AHEAD_S
    #: acknowledge a message only once it is stored or spooled (False: on receipt; only for a broker that
    #: lives and dies with this process, like the demo's, where a later ack protects nothing)
    ack_after_store: bool = True
    store: StoreConfig = field(default_factory=StoreConfig)
    batch_max_points: int = 5000
    batch_max_delay_s: float = 0.2
    spool_dir: Path = Path(".sfsim/collector-spool")
    spool_max_batches: int = 100_000
    dead_letter_file: Path | None = Path(".sfsim/collector-dead-letter.jsonl")
    dead_letter_topic: bool = True
    kpi: KpiConfig = field(default_factory=KpiConfig)
    health_interval_s: float = 10.0
    shutdown_timeout_s: float = 10.0
    #: take in only the sites of the plant files, nothing else the broker or the store holds (the demo's: a run is
    #: about its plant alone; a collector that learnt another enterprise from its births alone would store that
    #: enterprise's rates without its silent equipment, over its own collector's)
    plant_sites_only: bool = False
    source: str = ""

    @property
    def sites(self) -> list[str] | None:
        """The sites this collector owns (None: the whole fleet)."""
        if self.partition.whole and not self.plant_sites_only:
            return None
        return owned(self.kpi.plants, self.partition)

    @property
    def topics(self) -> list[str]:
        """The collector's subscription: plain topic filters, one persistent session."""
        return topic_filters(self.mqtt.prefix, self.sites)

    @property
    def subscription(self) -> str:
        """What the collector subscribes to, as its start-up line says it."""
        sites = self.sites or []
        if self.partition.whole:
            return (f"subscribes to the {len(sites)} site(s) of its plant files ({', '.join(sites)})"
                    if self.plant_sites_only else f"subscribes to every machine ({self.topics[0]})")
        return (f"partition {self.partition}: subscribes to {len(sites)} site(s) of the register "
                f"({', '.join(sites) or 'none'})" + ("; adds up the fleet" if self.partition.adds_up_the_fleet
                                                     and self.kpi.enabled else ""))


def load_collector_config(path: str | Path | None, environ: Mapping[str, str] | None = None) -> CollectorConfig:
    """The file at ``path`` (None: environment only) with ``SFSIM_COLLECTOR_*`` variables on top."""
    environ = os.environ if environ is None else environ
    data, lines, source, base = cfg.read_service_file(path, "a collector needs at least mqtt", _TOP)
    env = cfg.apply_environment(data, environ, ENV_PREFIX, ENVIRONMENT,
                                {"kpi.plant": lambda v: [p.strip() for p in v.split(",") if p.strip()]})
    c = cfg.EnvChecker(source, lines, env)
    config = _build(c, data, base)
    if c.issues:
        raise cfg.ConfigError(sorted(dict.fromkeys(c.issues), key=lambda i: (i.file != "environment", i.line or 0)))
    assert config is not None
    return config


def _build(c: cfg.EnvChecker, data: dict[str, Any], base: Path) -> CollectorConfig | None:
    m = c.mapping(data, "", _TOP)
    # no default for who this collector is: a process started with it took another's session (same client id)
    if "collector" not in m:
        c.error("collector", "missing: give this collector an id of its own (its MQTT session, spool file and "
                             "health topic; two collectors with one id take each other's session), or set "
                             "SFSIM_COLLECTOR_ID")
    collector = c.field(m, "collector", "", cfg.service_id, DEFAULT_COLLECTOR)
    mq = c.mapping(m.get("mqtt"), "mqtt", _MQTT)
    mqtt = cfg.mqtt_settings(c, mq, base, "SFSIM_COLLECTOR_MQTT_URL")
    if "group" in mq:
        c.error("mqtt.group", "shared subscriptions are no longer used (Mosquitto does not keep them across its "
                              "own restart, and messages were lost): remove it, and divide the fleet with "
                              "partition: K/N (docs/collector.md \"Partitions\")")
    partition = c.field(m, "partition", "", Partition.parse, Partition())
    expiry = c.field(mq, "session_expiry", "mqtt", cfg.positive_duration, 7 * 86400.0)
    max_payload = c.field(mq, "max_payload", "mqtt", cfg.positive_int, DEFAULT_MAX_PAYLOAD)
    max_ahead = c.field(mq, "max_ahead", "mqtt", _optional_duration, cast(float | None, DEFAULT_MAX_AHEAD_S))
    store = _store(c, c.mapping(m.get("store"), "store", _STORE), base)
    b = c.mapping(m.get("batch"), "batch", _BATCH)
    max_points = c.field(b, "max_points", "batch", cfg.positive_int, 5000)
    max_delay = c.field(b, "max_delay", "batch", cfg.positive_duration, 0.2)
    sp = c.mapping(m.get("spool"), "spool", _SPOOL)
    spool_dir = c.field(sp, "dir", "spool", lambda v: base / cfg.text(v), Path(".sfsim/collector-spool"))
    spool_max = c.field(sp, "max_batches", "spool", cfg.positive_int, 100_000)
    dl = c.mapping(m.get("dead_letter"), "dead_letter", _DEAD)
    dead_file = c.field(dl, "file", "dead_letter", lambda v: _optional_path(base, v),
                        cast(Path | None, Path(".sfsim/collector-dead-letter.jsonl")))
    dead_topic = c.field(dl, "topic", "dead_letter", cfg.boolean, True)
    kpi = _kpi(c, c.mapping(m.get("kpi"), "kpi", _KPI), base)
    health = c.field(m, "health_interval", "", cfg.positive_duration, 10.0)
    shutdown = c.field(m, "shutdown_timeout", "", cfg.positive_duration, 10.0)
    if not partition.whole and not kpi.plants:
        c.error("partition", f"{partition}: dividing the fleet needs the plant register (kpi.plant: the plant "
                             "files), from which every collector computes the same division of the sites")
    if c.issues or mqtt is None:
        return None
    return CollectorConfig(collector=collector, mqtt=mqtt, partition=partition, session_expiry_s=expiry,
                           max_payload=max_payload, max_ahead_s=max_ahead, store=store, batch_max_points=max_points,
                           batch_max_delay_s=max_delay, spool_dir=spool_dir, spool_max_batches=spool_max,
                           dead_letter_file=dead_file, dead_letter_topic=dead_topic, kpi=kpi,
                           health_interval_s=health, shutdown_timeout_s=shutdown, source=c.source)


def _store(c: cfg.EnvChecker, s: Mapping[str, Any], base: Path) -> StoreConfig:
    kind = cast(StoreKind, c.field(s, "kind", "store", cfg.choice("store kind", STORE_KINDS), "influxdb-v1"))
    url = c.field(s, "url", "store", cfg.http_url, "http://127.0.0.1:8086")
    defaults = StoreConfig()
    store = StoreConfig(
        kind=kind, url=url,
        database=c.field(s, "database", "store", lambda v: check_name(cfg.text(v), "database"), defaults.database),
        retention_policy=c.field(s, "retention_policy", "store",
                                 lambda v: check_name(cfg.text(v), "retention policy") if v else "", ""),
        username=c.field(s, "username", "store", cfg.text, None),
        password=c.field(s, "password", "store", lambda v: str(v), None),
        org=c.field(s, "org", "store", cfg.text, ""),
        bucket=c.field(s, "bucket", "store", lambda v: check_name(cfg.text(v), "bucket", slash=True),
                       defaults.bucket),
        token=c.field(s, "token", "store", lambda v: str(v), None),
        directory=c.field(s, "directory", "store", lambda v: base / cfg.text(v), defaults.directory),
        timeout_s=c.field(s, "timeout", "store", cfg.positive_duration, 10.0),
        create_database=c.field(s, "create_database", "store", cfg.boolean, True),
    )
    if store.kind == "influxdb-v2" and not store.token:
        c.error("store.token", "missing: an influxdb-v2 store needs an API token with write access to the bucket "
                               "(or set SFSIM_COLLECTOR_STORE_TOKEN)")
    if store.password is not None and store.username is None:
        c.error("store.password", "a password needs a username (store.username)")
    return store


def _kpi(c: cfg.EnvChecker, k: Mapping[str, Any], base: Path) -> KpiConfig:
    plants = []
    raw = k.get("plant", [])
    for i, name in enumerate(raw if isinstance(raw, list) else [raw]):
        where = cfg.join("kpi.plant", i) if isinstance(raw, list) else "kpi.plant"
        try:
            plants.append(load_plant(base / cfg.text(name)))
        except PlantError as err:
            for issue in err.issues:
                c.error(where, f"plant file {issue}")
        except ValueError as err:
            c.error(where, str(err))
    g = c.mapping(k.get("grading"), "kpi.grading", _GRADING)
    weights = dict(DEFAULT_WEIGHTS)
    if "weights" in g:
        wm = c.mapping(g["weights"], "kpi.grading.weights", SCORE_PARTS)
        weights = {part: c.field(wm, part, "kpi.grading.weights", cfg.non_negative, 0.0) for part in wm}
        if not any(weights.values()):
            c.error("kpi.grading.weights", "give at least one indicator a weight above 0")
    thresholds = c.field(g, "thresholds", "kpi.grading", _thresholds, tuple(DEFAULT_THRESHOLDS))
    grading = GradingConfig(method=c.field(g, "method", "kpi.grading", cfg.choice("grading method",
                                                                                    ("rank", "thresholds")), "rank"),
                            thresholds=thresholds, weights=weights)
    return KpiConfig(
        enabled=c.field(k, "enabled", "kpi", cfg.boolean, True),
        plants=tuple(plants),
        interval_s=c.field(k, "interval", "kpi", cfg.positive_duration, 10.0),
        rolling_s=c.field(k, "rolling", "kpi", _minutes, 3600.0),
        keep_s=c.field(k, "keep", "kpi", cfg.positive_duration, 2 * 86400.0),
        basis=Basis(c.field(k, "basis", "kpi", cfg.choice("counting basis", tuple(b.value for b in Basis)),
                            Basis.EQUIPMENT.value)),
        alarm_after_s=c.field(k, "alarm_after", "kpi", cfg.positive_duration, 600.0),
        grading=grading,
    )


def _minutes(value: object) -> float:
    seconds = cfg.positive_duration(value)
    if seconds % 60:
        raise ValueError(f"must be whole minutes (windows start on a minute), got {cfg.show(value)}")
    return seconds


def _thresholds(value: object) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) != 4 or not all(isinstance(v, int | float) for v in value) \
            or list(value) != sorted(value, reverse=True):
        raise ValueError(f"expected four descending lower bounds for green, blue, yellow and orange, "
                         f"e.g. [0.85, 0.75, 0.65, 0.55], got {cfg.show(value)}")
    return tuple(float(v) for v in value)


def _optional_duration(value: object) -> float | None:
    if value in (None, "none", "off"):
        return None
    return cfg.positive_duration(value)


def _optional_path(base: Path, value: object) -> Path | None:
    return base / cfg.text(value) if value else None

