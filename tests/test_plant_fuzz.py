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
# with an auxiliary pool (equipment on no line), each of its fields mutated too
POOLED = {**BASE, "sites": [{**BASE["sites"][0], "auxiliary": [
    {"id": "DL-01", "name": {"zh": "空压机", "en": "air compressor"}, "reason": "non_production",
     "category": "动力设备", "area": BASE["sites"][0]["lines"][0].get("area", "main"), "control": "plc",
     "networked": True, "protocol": "Modbus TCP", "manufacturer": "阿特拉斯", "model": "GA37"}]}, *BASE["sites"][1:]]}
POOLED_PATHS = [p for p in paths(POOLED) if "auxiliary" in p]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), junk), min_size=1, max_size=4))
def test_mutated_plants_are_accepted_or_reported(mutations: list[tuple[tuple[Any, ...], Any]]) -> None:
    data = mutated(BASE, mutations)
    try:
        build_plant(data, source="fuzz.yaml")
    except PlantError as e:
        assert e.issues and all(str(i).startswith("fuzz.yaml") for i in e.issues)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(POOLED_PATHS), junk), min_size=1, max_size=3))
def test_mutated_auxiliary_pools_are_accepted_or_reported(mutations: list[tuple[tuple[Any, ...], Any]]) -> None:
    build_plant(POOLED, source="fuzz.yaml")  # the base is good
    try:
        build_plant(mutated(POOLED, mutations), source="fuzz.yaml")
    except PlantError as e:
        assert e.issues and all(str(i).startswith("fuzz.yaml") for i in e.issues)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_accepted_or_reported(text: str) -> None:
    try:
        parse_plant(text, source="fuzz.yaml")
    except PlantError as e:
        assert e.issues
