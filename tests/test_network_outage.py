"""A scenario's network outage — of MQTT machines: their sessions are cut (the broker says offline by their wills), they
come back when it ends, and the states and counters their outboxes kept all arrive — signals of the outage do not.

Debian's Mosquitto, the simulator's MQTT machines of the Wuhan example (the press and the welding robot of the
axle-weld line), an outage of that line from 1 h to 2 h of a 3 h run at 1,800× real time.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from asyncua import Client

from edge import EdgeGateway
from shopfloor import MqttSettings, ScenarioError, load_plant
from shopfloor._scenario import parse_scenario
from simulator import LiveRun, MqttMachines, OpcUaServers, OpcUaSettings, Simulation

from .pipeline import edge_config
from .recording import Recorder, wait_until
from .servers import Mosquitto, free_port, free_ports

pytestmark = pytest.mark.integration

WUHAN = load_plant(Path(__file__).parent.parent / "examples" / "wuhan-machining.yaml")
LINE = "wuhan-auto-parts/wuhan-edz/welding/axle-weld"


def test_a_line_cut_off_says_offline_comes_back_and_loses_only_the_signals_of_the_outage(
        mosquitto: Mosquitto) -> None:
    events = parse_scenario("id: cut\nevents:\n  - {at: 1h, kind: network_outage, target: axle-weld, "
                            "duration: 1h}", WUHAN).events
    sim = Simulation(WUHAN, seed=3, events=events)
    machines = [m for m in sim.machines if m.at.machine.networked and m.at.machine.protocol.value == "mqtt"]
    cut = [m for m in machines if m.path.startswith(LINE + "/")]
    assert {m.at.machine.id for m in cut} == {"WH-P01", "WH-R01"}
    recorder = Recorder(mosquitto)

    async def main() -> None:
        recording = asyncio.create_task(recorder.run())
        await recorder.ready.wait()
        adapter = MqttMachines(machines, MqttSettings.from_url(mosquitto.url), 0.05)
        async with LiveRun(sim, [(adapter, machines)], sample_period_s=0.05) as live:
            await adapter.wait_ready(10)
            await live.run(3 * 3600, speed=1800)
            await live.publish(sample=True)
        await wait_until(lambda: recorder.finished(machines), 15)
        recording.cancel()

    asyncio.run(main())
    t0 = round(sim.start_epoch * 1000)
    start, end = t0 + 3_600_000, t0 + 7_200_000
    for m in cut:
        statuses = [s["status"] for s in recorder.of("status")[m.path]]
        assert statuses[:3] == ["online", "offline", "online"], (m.path, statuses)  # the will, then back
        states = [p["ts"] for p in recorder.unique("state", m.path)]
        logged = [round((sim.start_epoch + t) * 1000) for t in m.log_t]
        assert [ts for ts in logged if ts >= states[0]] == states  # every state change arrived, in order
        signals = [p["ts"] for p in recorder.unique("signals", m.path)]
        assert signals and not [ts for ts in signals if start + 5_000 < ts < end - 5_000]  # none of the outage
        assert recorder.unique("counters", m.path)[-1]["total"] == m.total
    for m in machines:
        if m not in cut:
            assert [s["status"] for s in recorder.of("status")[m.path]][:2] == ["online", "offline"]  # only the end
    (entry,) = sim.truth()["injected"]
    assert set(entry["machines"]) == {m.path for m in cut}


def test_an_opcua_machine_its_server_cannot_reach_goes_offline_and_comes_back_in_a_new_session(
        mosquitto: Mosquitto, tmp_path: Path) -> None:
    # the server reports BadNoCommunication on the machine's StopReason, as an aggregating server does for a device
    # it cannot reach: the edge gateway says offline and, once the state is good again, begins a new session
    events = parse_scenario("id: cut\nevents:\n  - {at: 10m, kind: quality_drift, target: WH-C01, scrap_rate: 0.3, "
                            "duration: 40m}\n  - {at: 1h, kind: network_outage, target: WH-C01, duration: 1h}",
                            WUHAN).events
    sim = Simulation(WUHAN, seed=3, events=events)
    machines = [m for m in sim.machines if m.at.machine.networked and m.at.machine.protocol.value == "opcua"]
    lathe = next(m for m in machines if m.at.machine.id == "WH-C01")
    recorder = Recorder(mosquitto)

    async def main() -> None:
        recording = asyncio.create_task(recorder.run())
        await recorder.ready.wait()
        servers = OpcUaServers(machines, OpcUaSettings(port=free_port()))
        async with LiveRun(sim, [(servers, machines)], sample_period_s=0.05) as live, \
                EdgeGateway(edge_config(mosquitto, servers.endpoints, tmp_path / "edge")) as gateway:
            await gateway.wait_ready(20)
            await live.run(3 * 3600, speed=1800)
            await live.publish(sample=True)
            await wait_until(lambda: any(c["total"] == lathe.total for c in recorder.of("counters")[lathe.path]), 15)
        recording.cancel()

    asyncio.run(main())
    statuses = [(s["status"], s["session"]) for s in recorder.of("status")[lathe.path]]
    online = [session for status, session in statuses if status == "online"]
    assert [status for status, _ in statuses][:3] == ["online", "offline", "online"], statuses
    assert len(set(online)) == 2  # a new session after the outage: what it did meanwhile was not seen
    births = {b["session"] for b in recorder.of("birth")[lathe.path]}
    assert set(online) <= births
    # its server holds the counters across the outage: one that did not change meanwhile (its scrap) is not notified
    # again, and the new session's counters still carry it — never a 0 for a value not seen
    counters = recorder.of("counters")[lathe.path]
    assert all(c["good"] + c["scrap"] + c["rework"] == c["total"] for c in counters)
    assert {k: counters[-1][k] for k in ("total", "good", "scrap", "rework")} == {
        "total": lathe.total, "good": lathe.good, "scrap": lathe.scrap, "rework": lathe.rework}
    assert lathe.scrap > 0
    others = [m for m in machines if m is not lathe]
    for m in others:  # the server's other machines were not cut off
        assert len({s["session"] for s in recorder.of("status")[m.path]}) == 1, m.path


def test_an_opcua_server_whose_network_goes_away_refuses_clients_and_its_machines_come_back_in_new_sessions(
        mosquitto: Mosquitto, tmp_path: Path) -> None:
    # the whole server goes away (target opcua:NAME): its clients lose their connections and a new one is refused,
    # while it goes on reading its machines; back, the gateway finds it alone and begins a new session per machine.
    # A server per line: the brake-disc line's (WH-C01, WH-M01) goes, the gearbox line's (WH-M02) stays
    events = parse_scenario("id: cut\nevents:\n  - {at: 1h, kind: network_outage, target: 'opcua:wuhan-edz-brake-disc',"
                            " duration: 1h}", WUHAN).events
    sim = Simulation(WUHAN, seed=3, events=events, opcua_per="line")
    machines = [m for m in sim.machines if m.at.machine.networked and m.at.machine.protocol.value == "opcua"]
    cut = [m for m in machines if m.at.line.id == "brake-disc"]
    assert {m.at.machine.id for m in cut} == {"WH-C01", "WH-M01"}
    recorder = Recorder(mosquitto)
    refused: list[str] = []

    async def main() -> EdgeGateway:
        recording = asyncio.create_task(recorder.run())
        await recorder.ready.wait()
        servers = OpcUaServers(machines, OpcUaSettings(port=free_ports(2), per="line"))
        away = next(s for s in servers.servers if s.name == "wuhan-edz-brake-disc")
        async with LiveRun(sim, [(servers, machines)], sample_period_s=0.05) as live, \
                EdgeGateway(edge_config(mosquitto, servers.endpoints, tmp_path / "edge")) as gateway:
            await gateway.wait_ready(20)
            run = asyncio.create_task(live.run(3 * 3600, speed=900))
            await wait_until(lambda: away.unplugged, 20)
            try:  # a client we did not write finds nothing listening
                async with Client(away.endpoint, timeout=2):
                    pass
            except (OSError, TimeoutError) as e:
                refused.append(type(e).__name__)
            await run
            await live.publish(sample=True)
            await wait_until(lambda: all(recorder.of("counters")[m.path][-1]["total"] == m.total for m in machines), 15)
        recording.cancel()
        return gateway

    gateway = asyncio.run(main())
    assert refused, "the server took a connection while its network was away"
    losses = {s.url.rsplit("/", 1)[-1]: s.losses for s in gateway.sources}
    assert losses["wuhan-edz-brake-disc"] >= 1
    t0 = round(sim.start_epoch * 1000)
    start, end = t0 + 3_600_000, t0 + 7_200_000
    changed = 0  # state changes while away, of which at most the last of each machine was heard
    for m in cut:
        statuses = [(s["status"], s["session"]) for s in recorder.of("status")[m.path]]
        assert [status for status, _ in statuses][:3] == ["online", "offline", "online"], (m.path, statuses)
        assert len({session for status, session in statuses if status == "online"}) == 2, m.path
        # nothing was heard while it was away; what it did then is in no message but the state still in force
        # when the new session read it
        logged = [(round((sim.start_epoch + t) * 1000), int(r)) for t, r in zip(m.log_t, m.log_r, strict=True)]
        sessions = recorder.by_session(m.path)
        assert len(sessions) == 2, m.path
        for by_seq in sessions.values():
            assert sorted(by_seq) == list(range(len(by_seq))), f"{m.path}: seq gap"
        heard = [(p["ts"], p["reason_code"]) for by_seq in sessions.values() for _, p in sorted(by_seq.items())
                 if "reason_code" in p]
        assert set(heard) <= set(logged) and heard == sorted(heard), m.path
        changed += len([ts for ts, _ in logged if start < ts < end])
        assert len([ts for ts, _ in heard if start < ts < end]) <= 1, m.path
        before, after = ([p["ts"] for _, p in sorted(by_seq.items()) if "total" in p] for by_seq in sessions.values())
        assert not [ts for ts in before if ts > start + 60_000], m.path
        # back, the new session reads the cumulative counters in force, stamped when they last changed: that may be
        # while it was away (a machine that made no part since), like the state in force; never more than that one
        assert len([ts for ts in after if start < ts < end]) <= 1, m.path
        counters = recorder.of("counters")[m.path]
        assert {k: counters[-1][k] for k in ("total", "good", "scrap", "rework")} == {
            "total": m.total, "good": m.good, "scrap": m.scrap, "rework": m.rework}
    assert changed > 2
    (gearbox,) = [m for m in machines if m not in cut]
    assert len({s["session"] for s in recorder.of("status")[gearbox.path]}) == 1  # its server stayed
    (entry,) = sim.truth()["injected"]
    assert entry["server"] == "wuhan-edz-brake-disc" and entry["level"] == "line"
    assert entry["machines"] == {m.path: {"kept": [], "lost": ["state", "counters", "signals"]} for m in cut}
    assert (entry["start_ms"], entry["end_ms"]) == (start, end)


def test_an_outage_of_an_opcua_server_the_run_does_not_have_is_refused_with_the_servers_it_has() -> None:
    events = parse_scenario("id: cut\nevents:\n  - {at: 1h, kind: network_outage, target: 'opcua:wuhan-edz-gearbox',"
                            " duration: 1h}", WUHAN).events
    with pytest.raises(ScenarioError) as e:
        Simulation(WUHAN, seed=3, events=events)  # a server per site
    assert str(e.value).endswith("events[0]: target: this run has a server per site, not opcua:wuhan-edz-gearbox "
                                 "(opcua:wuhan-edz)")
    with pytest.raises(ScenarioError) as e:
        parse_scenario("id: cut\nevents:\n  - {at: 1h, kind: breakdown, target: 'opcua:wuhan-edz', duration: 1h}",
                       WUHAN)
    assert "events[0].target: 'opcua:wuhan-edz' is an OPC UA server; only a network_outage acts on one" in str(e.value)
    with pytest.raises(ScenarioError) as e:
        parse_scenario("id: cut\nevents:\n  - {at: 1h, kind: network_outage, target: 'opcua:wuhan', duration: 1h}",
                       WUHAN)
    assert ("events[0].target: no OPC UA server 'wuhan' in plant wuhan-auto-parts: a server per site is named by the "
            "site (opcua:wuhan-edz), a server per line by site-line (opcua:wuhan-edz-brake-disc, "
            "opcua:wuhan-edz-gearbox, opcua:wuhan-edz-axle-weld)") in str(e.value)


def test_a_machine_cut_off_takes_no_signal_from_the_instant_of_the_cut(mosquitto: Mosquitto) -> None:
    # its session task sees the cut a moment later (later still on a loaded machine): signals sampled in between
    # are of the outage, and must not be sent when the session is back
    sim = Simulation(WUHAN, seed=3)
    press = next(m for m in sim.machines if m.at.machine.id == "WH-P01")

    async def main() -> list[str]:
        adapter = MqttMachines([press], MqttSettings.from_url(mosquitto.url), 0.05)
        async with LiveRun(sim, [(adapter, [press])], sample_period_s=0.05) as live:
            await adapter.wait_ready(10)
            outbox = adapter.outboxes[press.path]
            press.network_down += 1  # as an outage does, between two steps
            await live.publish(sample=True)  # no await between the cut and the sample: the session cannot see it
            queued = [m.kind.value for m in outbox.queue if m.encoded is None]
            press.network_down -= 1
            return queued

    queued = asyncio.run(main())
    assert "signals" not in queued and "counters" in queued
