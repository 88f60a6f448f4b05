"""ISO 22400-2 KPIs of a work unit over a window: pure functions of time elements and counts.

The inputs are what the collector accumulates per machine and window (and what the
simulator's ground truth holds): the time elements that partition the planned busy time
(PBT = APT + AUST + ADET + ADOT), the counts, and Σ PRI over the produced parts
(``ideal_s``, so effectiveness holds across a product mix). Ratios whose denominator is
zero are ``None``: a machine with no planned time has no availability, not 0 %.
Effectiveness above 100 % (PRI set slower than the machine runs) is reported, never clamped.

Where the machine's state is not known for part of the planned busy time (it was offline,
messages were lost), that time is ``unknown_s``, in none of the four elements. The parts of a
count step across it (``gap_*``: made at some instant in the step the counters cannot place)
are in the totals but in no ratio, and the production time the step spans (``gap_apt_s``) is
left out of effectiveness with them: every ratio is over the known time and the parts that can
be placed in it, and ``coverage`` (known ÷ planned busy time) says how much of the window that is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Period:
    """One work unit (or a sum of them) over one window: ISO 22400-2 elements, seconds and counts."""

    apt_s: float = 0.0  # actual production time
    aust_s: float = 0.0  # actual unit setup time
    adet_s: float = 0.0  # actual unit delay time: breakdowns, micro-stops, quality holds
    adot_s: float = 0.0  # actual unit down time: starved, blocked, no order
    planned_down_s: float = 0.0  # inside POT, outside PBT: breaks, planned maintenance
    calendar_s: float = 0.0
    pq: int = 0
    gq: int = 0
    sq: int = 0
    rq: int = 0
    ideal_s: float = 0.0  # Σ PRI over the produced parts
    breakdown_s: float = 0.0  # the part of ADET spent on breakdowns (repairs)
    failures: int = 0
    energy_kwh: float = 0.0
    unknown_s: float = 0.0  # planned busy time in which the state is not known (in none of the elements above)
    # parts counted across unknown time (included in pq … ideal_s above, left out of every ratio)
    gap_pq: int = 0
    gap_gq: int = 0
    gap_sq: int = 0
    gap_rq: int = 0
    gap_ideal_s: float = 0.0
    gap_apt_s: float = 0.0  # the part of APT within the gap steps (their parts may have been made in it)

    @property
    def pbt_s(self) -> float:
        """The known part of the planned busy time (the four elements)."""
        return self.apt_s + self.aust_s + self.adet_s + self.adot_s

    @property
    def aupt_s(self) -> float:
        """The actual unit processing time: APT + AUST."""
        return self.apt_s + self.aust_s


@dataclass(frozen=True, slots=True)
class Losses:
    """Nakajima's six big losses as seconds of PBT, so that they and the valuable time add up to PBT.

    With ISO 22400's availability (APT / PBT) every stop lowers availability: idling and minor
    stops (Nakajima's performance loss 3) are counted here as time, like breakdowns and setups."""

    breakdowns_s: float  # (1) availability: repairs
    setup_s: float  # (2) availability: setup and adjustment (AUST)
    minor_stops_s: float  # (3) idling and minor stops: ADOT and ADET other than breakdowns
    reduced_speed_s: float  # (4) APT − Σ PRI (negative when PRI is set too slow)
    scrap_s: float  # (5) ideal time of the scrapped parts
    rework_s: float  # (6) ideal time of the reworked parts
    valuable_s: float  # ideal time of the good parts: OEE × PBT


@dataclass(frozen=True, slots=True)
class Kpis:
    """Every KPI of one period (``kpis``): ratios as fractions (1 = 100 %), times in seconds, kWh per good part;
    None where a denominator is zero."""

    availability: float | None
    effectiveness: float | None
    quality: float | None
    oee: float | None
    nee: float | None
    technical_efficiency: float | None
    setup_rate: float | None
    scrap_ratio: float | None
    rework_ratio: float | None
    mtbf_s: float | None
    mttr_s: float | None
    energy_per_good_kwh: float | None
    #: OEE × PBT / calendar time (TPM practice, not ISO 22400-2); None without a calendar span
    teep: float | None
    losses: Losses
    #: the known share of the planned busy time (1: nothing unknown); None without planned time
    coverage: float | None = None


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def _product(*factors: float | None) -> float | None:
    out = 1.0
    for f in factors:
        if f is None:
            return None
        out *= f
    return out


def kpis(p: Period) -> Kpis:
    """Every KPI of one period (docs/kpi.md has the formulas and their sources)."""
    # the parts made in the known time
    pq, gq, sq, rq = p.pq - p.gap_pq, p.gq - p.gap_gq, p.sq - p.gap_sq, p.rq - p.gap_rq
    ideal_s = p.ideal_s - p.gap_ideal_s
    availability = _ratio(p.apt_s, p.pbt_s)
    effectiveness = _ratio(ideal_s, p.apt_s - p.gap_apt_s)
    quality = _ratio(gq, pq)
    oee = _product(availability, effectiveness, quality)
    per_part = ideal_s / pq if pq else 0.0
    losses = Losses(
        breakdowns_s=p.breakdown_s,
        setup_s=p.aust_s,
        minor_stops_s=p.adot_s + p.adet_s - p.breakdown_s,
        reduced_speed_s=p.apt_s - p.gap_apt_s - ideal_s,
        scrap_s=sq * per_part,
        rework_s=rq * per_part,
        valuable_s=gq * per_part,
    )
    return Kpis(
        availability=availability,
        effectiveness=effectiveness,
        quality=quality,
        oee=oee,
        nee=_product(_ratio(p.aupt_s, p.pbt_s), effectiveness, quality),
        technical_efficiency=_ratio(p.apt_s, p.apt_s + p.adet_s),
        setup_rate=_ratio(p.aust_s, p.aupt_s),
        scrap_ratio=_ratio(sq, pq),
        rework_ratio=_ratio(rq, pq),
        mtbf_s=_ratio(p.apt_s, p.failures),
        mttr_s=_ratio(p.breakdown_s, p.failures),
        energy_per_good_kwh=_ratio(p.energy_kwh, p.gq),
        teep=_product(oee, _ratio(p.pbt_s, p.calendar_s)),
        losses=losses,
        coverage=_ratio(p.pbt_s, p.pbt_s + p.unknown_s),
    )


def combine(periods: Iterable[Period]) -> Period:
    """The sum of several work units' periods: time-weighted KPIs of a group (an area, a site, the fleet)."""
    fields = [f.name for f in dataclasses.fields(Period)]
    totals: dict[str, float] = dict.fromkeys(fields, 0)
    for p in periods:
        for name in fields:
            totals[name] += getattr(p, name)
    return Period(**totals)  # type: ignore[arg-type]
