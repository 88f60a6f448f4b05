"""What the benchmarks share: a never-stopping CNC plant, free ports, percentiles, Mosquitto, child processes."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

CYCLE_S = 90.0


def plant_yaml(machines: int, protocol: str, sites: int = 1) -> str:
    """One-machine lines that never stop (every sample changes the same values on every machine); machine ``i``
    at site ``s<i % sites + 1>``."""
    out = ["enterprise: {id: bench}", "sites:"]
    for k in range(sites):
        out += [f"  - id: s{k + 1}",
                "    calendar: {shifts: [{id: D, start: '00:00', end: '24:00'}], non_working_days: []}",
                "    lines:"]
        out += [f"      - {{id: L{i:04d}, machines: [{{id: M{i:04d}, kind: cnc_machining_center, protocol: {protocol}, "
                f"cycle_time: {CYCLE_S}s, mtbf: never, micro_stops_per_hour: 0}}]}}"
                for i in range(machines) if i % sites == k]
    return "\n".join(out) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a (bare delivered nothing)"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_mosquitto(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
                    "max_inflight_messages 0\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


async def measure_all(script: str, specs: list[tuple[str, ...]], warmup: float, seconds: float,
                      ready_timeout_s: float = 300) -> list[dict[str, Any]]:
    """Start ``script --child KIND ARGS… WARMUP SECONDS`` processes, wait until each prints ``ready``,
    open their windows together (``go``) and collect the JSON each prints last."""
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, script, "--child", *spec, str(warmup), str(seconds),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for spec in specs
    ]
    for proc, spec in zip(procs, specs, strict=True):
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), ready_timeout_s)
        if line.strip() != b"ready":
            raise RuntimeError(f"{spec[0]} child failed to start: {line!r}")
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    results = []
    for proc in procs:
        assert proc.stdout is not None
        out = await proc.stdout.read()
        await proc.wait()
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


def wait_for_go() -> None:
    print("ready", flush=True)
    sys.stdin.readline()
