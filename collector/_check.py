"""``sfsim collect --check --connect``: the broker and the store, tried with the configured credentials.

Nothing is written. A store is sent an empty write, which InfluxDB answers only after it has
checked the credentials, the database (or bucket), the retention policy and the right to write
into it, and stores nothing; InfluxDB 2.x answers an empty write it would accept with "writing
requires points". The read-back of the KPI engine is tried with an InfluxQL ``SHOW MEASUREMENTS``.
A database that does not exist is not created: whether the collector could create it is asked
with ``SHOW USERS``, which only an admin may run.
"""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

from shopfloor.checks import Check, check_broker

from ._config import CollectorConfig
from ._influx import PRECISION, StoreConfig, Unavailable, _error_text, _Http, _series


async def check_connections(config: CollectorConfig) -> list[Check]:
    """The broker and the store, tried at once."""
    broker, store = await asyncio.gather(check_broker(config.mqtt),
                                         asyncio.to_thread(check_store, config.store, reads=config.kpi.enabled))
    return [broker, store]


def check_store(config: StoreConfig, *, reads: bool) -> Check:
    """Whether the store would take the collector's writes (and, with ``reads``, answer its read-back)."""
    target = f"store {config.kind} {config.target}"
    if config.kind == "files":
        return Check(target, *_directory(config.directory))
    http = _Http(config.url, config.timeout_s)
    try:
        if config.kind == "influxdb-v1":
            ok, detail = _influx_v1(http, config, reads)
        else:
            ok, detail = _influx_v2(http, config, reads)
    except Unavailable as e:
        return Check(target, False, f"cannot connect: {e.__cause__ or e}")
    finally:
        http.close()
    return Check(target, ok, detail)


def _influx_v1(http: _Http, c: StoreConfig, reads: bool) -> tuple[bool, str]:
    headers = {}
    who = "without a user name"
    if c.username:
        who = f"as {c.username}"
        headers["Authorization"] = "Basic " + base64.b64encode(f"{c.username}:{c.password or ''}".encode()).decode()
    status, body = http.request("POST", "/write", {"db": c.database, "rp": c.retention_policy,
                                                   "precision": PRECISION}, b"", headers)
    if status == 401:
        return False, f"the server refused the user name or password ({who}): {_error_text(body)}"
    if status == 403:
        return False, f"{who}: may not write to database {c.database}: {_error_text(body)}"
    if status == 404:
        if not c.create_database:
            return False, f"database {c.database} does not exist (and create_database is false)"
        status, body = http.request("POST", "/query", {"q": "SHOW USERS"}, None, headers)
        if status != 200:
            return False, (f"database {c.database} does not exist, and {who} the collector may not create it "
                           f"(that needs an admin): {_error_text(body)}")
        return True, f"database {c.database} does not exist yet; the collector may create it ({who}); nothing written"
    if status not in (200, 204):
        return False, f"HTTP {status}: {_error_text(body)}"
    if reads:
        failed = _reads(http, c.database, headers)
        if failed:
            return False, f"{who}: may write to database {c.database} but not read it back {failed}"
    return True, f"{who}, database {c.database} takes writes{' and answers reads' if reads else ''}; nothing written"


def _influx_v2(http: _Http, c: StoreConfig, reads: bool) -> tuple[bool, str]:
    headers = {"Authorization": f"Token {c.token}"} if c.token else {}
    status, body = http.request("POST", "/api/v2/write", {"org": c.org, "bucket": c.bucket, "precision": "us"},
                                b"", headers)
    refused = _error_text(body)
    if status == 401:
        return False, f"the server refused the token: {refused}"
    if status == 403:
        return False, f"the token may not write to bucket {c.bucket}: {refused}"
    if status == 404:
        return False, f"no bucket {c.bucket} in organisation {c.org or '(none given)'}: {refused}"
    if status not in (200, 204) and not (status == 400 and "requires points" in refused):
        return False, f"HTTP {status}: {refused}"
    if reads:
        failed = _reads(http, c.bucket, headers)
        if failed:
            return False, f"the token may write to bucket {c.bucket} but not read it back {failed}"
    return True, f"the token may write to bucket {c.bucket}{' and read it' if reads else ''}; nothing written"


def _reads(http: _Http, database: str, headers: dict[str, str]) -> str:
    """Why the KPI engine's read-back would fail ("" when it would not)."""
    status, body = http.request("POST", "/query", {"db": database, "q": "SHOW MEASUREMENTS LIMIT 1"}, None, headers)
    try:
        if status == 200:
            _series(status, body, database, "influxdb-v1")  # (the kind only names settings for other answers)
            return ""
        problem = f"HTTP {status}: {_error_text(body)}"
    except (ValueError, Unavailable) as e:
        problem = str(e)
    return f"(the KPI engine reads back after a restart): {problem}"


def _directory(directory: Path) -> tuple[bool, str]:
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return False, f"{existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return False, f"{existing} is not writable"
    if existing == directory:
        return True, f"{directory} is writable; nothing written"
    return True, f"{directory} will be created in {existing}, which is writable; nothing written"
