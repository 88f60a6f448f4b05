"""The collector's stores against a real InfluxDB 1.x: both write APIs, escaping, idempotence, the spool."""

from __future__ import annotations

import asyncio
import gzip
from collections import Counter
from pathlib import Path

import pytest

from collector import Rejected, StoreConfig, Unavailable, open_store
from collector._points import Retraction, line
from collector._sink import Batch, Sink

from .servers import InfluxDB, V2Shim

pytestmark = pytest.mark.integration

NASTY = ['a "quoted" name', "back\\slash\\", "comma, and = equals", "space at end ", "中文 名称", "trailing\\"]


def gz(lines: list[str]) -> bytes:
    return gzip.compress(("\n".join(lines) + "\n").encode())


def test_v1_write_keeps_every_awkward_string_and_a_second_write_overwrites(influxdb: InfluxDB) -> None:
    store = open_store(StoreConfig(kind="influxdb-v1", url=influxdb.url, database="factory"))
    lines = [line("state", {"machine": f"m{i}", "site": "tag with space,comma=eq"},
                  {"product": text, "reason_code": i, "energy_kwh": 1.5, "ok": True}, 1_767_571_200_000 + i)
             for i, text in enumerate(NASTY)]
    store.write(gz(lines))
    store.write(gz(lines))  # a replay: same series, same instants
    rows = influxdb.rows('SELECT * FROM "state"')
    assert len(rows) == len(NASTY)
    assert sorted(r["product"] for r in rows) == sorted(NASTY)
    assert {r["site"] for r in rows} == {"tag with space,comma=eq"}
    assert all(isinstance(r["reason_code"], int) and r["ok"] is True for r in rows)
    assert store.query('SELECT count("product") FROM "state"')[0]["values"][0][1] == len(NASTY)
    store.close()


def test_v1_field_type_conflict_is_rejected_and_the_rest_of_the_batch_is_stored(influxdb: InfluxDB) -> None:
    store = open_store(StoreConfig(kind="influxdb-v1", url=influxdb.url))
    store.write(gz([line("counters", {"machine": "m1"}, {"total": 1}, 1000)]))
    with pytest.raises(Rejected, match="conflict"):
        store.write(gz([line("counters", {"machine": "m1"}, {"total": "text"}, 2000),
                        line("counters", {"machine": "m2"}, {"total": 7}, 2000)]))
    assert {r["machine"]: r["total"] for r in influxdb.rows('SELECT * FROM "counters"')} == {"m1": 1, "m2": 7}


def test_v2_client_writes_through_the_shim_to_the_real_server(influxdb: InfluxDB) -> None:
    shim = V2Shim(influxdb)
    try:
        open_store(StoreConfig(kind="influxdb-v1", url=influxdb.url, database="plant")).write(gz([]))  # creates it
        store = open_store(StoreConfig(kind="influxdb-v2", url=shim.url, org="acme", bucket="plant", token="t0k3n"))
        store.write(gz([line("signals", {"machine": "m1"}, {"spindle_speed_rpm": 1200.0, "seq": 3}, 5000),
                        line("signals", {"machine": "m1"}, {"product": NASTY[0]}, 6000)]))
        path, headers = shim.requests[0]
        assert path.startswith("/api/v2/write?") and "bucket=plant" in path and "precision=us" in path
        assert headers["Content-Encoding"] == "gzip" and headers["Authorization"] == "Token t0k3n"
        rows = influxdb.rows('SELECT * FROM "signals"', database="plant")
        assert [(r["time"], r["spindle_speed_rpm"], r["product"]) for r in rows] == [
            (5000, 1200.0, None), (6000, None, NASTY[0])]
        with pytest.raises(Rejected):  # the real server's 400 comes back as the client's error
            store.write(gz([line("signals", {"machine": "m1"}, {"seq": "x"}, 7000)]))
        store.close()
    finally:
        shim.close()


def test_unreachable_store_is_unavailable_not_an_error(tmp_path: Path) -> None:
    from .servers import free_port

    store = open_store(StoreConfig(kind="influxdb-v1", url=f"http://127.0.0.1:{free_port()}", timeout_s=2))
    with pytest.raises(Unavailable, match=r"127\.0\.0\.1"):
        store.write(gz([line("m", {}, {"v": 1}, 1)]))


def test_sink_spools_while_influxdb_is_down_and_replays_in_order_without_loss_or_duplicates(
        influxdb: InfluxDB, tmp_path: Path) -> None:
    counts: Counter[str] = Counter()
    acked: list[int] = []

    async def main() -> None:
        store = open_store(StoreConfig(kind="influxdb-v1", url=influxdb.url, timeout_s=2))
        sink = Sink(store, tmp_path / "spool.sqlite", retry_min_s=0.2, retry_max_s=0.5, counts=counts)
        runner = asyncio.create_task(sink.run())

        async def put(n: int) -> None:
            lines = [line("counters", {"machine": f"m{k}"}, {"total": n}, 1_000 * n) for k in range(50)]
            await sink.put(Batch(lines, False, lambda: acked.append(n)))

        for n in range(1, 11):
            await put(n)
        await asyncio.sleep(0.5)
        influxdb.stop()
        for n in range(11, 41):  # written while the database is away: each acknowledged once spooled
            await put(n)
            await asyncio.sleep(0.05)
        assert sink.backlog > 0
        influxdb.start()
        for n in range(41, 51):
            await put(n)
        for _ in range(200):
            if not sink.backlog and len(acked) == 50:
                break
            await asyncio.sleep(0.1)
        runner.cancel()
        await sink.close(5)

    asyncio.run(main())
    assert acked == list(range(1, 51))  # durable in arrival order
    assert counts["batches_spooled"] >= 30
    rows = influxdb.rows('SELECT "total" FROM "counters" GROUP BY "machine"')
    assert len(rows) == 50 * 50  # every point once: a replay overwrites, never duplicates
    per_machine: dict[str, list[int]] = {}
    for r in rows:
        per_machine.setdefault(r["machine"], []).append(r["total"])
    assert all(v == list(range(1, 51)) for v in per_machine.values())


