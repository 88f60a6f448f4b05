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
