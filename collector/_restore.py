"""After a restart: the KPI engine reads back, with InfluxQL, what the store already holds.

Results of the open windows need the telemetry from before the restart; the store has it
(whichever collector of a shared group wrote it). States come back as they are; counters
one per minute (the last at or before each whole minute: every window edge is one), which
is all the ledger keeps anyway. What arrives over MQTT meanwhile merges with it (repeats are
kept once), and the next tick rewrites every window the restored data touches. Which KPI
fields the stored results hold comes back too, so a KPI that is no longer defined is deleted
rather than left standing (``Retraction``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from shopfloor import Control, Industry
from shopfloor.telemetry import CounterSample

from ._digitization import Equipment
from ._engine import KPI_FIELDS, Engine
from ._influx import Store
from ._points import PATH_TAGS

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


def _newest(store: Store, measurement: str, field: str) -> int | None:
    series = store.query(f'SELECT last("{field}") FROM "{measurement}"')
    return int(series[0]["values"][0][0]) if series else None


@dataclass
class Stored:
    """What the store holds of the last ``keep`` period, ready for the engine."""

    since_ms: int = 0
    states: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    samples: dict[str, list[CounterSample]] = field(default_factory=dict)
    births: dict[str, tuple[Equipment, dict[str, float], int]] = field(default_factory=dict)
    online: dict[str, bool] = field(default_factory=dict)
    #: (path, kind) → since: alarms active when the previous process stopped
    alarms: dict[tuple[str, str], int] = field(default_factory=dict)
    #: (level, unit, window, start) → the KPI fields its stored point holds
    kpi_fields: dict[tuple[str, str, str, int], frozenset[str]] = field(default_factory=dict)


def read_back(store: Store, keep_s: float) -> Stored:
    """Query the store (blocking I/O: run it in a thread)."""
    out = Stored()
    newest = [t for t in (_newest(store, "state", "reason_code"), _newest(store, "counters", "total")) if t]
    if not newest:
        return out
    now = max(newest)
    since = out.since_ms = now - round(keep_s * 1000)
    # the state in force when the period begins, then every change (ORDER BY … LIMIT 1, not last(): a selector
    # without GROUP BY time answers with time 0)
    newest_first = "GROUP BY * ORDER BY time DESC LIMIT 1"
    for query in (f'SELECT "reason_code" FROM "state" WHERE time < {since}ms {newest_first}',
                  f'SELECT "reason_code" FROM "state" WHERE time >= {since}ms GROUP BY *'):
        for path, _, row in _rows(store.query(query)):
            out.states.setdefault(path, []).append((int(row["time"]), int(row["reason_code"])))
    last = ", ".join(f'last("{k}") AS "{k}"' for k in _COUNTS)
    fields = ", ".join(f'"{k}"' for k in _COUNTS)
    before = f'SELECT {fields} FROM "counters" WHERE time < {since}ms {newest_first}'
    # buckets (m − 1 min, m]: a sample at an edge stays the edge's
    minutes = (f'SELECT {last} FROM "counters" WHERE time >= {since}ms AND time <= {now}ms '
               f'GROUP BY time(1m, 1ms), * fill(none)')
    for query, at_edge in ((before, False), (minutes, True)):
        for path, _, row in _rows(store.query(query)):
            ts = min(int(row["time"]) + 59_999, now) if at_edge else int(row["time"])
            out.samples.setdefault(path, []).append(CounterSample(
                ts, int(row["total"]), int(row["good"]), int(row["scrap"]), int(row["rework"]),
                float(row["energy_kwh"]), float(row["ideal_s"])))
    latest: dict[str, tuple[dict[str, str], dict[str, Any]]] = {}
    for path, tags, row in _rows(store.query(f'SELECT * FROM "birth" {newest_first}')):
        if path not in latest or row["time"] >= latest[path][1]["time"]:
            latest[path] = (tags, row)
    for path, (tags, row) in latest.items():
        enterprise, site = path.split("/")[:2]
        try:
            equipment = Equipment(path, enterprise, site, Industry(row["industry"]), Control(tags["control"]),
                                  tags.get("key_process") == "true", str(row["process"]), bool(row["digital"]),
                                  bool(row["networked"]))
            out.births[path] = (equipment, json.loads(row.get("ideal_cycle_s") or "{}"), int(row["session"]))
        except (KeyError, ValueError, TypeError) as e:
            log.warning("%s: stored birth not usable (%s)", path, e)
    newest_status: dict[str, tuple[int, bool]] = {}
    for path, _, row in _rows(store.query(f'SELECT "status" FROM "status" {newest_first}')):
        newest_status[path] = (int(row["time"]), row["status"] == "online")
    out.online = {path: online for path, (_, online) in newest_status.items()}
    for path, tags, row in _rows(store.query(f'SELECT "active", "since_ms" FROM "alarm" {newest_first}')):
        if row["active"] and tags.get("kind"):
            out.alarms[(path, tags["kind"])] = int(row["since_ms"])
    kpis = ", ".join(f'"{k}"' for k in KPI_FIELDS)
    for s in store.query(f'SELECT {kpis} FROM "kpi" WHERE time >= {since}ms GROUP BY *'):
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
    for path, (equipment, cycles, session) in stored.births.items():
        engine.learn(path, equipment, cycles)
        if not engine.heard_live(path):  # what arrived since the start is newer than what was stored
            engine.restore_session(path, session)
    for path, online in stored.online.items():
        if not engine.heard_live(path):
            engine.set_online(path, online)
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
