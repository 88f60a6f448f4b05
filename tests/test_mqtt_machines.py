"""MQTT-native machines publish the telemetry contract to a real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from shopfloor import MqttSettings, Protocol, load_plant, parse_topic
from simulator import LiveRun, MqttMachines, Simulation

from .conftest import EXAMPLES
from .recording import Recorder, validate, wait_until
from .servers import Mosquitto, find_program, secured_mosquitto

pytestmark = pytest.mark.integration

def mqtt_machines(sim: Simulation) -> list[Any]:
    return [m for m in sim.machines if m.at.machine.networked and m.at.machine.protocol is Protocol.MQTT]


def test_every_mqtt_machine_publishes_the_contract(mosquitto: Mosquitto) -> None:
    plant = load_plant(EXAMPLES / "hangzhou-electronics.yaml")
    sub = find_program("mosquitto_sub", "mosquitto-clients")
    third_party = subprocess.Popen([sub, "-p", str(mosquitto.port), "-h", "127.0.0.1", "-t", "sfsim/v1/#", "-v",
                                    "-q", "1"], stdout=subprocess.PIPE, text=True, encoding="utf-8")

    async def main() -> tuple[Simulation, Recorder]:
        sim = Simulation(plant, seed=1)
        recorder = Recorder(mosquitto)
        rec_task = asyncio.create_task(recorder.run())
        await recorder.ready.wait()
        machines = mqtt_machines(sim)
        adapter = MqttMachines(machines, MqttSettings.from_url(mosquitto.url), sample_period_s=0.05)
        async with LiveRun(sim, [(adapter, machines)], sample_period_s=0.05) as live:
            await adapter.wait_ready(10)
            await live.run(6 * 3600, speed=6 * 3600 / 3)  # six hours in three seconds
        await wait_until(lambda: recorder.finished(machines))
        rec_task.cancel()
        return sim, recorder

    sim, recorder = asyncio.run(main())
    third_party.terminate()
    seen_by_mosquitto_sub = third_party.communicate(timeout=10)[0]

    machines = mqtt_machines(sim)
    assert {m.path for m in machines} == {p for p in recorder.of("birth")}
    for kind in ("birth", "status", "state", "counters", "signals"):
        by_machine = recorder.of(kind)
        assert {m.path for m in machines} <= set(by_machine), kind
        for payloads in by_machine.values():
            for payload in payloads:
                validate(kind, payload)
    for m in machines:
        # every state change, in order, at its exact simulated instant
        states = recorder.of("state")[m.path]
        assert [(s["ts"], s["reason_code"]) for s in states] == [
            (round((sim.start_epoch + t) * 1000), r) for t, r in zip(m.log_t, m.log_r, strict=True)
        ]
        # the last counters equal the simulator's ground truth
        truth = next(x for x in sim.truth()["machines"] if x["path"] == m.path)["run"]
        last = recorder.of("counters")[m.path][-1]
        assert (last["total"], last["good"], last["scrap"], last["rework"]) == (
            truth["PQ"], truth["GQ"], truth["SQ"], truth["RQ"])
        assert last["energy_kwh"] == pytest.approx(truth["energy_kWh"], abs=1e-5)
        assert last["ideal_s"] == pytest.approx(truth["ideal_s"], abs=1e-5)
        # one sequence per machine session: no gap, no repeat
        seqs = sorted(p["seq"] for kind in ("birth", "state", "counters", "signals")
                      for p in recorder.of(kind)[m.path])
        assert seqs == list(range(len(seqs)))
        assert recorder.of("status")[m.path][0]["status"] == "online"
        assert recorder.of("status")[m.path][-1]["status"] == "offline"
        assert f"sfsim/v1/{m.path}/birth " in seen_by_mosquitto_sub
        assert f"sfsim/v1/{m.path}/counters " in seen_by_mosquitto_sub
    assert not any(f"/{m.path}/" in t for t, _, _ in recorder.messages for m in sim.machines
                   if m.at.machine.protocol is not Protocol.MQTT)


@dataclass
class Outage:
    """A run whose broker goes away for a while, as the recorder saw it."""

    sim: Simulation
    recorder: Recorder
    adapter: MqttMachines
    progressed_s: float  # simulated time that passed while the broker was away
    backlog: int  # the largest outbox when the broker came back


def run_with_outage(broker: Mosquitto, *, seed: int, span_s: float, wall_s: float, down_after_s: float,
                    down_for_s: float) -> Outage:
    """Wuhan's MQTT machines for ``span_s`` simulated seconds in ``wall_s``, the broker stopped in between."""
    plant = load_plant(EXAMPLES / "wuhan-machining.yaml")

    async def main() -> Outage:
        sim = Simulation(plant, seed=seed)
        recorder = Recorder(broker)
        rec_task = asyncio.create_task(recorder.run())
        await recorder.ready.wait()
        machines = mqtt_machines(sim)
        adapter = MqttMachines(machines, MqttSettings.from_url(broker.url, reconnect_max_s=1.0),
                               sample_period_s=0.1)
        async with LiveRun(sim, [(adapter, machines)], sample_period_s=0.1) as live:
            await adapter.wait_ready(10)
            run = asyncio.create_task(live.run(span_s, speed=span_s / wall_s))
            await asyncio.sleep(down_after_s)
            broker.stop()
            stopped_at = sim.now
            await asyncio.sleep(down_for_s)
            progressed = sim.now - stopped_at
            backlog = max(len(o.queue) for o in adapter.outboxes.values())
            broker.start()
            await run
        await wait_until(lambda: recorder.finished(machines), 30)
        rec_task.cancel()
        return Outage(sim, recorder, adapter, progressed, backlog)

    return asyncio.run(main())


