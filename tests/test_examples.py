"""The three example plants look like real ones: distinct NC rates and plausible OEE."""

from __future__ import annotations

import pytest

from shopfloor import load_plant
from simulator import Simulation

from .conftest import EXAMPLES


@pytest.mark.parametrize(
    ("example", "nc_rate"),
    [("wuhan-machining", 0.5), ("hangzhou-electronics", 0.8), ("ezhou-process", 0.9)],
)
def test_declared_key_process_nc_rate(example: str, nc_rate: float) -> None:
    plant = load_plant(EXAMPLES / f"{example}.yaml")
    key = [m for m in plant.machines() if m.machine.key_process]
    nc = [m for m in key if m.site.is_nc(m.machine.control)]
    assert len(nc) / len(key) == nc_rate


@pytest.mark.parametrize("example", ["wuhan-machining", "hangzhou-electronics", "ezhou-process"])
def test_line_oee_over_a_week_looks_like_a_real_plant(example: str) -> None:
    sim = Simulation(load_plant(EXAMPLES / f"{example}.yaml"), seed=1)
    sim.run(7 * 86400)
    for line in sim.truth()["lines"]:
        assert 0.50 <= line["oee"] <= 0.85, line
        assert line["output"] > 0


def test_examples_mix_protocols_and_unconnected_equipment() -> None:
    for path in EXAMPLES.glob("*.yaml"):
        machines = [m.machine for m in load_plant(path).machines()]
        protocols = {m.protocol.value for m in machines}
        assert "opcua" in protocols and "none" in protocols, path
        assert any(not m.networked for m in machines) and any(m.networked for m in machines)
