"""After a restart: the KPI engine reads back, with InfluxQL, what the store already holds.

Results of the open windows need the telemetry from before the restart; the store has it
(whichever collector of a shared group wrote it). States come back as they are; counters
one per minute (the last at or before each whole minute: every window edge is one), which
is all the timeline keeps anyway. What arrives over MQTT meanwhile merges with it (repeats are
kept once), and the next tick rewrites every window the restored data touches. Which KPI
fields the stored results hold comes back too, so a KPI that is no longer defined is deleted
rather than left standing (``Retraction``), as do the machines' unknown intervals (``gap``)
and each site's telemetry clock as it stood (``clock``: what the stored timestamps alone
cannot say — one machine's far-future data would otherwise set "now" for everyone).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from shopfloor import Control, Industry
from shopfloor.telemetry import CounterSample

from ._clock import lower_median
from ._digitization import Equipment
from ._encode import KPI_FIELDS
from ._engine import Engine
from ._influx import Store, influxql_string
from ._units import PATH_TAGS, Unit

log = logging.getLogger(__name__)

_COUNTS = ("total", "good", "scrap", "rework", "energy_kwh", "ideal_s")


def _rows(series: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, str], dict[str, Any]]]:
    for s in series:
        tags = s.get("tags", {})
        if not all(tags.get(k) for k in PATH_TAGS):
            continue
        path = "/".join(tags[k] for k in PATH_TAGS)
        for values in s["values"]:
            yield path, tags, dict(zip(s["columns"], values, strict=True))


_NEWEST_FIRST = "GROUP BY * ORDER BY time DESC LIMIT 1"


def _newest(store: Store, measurement: str, field: str, own: str) -> dict[str, int]:
    """Each machine's newest timestamp in ``measurement``."""
    return {path: int(row["time"]) for path, _, row in _rows(store.query(
        f'SELECT "{field}" FROM "{measurement}" {_where(own)}{_NEWEST_FIRST}'))}


def _sites_clause(sites: Sequence[str] | None) -> str:
    """An InfluxQL condition for the points of ``sites`` (None: every point)."""
    if sites is None:
        return ""
    return " OR ".join(f'("enterprise" = {influxql_string(e)} AND "site" = {influxql_string(s)})'
                       for e, s in (Unit(site).parts for site in sites))


def _where(own: str, condition: str = "") -> str:
    both = [f"({c})" for c in (own, condition) if c]
    return f"WHERE {' AND '.join(both)} " if both else ""


@dataclass
class Stored:
    """What the store holds of the last ``keep`` period, ready for the engine."""

    since_ms: int = 0
    #: each site's telemetry clock when the previous process last wrote it (or the lower median of its machines'
    #: newest timestamps)
    clocks: dict[str, int] = field(default_factory=dict)
    states: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    #: the newest state of each machine: (ts, reason, product)
    last_state: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    #: the machines' unknown intervals: (start, end, cause, the state unknown in it, not only the counters)
    gaps: dict[str, list[tuple[int, int, str, bool]]] = field(default_factory=dict)
    samples: dict[str, list[CounterSample]] = field(default_factory=dict)
    births: dict[str, tuple[Equipment, dict[str, float], int]] = field(default_factory=dict)
    online: dict[str, bool] = field(default_factory=dict)
    #: (path, kind) → since: alarms active when the previous process stopped
    alarms: dict[tuple[str, str], int] = field(default_factory=dict)
    #: (level, unit, window, start) → the KPI fields its stored point holds
    kpi_fields: dict[tuple[str, str, str, int], frozenset[str]] = field(default_factory=dict)


