"""The live web console under load: 1,000 machines at 1 Hz, the console open in headless Chromium.

Mosquitto carries the telemetry of ``--machines`` machines (``--per-line`` to a line, at ``--sites`` sites):
a birth each, then counters and signals every second, and a state change a minute (staggered, so that
tiles change colour every second somewhere). Two ``sfsim collect`` processes take all of it, the same
plant file and the same messages: one serves the console (``--web-port``) to a page in Debian's
Chromium, the other has no console. Over the same wall-clock window:

- the server: the CPU each collector used (/proc), and the difference, what the console costs
  (goal < 0.1 core);
- what is sent: the whole snapshot's size, and an update's on the event stream (a ``fleet`` or a ``patch``);
- the page: each update's time in the page (Performance API: ``performance.now()`` around the
  page's own event handler, and to the next frame after it, so style, layout and paint count too;
  goal < 100 ms), and its JavaScript heap after a garbage collection and its DOM nodes (Chrome
  DevTools Protocol ``Performance.getMetrics``), sampled every ``--sample`` seconds (goal: no growth
  over 10 minutes); and the CPU its renderer process used per update (/proc): the page's own work, where the
  times above also hold its waits for a core on a machine the bench's other processes fill.

    python bench/console.py [--machines 1000] [--per-line 10] [--sites 4] [--minutes 10] [--warmup 75]
                            [--sample 30] [--before REV]

``--before REV`` first measures the console as it was at a git revision (its server and its page: a collector run
from that revision's files), then the package's: a change to the console before and after, in one run. Each
console's collector runs for its own window only, beside a collector without a console started with it.

Chromium is Debian's (``chromium``), driven by Playwright through ``executable_path``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from _common import ROOT, free_port, percentile, start_mosquitto
from paho.mqtt.enums import CallbackAPIVersion

from shopfloor import parse_plant
from shopfloor import telemetry as contract
from shopfloor.telemetry import MessageKind, Origin

SIGNALS = {"spindle_speed_rpm": 1200.0, "spindle_load_pct": 40.0, "power_kw": 15.0}
#: producing, then starved: the two states every machine alternates between, a minute each
REASONS = (0, 20)

#: wraps the page's own ``fleet`` and ``patch`` handlers: their time, and the time to the next frame after it
#: (style, layout, paint); ``window.__updates`` holds them until the bench takes them
TIMING = """
(() => {
  window.__updates = [];
  const add = EventSource.prototype.addEventListener;
  const timed = (listener) => function (event) {
    const t0 = performance.now();
    try { return listener.call(this, event); } finally {
      const script = performance.now() - t0;
      requestAnimationFrame(() => setTimeout(() => {
        window.__updates.push([script, performance.now() - t0, event.data.length]);
      }, 0));
    }
  };
  EventSource.prototype.addEventListener = function (type, listener, options) {
    return add.call(this, type, type === "fleet" || type === "patch" ? timed(listener) : listener, options);
  };
})();
"""
def plant_text(machines: int, per_line: int, sites: int) -> str:
    """Lines of ``per_line`` machines that never stop by themselves (the bench's messages say what they do), the
    lines dealt round the sites."""
    lines = -(-machines // per_line)
    out = ["enterprise: {id: bench, name: {zh: 基准工厂, en: bench works}}", "sites:"]
    for s in range(sites):
        out += [f"  - id: s{s + 1}", f"    name: {{zh: 厂区{s + 1}, en: site {s + 1}}}", "    region: 湖北省武汉市",
                "    calendar: {shifts: [{id: D, start: '00:00', end: '24:00'}], non_working_days: []}",
                "    lines:"]
        for k in range(s, lines, sites):
            out.append(f"      - id: L{k:03d}")
            out.append(f"        name: {{zh: 产线{k}, en: line {k}}}")
            out.append("        machines:")
            for i in range(k * per_line, min(machines, (k + 1) * per_line)):
                # the cycles differ along a line, so that it has a constraint that is not its last station
                out.append(f"          - {{id: M{i:04d}, name: {{zh: 机床{i}, en: machine {i}}}, "
                           f"kind: cnc_machining_center, protocol: mqtt, cycle_time: {80 + i % per_line}s, "
                           "mtbf: never, micro_stops_per_hour: 0}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- the machines (a child process)


def publish(port: int, plant_file: Path) -> None:
    """Every machine's birth, then every second its counters and signals and, once a minute, a new state; until
    stdin closes. Prints ``ready`` once the births and first states are out."""
    plant = parse_plant(plant_file.read_text(encoding="utf-8"))
    ats = list(plant.machines())
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-console-{os.getpid()}")
    client.max_inflight_messages_set(2000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    session = int(time.time() * 1000)
    seqs = [0] * len(ats)
    topics = {kind: [contract.machine_topic("bench", at.path, kind) for at in ats]
              for kind in (MessageKind.BIRTH, MessageKind.STATE, MessageKind.COUNTERS, MessageKind.SIGNALS)}
    products = [next(iter(at.machine.cycle_time_s)) for at in ats]
    for i, at in enumerate(ats):
        nameplate = contract.nameplate(at, signals=list(SIGNALS), sample_period_ms=1000, origin=Origin.SIMULATED)
        client.publish(topics[MessageKind.BIRTH][i], contract.encode(contract.birth(
            nameplate, ts_ms=session, seq=0, session_ms=session)), qos=1, retain=True)
    last = None
    k = 0
    next_tick = time.monotonic()
    stop = False

    def stopping(*_: Any) -> None:
        nonlocal stop
        stop = True
    signal.signal(signal.SIGTERM, stopping)
    while not stop:
        now_ms = int(time.time() * 1000)
        for i, at in enumerate(ats):
            cycle = at.machine.cycle_time_s[products[i]]
            if k == 0 or (k + i) % 60 == 0:  # every machine's state at once, then a minute each, staggered
                seqs[i] += 1
                reason = REASONS[((k + i) // 60) % 2]
                client.publish(topics[MessageKind.STATE][i], contract.encode(contract.state(
                    ts_ms=now_ms, seq=seqs[i], reason=reason, product=products[i])), qos=1)
            seqs[i] += 1
            made = int(k / cycle)
            client.publish(topics[MessageKind.COUNTERS][i], contract.encode(contract.counters(
                ts_ms=now_ms, seq=seqs[i], total=made, good=made, scrap=0, rework=0, energy_kwh=k * 0.004,
                ideal_s=made * cycle)), qos=1)
            seqs[i] += 1
            last = client.publish(topics[MessageKind.SIGNALS][i], contract.encode(contract.signals(
                ts_ms=now_ms, seq=seqs[i], values={**SIGNALS, "spindle_speed_rpm": 1200.0 + k % 100})), qos=1)
        if k == 0:
            assert last is not None
            last.wait_for_publish(60)
            print("ready", flush=True)
        k += 1
        next_tick += 1.0
        time.sleep(max(0.0, next_tick - time.monotonic()))
    client.loop_stop()
    client.disconnect()


# ---------------------------------------------------------------- measuring


def cpu_s(pid: int) -> float:
    """CPU seconds a process has used (user + system)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Chromium's browser, renderer, GPU and utility processes under Playwright's)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class Chromium:
    """The CPU seconds Chromium's processes under ``root`` used (processes that end keep what they used)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.seen: dict[int, float] = {}
        self.renderers: set[int] = set()

    def cpu_s(self) -> float:
        for pid in descendants(self.root):
            with contextlib.suppress(OSError):  # ended between the listing and the read: its last reading stays
                if Path(f"/proc/{pid}/comm").read_text().startswith("chrom"):  # not the collectors beside it
                    self.seen[pid] = cpu_s(pid)
                    if b"--type=renderer" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        self.renderers.add(pid)
        return sum(self.seen.values())

    def renderer_cpu_s(self) -> float:
        """Of ``cpu_s`` (as last read), the renderers': the page's script, style, layout, paint and GC."""
        return sum(self.seen[pid] for pid in self.renderers)


def collector(tmp: Path, name: str, port: int, plant: Path, extra: list[str], source: Path) -> subprocess.Popen[bytes]:
    """``sfsim collect`` of all the machines' messages, run from the package's files under ``source``."""
    config = tmp / f"{name}.yaml"
    config.write_text(f"collector: {name}\nmqtt: {{url: 'mqtt://127.0.0.1:{port}', prefix: bench}}\n"
                      f"store: {{kind: files, directory: '{tmp}/data-{name}'}}\n"
                      f"spool: {{dir: '{tmp}/spool-{name}'}}\n"
                      f"dead_letter: {{file: '{tmp}/dead-{name}.jsonl', topic: false}}\n"
                      f"kpi: {{plant: '{plant}'}}\n", encoding="utf-8")
    # run in ``source``: ``-m`` puts the working directory first on the path
    return subprocess.Popen([sys.executable, "-m", "sfsim", "collect", "--config", str(config), *extra],
                            cwd=source, env={**os.environ, "PYTHONPATH": str(source)}, stdout=subprocess.DEVNULL,
                            stderr=(tmp / f"{name}.log").open("ab"))


def exported(rev: str, into: Path) -> Path:
    """The repository's files as they were at git revision ``rev``, written under ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


