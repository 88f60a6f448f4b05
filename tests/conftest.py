from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shopfloor import Plant, parse_plant

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

#: a calendar with no breaks and no days off, for tests that want plain arithmetic
ROUND_THE_CLOCK = """
    calendar:
      shifts: [{id: D, start: "00:00", end: "24:00"}]
      non_working_days: []
"""


def plant_from(yaml_text: str, source: str = "test.yaml") -> Plant:
    return parse_plant(textwrap.dedent(yaml_text), source=source)


def one_line(machines: str, *, calendar: str = ROUND_THE_CLOCK, extra_site: str = "") -> Plant:
    """A one-site, one-line plant; ``machines`` is the YAML list body, indented by 10 spaces."""
    text = (
        "enterprise: {id: t}\n"
        "sites:\n"
        "  - id: s\n"
        + textwrap.indent(textwrap.dedent(calendar).strip("\n"), "    ")
        + "\n"
        + extra_site
        + "    lines:\n"
        "      - id: L\n"
        "        machines:\n" + textwrap.indent(textwrap.dedent(machines).strip("\n"), "          ") + "\n"
    )
    return parse_plant(text, source="test.yaml")


@pytest.fixture
def examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


from .servers import influxdb, mosquitto  # noqa: E402,F401 - fixtures


@pytest.fixture(scope="session")
def filled_influxdb(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Eight hours of the Hangzhou plant through OPC UA, the edge, Mosquitto and the collector into a real
    InfluxDB, shared by the tests that read results (dashboards, the assessment report): (influxdb, run)."""
    import dataclasses

    from shopfloor import load_plant

    from .servers import InfluxDB, Mosquitto
    from .test_collector_pipeline import PLANT, collector_config, run_pipeline

    tmp = tmp_path_factory.mktemp("filled")
    broker, influx = Mosquitto(tmp), InfluxDB(tmp / "influxdb")
    broker.start()
    influx.start()
    try:
        config = collector_config(broker, influx, tmp, load_plant(PLANT))
        # a one-second alarm threshold: the run ends with stations starved or blocked, in alarm for the panel
        config = dataclasses.replace(config, kpi=dataclasses.replace(config.kpi, alarm_after_s=1))
        # seed 10: four of the networked machines break down in these eight hours (MTBF/MTTR have values)
        yield influx, run_pipeline(broker, influx, tmp, span_s=8 * 3600, wall_s=10, configs=[config], seed=10)
    finally:
        influx.stop()
        broker.stop()