def read_back(store: Store, keep_s: float, sites: Sequence[str] | None = None) -> Stored:
    """Query the store for the machines of ``sites`` (None: all; blocking I/O: run it in a thread)."""
    out = Stored()
    if sites is not None and not sites:
        return out
    own = _sites_clause(sites)
    newest_counters = _newest(store, "counters", "total", own)
    newest = dict(newest_counters)
    for path, ts in _newest(store, "state", "reason_code", own).items():
        newest[path] = max(ts, newest.get(path, ts))
    if not newest:
        return out
    by_site: dict[str, list[int]] = {}
    for path, ts in newest.items():
        by_site.setdefault(Unit(path).site, []).append(ts)
    out.clocks = {site: lower_median(times) for site, times in by_site.items()}
    for s in store.query(f'SELECT "now_ms" FROM "clock" {_where(own)}{_NEWEST_FIRST}'):
        tags = s.get("tags", {})
        if tags.get("level") == "site" and tags.get("enterprise") and tags.get("site") and s["values"]:
            out.clocks[f"{tags['enterprise']}/{tags['site']}"] = int(s["values"][0][1])
    since = out.since_ms = min(out.clocks.values()) - round(keep_s * 1000)
    # the state in force when the period begins, then every change (ORDER BY … LIMIT 1, not last(): a selector
    # without GROUP BY time answers with time 0)
    for query in (f'SELECT "reason_code", "product" FROM "state" {_where(own, f"time < {since}ms")}{_NEWEST_FIRST}',
                  f'SELECT "reason_code", "product" FROM "state" {_where(own, f"time >= {since}ms")}GROUP BY *'):
        for path, _, row in _rows(store.query(query)):
            ts = int(row["time"])  # (beyond its site's clock too: written after the clock was; a machine's own)
            out.states.setdefault(path, []).append((ts, int(row["reason_code"])))
            if path not in out.last_state or ts >= out.last_state[path][0]:
                out.last_state[path] = (ts, int(row["reason_code"]), str(row.get("product") or ""))
    last = ", ".join(f'last("{k}") AS "{k}"' for k in _COUNTS)
    fields = ", ".join(f'"{k}"' for k in _COUNTS)
    before = f'SELECT {fields} FROM "counters" {_where(own, f"time < {since}ms")}{_NEWEST_FIRST}'
    # buckets (m − 1 min, m]: a sample at an edge stays the edge's; each stands at its edge m — but the newest at
    # its own time (its bucket's last is the machine's newest sample): a message stored after it in the same minute
    # must not move it later, or the sample a killed collector had not stored, redelivered, falls before it with a
    # higher count and reads as a counter reset
    # up to the clocks and what was stored after their last point (a tick's worth; bounded, should a machine's own
    # timestamps run years ahead)
    until = max(out.clocks.values()) + round(keep_s * 1000)
    minutes = (f'SELECT {last} FROM "counters" {_where(own, f"time >= {since}ms AND time <= {until}ms")}'
               f'GROUP BY time(1m, 1ms), * fill(none)')
    for query, at_edge in ((before, False), (minutes, True)):
        for path, _, row in _rows(store.query(query)):
            start = int(row["time"])
            if at_edge and (path not in newest_counters or start > newest_counters[path]):
                # stored since the newest was asked for: what the live feed stores meanwhile, which the engine has
                # (the spool was empty); placed at that newest, a later count would precede older redelivered ones
                continue
            ts = min(start + 59_999, newest_counters[path]) if at_edge else start
            out.samples.setdefault(path, []).append(CounterSample(
                ts, int(row["total"]), int(row["good"]), int(row["scrap"]), int(row["rework"]),
                float(row["energy_kwh"]), float(row["ideal_s"])))
    latest: dict[str, tuple[dict[str, str], dict[str, Any]]] = {}
    for path, tags, row in _rows(store.query(f'SELECT * FROM "birth" {_where(own)}{_NEWEST_FIRST}')):
        if path not in latest or row["time"] >= latest[path][1]["time"]:
            latest[path] = (tags, row)
    for path, (tags, row) in latest.items():
        enterprise, site = Unit(path).parts[:2]
        try:
            equipment = Equipment(path, enterprise, site, Industry(row["industry"]), Control(tags["control"]),
                                  tags.get("key_process") == "true", str(row["process"]), bool(row["digital"]),
                                  bool(row["networked"]))
            out.births[path] = (equipment, json.loads(row.get("ideal_cycle_s") or "{}"), int(row["session"]))
        except (KeyError, ValueError, TypeError) as e:
            log.warning("%s: stored birth not usable (%s)", path, e)
    newest_status: dict[str, tuple[int, bool]] = {}
    for path, _, row in _rows(store.query(f'SELECT "status" FROM "status" {_where(own)}{_NEWEST_FIRST}')):
        newest_status[path] = (int(row["time"]), row["status"] == "online")
    out.online = {path: online for path, (_, online) in newest_status.items()}
    alarms = f'SELECT "active", "since_ms" FROM "alarm" {_where(own)}{_NEWEST_FIRST}'
    for path, tags, row in _rows(store.query(alarms)):
        if row["active"] and tags.get("kind"):
            out.alarms[(path, tags["kind"])] = int(row["since_ms"])
    for path, tags, row in _rows(store.query(f'SELECT "end_ms", "cause" FROM "gap" '
                                             f'{_where(own, f"time >= {since}ms")}GROUP BY *')):
        out.gaps.setdefault(path, []).append((int(row["time"]), int(row["end_ms"]), str(row["cause"]),
                                              tags.get("what") != "counts"))
    kpis = ", ".join(f'"{k}"' for k in KPI_FIELDS)
    for s in store.query(f'SELECT {kpis} FROM "kpi" {_where(own, f"time >= {since}ms")}GROUP BY *'):
        tags = s.get("tags", {})
        unit = "/".join(tags[k] for k in PATH_TAGS if tags.get(k)) or "fleet"
        for values in s["values"]:
            row = dict(zip(s["columns"], values, strict=True))
            out.kpi_fields[(tags.get("level", ""), unit, tags.get("window", ""), int(row["time"]))] = frozenset(
                k for k in KPI_FIELDS if row.get(k) is not None)
    return out


