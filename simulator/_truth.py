"""Ground truth: exact ISO 22400-2 time elements and counts from the machines' own logs.

This is the oracle for every pipeline test: KPIs computed downstream from
telemetry must equal what is computed here from the simulator's state log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from shopfloor import REASONS, WINDOW_KINDS, StopReason, TimeElement, Window

from ._machine import GOOD, REWORK, SCRAP, MachineSim

if TYPE_CHECKING:
    from ._simulation import Simulation

FORMAT = "sfsim.truth/1"

_REASONS = sorted(REASONS)
_COLUMN = {int(r): i for i, r in enumerate(_REASONS)}
_COLUMN_OF_CODE = np.zeros(128, dtype=np.intp)
_COLUMN_OF_CODE[list(_COLUMN)] = list(_COLUMN.values())
_ELEMENTS = list(TimeElement)
# reason column → one-hot time element
_TO_ELEMENT = np.array([[REASONS[r].element is e for e in _ELEMENTS] for r in _REASONS], dtype=float)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


class _MachineTruth:
    """Cumulative functions of time over one machine's logs, evaluated at any instant."""

    def __init__(self, m: MachineSim, end: float) -> None:
        self.log_t = np.frombuffer(m.log_t, dtype=float) if len(m.log_t) else np.zeros(1)
        codes = np.frombuffer(m.log_r, dtype=np.int8) if len(m.log_r) else np.full(1, StopReason.NO_SHIFT)
        cols = _COLUMN_OF_CODE[codes]
        self.onehot = np.zeros((len(codes), len(_REASONS)))
        self.onehot[np.arange(len(codes)), cols] = 1.0
        spans = np.diff(np.append(self.log_t, end))
        # time in each reason before each log entry
        self.before = np.vstack([np.zeros(len(_REASONS)), np.cumsum(self.onehot * spans[:, None], axis=0)[:-1]])
        self.power = np.array([m.power_by_reason[r] for r in _REASONS])
        self.done_t = np.frombuffer(m.done_t, dtype=float)
        q = np.frombuffer(m.done_q, dtype=np.int8)
        self.cum = {
            "PQ": np.arange(1, len(q) + 1),
            "GQ": np.cumsum(q == GOOD),
            "SQ": np.cumsum(q == SCRAP),
            "RQ": np.cumsum(q == REWORK),
            "ideal_s": np.cumsum(np.frombuffer(m.done_ideal, dtype=float)),
        }
        self.fail_t = np.frombuffer(m.fail_t, dtype=float)
        self.micro_t = np.frombuffer(m.micro_t, dtype=float)

    def reasons_at(self, t: np.ndarray) -> np.ndarray:
        """Seconds spent in each reason column up to each instant of ``t``."""
        i = np.searchsorted(self.log_t, t, side="right") - 1
        i = np.clip(i, 0, len(self.log_t) - 1)
        spent: np.ndarray = self.before[i] + self.onehot[i] * (t - self.log_t[i])[:, None]
        return spent

    def count_before(self, key: str, t: np.ndarray) -> np.ndarray:
        n = np.searchsorted(self.done_t, t, side="left")
        series = self.cum[key]
        if not len(series):
            return np.zeros(len(t))
        counts: np.ndarray = np.where(n > 0, series[np.maximum(n - 1, 0)], 0)
        return counts

    def windows(self, windows: Sequence[Window]) -> list[dict[str, Any]]:
        starts = np.array([w.start for w in windows], dtype=float)
        ends = np.array([w.end for w in windows], dtype=float)
        by_reason = self.reasons_at(ends) - self.reasons_at(starts)
        elements = by_reason @ _TO_ELEMENT
        energy = by_reason @ self.power / 3600.0
        counts = {k: self.count_before(k, ends) - self.count_before(k, starts) for k in self.cum}
        failures = np.searchsorted(self.fail_t, ends, "left") - np.searchsorted(self.fail_t, starts, "left")
        micro = np.searchsorted(self.micro_t, ends, "left") - np.searchsorted(self.micro_t, starts, "left")
        out = []
        col = {e: i for i, e in enumerate(_ELEMENTS)}
        breakdown_col = _COLUMN[StopReason.BREAKDOWN]
        for k, w in enumerate(windows):
            el = elements[k]
            apt, aust = float(el[col[TimeElement.APT]]), float(el[col[TimeElement.AUST]])
            adet, adot = float(el[col[TimeElement.ADET]]), float(el[col[TimeElement.ADOT]])
            pbt = apt + aust + adet + adot
            planned_down = float(el[col[TimeElement.PLANNED_DOWN]])
            no_shift = float(el[col[TimeElement.NO_SHIFT]])
            pq, gq = int(counts["PQ"][k]), int(counts["GQ"][k])
            ideal = float(counts["ideal_s"][k])
            nfail = int(failures[k])
            availability = _ratio(apt, pbt)
            effectiveness = _ratio(ideal, apt)
            quality = _ratio(gq, pq)
            oee = None
            if availability is not None and effectiveness is not None and quality is not None:
                oee = availability * effectiveness * quality
            row: dict[str, Any] = {
                "label": w.label,
                "start_ms": None,
                "end_ms": None,
                "calendar_s": round(w.end - w.start, 6),
                "no_shift_s": round(no_shift, 6),
                "planned_down_s": round(planned_down, 6),
                "POT_s": round(w.end - w.start - no_shift, 6),
                "PBT_s": round(pbt, 6),
                "APT_s": round(apt, 6),
                "AUST_s": round(aust, 6),
                "ADET_s": round(adet, 6),
                "ADOT_s": round(adot, 6),
                "PQ": pq,
                "GQ": gq,
                "SQ": int(counts["SQ"][k]),
                "RQ": int(counts["RQ"][k]),
                "ideal_s": round(ideal, 6),
                "energy_kWh": round(float(energy[k]), 6),
                "failures": nfail,
                "micro_stops": int(micro[k]),
                "reasons_s": {
                    REASONS[r].name: round(float(by_reason[k, i]), 6)
                    for i, r in enumerate(_REASONS)
                    if by_reason[k, i] > 0
                },
                "availability": _round(availability),
                "effectiveness": _round(effectiveness),
                "quality": _round(quality),
                "oee": _round(oee),
                "mtbf_s": _round(_ratio(apt, nfail)),
                "mttr_s": _round(_ratio(float(by_reason[k, breakdown_col]), nfail)),
            }
            out.append(row)
        return out


