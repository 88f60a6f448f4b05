"""The edge gateway bridges the simulator's OPC UA servers to Mosquitto: what comes out is the contract.

Simulator OPC UA servers, the gateway and Debian's Mosquitto are all real; the
oracle is the simulator's own log and ground truth, and the same machines
published MQTT-natively beside the bridge.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge import EdgeGateway
from shopfloor import MqttSettings
from simulator import LiveRun, MachineSim, MqttMachines, OpcUaServers, OpcUaSettings, Simulation
from simulator._opcua import MachineServer

from .pipeline import edge_config, opcua_plant
from .recording import Recorder, validate, wait_until
from .servers import Mosquitto, free_ports

pytestmark = pytest.mark.integration

KINDS_WITH_SEQ = ("birth", "state", "counters", "signals")


def start_ms(sim: Simulation) -> int:
    return round(sim.start_epoch * 1000)


def log_states(sim: Simulation, m: MachineSim) -> list[tuple[int, int, str]]:
    """The machine's state changes as the contract carries them: (ts ms, reason code, product)."""
    return [(round((sim.start_epoch + t) * 1000), r, m.products[p]) for t, r, p in
            zip(m.log_t, m.log_r, m.log_p, strict=True)]


def assert_states_since_subscribing(bridged: list[tuple[int, int, str]], logged: list[tuple[int, int, str]],
                                    start_ts: int) -> None:
    """Every state change, in order, at its instant, with its product.

    The gateway subscribes before the simulation runs, yet after the servers wrote the state at the
    start: several changes at that very instant (starved, then producing) show as the last of them."""
    k = logged.index(bridged[0])
    assert all(ts == start_ts for ts, _, _ in logged[:k])
    assert bridged == logged[k:]


def states_of(recorder: Recorder, path: str, prefix: str = "sfsim") -> list[tuple[int, int, str]]:
    return [(s["ts"], s["reason_code"], s["product"]) for s in recorder.unique("state", path, prefix)]


def last_counters(recorder: Recorder, path: str) -> dict[str, Any]:
    """The newest counters by timestamp (a backlog can arrive after newer messages)."""
    return max(recorder.of("counters")[path], key=lambda c: c["ts"], default={})


def assert_counters_are_the_truth(sim: Simulation, recorder: Recorder, m: MachineSim) -> None:
    truth = next(x for x in sim.truth()["machines"] if x["path"] == m.path)["run"]
    last = last_counters(recorder, m.path)
    assert (last["total"], last["good"], last["scrap"], last["rework"]) == (
        truth["PQ"], truth["GQ"], truth["SQ"], truth["RQ"])
    assert last["energy_kwh"] == pytest.approx(truth["energy_kWh"], abs=1e-5)
    assert last["ideal_s"] == pytest.approx(truth["ideal_s"], abs=1e-5)


def assert_no_seq_missing(recorder: Recorder, path: str) -> None:
    seqs = sorted({p["seq"] for kind in KINDS_WITH_SEQ for p in recorder.unique(kind, path)})
    assert seqs == list(range(len(seqs))), f"{path}: seq gap"


@dataclass
class Bridged:
    sim: Simulation
    recorder: Recorder
    gateway: EdgeGateway
    machines: list[MachineSim]


Chaos = Callable[[LiveRun, OpcUaServers, EdgeGateway, Recorder], Awaitable[None]]


