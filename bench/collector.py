"""Collector throughput and latency: Mosquitto → ``sfsim collect`` → the real InfluxDB.

Throughput: a backlog of contract messages (births, states, counters, signals of 1,000
machines) is queued in Mosquitto for a persistent session that is away; then the consumer
connects and drains it. Consumers, each on its own fresh backlog, in one run:

- bare: a paho subscriber that only counts (QoS 1), the ceiling of broker + paho;
- one collector with the KPI engine on, storing into InfluxDB (the ratio to bare is the goal: ≥ 0.7);
- one collector with the KPI engine off;
- ``--partitions`` (1, 2, 4): that many collectors, each its partition of the ``--sites`` sites
  (storage and KPIs; the first adds up the fleet), each held to ``--cap`` cores (a cgroup CPU
  quota, as a container's CPU limit holds a partition; needs root and the cgroup cpu controller,
  else these rows run unheld): the ratio to one partition is the goal (N=2 ≥ 1.8×, N=4 ≥ 3.4×),
  and their fleet figures must equal one partition's (each backlog spans the same plant hours,
  whole weeks apart, so the windows line up).

Each consumer's session ends after its drain, so that the broker queues a backlog only for the
consumer being measured (and each run writes to a database of its own). For the collector
runs, the cores the collectors, Mosquitto and InfluxDB used during the drain are measured too
(/proc): on a machine whose cores they share, they say how far the collectors can scale.

Latency: 1,000 machines live (counters and signals every second, a state change a minute),
probe machines change state every 0.5 s; the time from publishing a state change to finding
it with an InfluxQL query (p99 goal < 2 s).

    python bench/collector.py [--machines 1000] [--sites 8] [--messages 200000] [--rounds 2] [--latency 30]
                              [--partitions 1,2,4] [--cap 0.5]
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from _common import ROOT, free_port, percentile, plant_yaml, ratio, start_mosquitto
from paho.mqtt.enums import CallbackAPIVersion

from shopfloor import telemetry as contract

#: machine i is at site s<i % SITES + 1> (as bench/_common.plant_yaml places it)
SITES = 8
_BASE_MS = 1_767_571_200_000
_WEEK_MS = 7 * 86_400_000
_backlogs = 0


def topic(i: int, kind: str) -> str:
    return f"bench/v1/bench/s{i % SITES + 1}/main/L{i:04d}/M{i:04d}/{kind}"


def start_influxdb(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    rpc, http = free_port(), free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    conf = tmp / "influxdb.conf"
    conf.write_text(f'reporting-disabled = true\nbind-address = "127.0.0.1:{rpc}"\n[meta]\n  dir = "{tmp}/meta"\n'
                    f'[data]\n  dir = "{tmp}/data"\n  wal-dir = "{tmp}/wal"\n  query-log-enabled = false\n'
                    f'[http]\n  bind-address = "127.0.0.1:{http}"\n  log-enabled = false\n'
                    "[monitor]\n  store-enabled = false\n")
    proc = subprocess.Popen(["influxd", "-config", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{http}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/ping", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("influxd did not start")


def query(url: str, q: str, db: str = "factory") -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"db": db, "q": q, "epoch": "ms"})
    with urllib.request.urlopen(f"{url}/query?{params}", timeout=30) as r:
        result = json.loads(r.read())["results"][0]
    return list(result.get("series", []))


def birth(i: int) -> bytes:
    nameplate = {"machine": {"enterprise": "bench", "site": f"s{i % SITES + 1}", "area": "main", "line": f"L{i:04d}",
                             "id": f"M{i:04d}"},
                 "name": {"zh": "机床", "en": "machine"}, "kind": "cnc_machining_center",
                 "kind_name": {"zh": "加工中心", "en": "machining centre"}, "control": "cnc", "key_process": True,
                 "digital": True, "networked": True, "protocol": "mqtt", "process": "milling", "manufacturer": "",
                 "model": "", "serial": "", "industry": "discrete", "ideal_cycle_s": {"P": 90.0},
                 "power_kw": {"executing": 15, "setup": 3, "idle": 2, "down": 1, "standby": 0.2},
                 "signals": ["spindle_speed_rpm", "spindle_load_pct", "power_kw"], "sample_period_ms": 1000}
    return contract.encode(contract.birth(nameplate, ts_ms=int(time.time() * 1000), seq=0, session_ms=1))


def message(i: int, k: int, ts_ms: int, seq: int | None = None) -> tuple[str, bytes]:
    """The k-th message of machine i after its birth: a state change every 60, else counters and signals."""
    seq = k + 1 if seq is None else seq
    if k % 60 == 0:
        return topic(i, "state"), contract.encode(
            contract.state(ts_ms=ts_ms, seq=seq, reason=0 if k % 120 == 0 else 20, product="P"))
    if k % 2:
        return topic(i, "counters"), contract.encode(contract.counters(
            ts_ms=ts_ms, seq=seq, total=k, good=k, scrap=0, rework=0, energy_kwh=k * 0.01, ideal_s=k * 90.0))
    return topic(i, "signals"), contract.encode(contract.signals(
        ts_ms=ts_ms, seq=seq, values={"spindle_speed_rpm": 1200.0 + k, "spindle_load_pct": 40.0, "power_kw": 15.0}))


def publish_backlog(port: int, machines: int, messages: int) -> tuple[int, int]:
    """Queue ``messages`` (births first) for whoever has a session; how many were published, from which instant
    (each backlog a week after the one before: fresh plant time, the same windows)."""
    global _backlogs
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(topic(i, "birth"), birth(i), qos=1) for i in range(machines)]
    _backlogs += 1
    t0 = _BASE_MS + _backlogs * _WEEK_MS
    per_machine = max(1, (messages - machines) // machines)
    for k in range(per_machine):
        for i in range(machines):
            infos.append(client.publish(*message(i, k, t0 + k * 1000), qos=1))
        if len(infos) > 20_000:
            infos[-1].wait_for_publish(60)
            infos = infos[-1:]
    infos[-1].wait_for_publish(120)
    client.loop_stop()
    client.disconnect()
    return machines + per_machine * machines, t0


def make_session(port: int, client_id: str, topic: str) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    client.subscribe(topic, qos=1)[1]
    time.sleep(0.5)
    client.loop_stop()
    client.disconnect()


def drop_session(port: int, client_id: str) -> None:
    """End a persistent session: the broker stops queueing the next backlogs for a consumer that is done."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    client.connect("127.0.0.1", port, clean_start=True, properties=props)
    client.loop_start()
    time.sleep(0.2)
    client.loop_stop()
    client.disconnect()


