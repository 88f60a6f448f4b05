"""What-if: the plant as it is and as changed, with the same random streams; the fewest upgrades to an NC rate.

The Wuhan example has 8 key-process machines, 4 of them under NC (the CNC lathe, the two
machining centres, the welding robot). Not under NC, in the plant file's order: the
conventional lathe WH-L01 (brake-disc line), the conventional mill WH-X01 (gearbox line), the
PLC press WH-P01 and the manual welding station WH-W01 (axle-weld line). 80 % of 8 is 6.4, so
7 are needed: 3 upgrades; 90 % is 7.2, so 8: all 4.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sfsim._whatif import run_figures, set_events, upgrade_events, upgrade_to
from sfsim._whatif_command import target_rate
from shopfloor import load_plant

from .processes import sfsim

WUHAN = Path(__file__).parent.parent / "examples" / "wuhan-machining.yaml"
SITE = "wuhan-auto-parts/wuhan-edz"
plant = load_plant(WUHAN)


def ids(paths: list[str]) -> list[str]:
    return [p.rsplit("/", 1)[1] for p in paths]


def test_the_fewest_upgrades_to_80_and_90_percent_are_the_hand_computed_ones() -> None:
    assert {s: ids(p) for s, p in upgrade_to(plant, 0.8).items()} == {"wuhan-edz": ["WH-L01", "WH-X01", "WH-P01"]}
    assert {s: ids(p) for s, p in upgrade_to(plant, 0.9).items()} == {
        "wuhan-edz": ["WH-L01", "WH-X01", "WH-P01", "WH-W01"]}
    assert upgrade_to(plant, 0.5) == {}  # already there: 4 of 8
    after = run_figures(plant, upgrade_events(plant, upgrade_to(plant, 0.8)["wuhan-edz"]), seed=1, duration_s=3600)
    assert (after.sites[0].nc_rate.numerator, after.sites[0].nc_rate.denominator) == (7, 8)


@pytest.mark.slow
def test_a_change_that_moves_no_time_leaves_every_machine_of_the_run_exactly_as_it_was() -> None:
    base = run_figures(plant, [], seed=3, duration_s=8 * 3600)
    upgraded = run_figures(plant, set_events(plant, ["WH-X01.control=cnc", "WH-X01.digital=true"]), seed=3,
                           duration_s=8 * 3600)
    assert upgraded.machines == base.machines  # the same random streams: identical truth
    assert upgraded.sites[0].nc_rate.numerator == base.sites[0].nc_rate.numerator + 1


@pytest.mark.slow
def test_a_change_on_one_line_leaves_the_other_lines_exactly_as_they_were() -> None:
    base = run_figures(plant, [], seed=3, duration_s=8 * 3600)
    faster = run_figures(plant, set_events(plant, ["WH-C01.mttr=2m", "WH-C01.scrap_rate=0.05"]), seed=3,
                         duration_s=8 * 3600)
    for path, row in base.machines.items():
        if "/brake-disc/" not in path:
            assert faster.machines[path] == row, path
    assert faster.machines[f"{SITE}/machining/brake-disc/WH-C01"] != base.machines[
        f"{SITE}/machining/brake-disc/WH-C01"]


@pytest.mark.slow
def test_targets_by_share_or_by_id_and_what_a_user_sees_for_a_bad_one() -> None:
    assert target_rate("nc_rate=0.9") == 0.9
    assert target_rate("wuhan-2025") == 0.9
    run = sfsim("whatif", str(WUHAN), "--target", "wuhan-2030")
    assert run.returncode == 2
    assert run.stderr.strip() == ("sfsim whatif: --target 'wuhan-2030': no such NC-rate target; the targets file has "
                                  "mic2025-2020, mic2025-2025, fyp14-2025, wuhan-2020, wuhan-2025")
    run = sfsim("whatif", str(WUHAN), "--set", "WH-L01.colour=red")
    assert run.returncode == 2
    assert run.stderr.strip() == "--set WH-L01.colour=red: event.set.colour: unknown field 'colour'"


@pytest.mark.slow
def test_whatif_prints_both_runs_and_writes_the_comparison(tmp_path: Path) -> None:
    out = tmp_path / "whatif.json"
    run = sfsim("whatif", str(WUHAN), "--target", "wuhan-2020", "--duration", "2h", "--json", str(out))
    assert run.returncode == 0, run.stderr
    assert "wuhan-edz: upgrade 3 key-process machine(s) to NC to reach 80.0 %: WH-L01, WH-X01, WH-P01" in run.stdout
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["target"] == 0.8 and [len(v) for v in document["upgrades"].values()] == [3]
    assert document["baseline"]["sites"][0]["nc_rate"] == {"value": 0.5, "numerator": 4, "denominator": 8}
    assert document["changed"]["sites"][0]["nc_rate"] == {"value": 0.875, "numerator": 7, "denominator": 8}
