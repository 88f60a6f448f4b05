"""Offline time is not production: a gap in the telemetry is unknown, flagged, and never turned into a guess.

The Wuhan plant, every machine over OPC UA, bridged by the edge gateway into a collector and
Debian's InfluxDB; in the middle of the shift the gateway goes away for an hour and a half of
plant time (stopped, then a new gateway process — a new publisher session), or the OPC UA
server does (stopped and started again under the same gateway). Whatever the machines did
meanwhile is not known. Every hour that does not touch the gap must equal the ground truth;
every hour that does must say so (``coverage`` < 1) and hold no impossible ratio (extending
the last known state across the gap gave effectiveness of 150 % and more); and no part may be
lost or counted twice over the shift. The oracle for the hours that touch the gap is the ground
truth over the time that is known in them: the time elements there must be exactly the
truth's, and the unknown time the rest of the planned busy time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from collector import Collector, CollectorConfig, KpiConfig, StoreConfig
from edge import EdgeGateway
from shopfloor import MqttSettings
from simulator import LiveRun, OpcUaServers, OpcUaSettings, Simulation
from simulator._opcua import MachineServer

from .pipeline import assert_hours_as_the_truth_where_known, edge_config, opcua_plant
from .recording import wait_until
from .servers import InfluxDB, Mosquitto, free_ports

pytestmark = pytest.mark.integration

SPAN_S = 8 * 3600
WALL_S = 16.0


#: what goes away, and the machines it took with it
Outage = Callable[[LiveRun, OpcUaServers, Callable[[], Awaitable[EdgeGateway]], list[EdgeGateway]],
                  Awaitable[set[str]]]


async def gateway_restarted(live: LiveRun, servers: OpcUaServers,
                            start: Callable[[], Awaitable[EdgeGateway]], gateways: list[EdgeGateway]) -> set[str]:
    await asyncio.sleep(WALL_S * 0.35)
    await gateways[-1].__aexit__(None, None, None)  # every machine offline; what they do is seen by no one
    await asyncio.sleep(WALL_S * 0.2)
    gateways.append(await start())
    return {m.path for s in servers.servers for m in s.machines}


async def gateway_restarted_at_once(live: LiveRun, servers: OpcUaServers,
                                    start: Callable[[], Awaitable[EdgeGateway]], gateways: list[EdgeGateway],
                                    ) -> set[str]:
    await asyncio.sleep(WALL_S * 0.35)
    await gateways[-1].__aexit__(None, None, None)
    gateways.append(await start())  # a plant minute or two later: most machines are in the state they were
    return {m.path for s in servers.servers for m in s.machines}


async def server_restarted(live: LiveRun, servers: OpcUaServers,
                           start: Callable[[], Awaitable[EdgeGateway]], gateways: list[EdgeGateway]) -> set[str]:
    await asyncio.sleep(WALL_S * 0.3)
    old = servers.servers[0]  # one line's server: the gateway keeps bridging the others
    await old.stop()
    await asyncio.sleep(WALL_S * 0.1)
    new = MachineServer(old.name, old.endpoint, old.machines, old.settings)
    servers.servers[0] = new  # published to while it starts (seconds of wall time: hours of plant time)
    await new.start(live.snapshot)
    return {m.path for m in old.machines}


@pytest.mark.parametrize("outage", [gateway_restarted, gateway_restarted_at_once, server_restarted],
                         ids=["gateway", "gateway-at-once", "opcua-server"])
def test_a_gap_is_unknown_flagged_and_never_a_guess(mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path,
                                                     outage: Outage) -> None:
    plant = opcua_plant()
    state: dict[str, int] = {}
    affected: set[str] = set()

    async def main() -> Simulation:
        sim = Simulation(plant, seed=3)
        collector = Collector(CollectorConfig(
            collector="gaps", mqtt=MqttSettings.from_url(mosquitto.url),
            store=StoreConfig(url=influxdb.url), batch_max_delay_s=0.05, spool_dir=tmp_path / "spool",
            dead_letter_file=tmp_path / "dead.jsonl", health_interval_s=0.5,
            kpi=KpiConfig(plants=(plant,), interval_s=0.3)))
        collecting = asyncio.create_task(collector.run())
        await wait_until(collector.storage.connected.is_set)
        await asyncio.sleep(0.3)
        servers = OpcUaServers(list(sim.machines), OpcUaSettings(port=free_ports(3), per="line"))
        gateways: list[EdgeGateway] = []

        async def start() -> EdgeGateway:
            gateway = EdgeGateway(edge_config(mosquitto, servers.endpoints, tmp_path / "edge-spool"))
            await gateway.__aenter__()
            await gateway.wait_ready(20)
            return gateway

        async with LiveRun(sim, [(servers, list(sim.machines))], sample_period_s=0.1) as live:
            gateways.append(await start())
            run = asyncio.create_task(live.run(SPAN_S, speed=SPAN_S / WALL_S))
            affected.update(await outage(live, servers, start, gateways))
            await run
            await live.publish(sample=True)
            engine = collector.engine
            assert engine is not None
            end = (round(sim.start_epoch * 1000), round((sim.start_epoch + sim.now) * 1000) + 1)
            await wait_until(lambda: all(engine.machines[m.path].timeline.period(*end).pq == m.total
                                         for m in sim.machines), 30)
            await asyncio.sleep(1.0)  # the next ticks
            await gateways[-1].__aexit__(None, None, None)
        collecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collecting
        assert collector.counts["invalid"] == 0
        state["restated"] = collector.counts["restated"]
        return sim

    sim = asyncio.run(main())
    flagged, known = assert_hours_as_the_truth_where_known(sim, influxdb, sim.machines, affected)
    assert flagged >= len(affected) and known >= 3 * len(sim.machines)
    # the state in force that each restarted publisher reported again was not stored a second time
    stored = influxdb.rows('SELECT "reason_code" FROM "state" GROUP BY "machine"')
    events = [(r["machine"], r["time"], r["reason_code"]) for r in stored]
    assert len(events) == len(set(events))
    if outage is gateway_restarted_at_once:
        assert state["restated"] >= 1  # there were such reports
