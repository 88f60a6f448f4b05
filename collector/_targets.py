"""National and city targets for the 两化融合 indicators, and how far a value is from each."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class Target:
    """A national or city target for an indicator (``data/targets.yaml``): its scope, label, year, value (0 to 1)
    and source."""

    indicator: str
    #: what a command names it by (``wuhan-2025``; the same id for each indicator's target of that plan)
    id: str
    scope: str
    label_zh: str
    label_en: str
    year: int
    value: float
    source: str
    #: False: not yet checked against the primary text (a report must say so)
    verified: bool


def targets(indicator: str | None = None) -> list[Target]:
    """The targets in ``collector/data/targets.yaml``, for one indicator or all."""
    text = resources.files("collector").joinpath("data/targets.yaml").read_text(encoding="utf-8")
    entries: list[dict[str, Any]] = yaml.safe_load(text)
    return [
        Target(e["indicator"], t["id"], t["scope"], t["label"]["zh"], t["label"]["en"], int(t["year"]),
               float(t["value"]), str(t["source"]), bool(t["verified"]))
        for e in entries if indicator is None or e["indicator"] == indicator
        for t in e["targets"]
    ]


def gaps(value: float, indicator: str) -> list[tuple[Target, float]]:
    """Each target of ``indicator`` with ``value − target`` (negative: short of it)."""
    return [(t, value - t.value) for t in targets(indicator)]
