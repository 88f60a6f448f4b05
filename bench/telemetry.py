"""Live telemetry throughput: what subscribers actually receive, beside bare asyncua and bare paho.

For N CNC machines that never stop, sampled every P wall seconds at speed factor S,
measures in one run, one after the other:

  opcua  the simulator's OPC UA server  → an asyncua subscriber (another process)
  bare   a bare asyncua server writing the same variables at the same rate → the same subscriber
  mqtt   the simulator's MQTT machines  → Mosquitto → a paho subscriber (another process)
  bare   a bare paho loop publishing the same messages at the same rate → the same subscriber

and prints values/s delivered, the ratio to the bare loop, and the lag (receive time −
source timestamp) p50/p99. Needs Debian's mosquitto (started here on a free port).

OPC UA notifies only values that changed, so the OPC UA cases subscribe to the five
values every executing CNC centre changes at each sample (four noisy signals and the
energy counter): 1,000 machines at P = 0.5 s offer 10,000 updates/s.

    python bench/telemetry.py [--machines 1000] [--period 0.5] [--seconds 10] [--speed 1]
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

from _common import free_port, measure_all, percentile, plant_yaml, ratio, start_mosquitto  # noqa: E402

#: what changes at every sample of an executing CNC centre: four noisy signals and the energy counter
CHANGING = ("spindle_speed_rpm", "spindle_load_pct", "feed_rate_mm_min", "coolant_temp_c")


# ------------------------------------------------------------------ subscribers (child processes)


async def opcua_subscriber(endpoint: str, nodes_file: str, warmup_s: float, seconds: float) -> dict[str, Any]:
    from asyncua import Client, ua

    node_ids = json.loads(Path(nodes_file).read_text())
    counts = {"n": 0}
    lags: list[float] = []
    window = {"open": False}

    class Handler:
        def datachange_notification(self, node: Any, value: Any, data: Any) -> None:
            if window["open"]:
                counts["n"] += 1
                stamp = data.monitored_item.Value.SourceTimestamp
                if stamp is not None and counts["n"] % 10 == 0:
                    lags.append(time.time() - stamp.timestamp())

        def status_change_notification(self, status: Any) -> None:
            print(f"subscription status: {status}", file=sys.stderr)

    client = Client(endpoint, timeout=60)
    for _ in range(600):  # a server in another process may still be building its address space
        try:
            await client.connect()
            break
        except (TimeoutError, OSError):
            await asyncio.sleep(0.5)
    try:
        sub = await client.create_subscription(100, Handler())
        nodes = [client.get_node(ua.NodeId.from_string(n)) for n in node_ids]
        for i in range(0, len(nodes), 1000):
            await sub.subscribe_data_change(nodes[i : i + 1000], queuesize=10)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "go"
        await asyncio.sleep(warmup_s)
        window["open"] = True
        t0 = time.perf_counter()
        await asyncio.sleep(seconds)
        window["open"] = False
        elapsed = time.perf_counter() - t0
    finally:
        await client.disconnect()
    return {"rate": counts["n"] / elapsed, "lag_p50": percentile(lags, 0.5), "lag_p99": percentile(lags, 0.99)}


def mqtt_subscriber(port: int, warmup_s: float, seconds: float) -> dict[str, Any]:
    import paho.mqtt.client as mqtt

    state = {"open": False, "messages": 0, "values": 0}
    lags: list[float] = []

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        if not state["open"]:
            return
        payload = json.loads(message.payload)
        state["messages"] += 1
        if "values" in payload:
            state["values"] += len(payload["values"])
        elif "total" in payload:
            state["values"] += 6
        else:
            state["values"] += 1
        if "ts" in payload and state["messages"] % 10 == 0:
            lags.append(time.time() - payload["ts"] / 1000)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-subscriber")
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe("bench/#", qos=1)
    client.loop_start()
    print("ready", flush=True)
    sys.stdin.readline()  # "go"
    time.sleep(warmup_s)
    state["open"] = True
    t0 = time.perf_counter()
    time.sleep(seconds)
    state["open"] = False
    elapsed = time.perf_counter() - t0
    client.loop_stop()
    return {"rate": state["values"] / elapsed, "messages": state["messages"] / elapsed,
            "lag_p50": percentile(lags, 0.5), "lag_p99": percentile(lags, 0.99)}


def child_main(argv: list[str]) -> None:
    kind, target, extra, warmup, seconds = argv
    if kind == "bare-server":
        asyncio.run(bare_server(int(target), int(extra), float(warmup)))
        return
    if kind == "opcua":
        result = asyncio.run(opcua_subscriber(target, extra, float(warmup), float(seconds)))
    else:
        result = mqtt_subscriber(int(target), float(warmup), float(seconds))
    print(json.dumps(result), flush=True)


async def measure(kind: str, target: str, extra: str, warmup: float, seconds: float) -> dict[str, Any]:
    return (await measure_all(__file__, [(kind, target, extra)], warmup, seconds))[0]


def combine(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"rate": sum(r["rate"] for r in results), "lag_p50": max(r["lag_p50"] for r in results),
            "lag_p99": max(r["lag_p99"] for r in results)}


# ------------------------------------------------------------------ workloads


async def bare_server(variables: int, port: int, period: float) -> None:
    """A bare asyncua server in its own process: ``variables`` doubles rewritten every period."""
    import datetime as dt

    from asyncua import Server, ua

    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/bare")
    ns = await server.register_namespace("urn:bench")
    folder = await server.nodes.objects.add_folder(ns, "bare")
    node_ids = [(await folder.add_variable(ua.NodeId(f"v{i}", ns), f"v{i}", 0.0)).nodeid for i in range(variables)]
    await server.start()
    value = 0.0
    while True:
        t0 = time.monotonic()
        value += 1.0
        now = dt.datetime.now(dt.UTC)
        for nid in node_ids:
            await server.write_attribute_value(nid, ua.DataValue(ua.Variant(value, ua.VariantType.Double),
                                                                 SourceTimestamp=now, ServerTimestamp=now))
        await asyncio.sleep(max(0.0, period - (time.monotonic() - t0)))


async def sharded_opcua(n: int, shards: int, speed: float, period: float, warmup: float, seconds: float,
                        tmp: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ours (``sfsim simulate --opcua --shard K/N``) and bare, each as ``shards`` server processes
    with one subscriber process per server."""
    plant = tmp / "plant.yaml"
    plant.write_text(plant_yaml(n, "opcua"))
    base = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    results = []
    for bare in (False, True):
        servers = []
        specs = []
        for k in range(shards):
            port = base + k + (100 if bare else 0)
            names = [f"bench/s1/main/L{i:04d}/M{i:04d}" for i in range(n) if i % shards == k]
            if bare:
                count = len(names) * (len(CHANGING) + 1)
                ids = [f"ns=2;s=v{i}" for i in range(count)]
                cmd = [sys.executable, __file__, "--child", "bare-server", str(count), str(port), str(period), "0"]
                endpoint = f"opc.tcp://127.0.0.1:{port}/bare"
            else:
                ids = [f"ns=2;s={p}/{leaf}" for p in names
                       for leaf in (*(f"Monitoring/{c}" for c in CHANGING), "OperationCounters/EnergyKWh")]
                cmd = [sys.executable, "-m", "sfsim", "simulate", str(plant), "--opcua", "--opcua-port", str(port),
                       "--shard", f"{k}/{shards}", "--sample", str(period), "--speed", str(speed)]
                endpoint = f"opc.tcp://127.0.0.1:{port}/sfsim/s1"
            nodes_file = tmp / f"nodes-{int(bare)}-{k}.json"
            nodes_file.write_text(json.dumps(ids))
            servers.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            specs.append(("opcua", endpoint, str(nodes_file)))
        try:
            results.append(combine(await measure_all(__file__, specs, warmup, seconds)))
        finally:
            for proc in servers:
                proc.terminate()
                proc.wait(timeout=30)
    return results[0], results[1]


