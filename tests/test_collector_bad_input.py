"""The decoder answers a message or ``Invalid`` for anything, and what it lets through makes well-formed points.

Random payloads and contract messages with any field changed; the corpus of bad messages
against a running collector is tests/test_collector_fuzz.py.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector import Invalid, decode
from collector._points import telemetry
from shopfloor import load_plant
from shopfloor import telemetry as contract

from .conftest import EXAMPLES

PATH = "acme/plant-1/area-1/line-1/m-1"
TS = 1_767_571_204_000
TOPIC = f"sfsim/v1/{PATH}"


@functools.cache
def _birth() -> str:
    plant = load_plant(EXAMPLES / "wuhan-machining.yaml")
    at = next(plant.machines())
    nameplate = contract.nameplate(at, signals=["spindle_speed_rpm"], sample_period_ms=1000,
                                   origin=contract.Origin.SIMULATED)
    nameplate["machine"] = dict(zip(("enterprise", "site", "area", "line", "id"), PATH.split("/"), strict=True))
    return json.dumps(contract.birth(nameplate, ts_ms=1_767_571_200_000, seq=0, session_ms=1_767_571_200_000))


def valid_birth() -> dict[str, Any]:
    birth: dict[str, Any] = json.loads(_birth())
    return birth


def state(**changes: Any) -> dict[str, Any]:
    return contract.state(ts_ms=1_767_571_201_000, seq=1, reason=0, product="P1") | changes


def counters(**changes: Any) -> dict[str, Any]:
    return contract.counters(ts_ms=1_767_571_202_000, seq=2, total=3, good=2, scrap=1, rework=0, energy_kwh=0.5,
                             ideal_s=90.0) | changes


TOPICS = st.sampled_from([f"{TOPIC}/{k.value}" for k in contract.MessageKind] + [f"{TOPIC}/x", "sfsim/v1/a/b"])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=6),
                    max_leaves=20)


def mutated(kind: str, key: str, value: Any) -> bytes:
    base = {"birth": valid_birth(), "state": state(), "counters": counters(),
            "signals": {"ts": TS, "seq": 1, "values": {"a": 1.0}}, "status": {"ts": TS, "status": "online",
                                                                          "session": 1}}[kind]
    return json.dumps(base | {key: value}, allow_nan=True).encode()


def check(topic: str, payload: bytes) -> None:
    try:
        msg = decode(topic, payload, prefix="sfsim")
    except Invalid:
        return
    for point in telemetry(msg, 0):
        assert "\n" not in point and point.count(" ") >= 2


@given(TOPICS, st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_random_bytes_are_a_message_or_invalid(topic: str, payload: bytes) -> None:
    check(topic, payload)


@pytest.mark.slow  # 500 hypothesis examples: seconds
@given(st.sampled_from(["birth", "state", "counters", "signals", "status"]), st.text(max_size=12), JSON)
@settings(max_examples=500, deadline=None)
def test_a_contract_message_with_any_field_changed_is_a_message_or_invalid(kind: str, key: str, value: Any) -> None:
    check(f"{TOPIC}/{kind}", mutated(kind, key, value))
