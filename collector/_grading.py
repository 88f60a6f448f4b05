"""五色图 five-colour grading: units scored and coloured green, blue, yellow, orange, red, high to low."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum


class Colour(StrEnum):
    """A colour of the 五色图, best first (``COLOURS`` keeps the order)."""

    GREEN = "green"
    BLUE = "blue"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"

    @property
    def zh(self) -> str:
        """The colour's Chinese name: 绿, 蓝, 黄, 橙 or 红."""
        return {"green": "绿", "blue": "蓝", "yellow": "黄", "orange": "橙", "red": "红"}[self.value]


COLOURS = tuple(Colour)
#: fixed thresholds on a 0–1 score: at or above the first is green, …, below the last is red
DEFAULT_THRESHOLDS = (0.85, 0.75, 0.65, 0.55)


def by_rank(scores: Mapping[str, float | None]) -> dict[str, Colour]:
    """Fifths of the ranking, best first (ties share the better colour); unscored units are not graded."""
    scored = sorted(((s, unit) for unit, s in scores.items() if s is not None), key=lambda x: -x[0])
    n = len(scored)
    out: dict[str, Colour] = {}
    previous: tuple[float, Colour] | None = None
    for i, (score, unit) in enumerate(scored):
        colour = COLOURS[i * len(COLOURS) // n]
        if previous is not None and previous[0] == score:
            colour = previous[1]
        out[unit] = colour
        previous = (score, colour)
    return out


def by_thresholds(scores: Mapping[str, float | None],
                  thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> dict[str, Colour]:
    """Fixed bands: ``thresholds`` are four descending lower bounds for green, blue, yellow and orange."""
    if len(thresholds) != 4 or list(thresholds) != sorted(thresholds, reverse=True):
        raise ValueError(f"five-colour thresholds must be four descending numbers, got {list(thresholds)}")
    out: dict[str, Colour] = {}
    for unit, score in scores.items():
        if score is None:
            continue
        out[unit] = next((c for c, t in zip(COLOURS, thresholds, strict=False) if score >= t), Colour.RED)
    return out
