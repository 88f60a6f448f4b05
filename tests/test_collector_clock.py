"""A hostile machine cannot move anyone else's clock, before or after a collector restart.

Two honest machines of a site produce at full speed from 08:00; a third machine of the same
site sends contract-valid counters whose timestamps step a day ahead each time — each step
within ``kpi.keep`` of the last, so a clock that followed the newest timestamp would follow
it, age every honest window out of what is kept and raise "down" alarms. With no
``max_ahead`` limit (as for a simulation faster than real time) the site's clock must still be
the honest machines', their KPIs exact, no window written beyond their time — and so again
after the collector restarts and reads everything back from InfluxDB.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector import Collector, CollectorConfig, KpiConfig, StoreConfig
from shopfloor import MqttSettings, load_plant
from shopfloor import telemetry as contract

from .acme import PLANT, birth_of, ms
from .recording import wait_until
from .servers import InfluxDB, Mosquitto

pytestmark = pytest.mark.integration

A, B, H = "acme/s1/a1/l1/A", "acme/s1/a1/l1/B", "acme/s1/a1/l2/H"
DAY_MS = 86_400_000


class Plant:
    """The three publishers, each with its seq."""

    def __init__(self, client: paho.Client) -> None:
        self.client = client
        self.seq = {A: 0, B: 0, H: 0}
        self.sent = 0

    def send(self, path: str, kind: str, body: dict[str, object]) -> None:
        self.client.publish(f"sfsim/v1/{path}/{kind}", json.dumps(body).encode(), qos=1).wait_for_publish(5)
        self.sent += 1

    def start(self) -> None:
        for path in (A, B, H):
            self.send(path, "birth", birth_of(path, ms(8)))
            self.send(path, "status", {"ts": ms(8), "status": "online", "session": ms(8)})
        for path in (A, B):
            self.seq[path] += 1
            self.send(path, "state", contract.state(ts_ms=ms(8), seq=self.seq[path], reason=0, product="P"))

    def minutes(self, first: int, last: int) -> None:
        """Honest counters every 10 min from minute ``first`` to ``last`` after 08:00 (A 2 parts a minute, B 1), and
        between them the hostile machine a day further ahead each time."""
        for minute in range(first, last + 1, 10):
            for path, per_minute, cycle in ((A, 2, 30.0), (B, 1, 60.0)):
                self.seq[path] += 1
                n = minute * per_minute
                self.send(path, "counters", contract.counters(ts_ms=ms(8) + minute * 60_000, seq=self.seq[path],
                                                              total=n, good=n, scrap=0, rework=0, energy_kwh=n * 0.1,
                                                              ideal_s=n * cycle))
            self.seq[H] += 1
            self.send(H, "counters", contract.counters(ts_ms=ms(8) + self.seq[H] * DAY_MS, seq=self.seq[H],
                                                       total=self.seq[H], good=self.seq[H], scrap=0, rework=0,
                                                       energy_kwh=0, ideal_s=60.0 * self.seq[H]))


def hours(influxdb: InfluxDB, machine: str) -> dict[int, dict[str, object]]:
    return {r["time"]: r for r in influxdb.rows(
        f'SELECT * FROM "kpi" WHERE "level" = \'machine\' AND "window" = \'hour\' AND "machine" = \'{machine}\'')}


def test_a_machine_stepping_days_ahead_moves_no_one_elses_clock_even_across_a_restart(
        mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path) -> None:
    (tmp_path / "plant.yaml").write_text(PLANT, encoding="utf-8")
    config = CollectorConfig(collector="clock", mqtt=MqttSettings.from_url(mosquitto.url),
                             store=StoreConfig(url=influxdb.url), batch_max_delay_s=0.05, spool_dir=tmp_path / "spool",
                             dead_letter_file=tmp_path / "dead.jsonl", health_interval_s=0.5, max_ahead_s=None,
                             kpi=KpiConfig(plants=(load_plant(tmp_path / "plant.yaml"),), interval_s=0.2,
                                           alarm_after_s=600))

    async def run_collector(plant: Plant, first: int, last: int) -> Collector:
        collector = Collector(config)
        task = asyncio.create_task(collector.run())
        await wait_until(collector.storage.connected.is_set)
        await asyncio.sleep(0.3)
        before = collector.counts["received"]
        if first == 0:
            plant.start()
        plant.minutes(first, last)
        await wait_until(lambda: collector.counts["received"] - before >= plant.sent, 20)
        await asyncio.sleep(1.0)  # a few KPI ticks
        assert not task.done()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return collector

    async def main() -> tuple[Collector, Collector]:
        client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        client.connect("127.0.0.1", mosquitto.port)
        client.loop_start()
        plant = Plant(client)
        first = await run_collector(plant, 0, 130)  # 08:00–10:10, the hostile machine 14 days ahead
        plant.sent = 0
        second = await run_collector(plant, 140, 190)  # restarted: 10:20–11:10, and 20 days ahead
        client.loop_stop()
        return first, second

    first, second = asyncio.run(main())
    for collector, now in ((first, ms(8) + 130 * 60_000), (second, ms(8) + 190 * 60_000)):
        assert collector.engine is not None and collector.engine.site_now_ms("acme/s1") == now
        assert collector.counts["invalid"] == 0  # contract-valid, every message: nothing refused, nothing believed
        retention = json.loads(collector._health_payload("online"))["retention"]  # what it keeps, in the health
        assert retention["machines"] == 3 and retention["telemetry_bytes"] > 0 and retention["keep_s"] == 172_800
    # the honest machines' hours are exact and final, the 10:00 hour too (written whole after the restart)
    for machine, per_hour in (("A", 120), ("B", 60)):
        stored = hours(influxdb, machine)
        for hour in (8, 9, 10):
            row = stored[ms(hour)]
            assert (row["pq"], row["availability"], row["effectiveness"], row["final"]) == (per_hour, 1.0, 1.0, True)
    # no window was written beyond the honest time, and no machine was called down
    future = influxdb.rows(f'SELECT count("pbt_s") FROM "kpi" WHERE time > {ms(11.2)}ms')
    assert not future, future
    alarms = influxdb.rows('SELECT * FROM "alarm"')
    assert not [a for a in alarms if a["kind"] == "down"], alarms
    # what a restart reads back as "now": the honest clock
    clock = influxdb.rows('SELECT last("now_ms") AS now FROM "clock"')
    assert clock[0]["now"] == ms(8) + 190 * 60_000
