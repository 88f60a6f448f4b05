"""What the report reads besides the KPIs: where each machine's data comes from, from the births the collector
wrote."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

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


def test_a_damaged_file_of_a_run_is_named_with_its_line(tmp_path: Path) -> None:
    # a run killed while it wrote: a point cut short, and a compressed file cut short
    (tmp_path / "factory-1.lp").write_text('kpi,level=line x=1i 1\nstate,enterprise=e,site=s\n', encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        FileSource(tmp_path).span("e/s")
    assert str(caught.value) == (f"{tmp_path / 'factory-1.lp'}:2: not line protocol as the collector writes it: "
                                 "'state,enterprise=e,site=s'")
    (tmp_path / "factory-1.lp").unlink()
    (tmp_path / "factory-2.lp.gz").write_bytes(gzip.compress(b"kpi,level=line x=1i 1\n")[:-6])
    with pytest.raises(ValueError, match=r"factory-2\.lp\.gz: not a line protocol file the collector wrote"):
        FileSource(tmp_path).span("e/s")


def test_an_enterprise_without_key_processes_is_not_ranked_first(tmp_path: Path) -> None:
    from assess._model import _ranking
    from collector import Basis, Rate

    plant = load_plant(EXAMPLES / "wuhan-machining.yaml")
    stored = {"a": {"nc_rate": Rate(1, 2), "digitization": Rate(1, 2)}}
    (nc, _) = _ranking(plant, stored, Basis.EQUIPMENT)
    assert (nc.rank, nc.of, nc.above_share) == (1, 2, 0.0)  # 50 %, as high as the other: a tie, not above it
    text = (EXAMPLES / "wuhan-machining.yaml").read_text(encoding="utf-8").replace("key_process: true",
                                                                                   "key_process: false")
    (tmp_path / "plant.yaml").write_text(text, encoding="utf-8")
    (nc, _) = _ranking(load_plant(tmp_path / "plant.yaml"), stored, Basis.EQUIPMENT)
    assert (nc.value, nc.rank, nc.above_share) == (None, None, None)