def run_bridged(broker: Mosquitto, tmp_path: Path, *, span_s: float, wall_s: float, seed: int = 1,
                native: bool = False, chaos: Chaos | None = None, **endpoint: Any) -> Bridged:
    """The plant served over OPC UA, bridged by a gateway; ``chaos`` runs beside the simulation."""
    async def main() -> Bridged:
        sim = Simulation(opcua_plant(), seed=seed)
        machines = list(sim.machines)
        recorder = Recorder(broker)
        rec_task = asyncio.create_task(recorder.run())
        await recorder.ready.wait()
        servers = OpcUaServers(machines, OpcUaSettings(port=free_ports(3), per="line"))
        sinks: list[Any] = [(servers, machines)]
        if native:
            sinks.append((MqttMachines(machines, MqttSettings.from_url(broker.url, prefix="native"), 0.1), machines))
        async with LiveRun(sim, sinks, sample_period_s=0.1) as live:
            config = edge_config(broker, servers.endpoints, tmp_path / "spool", **endpoint)
            async with EdgeGateway(config) as gateway:
                await gateway.wait_ready(20)
                run = asyncio.create_task(live.run(span_s, speed=span_s / wall_s))
                if chaos is not None:
                    await chaos(live, servers, gateway, recorder)
                await run
                await live.publish(sample=True)  # the end of the run, as the servers' last write
                # the final values reach the gateway within a publishing interval or two
                await wait_until(lambda: all(last_counters(recorder, m.path).get("total") == m.total
                                             for m in machines), 30)
        await wait_until(lambda: recorder.finished(machines) and (not native or recorder.finished(machines, "native")),
                         30)
        rec_task.cancel()
        return Bridged(sim, recorder, gateway, machines)

    return asyncio.run(main())


def test_a_bridged_machine_publishes_what_an_mqtt_native_one_would(mosquitto: Mosquitto, tmp_path: Path) -> None:
    # two sessions per server and a few machines per subscription: order survives the split
    b = run_bridged(mosquitto, tmp_path, span_s=4 * 3600, wall_s=5, native=True, sessions=2,
                    max_items_per_subscription=30)
    recorder = b.recorder
    for topic, payload, _ in recorder.messages:
        kind = topic.rsplit("/", 1)[-1]
        validate(kind, payload)
    for m in b.machines:
        # the same nameplate
        bridged, native = recorder.of("birth")[m.path][0], recorder.of("birth", "native")[m.path][0]
        assert {k: v for k, v in bridged.items() if k not in ("ts", "seq", "session")} == {
            k: v for k, v in native.items() if k not in ("ts", "seq", "session")}
        # every state change, in order, at its instant, with its product — as native, as the simulator logged it
        assert states_of(recorder, m.path, "native") == log_states(b.sim, m)
        assert_states_since_subscribing(states_of(recorder, m.path), log_states(b.sim, m), start_ms(b.sim))
        # the same final counters, equal to the ground truth
        assert_counters_are_the_truth(b.sim, recorder, m)
        last_native = recorder.unique("counters", m.path, "native")[-1]
        assert {k: v for k, v in recorder.unique("counters", m.path)[-1].items() if k not in ("ts", "seq")} == {
            k: v for k, v in last_native.items() if k not in ("ts", "seq")}
        assert_no_seq_missing(recorder, m.path)
        # goodbye on a clean shutdown, once, as a native machine says it
        assert [s["status"] for s in recorder.of("status")[m.path]] == ["online", "offline"]
        assert [s["status"] for s in recorder.of("status", "native")[m.path]] == ["online", "offline"]
    health = [p for t, p, _ in recorder.messages if t == "sfsim/v1/_gateway/edge-test/health"]
    assert health[-1]["status"] == "offline" and health[-1]["counts"]["queued"] == 0
    assert max(h["counts"]["published"] for h in health) > 0
    assert b.gateway.stats.dropped == 0 and b.gateway.stats.bad_values == 0
    # 30 items hold two machines at most: every server's machines were spread over several subscriptions
    assert all(s.subscriptions >= s.machines / 2 >= 1 and s.items > 0 for s in b.gateway.sources)


