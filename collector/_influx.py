"""Where points go: one adapter per InfluxDB API, chosen by name in the configuration.

- ``influxdb-v1``: the 1.x HTTP API, ``/write?db=&rp=&precision=u`` with user/password.
- ``influxdb-v2``: influxdb-client's write API (InfluxDB 2.x, and 3.x which accepts it), url/org/bucket/token.
- ``files``: line protocol files in a directory, importable later (``influx -import`` for 1.x,
  ``influx write`` for 2.x); what the embedded demo uses when no InfluxDB is given.

Every adapter takes gzip-compressed line protocol (compressed once, also as spooled) and
either stores all of it, raises ``Unavailable`` (nothing or not everything was stored: try
again later — writes are idempotent) or ``Rejected`` (the server refused some points for
good and stored the rest: retrying cannot help). Every answer is classified, whatever its
body says (a proxy's HTML, a 1.x server's "404 page not found" behind a v2 URL):

- 204: stored;
- 400 (1.x: a partial write, or nothing parsed; 2.x: the whole batch refused), 413 (too
  large), 422 (2.x: a partial write): the batch is sent again in halves until the refused
  points are alone — the others are stored — and ``Rejected`` carries them with the server's
  reason (the collector dead-letters them);
- 401, 403, 404: the configuration (credentials, permissions, database, org, bucket, URL) —
  ``Unavailable`` naming the setting to check: kept and retried, since a token can be
  created or a bucket made while the points wait;
- anything else (429, 5xx, a refused connection, a timeout): ``Unavailable``.
InfluxQL queries (``/query``), the language every InfluxDB generation and Grafana share,
read results back. ``delete`` removes single points (a result that must lose a field,
``Retraction``): InfluxQL ``DELETE`` for 1.x, the delete API for 2.x; 3.x has no delete of
points and refuses it (``Rejected``, logged), and line protocol files drop the point's lines.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import logging
import re
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from ._points import Retraction

log = logging.getLogger(__name__)

#: timestamps are written in microseconds: milliseconds from the contract, plus an order within the
#: millisecond for state events (docs/storage.md)
PRECISION = "u"

StoreKind = Literal["influxdb-v1", "influxdb-v2", "files"]
STORE_KINDS: tuple[StoreKind, ...] = ("influxdb-v1", "influxdb-v2", "files")


class Unavailable(Exception):
    """The store did not take the batch (down, overloaded, refusing credentials): keep it and retry.

    ``setting``: when the answer points at the configuration, the settings to check (the error says so once)."""

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class Rejected(Exception):
    """The store refused points for good (e.g. a field type conflict); the rest of the batch was stored.

    ``points``: each refused line of line protocol with the server's reason."""

    def __init__(self, message: str, points: Sequence[tuple[bytes, str]] = ()) -> None:
        super().__init__(message)
        self.points = list(points)


#: which settings an answer points at, per API
_SETTINGS = {
    ("influxdb-v1", 401): "store.username and store.password",
    ("influxdb-v1", 403): "store.username (it may not write to store.database)",
    ("influxdb-v1", 404): "store.database (no such database: create it, or let store.create_database do it) and "
                          "store.url (is it an InfluxDB 1.x?)",
    ("influxdb-v2", 401): "store.token",
    ("influxdb-v2", 403): "store.token (it may not write to store.bucket)",
    ("influxdb-v2", 404): "store.org and store.bucket (not found), and store.url (an InfluxDB 1.x answers 404 here: "
                          "store.kind influxdb-v1)",
}
#: answers that refuse points, not the request: sent again in halves to find them
_REFUSING = (400, 413, 422)
#: requests one batch may spend finding its refused points; past it the rest is refused in chunks
_ISOLATING_BUDGET = 128


def _classify(kind: StoreKind, target: str, status: int, body: bytes | str | None) -> Unavailable:
    """What a non-refusing error answer means: ``Unavailable``, naming the setting where it is the configuration."""
    setting = _SETTINGS.get((kind, status))
    hint = f"; check {setting}" if setting else ""
    return Unavailable(f"{target}: HTTP {status}: {_error_text(body)}{hint}", setting)


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _isolate(lines: list[bytes], send: Callable[[list[bytes]], None]) -> list[tuple[bytes, str]]:
    """Send ``lines``; where the server refuses a batch (``_Refused``), send it again in halves until the refused
    lines are alone, so that the others are stored. Returns the refused lines with the server's reasons."""
    budget = [_ISOLATING_BUDGET]

    def attempt(part: list[bytes]) -> list[tuple[bytes, str]]:
        budget[0] -= 1
        try:
            send(part)
            return []
        except _Refused as e:
            if len(part) == 1 or budget[0] <= 0:
                return [(line, e.reason) for line in part]
            half = len(part) // 2
            return attempt(part[:half]) + attempt(part[half:])

    return attempt([line for line in lines if line])


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreConfig:
    """Which store and how to reach it: ``kind``, then the settings of that kind (the others are not used)."""

    kind: StoreKind = "influxdb-v1"
    url: str = "http://127.0.0.1:8086"
    #: influxdb-v1: database and retention policy ("" = the default policy)
    database: str = "factory"
    retention_policy: str = ""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    #: influxdb-v2: organisation, bucket and API token
    org: str = ""
    bucket: str = "factory"
    token: str | None = field(default=None, repr=False)
    #: files: where the line protocol files go
    directory: Path = Path("sfsim-data")
    timeout_s: float = 10.0
    #: influxdb-v1: CREATE DATABASE at start (needs admin rights; harmless when it exists)
    create_database: bool = True

    @property
    def target(self) -> str:
        """Where points go, for messages (no secrets)."""
        if self.kind == "files":
            return str(self.directory)
        name = self.bucket if self.kind == "influxdb-v2" else self.database
        return f"{self.url} ({name})"


