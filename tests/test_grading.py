"""五色图: ranking sites and lines into five colours, by rank or by fixed thresholds."""

from __future__ import annotations

import pytest

from collector import Colour, by_rank, by_thresholds


def test_ten_units_by_rank_two_per_colour_best_first() -> None:
    scores = {f"u{i}": 1.0 - i / 10 for i in range(10)}
    graded = by_rank(scores)
    assert [graded[f"u{i}"].value for i in range(10)] == [
        "green", "green", "blue", "blue", "yellow", "yellow", "orange", "orange", "red", "red"]
    assert Colour.ORANGE.zh == "橙"


def test_ties_share_the_better_colour_and_the_unscored_are_not_graded() -> None:
    graded = by_rank({"a": 0.9, "b": 0.8, "c": 0.8, "d": 0.1, "e": 0.0, "f": None})
    assert graded == {"a": Colour.GREEN, "b": Colour.BLUE, "c": Colour.BLUE, "d": Colour.ORANGE, "e": Colour.RED}


def test_fixed_thresholds() -> None:
    graded = by_thresholds({"a": 0.86, "b": 0.75, "c": 0.7, "d": 0.55, "e": 0.2, "f": None})
    assert graded == {"a": Colour.GREEN, "b": Colour.BLUE, "c": Colour.YELLOW, "d": Colour.ORANGE, "e": Colour.RED}
    with pytest.raises(ValueError, match="four descending numbers"):
        by_thresholds({"a": 1.0}, (0.5, 0.6, 0.7, 0.8))
