"""National, provincial and city targets for the 两化融合 indicators, and how far a value is from each.

A region's targets apply to its own sites only: a site in 湖北省襄阳市 is compared with the
national targets and those of 湖北省 and of 襄阳市, never with Wuhan's. A user adds a region's
targets with a file of the same form (``--targets FILE``) without editing the package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from shopfloor import PlantError, Region, parse_region
from shopfloor._loader import Issue


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
    #: the province or city it was set for (None: national)
    region: Region | None = None

    def applies_to(self, region: Region | None) -> bool:
        """Is a site in ``region`` compared with this target? National ones apply everywhere, a region's only to
        its own sites (a site whose region is not known: to none)."""
        return self.region is None or (region is not None and region.within(self.region))


def _parsed(entries: Any, source: str) -> list[Target]:
    if not isinstance(entries, list):
        raise PlantError([Issue(source, None, "", "expected a list of indicators, each with its targets")])
    out, issues = [], []
    for i, e in enumerate(entries):
        for j, t in enumerate(e.get("targets", []) if isinstance(e, dict) else []):
            try:
                region = parse_region(str(t["region"])) if t.get("region") else None
                if not 0 <= float(t["value"]) <= 1:
                    raise ValueError(f"value {t['value']!r} must be a fraction from 0 to 1 (0.68 for 68 %)")
                out.append(Target(str(e["indicator"]), str(t["id"]), str(t["scope"]), str(t["label"]["zh"]),
                                  str(t["label"]["en"]), int(t["year"]), float(t["value"]), str(t["source"]),
                                  bool(t.get("verified", False)), region))
            except (KeyError, TypeError, ValueError, AttributeError) as err:
                detail = f"missing {err}" if isinstance(err, KeyError) else str(err)
                issues.append(Issue(source, None, f"[{i}].targets[{j}]", f"not a target: {detail} (indicator, id, "
                                                                          "scope, label.zh/en, year, value, source)"))
    if issues:
        raise PlantError(issues)
    return out


def load_targets(path: str | Path) -> list[Target]:
    """A user's targets file, of the form of ``collector/data/targets.yaml`` (``PlantError`` saying what is wrong)."""
    try:
        entries = yaml.safe_load(Path(path).read_text(encoding="utf-8-sig"))
    except OSError as e:
        raise PlantError([Issue(str(path), None, "", f"cannot read: {e.strerror or e}")]) from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise PlantError([Issue(str(path), None, "", f"not YAML: {e}")]) from None
    return _parsed(entries, str(path))


def targets(indicator: str | None = None, *, extra: Sequence[Target] = ()) -> list[Target]:
    """The targets in ``collector/data/targets.yaml`` and ``extra`` (a user's, ``load_targets``), for one indicator
    or all."""
    text = resources.files("collector").joinpath("data/targets.yaml").read_text(encoding="utf-8")
    return [t for t in (*_parsed(yaml.safe_load(text), "collector/data/targets.yaml"), *extra)
            if indicator is None or t.indicator == indicator]


@dataclass(frozen=True, slots=True)
class Benchmark:
    """What enterprises observed in a population reached (``data/benchmarks.yaml``): an indicator's value (0 to
    1) at a date, with its source."""

    indicator: str
    value: float
    #: the day the figure describes (ISO date)
    as_of: str
    population_zh: str
    population_en: str
    source: str
    verified: bool


def benchmarks(indicator: str | None = None) -> list[Benchmark]:
    """The observed figures of ``collector/data/benchmarks.yaml``, for one indicator or all."""
    text = resources.files("collector").joinpath("data/benchmarks.yaml").read_text(encoding="utf-8")
    return [Benchmark(str(e["indicator"]), float(e["value"]), str(e["as_of"]), str(e["population"]["zh"]),
                      str(e["population"]["en"]), str(e["source"]), bool(e.get("verified", False)))
            for e in yaml.safe_load(text) if indicator is None or e["indicator"] == indicator]


@dataclass(frozen=True, slots=True)
class GreenTarget:
    """A region's green target (``data/green.yaml``): the change of energy or water per value added it set, as a
    fraction over ``years`` (−0.04 over 1: 4 % a year), with its source. Plants give proxies of it only."""

    id: str
    region: Region
    indicator_zh: str
    indicator_en: str
    target_zh: str
    target_en: str
    change: float
    years: int
    source: str


def green_targets(region: Region | None) -> list[GreenTarget]:
    """The green targets of ``collector/data/green.yaml`` that apply to a site in ``region``."""
    text = resources.files("collector").joinpath("data/green.yaml").read_text(encoding="utf-8")
    out = [GreenTarget(str(e["id"]), parse_region(str(e["region"])), str(e["indicator"]["zh"]),
                       str(e["indicator"]["en"]), str(e["target"]["zh"]), str(e["target"]["en"]), float(e["change"]),
                       int(e["years"]), str(e["source"])) for e in yaml.safe_load(text)]
    return [t for t in out if region is not None and region.within(t.region)]


def gaps(value: float, indicator: str, region: Region | None, *, extra: Sequence[Target] = ()) -> \
        list[tuple[Target, float]]:
    """Each target of ``indicator`` that applies in ``region``, with ``value − target`` (negative: short of it)."""
    return [(t, value - t.value) for t in targets(indicator, extra=extra) if t.applies_to(region)]
