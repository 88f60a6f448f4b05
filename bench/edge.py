"""Edge gateway throughput: OPC UA → MQTT bridged, beside a bare asyncua subscription, and replay speed.

For N CNC machines that never stop, served by ``sfsim simulate --opcua --shard K/N``
processes sampling every P wall seconds, measures in one run, alternating:

  edge  the gateway (its own process) subscribed to every variable of every machine
        (14 per machine), publishing the contract to Mosquitto; a paho subscriber in another
        process counts what arrives and its lag (receive time − source timestamp)
  bare  a bare asyncua subscription (its own process, a plain handler) to the same
        monitored items of the same servers

and prints notifications/s taken in by each and the ratio (goal ≥ 0.8).

Then replay: a spool holding what the gateway would queue during an outage of
``--outage`` seconds at the live message rate just measured (1,000 machine streams,
the contract's payloads) is drained by a gateway into Mosquitto; the drain rate
beside the live rate is the replay ratio (goal ≥ 5).

    python bench/edge.py [--machines 1000] [--period 1] [--shards 2] [--seconds 10] [--rounds 2] [--outage 600]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import free_port, measure_all, percentile, plant_yaml, ratio, start_mosquitto, wait_for_go  # noqa: E402

#: every variable the gateway subscribes for one of our machines
LEAVES = ("Product", "StopReason", *(f"OperationCounters/{c}" for c in (
    "TotalParts", "GoodParts", "ScrapParts", "ReworkParts", "EnergyKWh", "IdealTimeSeconds")), *(
    f"Monitoring/{s}" for s in ("spindle_speed_rpm", "spindle_load_pct", "feed_rate_mm_min", "coolant_temp_c",
                                "power_kw", "last_cycle_time_s")))


# ------------------------------------------------------------------ children


async def edge_child(endpoints: str, port: str, spool: str, warmup: float, seconds: float) -> dict[str, Any]:
    from edge import EdgeConfig, EdgeGateway, EndpointConfig
    from shopfloor import MqttSettings

    config = EdgeConfig(
        gateway="bench-edge", mqtt=MqttSettings.from_url(f"mqtt://127.0.0.1:{port}", prefix="bench"),
        endpoints=tuple(EndpointConfig(url=u, publishing_interval_s=0.5, timeout_s=60) for u in endpoints.split(",")),
        spool_dir=Path(spool), health_interval_s=3600,
    )
    async with EdgeGateway(config) as gateway:
        await gateway.wait_ready(600)
        await asyncio.get_running_loop().run_in_executor(None, wait_for_go)
        await asyncio.sleep(warmup)
        before = gateway.counts()
        t0 = time.perf_counter()
        await asyncio.sleep(seconds)
        after = gateway.counts()
        elapsed = time.perf_counter() - t0
        gateway.stop()
    return {"rate": (after["received"] - before["received"]) / elapsed,
            "published": (after["published"] - before["published"]) / elapsed, "queued": after["queued"]}


async def bare_child(endpoints: str, nodes_file: str, warmup: float, seconds: float) -> dict[str, Any]:
    """What a user would write: one client per server, one subscription, a plain handler."""
    from asyncua import Client, ua

    node_ids: dict[str, list[str]] = json.loads(Path(nodes_file).read_text())
    counts = {"n": 0}

    class Handler:
        def datachange_notification(self, node: Any, value: Any, data: Any) -> None:
            counts["n"] += 1

    clients = []
    for url in endpoints.split(","):
        client = Client(url, timeout=60)
        await client.connect()
        clients.append(client)
        sub = await client.create_subscription(500, Handler())
        nodes = [client.get_node(ua.NodeId.from_string(n)) for n in node_ids[url]]
        for i in range(0, len(nodes), 1000):
            await sub.subscribe_data_change(nodes[i : i + 1000], queuesize=100)
    await asyncio.get_running_loop().run_in_executor(None, wait_for_go)
    await asyncio.sleep(warmup)
    start = counts["n"]
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    rate = (counts["n"] - start) / (time.perf_counter() - t0)
    for client in clients:
        await client.disconnect()
    return {"rate": rate}


def mqtt_child(port: str, expect: str, warmup: float, seconds: float) -> dict[str, Any]:
    """Counts contract messages under bench/; with ``expect`` > 0, until that many arrived (replay)."""
    import paho.mqtt.client as mqtt

    state = {"open": False, "messages": 0, "values": 0, "last": 0.0}
    lags: list[float] = []

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        if not state["open"] or message.retain:
            return
        payload = json.loads(message.payload)
        state["messages"] += 1
        state["last"] = time.perf_counter()
        state["values"] += len(payload["values"]) if "values" in payload else 6 if "total" in payload else 1
        if "seq" in payload and state["messages"] % 10 == 0:
            lags.append(time.time() - payload["ts"] / 1000)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-sub-{os.getpid()}")
    client.on_message = on_message
    client.connect("127.0.0.1", int(port))
    # QoS 0 keeps the measuring side light; on loopback nothing is lost (the count says so)
    client.subscribe("bench/v1/+/+/+/+/+/+", qos=0 if int(expect) else 1)
    client.loop_start()
    wait_for_go()
    target = int(expect)
    if target:
        state["open"] = True
        t0 = time.perf_counter()
        while state["messages"] < target and time.perf_counter() - t0 < seconds:
            time.sleep(0.05)
        elapsed = state["last"] - t0
    else:
        time.sleep(warmup)
        state["open"] = True
        t0 = time.perf_counter()
        time.sleep(seconds)
        state["open"] = False
        elapsed = time.perf_counter() - t0
    client.loop_stop()
    return {"messages": state["messages"], "msg_rate": state["messages"] / elapsed,
            "values": state["values"] / elapsed, "elapsed": elapsed,
            "lag_p50": percentile(lags, 0.5), "lag_p99": percentile(lags, 0.99)}


async def replay_child(port: str, spool: str, shard: str, warmup: float, seconds: float) -> dict[str, Any]:
    from edge import EdgeConfig, EdgeGateway
    from shopfloor import MqttSettings
    from shopfloor.config import shard as parse_shard

    config = EdgeConfig(gateway="bench-edge", shard=parse_shard(shard),
                        mqtt=MqttSettings.from_url(f"mqtt://127.0.0.1:{port}", prefix="bench"),
                        endpoints=(), spool_dir=Path(spool), health_interval_s=3600)
    await asyncio.get_running_loop().run_in_executor(None, wait_for_go)
    t0 = time.perf_counter()
    async with EdgeGateway(config) as gateway:
        assert gateway.spool is not None
        backlog = gateway.spool.count
        while gateway.spool.count and time.perf_counter() - t0 < seconds:
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - t0
        left = gateway.spool.count
    return {"backlog": backlog, "left": left, "elapsed": elapsed, "rate": (backlog - left) / elapsed}


def child_main(argv: list[str]) -> None:
    import logging

    logging.basicConfig(level=logging.ERROR)  # the gateway retrying while servers build their address spaces
    kind, *args = argv
    if kind == "edge":
        result = asyncio.run(edge_child(args[0], args[1], args[2], float(args[3]), float(args[4])))
    elif kind == "bare":
        result = asyncio.run(bare_child(args[0], args[1], float(args[2]), float(args[3])))
    elif kind == "mqtt":
        result = mqtt_child(args[0], args[1], float(args[2]), float(args[3]))
    else:
        result = asyncio.run(replay_child(args[0], args[1], args[2], float(args[3]), float(args[4])))
    print(json.dumps(result), flush=True)


# ------------------------------------------------------------------ the run


def fill_spools(directory: Path, machines: int, messages: int, shards: int) -> int:
    """What ``shards`` gateway processes queue while the broker is away: per machine and second,
    counters and signals, now and then a state change; each machine's birth already delivered."""
    import zlib

    from shopfloor import telemetry as contract
    from shopfloor.spool import Spool

    spools = [Spool(directory / (f"bench-edge-{k}.sqlite" if shards > 1 else "bench-edge.sqlite"),
                    max_messages=messages * 2) for k in range(shards)]
    paths = [f"bench/s1/main/L{i:04d}/M{i:04d}" for i in range(machines)]
    owner = {p: spools[zlib.crc32(p.encode("utf-8")) % shards] for p in paths}
    for p in paths:
        plate = {"machine": dict(zip(("enterprise", "site", "area", "line", "id"), p.split("/"), strict=True))}
        owner[p].remember(p, "birth", contract.encode(contract.birth(plate, ts_ms=1, seq=0, session_ms=1)))
    ts = round(time.time() * 1000) - 600_000
    seq = 1
    written = 0
    while written < messages:
        for p in paths:
            spool = owner[p]
            spool.append(p, "counters", contract.encode(contract.counters(
                ts_ms=ts, seq=seq, total=seq, good=seq, scrap=0, rework=0, energy_kwh=seq * 0.01, ideal_s=seq * 90.0)))
            spool.append(p, "signals", contract.encode(contract.signals(ts_ms=ts, seq=seq + 1, values={
                "spindle_speed_rpm": 8000.0, "spindle_load_pct": 61.2, "feed_rate_mm_min": 1200.0,
                "coolant_temp_c": 24.1, "power_kw": 18.0, "last_cycle_time_s": 91.3})))
            written += 2
            if seq % 90 == 1:
                spool.append(p, "state", contract.encode(contract.state(ts_ms=ts, seq=seq + 2, reason=0,
                                                                        product="part")))
                written += 1
        seq += 3
        ts += 1000
    for spool in spools:
        spool.close()
    return written


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--period", type=float, default=1.0, help="server sample period, wall seconds")
    parser.add_argument("--shards", type=int, default=2, help="OPC UA server processes")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--outage", type=float, default=600.0, help="outage to replay, seconds at the live rate")
    parser.add_argument("--replay-shards", type=int, default=2,
                        help="gateway processes sharing the replay (sfsim edge --shard K/N); one is always measured")
    args = parser.parse_args()
    n = args.machines
    print(f"{n} machines, {args.shards} OPC UA server process(es) sampling every {args.period:g} s, "
          f"{len(LEAVES)} monitored items per machine, windows {args.seconds:g} s × {args.rounds} rounds", flush=True)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        broker, port = start_mosquitto(tmp)
        plant = tmp / "plant.yaml"
        plant.write_text(plant_yaml(n, "opcua"))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        base = free_port()
        servers, urls, node_ids = [], [], {}
        for k in range(args.shards):
            url = f"opc.tcp://127.0.0.1:{base + k}/sfsim/s1"
            servers.append(subprocess.Popen(
                [sys.executable, "-m", "sfsim", "simulate", str(plant), "--opcua", "--opcua-port", str(base + k),
                 "--shard", f"{k}/{args.shards}", "--sample", str(args.period), "--speed", "1"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            urls.append(url)
            node_ids[url] = [f"ns=2;s=bench/s1/main/L{i:04d}/M{i:04d}/{leaf}" for i in range(n)
                             if i % args.shards == k for leaf in LEAVES]
        nodes_file = tmp / "nodes.json"
        nodes_file.write_text(json.dumps(node_ids))
        edge_runs, bare_runs, mqtt_runs = [], [], []
        try:
            for r in range(args.rounds):
                spool = tmp / f"spool-{r}"
                edge, sub = await measure_all(__file__, [("edge", ",".join(urls), str(port), str(spool)),
                                                         ("mqtt", str(port), "0")], args.warmup, args.seconds, 900)
                edge_runs.append(edge)
                mqtt_runs.append(sub)
                (bare,) = await measure_all(__file__, [("bare", ",".join(urls), str(nodes_file))], args.warmup,
                                            args.seconds, 900)
                bare_runs.append(bare)
                print(f"round {r + 1}: edge {edge['rate']:8,.0f} notifications/s → {sub['msg_rate']:7,.0f} MQTT "
                      f"msg/s ({sub['values']:,.0f} values/s), lag p50 {sub['lag_p50']:.2f} s p99 "
                      f"{sub['lag_p99']:.2f} s | bare {bare['rate']:8,.0f} notifications/s | ratio "
                      f"{ratio(edge['rate'], bare['rate'])}", flush=True)
        finally:
            for proc in servers:
                proc.terminate()
                proc.wait(timeout=30)
        live = sum(m["msg_rate"] for m in mqtt_runs) / len(mqtt_runs)
        backlog = round(live * args.outage)
        replays = []
        for shards in sorted({1, args.replay_shards}):
            spool = tmp / f"replay-{shards}"
            spool.mkdir()
            written = fill_spools(spool, n, backlog, shards)
            results = await measure_all(
                __file__, [*(("replay", str(port), str(spool), f"{k}/{shards}") for k in range(shards)),
                           ("mqtt", str(port), str(written))], 0, 900, 900)
            *drains, sub = results
            elapsed = max(d["elapsed"] for d in drains)
            drained = sum(d["backlog"] - d["left"] for d in drains)
            replays.append((shards, written, drained, elapsed, sub["messages"]))
        broker.terminate()
    edge_rate = sum(e["rate"] for e in edge_runs) / len(edge_runs)
    bare_rate = sum(b["rate"] for b in bare_runs) / len(bare_runs)
    print(f"live: edge {edge_rate:,.0f} / bare {bare_rate:,.0f} notifications/s → ratio {ratio(edge_rate, bare_rate)} "
          f"(goal ≥ 0.8); {live:,.0f} MQTT msg/s")
    for shards, written, drained, elapsed, received in replays:
        print(f"replay, {shards} gateway process(es): {written:,} queued messages ({args.outage:g} s at {live:,.0f} "
              f"msg/s) drained in {elapsed:.1f} s = {drained / elapsed:,.0f} msg/s, {received:,} received by the "
              f"subscriber → {drained / elapsed / live:.1f}× the live rate (goal ≥ 5)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
    else:
        asyncio.run(main())
