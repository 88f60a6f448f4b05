"""Whatever a plant file contains, validation ends in a Plant or a PlantError — never a traceback."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopfloor import PlantError, build_plant, parse_plant

from .conftest import EXAMPLES
from .fuzzing import junk, mutated, paths

BASE = yaml.safe_load((EXAMPLES / "wuhan-machining.yaml").read_text(encoding="utf-8"))

PATHS = paths(BASE)[1:]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), junk), min_size=1, max_size=4))
def test_mutated_plants_are_accepted_or_reported(mutations: list[tuple[tuple[Any, ...], Any]]) -> None:
    data = mutated(BASE, mutations)
    try:
        build_plant(data, source="fuzz.yaml")
    except PlantError as e:
        assert e.issues and all(str(i).startswith("fuzz.yaml") for i in e.issues)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_accepted_or_reported(text: str) -> None:
    try:
        parse_plant(text, source="fuzz.yaml")
    except PlantError as e:
        assert e.issues
