"""Collectors that divide the fleet by site (``partition: K/N``) store and compute exactly what one collector does.

The three example plants publish over real Mosquitto, once, to six collectors at the same
time: one alone (database ``one``), two partitions (``two``) and three (``three``), each
group into its own InfluxDB database. Whatever the division, every site, enterprise and fleet
KPI of every window, every 两化融合 rate and every grade is the same number, every message is
stored by exactly one partition, and a partition restarted mid-run resumes its own share only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector import Collector, CollectorConfig, KpiConfig, StoreConfig
from collector._partition import Partition
from shopfloor import MqttSettings, Plant, load_plant
from simulator import LiveRun, MqttMachines, Simulation

from .conftest import EXAMPLES
from .recording import wait_until
from .servers import InfluxDB, Mosquitto

pytestmark = pytest.mark.integration

PLANTS = tuple(load_plant(EXAMPLES / f"{name}.yaml") for name in ("wuhan-machining", "hangzhou-electronics",
                                                                   "ezhou-process"))
DATABASES = {1: "one", 2: "two", 3: "three"}
SPAN_S = 8 * 3600


def config(broker: Mosquitto, influx: InfluxDB, tmp_path: Path, k: int, n: int, plants: tuple[Plant, ...],
           ) -> CollectorConfig:
    name = f"p{k}of{n}"
    return CollectorConfig(
        collector=name, partition=Partition(k, n),
        mqtt=MqttSettings.from_url(broker.url, reconnect_min_s=0.2, reconnect_max_s=1.0),
        store=StoreConfig(kind="influxdb-v1", url=influx.url, database=DATABASES[n], timeout_s=3),
        batch_max_delay_s=0.05, spool_dir=tmp_path / f"spool-{name}", dead_letter_file=tmp_path / f"dead-{name}.jsonl",
        kpi=KpiConfig(plants=plants, interval_s=0.5), health_interval_s=0.5)


def rows(influx: InfluxDB, database: str, influxql: str) -> list[dict[str, Any]]:
    return influx.rows(influxql, database)


def by_series(influx: InfluxDB, database: str, measurement: str, where: str, *, last: bool = False,
              ) -> dict[tuple[str, ...], Any]:
    """Every point (or the last one) of each series, keyed by its tags and time."""
    tail = " ORDER BY time DESC LIMIT 1" if last else ""
    out: dict[tuple[str, ...], Any] = {}
    for r in rows(influx, database, f'SELECT * FROM "{measurement}" WHERE {where} GROUP BY *{tail}'):
        tags = tuple(f"{k}={v}" for k, v in sorted(r.items()) if isinstance(v, str) and k in (
            "level", "enterprise", "site", "area", "line", "window", "method", "basis"))
        out[(*tags, "" if last else str(r["time"]))] = {k: v for k, v in r.items() if k != "time" or not last}
    return out


def differences(a: dict[tuple[str, ...], Any], b: dict[tuple[str, ...], Any]) -> list[str]:
    """What differs between two ``by_series`` answers, for a readable failure."""
    out = [f"only in one: {k}" for k in a.keys() ^ b.keys()]
    for k in a.keys() & b.keys():
        out += [f"{k} {f}: {a[k].get(f)} != {b[k].get(f)}" for f in a[k].keys() | b[k].keys()
                if a[k].get(f) != b[k].get(f)]
    return out


def two_site_plant(tmp_path: Path) -> Plant:
    """The Wuhan plant with a second site, a copy of the first: one enterprise at two sites."""
    data = yaml.safe_load((EXAMPLES / "wuhan-machining.yaml").read_text(encoding="utf-8"))
    second = json.loads(json.dumps(data["sites"][0]).replace('"WH-', '"HN-'))  # machine ids are the plant's
    second["id"] = "wuhan-hannan"
    second["name"] = {"zh": "武汉汉南工厂", "en": "Wuhan Hannan plant"}
    data["sites"].append(second)
    path = tmp_path / "two-sites.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_plant(path)


def run(broker: Mosquitto, influx: InfluxDB, tmp_path: Path, plants: tuple[Plant, ...], divisions: tuple[int, ...],
        *, restart: tuple[int, int] | None = None) -> tuple[list[Simulation], dict[tuple[int, int], Collector]]:
    """The plants published once, live, to the collectors of every division at the same time (partitions 2 … N
    stopped first, partition 1, which adds up the fleet, last); ``restart``: the partition stopped and started
    again midway."""
    configs = {(k, n): config(broker, influx, tmp_path, k, n, plants) for n in divisions for k in range(1, n + 1)}

    async def main() -> tuple[list[Simulation], dict[tuple[int, int], Collector]]:
        collectors = {key: Collector(c) for key, c in configs.items()}
        tasks = {key: asyncio.create_task(c.run()) for key, c in collectors.items()}
        await wait_until(lambda: all(c.storage.connected.is_set() for c in collectors.values()), 10)
        await asyncio.sleep(0.3)
        sims = [Simulation(plant, seed=11 + i) for i, plant in enumerate(plants)]
        machines = [[m for m in sim.machines if m.at.machine.networked] for sim in sims]
        adapters = [MqttMachines(ms, MqttSettings.from_url(broker.url), 0.1) for ms in machines]
        async with contextlib.AsyncExitStack() as stack:
            lives = [await stack.enter_async_context(LiveRun(sim, [(a, ms)], sample_period_s=0.1))
                     for sim, a, ms in zip(sims, adapters, machines, strict=True)]
            for a in adapters:
                await a.wait_ready(10)

            async def restart_midway() -> None:
                if restart is None:
                    return
                await asyncio.sleep(6)
                tasks[restart].cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await tasks[restart]
                await asyncio.sleep(1)
                collectors[restart] = Collector(configs[restart])
                tasks[restart] = asyncio.create_task(collectors[restart].run())

            await asyncio.gather(*(live.run(SPAN_S, speed=SPAN_S / 15) for live in lives), restart_midway())
            for live in lives:
                await live.publish(sample=True)
        everyone = [m for ms in machines for m in ms]

        def stored_final_counters(database: str) -> bool:
            got = {"/".join(r[k] for k in ("enterprise", "site", "area", "line", "machine")): r["total"]
                   for r in rows(influx, database, 'SELECT last("total") AS total FROM "counters" GROUP BY *')}
            return all(got.get(m.path) == m.total for m in everyone)

        for n in divisions:
            await wait_until(lambda n=n: stored_final_counters(DATABASES[n]), 60)
        await asyncio.sleep(1.5)  # the engines' next ticks saw the last counters
        for key in sorted(tasks, key=lambda key: key[0] == 1):
            tasks[key].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tasks[key]
        return sims, collectors

    return asyncio.run(main())


def assert_the_same_figures(influx: InfluxDB, divisions: tuple[int, ...]) -> None:
    """Every hour, shift and day of every line, site, enterprise and the fleet, and the rolling window as it
    stands (a tick wrote one at each minute it happened to see); the last rates and grades."""
    one, others = DATABASES[divisions[0]], [DATABASES[n] for n in divisions[1:]]
    for level in ("line", "site", "enterprise", "fleet"):
        for where, last in (("\"window\" != 'rolling'", False), ("\"window\" = 'rolling'", True)):
            expected = by_series(influx, one, "kpi", f'"level" = \'{level}\' AND {where}', last=last)
            assert expected, level
            for db in others:
                got = by_series(influx, db, "kpi", f'"level" = \'{level}\' AND {where}', last=last)
                assert got == expected, (level, where, db, differences(expected, got))
    for measurement in ("digitization", "grade"):
        expected = by_series(influx, one, measurement, "time > 0", last=True)
        assert any("level=enterprise" in k for k in expected) or measurement == "grade", measurement
        for db in others:
            got = by_series(influx, db, measurement, "time > 0", last=True)
            assert got == expected, (measurement, db, differences(expected, got))


def test_one_two_or_three_partitions_give_the_same_figures(mosquitto: Mosquitto, influxdb: InfluxDB,
                                                           tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="collector")
    sims, collectors = run(mosquitto, influxdb, tmp_path, PLANTS, (1, 2, 3), restart=(2, 3))
    # every message stored by exactly one partition: the raw rows are the same in each database
    raw = {n: {m: rows(influxdb, db, f'SELECT count(*) FROM "{m}"')[0] for m in ("state", "counters", "birth")}
           for n, db in DATABASES.items()}
    assert raw[1] == raw[2] == raw[3], raw
    assert raw[1]["state"]["count_reason_code"] > 1000
    # and counted by exactly one: two partitions' messages add up to one collector's (2 of 3 restarted: its
    # session's messages in flight came twice)
    assert sum(collectors[(k, 2)].counts["valid"] for k in (1, 2)) == collectors[(1, 1)].counts["valid"]
    assert all(c.counts["invalid"] == 0 and c.counts["seq_missing"] == 0 and c.counts["other_partitions"] == 0
               for c in collectors.values())
    assert_the_same_figures(influxdb, (1, 2, 3))
    # the restarted partition read back its own site only
    restored = [r.getMessage() for r in caplog.records if "restored" in r.getMessage()]
    ezhou = sum(1 for m in sims[2].machines if m.at.machine.networked)
    assert any(f"restored {ezhou} machine(s)" in line for line in restored), restored


def test_an_enterprise_whose_sites_are_in_two_partitions_gets_one_figure(mosquitto: Mosquitto, influxdb: InfluxDB,
                                                                         tmp_path: Path) -> None:
    plant = two_site_plant(tmp_path)
    run(mosquitto, influxdb, tmp_path, (plant,), (1, 2))
    sites = {r["site"] for r in rows(influxdb, DATABASES[2], 'SELECT last("now_ms") FROM "clock" GROUP BY "site"')}
    assert sites == {"wuhan-edz", "wuhan-hannan"}  # each partition one site
    assert_the_same_figures(influxdb, (1, 2))
    enterprise = rows(influxdb, DATABASES[2], 'SELECT * FROM "kpi" WHERE "level" = \'enterprise\' AND '
                                              '"window" = \'day\'')
    assert {r["enterprise"] for r in enterprise} == {"wuhan-auto-parts"} and enterprise[-1]["pq"] > 0