def fleet_ready(url: str, machines: int) -> tuple[bool, int]:
    """Does the console show every machine with a state? And the size of its snapshot, bytes."""
    try:
        with urllib.request.urlopen(url + "api/fleet", timeout=10) as answer:
            body = answer.read()
    except OSError:
        return False, 0
    fleet = json.loads(body)
    keys = [m["condition"]["key"] for s in fleet["sites"] for line in s["lines"] for m in line["machines"]]
    return len(keys) == machines and "no_state" not in keys, len(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--per-line", type=int, default=10, help="machines to a line (1: a line card each)")
    parser.add_argument("--sites", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=10.0, help="the measured window")
    parser.add_argument("--warmup", type=float, default=75.0,
                        help="seconds before it: every machine has a state (a minute) and the KPIs have ticked")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between the page's heap samples")
    parser.add_argument("--before", metavar="REV",
                        help="first measure the console as it was at this git revision (its server and its page), "
                        "then the package's, each for --minutes")
    parser.add_argument("--child", nargs=2, metavar=("PORT", "PLANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        publish(int(args.child[0]), Path(args.child[1]))
        return
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium is not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        plant = tmp / "plant.yaml"
        plant.write_text(plant_text(args.machines, args.per_line, args.sites), encoding="utf-8")
        broker, port = start_mosquitto(tmp)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            machines = subprocess.Popen([sys.executable, __file__, "--child", str(port), str(plant)], env=env,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
            procs.append(machines)
            assert machines.stdout is not None
            if machines.stdout.readline().strip() != b"ready":
                raise RuntimeError("the machines did not start")
            consoles: list[tuple[str, Path]] = []
            if args.before:
                consoles.append((f"before ({args.before})", exported(args.before, tmp / "before")))
            consoles.append(("the package's console" if not args.before else "after", ROOT))
            results = []
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, headless=True)
                for k, (label, source) in enumerate(consoles):
                    web_port = free_port()
                    name = f"console-{k}"
                    # both started together: the same age, the same messages, the same history
                    served = collector(tmp, name, port, plant, ["--web-port", str(web_port)], source)
                    plain = collector(tmp, f"plain-{k}", port, plant, [], ROOT)
                    try:
                        url = f"http://127.0.0.1:{web_port}/"
                        started = time.monotonic()
                        while time.monotonic() - started < max(120.0, 2 * args.warmup):
                            if fleet_ready(url, args.machines)[0]:
                                break
                            time.sleep(1.0)
                        else:
                            raise RuntimeError(f"{label}: the console shows no state for some machines: "
                                               f"{(tmp / f'{name}.log').read_text()}")
                        print(f"{label}: {args.minutes:g} min", flush=True)
                        result = measure_page(browser, url, args, started, {
                            "console": served.pid, "plain": plain.pid, "machines": machines.pid,
                            "broker": broker.pid})
                        result["size"] = fleet_ready(url, args.machines)[1]
                        results.append((label, result))
                    finally:
                        stop([served, plain])
                browser.close()
        finally:
            stop(list(reversed(procs)))
            broker.terminate()
            broker.wait(10)

    lines = -(-args.machines // args.per_line)
    print(f"\n{args.machines:,} machines ({lines} lines of {args.per_line} at {args.sites} sites) at 1 Hz, "
          f"{os.cpu_count()} cores")
    for label, r in results:
        report(label, r)


def measure_page(browser: Any, url: str, args: argparse.Namespace, started: float,
                 collectors: dict[str, int]) -> dict[str, Any]:
    """One page open on the console for ``args.minutes`` after the warm-up: its updates' times, its heap and DOM
    nodes after GC, and the cores the collectors and Chromium used meanwhile."""
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.add_init_script(TIMING)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    page.goto(url)
    # polled: wait_for_function evaluates a string, which the console's CSP forbids
    first = time.monotonic()
    while not page.evaluate("() => window.__updates.length"):
        if time.monotonic() - first > 60:
            raise RuntimeError(f"the page got no fleet event in 60 s: {errors}")
        time.sleep(0.2)
    time.sleep(max(0.0, args.warmup - (time.monotonic() - started)))

    def sample() -> dict[str, float]:
        cdp.send("HeapProfiler.collectGarbage")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        return {"t": time.monotonic(), "heap": metrics["JSHeapUsedSize"], "nodes": metrics["Nodes"]}

    def take() -> list[list[float]]:
        got: list[list[float]] = page.evaluate("window.__updates.splice(0)")
        return got

    def cpu() -> dict[str, float]:
        return {**{name: cpu_s(pid) for name, pid in collectors.items()}, "chromium": chrome.cpu_s(),
                "renderer": chrome.renderer_cpu_s()}

    take()
    chrome = Chromium(os.getpid())
    samples = [sample()]
    cpu0 = cpu()
    t0 = time.monotonic()
    updates: list[list[float]] = []
    end = t0 + 60 * args.minutes
    while time.monotonic() < end:
        time.sleep(min(args.sample, max(0.0, end - time.monotonic())))
        updates += take()
        samples.append(sample())
        print(f"  {(time.monotonic() - t0) / 60:5.1f} min: heap {samples[-1]['heap'] / 2**20:6.2f} MB, "
              f"{samples[-1]['nodes']:,.0f} DOM nodes, {len(updates)} updates", flush=True)
    wall = time.monotonic() - t0
    cpu1 = cpu()
    page.close()
    return {"wall": wall, "cores": {k: (cpu1[k] - cpu0[k]) / wall for k in cpu0}, "updates": updates,
            "samples": samples, "errors": errors}


def report(label: str, r: dict[str, Any]) -> None:
    """One page's figures beside the goals."""
    cores, updates, samples, wall = r["cores"], r["updates"], r["samples"], r["wall"]
    script = [u[0] for u in updates]
    frame = [u[1] for u in updates]
    heap = [s["heap"] / 2**20 for s in samples]
    nodes = [s["nodes"] for s in samples]
    # the heap's trend over the window (least squares), projected over 10 minutes: a sample's GC noise is not growth
    ts = [(s["t"] - samples[0]["t"]) / 60 for s in samples]
    mean_t, mean_h = sum(ts) / len(ts), sum(heap) / len(heap)
    slope = (sum((t - mean_t) * (h - mean_h) for t, h in zip(ts, heap, strict=True))
             / (sum((t - mean_t) ** 2 for t in ts) or 1.0))
    print(f"{label} ({wall / 60:.1f} min measured):")
    print(f"  server: the collector serving the console to one page {cores['console']:.3f} cores, the same without a "
          f"console {cores['plain']:.3f}: the console costs {cores['console'] - cores['plain']:.3f} cores "
          f"(goal < 0.1)")
    sent = sum(u[2] for u in updates) / max(len(updates), 1)
    print(f"  sent: the snapshot {r['size'] / 1024:,.0f} KiB; an update on the event stream {sent / 1024:,.1f} KiB "
          "on average")
    print(f"  page: {len(updates)} updates ({len(updates) / wall:.2f}/s); the handler p50 "
          f"{percentile(script, 0.5):.1f} ms, p95 {percentile(script, 0.95):.1f} ms, max "
          f"{max(script, default=float('nan')):.1f} ms; to the next frame p50 {percentile(frame, 0.5):.1f} ms, "
          f"p95 {percentile(frame, 0.95):.1f} ms (goal < 100 ms)")
    # the wall-clock times above include the page's waits for a core, which the bench's own processes fill on a small
    # machine; the renderer's CPU is the page's own work, whatever the machine does beside it
    print(f"  page CPU: the renderer {cores['renderer'] * wall / max(len(updates), 1) * 1000:.1f} ms per update "
          f"(script, style, layout, paint and GC; goal < 100 ms)")
    print(f"  page heap after GC: {heap[0]:.2f} MB at the start, {heap[-1]:.2f} MB at the end, trend "
          f"{slope * 10:+.2f} MB per 10 min; DOM nodes {nodes[0]:,.0f} → {nodes[-1]:,.0f} (goal: no growth)")
    print(f"  beside them, on the same cores: Chromium (all its processes) {cores['chromium']:.3f} cores, the "
          f"machines' publisher {cores['machines']:.3f}, Mosquitto {cores['broker']:.3f}"
          + (f"; page errors: {r['errors']}" if r["errors"] else ""))


if __name__ == "__main__":
    main()
