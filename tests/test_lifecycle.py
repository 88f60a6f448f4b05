"""One service life cycle (shopfloor/lifecycle.py): the backoff of every retry loop; ``ready`` set only once a
service really serves; a background task that fails stops its service with that error, raised to whoever
awaits it — no hang, no log line while the service goes on without the task.

The collector, the gateway and the adapters run against real servers: Mosquitto, InfluxDB, the simulator's
asyncua servers. A failing loop is a subclass's loop that raises, as a bug would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
import pytest
from asyncua import Client
from paho.mqtt.enums import CallbackAPIVersion

from collector import Collector, CollectorConfig, KpiConfig, StoreConfig
from edge import EdgeGateway, EndpointState
from shopfloor import MqttSettings, Protocol, load_plant
from shopfloor import telemetry as contract
from shopfloor.lifecycle import Backoff, Service
from simulator import LiveRun, MqttMachines, OpcUaServers, OpcUaSettings, Simulation

from .conftest import EXAMPLES
from .pipeline import edge_config, opcua_plant
from .recording import wait_until
from .servers import InfluxDB, Mosquitto, free_port, free_ports

TOPIC = "sfsim/v1/acme/plant-1/area-1/line-1/m-1/signals"

# ------------------------------------------------------------------ Backoff


def test_backoff_doubles_up_to_its_cap_each_wait_jittered_within_its_step() -> None:
    backoff = Backoff(0.5, 4.0, rng=random.Random(7))
    steps, waits = [], []
    for _ in range(8):
        steps.append(backoff.step)
        waits.append(backoff.next())
    assert steps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert all(step * 0.5 < wait <= step for step, wait in zip(steps, waits, strict=True)), waits
    assert backoff.failures == 8


def test_backoff_reset_starts_again_at_the_minimum() -> None:
    backoff = Backoff(0.2, 30.0)
    for _ in range(6):
        backoff.next()
    backoff.reset()
    assert (backoff.step, backoff.failures) == (0.2, 0)
    assert 0.1 < backoff.next() <= 0.2


def test_backoff_jitter_spreads_clients_that_failed_together() -> None:
    firsts = {Backoff(1.0, 30.0, rng=random.Random(seed)).next() for seed in range(100)}
    assert len(firsts) == 100 and min(firsts) > 0.5 and max(firsts) <= 1.0
    assert max(firsts) - min(firsts) > 0.3  # spread over the window, not bunched
    assert Backoff(1.0, 30.0, jitter=0).next() == 1.0


def test_backoff_bounds() -> None:
    assert Backoff(2.0, 1.0).next() <= 1.0  # a cap below the first step caps that one too
    for low, high in ((0, 1.0), (0.5, 0), (-1, 1.0)):
        with pytest.raises(ValueError, match="positive"):
            Backoff(low, high)
    with pytest.raises(ValueError, match="jitter"):
        Backoff(0.5, 1.0, jitter=1.0)


# ------------------------------------------------------------------ the shape itself


class _Steps(Service):
    """A service of two loops that logs its shutdown; ``fail`` makes the second loop raise it."""

    def __init__(self, fail: BaseException | None = None) -> None:
        super().__init__("steps")
        self.fail = fail
        self.log: list[str] = []

    async def _open(self) -> None:
        self.first = self.spawn("first", self._forever())
        self.spawn("second", self._second())
        self._now_ready()

    async def _forever(self) -> None:
        await asyncio.Event().wait()

    async def _second(self) -> None:
        await asyncio.sleep(0.05)
        if self.fail is not None:
            raise self.fail
        await asyncio.Event().wait()

    async def _close(self) -> None:
        self.log.append("close begins")
        await asyncio.sleep(0.1)  # a loop failing meanwhile must not cut this short
        await self.stop_tasks(self.first)
        self.log.append("close ends")


def test_a_failing_task_interrupts_the_body_and_its_error_is_raised_after_the_whole_shutdown() -> None:
    async def main() -> _Steps:
        service = _Steps(fail=RuntimeError("a bug in the second loop"))
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="a bug in the second loop") as raised:
            async with service:
                assert service.ready.is_set()
                await asyncio.sleep(30)  # interrupted
        assert time.monotonic() - started < 5
        assert any("'second' failed" in note for note in raised.value.__notes__)
        assert not service.ready.is_set() and not service.tasks and not service.running
        return service

    assert asyncio.run(main()).log == ["close begins", "close ends"]


def test_a_cancellation_during_the_shutdown_waits_for_its_end() -> None:
    async def main() -> _Steps:
        service = _Steps()

        async def body() -> None:
            async with service:
                await service.serve()

        task = asyncio.create_task(body())
        await asyncio.sleep(0.1)
        task.cancel()
        await asyncio.sleep(0.05)  # in the shutdown now
        task.cancel()  # Ctrl-C again
        with pytest.raises(asyncio.CancelledError):
            await task
        return service

    assert asyncio.run(main()).log == ["close begins", "close ends"]


def test_stop_ends_serve_and_the_body_error_stays_the_body_error() -> None:
    async def main() -> None:
        service = _Steps()
        asyncio.get_running_loop().call_later(0.1, service.stop)
        await asyncio.wait_for(service.run(), 5)
        assert service.log == ["close begins", "close ends"]
        with pytest.raises(KeyError):
            async with _Steps():
                raise KeyError("the caller's own")

    asyncio.run(main())


# ------------------------------------------------------------------ the collector


def collector_config(broker: Mosquitto, store: StoreConfig, tmp_path: Path, **changes: Any) -> CollectorConfig:
    return CollectorConfig(collector="lifecycle", mqtt=MqttSettings.from_url(broker.url, reconnect_max_s=1.0),
                           store=store, batch_max_delay_s=0.05, spool_dir=tmp_path / "spool",
                           dead_letter_file=tmp_path / "dead.jsonl", health_interval_s=0.5, **changes)


def publish_one(port: int, seq: int) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    payload = contract.encode(contract.signals(ts_ms=1_767_571_200_000 + seq * 1000, seq=seq,
                                               values={"spindle_speed_rpm": float(seq)}))
    client.publish(TOPIC, payload, qos=1).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


async def retained(port: int, topic: str) -> dict[str, Any]:
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe(topic)
        async with asyncio.timeout(5):
            async for message in client.messages:
                return dict(json.loads(bytes(message.payload)))
    raise AssertionError(f"nothing retained on {topic}")


async def cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.mark.integration
def test_the_collector_is_ready_once_subscribed_and_storing_not_while_the_broker_is_away(
        influxdb: InfluxDB, tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path)  # not started yet
    collector = Collector(collector_config(broker, StoreConfig(url=influxdb.url), tmp_path,
                                           kpi=KpiConfig(enabled=False)))

    async def main() -> None:
        task = asyncio.create_task(collector.run())
        try:
            await asyncio.sleep(2)
            assert not collector.ready.is_set()  # the store is there, the broker is not
            await asyncio.to_thread(broker.start)
            await collector.wait_ready(15)
            assert collector.storage.subscribed.is_set()
            assert collector.counts["batches_written"] == 1  # the targets: the store takes what comes
            # a message published the moment it is ready is in its subscription (a new session: one published
            # before the broker acknowledged the subscription would be lost)
            written = collector.counts["points_written"]  # the targets' points
            await asyncio.to_thread(publish_one, broker.port, 1)
            await wait_until(lambda: collector.counts["points_written"] > written, 10)
            assert not task.done()
        finally:
            await cancelled(task)
        assert not collector.ready.is_set()

    try:
        asyncio.run(main())
    finally:
        broker.stop()
    assert [r["spindle_speed_rpm"] for r in influxdb.rows('SELECT * FROM "signals"')] == [1.0]


@pytest.mark.integration
def test_the_collector_is_ready_while_the_store_is_away_because_it_spools(mosquitto: Mosquitto,
                                                                          tmp_path: Path) -> None:
    nothing_there = StoreConfig(url=f"http://127.0.0.1:{free_port()}", timeout_s=2)
    collector = Collector(collector_config(mosquitto, nothing_there, tmp_path, kpi=KpiConfig(enabled=False)))

    async def main() -> None:
        task = asyncio.create_task(collector.run())
        try:
            await collector.wait_ready(15)
            assert collector.counts["batches_spooled"] == 1 and collector.counts["batches_written"] == 0
            assert collector.storage.subscribed.is_set()
        finally:
            await cancelled(task)

    asyncio.run(main())


class _KpiBug(Collector):
    async def _kpi_loop(self) -> None:
        await self.ready.wait()
        raise RuntimeError("the KPI loop hit a bug")


@pytest.mark.integration
def test_a_collector_whose_loop_fails_stops_with_that_error_after_its_shutdown(
        mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path) -> None:
    plant = load_plant(EXAMPLES / "wuhan-machining.yaml")
    config = collector_config(mosquitto, StoreConfig(url=influxdb.url), tmp_path,
                              kpi=KpiConfig(plants=(plant,), interval_s=0.3))

    async def main() -> None:
        for how in ("run", "async with"):
            collector = _KpiBug(config)
            started = time.monotonic()
            with pytest.raises(RuntimeError, match="the KPI loop hit a bug") as raised:
                if how == "run":
                    await asyncio.wait_for(collector.run(), 30)
                else:
                    async with collector:
                        await asyncio.sleep(60)  # interrupted by the failure
            assert time.monotonic() - started < 20, how
            assert any("collector lifecycle" in n and "'kpi'" in n for n in raised.value.__notes__), how
            assert not collector.ready.is_set() and not collector.tasks
            assert not collector.storage.connected.is_set()  # disconnected: the shutdown ran to its end
            health = await retained(mosquitto.port, "sfsim/v1/_collector/lifecycle/health")
            assert health["status"] == "offline", how

    asyncio.run(main())


# ------------------------------------------------------------------ the edge gateway


class _DiskBug(EdgeGateway):
    async def _commit_loop(self) -> None:
        await self.ready.wait()
        raise OSError(28, "No space left on device")


@pytest.mark.integration
def test_the_gateway_is_ready_once_it_bridges_every_machine_not_while_the_broker_is_away(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path)  # not started yet
    sim = Simulation(opcua_plant(), seed=2)
    machines = list(sim.machines)
    servers = OpcUaServers(machines, OpcUaSettings(port=free_ports(3), per="line"))

    async def main() -> None:
        async with LiveRun(sim, [(servers, machines)], sample_period_s=0.1) as live, \
                EdgeGateway(edge_config(broker, servers.endpoints, tmp_path / "edge-spool")) as gateway:
            assert servers.ready.is_set()
            await wait_until(lambda: all(s.state is EndpointState.CONNECTED for s in gateway.sources), 20)
            await asyncio.sleep(1.5)
            assert not gateway.ready.is_set()  # every endpoint attached, but no machine's session is up
            await asyncio.to_thread(broker.start)
            run = asyncio.create_task(live.run(3600, speed=3600 / 5))
            await gateway.wait_ready(20)
            assert all(s.state is EndpointState.CONNECTED for s in gateway.sources)
            assert len(gateway.publishers) == len(machines)
            assert all(p.connected.is_set() for p in gateway.publishers.values())
            health = await retained(broker.port, contract.gateway_topic("sfsim", "edge-test"))
            assert health["status"] == "online"
            await cancelled(run)

    try:
        asyncio.run(main())
    finally:
        broker.stop()


@pytest.mark.integration
def test_a_gateway_whose_loop_fails_stops_with_that_error_and_still_drains(mosquitto: Mosquitto,
                                                                           tmp_path: Path) -> None:
    sim = Simulation(opcua_plant(), seed=2)
    machines = list(sim.machines)
    servers = OpcUaServers(machines, OpcUaSettings(port=free_ports(3), per="line"))

    async def main() -> _DiskBug:
        async with LiveRun(sim, [(servers, machines)], sample_period_s=0.1):
            gateway = _DiskBug(edge_config(mosquitto, servers.endpoints, tmp_path / "edge-spool"))
            started = time.monotonic()
            with pytest.raises(OSError, match="No space left on device") as raised:
                async with gateway:
                    await gateway.serve()  # until the failure: no stop() comes
            assert time.monotonic() - started < 30
            assert any("edge gateway edge-test" in n and "'spool commit'" in n for n in raised.value.__notes__)
            assert not gateway.ready.is_set() and not gateway.tasks
            # the shutdown ran in its order: the machines said offline, the health too
            for path in (m.path for m in machines):
                status = await retained(mosquitto.port, contract.machine_topic("sfsim", path,
                                                                               contract.MessageKind.STATUS))
                assert status["status"] == "offline", path
            health = await retained(mosquitto.port, contract.gateway_topic("sfsim", "edge-test"))
            assert health["status"] == "offline"
        return gateway

    gateway = asyncio.run(main())
    assert gateway.spool is not None and gateway.spool.count == 0


# ------------------------------------------------------------------ the simulator's adapters


def native(sim: Simulation) -> list[Any]:
    return [m for m in sim.machines if m.at.machine.networked and m.at.machine.protocol is Protocol.MQTT]


@pytest.mark.integration
def test_mqtt_machines_are_ready_once_every_session_is_up(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path)  # not started yet
    sim = Simulation(load_plant(EXAMPLES / "wuhan-machining.yaml"), seed=1)
    machines = native(sim)
    adapter = MqttMachines(machines, MqttSettings.from_url(broker.url, reconnect_max_s=0.5), 0.1)

    async def main() -> None:
        async with LiveRun(sim, [(adapter, machines)], sample_period_s=0.1):
            await asyncio.sleep(1.5)
            assert not adapter.ready.is_set()
            await asyncio.to_thread(broker.start)
            await adapter.wait_ready(15)
            assert all(s.connected.is_set() for s in adapter.sessions.values())
        assert not adapter.ready.is_set()

    try:
        asyncio.run(main())
    finally:
        broker.stop()


@pytest.mark.integration
def test_opcua_servers_are_ready_once_listening_and_one_that_cannot_listen_closes_the_others() -> None:
    sim = Simulation(load_plant(EXAMPLES / "wuhan-machining.yaml"), seed=1)
    machines = [m for m in sim.machines if m.at.machine.networked and m.at.machine.protocol is Protocol.OPCUA]
    port = free_port()
    first = OpcUaServers(machines, OpcUaSettings(port=port))
    clash = OpcUaServers(machines, OpcUaSettings(port=port))  # the same port

    async def main() -> None:
        assert not first.ready.is_set()
        async with first:
            assert first.ready.is_set()
            async with Client(first.endpoints[0]):  # listening indeed
                pass
        assert not first.ready.is_set() and not any(s.serving for s in first.servers)
        again = OpcUaServers(machines, OpcUaSettings(port=port))
        with pytest.raises(OSError):  # as it is, not in an exception group: `sfsim simulate` says it plainly
            async with LiveRun(sim, [(again, machines), (clash, machines)]):
                pass
        assert not any(s.serving for s in again.servers)  # opened first, closed again
        assert not clash.running and not again.running

    asyncio.run(main())
