"""What the KPI engine keeps in memory per machine and plant-minute of ``kpi.keep``.

Simulates the Wuhan example scaled to ``--machines`` for ``--duration`` of plant time (no
I/O), turns the machines' logs into the contract's messages — every state change, counters
every ``--sample`` seconds of plant time — and feeds them, as the collector does, through
the machines' streams into the engine; then measures with tracemalloc what the engine and the
streams hold (the telemetry of the whole run is within ``kpi.keep``, 2 days), and prints bytes
per machine-minute and the projection for 320 machines and 2 days. Deterministic for a seed:
run it before and after a change.

    python bench/memory.py [--machines 100] [--duration 8h] [--sample 10]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.simulate import WUHAN, scale
from collector import Engine, KpiConfig, decode
from shopfloor import load_plant, parse_duration
from shopfloor import telemetry as contract
from simulator import Simulation


def messages(sim: Simulation, sample_s: float) -> list[tuple[str, bytes, int]]:
    """(topic, payload, ts) of every state change and of counters every ``sample_s``, in time order."""
    out = []
    epoch = sim.start_epoch
    for m in sim.machines:
        if not m.at.machine.networked:
            continue
        seq = 0
        for t, reason, p in zip(m.log_t, m.log_r, m.log_p, strict=True):
            seq += 1
            ts = round((epoch + t) * 1000)
            body = contract.state(ts_ms=ts, seq=seq, reason=reason, product=m.products[p])
            out.append((contract.machine_topic("sfsim", m.path, contract.MessageKind.STATE), contract.encode(body), ts))
        # counters as cumulative steps through the run (the totals spread evenly: memory, not KPIs, is measured)
        samples = int(sim.now // sample_s)
        for k in range(1, samples + 1):
            seq += 1
            share = k / samples
            total = round(m.total * share)
            ts = round((epoch + k * sample_s) * 1000)
            body = contract.counters(ts_ms=ts, seq=seq, total=total, good=total, scrap=0, rework=0,
                                     energy_kwh=share * 100.0, ideal_s=share * 1000.0)
            out.append((contract.machine_topic("sfsim", m.path, contract.MessageKind.COUNTERS),
                        contract.encode(body), ts))
    out.sort(key=lambda x: x[2])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--machines", type=int, default=100)
    parser.add_argument("--duration", default="8h")
    parser.add_argument("--sample", type=float, default=10.0, help="counters every this many plant seconds")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    duration = parse_duration(args.duration)
    plant = scale(load_plant(WUHAN), args.machines)
    sim = Simulation(plant, seed=args.seed)
    sim.run(duration)
    stream = messages(sim, args.sample)
    networked = sum(1 for m in sim.machines if m.at.machine.networked)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    started = time.perf_counter()
    engine = Engine(KpiConfig(plants=(plant,), keep_s=2 * 86400.0))
    streams = getattr(engine, "streams", None)  # (the engine before there were streams admitted by itself)
    for topic, payload, ts in stream:
        msg = decode(topic, payload, prefix="sfsim")
        if streams is None or streams.admit(msg, ts):
            engine.feed(msg, ts)
    engine.tick(0)
    fed_s = time.perf_counter() - started
    del stream
    gc.collect()
    after = tracemalloc.take_snapshot()
    held = sum(s.size_diff for s in after.compare_to(before, "filename"))
    minutes = networked * duration / 60
    per_minute = held / minutes
    print(f"{networked} networked machines x {duration / 3600:g} h of plant time: {len(engine.machines)} machines "
          f"known, fed in {fed_s:.1f} s")
    print(f"held: {held / 1e6:.1f} MB = {per_minute:.0f} bytes per machine-minute")
    print(f"projection, 320 machines x kpi.keep 2 d: {per_minute * 320 * 2 * 1440 / 1e6:.0f} MB")
    if hasattr(engine, "retention"):
        print(f"the health message's retention: {engine.retention()['telemetry_bytes'] / minutes:.0f} bytes per "
              "machine-minute in the ledgers' arrays")
    print(json.dumps({"bytes_per_machine_minute": round(per_minute), "machines": networked,
                      "minutes": duration / 60}))


if __name__ == "__main__":
    main()
