"""Exercises scored against the truth: a student who computes from the data given gets every answer right, one
off by more than the stated tolerance is wrong, and the same seed and team give the same exercise again."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from classroom import Classroom, exercises, instance, team_seed
from classroom._exercise import Answer, Field, Words
from collector import indicators, register
from sfsim import main
from sfsim._whatif import run_figures, upgrade_events, upgrade_to
from shopfloor import load_plant

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
WUHAN = load_plant(EXAMPLES / "wuhan-machining.yaml")


def _by_kind(team: str = "A", seed: int = 7) -> dict[str, dict[str, object]]:
    return {e.kind: {"exercise": e, "tables": {t.file: t for t in e.tables}}
            for e in exercises(WUHAN, team_seed(seed, team))}


def _rows(table: object) -> dict[str, float]:
    return {str(r[0]): float(r[1]) for r in table.rows}  # type: ignore[attr-defined]


def test_an_oee_worked_from_the_data_given_is_marked_right_and_is_the_truth_of_the_shift() -> None:
    e = _by_kind()["oee"]
    exercise, tables = e["exercise"], e["tables"]
    times, counts = _rows(tables["times.csv"]), _rows(tables["counts.csv"])  # type: ignore[index]
    # what a student does with the three tables, by ISO 22400-2
    pbt = times.pop("班次时长 shift length") - times.pop(
        "计划停机（休息、计划维护） planned down (breaks, planned maintenance)")
    apt = pbt - sum(times.values())
    ideal = sum(float(c) * int(n) for _, c, n in tables["products.csv"].rows)  # type: ignore[index]
    made, good = counts["加工件数 parts made"], counts["合格品 good"]
    a, p, q = apt / pbt, ideal / apt, good / made
    answers = {"availability": f"{100 * a:.1f}", "performance": f"{100 * p:.1f} %", "quality": f"{100 * q:.1f}",
               "oee": f"{100 * a * p * q:.1f}"}
    assert all(m.correct for m in exercise.mark(answers)), exercise.mark(answers)  # type: ignore[attr-defined]
    # and the truth it is marked against is the simulator's own for that machine and shift
    expected = {f.key: f.expected for f in exercise.fields}  # type: ignore[attr-defined]
    assert expected["oee"] == pytest.approx(a * p * q, abs=1e-4)


def test_an_answer_is_right_within_the_stated_tolerance_and_wrong_beyond_it() -> None:
    field = Field("oee", Words("OEE", "OEE"), Answer.PERCENT, 0.729, 0.5)
    assert field.mark("72.9").correct and field.mark("72.4 %").correct and field.mark("73,4").correct
    assert not field.mark("72.3").correct and not field.mark("0.729").correct
    assert field.mark("七十").note == Words("不是数字", "not a number")
    assert field.mark("").note == Words("未作答", "not answered")
    assert field.mark("nan").note == Words("不是数字", "not a number")
    choice = Field("station", Words("瓶颈", "constraint"), Answer.CHOICE, "WH-M02",
                   choices=(("WH-M02", Words("卧加", "HMC")), ("WH-X01", Words("铣床", "mill"))))
    assert choice.mark("WH-M02").correct and not choice.mark("WH-X01").correct
    assert choice.mark("WH-Q01").note == Words("不是可选项之一", "not one of the choices")


def test_the_constraint_is_the_station_with_the_longest_cycle_over_the_order_mix() -> None:
    e = _by_kind()["constraint"]
    exercise, tables = e["exercise"], e["tables"]
    orders = {str(p): int(q) for p, q in tables["orders.csv"].rows}  # type: ignore[index]
    stations = tables["stations.csv"]  # type: ignore[index]
    products = [c.en.split(" ")[0] for c in stations.columns[2:]]
    mean = {str(r[0]): sum(orders[p] * float(c) for p, c in zip(products, r[2:], strict=True)) / sum(orders.values())
            for r in stations.rows}
    slowest = max(reversed(list(mean)), key=mean.__getitem__)
    assert exercise.mark({"station": slowest})[0].correct  # type: ignore[attr-defined]
    line = next(line for s in WUHAN.sites for a in s.areas for line in a.lines
                if line.machines[0].id == stations.rows[0][0])
    assert slowest == line.constraint.id


def test_the_nc_rate_counted_from_the_register_given_is_the_collectors() -> None:
    e = _by_kind()["nc_rate"]
    exercise, register_rows = e["exercise"], e["tables"]["register.csv"].rows  # type: ignore[index]
    key = [r for r in register_rows if r[3] == "是 yes" and r[5] == "否 no"]
    # discrete industry: NC, CNC and robot controllers count; a PLC-controlled station does not
    nc = [r for r in key if str(r[4]).endswith(("(NC)", "(CNC)", "robot controller"))]
    assert any("PLC" in str(r[4]) for r in key)
    assert (len(key), len(nc)) == (8, 4)  # the Wuhan example's 4 of 8
    marks = exercise.mark({"denominator": "8", "numerator": "4", "rate": "50.0"})  # type: ignore[attr-defined]
    assert all(m.correct for m in marks)
    assert indicators(register(WUHAN)).nc_rate.value == 0.5


def _shows(kind: str, during: list[dict[str, Any]], before: dict[str, Any]) -> bool:
    """Whether the hours of a fault show it as its exercise's solution says they do."""
    total = {k: sum(w["reasons_s"].get(k, 0.0) for w in during) for k in ("breakdown", "setup", "starved", "producing")}
    made, scrap = sum(w["PQ"] for w in during), sum(w["SQ"] for w in during)
    span = sum(w["calendar_s"] for w in during)
    pace_before = before["PQ"] / before["reasons_s"]["producing"] if before["reasons_s"].get("producing") else None
    signs: dict[str, Callable[[], bool]] = {
        "breakdown": lambda: total["breakdown"] >= span / 3, "changeover": lambda: total["setup"] >= span / 3,
        "material_shortage": lambda: total["starved"] >= span / 3,
        "micro_stop_storm": lambda: sum(w["micro_stops"] for w in during)
        >= 3 * before["micro_stops"] * len(during) + 5,
        "speed_loss": lambda: pace_before is not None and made < 0.8 * pace_before * total["producing"],
        "quality_drift": lambda: made >= 10 and scrap >= 0.15 * made}
    return signs[kind]()