def assert_every_state_event_arrived(outage: Outage) -> None:
    """Every state change, in order, at its instant (duplicates carry their seq and are dropped by it)."""
    for m in mqtt_machines(outage.sim):
        assert outage.adapter.outboxes[m.path].dropped == 0
        states = {p["seq"]: p for p in outage.recorder.of("state")[m.path]}
        assert [(s["ts"], s["reason_code"]) for _, s in sorted(states.items())] == [
            (round((outage.sim.start_epoch + t) * 1000), r) for t, r in zip(m.log_t, m.log_r, strict=True)
        ]


def test_broker_restart_mid_run_loses_nothing(mosquitto: Mosquitto) -> None:
    outage = run_with_outage(mosquitto, seed=2, span_s=5 * 3600, wall_s=8, down_after_s=2.5, down_for_s=3)
    assert outage.progressed_s > 3600  # the simulation did not wait for the broker: 3 s at 2,250×
    assert_every_state_event_arrived(outage)
    sim, recorder, adapter = outage.sim, outage.recorder, outage.adapter
    for m in mqtt_machines(sim):
        session = adapter.sessions[m.path]
        assert session.reconnects >= 1
        births = recorder.of("birth")[m.path]
        assert len(births) >= 2 and births[-1]["seq"] > births[0]["seq"]  # re-published, sequence continues
        counters = [p for _, p in sorted({p["seq"]: p for p in recorder.of("counters")[m.path]}.items())]
        totals = [c["total"] for c in counters]
        assert totals == sorted(totals)  # no reset
        assert counters[-1]["total"] == m.total and counters[-1]["good"] == m.good
        seqs = sorted({p["seq"] for kind in ("birth", "state", "counters", "signals")
                       for p in recorder.of(kind)[m.path]})
        assert seqs == list(range(len(seqs)))


def test_tls_with_credentials_and_mqtt_311(tmp_path: Path) -> None:
    broker, ca = secured_mosquitto(tmp_path, "plc", "s3cret")
    broker.start()
    plant = load_plant(EXAMPLES / "wuhan-machining.yaml")
    try:
        async def main() -> tuple[list[Any], list[int]]:
            sim = Simulation(plant, seed=1)
            machines = mqtt_machines(sim)
            good = MqttSettings.from_url(f"mqtts://plc:s3cret@127.0.0.1:{broker.port}", ca_file=str(ca),
                                         version="3.1.1")
            bad = MqttSettings.from_url(f"mqtts://plc:wrong@127.0.0.1:{broker.port}", ca_file=str(ca))
            ok_adapter = MqttMachines(machines, good, sample_period_s=0.1)
            bad_adapter = MqttMachines(machines[:1], bad, sample_period_s=0.1)
            async with LiveRun(sim, [(ok_adapter, machines), (bad_adapter, machines[:1])]) as live:
                await ok_adapter.wait_ready(10)
                await live.run(600, speed=600)  # the refused machine does not hold anything up
                connected = [s.connected.is_set() for s in bad_adapter.sessions.values()]
            births = []
            async with aiomqtt.Client("127.0.0.1", broker.port, username="plc", password="s3cret",
                                      tls_params=aiomqtt.TLSParameters(ca_certs=str(ca))) as client:
                await client.subscribe("sfsim/v1/+/+/+/+/+/birth")
                async with asyncio.timeout(5):
                    async for message in client.messages:
                        births.append(json.loads(bytes(message.payload)))  # type: ignore[arg-type]
                        if len(births) == len(machines):
                            break
            return births, [int(c) for c in connected]

        births, refused_connected = asyncio.run(main())
    finally:
        broker.stop()
    assert sorted(b["machine"]["id"] for b in births) == ["WH-P01", "WH-R01"]
    for b in births:
        validate("birth", b)
    assert refused_connected == [0]


def test_a_long_outage_backlog_drains_in_order_and_only_birth_and_status_are_retained(mosquitto: Mosquitto) -> None:
    # a week in eight seconds, about three and a half simulated days without a broker
    outage = run_with_outage(mosquitto, seed=3, span_s=7 * 86400, wall_s=8, down_after_s=1.5, down_for_s=4)
    assert outage.backlog > 300  # a real backlog of state events built up
    assert_every_state_event_arrived(outage)

    # a late subscriber learns each machine from retained messages only: birth and its last status
    async def late() -> list[tuple[str, dict[str, Any]]]:
        got = []
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            await client.subscribe("sfsim/v1/#")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    async for message in client.messages:
                        assert message.retain
                        got.append((str(message.topic), json.loads(bytes(message.payload))))  # type: ignore[arg-type]
        return got

    retained = asyncio.run(late())
    assert sorted(parse_topic(t).kind.value for t, _ in retained) == ["birth", "birth", "status", "status"]
    assert all(p["status"] == "offline" for t, p in retained if t.endswith("/status"))
