"""The gateway against servers that are not ours: a vendor's address space through a node map, bad values,
missing and vanishing nodes, and security that does not match — each logged clearly while the rest flows."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from asyncua import Server, ua

from collector import Collector
from edge import EdgeGateway, EndpointConfig, load_edge_config
from sfsim import main as main_cli
from shopfloor import load_plant
from simulator import LiveRun, OpcUaServers, OpcUaSettings, Simulation

from .pipeline import collector_config, edge_config, opcua_plant
from .recording import Recorder, validate, wait_until
from .servers import InfluxDB, Mosquitto, free_port, free_ports

pytestmark = pytest.mark.integration

VENDOR = "urn:acme:press-plc"
T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)

PLANT = """\
version: 1
enterprise: {id: acme, name: {zh: 艾克米冲压, en: ACME Stamping}}
sites:
  - id: plant-1
    name: {zh: 一厂, en: plant 1}
    calendar: {shifts: [{id: A, start: "00:00", end: "24:00"}]}
    products: [{id: P1, name: {zh: 支架, en: bracket}}, {id: P2, name: {zh: 底板, en: base plate}}]
    areas: [{id: stamping, name: {zh: 冲压车间, en: stamping shop}}]
    lines:
      - id: line-1
        area: stamping
        orders: [{product: P1, quantity: 100}]
        machines:
          - {id: press-01, name: {zh: 冲床一号, en: press 1}, kind: press, key_process: true, control: plc,
             protocol: opcua, cycle_time: {P1: 12s, P2: 15s}, manufacturer: 扬力, model: JH21-160}
          - {id: press-02, name: {zh: 冲床二号, en: press 2}, kind: press, protocol: opcua, cycle_time: 12s}
"""

EDGE = """\
gateway: edge-acme
mqtt: {{url: "mqtt://127.0.0.1:{mqtt_port}", version: "3.1.1"}}  # an older broker: persistent 3.1.1 sessions
spool: {{dir: spool}}
health_interval: 500ms
reconnect_max: 1s
endpoints:
  - url: opc.tcp://127.0.0.1:{opc_port}/acme
    publishing_interval: 100ms
    deadband: 1.0
    plant: plant.yaml
    machines:
      - machine: press-01
        state:
          node: "nsu={ns};s=Press01.Status"
          states: {{0: no_shift, 1: producing, 2: breakdown, 3: starved}}
        product: "nsu={ns};s=Press01.Program"
        counters:
          total: "nsu={ns};s=Press01.PartCount"
          scrap: "nsu={ns};s=Press01.RejectCount"
          rework: "nsu={ns};s=Press01.OperatorNote"  # a mapping mistake: text where a count belongs
        signals:
          die_temp_c: "nsu={ns};s=Press01.DieTemperature"
          tonnage_kn: "nsu={ns};s=Press01.Tonnage"
      - machine: press-02
        state: {{node: "nsu={ns};s=Press02.Status", states: {{0: no_shift, 1: producing}}}}
        counters: {{total: "nsu={ns};s=Press02.NoSuchCounter"}}
"""


class PressPlc:
    """A vendor PLC's OPC UA server: flat variables under Objects/PressLine, values written by the test.

    Values (with their source timestamps) outlive a restart, as a PLC's retained memory does."""

    VARIABLES = (
        ("Press01.Status", 0, ua.VariantType.Int16),
        ("Press01.Program", "P1", ua.VariantType.String),
        ("Press01.PartCount", 0, ua.VariantType.UInt32),
        ("Press01.RejectCount", 0, ua.VariantType.UInt32),
        ("Press01.DieTemperature", 25.0, ua.VariantType.Float),
        ("Press01.Tonnage", 0.0, ua.VariantType.Double),
        ("Press01.OperatorNote", "ok", ua.VariantType.String),
        ("Press02.Status", 1, ua.VariantType.Int16),
    )

    def __init__(self, port: int) -> None:
        self.port = port
        self.server: Server | None = None
        self.nodes: dict[str, ua.NodeId] = {}
        self.values: dict[str, ua.DataValue] = {}

    async def start(self, *, without: tuple[str, ...] = ()) -> None:
        server = self.server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://127.0.0.1:{self.port}/acme")
        # a namespace registered first makes the vendor's index 3, not the 2 our servers use
        await server.register_namespace("urn:acme:other")
        ns = await server.register_namespace(VENDOR)
        line = await server.nodes.objects.add_folder(ua.NodeId("PressLine", ns), "PressLine")
        self.nodes = {}
        for name, value, vtype in self.VARIABLES:
            if name in without:
                continue
            node = await line.add_variable(ua.NodeId(name, ns), name, ua.Variant(value, vtype))
            self.nodes[name] = node.nodeid
            if name in self.values:
                await server.write_attribute_value(node.nodeid, self.values[name])
        await server.start()

    async def write(self, name: str, value: Any, vtype: ua.VariantType, at: dt.datetime,
                    status: int = ua.StatusCodes.Good) -> None:
        assert self.server is not None
        dv = ua.DataValue(ua.Variant(value, vtype), StatusCode=ua.StatusCode(status), SourceTimestamp=at,
                          ServerTimestamp=dt.datetime.now(dt.UTC))
        self.values[name] = dv
        await self.server.write_attribute_value(self.nodes[name], dv)
        await asyncio.sleep(0.15)  # one publishing interval: each change in its own notification

    async def stop(self) -> None:
        assert self.server is not None
        await self.server.stop()


