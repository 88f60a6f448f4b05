"""`sfsim ledger import`: a real enterprise's equipment ledger becomes the asset register."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shopfloor import Control, PlantError, Protocol, import_ledger, load_plant, parse_plant

LEDGER_ZH = """\
厂区,厂区名称,行业类型,车间,车间名称,产线,产线名称,设备编号,设备名称,设备类型,控制方式,关键工序,数字化,联网,通信协议,制造商,型号,节拍,额定功率kW
wh,武汉工厂,离散,jj,机加工车间,L1,一号线,C-001,数控车床1,数控车床,数控,是,是,是,OPC UA,大连机床,CKA6150,60s,11
wh,武汉工厂,离散,jj,机加工车间,L1,一号线,C-002,普通车床,普通车床,人工,是,否,否,,沈阳机床,CA6140,75s,
wh,武汉工厂,离散,hz,焊装车间,L2,二号线,R-001,焊接机器人,机器人焊接,机器人控制器,是,是,是,MQTT,埃斯顿,ER20,90s,
wh,武汉工厂,离散,hz,焊装车间,L2,二号线,A-001,装配工位,人工装配,人工,否,否,否,无,,,80s,
"""


def test_chinese_ledger_becomes_a_plant_with_every_machine(tmp_path: Path) -> None:
    ledger = tmp_path / "台账.csv"
    ledger.write_text(LEDGER_ZH, encoding="utf-8-sig")  # as spreadsheet programs save it
    plant = parse_plant(import_ledger(ledger, enterprise_id="whx", enterprise_name="武汉某厂").yaml)
    assert plant.enterprise.name.zh == "武汉某厂"
    (site,) = plant.sites
    assert site.name.zh == "武汉工厂" and site.industry.value == "discrete"
    assert [(a.id, a.name.zh, [ln.id for ln in a.lines]) for a in site.areas] == [
        ("jj", "机加工车间", ["L1"]),
        ("hz", "焊装车间", ["L2"]),
    ]
    machines = {m.machine.id: m.machine for m in plant.machines()}
    assert list(machines) == ["C-001", "C-002", "R-001", "A-001"]
    cnc, lathe, robot, assembly = machines.values()
    assert (cnc.control, cnc.key_process, cnc.networked, cnc.protocol) == (Control.NC, True, True, Protocol.OPCUA)
    assert cnc.power_kw.executing == 11.0 and cnc.manufacturer == "大连机床" and cnc.cycle_time_s == {"part": 60.0}
    # equipment that sends nothing still belongs to the asset register
    assert (lathe.control, lathe.digital, lathe.networked, lathe.protocol) == (
        Control.MANUAL, False, False, Protocol.NONE)
    assert robot.kind == "robot_welding" and robot.protocol is Protocol.MQTT
    assert assembly.kind == "manual_assembly" and not assembly.key_process


def test_english_headers_and_gb18030_encoding(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.csv"
    ledger.write_bytes(
        "site,line,id,kind,key_process,networked,protocol\n"
        "s1,L1,M1,cnc_machining_center,yes,no,none\n"
        "s1,L1,M2,包装机,no,Y,mqtt\n".encode("gb18030")
    )
    plant = parse_plant(import_ledger(ledger, enterprise_id="e", default_cycle_time="45s").yaml)
    m1, m2 = (m.machine for m in plant.machines())
    assert (m1.kind, m1.key_process, m1.networked, m1.protocol) == ("cnc_machining_center", True, False,
                                                                    Protocol.NONE)
    assert (m2.kind, m2.networked, m2.protocol, m2.cycle_time_s) == ("packaging", True, Protocol.MQTT,
                                                                    {"part": 45.0})


def test_bad_rows_are_reported_with_row_and_column(tmp_path: Path) -> None:
    ledger = tmp_path / "bad.csv"
    ledger.write_text(
        "厂区,产线,设备编号,设备类型,控制方式,关键工序,节拍\n"
        "s1,L1,M1,数控车床,半自动,是,60s\n"
        "s1,L1,,冲压机,PLC,也许,60s\n"
        "s1,L1,M3,冲压机,PLC,否,一分钟\n",
        encoding="utf-8",
    )
    with pytest.raises(PlantError) as caught:
        import_ledger(ledger, enterprise_id="e")
    assert [str(i) for i in caught.value.issues] == [
        f"{ledger}:2: 控制方式 (control): unknown control '半自动'; expected one of: cnc, dcs, manual, nc, plc, "
        "robot_controller",
        f"{ledger}:3: 设备编号 (id): empty cell in a required column",
        f"{ledger}:3: 关键工序 (key_process): expected yes or no (是/否), got '也许'",
        f"{ledger}:4: 节拍 (cycle_time): expected a duration such as 45, 45s, 30m, 1h30m, 8h or 7d "
        "(a bare number is seconds), got '一分钟'",
    ]


def test_missing_and_repeated_columns(tmp_path: Path) -> None:
    ledger = tmp_path / "cols.csv"
    ledger.write_text("site,line,kind,type\ns,L,press,press\n", encoding="utf-8")
    with pytest.raises(PlantError) as caught:
        import_ledger(ledger, enterprise_id="e")
    assert [str(i) for i in caught.value.issues] == [
        f"{ledger}:1: 设备类型 (kind): column given twice (as 'type' too)",
        f"{ledger}:1: 设备编号 (id): missing required column",
        f"{ledger}:1: 节拍 (cycle_time): missing column; add it or pass a default cycle time",
    ]


def test_columns_a_ledger_carries_beyond_ours_are_left_out_and_named(tmp_path: Path) -> None:
    ledger = tmp_path / "extra.csv"
    ledger.write_text("设备编号,厂区,产线,设备类型,工序,节拍,备注,购置日期\nM1,s,L,冲压机,冲压成形,60s,旧设备,2015-03-01\n",
                      encoding="utf-8")
    result = import_ledger(ledger, enterprise_id="e")
    assert result.ignored_columns == ("备注", "购置日期") and result.machines == 1
    assert "# Ledger columns not used: 备注, 购置日期" in result.yaml
    (machine,) = (m.machine for m in parse_plant(result.yaml).machines())
    assert machine.process == "冲压成形"


def test_excel_unicode_text_export_is_read(tmp_path: Path) -> None:
    ledger = tmp_path / "unicode.txt"
    ledger.write_bytes("设备编号\t厂区\t产线\t设备类型\t节拍\r\nM1\ts\tL\t贴片机\t30s\r\n".encode("utf-16"))
    result = import_ledger(ledger, enterprise_id="e")
    assert [m.machine.kind for m in parse_plant(result.yaml).machines()] == ["smt_placement"]


def test_a_line_stays_in_one_area_and_undecodable_files_are_named(tmp_path: Path) -> None:
    ledger = tmp_path / "areas.csv"
    ledger.write_text(
        "设备编号,厂区,车间,产线,设备类型,节拍\nM1,s,a1,L,press,1m\nM2,s,a2,L,press,1m\n", encoding="utf-8"
    )
    with pytest.raises(PlantError) as caught:
        import_ledger(ledger, enterprise_id="e")
    assert [str(i) for i in caught.value.issues] == [
        f"{ledger}:3: 车间 (area): line 'L' is in area 'a1' on an earlier row, not 'a2'"
    ]
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(128, 256)) * 4)
    with pytest.raises(PlantError, match="not UTF-8, UTF-16 or GB18030 text"):
        import_ledger(binary, enterprise_id="e")


def test_plant_rules_are_checked_against_ledger_rows(tmp_path: Path) -> None:
    ledger = tmp_path / "dup.csv"
    ledger.write_text("site,line,id,kind,cycle_time\ns,L,M1,press,1m\ns,L,M1,press,1m\n", encoding="utf-8")
    with pytest.raises(PlantError) as caught:
        import_ledger(ledger, enterprise_id="e")
    assert [str(i) for i in caught.value.issues] == [
        f"{ledger}:3: sites[0].lines[0].machines[1].id: duplicate machine id 'M1' "
        "(first used at sites[0].lines[0].machines[0].id)"
    ]


@pytest.mark.slow  # four `sfsim` processes: seconds
def test_cli_writes_a_plant_file_that_validates(tmp_path: Path) -> None:
    ledger = tmp_path / "台账.csv"
    ledger.write_text(LEDGER_ZH, encoding="utf-8")
    out = tmp_path / "plant.yaml"
    cmd = [sys.executable, "-m", "sfsim", "ledger", "import", str(ledger), "--out", str(out), "--enterprise-id", "wh"]
    first = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    assert len(list(load_plant(out).machines())) == 4
    again = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert again.returncode == 2 and "already exists; pass --force" in again.stderr
    forced = subprocess.run([*cmd, "--force"], capture_output=True, text=True, check=False)
    assert forced.returncode == 0
    validate = subprocess.run([sys.executable, "-m", "sfsim", "validate", str(out)], capture_output=True, text=True,
                              check=False)
    assert validate.returncode == 0 and "ok (1 site(s), 2 line(s), 4 machine(s))" in validate.stdout
