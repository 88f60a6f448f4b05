"""Every answer a store can give is classified: kept and retried, or refused point by point — never a dropped batch.

Against Debian's InfluxDB 1.6 (with authentication where credentials matter) and, for the v2
API, through the test shim (tests/servers.py) that hands the client's request to the real
server: a 1.x server behind a v2 URL, a bucket or database that does not exist, a wrong
password or token, a user who may not write, a proxy whose InfluxDB is away, a point the
server refuses. Configuration errors name the setting to check, once; points the server
refuses are dead-lettered one by one while the rest of their batch is stored.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector import Rejected, StoreConfig, Unavailable, open_store
from collector._points import line
from collector._sink import Batch, Sink

from .servers import InfluxDB, V2Shim

pytestmark = pytest.mark.integration

ADMIN = ("admin", "s3cret-admin")
READER = ("reader", "s3cret-reader")


def gz(lines: list[str]) -> bytes:
    return gzip.compress(("\n".join(lines) + "\n").encode())


POINTS = [line("counters", {"machine": f"m{i}"}, {"total": i}, 1_767_571_200_000 + i) for i in range(5)]


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[InfluxDB]:
    """InfluxDB with authentication: an admin, and a reader who may read ``factory`` but not write to it."""
    server = InfluxDB(tmp_path / "secured", admin=ADMIN)
    server.start()
    server.execute("CREATE DATABASE factory")
    server.execute(f"CREATE USER {READER[0]} WITH PASSWORD '{READER[1]}'")
    server.execute(f'GRANT READ ON "factory" TO "{READER[0]}"')
    yield server
    server.stop()


def unavailable(config: StoreConfig) -> Unavailable:
    store = open_store(config)
    try:
        with pytest.raises(Unavailable) as raised:
            store.write(gz(POINTS))
        return raised.value
    finally:
        store.close()


def test_a_1x_server_behind_a_v2_url_is_a_setting_to_check_not_a_traceback(influxdb: InfluxDB) -> None:
    e = unavailable(StoreConfig(kind="influxdb-v2", url=influxdb.url, org="acme", bucket="factory", token="t"))
    assert str(e).startswith(f"{influxdb.url} (factory): HTTP 404: 404 page not found; check store.org and "
                             "store.bucket")
    assert "store.kind influxdb-v1" in str(e) and e.setting is not None


def test_a_bucket_or_database_that_does_not_exist_names_its_setting(influxdb: InfluxDB) -> None:
    shim = V2Shim(influxdb)
    try:
        e = unavailable(StoreConfig(kind="influxdb-v2", url=shim.url, org="acme", bucket="nowhere", token="t"))
        assert "HTTP 404: database not found: \"nowhere\"" in str(e) and "check store.org and store.bucket" in str(e)
    finally:
        shim.close()
    e = unavailable(StoreConfig(kind="influxdb-v1", url=influxdb.url, database="nowhere", create_database=False))
    assert "HTTP 404" in str(e) and "check store.database" in str(e)


def test_wrong_credentials_and_missing_permissions_name_their_settings(secured: InfluxDB) -> None:
    e = unavailable(StoreConfig(kind="influxdb-v1", url=secured.url, username="admin", password="wrong",
                                create_database=False))
    assert "HTTP 401: authorization failed" in str(e) and "check store.username and store.password" in str(e)
    assert "wrong" not in str(e)
    e = unavailable(StoreConfig(kind="influxdb-v1", url=secured.url, username=READER[0], password=READER[1],
                                create_database=False))
    assert "HTTP 403" in str(e) and "not authorized to write" in str(e) and "may not write to store.database" in str(e)
    shim = V2Shim(secured)  # a token USER:PASSWORD goes on as those credentials
    try:
        e = unavailable(StoreConfig(kind="influxdb-v2", url=shim.url, org="acme", bucket="factory", token="no-such"))
        assert "HTTP 401" in str(e) and "check store.token" in str(e) and "no-such" not in str(e)
        e = unavailable(StoreConfig(kind="influxdb-v2", url=shim.url, org="acme", bucket="factory",
                                    token=":".join(READER)))
        assert "HTTP 403" in str(e) and "store.token (it may not write to store.bucket)" in str(e)
    finally:
        shim.close()


def test_a_proxy_whose_influxdb_is_away_is_retried(influxdb: InfluxDB) -> None:
    shim = V2Shim(influxdb)
    influxdb.stop()
    try:
        e = unavailable(StoreConfig(kind="influxdb-v2", url=shim.url, org="acme", bucket="factory", token="t"))
        assert "HTTP 502: 502 Bad Gateway" in str(e) and e.setting is None
    finally:
        shim.close()
        influxdb.start()


@pytest.mark.parametrize("kind", ["influxdb-v1", "influxdb-v2"])
def test_only_the_points_the_server_refuses_are_refused_and_the_rest_is_stored(influxdb: InfluxDB, kind: str) -> None:
    shim = V2Shim(influxdb)
    try:
        open_store(StoreConfig(kind="influxdb-v1", url=influxdb.url)).write(gz(POINTS[:1]))  # total is an integer
        config = StoreConfig(kind="influxdb-v1", url=influxdb.url) if kind == "influxdb-v1" else StoreConfig(
            kind="influxdb-v2", url=shim.url, org="acme", bucket="factory", token="t")
        bad = [line("counters", {"machine": "x1"}, {"total": "many"}, 1_767_571_300_000),
               line("counters", {"machine": "x2"}, {"total": 1.5}, 1_767_571_300_000)]
        store = open_store(config)
        with pytest.raises(Rejected) as raised:
            store.write(gz([POINTS[1], bad[0], *POINTS[2:4], bad[1], POINTS[4]]))
        assert [p for p, _ in raised.value.points] == [b.encode() for b in bad]
        assert all("field type conflict" in why for _, why in raised.value.points)
        stored = {r["machine"]: r["total"] for r in influxdb.rows('SELECT * FROM "counters"')}
        assert stored == {f"m{i}": i for i in range(5)}
        store.close()
    finally:
        shim.close()


def test_the_sink_keeps_what_a_misconfigured_store_refuses_says_so_once_and_sends_it_when_fixed(
        influxdb: InfluxDB, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = open_store(StoreConfig(kind="influxdb-v1", url=influxdb.url, database="later", create_database=False))
    counts: Counter[str] = Counter()
    refused: list[tuple[bytes, str]] = []
    sink = Sink(store, tmp_path / "spool.sqlite", retry_min_s=0.05, retry_max_s=0.1, counts=counts,
                rejected=refused.extend)
    acked: list[int] = []

    async def main() -> None:
        task = asyncio.create_task(sink.run())
        for i in range(5):
            await sink.put(Batch([POINTS[i]], False, lambda i=i: acked.append(i)))
        while counts["write_failures"] < 10:
            await asyncio.sleep(0.05)
        assert sink.problem is not None and "check store.database" in sink.problem
        influxdb.execute("CREATE DATABASE later")  # the operator fixes it
        while sink.backlog:
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await sink.close(1.0)

    with caplog.at_level(logging.INFO, logger="collector"):
        asyncio.run(main())
    assert acked == [0, 1, 2, 3, 4] and not refused  # spooled, so acknowledged; nothing dropped
    assert {r["machine"] for r in influxdb.rows('SELECT * FROM "counters"', database="later")} == {
        f"m{i}" for i in range(5)}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "check store.database" in errors[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]  # not one traceback
    assert sink.problem is None


def test_a_crafted_database_name_cannot_end_the_statement_and_drop_another_database(influxdb: InfluxDB) -> None:
    open_store(StoreConfig(kind="influxdb-v1", url=influxdb.url)).write(gz(POINTS))
    crafted = 'x"; DROP DATABASE "factory'
    store = open_store(StoreConfig(kind="influxdb-v1", url=influxdb.url, database=crafted))
    store.write(gz(POINTS[:1]))
    store.close()
    assert influxdb.has_database("factory") and influxdb.has_database(crafted)
    assert len(influxdb.rows('SELECT * FROM "counters"')) == 5
    for name in ("../etc", "a/b", "", ".."):
        with pytest.raises(ValueError, match="InfluxDB cannot hold it"):
            open_store(StoreConfig(kind="influxdb-v1", url=influxdb.url, database=name))
