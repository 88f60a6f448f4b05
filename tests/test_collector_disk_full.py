"""A full disk: the collector stays up, acknowledges only what it keeps, says so, and drains once there is room.

The spool lives on a small tmpfs that is filled to the last byte while InfluxDB is away, so
nothing can be kept: the collector must hold what it received without acknowledging it (the
broker keeps it), say so in its log and on its health topic, survive a restart in that state
(replaying a spool whose rows cannot even be deleted), store everything once InfluxDB is
back, and delete what it replayed once the disk has room again. Needs root (it mounts the
tmpfs), as CI and the development machines run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector import Collector, CollectorConfig, KpiConfig, StoreConfig
from shopfloor import MqttSettings
from shopfloor import telemetry as contract

from .recording import Recorder, wait_until
from .servers import InfluxDB, Mosquitto

pytestmark = pytest.mark.integration

PATH = "acme/s1/a1/l1/m1"
MESSAGES = 1500


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs: run it as root (bash .ci/run does, in CI)")
    where = tmp_path / "disk"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Every free byte of the disk in one file."""
    filler = disk / "filler"
    chunk = os.urandom(4096)
    with filler.open("wb", buffering=0) as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(chunk)
        with contextlib.suppress(OSError):
            while True:
                f.write(b"x")
    return filler


def signals(seq: int) -> bytes:
    rng = random.Random(seq)  # values that do not compress away: the spool fills
    values = {f"s{k}": round(rng.uniform(0, 1000), 6) for k in range(40)}
    return contract.encode(contract.signals(ts_ms=1_767_571_200_000 + seq * 1000, seq=seq, values=values))


def test_a_full_disk_loses_nothing_and_crashes_nothing(mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path,
                                                        small_disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    influxdb.stop()
    config = CollectorConfig(collector="full", mqtt=MqttSettings.from_url(mosquitto.url),
                             store=StoreConfig(url=influxdb.url, timeout_s=2), batch_max_delay_s=0.05,
                             batch_max_points=100, spool_dir=small_disk / "spool",
                             dead_letter_file=tmp_path / "dead.jsonl", health_interval_s=0.2,
                             kpi=KpiConfig(enabled=False))
    state: dict[str, object] = {}

    async def main() -> None:
        health = Recorder(mosquitto, topic="sfsim/v1/_collector/full/health", identifier="health")
        watching = asyncio.create_task(health.run())
        await health.ready.wait()
        first = Collector(config)
        running = asyncio.create_task(first.run())
        await wait_until(first.storage.connected.is_set)
        await asyncio.sleep(0.3)
        filler = fill(small_disk)
        os.truncate(filler, os.path.getsize(filler) - 64 * 1024)  # room for a few batches, no more
        client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        client.connect("127.0.0.1", mosquitto.port)
        client.loop_start()
        client.publish(f"sfsim/v1/{PATH}/birth", b"{}", qos=1).wait_for_publish(5)  # a dead letter, elsewhere
        for seq in range(1, MESSAGES + 1):
            client.publish(f"sfsim/v1/{PATH}/signals", signals(seq), qos=1).wait_for_publish(5)
        # the spool is full and so is the disk: held, not acknowledged, said
        await wait_until(lambda: first.sink.problem is not None and "full" in first.sink.problem, 20)
        await wait_until(lambda: any(m.get("problems") for _, m, _ in health.messages), 5)
        state["spooled"] = first.counts["batches_spooled"]
        await asyncio.sleep(1.0)
        assert not running.done() and first.counts["batches_spooled"] == state["spooled"]
        running.cancel()  # a restart while the disk is still full: its spool cannot even shrink
        with contextlib.suppress(asyncio.CancelledError):
            await running
        second = Collector(config)
        running = asyncio.create_task(second.run())
        await wait_until(lambda: second.storage.connected.is_set(), 10)
        await asyncio.sleep(1.0)
        assert not running.done() and second.sink.problem is not None
        influxdb.start()  # the store is back before the room on the disk: everything goes there
        await wait_until(lambda: stored() == MESSAGES, 60)
        assert not running.done() and second.sink.problem is not None  # the replayed rows wait to be deleted
        filler.unlink()  # room again: what was replayed is deleted, and nothing is left
        await wait_until(lambda: second.sink.backlog == 0 and second.sink.problem is None, 20)
        await wait_until(lambda: health.messages[-1][1].get("problems") == [], 5)  # and says so
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        watching.cancel()
        client.loop_stop()

    def stored() -> int:
        rows = influxdb.rows('SELECT count("s0") AS n FROM "signals"') if influxdb.has_database("factory") else []
        return int(rows[0]["n"]) if rows else 0

    with caplog.at_level(logging.INFO, logger="collector"):
        asyncio.run(main())
    assert stored() == MESSAGES
    seqs = [r["seq"] for r in influxdb.rows('SELECT "seq" FROM "signals"')]
    assert sorted(seqs) == list(range(1, MESSAGES + 1))
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and "no longer acknowledged" in
            r.getMessage()]
    assert said and "full" in said[0], said
    assert not [r for r in caplog.records if r.exc_info]  # not one traceback
