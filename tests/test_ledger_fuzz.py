"""Whatever a ledger file holds — damaged workbooks, odd cells, any bytes — the import ends in a plant or a
PlantError naming the file, never a traceback."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopfloor import LedgerOptions, PlantError, import_ledger

HEADER = ["设备编号", "厂区", "产线", "设备类型", "控制方式", "是否联网", "通信协议", "节拍", "额定功率(kW)"]
pytestmark = pytest.mark.slow  # hundreds of workbooks: seconds

ROW = ["M1", "s", "L", "数控车床", "数控", "是", "MQTT", "60s", 7.5]


def _workbook_bytes() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["台账"])
    sheet.append(HEADER)
    sheet.append(ROW)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


WORKBOOK = _workbook_bytes()
# what a cell can hold: openpyxl refuses control characters, as Excel does
cells = st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=12), st.integers(),
                  st.floats(allow_nan=True), st.booleans(), st.datetimes())


def _imported(path: Path) -> None:
    try:
        import_ledger(path, LedgerOptions(enterprise_id="e", default_cycle_time="1m"))
    except PlantError as e:
        assert e.issues and all(str(i).startswith(str(path)) for i in e.issues)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, len(WORKBOOK) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_a_damaged_workbook_is_reported(tmp_path: Path, flips: list[tuple[int, int]]) -> None:
    raw = bytearray(WORKBOOK)
    for at, value in flips:
        raw[at] = value
    path = tmp_path / "台账.xlsx"
    path.write_bytes(bytes(raw))
    _imported(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(cells, max_size=len(HEADER) + 2), max_size=5))
def test_any_cells_of_a_workbook_are_accepted_or_reported(tmp_path: Path, rows: list[list[object]]) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    path = tmp_path / "台账.xlsx"
    book.save(path)
    _imported(path)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_any_bytes_are_accepted_or_reported(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "台账.csv"
    path.write_bytes(",".join(HEADER).encode() + b"\n" + raw)
    _imported(path)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_any_mapping_file_is_loaded_or_reported(tmp_path: Path, text: str) -> None:
    from shopfloor._ledger import load_map

    path = tmp_path / "map.yaml"
    path.write_text("columns:\n  资产编码: id\nvalues:\n  kind:\n" + text, encoding="utf-8", errors="surrogatepass")
    try:
        load_map(path)
    except PlantError as e:
        assert e.issues and all(str(i).startswith(str(path)) for i in e.issues)