def drain_bare(port: int, expected: int, clients: tuple[str, ...] = ("bench-bare",),
               timeout_s: float = 600) -> dict[str, float]:
    """Paho subscribers that only count, on their persistent sessions (made beforehand), until ``expected``."""
    got = {"n": 0, "first": 0.0, "last": 0.0}
    lock = threading.Lock()
    done = threading.Event()

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        now = time.perf_counter()
        with lock:
            if not got["n"]:
                got["first"] = now
            got["n"] += 1
            got["last"] = now
            if got["n"] >= expected:
                done.set()

    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    started = []
    for client_id in clients:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        client.on_message = on_message
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        props.ReceiveMaximum = 65535
        client.connect("127.0.0.1", port, clean_start=False, properties=props)
        client.loop_start()
        started.append(client)
    done.wait(timeout_s)
    for client in started:
        client.loop_stop()
        client.disconnect()
    for client_id in clients:
        drop_session(port, client_id)
    return {"messages": got["n"], "seconds": got["last"] - got["first"]}


def collector_yaml(tmp: Path, name: str, port: int, influx: str, *, kpi: bool, database: str | None = None,
                   partition: str = "1/1", plant: Path | None = None) -> Path:
    """A collector's configuration; each run stores into its own database (a KPI engine starting on a database
    holding other runs' telemetry would first read that back: a restart's cost, not the ingest rate)."""
    path = tmp / f"{name}.yaml"
    register = f", plant: '{plant}'" if plant is not None else ""
    path.write_text(f"collector: {name}\npartition: {partition}\n"
                    f"mqtt: {{url: 'mqtt://127.0.0.1:{port}', prefix: bench}}\n"
                    f"store: {{url: '{influx}', database: '{database or name}'}}\n"
                    f"spool: {{dir: '{tmp}/spool-{name}'}}\n"
                    f"dead_letter: {{file: '{tmp}/dead-{name}.jsonl', topic: false}}\n"
                    f"kpi: {{enabled: {str(kpi).lower()}{register}}}\nhealth_interval: 0.25s\n")
    return path


