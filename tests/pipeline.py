"""The whole pipeline for the tests: simulator → OPC UA → edge gateway → Mosquitto → collector → InfluxDB.

A shift of the Hangzhou plant run through real servers (``run_pipeline``), collectors in this
process or as ``sfsim collect`` processes, and the checks of what InfluxDB holds against the
simulator's ground truth (``assert_stored_as_the_truth``). Used by the pipeline, chaos, gap,
dashboard and assessment tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collector import Collector, CollectorConfig, KpiConfig, StoreConfig, indicators, register
from edge import EdgeConfig, EdgeGateway, EndpointConfig
from shopfloor import Event, MqttSettings, Plant, Protocol, Window, load_plant
from simulator import LiveRun, MqttMachines, OpcUaServers, OpcUaSettings, Simulation
from simulator._machine import MachineSim
from simulator._truth import _MachineTruth

from .conftest import EXAMPLES
from .recording import Recorder, wait_until
from .servers import InfluxDB, Mosquitto, free_ports

PLANT = EXAMPLES / "hangzhou-electronics.yaml"
SHIFT_S = 12 * 3600


def collector_config(broker: Mosquitto, influx: InfluxDB, tmp_path: Path, plant: Plant, *, name: str = "c1",
                     kpi: bool = True, url: str | None = None) -> CollectorConfig:
    return CollectorConfig(
        collector=name,
        mqtt=MqttSettings.from_url(broker.url, reconnect_min_s=0.2, reconnect_max_s=1.0),
        store=StoreConfig(kind="influxdb-v1", url=url or influx.url, timeout_s=3),
        batch_max_delay_s=0.05,
        spool_dir=tmp_path / f"spool-{name}",
        dead_letter_file=tmp_path / f"dead-{name}.jsonl",
        kpi=KpiConfig(enabled=kpi, plants=(plant,), interval_s=0.5),
        health_interval_s=0.5,
    )


def opcua_plant() -> Plant:
    """Wuhan machining with every machine networked over OPC UA."""
    plant = load_plant(EXAMPLES / "wuhan-machining.yaml")
    sites = []
    for site in plant.sites:
        areas = []
        for area in site.areas:
            lines = []
            for line in area.lines:
                machines = tuple(dataclasses.replace(m, networked=True, digital=True, protocol=Protocol.OPCUA)
                                 for m in line.machines)
                lines.append(dataclasses.replace(line, machines=machines))
            areas.append(dataclasses.replace(area, lines=tuple(lines)))
        sites.append(dataclasses.replace(site, areas=tuple(areas)))
    return dataclasses.replace(plant, sites=tuple(sites))


def edge_config(broker: Mosquitto, endpoints: list[str], spool: Path, **endpoint: Any) -> EdgeConfig:
    return EdgeConfig(
        gateway="edge-test",
        mqtt=MqttSettings.from_url(broker.url, reconnect_max_s=1.0),
        endpoints=tuple(EndpointConfig(url=u, publishing_interval_s=0.1, **endpoint) for u in endpoints),
        spool_dir=spool,
        health_interval_s=0.5,
        reconnect_min_s=0.2,
        reconnect_max_s=1.0,
    )


@dataclass
class Run:
    sim: Simulation
    plant: Plant
    collectors: list[Collector]


class CollectorProcess:
    """``sfsim collect`` as its own process, so that it can be killed outright."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "sfsim", "collect", "--config", str(self.config)],
                                         stdout=out, stderr=out)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(30) == 0, self.log.read_text()


def process_config(broker: Mosquitto, influx: InfluxDB, tmp_path: Path) -> Path:
    path = tmp_path / "collector.yaml"
    path.write_text(f"""
collector: proc
mqtt: {{url: "{broker.url}"}}
store: {{kind: influxdb-v1, url: "{influx.url}", timeout: 3s}}
batch: {{max_delay: 0.05s}}
spool: {{dir: spool-proc}}
dead_letter: {{file: dead-proc.jsonl}}
kpi: {{plant: "{PLANT}", interval: 0.5s}}
health_interval: 0.5s
""", encoding="utf-8")
    return path


