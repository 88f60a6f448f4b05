"""The collector's MQTT side: a backlog of messages of every size is read whole, over plain MQTT 5
and over TLS with credentials and MQTT 3.1.1.

The collector reads the socket 64 KiB at a time and takes every packet the buffer holds, so
packets straddle its edges all the time; a backlog drained at full speed makes sure they do.
Every message must reach InfluxDB exactly as it was published.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector import Collector, CollectorConfig, KpiConfig, StoreConfig
from shopfloor import MqttSettings
from shopfloor import telemetry as contract

from .recording import wait_until
from .servers import InfluxDB, Mosquitto, secured_mosquitto

pytestmark = pytest.mark.integration

TOPIC = "sfsim/v1/acme/plant-1/area-1/line-1/m-1/signals"
MESSAGES = 3000
T0 = 1_767_571_200_000


def values(seq: int) -> dict[str, float]:
    """1 to 97 signals: payloads from about 60 bytes to 2.5 KB, so that packet edges fall everywhere."""
    return {f"s{k:02d}": seq + k / 100 for k in range(1 + seq * 7 % 97)}


def publish_backlog(settings: MqttSettings, ca: Path | None) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2)
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    if ca is not None:
        client.tls_set(ca_certs=str(ca))
    client.max_inflight_messages_set(500)
    client.connect(settings.host, settings.port)
    client.loop_start()
    infos = [client.publish(TOPIC, contract.encode(contract.signals(ts_ms=T0 + seq * 1000, seq=seq,
                                                                    values=values(seq))), qos=1)
             for seq in range(1, MESSAGES + 1)]
    for info in infos:
        info.wait_for_publish(30)
    client.loop_stop()
    client.disconnect()


def drain(settings: MqttSettings, influxdb: InfluxDB, tmp_path: Path, ca: Path | None) -> Collector:
    config = CollectorConfig(collector="reader", mqtt=settings, store=StoreConfig(url=influxdb.url),
                             batch_max_delay_s=0.05, spool_dir=tmp_path / "spool",
                             dead_letter_file=tmp_path / "dead.jsonl", kpi=KpiConfig(enabled=False))

    async def make_session() -> None:
        collector = Collector(config)
        task = asyncio.create_task(collector.run())
        await wait_until(collector.storage.connected.is_set)
        await asyncio.sleep(0.3)  # subscribed
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def main() -> Collector:
        await make_session()  # the persistent session and its subscription exist; the collector is away
        await asyncio.to_thread(publish_backlog, settings, ca)
        collector = Collector(config)
        task = asyncio.create_task(collector.run())
        await wait_until(lambda: collector.counts["points_written"] >= MESSAGES, 60)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return collector

    return asyncio.run(main())


def assert_stored_whole(collector: Collector, influxdb: InfluxDB) -> None:
    assert collector.counts["received"] == MESSAGES
    assert collector.counts["invalid"] == 0 and collector.counts["seq_missing"] == 0
    rows = influxdb.rows('SELECT * FROM "signals"')
    assert sorted(row["seq"] for row in rows) == list(range(1, MESSAGES + 1))
    for row in rows:
        seq = row["seq"]
        assert row["time"] == T0 + seq * 1000
        assert {k: v for k, v in row.items() if re.fullmatch(r"s\d\d", k) and v is not None} == values(seq), seq


def test_a_backlog_of_every_size_is_read_whole(mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path) -> None:
    collector = drain(MqttSettings.from_url(mosquitto.url), influxdb, tmp_path, None)
    assert_stored_whole(collector, influxdb)


def test_tls_with_credentials_and_mqtt_311(influxdb: InfluxDB, tmp_path: Path) -> None:
    broker, ca = secured_mosquitto(tmp_path, "collector", "s3cret")
    broker.start()
    try:
        settings = MqttSettings.from_url(f"mqtts://collector:s3cret@127.0.0.1:{broker.port}", ca_file=str(ca),
                                         version="3.1.1")
        collector = drain(settings, influxdb, tmp_path, ca)
    finally:
        broker.stop()
    assert_stored_whole(collector, influxdb)
