"""Whatever a plant file contains, validation ends in a Plant or a PlantError — never a traceback."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopfloor import PlantError, build_plant, parse_plant

from .conftest import EXAMPLES

BASE = yaml.safe_load((EXAMPLES / "wuhan-machining.yaml").read_text(encoding="utf-8"))

junk = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=True) | st.text(max_size=12)
    | st.dates(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


PATHS = _paths(BASE)[1:]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), junk), min_size=1, max_size=4))
def test_mutated_plants_are_accepted_or_reported(mutations: list[tuple[tuple[Any, ...], Any]]) -> None:
    data = copy.deepcopy(BASE)
    for path, value in mutations:
        node = data
        try:
            for step in path[:-1]:
                node = node[step]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced this branch
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