def build_truth(sim: Simulation) -> dict[str, Any]:
    """The ground-truth document for the run so far (see docs/ground-truth.md)."""
    end = sim.now
    t0 = sim.start_epoch
    machines = []
    by_path: dict[str, dict[str, Any]] = {}
    windows_by_site = {}
    for site in sim.plant.sites:
        windows_by_site[site.id] = site.calendar.windows(t0, t0 + end)
    for m in sim.machines:
        ledger = _MachineTruth(m, end)
        site_windows_ = windows_by_site[m.at.site.id]
        entry: dict[str, Any] = {
            "path": m.path,
            "site": m.at.site.id,
            "line": m.at.line.id,
            "id": m.at.machine.id,
            "ideal_cycle_s": dict(m.ideal_s),
        }
        all_windows: list[tuple[str, list[Window]]] = [("run", [Window(t0, t0 + end, "run")])]
        all_windows += [(kind, site_windows_[kind]) for kind in WINDOW_KINDS]
        for kind, windows in all_windows:
            rel = [Window(w.start - t0, w.end - t0, w.label) for w in windows]
            rows = ledger.windows(rel) if rel else []
            for row, w in zip(rows, windows, strict=True):
                row["start_ms"] = round(w.start * 1000)
                row["end_ms"] = round(w.end * 1000)
                if kind == "run":
                    del row["label"]
            if kind == "run":
                entry["run"] = rows[0]
            else:
                entry.setdefault("windows", {})[kind] = rows
        machines.append(entry)
        by_path[m.path] = entry
    lines = []
    for line in sim.lines:
        constraint = by_path[line.constraint.path]["run"]
        lines.append(
            {
                "path": line.path,
                "site": line.site_id,
                "id": line.line.id,
                "machines": [m.at.machine.id for m in line.machines],
                "constraint": line.constraint.at.machine.id,
                "output": line.machines[-1].good,
                "wip": line.wip(),
                "availability": constraint["availability"],
                "effectiveness": constraint["effectiveness"],
                "quality": constraint["quality"],
                "oee": constraint["oee"],
            }
        )
    first_site = sim.plant.sites[0].calendar
    return {
        "format": FORMAT,
        "plant": {"source": sim.plant.source, "enterprise": sim.plant.enterprise.id},
        "seed": sim.seed,
        "start": first_site.iso(t0),
        "end": first_site.iso(t0 + end),
        "start_ms": round(t0 * 1000),
        "end_ms": round((t0 + end) * 1000),
        "duration_s": round(end, 6),
        "lines": lines,
        "machines": machines,
        "injected": sim.injector.truth(),
    }
