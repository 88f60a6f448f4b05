"""A batch goes to the store when it is full or when its delay is up, whichever comes first.

The network thread wakes the event loop only when the inbox stops being empty and when it
holds a full batch (a wake-up per message cost more than the message): these tests check
that both wake-ups happen, through real Mosquitto into the real InfluxDB.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector import Collector, CollectorConfig, KpiConfig, StoreConfig
from shopfloor import MqttSettings
from shopfloor import telemetry as contract

from .recording import wait_until
from .servers import InfluxDB, Mosquitto

pytestmark = pytest.mark.integration

TOPIC = "sfsim/v1/acme/plant-1/area-1/line-1/m-1/signals"


def config(mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path, *, max_points: int,
           max_delay_s: float) -> CollectorConfig:
    return CollectorConfig(collector="batching", mqtt=MqttSettings.from_url(mosquitto.url),
                           store=StoreConfig(url=influxdb.url), batch_max_points=max_points,
                           batch_max_delay_s=max_delay_s, spool_dir=tmp_path / "spool",
                           dead_letter_file=tmp_path / "dead.jsonl", kpi=KpiConfig(enabled=False))


def publish(mosquitto: Mosquitto, first_seq: int, n: int) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    for seq in range(first_seq, first_seq + n):
        payload = contract.encode(contract.signals(ts_ms=1_767_571_200_000 + seq * 1000, seq=seq,
                                                   values={"spindle_speed_rpm": float(seq)}))
        client.publish(TOPIC, payload, qos=1).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


def run(collector: Collector, scenario: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        task = asyncio.create_task(collector.run())
        await wait_until(collector.storage.connected.is_set)
        await wait_until(lambda: collector.counts["batches_written"] == 1)  # the targets, written at start
        await asyncio.sleep(0.3)  # subscribed
        await scenario()
        assert not task.done()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_a_full_batch_is_written_at_once_and_a_partial_one_waits_for_its_delay(
        mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path) -> None:
    collector = Collector(config(mosquitto, influxdb, tmp_path, max_points=20, max_delay_s=60))

    async def scenario() -> None:
        targets = collector.counts["points_written"]
        started = time.monotonic()
        await asyncio.to_thread(publish, mosquitto, 1, 20)
        await wait_until(lambda: collector.counts["points_written"] == targets + 20, 10)
        assert time.monotonic() - started < 10  # not the 60 s delay: the full batch woke the loop
        assert collector.counts["batches_written"] == 2  # the targets, then the 20 points in one batch
        await asyncio.to_thread(publish, mosquitto, 21, 5)
        await wait_until(lambda: len(collector.storage.inbox) == 5, 10)  # arrived, and waiting
        await asyncio.sleep(1.0)
        assert collector.counts["points_written"] == targets + 20  # five points wait for their delay (or the end)

    run(collector, scenario)
    assert collector.counts["batches_written"] == 3  # the last five at shutdown
    assert [r["spindle_speed_rpm"] for r in influxdb.rows('SELECT * FROM "signals"')] == [float(s)
                                                                                        for s in range(1, 26)]


def test_a_lone_message_is_written_after_the_batch_delay(
        mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path) -> None:
    collector = Collector(config(mosquitto, influxdb, tmp_path, max_points=5000, max_delay_s=0.2))

    async def scenario() -> None:
        targets = collector.counts["points_written"]
        for seq in (1, 2, 3):  # each one alone: each time the inbox stops being empty
            await asyncio.to_thread(publish, mosquitto, seq, 1)
            await wait_until(lambda: collector.counts["points_written"] == targets + seq, 3)  # noqa: B023 (awaited)

    run(collector, scenario)
    assert collector.counts["batches_written"] == 4  # the targets, then each message in a batch of its own
