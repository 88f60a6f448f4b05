"""``sfsim exercise``: a class's exercises as files (a sheet and its data per team, the solutions for the
teacher), and a filled answer sheet marked against the truth."""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

from classroom import Classroom, Exercise, Marked, results_csv, team_name
from shopfloor import PlantError, load_plant

from ._console import print_issues
from ._exit import Exit

#: the columns of an answer sheet (``answers.csv``, written with the exercises, filled in by the team)
ANSWER_COLUMNS = ("team", "exercise", "field", "answer")


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "exercise", help="write a class's exercises (per team) or mark the teams' filled answer sheets",
        description="Each team's exercises come from its own instance of the plant: the plant file run for a "
        "shift with a seed made from --seed and the team's name, one fault injected. They ask for a machine's OEE "
        "(A, P, Q), a line's constraint station, a site's key-process NC rate from its register, the fault "
        "injected, and what an upgrade to NC changes. Without --mark: writes DIR/<team>/exercises.md, the data "
        "as CSV and an answer sheet answers.csv (with --solutions, solutions.md too). With --mark: marks filled "
        "answer sheets within the stated tolerances and writes every team's results as CSV. The same seed and "
        "team name give the same exercises, on any machine; `sfsim demo` serves them at /exercises "
        "(docs/console.md).")
    p.add_argument("plant", metavar="PLANT", help="plant model YAML file")
    p.add_argument("--team", action="append", default=[], metavar="NAME",
                   help="a team (repeatable); with --mark, the teams are those of the answer sheets")
    p.add_argument("--seed", type=int, default=1, help="the class seed (default 1)")
    p.add_argument("--out", default="sfsim-exercises", metavar="DIR",
                   help="where the teams' folders (or, with --mark, results.csv) go (default sfsim-exercises)")
    p.add_argument("--solutions", action="store_true", help="also write each team's worked solutions (the "
                   "teacher's copy: solutions.md)")
    p.add_argument("--mark", action="append", default=[], type=Path, metavar="ANSWERS.csv",
                   help="a filled answer sheet to mark (repeatable)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        plant = load_plant(args.plant)
    except PlantError as e:
        print_issues(e.issues)
        return Exit.INPUT
    classroom = Classroom(plant, args.seed)
    out = Path(args.out)
    try:
        if args.mark:
            marked = _mark(classroom, args.mark)
            out.mkdir(parents=True, exist_ok=True)
            (out / "results.csv").write_text(results_csv(marked), encoding="utf-8", newline="")
            for m in marked:
                print(f"{m.team} · {m.exercise.number}. {m.exercise.kind}: {m.correct} / {len(m.marks)}")
            print(f"results 成绩: {out / 'results.csv'}")
            return Exit.OK
        teams = [team_name(t) for t in args.team]
        if not teams:
            raise ValueError("--team: name at least one team (repeatable), or --mark a filled answer sheet")
        for team in teams:
            folder = out / team
            _write(folder, team, classroom.exercises(team), solutions=args.solutions)
            print(f"{team}: {folder} ({', '.join(e.kind for e in classroom.exercises(team))})")
    except ValueError as e:
        print(f"sfsim exercise: {e}", file=sys.stderr)
        return Exit.INPUT
    except OSError as e:
        print(f"sfsim exercise: {e.filename or out}: {e.strerror or e}", file=sys.stderr)
        return Exit.INPUT
    return Exit.OK


def _write(folder: Path, team: str, exercises: Sequence[Exercise], *, solutions: bool) -> None:
    """The team's sheet, its data and its answer sheet (and the solutions)."""
    folder.mkdir(parents=True, exist_ok=True)
    sheet = [f"# 练习 Exercises · {team}", ""]
    key = [f"# 解答 Solutions · {team}", ""]
    answers = [ANSWER_COLUMNS]
    for e in exercises:
        sheet += [f"## {e.number}. {e.title.zh} · {e.title.en}", "", e.question.zh, "", e.question.en, ""]
        for t in e.tables:
            name = f"{e.number}-{t.file}"
            (folder / name).write_text(t.csv(), encoding="utf-8", newline="")
            sheet += [f"**{t.title.zh} · {t.title.en}** ({name})", "",
                      "| " + " | ".join(f"{c.zh} {c.en}" for c in t.columns) + " |",
                      "|" + "---|" * len(t.columns),
                      *("| " + " | ".join(str(v) for v in row) + " |" for row in t.rows), ""]
        for f in e.fields:
            tolerance = f.tolerance_words()
            choices = f" — {', '.join(v for v, _ in f.choices)}" if f.choices else ""
            sheet.append(f"- `{f.key}`: {f.label.zh} · {f.label.en}{' (%)' if f.answer.value == 'percent' else ''}"
                         f"; {tolerance.zh} · {tolerance.en}{choices}")
            answers.append((team, str(e.number), f.key, ""))
        sheet.append("")
        key += [f"## {e.number}. {e.title.zh} · {e.title.en}", "",
                *(f"- `{f.key}` = {f.shown(f.expected)}" for f in e.fields), "",
                *(f"{n}. {step.zh} · {step.en}" for n, step in enumerate(e.solution, 1)), ""]
    sheet += ["答案填入 answers.csv 的 answer 列 · Fill the answer column of answers.csv.", ""]
    (folder / "exercises.md").write_text("\n".join(sheet), encoding="utf-8")
    with (folder / "answers.csv").open("w", encoding="utf-8-sig", newline="") as sheet_file:
        csv.writer(sheet_file, lineterminator="\r\n").writerows(answers)
    if solutions:
        (folder / "solutions.md").write_text("\n".join(key), encoding="utf-8")


def _mark(classroom: Classroom, sheets: Sequence[Path]) -> list[Marked]:
    """Every exercise of every filled sheet marked; ``ValueError`` naming the file, row and column of a bad cell."""
    given: dict[tuple[str, int], dict[str, str]] = {}
    for path in sheets:
        try:
            with path.open(encoding="utf-8-sig", newline="") as f:
                rows = list(csv.reader(f))
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not UTF-8 text (save the answer sheet as CSV UTF-8)") from None
        if not rows or tuple(c.strip() for c in rows[0][:4]) != ANSWER_COLUMNS:
            raise ValueError(f"{path}: row 1: expected the columns {', '.join(ANSWER_COLUMNS)} (the answers.csv "
                             "sfsim exercise wrote)")
        for n, row in enumerate(rows[1:], 2):
            if not any(c.strip() for c in row):
                continue
            cells = [*row, "", "", "", ""][:4]
            try:
                team = team_name(cells[0])
            except ValueError as e:
                raise ValueError(f"{path}: row {n}, column team: {e}") from None
            try:
                number = int(cells[1])
            except ValueError:
                raise ValueError(f"{path}: row {n}, column exercise: expected the exercise's number, got "
                                 f"{cells[1]!r}") from None
            given.setdefault((team, number), {})[cells[2].strip()] = cells[3]
    marked = []
    for (team, number), answers in sorted(given.items()):
        exercises = classroom.exercises(team)
        exercise = next((e for e in exercises if e.number == number), None)
        if exercise is None:
            raise ValueError(f"team {team}: there is no exercise {number} (1 to {len(exercises)})")
        unknown = sorted(set(answers) - {f.key for f in exercise.fields})
        if unknown:
            raise ValueError(f"team {team}, exercise {number}: no field {unknown[0]!r} (it has "
                             f"{', '.join(f.key for f in exercise.fields)})")
        marked.append(classroom.answer(team, number, answers))
    return marked
