"""The Grafana dashboards: their JSON, and every panel query run against a real InfluxDB.

No Grafana can be installed here: the queries are run as Grafana would run them, with the
variables substituted (a multi-value variable becomes a regex alternation), against the
InfluxDB a short simulated run through the collector filled (``filled_influxdb``, conftest.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import dashboards
from dashboards import DATASOURCE_UID, GrafanaTarget, all_dashboards, datasource_body, push_requests

from .pipeline import Run
from .servers import InfluxDB

ROOT = Path(__file__).resolve().parents[1]
BUILTINS = {"timeFilter", "__interval", "__all"}


def panels() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for d in all_dashboards():
        for p in d["panels"]:
            yield d, p


def variables_used(text: str) -> set[str]:
    return set(re.findall(r"\$(\w+)", text)) | set(re.findall(r"\$\{(\w+)", text))


def test_uids_are_unique_and_the_committed_files_are_the_definitions() -> None:
    boards = all_dashboards()
    assert len({d["uid"] for d in boards}) == len(boards) == 4
    for d in boards:
        assert [p["id"] for p in d["panels"]] == list(range(1, len(d["panels"]) + 1)), d["uid"]
        committed = json.loads((dashboards.JSON_DIR / f"{d['uid']}.json").read_text(encoding="utf-8"))
        assert committed == d, f"dashboards/json/{d['uid']}.json is stale: run python -m dashboards"
    assert sorted(p.name for p in dashboards.JSON_DIR.iterdir()) == sorted(f"{d['uid']}.json" for d in boards)


def test_every_panel_has_a_query_on_the_provisioned_datasource_and_its_variables_exist() -> None:
    provisioned = yaml.safe_load((ROOT / "dashboards/provisioning/datasources/sfsim.yaml").read_text("utf-8"))
    assert [d["uid"] for d in provisioned["datasources"]] == [DATASOURCE_UID]
    for d, p in panels():
        where = f"{d['uid']} panel {p['id']} {p['title']!r}"
        assert p["datasource"] == {"type": "influxdb", "uid": DATASOURCE_UID}, where
        assert p["targets"], where
        defined = {v["name"] for v in d["templating"]["list"]}
        for t in p["targets"]:
            assert t["datasource"]["uid"] == DATASOURCE_UID and t["rawQuery"], where
            assert t["query"].startswith("SELECT "), where
            assert variables_used(t["query"]) <= defined | BUILTINS, where
        # the title and every label a reader sees are bilingual
        assert re.search(r"[\u4e00-\u9fff]", p["title"]) and re.search(r"[A-Za-z]", p["title"]), where
    for d in all_dashboards():
        assert re.search(r"[\u4e00-\u9fff]", d["title"]) and re.search(r"[A-Za-z]", d["title"])
        for v in d["templating"]["list"]:
            assert v["datasource"]["uid"] == DATASOURCE_UID and v["query"].startswith("SHOW TAG VALUES")
            earlier = {w["name"] for w in d["templating"]["list"][:d["templating"]["list"].index(v)]}
            assert variables_used(v["query"]) <= earlier, (d["uid"], v["name"])


def test_the_push_payloads() -> None:
    target = GrafanaTarget(influx_url="http://influxdb:8086", database="factory", token="s3cret")
    requests = push_requests(target)
    assert [r.what for r in requests] == ["folder", "datasource", "dashboard sfsim-fleet", "dashboard sfsim-line",
                                          "dashboard sfsim-lianghua", "dashboard sfsim-energy"]
    assert requests[0].body == {"uid": "sfsim", "title": "智能工厂 Smart factory (sfsim)"}
    ds = requests[1].body
    assert ds == datasource_body(target)
    assert (ds["uid"], ds["type"], ds["url"], ds["jsonData"]["dbName"]) == (DATASOURCE_UID, "influxdb",
                                                                              "http://influxdb:8086", "factory")
    assert ds["jsonData"]["httpHeaderName1"] == "Authorization"
    assert ds["secureJsonData"] == {"httpHeaderValue1": "Token s3cret"}
    for r, d in zip(requests[2:], all_dashboards(), strict=True):
        assert r.body["overwrite"] is True and r.body["folderUid"] == "sfsim"
        assert r.body["dashboard"]["uid"] == d["uid"] and r.body["dashboard"]["id"] is None
        assert r.body["dashboard"]["panels"] == d["panels"]
    v1 = datasource_body(GrafanaTarget(influx_url="http://db:8086", username="grafana", password="pw"))
    assert v1["user"] == "grafana" and v1["secureJsonData"] == {"password": "pw"}
    assert "httpHeaderName1" not in v1["jsonData"]


# ---------------------------------------------------------------- against a real InfluxDB


def columns_of(query: str) -> list[str]:
    """The outer SELECT's column names: each ``AS "alias"``, or the bare ``"field"``."""
    depth, start, items = 0, len("SELECT "), []
    for i, ch in enumerate(query):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and i >= start and (ch == "," or query.startswith(" FROM ", i)):
            items.append(query[start:i].strip())
            start = i + 1
            if ch != ",":
                break
    names = []
    for item in items:
        m = re.search(r'AS "(\w+)"$', item) or re.fullmatch(r'"(\w+)"', item)
        assert m, f"{item!r} in {query!r} has no name"
        names.append(m.group(1))
    return names


