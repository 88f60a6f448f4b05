"""``sfsim dashboards push``: the datasource and dashboards into a Grafana that already runs."""

from __future__ import annotations

import argparse
import os
import sys
import urllib.parse

from dashboards import DATASOURCE_UID, FOLDER_UID, GrafanaTarget, Request, push_requests
from shopfloor.config import show

from . import _logs
from ._exit import Exit


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("dashboards", help="Grafana dashboards (push to a running Grafana)")
    sub = p.add_subparsers(dest="dashboards_command", required=True, metavar="COMMAND")
    push = sub.add_parser(
        "push", help="create or update the InfluxDB datasource and the dashboards in a Grafana",
        description="Create or update, idempotently, the folder 'sfsim', the InfluxQL datasource (uid "
        f"{DATASOURCE_UID}) and the four dashboards (overwriting earlier versions). The token is a Grafana "
        "service account token with the Editor role (or SFSIM_GRAFANA_TOKEN). docker compose provisions the "
        "same from files instead (docs/dashboards.md).")
    push.add_argument("--grafana-url", required=True, metavar="URL", help="e.g. http://grafana.example:3000")
    push.add_argument("--token", default=os.environ.get("SFSIM_GRAFANA_TOKEN"),
                      help="Grafana service account token (default: $SFSIM_GRAFANA_TOKEN)")
    push.add_argument("--influx-url", default="http://localhost:8086", metavar="URL",
                      help="InfluxDB as Grafana's server reaches it (default %(default)s)")
    push.add_argument("--influx-database", default="factory", metavar="NAME",
                      help="1.x database, or the 2.x bucket's DBRP database (default %(default)s)")
    push.add_argument("--influx-token", default=os.environ.get("SFSIM_INFLUX_TOKEN"),
                      help="InfluxDB 2.x/3.x API token (default: $SFSIM_INFLUX_TOKEN)")
    push.add_argument("--influx-username", help="InfluxDB 1.x user")
    push.add_argument("--influx-password", default=os.environ.get("SFSIM_INFLUX_PASSWORD"),
                      help="InfluxDB 1.x password (default: $SFSIM_INFLUX_PASSWORD)")
    push.set_defaults(run=run_push)


def _is_http(url: str) -> bool:
    """``http[s]://host[:port][/path]``; user and password may come with a Grafana URL (grafana-client sends them)."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def run_push(args: argparse.Namespace) -> int:
    from grafana_client.api import GrafanaApi
    from grafana_client.client import GrafanaClientError, GrafanaException

    if not args.token:
        print("sfsim dashboards push: --token (or SFSIM_GRAFANA_TOKEN) is required", file=sys.stderr)
        return Exit.INPUT
    target = GrafanaTarget(influx_url=args.influx_url, database=args.influx_database, token=args.influx_token,
                           username=args.influx_username, password=args.influx_password)
    _logs.remember(target, args.token)
    for option, url in (("--grafana-url", args.grafana_url), ("--influx-url", args.influx_url)):
        if not _is_http(url):
            print(f"sfsim dashboards push: {option}: expected http://host:port or https://host:port, got {show(url)}",
                  file=sys.stderr)
            return Exit.INPUT
    api = GrafanaApi.from_url(args.grafana_url, credential=args.token, timeout=15.0)

    def missing(error: GrafanaClientError) -> bool:
        return bool(error.status_code == 404)

    def send(r: Request) -> str:
        if r.what == "folder":
            try:
                api.folder.get_folder(FOLDER_UID)
                return "exists"
            except GrafanaClientError as e:
                if not missing(e):
                    raise
            api.folder.create_folder(r.body["title"], uid=FOLDER_UID)
            return "created"
        if r.what == "datasource":
            try:
                api.datasource.get_datasource_by_uid(DATASOURCE_UID)
            except GrafanaClientError as e:
                if not missing(e):
                    raise
                api.datasource.create_datasource(r.body)
                return "created"
            api.datasource.update_datasource_by_uid(DATASOURCE_UID, r.body)
            return "updated"
        api.dashboard.update_dashboard(r.body)
        return "created or updated"

    for r in push_requests(target):
        try:
            outcome = send(r)
        except (GrafanaException, OSError) as e:
            print(_logs.scrub(f"sfsim dashboards push: {args.grafana_url}: {r.what}: {e}"), file=sys.stderr)
            return Exit.FAILED
        print(f"{r.what}: {outcome}")
    return Exit.OK
