"""A class at work: each team's exercises, its answers marked once, and the results of every team as CSV.

A team is a name a student types; its exercises are its own instance's (``team_seed``). An exercise is answered
once: the worked solution is shown with the marks, so a second answer would only copy it. Every answer is
appended to a JSON-lines file as it is marked, so a demo that stops loses no result.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shopfloor import Plant

from ._exercise import Exercise, Mark
from ._generate import exercises, team_seed

#: how long a team's name may be
TEAM_MAX = 40
#: the columns of the results (``Classroom.csv``, ``sfsim exercise --mark``)
RESULT_COLUMNS = ("team", "exercise", "kind", "field", "given", "expected", "tolerance", "correct", "answered_at")


def team_name(text: object) -> str:
    """A team's name as typed, trimmed; ``ValueError`` saying what is wrong with it."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("team: give the team's name (1 to 40 characters)")
    name = unicodedata.normalize("NFC", text.strip())
    if len(name) > TEAM_MAX:
        raise ValueError(f"team: {name[:TEAM_MAX]!r}… is longer than {TEAM_MAX} characters")
    # it names a folder of ``sfsim exercise``: none of the characters Windows refuses in a file name
    if any(unicodedata.category(c).startswith("C") or c in '<>:"/\\|?*' for c in name) or name in {".", ".."}:
        raise ValueError(f"team: {name!r} holds a control character or one of < > : \" / \\ | ? *")
    return name


@dataclass(frozen=True, slots=True)
class Marked:
    """A team's answer to one exercise, marked."""

    team: str
    exercise: Exercise
    marks: tuple[Mark, ...]
    answered_at: str

    @property
    def correct(self) -> int:
        """How many of its fields are right."""
        return sum(m.correct for m in self.marks)

    def json(self) -> dict[str, Any]:
        """The marks, the score and the worked solution, as the page shows them."""
        return {"number": self.exercise.number, "correct": self.correct, "fields": len(self.marks),
                "marks": [m.json() for m in self.marks], "solution": [w.json() for w in self.exercise.solution],
                "answered_at": self.answered_at}

    def rows(self) -> list[tuple[str, ...]]:
        """Its rows of the results."""
        tolerance = {f.key: f.tolerance_words().en for f in self.exercise.fields}
        return [(self.team, str(self.exercise.number), self.exercise.kind, m.key, m.given, m.expected,
                 tolerance[m.key], "yes" if m.correct else "no", self.answered_at) for m in self.marks]


def results_csv(marked: list[Marked]) -> str:
    """Results as CSV, a row per field answered (UTF-8 with a BOM, so Excel reads 中文 team names)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(RESULT_COLUMNS)
    for m in marked:
        writer.writerows(m.rows())
    return "\ufeff" + out.getvalue()


class Classroom:
    """The exercises of a class on ``plant`` with the class ``seed``, its teams' answers and their results.

    Thread-safe: the console asks it from worker threads (a team's first request simulates its instance).
    The lock makes each team's instance once and keeps the record whole."""

    def __init__(self, plant: Plant, seed: int, *, record: Path | None = None) -> None:
        self.plant = plant
        self.seed = seed
        self.record = record
        self._sets: dict[str, tuple[Exercise, ...]] = {}
        self._marked: dict[tuple[str, int], Marked] = {}
        self._lock = threading.Lock()

    def exercises(self, team: str) -> tuple[Exercise, ...]:
        """The team's exercises (made once, then kept)."""
        name = team_name(team)
        with self._lock:
            if name not in self._sets:
                self._sets[name] = exercises(self.plant, team_seed(self.seed, name))
            return self._sets[name]

    def sheet(self, team: str) -> dict[str, Any]:
        """What the team's page shows: its exercises, and the marks and solution of those it answered."""
        name = team_name(team)
        made = self.exercises(name)
        return {"team": name, "seed": self.seed,
                "exercises": [{**e.json(), "marked": m.json() if (m := self._marked.get((name, e.number))) else None}
                              for e in made]}

    def answer(self, team: str, number: int, answers: Mapping[str, object]) -> Marked:
        """Mark the team's answer to exercise ``number``; ``ValueError`` when there is no such exercise or the
        team answered it already (the first answer stands)."""
        name = team_name(team)
        made = self.exercises(name)
        exercise = next((e for e in made if e.number == number), None)
        if exercise is None:
            raise ValueError(f"exercise: team {name} has exercises 1 to {len(made)}, not {number}")
        with self._lock:
            if (name, number) in self._marked:
                raise ValueError(f"exercise {number}: team {name} answered it already; the first answer stands")
            marked = Marked(name, exercise, exercise.mark(answers),
                            dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
            self._marked[(name, number)] = marked
            if self.record is not None:
                with self.record.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"team": name, "exercise": number, "kind": exercise.kind,
                                        "answers": {k: str(v) for k, v in answers.items()},
                                        "correct": marked.correct, "fields": len(marked.marks),
                                        "answered_at": marked.answered_at}, ensure_ascii=False) + "\n")
        return marked

    def marked(self) -> list[Marked]:
        """Every answer marked so far, by team and exercise."""
        return [self._marked[k] for k in sorted(self._marked)]

    def csv(self, team: str | None = None) -> str:
        """The results of every team, or of one (``RESULT_COLUMNS``)."""
        name = None if team is None else team_name(team)
        return results_csv([m for m in self.marked() if name is None or m.team == name])

    def table(self, team: str, number: int, file: str) -> str:
        """A data table of one of the team's exercises as CSV; ``KeyError`` when there is none."""
        made = self.exercises(team)
        exercise = next((e for e in made if e.number == number), None)
        if exercise is None:
            raise KeyError(number)
        return exercise.table(file).csv()


__all__ = ["RESULT_COLUMNS", "Classroom", "Marked", "results_csv", "team_name"]