def ms(t: dt.datetime) -> int:
    return round(t.timestamp() * 1000)


def test_a_foreign_server_is_bridged_through_a_node_map(mosquitto: Mosquitto, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edge")
    (tmp_path / "plant.yaml").write_text(PLANT, encoding="utf-8")
    plc = PressPlc(free_port())
    (tmp_path / "edge.yaml").write_text(EDGE.format(mqtt_port=mosquitto.port, opc_port=plc.port, ns=VENDOR),
                                        encoding="utf-8")
    config = load_edge_config(tmp_path / "edge.yaml")
    minute = dt.timedelta(minutes=1)
    I16, U32 = ua.VariantType.Int16, ua.VariantType.UInt32

    async def main() -> tuple[Recorder, dict[str, int]]:
        recorder = Recorder(mosquitto)
        rec_task = asyncio.create_task(recorder.run())
        await recorder.ready.wait()
        await plc.start()
        await plc.write("Press01.Status", 0, I16, T0)
        async with EdgeGateway(config) as gateway:
            await gateway.wait_ready(15)
            await plc.write("Press01.Status", 1, I16, T0 + 1 * minute)
            for n in range(1, 6):
                await plc.write("Press01.PartCount", n, U32, T0 + (1 + n) * minute)
            await plc.write("Press01.RejectCount", 1, U32, T0 + 7 * minute)
            await plc.write("Press01.DieTemperature", 61.5, ua.VariantType.Float, T0 + 7 * minute)
            await plc.write("Press01.DieTemperature", 62.0, ua.VariantType.Float, T0 + 7 * minute)  # in the deadband
            await plc.write("Press01.Status", 2, I16, T0 + 8 * minute)
            # the PLC restarts with a new program in which the tonnage variable no longer exists
            await plc.stop()
            source = gateway.sources[0]
            await wait_until(lambda: not source.connected.is_set(), 10)
            await plc.start(without=("Press01.Tonnage",))
            await asyncio.wait_for(source.connected.wait(), 10)
            await asyncio.sleep(0.3)
            # bad input: a status the node map does not know, a failed sensor
            await plc.write("Press01.Status", 7, I16, T0 + 9 * minute)
            await plc.write("Press01.RejectCount", 0, U32, T0 + 9 * minute, status=ua.StatusCodes.BadSensorFailure)
            # … and the machine goes on being bridged
            await plc.write("Press01.Program", "P2", ua.VariantType.String, T0 + 10 * minute)
            await plc.write("Press01.Status", 3, I16, T0 + 10 * minute)
            await plc.write("Press01.PartCount", 6, U32, T0 + 11 * minute)
            await wait_until(lambda: any(c["total"] == 6 for c in recorder.of("counters")[PRESS1]), 10)
            counts = gateway.counts()
        await plc.stop()
        await wait_until(lambda: recorder.of("status")[PRESS1][-1]["status"] == "offline", 10)
        rec_task.cancel()
        return recorder, counts

    recorder, counts = asyncio.run(main())
    for topic, payload, _ in recorder.messages:
        validate(topic.rsplit("/", 1)[-1], payload)
    # one per session (a reconnect that registers the new session's will greets with the same birth again)
    births = list({(b["session"], b["seq"]): b for b in recorder.of("birth")[PRESS1]}.values())
    birth = births[0]
    assert birth["name"] == {"zh": "冲床一号", "en": "press 1"} and birth["control"] == "plc"
    assert birth["key_process"] is True and birth["signals"] == ["die_temp_c", "tonnage_kn"]
    assert birth["ideal_cycle_s"] == {"P1": 12.0, "P2": 15.0}
    assert birth["origin"] == "measured"  # a vendor's server serves the machine itself, not a simulation of it
    # the restart: offline, then a new session — the gateway lost sight of the machine (docs/telemetry.md)
    statuses = [s["status"] for s in recorder.of("status")[PRESS1]]
    assert statuses[:3] == ["online", "offline", "online"]
    assert len(births) == 2 and births[1]["session"] > birth["session"] and births[1]["seq"] == 0
    first, second = (by_seq for _, by_seq in sorted(recorder.by_session(PRESS1).items()))
    # the restarted PLC has no tonnage variable: the birth names exactly what signals messages can carry
    assert births[1]["signals"] == ["die_temp_c"]
    signals = [p for p in second.values() if "values" in p]
    assert signals and all(set(p["values"]) == {"die_temp_c"} for p in signals)
    # states from the value table, at the PLC's source timestamps, with the program as product; the new session
    # begins with the state in force, with the instant it began
    def states(session: dict[int, dict[str, Any]]) -> list[tuple[int, str, str]]:
        return [(p["ts"], p["reason"], p["product"]) for _, p in sorted(session.items()) if "reason" in p]

    assert states(first) == [(ms(T0), "no_shift", "P1"), (ms(T0 + minute), "producing", "P1"),
                             (ms(T0 + 8 * minute), "breakdown", "P1")]
    assert states(second) == [(ms(T0 + 8 * minute), "breakdown", "P1"), (ms(T0 + 10 * minute), "starved", "P2")]
    last = max((p for p in second.values() if "total" in p), key=lambda p: p["seq"])
    # good = total − scrap; Σ PRI from the plant's cycle times, counted again from the new session: one P2 at 15 s
    # (the five P1 parts at 12 s are the first session's)
    assert (last["total"], last["good"], last["scrap"], last["ideal_s"]) == (6, 5, 1, 15.0)
    assert max(p["ideal_s"] for p in first.values() if "total" in p) == 5 * 12.0
    assert last["ts"] == ms(T0 + 11 * minute)
    # the deadband (1.0) kept 62.0 back until the restart reported the current value anew
    restart = next(i for i, (t, p, _) in enumerate(recorder.messages)
                   if t.endswith(f"{PRESS1}/status") and p["status"] == "offline")
    before = [p["values"]["die_temp_c"] for t, p, _ in recorder.messages[:restart] if t.endswith(f"{PRESS1}/signals")]
    after = [p["values"]["die_temp_c"] for t, p, _ in recorder.messages[restart:] if t.endswith(f"{PRESS1}/signals")]
    assert before[-1] == 61.5 and 62.0 not in before and after[0] == 62.0
    # press 2 is bridged although one of its nodes does not exist
    press2 = [states(session) for _, session in sorted(recorder.by_session(PRESS2).items())]
    assert [[reason for _, reason, _ in s] for s in press2] == [["producing"]] * 2  # before the restart, and after
    log = caplog.text
    assert "acme/plant-1/stamping/line-1/press-02 total ns=3;s=Press02.NoSuchCounter: BadNodeIdUnknown; " \
           "not bridged" in log
    assert "acme/plant-1/stamping/line-1/press-01 signal ns=3;s=Press01.Tonnage: BadNodeIdUnknown; " \
           "not bridged" in log
    assert "press-01: state ns=3;s=Press01.Status: 7 (int) is not in the node map's states (0, 1, 2, 3); " \
           "value ignored" in log
    assert "press-01: rework ns=3;s=Press01.OperatorNote: 'ok' (str) is not a number; value ignored" in log
    assert "press-01: scrap ns=3;s=Press01.RejectCount: status BadSensorFailure; value ignored" in log
    assert counts["bad_values"] >= 5 and counts["opcua_reconnects"] == 1


PRESS1 = "acme/plant-1/stamping/line-1/press-01"
PRESS2 = "acme/plant-1/stamping/line-1/press-02"


def test_security_mismatches_are_explained_and_the_other_endpoints_keep_serving(
        mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Three secured servers (one per line) and one without security; the gateway wants security everywhere."""
    caplog.set_level(logging.INFO, logger="edge")

    async def main() -> tuple[Recorder, list[str], list[str], Path]:
        sim = Simulation(opcua_plant(), seed=1)
        machines = list(sim.machines)
        base = free_ports(4)  # three secured servers (one per line), then the plain one
        secured = OpcUaServers(machines, OpcUaSettings(port=base, per="line", security="sign-encrypt",
                                                       cert_dir=tmp_path / "server-pki",
                                                       users={"edge": "s3cret"}))
        plain = OpcUaServers(machines[:1], OpcUaSettings(port=base + 3))
        recorder = Recorder(mosquitto)
        rec_task = asyncio.create_task(recorder.run())
        await recorder.ready.wait()
        trusted = tmp_path / "trusted"
        trusted.mkdir()
        good, wrong_password, untrusted = secured.endpoints
        config = edge_config(mosquitto, [], tmp_path / "spool")
        base = dict(security="sign-encrypt", username="edge", password="s3cret", cert_dir=tmp_path / "edge-pki",
                    publishing_interval_s=0.1)
        config = dataclasses.replace(config, endpoints=(
            EndpointConfig(url=good, **base),
            EndpointConfig(url=wrong_password, **{**base, "password": "wrong"}),
            EndpointConfig(url=untrusted, **{**base, "trusted_dir": trusted}),
            EndpointConfig(url=plain.endpoints[0], **base),
        ))
        async with LiveRun(sim, [(secured, machines), (plain, machines[:1])]) as live, EdgeGateway(config) as gateway:
            await asyncio.wait_for(gateway.sources[0].connected.wait(), 20)
            await asyncio.sleep(2)  # a few retries of the failing endpoints
            states = [s.state.value for s in gateway.sources]
            # the operator trusts the rejected server certificate: the next retry connects
            rejected = next((tmp_path / "edge-pki" / "rejected").iterdir())
            shutil.move(rejected, trusted / rejected.name)
            await asyncio.wait_for(gateway.sources[2].connected.wait(), 10)
            await live.run(600, speed=600)
            after = [s.state.value for s in gateway.sources]
        rec_task.cancel()
        return recorder, states, after, rejected

    recorder, states, after, rejected = asyncio.run(main())
    assert [s == "connected" for s in states] == [True, False, False, False]
    assert [s == "connected" for s in after] == [True, False, True, False]
    log = caplog.text
    assert "the server refused the user name or password" in log
    assert f"is not in {tmp_path / 'trusted'}; it was saved as {rejected}: move it there to trust this server" in log
    assert "the server offers no Basic256Sha256 SignAndEncrypt endpoint (it offers: None None); " \
           "set security to match" in log
    assert "s3cret" not in log  # secrets are never logged
    bridged = {path for path in recorder.of("birth")}
    assert "wuhan-auto-parts/wuhan-edz/machining/brake-disc/WH-C01" in bridged  # first line, secured
    assert "wuhan-auto-parts/wuhan-edz/welding/axle-weld/WH-R01" in bridged  # third line, once trusted
    assert not any("/gearbox/" in path for path in bridged)  # wrong password: nothing


def test_a_report_on_a_foreign_servers_machines_says_their_data_is_measured(mosquitto: Mosquitto, influxdb: InfluxDB,
                                                                           tmp_path: Path) -> None:
    """A vendor's PLC through the edge gateway, Mosquitto and the collector into InfluxDB: the machines speak for
    themselves, and the assessor's report says so — not 'simulated', as it says for sfsim's own servers."""
    (tmp_path / "plant.yaml").write_text(PLANT, encoding="utf-8")
    plc = PressPlc(free_port())
    (tmp_path / "edge.yaml").write_text(EDGE.format(mqtt_port=mosquitto.port, opc_port=plc.port, ns=VENDOR),
                                        encoding="utf-8")
    plant = load_plant(tmp_path / "plant.yaml")
    config = dataclasses.replace(collector_config(mosquitto, influxdb, tmp_path, plant), max_ahead_s=None)
    minute = dt.timedelta(minutes=1)
    I16, U32 = ua.VariantType.Int16, ua.VariantType.UInt32

    async def main() -> None:
        await plc.start()
        for name, value, vtype in PressPlc.VARIABLES:  # every value as the PLC holds it at T0, producing
            await plc.write(name, 1 if name.endswith("Status") else value, vtype, T0)
        collector = Collector(config)
        task = asyncio.create_task(collector.run())
        await wait_until(collector.storage.connected.is_set, 15)
        async with EdgeGateway(load_edge_config(tmp_path / "edge.yaml")) as gateway:
            await gateway.wait_ready(15)
            for n in range(1, 6):
                await plc.write("Press01.PartCount", n, U32, T0 + n * minute)
            # the site's clock follows its slowest machine: press 2 reports too (it stops), and press 1 runs on
            await plc.write("Press02.Status", 0, I16, T0 + 6 * minute)
            await plc.write("Press01.Status", 3, I16, T0 + 7 * minute)
            await wait_until(lambda: bool(influxdb.rows(
                'SELECT "pq" FROM "kpi" WHERE "machine" = \'press-01\' AND "window" = \'hour\' AND "pq" >= 5')), 20)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await plc.stop()

    asyncio.run(main())
    out = tmp_path / "report.html"
    assert main_cli(["assess", str(tmp_path / "plant.yaml"), "--influx", influxdb.url, "--out", str(out),
                     "--simulate-hours", "0"]) == 0
    html = out.read_text(encoding="utf-8")
    assert '<span class="origin" data-origin="measured">数据性质 Data: 实测 measured</span>' in html
    assert re.search(r'data-indicator="networking_measured">.*?data-origin="measured"', html)
    assert 'data-origin="simulated"' not in html
    press1 = html[html.index("acme/plant-1/stamping/line-1/press-01</span>"):].split("</tr>")[0]
    assert "实测 measured" in press1
