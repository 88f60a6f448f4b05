"""The summary of several enterprises assessed together (a region's, or an assessor's batch): each enterprise's
rates, the fleet's two ways (the mean of enterprise rates, the official definition for a region, and the rate over
all equipment pooled), the 五色图 of the enterprises and their ranking."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from collector import Colour, FleetRate, Rate, by_rank, fleet
from shopfloor import Name

from ._model import Assessment

#: the rates the summary shows, in its order: (attribute of Indicators, 中文, English)
SUMMARY_RATES = (("nc_rate", "关键工序数控化率", "key-process NC rate"),
                 ("digitization", "生产设备数字化率", "digitization rate"),
                 ("networking_declared", "设备联网率（申报）", "networking, declared"),
                 ("networking_measured", "设备联网率（实测）", "networking, measured"))


@dataclass(frozen=True, slots=True)
class EnterpriseRow:
    """One enterprise of the summary: its sites' counts added up, by rate attribute, and its colour by NC rate."""

    id: str
    name: Name
    sites: tuple[str, ...]
    regions: tuple[str, ...]
    rates: tuple[Rate, ...]
    origin: str
    #: None without an NC rate (no key-process equipment)
    rank: int | None
    colour: Colour | None


@dataclass(frozen=True, slots=True)
class Summary:
    """The enterprises, best NC rate first, and the fleet's rate of each of ``SUMMARY_RATES``."""

    enterprises: tuple[EnterpriseRow, ...]
    fleet: tuple[FleetRate, ...]
    start_ms: int
    end_ms: int
    timezone: str


def _added(rates: Sequence[Rate]) -> Rate:
    return Rate(sum(r.numerator for r in rates), sum(r.denominator for r in rates))


def summarise(assessments: Sequence[Assessment]) -> Summary:
    """The summary of ``assessments`` (one per site): sites of one enterprise are added up (their counts)."""
    if not assessments:
        raise ValueError("no assessment to summarise")
    by_enterprise: dict[str, list[Assessment]] = {}
    for a in assessments:
        by_enterprise.setdefault(a.enterprise_id, []).append(a)
    rates = {e: tuple(_added([getattr(a.indicators, attr) for a in sites]) for attr, _, _ in SUMMARY_RATES)
             for e, sites in by_enterprise.items()}
    nc = {e: r[0].value for e, r in rates.items()}
    colours = by_rank(nc)
    order = sorted(by_enterprise, key=lambda e: (nc[e] is None, -(nc[e] or 0.0), e))
    rows = []
    for e in order:
        sites = by_enterprise[e]
        origins = {a.provenance.origin for a in sites}
        mine = nc[e]
        rank = None if mine is None else 1 + sum(1 for other in nc.values() if other is not None and other > mine)
        rows.append(EnterpriseRow(e, sites[0].enterprise, tuple(a.site for a in sites),
                                  tuple(sorted({str(a.region) for a in sites if a.region})), rates[e],
                                  origins.pop() if len(origins) == 1 else "mixed", rank, colours.get(e)))
    return Summary(tuple(rows), tuple(fleet(r.rates[k] for r in rows) for k in range(len(SUMMARY_RATES))),
                   min(a.start_ms for a in assessments), max(a.end_ms for a in assessments), assessments[0].timezone)


__all__ = ["SUMMARY_RATES", "EnterpriseRow", "Summary", "summarise"]