class Store(Protocol):
    """Where points go (``open_store``): every call blocks, so the collector makes them in a thread."""

    config: StoreConfig

    def write(self, body_gz: bytes) -> None:
        """Store gzip-compressed line protocol, all of it, or raise ``Unavailable`` (retry later) or ``Rejected``
        (points refused for good, the rest stored)."""
        ...

    def delete(self, points: Sequence[Retraction]) -> None:
        """Delete single stored points; ``Unavailable`` or ``Rejected`` as for ``write``."""
        ...

    def query(self, influxql: str) -> list[dict[str, Any]]:
        """The ``series`` of the statement's result (empty when nothing matched)."""
        ...

    def close(self) -> None:
        """Let go of the connection, if there is one."""
        ...


def open_store(config: StoreConfig) -> Store:
    """The adapter of ``config.kind``; the InfluxDB ones send nothing before the first call."""
    if config.kind == "influxdb-v1":
        return InfluxV1(config)
    if config.kind == "influxdb-v2":
        return InfluxV2(config)
    return LineFiles(config)


class _Http:
    """One keep-alive HTTP connection (re-opened after any error), used from one thread at a time."""

    def __init__(self, url: str, timeout_s: float) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"InfluxDB URL {url!r}: expected http://host:port or https://host:port")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 8086)
        self.base = parts.path.rstrip("/")
        self.timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def request(self, method: str, path: str, params: dict[str, str], body: bytes | None,
                headers: dict[str, str]) -> tuple[int, bytes]:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v})
        with self._lock:
            try:
                if self._conn is None:
                    cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
                    self._conn = cls(self.host, self.port, timeout=self.timeout_s)
                self._conn.request(method, f"{self.base}{path}?{query}", body=body, headers=headers)
                response = self._conn.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException) as e:
                self.close()
                raise Unavailable(f"{'https' if self.https else 'http'}://{self.host}:{self.port}: {e}") from e

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _error_text(body: bytes | str | None) -> str:
    """The server's own words: the JSON ``error``/``message``, else the start of the body (any type, any text)."""
    if body is None:
        return "(no body)"
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    try:
        data = json.loads(text)
        if isinstance(data, dict) and (data.get("error") or data.get("message")):
            text = str(data.get("error") or data.get("message"))
    except ValueError:
        pass
    if text.lstrip().startswith("<"):  # a proxy's or web server's HTML page: its words, not its markup
        text = re.sub(r"<[^>]*>", " ", text)
    text = " ".join(text.split())
    return text[:300] if text else "(empty body)"


def _series(status: int, body: bytes, what: str, kind: StoreKind) -> list[dict[str, Any]]:
    if status != 200:
        raise _classify(kind, what, status, body)
    try:
        results = json.loads(body).get("results", [])
    except (ValueError, AttributeError):
        raise Unavailable(f"{what}: not an InfluxDB answer: {_error_text(body)}") from None
    if results and "error" in results[0]:
        raise ValueError(f"{what}: {results[0]['error']}")
    series: list[dict[str, Any]] = results[0].get("series", []) if results else []
    return series