def test_broker_stopped_for_15_s_mid_run_loses_nothing(mosquitto: Mosquitto, tmp_path: Path) -> None:
    async def outage(live: LiveRun, servers: OpcUaServers, gateway: EdgeGateway, recorder: Recorder) -> None:
        await asyncio.sleep(2)
        mosquitto.stop()
        await asyncio.sleep(15)
        assert gateway.counts()["queued"] > 100  # the spool held the backlog
        mosquitto.start()

    b = run_bridged(mosquitto, tmp_path, span_s=8 * 3600, wall_s=22, seed=4, chaos=outage)
    for m in b.machines:
        assert_states_since_subscribing(states_of(b.recorder, m.path), log_states(b.sim, m), start_ms(b.sim))
        assert_counters_are_the_truth(b.sim, b.recorder, m)
        assert_no_seq_missing(b.recorder, m.path)  # every counters seq too: nothing coalesced, nothing dropped
    counts = b.gateway.counts()
    assert counts["replayed"] > 100 and counts["dropped"] == 0 and counts["mqtt_reconnects"] >= len(b.machines)


def test_a_gateway_stopped_while_the_broker_is_away_sends_its_backlog_on_the_next_start(
        mosquitto: Mosquitto, tmp_path: Path) -> None:
    async def main() -> tuple[Simulation, Recorder, list[int]]:
        sim = Simulation(opcua_plant(), seed=6)
        machines = list(sim.machines)
        recorder = Recorder(mosquitto)
        rec_task = asyncio.create_task(recorder.run())
        await recorder.ready.wait()
        servers = OpcUaServers(machines, OpcUaSettings(port=free_ports(3), per="line"))
        config = dataclasses.replace(edge_config(mosquitto, servers.endpoints, tmp_path / "spool"),
                                     shutdown_timeout_s=1.0)
        left = []
        async with LiveRun(sim, [(servers, machines)], sample_period_s=0.1) as live:
            run = asyncio.create_task(live.run(6 * 3600, speed=6 * 3600 / 10))
            async with EdgeGateway(config) as first:
                await first.wait_ready(20)
                await asyncio.sleep(1)
                mosquitto.stop()
                await asyncio.sleep(3)
            left.append(first.counts()["queued"])
            mosquitto.start()
            async with EdgeGateway(config) as second:
                left.append(second.spool.count if second.spool else -1)
                await run
                await live.publish(sample=True)
                await wait_until(lambda: all(last_counters(recorder, m.path).get("total") == m.total
                                             for m in machines), 30)
                left.append(second.counts()["replayed"])
        await wait_until(lambda: recorder.finished(machines), 30)
        rec_task.cancel()
        return sim, recorder, left

    sim, recorder, (queued_at_stop, found_at_start, replayed) = asyncio.run(main())
    assert queued_at_stop > 100 and found_at_start == queued_at_stop and replayed >= queued_at_stop
    for m in sim.machines:
        sessions = recorder.by_session(m.path)
        assert len(sessions) == 2  # the first run's, sent late but whole, then the second run's
        for by_seq in sessions.values():
            assert sorted(by_seq) == list(range(len(by_seq))), f"{m.path}: seq gap"
        states = [(p["ts"], p["reason_code"], p["product"]) for by_seq in sessions.values()
                  for _, p in sorted(by_seq.items()) if "reason_code" in p]
        assert set(states) <= set(log_states(sim, m)) and states == sorted(states)
        assert_counters_are_the_truth(sim, recorder, m)