def apply_steps(engine: Engine, stored: Stored, chunk: int = 50) -> Iterator[int]:
    """Merge what was read back into the engine (on the engine's thread), ``chunk`` machines at a time,
    yielding how many: an event loop runs other work in between."""
    streams = engine.streams
    for site, now in stored.clocks.items():
        engine.clocks.restore(site, now)
    for path, (equipment, cycles, session) in stored.births.items():
        engine.learn(path, equipment, cycles)
        if not engine.heard_live(path):  # what arrived since the start is newer than what was stored
            streams.restore_session(path, session)
    for path, (ts, reason, product) in stored.last_state.items():
        streams.restore_state(path, ts, reason, product)
    for path, samples in stored.samples.items():
        if samples:
            streams.restore_seen(path, max(s.ts_ms for s in samples))
    for path, gaps in stored.gaps.items():
        for start, end, cause, state in gaps:
            streams.restore_unknown(path, start, end, cause, state=state)
    for path, online in stored.online.items():
        if not engine.heard_live(path):
            engine.set_online(path, online)
            streams.restore_online(path, online)
    for (path, kind), since in stored.alarms.items():
        engine.restore_alarm(path, kind, since)
    for (level, unit, window, start_ms), fields in stored.kpi_fields.items():
        engine.restore_stored_fields(level, unit, window, start_ms, fields)
    paths = sorted(stored.states.keys() | stored.samples.keys())
    for k in range(0, len(paths), chunk):
        for path in paths[k:k + chunk]:
            # stable by time: changes within one millisecond stay in the stored (seq) order
            engine.restore(path, sorted(stored.states.get(path, []), key=lambda s: s[0]),
                           sorted(stored.samples.get(path, []), key=lambda s: s.ts_ms))
        yield len(paths[k:k + chunk])