async def ours_mqtt(n: int, speed: float, period: float, port: int, warmup: float,
                    seconds: float) -> dict[str, Any]:
    from shopfloor import MqttSettings, parse_plant
    from simulator import LiveRun, MqttMachines, Simulation

    sim = Simulation(parse_plant(plant_yaml(n, "mqtt")), start=_now())
    adapter = MqttMachines(sim.machines, MqttSettings.from_url(f"mqtt://127.0.0.1:{port}", prefix="bench"), period)
    async with LiveRun(sim, [(adapter, sim.machines)], sample_period_s=period) as live:
        await adapter.wait_ready(60)
        run = asyncio.create_task(live.run(None, speed=speed, catch_up=True))
        result = await measure("mqtt", str(port), "-", warmup, seconds)
        run.cancel()
    return result


async def bare_mqtt(n: int, period: float, port: int, warmup: float, seconds: float) -> dict[str, Any]:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-bare")
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    stop = asyncio.Event()

    async def publisher() -> None:
        seq = 0
        while not stop.is_set():
            t0 = time.monotonic()
            ts = round(time.time() * 1000)
            for i in range(n):
                seq += 1
                signals = {"ts": ts, "seq": seq, "values": {f"s{k}": 1.0 * k for k in range(6)}}  # as a CNC centre
                counters = {"ts": ts, "seq": seq, "total": seq, "good": seq, "scrap": 0, "rework": 0,
                            "energy_kwh": 1.5, "ideal_s": 90.0}
                client.publish(f"bench/v1/m{i}/signals", json.dumps(signals), qos=1)
                client.publish(f"bench/v1/m{i}/counters", json.dumps(counters), qos=1)
            await asyncio.sleep(max(0.0, period - (time.monotonic() - t0)))

    task = asyncio.create_task(publisher())
    result = await measure("mqtt", str(port), "-", warmup, seconds)
    stop.set()
    await task
    client.loop_stop()
    return result


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC).replace(microsecond=0)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement window per case")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--period", type=float, default=0.5, help="sample period, wall seconds")
    parser.add_argument("--only", choices=("opcua", "mqtt"), help="measure one protocol only")
    parser.add_argument("--shards", type=int, default=1,
                        help="OPC UA server processes (sfsim simulate --shard K/N), one subscriber process each")
    args = parser.parse_args()
    n, w, s, p = args.machines, args.warmup, args.seconds, args.period
    print(f"{n} machines, sample period {p:g} s, speed {args.speed:g}, window {s:g} s, "
          f"{args.shards} OPC UA server process(es)")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if args.only != "mqtt":
            ours, bare = await sharded_opcua(n, args.shards, args.speed, p, w, s, tmp)
            print(f"OPC UA: {len(CHANGING) + 1} changing values per machine → {n * (len(CHANGING) + 1) / p:,.0f} "
                  "updates/s offered")
            print(f"OPC UA  ours {ours['rate']:9,.0f} values/s  lag p50 {ours['lag_p50']:.3f} s "
                  f"p99 {ours['lag_p99']:.3f} s")
            print(f"        bare {bare['rate']:9,.0f} values/s  lag p50 {bare['lag_p50']:.3f} s "
                  f"p99 {bare['lag_p99']:.3f} s")
            print(f"        ratio {ratio(ours['rate'], bare['rate'])}", flush=True)
        if args.only != "opcua":
            broker, port = start_mosquitto(tmp)
            try:
                ours_m = await ours_mqtt(n, args.speed, p, port, w, s)
                bare_m = await bare_mqtt(n, p, port, w, s)
            finally:
                broker.terminate()
            print(f"MQTT: 2 messages (12 values) per machine per sample → {n * 12 / p:,.0f} values/s offered")
            print(f"MQTT    ours {ours_m['rate']:9,.0f} values/s ({ours_m['messages']:,.0f} msg/s)  lag p50 "
                  f"{ours_m['lag_p50']:.3f} s p99 {ours_m['lag_p99']:.3f} s")
            print(f"        bare {bare_m['rate']:9,.0f} values/s ({bare_m['messages']:,.0f} msg/s)  lag p50 "
                  f"{bare_m['lag_p50']:.3f} s p99 {bare_m['lag_p99']:.3f} s")
            print(f"        ratio {ratio(ours_m['rate'], bare_m['rate'])}")

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
    else:
        asyncio.run(main())
