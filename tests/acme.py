"""The hand-made plant of the KPI tests (enterprise ``acme``): its file, its clock and its machines' births.

One site, one shift 08:00–16:00 (break 12:00–12:30), one line of two stations: A (cycle 30 s)
feeds B (cycle 60 s, the constraint). Times are Shanghai local, 2026-01-05. test_engine.py
works its KPIs out by hand; the fuzz and clock tests run it through real servers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

PLANT = """
version: 1
enterprise: {id: acme, name: {zh: 测试, en: Acme}}
sites:
  - id: s1
    name: {zh: 一厂, en: plant one}
    industry: discrete
    timezone: Asia/Shanghai
    calendar:
      shifts:
        - {id: A, name: {zh: 早班, en: day}, start: "08:00", end: "16:00", breaks: [{start: "12:00", end: "12:30"}]}
    products: [{id: P, name: {zh: 零件, en: part}}]
    areas: [{id: a1, name: {zh: 车间, en: shop}}]
    lines:
      - id: l1
        name: {zh: 一线, en: line one}
        area: a1
        orders: [{product: P, quantity: 1}]
        machines:
          - {id: A, name: {zh: 甲, en: A}, kind: cnc_lathe, key_process: true, networked: true, protocol: mqtt,
             process: turning, cycle_time: {P: 30s}}
          - {id: B, name: {zh: 乙, en: B}, kind: conventional_mill, key_process: true, networked: true, digital: true,
             protocol: mqtt, process: milling, cycle_time: {P: 60s}}
"""
TZ = ZoneInfo("Asia/Shanghai")
A = "acme/s1/a1/l1/A"
B = "acme/s1/a1/l1/B"


def ms(hour: float) -> int:
    """2026-01-05 at ``hour`` o'clock local, epoch ms."""
    h, minutes = int(hour), round((hour - int(hour)) * 60)
    return round(dt.datetime(2026, 1, 5, h, minutes, tzinfo=TZ).timestamp() * 1000)


def birth_of(path: str, session: int, **changes: Any) -> dict[str, Any]:
    e, s, a, line, m = path.split("/")
    cycle = 30.0 if m == "A" else 60.0
    body = {"ts": session, "seq": 0, "session": session,
            "machine": {"enterprise": e, "site": s, "area": a, "line": line, "id": m},
            "name": {"zh": m, "en": m}, "kind": "cnc_lathe", "kind_name": {"zh": "数控车床", "en": "CNC lathe"},
            "control": "cnc", "key_process": True, "digital": True, "networked": True, "protocol": "mqtt",
            "process": "turning", "manufacturer": "", "model": "", "serial": "", "industry": "discrete",
            "ideal_cycle_s": {"P": cycle}, "power_kw": {"executing": 5.0, "setup": 1.0, "idle": 1.0, "down": 0.5,
                                                        "standby": 0.1},
            "signals": ["spindle_speed_rpm"], "sample_period_ms": 1000}
    return body | changes
