"""Where the report's evidence comes from: InfluxDB (InfluxQL) or the demo's line protocol files.

Both answer the same questions about one site and period: the stored hourly KPI periods of
its lines and machines, which machines sent telemetry, and when its telemetry began and ended.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol

from collector import Period, Rate, Store
from collector._encode import RATES
from collector._influx import influxql_string
from collector._units import PATH_TAGS, Unit

_PERIOD_FIELDS = tuple(f.name for f in fields(Period))
_INTS = {"pq", "gq", "sq", "rq", "failures"}
_TELEMETRY = ("state", "counters", "signals")
#: the length of the collector's hour windows, which a report's period is made of
HOUR_MS = 3_600_000
#: the measurements a report reads from line protocol files
_READ = ("kpi", "birth", "digitization", *_TELEMETRY)
#: the count that says how full a stored register is: all its production equipment
_FULLEST = "digitization_den"


@dataclass(frozen=True, slots=True)
class Hour:
    """One stored hourly KPI point: a line's (its constraint's) or a machine's."""

    level: str
    unit: str
    start_ms: int
    period: Period


class Source(Protocol):
    """Where an assessment's evidence is read: a collector's InfluxDB (``InfluxSource``) or its line protocol
    files (``FileSource``); instants are epoch ms, ``site`` is ``enterprise/site``."""

    #: what the report names as its data source
    name: str

    def hours(self, site: str, start_ms: int, end_ms: int) -> list[Hour]:
        """Line and machine hour windows of ``site`` (``enterprise/site``) that overlap [start, end)."""
        ...

    def heard(self, site: str, start_ms: int, end_ms: int) -> set[str]:
        """Paths of the machines of ``site`` that sent telemetry in [start, end)."""
        ...

    def span(self, site: str, start_ms: int | None = None, end_ms: int | None = None) -> tuple[int, int] | None:
        """[first, last] instants of the telemetry of ``site`` in [start, end) (None: unbounded), if it sent
        any. The hour windows are no measure of the period: they are whole clock hours, and a run seldom begins
        or ends on one."""
        ...

    def origins(self) -> dict[str, str]:
        """``simulated`` or ``measured`` by path, from each machine's last stored birth."""
        ...

    def enterprise_rates(self, basis: str) -> dict[str, dict[str, Rate]]:
        """Each enterprise's 两化融合 rates as stored (``digitization``, level enterprise, counted on ``basis``), by
        enterprise id: from the fullest register the store has of it (the most equipment counted). A collector
        given the enterprise's plant file counts its silent equipment too; one that learnt the enterprise from
        births alone (a collector of another enterprise sharing the store) does not."""
        ...


def _period(values: dict[str, Any]) -> Period:
    given: dict[str, Any] = {k: (int(values[k]) if k in _INTS else float(values[k])) for k in _PERIOD_FIELDS
                             if values.get(k) is not None}
    return Period(**given)


def _path(tags: dict[str, str]) -> str:
    return "/".join(tags[k] for k in PATH_TAGS if tags.get(k))


def of_site(origins: dict[str, str], site: str) -> dict[str, str]:
    """The origins of the machines of ``site`` (``enterprise/site``)."""
    return {path: origin for path, origin in origins.items() if path.startswith(site + "/")}


def _rates(values: dict[str, Any]) -> dict[str, Rate]:
    return {name: Rate(int(values[f"{name}_num"]), int(values[f"{name}_den"])) for name in RATES
            if values.get(f"{name}_num") is not None and values.get(f"{name}_den") is not None}


def _site_where(site: str) -> str:
    enterprise, site_id = Unit(site).parts
    return f'"enterprise" = {influxql_string(enterprise)} AND "site" = {influxql_string(site_id)}'