class InfluxV1:
    """InfluxDB 1.x: ``/write`` and ``/query`` with basic authentication."""

    def __init__(self, config: StoreConfig) -> None:
        check_name(config.database, "database")
        if config.retention_policy:
            check_name(config.retention_policy, "retention policy")
        self.config = config
        self._http = _Http(config.url, config.timeout_s)
        self._headers: dict[str, str] = {}
        if config.username:
            pair = f"{config.username}:{config.password or ''}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        self._created = not config.create_database

    def _ensure_database(self) -> None:
        if self._created:
            return
        create = f"CREATE DATABASE {identifier(self.config.database)}"
        status, body = self._http.request("POST", "/query", {"q": create}, None, self._headers)
        if status != 200:
            raise _classify("influxdb-v1", f"{self.config.target}: CREATE DATABASE", status, body)
        errors = _statement_errors(body)
        if errors:
            raise Unavailable(f"{self.config.target}: CREATE DATABASE: {errors[0]}; check store.database",
                              "store.database")
        self._created = True

    def write(self, body_gz: bytes) -> None:
        self._ensure_database()
        params = {"db": self.config.database, "rp": self.config.retention_policy, "precision": PRECISION}
        headers = self._headers | {"Content-Encoding": "gzip", "Content-Type": "text/plain; charset=utf-8"}

        def send(lines: list[bytes] | None) -> None:
            body = body_gz if lines is None else gzip.compress(b"\n".join(lines) + b"\n", compresslevel=1)
            status, answer = self._http.request("POST", "/write", params, body, headers)
            if status == 204:
                return
            if status in _REFUSING:  # a partial write stored the valid points; the halves find the others
                raise _Refused(_error_text(answer))
            raise _classify("influxdb-v1", self.config.target, status, answer)

        try:
            send(None)
        except _Refused:
            refused = _isolate(gzip.decompress(body_gz).split(b"\n"), send)
            if refused:
                raise Rejected(f"{len(refused)} point(s) refused: {refused[0][1]}", refused) from None

    def delete(self, points: Sequence[Retraction]) -> None:
        self._ensure_database()
        statements = ";".join(_influxql_delete(p) for p in points)
        status, body = self._http.request("POST", "/query", {"db": self.config.database, "q": statements},
                                          None, self._headers)
        if status != 200:
            raise _classify("influxdb-v1", f"{self.config.target}: DELETE", status, body)
        errors = _statement_errors(body)
        if errors:
            raise Rejected(f"DELETE: {errors[0]}")

    def query(self, influxql: str) -> list[dict[str, Any]]:
        status, body = self._http.request("POST", "/query", {"db": self.config.database, "q": influxql,
                                                             "epoch": "ms"}, None, self._headers)
        return _series(status, body, self.config.target, "influxdb-v1")

    def close(self) -> None:
        self._http.close()


class InfluxV2:
    """InfluxDB 2.x / 3.x through influxdb-client; InfluxQL through the 1.x-compatible ``/query``."""

    def __init__(self, config: StoreConfig) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.config = config
        # our own spool and backoff retry; the client must not retry (or buffer) on its own
        self._client = InfluxDBClient(url=config.url, token=config.token or "", org=config.org,
                                      enable_gzip=True, timeout=round(config.timeout_s * 1000), retries=False)
        self._write = self._client.write_api(write_options=SYNCHRONOUS)
        self._http = _Http(config.url, config.timeout_s)
        self._headers = {"Authorization": f"Token {config.token}"} if config.token else {}

    def write(self, body_gz: bytes) -> None:
        """2.x refuses a whole batch for one bad line (400) and too big a batch (413), and stores the rest of a
        partial write (422): halves are sent until the refused lines are alone."""
        refused = _isolate(gzip.decompress(body_gz).split(b"\n"), self._send)
        if refused:
            raise Rejected(f"{len(refused)} point(s) refused: {refused[0][1]}", refused)

    def _send(self, lines: list[bytes]) -> None:
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError

        try:
            self._write.write(bucket=self.config.bucket, org=self.config.org, record=b"\n".join(lines),
                              write_precision=WritePrecision.US)  # type: ignore[arg-type]
        except ApiException as e:
            if e.status in _REFUSING:
                raise _Refused(_error_text(e.body)) from None
            raise _classify("influxdb-v2", self.config.target, e.status or 0, e.body) from None
        except (OSError, HTTPError) as e:
            raise Unavailable(f"{self.config.target}: {e}") from None

    def delete(self, points: Sequence[Retraction]) -> None:
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError

        api = self._client.delete_api()
        for p in points:
            at = _rfc3339(p.time_us)
            predicate = " AND ".join([f'_measurement="{_quote(p.measurement, chr(34))}"'] + [
                f'{k}="{_quote(v, chr(34))}"' for k, v in p.tags if v])
            try:
                api.delete(start=at, stop=at, predicate=predicate, bucket=self.config.bucket, org=self.config.org)
            except ApiException as e:
                # 3.x has no delete of points (it answers 404 or 405): refused, logged, not retried for ever
                if e.status is not None and 400 <= e.status < 500 and e.status not in (401, 403, 429):
                    raise Rejected(f"delete: HTTP {e.status}: {_error_text(e.body)}") from None
                raise _classify("influxdb-v2", f"{self.config.target}: delete", e.status or 0, e.body) from None
            except (OSError, HTTPError) as e:
                raise Unavailable(f"{self.config.target}: {e}") from None

    def query(self, influxql: str) -> list[dict[str, Any]]:
        status, body = self._http.request("POST", "/query", {"db": self.config.bucket, "q": influxql, "epoch": "ms"},
                                          None, self._headers)
        return _series(status, body, self.config.target, "influxdb-v2")

    def close(self) -> None:
        self._write.close()  # type: ignore[no-untyped-call]
        self._client.close()  # type: ignore[no-untyped-call]
        self._http.close()