def substitute(query: str, values: dict[str, list[str]], run: Run) -> str:
    start = round(run.sim.start_epoch * 1000)
    end = round((run.sim.start_epoch + run.sim.now) * 1000) + 1
    out = query.replace("$timeFilter", f"time >= {start}ms AND time <= {end}ms").replace("$__interval", "5m")
    for name, chosen in values.items():  # "All": Grafana's regex alternation of every value
        out = out.replace(f"${name}", "(" + "|".join(re.escape(v) for v in chosen) + ")")
    return out


def resolve(board: dict[str, Any], influx: InfluxDB, run: Run) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for v in board["templating"]["list"]:
        series = influx.query(substitute(v["query"], values, run))
        values[v["name"]] = sorted({row[1] for s in series for row in s["values"]})
        assert values[v["name"]], f"{board['uid']}: variable {v['name']} has no values"
    return values


@pytest.mark.integration
def test_every_panel_query_returns_data_with_its_columns(filled_influxdb: tuple[InfluxDB, Run]) -> None:
    influx, run = filled_influxdb
    empty = []
    for board in all_dashboards():
        values = resolve(board, influx, run)
        for p in board["panels"]:
            for t in p["targets"]:
                query = substitute(t["query"], values, run)
                series = influx.query(query)
                where = f"{board['uid']} / {p['title']}: {query}"
                if not series:
                    empty.append(where)
                    continue
                wanted = columns_of(t["query"])
                for s in series:
                    assert s["columns"] == ["time", *wanted], where
                if not any(v is not None for s in series for row in s["values"] for v in row[1:]):
                    empty.append(where)
    assert not empty, "panels without data:\n" + "\n".join(empty)


@pytest.mark.integration
def test_the_indicator_panels_show_the_collectors_values(filled_influxdb: tuple[InfluxDB, Run]) -> None:
    influx, run = filled_influxdb
    engine = run.collectors[0].engine
    assert engine is not None and engine.now_ms is not None
    rolling = engine.rolling_window(engine.now_ms)
    rates = {(s.level, s.unit): s.indicators for s in engine.digitization(round(rolling.start * 1000),
                                                                           engine.now_ms + 1)}
    board = next(d for d in all_dashboards() if d["uid"] == "sfsim-lianghua")
    values = resolve(board, influx, run)
    shown = {p["title"]: influx.rows(substitute(p["targets"][0]["query"], values, run)) for p in board["panels"]}
    (now,) = shown["两化融合指标（当前）Indicators now"]
    site = rates[("site", "hangzhou-electronics/hz-binjiang")]
    assert now["site"] == "hz-binjiang"
    for name in ("nc_rate", "digitization", "networking_declared", "networking_measured"):
        assert now[name] == getattr(site, name).value, name
    # the plant file's register: 8 of 10 key-process machines under NC
    assert (site.nc_rate.numerator, site.nc_rate.denominator) == (8, 10)
    evidence = {r["level"]: r for r in shown["依据 Evidence"]}
    assert (evidence["site"]["nc_num"], evidence["site"]["nc_den"]) == (8, 10)
    assert evidence["site"]["networked_measured"] == site.networking_measured.numerator
    assert evidence["site"]["equipment"] == site.networking_measured.denominator
    (fleet,) = shown["全域 Fleet"]
    enterprise = rates[("enterprise", "hangzhou-electronics")]
    assert fleet["nc_rate_mean"] == fleet["nc_rate_weighted"] == enterprise.nc_rate.value  # one enterprise
    targets = {(r["indicator"], r["scope"]) for r in shown["目标 Targets"]}
    assert ("nc_rate", "China") in targets and ("nc_rate", "Wuhan") in targets