def test_an_opcua_server_restart_is_recovered_by_the_gateway_alone(mosquitto: Mosquitto, tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    restarted_machines: set[str] = set()

    async def restart(live: LiveRun, servers: OpcUaServers, gateway: EdgeGateway, recorder: Recorder) -> None:
        await asyncio.sleep(2)
        old = servers.servers[0]
        served = {m.path for m in old.machines}
        restarted_machines.update(served)
        seen = len(recorder.messages)
        await old.stop()
        await wait_until(lambda: all(any(t.endswith(f"{p}/status") and m["status"] == "offline"
                                         for t, m, _ in recorder.messages[seen:]) for p in served), 10)
        await asyncio.sleep(1)
        new = MachineServer(old.name, old.endpoint, old.machines, old.settings)
        servers.servers[0] = new  # published to while it starts, current when it opens
        await new.start(live.snapshot)
        restarted = time.monotonic()  # listening: from here on it is the gateway's to find it again
        back = len(recorder.messages)
        await wait_until(lambda: all(any(t.endswith(f"{p}/status") and m["status"] == "online"
                                         for t, m, _ in recorder.messages[back:]) for p in served), 15)
        timings["online_after_s"] = time.monotonic() - restarted

    b = run_bridged(mosquitto, tmp_path, span_s=6 * 3600, wall_s=12, seed=5, chaos=restart)
    # back within the stated time: one backoff step (at most reconnect_max 1 s here) plus connecting, browsing and
    # subscribing anew — wall time on a shared 2-core machine in the middle of the suite (seen: 3.4 s of it)
    assert timings["online_after_s"] < 1.0 + 5.0
    assert b.gateway.counts()["opcua_reconnects"] >= 1
    # each machine's source: how often its connection was lost (the restarted server's once; another's only if the
    # gateway saw it stop answering — its servers share the test's event loop, which a server starting can block)
    losses = {m.path: next(s.losses for s in b.gateway.sources if s.url.endswith(f"-{m.at.line.id}"))
              for m in b.machines}  # (a server per line)
    assert all(losses[p] >= 1 for p in restarted_machines)
    for m in b.machines:
        # data flows again: the last counters are the truth; the source was lost, so a new session says what
        # nobody saw meanwhile (docs/telemetry.md: a session is an unbroken observation), each without a seq gap
        assert_counters_are_the_truth(b.sim, b.recorder, m)
        sessions = b.recorder.by_session(m.path)
        assert len(sessions) == 1 + losses[m.path], m.path  # a session per unbroken observation, no more
        for by_seq in sessions.values():
            assert sorted(by_seq) == list(range(len(by_seq))), f"{m.path}: seq gap"
        # changes while the server was down cannot be read back from OPC UA; all others arrive in order, the new
        # session beginning with the state in force (with the instant it began)
        logged = log_states(b.sim, m)
        for by_seq in sessions.values():
            bridged = [(p["ts"], p["reason_code"], p["product"]) for _, p in sorted(by_seq.items())
                       if "reason_code" in p]
            assert set(bridged) <= set(logged) and bridged == sorted(bridged)
        assert bridged[-1] == logged[-1]


def test_gateway_shards_share_the_machines_of_the_same_servers(mosquitto: Mosquitto, tmp_path: Path) -> None:
    async def main() -> tuple[list[set[str]], Recorder, list[MachineSim]]:
        sim = Simulation(opcua_plant(), seed=7)
        machines = list(sim.machines)
        recorder = Recorder(mosquitto)
        rec_task = asyncio.create_task(recorder.run())
        await recorder.ready.wait()
        servers = OpcUaServers(machines, OpcUaSettings(port=free_ports(3), per="line"))
        base = edge_config(mosquitto, servers.endpoints, tmp_path / "spool")
        async with LiveRun(sim, [(servers, machines)], sample_period_s=0.1) as live, \
                EdgeGateway(dataclasses.replace(base, shard=(0, 2))) as first, \
                EdgeGateway(dataclasses.replace(base, shard=(1, 2))) as second:
            await first.wait_ready(20)
            await second.wait_ready(20)
            await live.run(3600, speed=3600 / 2)
            await live.publish(sample=True)
            await wait_until(lambda: all(last_counters(recorder, m.path).get("total") == m.total
                                         for m in machines), 30)
            shares = [set(first.bridges), set(second.bridges)]
        rec_task.cancel()
        return shares, recorder, machines

    (a, b), recorder, machines = asyncio.run(main())
    assert a and b and not a & b and a | b == {m.path for m in machines}  # each machine bridged exactly once
    health = {t.rsplit("/", 2)[-2] for t, _, _ in recorder.messages if t.endswith("/health")}
    assert health == {"edge-test-0", "edge-test-1"}
    for m in machines:
        assert len({p["session"] for p in recorder.of("birth")[m.path]}) == 1
