from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from shopfloor import Plant, parse_plant

# the helper modules' asserts explain their failures as the tests' own do (pytest rewrites only test modules
# and conftest by itself); before anything imports them
pytest.register_assert_rewrite("tests.acme", "tests.pages", "tests.pipeline", "tests.processes", "tests.recording",
                                "tests.servers")

if TYPE_CHECKING:  # tests.pipeline imports this module
    from .pipeline import Run

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


from .servers import InfluxDB, Mosquitto, influxdb, mosquitto  # noqa: E402,F401 - fixtures


@pytest.fixture(scope="session")
def filled_influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InfluxDB, Run]]:
    """Eight hours of the Hangzhou plant through OPC UA, the edge, Mosquitto and the collector into a real
    InfluxDB, shared by the tests that read results (dashboards, the assessment report): (influxdb, run)."""
    import dataclasses

    from shopfloor import load_plant

    from .pipeline import PLANT, collector_config, run_pipeline  # here: it imports this module

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