def cpu_quota(name: str, cores: float) -> Path | None:
    """A cgroup holding its processes to ``cores`` (v1 or v2 cpu controller); its ``cgroup.procs``, or None."""
    period = 100_000
    v1, v2 = Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup")
    try:
        if (v1 / "cpu.cfs_quota_us").exists():
            group = v1 / f"sfsim-bench-{name}"
            group.mkdir(exist_ok=True)
            (group / "cpu.cfs_period_us").write_text(str(period))
            (group / "cpu.cfs_quota_us").write_text(str(round(cores * period)))
        elif "cpu" in (v2 / "cgroup.subtree_control").read_text().split():
            group = v2 / f"sfsim-bench-{name}"
            group.mkdir(exist_ok=True)
            (group / "cpu.max").write_text(f"{round(cores * period)} {period}")
        else:
            return None
    except OSError:
        return None
    return group / "cgroup.procs"


class CpuMeter:
    """CPU seconds of processes over time (20 samples a second from /proc), to tell the cores they used."""

    _TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, **processes: int) -> None:
        self.processes = dict(processes)
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._last: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @classmethod
    def cpu_s(cls, pid: int) -> float | None:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / cls._TICK  # utime + stime

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            row = {}
            for name, pid in list(self.processes.items()):
                value = self.cpu_s(pid)
                row[name] = self._last[name] = value if value is not None else self._last.get(name, 0.0)
            self.samples.append((time.perf_counter(), row))

    def used(self, start: float, end: float, names: list[str]) -> float:
        """CPU seconds ``names`` used together between two perf_counter instants."""
        times = [t for t, _ in self.samples]
        a = self.samples[min(bisect.bisect_left(times, start), len(times) - 1)][1]
        b = self.samples[max(0, bisect.bisect_left(times, end) - 1)][1]
        return sum(b.get(n, 0.0) - a.get(n, 0.0) for n in names)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class Health:
    """The collectors' retained health messages: counts over time."""

    def __init__(self, port: int) -> None:
        self.latest: dict[str, tuple[float, dict[str, Any]]] = {}
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-health-{os.getpid()}")
        self.client.on_message = self._on
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("bench/v1/_collector/+/health")
        self.client.loop_start()
        self.history: dict[str, list[tuple[float, dict[str, Any]]]] = {}

    def _on(self, client: Any, userdata: Any, msg: Any) -> None:
        body = json.loads(msg.payload)
        now = time.perf_counter()
        self.latest[body["collector"]] = (now, body)
        self.history.setdefault(body["collector"], []).append((now, body))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def drain_collectors(tmp: Path, port: int, influx: str, health: Health, meter: CpuMeter, names: list[str], *,
                     kpi: bool, machines: int, messages: int, plant: Path | None = None,
                     quotas: list[Path] | None = None) -> dict[str, Any]:
    """Collectors draining a backlog into one database: one of the whole fleet, or ``names`` as partitions 1 … N
    of ``plant``'s sites; ``quotas``: a cgroup (its cgroup.procs) for each collector."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    n = len(names)
    configs = [collector_yaml(tmp, name, port, influx, kpi=kpi, database=names[0], partition=f"{k + 1}/{n}",
                              plant=plant) for k, name in enumerate(names)]

    def command(i: int) -> list[str]:
        collect = [sys.executable, "-m", "sfsim", "collect", "--config", str(configs[i])]
        if quotas is None:
            return collect
        # the shell joins the cgroup, then becomes the collector (same pid)
        return ["sh", "-c", f'echo $$ > {quotas[i]} && exec "$@"', "sh", *collect]

    def start() -> list[subprocess.Popen[bytes]]:
        return [subprocess.Popen(command(i), env=env, stdout=subprocess.DEVNULL,
                                 stderr=(tmp / f"{c.stem}.log").open("ab"))
                for i, c in enumerate(configs)]

    def stop(procs: list[subprocess.Popen[bytes]]) -> None:
        # partitions 2 … N first: the first adds up the fleet from what they stored, once more as it stops
        for p in procs[1:] + procs[:1]:
            p.send_signal(signal.SIGTERM)
            p.wait(120)

    procs = start()  # sessions and subscriptions exist before the backlog is queued
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(n in health.latest for n in names):
        time.sleep(0.1)
    time.sleep(1.0)
    stop(procs)
    health.history.clear()
    published, t0 = publish_backlog(port, machines, messages)
    start_wall = time.perf_counter()
    procs = start()
    meter.processes.update({name: p.pid for name, p in zip(names, procs, strict=True)})
    try:
        while time.perf_counter() - start_wall < 900:
            time.sleep(0.1)
            counts = [health.history.get(n, [(0.0, {"counts": {}})])[-1][1]["counts"] for n in names]
            if sum(c.get("received", 0) for c in counts) >= published and all(
                    c.get("points_written", 0) >= c.get("points_queued", 0) for c in counts):
                break
        first = min(t for n in names for t, h in health.history.get(n, []) if h["counts"].get("received", 0) > 0)
        last = max(t for n in names for t, h in health.history.get(n, []))
        points = sum(health.history[n][-1][1]["counts"].get("points_written", 0) for n in names)
        received = sum(health.history[n][-1][1]["counts"].get("received", 0) for n in names)
        # the first health report after the first message is up to one interval late: count from the report before
        first -= 0.25
        cpu = {f"cpu {k}": meter.used(first, last, n) for k, n in
               (("collectors", names), ("broker", ["broker"]), ("influxdb", ["influxdb"]))}
    finally:
        stop(procs)
        for name in names:  # later backlogs are not queued for them any more
            drop_session(port, f"sfsim-collector-{name}")
    fleet = fleet_figures(influx, names[0], t0) if kpi else {}
    return {"messages": received, "points": points, "seconds": last - first, "published": published, **cpu,
            "fleet": fleet}


def fleet_figures(influx: str, database: str, t0: int) -> dict[tuple[str, str, int], tuple[Any, ...]]:
    """The enterprise's and the fleet's hours and days, keyed by their start after the backlog's first instant."""
    out = {}
    for series in query(influx, 'SELECT "pq", "gq", "apt_s", "pbt_s", "oee", "final" FROM "kpi" WHERE '
                                '("level" = \'enterprise\' OR "level" = \'fleet\') AND "window" != \'rolling\' '
                                'GROUP BY "level", "window"', db=database):
        for row in series["values"]:
            out[(series["tags"]["level"], series["tags"]["window"], row[0] - t0)] = tuple(row[1:])
    return out


