"""What the report reads besides the KPIs: where each machine's data comes from, from the births the collector
wrote."""

from __future__ import annotations

import json
from pathlib import Path

from assess import FileSource
from assess._sources import of_site
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
    found = of_site(simulated.origins(), site)
    assert len(found) == 14 and set(found.values()) == {"simulated"}
    silent = births_file(tmp_path / "b", ["hangzhou-electronics.yaml"], origin=None)
    assert set(of_site(silent.origins(), site).values()) == {"measured"}
    # another site's machines are not this site's
    assert of_site(simulated.origins(), "hangzhou-electronics/elsewhere") == {}
