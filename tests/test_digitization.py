"""两化融合 indicators from the asset register and from the telemetry that actually arrived."""

from __future__ import annotations

import pytest

from collector import Basis, Rate, fleet, from_birth, indicators, register
from shopfloor import load_plant, telemetry

from .conftest import EXAMPLES, one_line

EXAMPLE_NC = {"wuhan-machining.yaml": (4, 8), "hangzhou-electronics.yaml": (8, 10), "ezhou-process.yaml": (9, 10)}


@pytest.mark.parametrize(("name", "expected"), EXAMPLE_NC.items())
def test_the_examples_key_process_nc_rates(name: str, expected: tuple[int, int]) -> None:
    # the figures the example files state in their headers (Ezhou is process industry: DCS/PLC count)
    got = indicators(register(load_plant(EXAMPLES / name))).nc_rate
    assert (got.numerator, got.denominator) == expected


def test_networking_declared_beside_measured() -> None:
    equipment = register(load_plant(EXAMPLES / "wuhan-machining.yaml"))
    declared = [e for e in equipment if e.networked]
    silent = declared[0].path  # declared networked, yet nothing arrived from it
    seen = {e.path for e in declared if e.path != silent}
    ind = indicators(equipment, seen)
    n = len(equipment)
    assert ind.networking_declared == Rate(len(declared), n)
    assert ind.networking_measured == Rate(len(declared) - 1, n)  # the silent machine still counts below
    digital = [e for e in equipment if e.digital]
    assert ind.digitization == Rate(len(digital), n)
    assert ind.digital_networking_measured == Rate(sum(e.path in seen for e in digital), len(digital))


def test_counting_by_process_instead_of_by_equipment() -> None:
    plant = one_line("""
        - {id: A1, kind: cnc_lathe, key_process: true, process: turning, cycle_time: 60s}
        - {id: A2, kind: conventional_lathe, key_process: true, process: turning, cycle_time: 60s}
        - {id: B1, kind: cnc_machining_center, key_process: true, process: milling, cycle_time: 60s}
        - {id: C1, kind: manual_inspection, key_process: false, process: inspection, cycle_time: 60s}
    """)
    equipment = register(plant)
    assert indicators(equipment).nc_rate == Rate(2, 3)  # two of three key-process machines
    by_process = indicators(equipment, basis=Basis.PROCESS).nc_rate
    assert by_process == Rate(1, 2)  # milling is NC; turning is not, one of its machines is manual


def test_a_fleet_is_the_mean_of_its_enterprises_and_also_pooled() -> None:
    rates = [indicators(register(load_plant(EXAMPLES / name))).nc_rate for name in EXAMPLE_NC]
    f = fleet([*rates, Rate(0, 0)])  # an enterprise with no key process is left out
    assert f.enterprises == 3
    assert f.mean_of_enterprises == pytest.approx((0.5 + 0.8 + 0.9) / 3)
    assert f.equipment_weighted == pytest.approx(21 / 28)


def test_a_birth_carries_the_register_entry() -> None:
    plant = load_plant(EXAMPLES / "ezhou-process.yaml")
    for at, entry in zip(plant.machines(), register(plant), strict=True):
        birth = telemetry.birth(telemetry.nameplate(at, signals=[], sample_period_ms=1000), ts_ms=1, seq=0,
                                session_ms=1)
        assert from_birth(birth) == entry


def test_targets_and_the_gap_to_each() -> None:
    from collector import gaps, targets

    wuhan = [t for t in targets("nc_rate") if t.scope == "Wuhan"]
    assert [(t.year, t.value) for t in wuhan] == [(2020, 0.80), (2025, 0.90)]
    assert all(t.verified and t.source == "武汉制造2025行动纲要" for t in wuhan)
    assert {t.indicator for t in targets()} == {"nc_rate", "digital_design_tools"}
    rate = indicators(register(load_plant(EXAMPLES / "wuhan-machining.yaml"))).nc_rate.value
    assert rate is not None
    by_label = {t.label_en: gap for t, gap in gaps(rate, "nc_rate")}
    assert by_label["Wuhan 2025"] == pytest.approx(-0.40)  # 50 % against 90 %
    assert by_label["14th Five-Year Plan, 2025"] == pytest.approx(-0.18)