class LineFiles:
    """Line protocol files, one per UTC day, each with the header ``influx -import`` reads."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self.directory = config.directory
        self.directory.mkdir(parents=True, exist_ok=True)

    def write(self, body_gz: bytes) -> None:
        text = gzip.decompress(body_gz)
        by_day: dict[str, list[bytes]] = {}
        for point in text.splitlines():
            if point:
                day = _utc_day(int(point.rsplit(b" ", 1)[1]) // 1000)
                by_day.setdefault(day, []).append(point)
        try:
            for day, points in by_day.items():
                path = self.directory / f"{self.config.database}-{day}.lp"
                new = not path.exists()
                with path.open("ab") as f:
                    if new:
                        f.write(f"# DML\n# CONTEXT-DATABASE: {self.config.database}\n".encode())
                    f.write(b"\n".join(points) + b"\n")
        except OSError as e:
            raise Unavailable(f"{self.directory}: {e}") from e

    def delete(self, points: Sequence[Retraction]) -> None:
        """Rewrite the days' files without the points' lines (rare: only a result losing a field)."""
        by_day: dict[str, set[tuple[bytes, bytes]]] = {}
        for p in points:
            by_day.setdefault(_utc_day(p.time_us // 1000), set()).add(
                (p.series.encode() + b" ", b" " + str(p.time_us).encode()))
        try:
            for day, keys in by_day.items():
                path = self.directory / f"{self.config.database}-{day}.lp"
                if not path.exists():
                    continue
                kept = [ln for ln in path.read_bytes().splitlines(keepends=True)
                        if not any(ln.startswith(head) and ln.rstrip(b"\n").endswith(tail) for head, tail in keys)]
                temporary = path.with_suffix(".lp.tmp")
                temporary.write_bytes(b"".join(kept))
                temporary.replace(path)
        except OSError as e:
            raise Unavailable(f"{self.directory}: {e}") from e

    def query(self, influxql: str) -> list[dict[str, Any]]:
        raise NotImplementedError(f"line protocol files in {self.directory} cannot be queried; "
                                  "import them into InfluxDB (docs/storage.md)")

    def close(self) -> None:
        pass


def _quote(text: str, quote: str) -> str:
    return text.replace("\\", "\\\\").replace(quote, "\\" + quote)


def identifier(name: str) -> str:
    """``name`` as an InfluxQL identifier (a database, a measurement): quoted, so no name can end the statement."""
    return '"' + _quote(name, '"') + '"'


def check_name(name: str, what: str, *, slash: bool = False) -> str:
    """A database, retention policy or bucket name InfluxDB can hold (it names directories on disk), or
    ``ValueError`` saying why not; ``slash``: one is allowed (a 2.x bucket ``database/policy``)."""
    parts = name.split("/", 1) if slash else [name]
    if not all(parts) or any(p in (".", "..") or any(c in p for c in "/\\") or any(ord(c) < 32 or ord(c) == 127
                                                                                  for c in p) for p in parts):
        raise ValueError(f"{what} {name!r}: InfluxDB cannot hold it (empty, '.', '..', a slash, a backslash or a "
                         "control character)")
    if len(name.encode("utf-8")) > 255:
        raise ValueError(f"{what} is {len(name.encode('utf-8'))} bytes long; InfluxDB takes at most 255")
    return name


def _statement_errors(body: bytes) -> list[str]:
    try:
        return [str(r["error"]) for r in json.loads(body).get("results", []) if "error" in r]
    except (ValueError, AttributeError, TypeError):
        return [f"not an InfluxDB answer: {_error_text(body)}"]


def influxql_string(text: str) -> str:
    """``text`` as an InfluxQL string literal (a tag value in a WHERE clause)."""
    return "'" + _quote(text, "'") + "'"


def _influxql_delete(p: Retraction) -> str:
    """One point's series at one instant (its level tag keeps results of other levels at that instant)."""
    where = " AND ".join(f'"{_quote(k, chr(34))}" = {influxql_string(v)}' for k, v in p.tags)
    return f'DELETE FROM "{_quote(p.measurement, chr(34))}" WHERE {where} AND time = {p.time_us * 1000}'


def _rfc3339(time_us: int) -> str:
    import datetime as dt

    seconds, micros = divmod(time_us, 1_000_000)
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{micros:06d}Z"


def _utc_day(ts_ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts_ms / 1000, dt.UTC).strftime("%Y%m%d")
