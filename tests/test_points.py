"""Line protocol: the fast path for the frequent message kinds writes exactly what the generic ``line`` writes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from collector import decode
from collector._points import line, path_tags, telemetry
from shopfloor import REASONS, StopReason
from shopfloor import telemetry as contract

PATH = "acme/plant-1/area_1/line-1/M-1"
T = 1_767_571_200_000


def generic_state(body: dict[str, Any]) -> str:
    info = REASONS[StopReason(body["reason_code"])]
    fields = {"state": info.state.name, "state_code": int(info.state),
              "mode": "None" if info.mode.name == "None_" else info.mode.name, "mode_code": int(info.mode),
              "reason": info.name, "reason_code": int(info.reason), "product": body["product"], "seq": body["seq"]}
    return line("state", path_tags(PATH), fields, body["ts"], body["seq"] % 1000)


@pytest.mark.parametrize(("kind", "body", "generic"), [
    ("counters", contract.counters(ts_ms=T + 5, seq=3, total=4, good=3, scrap=1, rework=0, energy_kwh=1.5, ideal_s=90),
     line("counters", path_tags(PATH), {"total": 4, "good": 3, "scrap": 1, "rework": 0, "energy_kwh": 1.5,
                                        "ideal_s": 90.0, "seq": 3}, T + 5)),
    ("signals", contract.signals(ts_ms=T + 6, seq=4, values={"a_b": 1, "x-y": 2.5}),
     line("signals", path_tags(PATH), {"a_b": 1.0, "x-y": 2.5, "seq": 4}, T + 6)),
    ("signals", contract.signals(ts_ms=T + 6, seq=4, values={}), line("signals", path_tags(PATH), {"seq": 4}, T + 6)),
])
def test_fast_path_equals_the_generic_line(kind: str, body: dict[str, Any], generic: str) -> None:
    msg = decode(f"sfsim/v1/{PATH}/{kind}", json.dumps(body).encode(), prefix="sfsim")
    assert telemetry(msg, 0) == [generic]


@pytest.mark.parametrize("reason", sorted(REASONS))
def test_fast_state_equals_the_generic_line_for_every_reason(reason: int) -> None:
    body = contract.state(ts_ms=T + 7, seq=1005, reason=reason, product='P "x" \\ y,z=1 中文')
    msg = decode(f"sfsim/v1/{PATH}/state", json.dumps(body).encode(), prefix="sfsim")
    assert telemetry(msg, 0) == [generic_state(body)]
    # µs: the ms, then seq mod 1000 keeps same-ms changes in order
    assert telemetry(msg, 0)[0].endswith(f" {(T + 7) * 1000 + 5}")