Chaos = Callable[[Simulation, list[Collector], list[CollectorProcess]], Awaitable[None]]


def run_pipeline(broker: Mosquitto, influx: InfluxDB, tmp_path: Path, *, span_s: float, wall_s: float,
                 configs: list[CollectorConfig] | None = None, processes: Sequence[CollectorProcess] = (),
                 chaos: Chaos | None = None, recorder: Recorder | None = None, seed: int = 7,
                 events: Sequence[Event] = (), plant: Plant | None = None) -> Run:
    """``plant``: the Hangzhou example unless given."""
    plant = plant if plant is not None else load_plant(PLANT)

    async def main() -> Run:
        sim = Simulation(plant, seed=seed, events=events)
        networked = [m for m in sim.machines if m.at.machine.networked]
        opcua = [m for m in networked if m.at.machine.protocol is Protocol.OPCUA]
        native = [m for m in networked if m.at.machine.protocol is Protocol.MQTT]
        if recorder is not None:
            recording = asyncio.create_task(recorder.run())
            await recorder.ready.wait()
        in_process = configs if configs is not None else [] if processes else [
            collector_config(broker, influx, tmp_path, plant)]
        collectors = [Collector(c) for c in in_process]
        tasks = [asyncio.create_task(c.run()) for c in collectors]
        for p in processes:
            p.start()
        await wait_until(lambda: all(c.storage.connected.is_set() for c in collectors), 10)
        if processes:  # a started collector writes the targets first
            await wait_until(lambda: influx.has_database("factory") and bool(influx.rows(
                'SELECT count("value") FROM "target"')), 20)
            await asyncio.sleep(1.0)
        await asyncio.sleep(0.3)  # subscriptions made
        servers = OpcUaServers(opcua, OpcUaSettings(port=free_ports(2), per="site"))
        mqtt = MqttMachines(native, MqttSettings.from_url(broker.url), 0.1)
        async with LiveRun(sim, [(servers, opcua), (mqtt, native)], sample_period_s=0.1) as live:
            edge = EdgeConfig(gateway="edge", mqtt=MqttSettings.from_url(broker.url), spool_dir=tmp_path / "edge",
                              endpoints=tuple(EndpointConfig(url=u, publishing_interval_s=0.05)
                                              for u in servers.endpoints))
            async with EdgeGateway(edge) as gateway:
                await gateway.wait_ready(20)
                await mqtt.wait_ready(10)
                run = asyncio.create_task(live.run(span_s, speed=span_s / wall_s))
                if chaos is not None:
                    await chaos(sim, collectors, list(processes))
                await run
                await live.publish(sample=True)

                def stored_final_counters() -> bool:
                    rows = influx.rows('SELECT last("total") AS total FROM "counters" GROUP BY *')
                    got = {"/".join(r[k] for k in ("enterprise", "site", "area", "line", "machine")): r["total"]
                           for r in rows}
                    return all(got.get(m.path) == m.total for m in networked)

                await wait_until(stored_final_counters, 60)

                run_ms = (round(sim.start_epoch * 1000), round((sim.start_epoch + sim.now) * 1000) + 1)

                def engines_saw_final_counters() -> bool:
                    return all(c.engine.machines[m.path].timeline.period(*run_ms).pq == m.total
                               for c in collectors if c.engine is not None for m in networked)

                await wait_until(engines_saw_final_counters, 30)
        await asyncio.sleep(1.0)  # the engine's next tick saw the last counters
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for p in processes:
            await asyncio.to_thread(p.stop)
        if recorder is not None:
            recording.cancel()
        return Run(sim, plant, collectors)

    return asyncio.run(main())


def path_of(row: dict[str, Any]) -> str:
    return "/".join(row[k] for k in ("enterprise", "site", "area", "line", "machine") if row.get(k))