def latency(tmp: Path, port: int, influx: str, machines: int, seconds: float, probes: int = 10) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    config = collector_yaml(tmp, "live", port, influx, kpi=True)  # database "live"
    proc = subprocess.Popen([sys.executable, "-m", "sfsim", "collect", "--config", str(config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=(tmp / "live.log").open("ab"))
    time.sleep(3)
    stop = threading.Event()

    def publish() -> None:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-live")
        client.max_inflight_messages_set(1000)
        client.connect("127.0.0.1", port)
        client.loop_start()
        for i in range(machines):
            client.publish(topic(i, "birth"), birth(i), qos=1)
        k = 0
        seqs = [0] * machines
        next_tick = time.monotonic()
        while not stop.is_set():
            now_ms = int(time.time() * 1000)
            for i in range(machines):
                # each machine: counters and signals every second, a state change a minute (staggered);
                # seqs +1 per message, as the contract has them
                kinds = [2 * k + 1, 2 * k + 2] + ([0] if (k + i) % 60 == 0 else [])
                for kind in kinds:
                    seqs[i] += 1
                    client.publish(*message(i, kind, now_ms, seqs[i]), qos=1)
            k += 1
            next_tick += 1.0
            time.sleep(max(0.0, next_tick - time.monotonic()))
        client.loop_stop()

    def probe() -> None:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-probe")
        client.connect("127.0.0.1", port)
        client.loop_start()
        seq = 0
        while not stop.is_set():
            for p in range(probes):
                seq += 1
                topic = f"bench/v1/bench/s1/probe/P{p}/P{p}/state"
                client.publish(topic, contract.encode(contract.state(ts_ms=int(time.time() * 1000), seq=seq,
                                                                     reason=seq % 2, product="P")), qos=1)
            time.sleep(0.5)
        client.loop_stop()

    threads = [threading.Thread(target=publish), threading.Thread(target=probe)]
    for t in threads:
        t.start()
    seen: dict[tuple[str, int], float] = {}
    t_end = time.monotonic() + seconds
    time.sleep(3)  # warm-up
    since = int(time.time() * 1000)
    while time.monotonic() < t_end:
        for series in query(influx, f'SELECT "reason_code" FROM "state" WHERE "area" = \'probe\' AND time >= '
                                    f'{since}ms GROUP BY "machine"', db="live"):
            for row in series["values"]:
                key = (series["tags"]["machine"], row[0])
                if key not in seen:
                    seen[key] = time.time() * 1000 - row[0]
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join()
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    return [v / 1000 for v in seen.values()]


def main() -> None:
    global SITES
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--sites", type=int, default=8, help="the machines' sites (what partitions divide)")
    parser.add_argument("--messages", type=int, default=200_000, help="backlog per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--latency", type=float, default=30.0, help="seconds of the live latency run (0: skip)")
    parser.add_argument("--partitions", default="1,2,4", help="partition counts to run ('': skip)")
    parser.add_argument("--cap", type=float, default=0.5, help="cores each partition may use (0: unheld)")
    args = parser.parse_args()
    SITES = args.sites
    counts = [int(n) for n in args.partitions.split(",") if n.strip()]
    quotas: list[Path] = []
    if args.cap and counts:
        quotas = [q for q in (cpu_quota(f"p{k}", args.cap) for k in range(max(counts))) if q]
        if len(quotas) < max(counts):
            print("no cgroup cpu controller to write to (root needed): the partitions run unheld", flush=True)
            quotas = []
    held = f", {args.cap:g} core each" if quotas else ""
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        plant = tmp / "plant.yaml"
        plant.write_text(plant_yaml(args.machines, "mqtt", args.sites))
        broker, port = start_mosquitto(tmp)
        influxd, influx = start_influxdb(tmp / "influxdb")
        health = Health(port)
        meter = CpuMeter(broker=broker.pid, influxdb=influxd.pid)
        rows: dict[str, list[dict[str, Any]]] = {}
        try:
            for r in range(args.rounds):
                make_session(port, "bench-bare", "bench/v1/+/+/+/+/+/+")
                published, _ = publish_backlog(port, args.machines, args.messages)
                rows.setdefault("bare paho subscriber", []).append(drain_bare(port, published))
                runs: list[tuple[str, list[str], bool, Path | None, list[Path] | None]] = [
                    ("one collector, KPI on", ["c1"], True, None, None),
                    ("one collector, KPI off", ["c2"], False, None, None)]
                runs += [(f"partitions {n}, KPI on{held}", [f"p{n}-{k + 1}" for k in range(n)], True, plant,
                          quotas[:n] or None) for n in counts]
                for label, names, kpi, register, cgroups in runs:
                    rows.setdefault(label, []).append(drain_collectors(
                        tmp, port, influx, health, meter, [f"{n}r{r}" for n in names], kpi=kpi,
                        machines=args.machines, messages=args.messages, plant=register, quotas=cgroups))
                line = " | ".join(f"{k}: {v[-1]['messages'] / v[-1]['seconds']:,.0f} msg/s" for k, v in rows.items())
                print(f"round {r + 1}: {line}", flush=True)
            lat = latency(tmp, port, influx, args.machines, args.latency) if args.latency else []
        finally:
            meter.close()
            health.close()
            influxd.terminate()
            broker.terminate()
            for procs in quotas:  # empty now: their collectors have exited
                with contextlib.suppress(OSError):
                    procs.parent.rmdir()

    def rate(label: str, what: str = "messages") -> float:
        runs = rows[label]
        return float(sum(r[what] for r in runs) / sum(r["seconds"] for r in runs))

    if rows:
        bare = rate("bare paho subscriber")
        print(f"\nbacklog {args.messages:,} messages of {args.machines:,} machines at {args.sites} sites per run, "
              f"{args.rounds} round(s)")
        for label in rows:
            points = f", {rate(label, 'points'):,.0f} points/s" if "bare" not in label else ""
            print(f"  {label:36s} {rate(label):9,.0f} msg/s{points}  (ratio to bare {ratio(rate(label), bare)})")
            if "bare" not in label:
                used = {k: rate(label, f"cpu {k}") for k in ("collectors", "broker", "influxdb")}  # CPU s / s
                print(f"  {'':36s} cores used: collectors {used['collectors']:.2f}, Mosquitto {used['broker']:.2f}, "
                      f"InfluxDB {used['influxdb']:.2f}, together {sum(used.values()):.2f} of {os.cpu_count()}")
        print(f"one collector with KPI on / bare paho: {ratio(rate('one collector, KPI on'), bare)} (goal ≥ 0.7)")
        if counts:
            one = f"partitions {counts[0]}, KPI on{held}"
            for n in counts[1:]:
                label = f"partitions {n}, KPI on{held}"
                same = all(run["fleet"] == first["fleet"] and run["fleet"]
                           for run, first in zip(rows[label], rows[one], strict=True))
                print(f"partitions {n} / {counts[0]}: {ratio(rate(label), rate(one))} (goal: N=2 ≥ 1.8, N=4 ≥ 3.4); "
                      f"fleet figures {'equal to' if same else 'DIFFERENT from'} {counts[0]} partition's")
    if lat:
        print(f"latency, {args.machines:,} machines live: state change published → queryable in InfluxDB: "
              f"p50 {percentile(lat, 0.5):.2f} s, p99 {percentile(lat, 0.99):.2f} s, max {max(lat):.2f} s "
              f"({len(lat)} probes; goal p99 < 2 s)")


if __name__ == "__main__":
    main()
