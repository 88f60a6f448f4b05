"""两化融合 indicators from the asset register and from the telemetry that actually arrived."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector import Basis, Rate, fleet, from_birth, indicators, register
from shopfloor import PlantError, Region, load_plant, parse_plant, telemetry

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
        plate = telemetry.nameplate(at, signals=[], sample_period_ms=1000, origin=telemetry.Origin.SIMULATED)
        birth = telemetry.birth(plate, ts_ms=1, seq=0, session_ms=1)
        assert from_birth(birth) == entry


def test_targets_and_the_gap_to_each() -> None:
    from collector import gaps, targets

    wuhan = [t for t in targets("nc_rate") if t.scope == "Wuhan"]
    assert [(t.year, t.value) for t in wuhan] == [(2020, 0.80), (2025, 0.90)]
    assert all(t.verified and t.source == "武汉制造2025行动纲要" for t in wuhan)
    assert {t.indicator for t in targets()} == {"nc_rate", "digital_design_tools"}
    rate = indicators(register(load_plant(EXAMPLES / "wuhan-machining.yaml"))).nc_rate.value
    assert rate is not None
    wuhan_site = load_plant(EXAMPLES / "wuhan-machining.yaml").sites[0]
    by_label = {t.label_en: gap for t, gap in gaps(rate, "nc_rate", wuhan_site.region)}
    assert by_label["Wuhan 2025"] == pytest.approx(-0.40)  # 50 % against 90 %
    assert by_label["14th Five-Year Plan, 2025"] == pytest.approx(-0.18)


def test_a_site_is_compared_with_the_national_targets_and_its_own_regions_only(tmp_path: Path) -> None:
    from collector import gaps, load_targets

    hangzhou = load_plant(EXAMPLES / "hangzhou-electronics.yaml").sites[0]
    wuhan = load_plant(EXAMPLES / "wuhan-machining.yaml").sites[0]
    assert (str(hangzhou.region), str(wuhan.region)) == ("浙江省杭州市", "湖北省武汉市")
    national = {"mic2025-2020", "mic2025-2025", "fyp14-2025"}
    assert {t.id for t, _ in gaps(0.5, "nc_rate", hangzhou.region)} == national  # never Wuhan's
    assert {t.id for t, _ in gaps(0.5, "nc_rate", wuhan.region)} == national | {"wuhan-2020", "wuhan-2025"}
    assert {t.id for t, _ in gaps(0.5, "nc_rate", Region("湖北省", "襄阳市"))} == national  # Hubei, but not Wuhan
    assert {t.id for t, _ in gaps(0.5, "nc_rate", None)} == national  # where it is not said: national only
    # a user's file adds a province's targets, which apply to its cities
    mine = tmp_path / "targets.yaml"
    mine.write_text("- indicator: nc_rate\n  targets:\n    - {id: zj-2025, scope: Zhejiang, region: 浙江省, "
                    "label: {zh: 浙江 2025年目标, en: Zhejiang 2025}, year: 2025, value: 0.7, source: 浙江省规划}\n",
                    encoding="utf-8")
    extra = load_targets(mine)
    assert {t.id for t, _ in gaps(0.5, "nc_rate", hangzhou.region, extra=extra)} == national | {"zj-2025"}
    assert {t.id for t, _ in gaps(0.5, "nc_rate", wuhan.region, extra=extra)} == national | {"wuhan-2020",
                                                                                            "wuhan-2025"}
    mine.write_text("- indicator: nc_rate\n  targets:\n    - {id: x, scope: X, region: Zhejiang}\n",
                    encoding="utf-8")
    with pytest.raises(PlantError) as caught:
        load_targets(mine)
    assert str(caught.value.issues[0]).startswith(f"{mine}: [0].targets[0]: not a target: expected a province")
    # a percent where a fraction belongs would put every site 80 points short
    mine.write_text("- indicator: nc_rate\n  targets:\n    - {id: x, scope: X, label: {zh: x, en: x}, year: 2025, "
                    "value: 85, source: s}\n", encoding="utf-8")
    with pytest.raises(PlantError) as caught:
        load_targets(mine)
    assert str(caught.value.issues[0]) == (f"{mine}: [0].targets[0]: not a target: value 85 must be a fraction from 0 "
                                           "to 1 (0.68 for 68 %) (indicator, id, scope, label.zh/en, year, value, "
                                           "source)")


def test_a_sites_region_is_written_in_chinese_with_its_province() -> None:
    site = ("sites:\n  - id: s\n    region: {region}\n"
            "    lines: [{{id: L, machines: [{{id: M, kind: press, cycle_time: 1m}}]}}]\n")
    plant = parse_plant("enterprise: {id: e}\n" + site.format(region="{province: 湖北省, city: 襄阳市}"))
    assert plant.sites[0].region == Region("湖北省", "襄阳市")
    assert parse_plant("enterprise: {id: e}\n" + site.format(region="上海市")).sites[0].region == \
        Region("上海市", "上海市")
    with pytest.raises(PlantError) as caught:
        parse_plant("enterprise: {id: e}\n" + site.format(region="襄阳市"), source="p.yaml")
    assert [str(i) for i in caught.value.issues] == [
        "p.yaml:4: sites[0].region: expected a province and a city as written in Chinese (湖北省襄阳市, 浙江省杭州市, "
        "湖北省, 上海市), got '襄阳市'; give the province too"]