@pytest.mark.slow
@pytest.mark.parametrize("plant", ["wuhan-machining", "hangzhou-electronics", "ezhou-process"])
def test_the_fault_to_name_is_the_truths_and_shows_in_the_hours_given(plant: str) -> None:
    model = load_plant(EXAMPLES / f"{plant}.yaml")
    seen = set()
    for seed in range(20):
        run = instance(model, seed)
        (injected,) = run.truth["injected"]
        assert injected["kind"] == run.fault.kind
        seen.add(run.fault.kind)
        hours = next(m for m in run.truth["machines"] if m["path"] == run.shown.path)["windows"]["hour"]
        first = next(k for k, w in enumerate(hours) if w["end_ms"] > injected["start_ms"])
        during = [w for w in hours[first:] if w["start_ms"] < injected["end_ms"]]
        assert first > 0 and all(w["planned_down_s"] == 0 for w in during[:1]), (seed, injected)
        assert _shows(run.fault.kind, during, hours[first - 1]), (seed, run.fault.kind, run.shown.machine.id)
    assert len(seen) >= 4  # a class of twenty meets most kinds


def test_the_upgrade_is_the_what_ifs_and_its_effect_is_the_upgraded_runs() -> None:
    exercise = _by_kind()["upgrade"]["exercise"]
    expected = {f.key: f.expected for f in exercise.fields}  # type: ignore[attr-defined]
    paths = upgrade_to(WUHAN, 0.64)["wuhan-edz"]  # 中国制造2025's 64 %: the lowest target Wuhan misses
    assert expected["machines"] == len(paths) == 2
    after = run_figures(WUHAN, upgrade_events(WUHAN, paths), seed=1, duration_s=3600).sites[0]
    assert expected["nc_rate"] == after.nc_rate.value == 0.75
    assert expected["digitization"] == after.digitization.value


