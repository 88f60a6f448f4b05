"""``python -m dashboards``: write the dashboard JSON files Grafana provisions (after changing a definition)."""

from . import write_json

for written in write_json():
    print(written)