class InfluxSource:
    """A collector's InfluxDB, read with InfluxQL (any generation: 1.x, 2.x through its DBRP mapping, 3.x)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.name = store.config.target

    def hours(self, site: str, start_ms: int, end_ms: int) -> list[Hour]:
        """Line and machine hour windows of ``site`` that overlap [start, end), from the ``kpi`` measurement."""
        columns = ", ".join(f'"{k}"' for k in _PERIOD_FIELDS)
        query = (f'SELECT {columns} FROM "kpi" WHERE "window" = \'hour\' AND "level" =~ /^(line|machine)$/ AND '
                 f'{_site_where(site)} AND time > {start_ms - HOUR_MS}ms AND time < {end_ms}ms GROUP BY *')
        out = []
        for s in self.store.query(query):
            tags = s.get("tags", {})
            for values in s["values"]:
                row = dict(zip(s["columns"], values, strict=True))
                out.append(Hour(tags["level"], _path(tags), int(row["time"]), _period(row)))
        return out

    def heard(self, site: str, start_ms: int, end_ms: int) -> set[str]:
        """Paths of the machines of ``site`` with a state, counters or signals point in [start, end)."""
        query = (f'SELECT count("seq") FROM {", ".join(_TELEMETRY)} WHERE {_site_where(site)} AND '
                 f'time >= {start_ms}ms AND time < {end_ms}ms GROUP BY {", ".join(PATH_TAGS)}')
        return {_path(s.get("tags", {})) for s in self.store.query(query) if any(v[1] for v in s["values"])}

    def span(self, site: str, start_ms: int | None = None, end_ms: int | None = None) -> tuple[int, int] | None:
        """[first, last] instants of the site's state, counters and signals points in [start, end)."""
        where = _site_where(site) + ("" if start_ms is None else f" AND time >= {start_ms}ms") + (
            "" if end_ms is None else f" AND time < {end_ms}ms")
        instants = [int(v[0]) for q in ("FIRST", "LAST")
                    for s in self.store.query(f'SELECT {q}("seq") FROM {", ".join(_TELEMETRY)} WHERE {where}')
                    for v in s["values"]]
        return (min(instants), max(instants)) if instants else None

    def origins(self) -> dict[str, str]:
        """``simulated`` or ``measured`` by path, from each machine's last stored birth."""
        last: dict[str, tuple[int, str]] = {}
        # a series per tag set: a machine whose kind or control changed has several, the newest birth wins
        for s in self.store.query('SELECT "origin" FROM "birth" GROUP BY * ORDER BY time DESC LIMIT 1'):
            time, origin = s["values"][0]
            path = _path(s.get("tags", {}))
            if int(time) >= last.get(path, (-1, ""))[0]:
                last[path] = (int(time), str(origin or "measured"))
        return {path: origin for path, (_, origin) in last.items()}

    def enterprise_rates(self, basis: str) -> dict[str, dict[str, Rate]]:
        """Each enterprise's rates on ``basis`` from its fullest stored register, by enterprise id."""
        where = f'"level" = \'enterprise\' AND "basis" = {influxql_string(basis)}'
        fullest = {s["tags"]["enterprise"]: int(s["values"][0][1]) for s in self.store.query(
            f'SELECT max("{_FULLEST}") FROM "digitization" WHERE {where} GROUP BY "enterprise"')
            if s.get("tags", {}).get("enterprise") and s["values"] and s["values"][0][1] is not None}
        out = {}
        for enterprise, count in fullest.items():  # of the fullest registers, the newest figures
            for s in self.store.query(f'SELECT * FROM "digitization" WHERE {where} AND "enterprise" = '
                                      f'{influxql_string(enterprise)} AND "{_FULLEST}" = {count} '
                                      "ORDER BY time DESC LIMIT 1"):
                out[enterprise] = _rates(dict(zip(s["columns"], s["values"][0], strict=True)))
        return out


# ---------------------------------------------------------------- line protocol files

_UNESCAPE = re.compile(r"\\([, =])")


def _split_unescaped(text: str, sep: str) -> list[str]:
    return re.split(rf"(?<!\\){re.escape(sep)}", text)


def _fields(text: str) -> dict[str, Any]:
    """The field set of a point as the collector writes it (strings quoted, integers with ``i``)."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(text):
        eq = text.index("=", i)
        key = _UNESCAPE.sub(r"\1", text[i:eq])
        j = eq + 1
        if text[j] == '"':
            k = j + 1
            chars = []
            while text[k] != '"':
                if text[k] == "\\":
                    k += 1
                chars.append(text[k])
                k += 1
            out[key] = "".join(chars)
            i = k + 2  # past the quote and the comma
            continue
        end = text.find(",", j)
        end = len(text) if end < 0 else end
        raw = text[j:end]
        if raw.endswith("i"):
            out[key] = int(raw[:-1])
        elif raw in ("true", "false"):
            out[key] = raw == "true"
        else:
            out[key] = float(raw)
        i = end + 1
    return out


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, Any], int]:
    """(measurement, tags, fields, time µs) of one point in the collector's line protocol."""
    # the series key ends at the first unescaped space; the time follows the last space
    key_end = next(m.start() for m in re.finditer(r"(?<!\\) ", line))
    body, _, ts = line[key_end + 1:].rpartition(" ")
    measurement, *tag_parts = _split_unescaped(line[:key_end], ",")
    tags = {}
    for part in tag_parts:
        k, v = _split_unescaped(part, "=")[:2]
        tags[_UNESCAPE.sub(r"\1", k)] = _UNESCAPE.sub(r"\1", v)
    return _UNESCAPE.sub(r"\1", measurement), tags, _fields(body), int(ts)