def kpi_rows(influx: InfluxDB, level: str, window: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in influx.rows(f'SELECT * FROM "kpi" WHERE "level" = \'{level}\' AND "window" = \'{window}\' GROUP BY *'):
        out.setdefault(path_of(r), []).append(r)
    return out


def covering(rows: list[dict[str, Any]], start_ms: int, end_ms: int) -> dict[str, Any]:
    """The collector's window holding a truth window (the truth clips hours to the run, the collector does not)."""
    found = [r for r in rows if r["time"] <= start_ms and end_ms <= r["end_ms"]]
    assert len(found) == 1, (start_ms, end_ms, [(r["time"], r["end_ms"]) for r in rows])
    return found[0]


def assert_matches_truth(row: dict[str, Any], truth: dict[str, Any], where: str, events: int) -> None:
    assert (row["pq"], row["gq"], row["sq"], row["rq"]) == (truth["PQ"], truth["GQ"], truth["SQ"], truth["RQ"]), where
    # the contract's timestamps are milliseconds: each state boundary is off by at most 0.5 ms
    assert row["pbt_s"] == pytest.approx(truth["PBT_s"], abs=0.01), where
    assert row["apt_s"] == pytest.approx(truth["APT_s"], abs=0.0005 * events + 1e-6), where
    for key in ("availability", "effectiveness", "quality", "oee"):
        if truth[key] is None:
            assert row.get(key) is None, (where, key)
        else:
            assert row[key] == pytest.approx(truth[key], abs=0.005), (where, key)


def assert_stored_as_the_truth(run: Run, influxdb: InfluxDB) -> None:
    """KPIs of every hour and the shift per machine, line OEE, the NC rate and the raw states, from InfluxDB."""
    truth = run.sim.truth()
    networked = {m.path: len(m.log_t) for m in run.sim.machines if m.at.machine.networked}
    # the raw telemetry: every state change of every networked machine, once
    for m in run.sim.machines:
        if not m.at.machine.networked:
            continue
        tags = dict(zip(("enterprise", "site", "area", "line", "machine"), m.path.split("/"), strict=True))
        where = " AND ".join(f'"{k}" = \'{v}\'' for k, v in tags.items())
        stored = influxdb.rows(f'SELECT "reason_code" FROM "state" WHERE {where}')
        logged = {}
        for t, r in zip(m.log_t, m.log_r, strict=True):
            logged[round((run.sim.start_epoch + t) * 1000)] = r  # changes at one instant: the last one stands
        first = min(r["time"] for r in stored)
        assert {r["time"]: r["reason_code"] for r in stored} == {ts: r for ts, r in logged.items() if ts >= first}
    for window in ("shift", "hour"):
        rows = kpi_rows(influxdb, "machine", window)
        for m in truth["machines"]:
            if m["path"] not in networked:
                continue
            for t in m["windows"][window]:
                row = covering(rows[m["path"]], t["start_ms"], t["end_ms"])
                assert_matches_truth(row, t, f"{m['path']} {window} {t['label']}", networked[m["path"]])
    # a line is its constraint; a constraint that sends nothing leaves its line without OEE (not a guess)
    lines = kpi_rows(influxdb, "line", "shift")
    for line in truth["lines"]:
        row = lines[line["path"]][0]
        if f"{line['path']}/{line['constraint']}" in networked:
            assert row["oee"] == pytest.approx(line["oee"], abs=0.005), line["path"]
        else:
            assert row.get("oee") is None, line["path"]
    assert any(f"{line['path']}/{line['constraint']}" in networked for line in truth["lines"])
    # 关键工序数控化率 from the register equals the plant file's
    expected = indicators(register(run.plant)).nc_rate
    site = influxdb.rows('SELECT last("nc_rate") AS v, last("nc_rate_num") AS n, last("nc_rate_den") AS d '
                         'FROM "digitization" WHERE "level" = \'site\'')[0]
    assert (site["n"], site["d"]) == (expected.numerator, expected.denominator) == (8, 10)
    assert site["v"] == pytest.approx(0.8)
    # networking measured from telemetry: the 11 networked machines of 14 were heard
    measured = influxdb.rows('SELECT last("networking_measured_num") AS n, last("networking_measured_den") AS d '
                             'FROM "digitization" WHERE "level" = \'site\'')[0]
    assert (measured["n"], measured["d"]) == (11, 14)


def stored_gaps(influx: InfluxDB) -> dict[tuple[str, str], list[tuple[int, int]]]:
    """The unknown intervals the collector wrote, by (machine path, ``state`` or ``counts``)."""
    gaps: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for g in influx.rows('SELECT "end_ms", "cause" FROM "gap" GROUP BY *'):
        gaps.setdefault((path_of(g), g["what"]), []).append((g["time"], g["end_ms"]))
    return gaps


def assert_hours_as_the_truth_where_known(sim: Simulation, influx: InfluxDB, machines: Sequence[MachineSim],
                                          affected: set[str]) -> tuple[int, int]:
    """Every hour of ``machines`` against the truth over the time the collector knew (docs/collector.md, "Gaps"):
    an hour no gap touches equals the truth; in one a state gap touches, the time elements are the truth's over
    the known pieces, to the millisecond of every boundary, and the rest is unknown (coverage below 1); in one
    only a counts gap touches, the times are exact. Every part counted once over the run. ``affected`` machines
    must have a gap written. How many hours were flagged and how many known."""
    truth = {m["path"]: m for m in sim.truth()["machines"]}
    rows = kpi_rows(influx, "machine", "hour")
    gaps = stored_gaps(influx)
    t0 = sim.start_epoch
    flagged = known = 0
    for m in machines:
        state_gaps, count_gaps = gaps.get((m.path, "state"), []), gaps.get((m.path, "counts"), [])
        # the outage's machines have their gap (another may have one too: a gateway on a loaded machine can lose a
        # connection of its own, and then did not see the machine either)
        assert state_gaps or count_gaps or m.path not in affected, f"{m.path}: its gap was not written"
        oracle = _MachineTruth(m, sim.now)
        total = 0
        for t in truth[m.path]["windows"]["hour"]:
            row = covering(rows[m.path], t["start_ms"], t["end_ms"])
            where = (m.path, t["label"])
            total += row["pq"]
            state_touched = [(max(a, t["start_ms"]), min(b, t["end_ms"])) for a, b in state_gaps
                             if a < t["end_ms"] and b > t["start_ms"]]
            if state_touched:
                pieces, at = [], t["start_ms"]
                for a, b in sorted(state_touched):
                    pieces.append((at, a))
                    at = b
                pieces.append((at, t["end_ms"]))
                seen = oracle.windows([Window(a / 1000 - t0, b / 1000 - t0, "") for a, b in pieces if b > a])
                for field, key in (("apt_s", "APT_s"), ("aust_s", "AUST_s"), ("adet_s", "ADET_s"),
                                   ("adot_s", "ADOT_s")):
                    assert row[field] == pytest.approx(sum(x[key] for x in seen), abs=0.01), (*where, field)
                assert row["unknown_s"] == pytest.approx(t["PBT_s"] - sum(x["PBT_s"] for x in seen), abs=0.01)
                if row["unknown_s"] > 0:
                    assert row["coverage"] < 1.0, where
                    flagged += 1
            elif not any(a < t["end_ms"] and b > t["start_ms"] for a, b in count_gaps):
                assert_matches_truth(row, t, f"{m.path} hour {t['label']}", len(m.log_t))
                # (an hour with no planned busy time, all break, has no coverage)
                assert row.get("coverage") == (1.0 if t["PBT_s"] else None) and row["gap_pq"] == 0, where
                known += 1
            else:  # the state known all along, the counters not: exact times (the unplaced parts, if any, counted
                # where the counters next said, out of the ratios)
                for field, key in (("apt_s", "APT_s"), ("adet_s", "ADET_s"), ("adot_s", "ADOT_s")):
                    assert row[field] == pytest.approx(t[key], abs=0.01), (*where, field)
                assert row["coverage"] == 1.0, where
                flagged += 1
        # every part counted once over the run, the ones made during a gap in the hour after it
        assert total == truth[m.path]["run"]["PQ"], m.path
    return flagged, known