def _kpi(level: str, fields: dict[str, float], **path: str) -> str:
    return line("kpi", {"level": level, "window": "hour"} | path, fields, 3_600_000)


def _retraction(level: str, **path: str) -> Retraction:
    return Retraction("kpi", tuple(sorted(({"level": level, "window": "hour"} | path).items())), 3_600_000_000)


AWKWARD = {"site": "s'1 \\ \"x\", y=z"}


@pytest.mark.parametrize("kind", ["influxdb-v1", "influxdb-v2"])
def test_a_retracted_point_loses_its_stale_field_and_no_other_point_is_touched(influxdb: InfluxDB,
                                                                               kind: str) -> None:
    shim = V2Shim(influxdb) if kind == "influxdb-v2" else None
    try:
        open_store(StoreConfig(kind="influxdb-v1", url=influxdb.url, database="plant")).write(gz([]))  # creates it
        store = open_store(StoreConfig(kind=kind, url=shim.url if shim else influxdb.url, database="plant",
                                       org="acme", bucket="plant", token="t0k3n"))
        # the same instant at two levels of the same site: only the machine's point is deleted
        store.write(gz([_kpi("machine", {"effectiveness": 0.0, "apt_s": 60.0}, machine="m1", **AWKWARD),
                        _kpi("site", {"effectiveness": 0.5, "apt_s": 60.0}, **AWKWARD)]))
        store.delete([_retraction("machine", machine="m1", **AWKWARD)])
        store.write(gz([_kpi("machine", {"apt_s": 0.0}, machine="m1", **AWKWARD)]))
        rows = {r["level"]: r for r in influxdb.rows('SELECT * FROM "kpi" GROUP BY *', database="plant")}
        assert (rows["machine"]["apt_s"], rows["machine"]["effectiveness"]) == (0.0, None)
        assert (rows["site"]["apt_s"], rows["site"]["effectiveness"]) == (60.0, 0.5)
        assert rows["machine"]["site"] == AWKWARD["site"]
        if shim:
            assert any(path.startswith("/api/v2/delete?") and "bucket=plant" in path for path, _ in shim.requests)
        store.close()
    finally:
        if shim:
            shim.close()


def test_line_files_drop_a_retracted_points_lines(tmp_path: Path) -> None:
    store = open_store(StoreConfig(kind="files", directory=tmp_path / "lp"))
    store.write(gz([_kpi("machine", {"effectiveness": 0.0}, machine="m1"), _kpi("site", {"effectiveness": 0.5})]))
    store.delete([_retraction("machine", machine="m1")])
    store.write(gz([_kpi("machine", {"apt_s": 0.0}, machine="m1")]))
    (day,) = (tmp_path / "lp").iterdir()
    assert day.read_text().splitlines() == [
        "# DML", "# CONTEXT-DATABASE: factory", "kpi,level=site,window=hour effectiveness=0.5 3600000000",
        "kpi,level=machine,machine=m1,window=hour apt_s=0.0 3600000000"]


def test_a_retraction_spooled_while_influxdb_is_away_is_replayed_before_its_batch(
        influxdb: InfluxDB, tmp_path: Path) -> None:
    async def main() -> None:
        store = open_store(StoreConfig(kind="influxdb-v1", url=influxdb.url, timeout_s=2))
        sink = Sink(store, tmp_path / "spool.sqlite", retry_min_s=0.2, retry_max_s=0.5)
        runner = asyncio.create_task(sink.run())
        await sink.put(Batch([_kpi("machine", {"effectiveness": 0.0, "apt_s": 60.0}, machine="m1")], False,
                             lambda: None))
        await asyncio.sleep(0.5)
        influxdb.stop()
        await sink.put(Batch([_kpi("machine", {"apt_s": 0.0}, machine="m1")], False, lambda: None,
                             [_retraction("machine", machine="m1")]))
        for _ in range(50):
            if sink.backlog == 2:  # the retraction, then its batch
                break
            await asyncio.sleep(0.1)
        assert sink.backlog == 2
        influxdb.start()
        for _ in range(200):
            if not sink.backlog:
                break
            await asyncio.sleep(0.1)
        runner.cancel()
        await sink.close(5)

    asyncio.run(main())
    (row,) = influxdb.rows('SELECT * FROM "kpi"')
    assert (row["apt_s"], row["effectiveness"]) == (0.0, None)