class FileSource:
    """The line protocol files a collector wrote with the ``files`` store (the embedded demo's data)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.name = str(directory)
        self._points: list[tuple[str, dict[str, str], dict[str, Any], int]] | None = None

    def _read(self) -> Iterator[tuple[str, dict[str, str], dict[str, Any], int]]:
        if self._points is None:
            files = sorted(self.directory.glob("*.lp")) + sorted(self.directory.glob("*.lp.gz"))
            if not files:
                raise FileNotFoundError(f"{self.directory}: no line protocol files (*.lp) here")
            points = []
            for path in files:
                try:
                    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
                    text = data.decode()
                except (EOFError, gzip.BadGzipFile, UnicodeDecodeError) as e:  # a run killed while it wrote
                    raise ValueError(f"{path}: not a line protocol file the collector wrote ({e})") from None
                for n, line in enumerate(text.splitlines(), 1):
                    if line and not line.startswith("#") and line.split(",", 1)[0] in _READ:
                        try:
                            points.append(parse_line(line))
                        except (ValueError, IndexError, StopIteration):
                            raise ValueError(f"{path}:{n}: not line protocol as the collector writes it: "
                                             f"{line[:80]!r}") from None
            self._points = points
        return iter(self._points)

    def _site_points(self, site: str, start_ms: int, end_ms: int, measurements: tuple[str, ...],
                     ) -> Iterator[tuple[str, dict[str, str], dict[str, Any], int]]:
        enterprise, site_id = Unit(site).parts
        for m, tags, values, ts in self._read():
            if (m in measurements and tags.get("enterprise") == enterprise and tags.get("site") == site_id
                    and start_ms * 1000 <= ts < end_ms * 1000):
                yield m, tags, values, ts

    def hours(self, site: str, start_ms: int, end_ms: int) -> list[Hour]:
        """Line and machine hour windows of ``site`` that overlap [start, end); a point written again (a window
        computed again) takes its new fields over the old."""
        latest: dict[tuple[str, str, int], dict[str, Any]] = {}  # a point written again overwrites itself
        for _, tags, values, ts in self._site_points(site, start_ms - HOUR_MS + 1, end_ms, ("kpi",)):
            if tags.get("window") == "hour" and tags.get("level") in ("line", "machine"):
                key = (tags["level"], _path(tags), ts // 1000)
                latest[key] = latest.get(key, {}) | values
        return [Hour(level, unit, start, _period(values)) for (level, unit, start), values in latest.items()]

    def heard(self, site: str, start_ms: int, end_ms: int) -> set[str]:
        """Paths of the machines of ``site`` with a state, counters or signals point in [start, end)."""
        return {_path(tags) for _, tags, _, _ in self._site_points(site, start_ms, end_ms, _TELEMETRY)}

    def span(self, site: str, start_ms: int | None = None, end_ms: int | None = None) -> tuple[int, int] | None:
        """[first, last] instants of the site's state, counters and signals points in [start, end)."""
        instants = [ts // 1000 for _, _, _, ts in self._site_points(
            site, 0 if start_ms is None else start_ms, 2**62 // 1000 if end_ms is None else end_ms, _TELEMETRY)]
        return (min(instants), max(instants)) if instants else None

    def origins(self) -> dict[str, str]:
        """``simulated`` or ``measured`` by path, from each machine's last birth in the files."""
        last: dict[str, tuple[int, str]] = {}
        for m, tags, values, ts in self._read():
            path = _path(tags)
            if m == "birth" and ts >= last.get(path, (-1, ""))[0]:
                last[path] = (ts, str(values.get("origin") or "measured"))
        return {path: origin for path, (_, origin) in last.items()}

    def enterprise_rates(self, basis: str) -> dict[str, dict[str, Rate]]:
        """Each enterprise's rates on ``basis`` from its fullest register in the files, by enterprise id."""
        fullest: dict[str, dict[str, Any]] = {}
        for m, tags, values, _ in self._read():
            if m == "digitization" and tags.get("level") == "enterprise" and tags.get("basis") == basis:
                enterprise = tags.get("enterprise", "")
                if values.get(_FULLEST, -1) >= fullest.get(enterprise, {}).get(_FULLEST, -1):  # the newest
                    fullest[enterprise] = values
        return {e: _rates(values) for e, values in fullest.items() if e}
