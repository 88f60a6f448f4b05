"""What the report reads besides the KPIs: where each machine's data comes from, and the other enterprises of the
store, from the births the collector wrote."""

from __future__ import annotations

import json
from pathlib import Path

from assess import FileSource
from assess._model import _ranking
from assess._sources import origins
from collector import Basis, indicators, register
from collector._messages import decode
from collector._points import telemetry
from shopfloor import load_plant
from shopfloor import telemetry as contract

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def births_file(tmp_path: Path, plants: list[str], *, origin: contract.Origin | None) -> FileSource:
    """The births of every machine of ``plants`` as the collector writes them (decoded, then as points)."""
    points = []
    for name in plants:
        for at in load_plant(EXAMPLES / name).machines():
            plate = contract.nameplate(at, signals=[], sample_period_ms=1000,
                                       origin=origin or contract.Origin.SIMULATED)
            if origin is None:
                del plate["origin"]  # a publisher that does not say
            body = contract.birth(plate, ts_ms=1_767_571_200_000, seq=0, session_ms=1_767_571_200_000)
            topic = contract.machine_topic("sfsim", at.path, contract.MessageKind.BIRTH)
            points += telemetry(decode(topic, json.dumps(body).encode(), prefix="sfsim"), 0)
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "factory-1.lp").write_text("\n".join(points) + "\n", encoding="utf-8")
    return FileSource(tmp_path)


def test_a_simulators_birth_says_simulated_and_one_that_does_not_say_is_measured(tmp_path: Path) -> None:
    simulated = births_file(tmp_path / "a", ["hangzhou-electronics.yaml"], origin=contract.Origin.SIMULATED)
    site = "hangzhou-electronics/hz-binjiang"
    found = origins(simulated.births(), site)
    assert len(found) == 14 and set(found.values()) == {"simulated"}
    silent = births_file(tmp_path / "b", ["hangzhou-electronics.yaml"], origin=None)
    assert set(origins(silent.births(), site).values()) == {"measured"}
    # another site's machines are not this site's
    assert origins(simulated.births(), "hangzhou-electronics/elsewhere") == {}


def test_the_enterprises_of_the_store_are_ranked_by_their_registers(tmp_path: Path) -> None:
    # three enterprises in one store: 鄂州 9 of 10 key processes under DCS/PLC, 杭州 8 of 10, 武汉 4 of 8
    store = births_file(tmp_path, ["ezhou-process.yaml", "hangzhou-electronics.yaml", "wuhan-machining.yaml"],
                        origin=contract.Origin.SIMULATED)
    births = store.births()
    hangzhou = load_plant(EXAMPLES / "hangzhou-electronics.yaml")
    nc, digital = _ranking(hangzhou, births, Basis.EQUIPMENT)
    assert [(e, round(v or 0, 3)) for e, v in nc.table] == [
        ("ezhou-materials", 0.9), ("hangzhou-electronics", 0.8), ("wuhan-auto-parts", 0.5)]
    assert (nc.rank, nc.of, nc.above_share, nc.value) == (2, 3, 0.5, 0.8)
    # the register from the births is the plant file's
    wuhan = load_plant(EXAMPLES / "wuhan-machining.yaml")
    assert digital.value == indicators(register(hangzhou)).digitization.value
    assert dict(digital.table)["wuhan-auto-parts"] == indicators(register(wuhan)).digitization.value
    # alone in its store, an enterprise is not ranked
    alone = births_file(tmp_path / "alone", ["hangzhou-electronics.yaml"], origin=contract.Origin.SIMULATED)
    assert _ranking(hangzhou, alone.births(), Basis.EQUIPMENT) == ()
