"""An exercise as a student gets it (a question, the data it needs, the answers it asks for) and its marking
against the truth, each answer within a stated tolerance, with the worked solution."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


@dataclass(frozen=True, slots=True)
class Words:
    """A text in 中文 and English."""

    zh: str
    en: str

    def json(self) -> dict[str, str]:
        """As the page takes it."""
        return {"zh": self.zh, "en": self.en}


@dataclass(frozen=True, slots=True)
class Table:
    """Data an exercise gives: shown on the page and downloadable as ``file`` (CSV)."""

    file: str
    title: Words
    columns: tuple[Words, ...]
    rows: tuple[tuple[str | int | float, ...], ...]

    def csv(self) -> str:
        """The table as CSV, headed by the columns in both languages (UTF-8 with a BOM, so Excel reads 中文)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([f"{c.zh} {c.en}" for c in self.columns])
        writer.writerows(self.rows)
        return "\ufeff" + out.getvalue()

    def json(self) -> dict[str, Any]:
        """As the page takes it."""
        return {"file": self.file, "title": self.title.json(), "columns": [c.json() for c in self.columns],
                "rows": [list(r) for r in self.rows]}


class Answer(StrEnum):
    """What a field takes."""

    PERCENT = "percent"  # a share in percent: 72.9 (or 72.9 %)
    COUNT = "count"  # a whole number
    CHOICE = "choice"  # one of the field's choices, by its value


@dataclass(frozen=True, slots=True)
class Field:
    """One answer an exercise asks for, the truth's value and how far from it an answer may be."""

    key: str
    label: Words
    answer: Answer
    #: the truth: a share 0 to 1 (PERCENT), a whole number (COUNT), a choice's value (CHOICE)
    expected: float | int | str
    #: PERCENT: percentage points either side; the others are exact
    tolerance: float = 0.0
    choices: tuple[tuple[str, Words], ...] = ()

    def shown(self, value: float | int | str) -> str:
        """A value as the solution writes it."""
        if self.answer is Answer.PERCENT:
            return f"{100 * float(value):.1f} %"
        if self.answer is Answer.CHOICE:
            words = dict(self.choices).get(str(value))
            return f"{value} ({words.zh} / {words.en})" if words else str(value)
        return str(value)

    def tolerance_words(self) -> Words:
        """The stated tolerance."""
        if self.answer is Answer.PERCENT:
            return Words(f"±{self.tolerance:g} 个百分点", f"±{self.tolerance:g} percentage points")
        return Words("须完全一致", "exact")

    def mark(self, given: object) -> Mark:
        """The answer ``given`` (as typed) against the truth."""
        text = "" if given is None else str(given).strip()
        if not text:
            return Mark(self.key, text, self.shown(self.expected), False, Words("未作答", "not answered"))
        if self.answer is Answer.CHOICE:
            if text not in dict(self.choices):
                return Mark(self.key, text, self.shown(self.expected), False,
                            Words("不是可选项之一", "not one of the choices"))
            return Mark(self.key, text, self.shown(self.expected), text == self.expected, None)
        number = _number(text.removesuffix("%").removesuffix("％").strip())
        if number is None:
            return Mark(self.key, text, self.shown(self.expected), False, Words("不是数字", "not a number"))
        if self.answer is Answer.COUNT:
            return Mark(self.key, text, self.shown(self.expected), number == self.expected, None)
        off = abs(number - 100 * float(self.expected))
        # the tolerance is the stated one, not a float's idea of it: 72.4 against 72.9 ± 0.5 is right
        return Mark(self.key, text, self.shown(self.expected), off <= self.tolerance + 1e-9, None)

    def json(self) -> dict[str, Any]:
        """As the page takes it, without the truth."""
        return {"key": self.key, "label": self.label.json(), "answer": self.answer.value,
                "tolerance": self.tolerance_words().json(),
                "choices": [{"value": v, **w.json()} for v, w in self.choices]}


def _number(text: str) -> float | None:
    """A number as a student types it: ``72.9``, or ``72,9`` with a decimal comma."""
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class Mark:
    """One field marked: what was given, the truth as the solution writes it, and whether it is right."""

    key: str
    given: str
    expected: str
    correct: bool
    #: why it is wrong when it is not a matter of the value (not answered, not a number …)
    note: Words | None

    def json(self) -> dict[str, Any]:
        """As the page takes it."""
        return {"key": self.key, "given": self.given, "expected": self.expected, "correct": self.correct,
                "note": self.note.json() if self.note else None}


@dataclass(frozen=True, slots=True)
class Exercise:
    """A question on a plant's run, the data a student needs, the answers it asks for and the worked solution."""

    number: int
    #: what it trains: ``oee``, ``constraint``, ``nc_rate``, ``fault``, ``upgrade``
    kind: str
    title: Words
    question: Words
    tables: tuple[Table, ...]
    fields: tuple[Field, ...]
    solution: tuple[Words, ...]

    def mark(self, answers: Mapping[str, object]) -> tuple[Mark, ...]:
        """Every field of the exercise marked against ``answers`` (field key → what was typed)."""
        return tuple(f.mark(answers.get(f.key)) for f in self.fields)

    def table(self, file: str) -> Table:
        """The table written as ``file`` (``KeyError`` when there is none)."""
        for t in self.tables:
            if t.file == file:
                return t
        raise KeyError(file)

    def json(self) -> dict[str, Any]:
        """The exercise as a student sees it before answering: no truth, no solution."""
        return {"number": self.number, "kind": self.kind, "title": self.title.json(),
                "question": self.question.json(), "tables": [t.json() for t in self.tables],
                "fields": [f.json() for f in self.fields]}


__all__ = ["Answer", "Exercise", "Field", "Mark", "Table", "Words"]