def test_the_same_seed_and_team_give_the_same_exercises_and_two_teams_differ() -> None:
    assert exercises(WUHAN, team_seed(7, "A")) == exercises(WUHAN, team_seed(7, "A"))
    assert _by_kind("A")["oee"]["exercise"] != _by_kind("B")["oee"]["exercise"]
    assert team_seed(7, "A") != team_seed(8, "A")


def test_a_class_marks_an_exercise_once_keeps_teams_apart_and_records_every_answer(tmp_path: Path) -> None:
    record = tmp_path / "results.jsonl"
    room = Classroom(WUHAN, 7, record=record)
    a = next(e for e in room.exercises("A") if e.kind == "constraint")
    b = next(e for e in room.exercises("B") if e.kind == "constraint")
    right = {f.key: f.expected for f in a.fields}
    assert room.answer("A", a.number, right).correct == 1
    with pytest.raises(ValueError, match="team A answered it already; the first answer stands"):
        room.answer("A", a.number, right)
    assert room.answer("B", b.number, {"station": "nowhere"}).correct == 0
    with pytest.raises(ValueError, match="team A has exercises 1 to 5, not 9"):
        room.answer("A", 9, {})
    rows = list(csv.DictReader(io.StringIO(room.csv().removeprefix("\ufeff"))))
    assert [(r["team"], r["correct"]) for r in rows] == [("A", "yes"), ("B", "no")]
    assert [json.loads(line)["team"] for line in record.read_text(encoding="utf-8").splitlines()] == ["A", "B"]
    assert room.sheet("A")["exercises"][a.number - 1]["marked"]["correct"] == 1
    assert room.sheet("B")["exercises"][a.number - 1]["marked"]["correct"] == 0


@pytest.mark.parametrize("name", ["", "  ", "a/b", "CON:", "x" * 41, "tab\there"])
def test_a_team_name_that_cannot_name_a_folder_anywhere_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=r"^team: "):
        Classroom(WUHAN, 1).exercises(name)


def test_sfsim_exercise_writes_the_same_sheets_twice_and_marks_a_filled_one(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    plant = str(EXAMPLES / "wuhan-machining.yaml")
    for out in ("one", "two"):
        assert main(["exercise", plant, "--seed", "3", "--team", "红队", "--team", "B", "--solutions",
                     "--out", str(tmp_path / out)]) == 0
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    assert Path("红队/exercises.md") in files and Path("B/1-times.csv") in files
    assert all((tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes() for f in files)
    sheet = tmp_path / "one" / "红队" / "answers.csv"
    rows = list(csv.reader(sheet.open(encoding="utf-8-sig", newline="")))
    truth = {(str(e.number), f.key): f for e in Classroom(load_plant(plant), 3).exercises("红队") for f in e.fields}
    for row in rows[1:]:
        f = truth[(row[1], row[2])]
        row[3] = f"{100 * float(f.expected):.1f}" if f.answer is Answer.PERCENT else str(f.expected)
    rows[1][3] = "12"  # one wrong answer: exercise 1's availability
    with sheet.open("w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(rows)
    capsys.readouterr()
    assert main(["exercise", plant, "--seed", "3", "--mark", str(sheet), "--out", str(tmp_path / "marked")]) == 0
    said = capsys.readouterr().out
    assert "红队 · 1. oee: 3 / 4" in said and "红队 · 2. constraint: 1 / 1" in said
    results = list(csv.DictReader((tmp_path / "marked" / "results.csv").open(encoding="utf-8-sig")))
    assert sum(r["correct"] == "no" for r in results) == 1 and len(results) == len(rows) - 1


def test_a_bad_cell_of_an_answer_sheet_is_named_by_file_row_and_column(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    sheet = tmp_path / "answers.csv"
    sheet.write_text("team,exercise,field,answer\nA,1,oee,60\nA,one,oee,60\n", encoding="utf-8")
    assert main(["exercise", str(EXAMPLES / "wuhan-machining.yaml"), "--mark", str(sheet)]) == 2
    assert capsys.readouterr().err.strip() == (f"sfsim exercise: {sheet}: row 3, column exercise: expected the "
                                               "exercise's number, got 'one'")
