"""Grafana dashboards for the collector's InfluxDB: provisioning files and the payloads of a push.

- ``all_dashboards()``: the dashboard JSON models (fleet overview 车间总览, line drill-down,
  两化融合 indicators, energy), built in ``_definitions``; ``python -m dashboards`` writes them
  to ``dashboards/json/`` where Grafana's file provider (``dashboards/provisioning/``) loads them.
- ``datasource_body`` / ``push_requests``: what ``sfsim dashboards push`` sends to a running
  Grafana (pure functions: tested without a Grafana).

The datasource speaks InfluxQL to InfluxDB 1.8 (database + user/password), 2.x (its DBRP
mapping of the bucket, token in an ``Authorization`` header) and 3.x alike (docs/dashboards.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._definitions import all_dashboards
from ._panels import DATASOURCE_UID

__all__ = ["DATASOURCE_UID", "FOLDER_UID", "JSON_DIR", "GrafanaTarget", "Request", "all_dashboards",
           "datasource_body", "push_requests", "write_json"]

#: the committed dashboard files Grafana's file provider loads
JSON_DIR = Path(__file__).parent / "json"
FOLDER_UID = "sfsim"
FOLDER_TITLE = "智能工厂 Smart factory (sfsim)"


def write_json(directory: Path = JSON_DIR) -> list[Path]:
    """Write every dashboard as ``<uid>.json`` (stable formatting: the files are committed)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for d in all_dashboards():
        path = directory / f"{d['uid']}.json"
        path.write_text(json.dumps(d, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        out.append(path)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class GrafanaTarget:
    """Where the datasource points: InfluxDB's URL and database (1.x) or DBRP-mapped bucket (2.x)."""

    influx_url: str
    database: str = "factory"
    #: InfluxDB 1.x credentials
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    #: InfluxDB 2.x/3.x: an API token, sent as ``Authorization: Token …``
    token: str | None = field(default=None, repr=False)


def datasource_body(target: GrafanaTarget) -> dict[str, Any]:
    """The datasource as Grafana's HTTP API takes it (POST /api/datasources, PUT /api/datasources/uid/…)."""
    json_data: dict[str, Any] = {"dbName": target.database, "httpMode": "POST", "timeInterval": "10s"}
    secure: dict[str, str] = {}
    if target.token:
        json_data["httpHeaderName1"] = "Authorization"
        secure["httpHeaderValue1"] = f"Token {target.token}"
    body: dict[str, Any] = {"uid": DATASOURCE_UID, "name": "sfsim InfluxDB", "type": "influxdb", "access": "proxy",
                            "url": target.influx_url, "database": target.database, "jsonData": json_data,
                            "isDefault": False}
    if target.username:
        body["user"] = target.username
        body["basicAuth"] = False
        secure["password"] = target.password or ""
    if secure:
        body["secureJsonData"] = secure
    return body


@dataclass(frozen=True, slots=True)
class Request:
    """One call of a push: what it does (for the log), and its body."""

    what: str
    body: dict[str, Any]


def push_requests(target: GrafanaTarget, dashboards: list[dict[str, Any]] | None = None) -> list[Request]:
    """In order: the folder, the datasource, then each dashboard upserted (overwrite) into the folder."""
    out = [Request("folder", {"uid": FOLDER_UID, "title": FOLDER_TITLE}),
           Request("datasource", datasource_body(target))]
    for d in dashboards if dashboards is not None else all_dashboards():
        model = {k: v for k, v in d.items() if k != "id"} | {"id": None}
        out.append(Request(f"dashboard {d['uid']}", {"dashboard": model, "folderUid": FOLDER_UID, "overwrite": True,
                                                     "message": "sfsim dashboards push"}))
    return out
