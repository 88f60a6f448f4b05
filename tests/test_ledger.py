"""`sfsim ledger import`: a real enterprise's equipment ledger becomes the asset register."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shopfloor import LEDGER_COLUMNS as LEDGER_COLUMNS_
from shopfloor import (
    AuxiliaryReason,
    Control,
    LedgerOptions,
    PlantError,
    Protocol,
    import_ledger,
    load_plant,
    parse_plant,
)

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
    plant = parse_plant(import_ledger(ledger, LedgerOptions(enterprise_id="whx", enterprise_name="武汉某厂")).yaml)
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
    plant = parse_plant(import_ledger(ledger, LedgerOptions(enterprise_id="e", default_cycle_time="45s")).yaml)
    m1, m2 = (m.machine for m in plant.machines())
    assert (m1.kind, m1.key_process, m1.networked, m1.protocol) == ("cnc_machining_center", True, False,
                                                                    Protocol.NONE)
    assert (m2.kind, m2.networked, m2.protocol, m2.cycle_time_s) == ("packaging", True, Protocol.MQTT,
                                                                    {"part": 45.0})


def test_bad_cells_are_named_as_the_spreadsheet_names_them_with_the_ledgers_own_header(tmp_path: Path) -> None:
    ledger = tmp_path / "bad.csv"
    ledger.write_text(
        "厂区,产线,设备编号,设备类型,控制方式,关键工序,节拍\n"
        "s1,L1,M1,数控车床,半自动,是,60s\n"
        "s1,L1,,冲压机,PLC,也许,60s\n"
        "s1,L1,M3,冲压机,PLC,否,一分钟\n",
        encoding="utf-8",
    )
    with pytest.raises(PlantError) as caught:
        import_ledger(ledger, LedgerOptions(enterprise_id="e"))
    assert [str(i) for i in caught.value.issues] == [
        f"{ledger}: E2 (控制方式): unknown control '半自动'; expected one of: cnc, dcs, manual, nc, plc, "
        "robot_controller",
        f"{ledger}: C3 (设备编号): empty cell in a required column",
        f"{ledger}: F3 (关键工序): expected yes or no (是/否), got '也许'",
        f"{ledger}: G4 (节拍): expected a duration such as 45, 45s, 30m, 1h30m, 8h or 7d "
        "(a bare number is seconds), got '一分钟'",
    ]


def test_missing_and_repeated_columns(tmp_path: Path) -> None:
    ledger = tmp_path / "cols.csv"
    ledger.write_text("site,line,kind,type\ns,L,press,press\n", encoding="utf-8")
    with pytest.raises(PlantError) as caught:
        import_ledger(ledger, LedgerOptions(enterprise_id="e"))
    assert [str(i) for i in caught.value.issues] == [
        f"{ledger}: D1 (type): the column 设备类型 (kind) a second time: it is C1 (kind) already",
        f"{ledger}:1: 设备编号 (id): no such column in header row 1; it is required",
        f"{ledger}:1: 节拍 (cycle_time): no such column; add it or pass a default cycle time",
    ]


def test_columns_a_ledger_carries_beyond_ours_are_left_out_and_named(tmp_path: Path) -> None:
    ledger = tmp_path / "extra.csv"
    ledger.write_text("设备编号,厂区,产线,设备类型,工序,节拍,备注,购置日期\nM1,s,L,冲压机,冲压成形,60s,旧设备,2015-03-01\n",
                      encoding="utf-8")
    result = import_ledger(ledger, LedgerOptions(enterprise_id="e"))
    assert result.ignored_columns == ("备注", "购置日期") and result.machines == 1
    assert "# Ledger columns not used: 备注, 购置日期" in result.yaml
    (machine,) = (m.machine for m in parse_plant(result.yaml).machines())
    assert machine.process == "冲压成形"


def test_excel_unicode_text_export_is_read(tmp_path: Path) -> None:
    ledger = tmp_path / "unicode.txt"
    ledger.write_bytes("设备编号\t厂区\t产线\t设备类型\t节拍\r\nM1\ts\tL\t贴片机\t30s\r\n".encode("utf-16"))
    result = import_ledger(ledger, LedgerOptions(enterprise_id="e"))
    assert [m.machine.kind for m in parse_plant(result.yaml).machines()] == ["smt_placement"]


def test_a_line_stays_in_one_area_and_undecodable_files_are_named(tmp_path: Path) -> None:
    ledger = tmp_path / "areas.csv"
    ledger.write_text(
        "设备编号,厂区,车间,产线,设备类型,节拍\nM1,s,a1,L,press,1m\nM2,s,a2,L,press,1m\n", encoding="utf-8"
    )
    with pytest.raises(PlantError) as caught:
        import_ledger(ledger, LedgerOptions(enterprise_id="e"))
    assert [str(i) for i in caught.value.issues] == [
        f"{ledger}: C3 (车间): line 'L' is in area 'a1' on an earlier row, not 'a2'"
    ]
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(128, 256)) * 4)
    with pytest.raises(PlantError, match=r"not text in any encoding read here \(UTF-16 \(with its byte-order mark\), "
                                         r"UTF-8 and GB18030 \(GBK, GB2312\)\): save it as .xlsx, or as CSV UTF-8"):
        import_ledger(binary, LedgerOptions(enterprise_id="e"))


def test_plant_rules_are_checked_against_ledger_rows(tmp_path: Path) -> None:
    ledger = tmp_path / "dup.csv"
    ledger.write_text("site,line,id,kind,cycle_time\ns,L,M1,press,1m\ns,L,M1,press,1m\n", encoding="utf-8")
    with pytest.raises(PlantError) as caught:
        import_ledger(ledger, LedgerOptions(enterprise_id="e"))
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


def _workbook(path: Path, rows: list[list[object]], *, merged: tuple[str, ...] = (), title: str = "设备台账") -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(row)
    for cells in merged:
        sheet.merge_cells(cells)
    book.save(path)


def test_an_excel_workbook_with_a_title_row_and_merged_header_cells_is_read(tmp_path: Path) -> None:
    ledger = tmp_path / "设备台账.xlsx"
    _workbook(ledger, [
        ["武汉某厂设备台账（2026年11月）"],  # a title over the table, merged across it
        [None],
        ["厂区", "产线", "设备信息", None, "节拍", "额定功率（kW）", "是否联网"],
        [None, None, "设备编号", "设备类型", None, None, None],  # two header rows: merged vertically and across
        ["wh", "L1", "C-001", "数控车床", 60, 11.0, "是"],
        ["wh", "L1", "C-002", "普通车床", 75.5, None, "否"],
    ], merged=("A1:G1", "A3:A4", "B3:B4", "C3:D3", "E3:E4", "F3:F4", "G3:G4"))
    result = import_ledger(ledger, LedgerOptions(enterprise_id="e"))
    first, second = (m.machine for m in parse_plant(result.yaml).machines())
    assert (first.id, first.kind, first.cycle_time_s, first.power_kw.executing, first.networked) == (
        "C-001", "cnc_lathe", {"part": 60.0}, 11.0, True)
    assert (second.id, second.kind, second.cycle_time_s, second.networked) == (
        "C-002", "conventional_lathe", {"part": 75.5}, False)
    assert result.ignored_columns == ()  # the group title "设备信息" is above the header row it heads


def test_a_bad_cell_of_a_workbook_is_named_by_its_cell_and_the_sheet_is_chosen(tmp_path: Path) -> None:
    ledger = tmp_path / "设备台账.xlsx"
    _workbook(ledger, [["台账"], ["设备编号", "厂区", "产线", "设备类型", "节拍", "是否联网"],
                       ["M1", "s", "L", "冲压机", "60s", "已联网"]], title="在用设备")
    with pytest.raises(PlantError) as caught:
        import_ledger(ledger, LedgerOptions(enterprise_id="e", sheet="在用设备"))
    assert [str(i) for i in caught.value.issues] == [
        f"{ledger}: F3 (是否联网): expected yes or no (是/否), got '已联网'"]
    with pytest.raises(PlantError) as caught:
        import_ledger(ledger, LedgerOptions(enterprise_id="e", sheet="报废设备"))
    assert [str(i) for i in caught.value.issues] == [f"{ledger}: no sheet '报废设备' (the workbook has '在用设备')"]


def test_a_ledger_without_a_header_row_says_what_a_header_is_and_what_it_found(tmp_path: Path) -> None:
    ledger = tmp_path / "notes.csv"
    ledger.write_text("这是备忘录,不是台账\n第二行,也不是\n", encoding="utf-8")
    with pytest.raises(PlantError) as caught:
        import_ledger(ledger, LedgerOptions(enterprise_id="e"))
    assert [str(i) for i in caught.value.issues] == [
        f"{ledger}: no header row in the first 20 rows: a header names the columns, such as 设备编号, 设备名称, "
        "设备类别, 产线 (docs/plant-file.md, \"Columns\"); row 1 reads '这是备忘录 | 不是台账'"]
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    with pytest.raises(PlantError) as caught:
        import_ledger(old, LedgerOptions(enterprise_id="e"))
    assert [str(i) for i in caught.value.issues] == [
        f"{old}: an Excel 97-2003 workbook (.xls) is not read: save it as .xlsx, or as CSV UTF-8"]
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(PlantError) as caught:
        import_ledger(broken, LedgerOptions(enterprise_id="e"))
    assert str(caught.value.issues[0]).startswith(f"{broken}: not an Excel workbook we can read (")


def test_chinese_line_and_area_names_get_ids_made_from_their_pinyin_and_keep_their_names(tmp_path: Path) -> None:
    ledger = tmp_path / "台账.csv"
    ledger.write_text(
        "设备编号,使用部门,产线,设备类型,节拍\n"
        "C-01,机加工车间,制动盘线,数控车床,60s\n"
        "C-02,机加工车间,1号线,数控车床,60s\n"
        "C-03,机加工车间,制动盘线,数控车床,60s\n"
        "C-04,机加工车间,治动盘线,数控车床,60s\n",  # another name, the same pinyin
        encoding="utf-8")
    result = import_ledger(ledger, LedgerOptions(enterprise_id="e", site_id="xy", site_name="襄阳工厂",
                                                 region="湖北省襄阳市"))
    assert result.made_ids == {
        "车间": {"机加工车间": "ji-jia-gong-che-jian"},
        "产线": {"制动盘线": "zhi-dong-pan-xian", "1号线": "1-hao-xian", "治动盘线": "zhi-dong-pan-xian-2"}}
    assert ("# Ids made from the ledger's 产线 names (the name stays as name): 制动盘线 → zhi-dong-pan-xian, "
            "1号线 → 1-hao-xian, 治动盘线 → zhi-dong-pan-xian-2") in result.yaml
    (site,) = parse_plant(result.yaml).sites
    assert (site.id, site.name.zh, str(site.region)) == ("xy", "襄阳工厂", "湖北省襄阳市")
    (area,) = site.areas
    assert (area.id, area.name.zh) == ("ji-jia-gong-che-jian", "机加工车间")
    assert [(ln.id, ln.name.zh, [m.id for m in ln.machines]) for ln in area.lines] == [
        ("zhi-dong-pan-xian", "制动盘线", ["C-01", "C-03"]), ("1-hao-xian", "1号线", ["C-02"]),
        ("zhi-dong-pan-xian-2", "治动盘线", ["C-04"])]


# A ledger as an equipment department keeps it: a title row, the columns it has (not ours), categories, controllers
# by their model, protocols sfsim does not speak, and two pieces of auxiliary equipment with no line
LEDGER_TITLE = "武汉某汽车零部件有限公司 设备台账（2026年11月）"
LEDGER_HEADER = ["序号", "设备编号", "设备名称", "规格型号", "生产厂家", "设备类别", "使用部门", "产线",
                 "是否关键工序", "是否数控", "控制方式", "是否联网", "通信协议", "额定功率(kW)", "启用日期",
                 "资产原值(万元)", "设备状态", "备注"]
M, W, K = "机加工车间", "焊装车间", "金属切削机床"  # workshops, the category of machine tools
B, G, H, Y, N = "制动盘线", "齿轮箱线", "焊装线", "是", "否"  # lines; yes, no
LEDGER_ROWS = [  # id, name, model, maker, category, department, line, key, nc, control, networked, protocol, kW
    ("ZD-01", "数控车床", "CKA6150", "大连机床", K, M, B, Y, Y, "FANUC 0i-TF", Y, "OPC UA", 11),
    ("ZD-02", "数控车床", "CK6140", "沈阳机床", K, M, B, Y, Y, "华中8型", Y, "Modbus TCP", 7.5),
    ("ZD-03", "立式加工中心", "VMC850", "海天精工", K, M, B, Y, Y, "SIEMENS 828D", Y, "Profinet",
     15),
    ("ZD-04", "普通车床", "CA6140", "沈阳机床", K, M, B, Y, N, "手动", N, "", 7.5),
    ("ZD-05", "摇臂钻床", "Z3050", "中捷", K, M, B, N, N, "手动", N, "", 4),
    ("ZD-06", "数控车床", "CKA6150", "大连机床", K, M, B, Y, Y, "广州数控 GSK 980TDc", N, "", 11),
    ("ZD-07", "动平衡机", "YYQ-50", "上海剑平", "检测设备", M, B, Y, N, "三菱 FX3U", Y, "Modbus RTU", 3),
    ("ZD-08", "三坐标测量机", "Global S", "海克斯康", "检测设备", M, B, Y, Y, "计算机数控", N, "", 2),
    ("ZD-09", "清洗机", "QX-200", "苏州清洗", "清洗设备", M, B, N, N, "西门子 S7-1200", N, "", 9),
    ("ZD-10", "包装机", "BZ-30", "温州包装", "包装设备", M, B, N, N, "欧姆龙 CP1H", N, "", 3),
    ("CL-01", "数控滚齿机", "YKS3120", "重庆机床", K, M, G, Y, Y, "FANUC 0i-MF", N, "", 18),
    ("CL-02", "数控磨床", "MK1320", "上海机床", K, M, G, Y, Y, "SIEMENS 840D", Y, "OPC UA", 12),
    ("CL-03", "卧式加工中心", "HMC630", "北京精雕", K, M, G, Y, Y, "三菱 M80", Y, "MTConnect", 22),
    ("CL-04", "普通铣床", "X6132", "北京一机", K, M, G, Y, N, "手工", N, "", 7.5),
    ("CL-05", "数控车床", "CK6150", "宝鸡机床", K, M, G, Y, Y, "KND 1000Ti", Y, "FOCAS", 11),
    ("CL-06", "热处理炉", "RJ-75", "江苏炉业", "炉窑", M, G, Y, N, "PLC", N, "", 75),
    ("CL-07", "清洗机", "QX-300", "苏州清洗", "清洗设备", M, G, N, N, "PLC", N, "", 9),
    ("CL-08", "装配台", "ZP-1", "自制", "装配设备", M, G, N, N, "人工", N, "", 0.5),
    ("CL-09", "拧紧机", "NJ-600", "博世", "装配设备", M, G, Y, N, "汇川 H3U", Y, "EtherNet/IP", 2),
    ("CL-10", "检测台", "JC-1", "自制", "检测设备", M, G, N, N, "人工", N, "", 0.5),
    ("HZ-01", "焊接机器人", "M-20iA", "发那科", "工业机器人", W, H, Y, N, "FANUC R-30iB", Y, "MQTT", 12),
    ("HZ-02", "焊接机器人", "KR 16", "库卡", "工业机器人", W, H, Y, N, "KUKA KRC4", Y, "Profinet", 12),
    ("HZ-03", "点焊机", "DN-100", "上海通用", "焊接设备", W, H, Y, N, "手动", N, "", 100),
    ("HZ-04", "开式压力机", "J23-63", "扬力", "锻压设备", W, H, Y, N, "三菱 FX3U", N, "", 5.5),
    ("HZ-05", "开式压力机", "J23-40", "扬力", "锻压设备", W, H, Y, N, "手动", N, "", 4),
    ("HZ-06", "折弯机", "WC67K", "亚威", "锻压设备", W, H, Y, Y, "数控", N, "", 7.5),
    ("HZ-07", "剪板机", "QC12Y", "亚威", "锻压设备", W, H, N, N, "手动", N, "", 7.5),
    ("HZ-08", "装配线工位", "ZP-2", "自制", "装配设备", W, H, N, N, "人工", N, "", 0.5),
    ("HZ-09", "包装机", "BZ-30", "温州包装", "包装设备", W, H, N, N, "台达 DVP", N, "", 3),
    ("HZ-10", "数控车床", "CK6136", "沈阳机床", K, W, H, Y, N, "FANUC 0i-TF", Y, "OPC UA", 7.5),
    ("DL-01", "空压机", "GA37", "阿特拉斯", "动力设备", "动力车间", "", N, N, "PLC", Y, "Modbus TCP", 37),
    ("QZ-01", "行车", "LD10t", "河南卫华", "起重设备", "动力车间", "", N, N, "手动", N, "", 13),
]


def _ledger_rows() -> list[list[object]]:
    import datetime as dt

    return [[n, *row[:-1], row[-1], dt.datetime(2015 + n % 10, 3, 1), 10.0 * n, "在用", ""]
            for n, row in enumerate(LEDGER_ROWS, start=1)]


@pytest.mark.parametrize("form", ["xlsx", "gb18030"])
def test_a_ledger_as_enterprises_keep_it_imports_with_no_mapping_file_and_gives_the_hand_computed_rates(
        tmp_path: Path, form: str) -> None:
    from collector._digitization import indicators, register

    rows = [[LEDGER_TITLE], LEDGER_HEADER, *_ledger_rows()]
    if form == "xlsx":
        ledger = tmp_path / "设备台账.xlsx"
        _workbook(ledger, rows, merged=("A1:R1",))
    else:
        ledger = tmp_path / "设备台账.csv"
        ledger.write_bytes("\n".join(",".join("" if c is None else str(c).split(" 00:00")[0] for c in row)
                                     for row in rows).encode("gb18030"))
    result = import_ledger(ledger, LedgerOptions(enterprise_id="whap", site_id="wh", default_cycle_time="60s"))
    assert [str(w) for w in result.warnings] == [
        f"{ledger}: J32 (是否数控): says 否, but K32 (控制方式) 'FANUC 0i-TF' is cnc: cnc is used",
        f"{ledger}:33: DL-01 (空压机) kept in the site's auxiliary pool: auxiliary equipment (动力、起重、运输) is not "
        "production equipment; in the register, outside the production-equipment denominators unless they include "
        "the pool, and not simulated",
        f"{ledger}:34: QZ-01 (行车) kept in the site's auxiliary pool: auxiliary equipment (动力、起重、运输) is not "
        "production equipment; in the register, outside the production-equipment denominators unless they include "
        "the pool, and not simulated"]
    assert result.auxiliary == ("DL-01", "QZ-01") and result.machines == 30
    assert result.ignored_columns == ("序号", "启用日期", "资产原值(万元)", "设备状态", "备注")
    assert result.foreign_protocols == {"Modbus TCP": 1, "Profinet": 2, "Modbus RTU": 1, "MTConnect": 1, "FOCAS": 1,
                                        "EtherNet/IP": 1}
    plant = parse_plant(result.yaml)
    machines = {at.machine.id: at.machine for at in plant.machines()}
    assert len(machines) == 30
    assert [(ln.id, ln.name.zh) for a in plant.sites[0].areas for ln in a.lines] == [
        ("zhi-dong-pan-xian", "制动盘线"), ("chi-lun-xiang-xian", "齿轮箱线"), ("han-zhuang-xian", "焊装线")]
    assert {k: machines[k].kind for k in ("ZD-03", "ZD-05", "ZD-07", "ZD-09", "CL-06", "CL-09", "HZ-01", "HZ-03",
                                          "HZ-06")} == {
        "ZD-03": "cnc_machining_center", "ZD-05": "conventional_mill", "ZD-07": "manual_inspection",
        "ZD-09": "other", "CL-06": "furnace", "CL-09": "manual_assembly", "HZ-01": "robot_welding",
        "HZ-03": "manual_welding", "HZ-06": "press"}
    assert {k: machines[k].control.value for k in ("ZD-02", "ZD-06", "ZD-07", "CL-03", "HZ-01", "HZ-06")} == {
        "ZD-02": "cnc", "ZD-06": "cnc", "ZD-07": "plc", "CL-03": "cnc", "HZ-01": "robot_controller", "HZ-06": "nc"}
    assert (machines["ZD-02"].networked, machines["ZD-02"].protocol) == (True, Protocol.MQTT)  # Modbus TCP
    # the two pieces of auxiliary equipment with no line: in the site's pool, as the ledger declares them
    (site,) = plant.sites
    assert [(a.id, a.name.zh, a.reason, a.category, a.area, a.control, a.digital, a.networked, a.protocol,
             a.manufacturer, a.model) for a in site.auxiliary] == [
        ("DL-01", "空压机", AuxiliaryReason.NON_PRODUCTION, "动力设备", "dong-li-che-jian", Control.PLC, True, True,
         "Modbus TCP", "阿特拉斯", "GA37"),
        ("QZ-01", "行车", AuxiliaryReason.NON_PRODUCTION, "起重设备", "dong-li-che-jian", Control.MANUAL, False, False,
         "", "河南卫华", "LD10t")]
    entries = register(plant)
    assert [(e.path, e.auxiliary, e.key_process) for e in entries[30:]] == [
        ("whap/wh/dong-li-che-jian/-/DL-01", True, False), ("whap/wh/dong-li-che-jian/-/QZ-01", True, False)]
    assert not any(e.auxiliary for e in entries[:30])
    rates = indicators(entries)
    # by hand: 21 key-process machines (7 a line); NC (CNC, NC, robot controllers): 5 + 4 + 4 = 13
    assert (rates.nc_rate.numerator, rates.nc_rate.denominator) == (13, 21)
    # digital: all but the 9 manual ones of 30; networked as the ledger says: 4 + 4 + 3
    assert (rates.digitization.numerator, rates.digitization.denominator) == (21, 30)
    assert (rates.networking_declared.numerator, rates.networking_declared.denominator) == (11, 30)
    # the 11 networked machines are all digital (a networked machine must be)
    assert (rates.digital_networking_declared.numerator, rates.digital_networking_declared.denominator) == (11, 21)
    with_pool = indicators(entries, auxiliary=True)
    # with the pool, by hand: DL-01 (控制方式 PLC: digital; 是否联网 是, Modbus TCP) and QZ-01 (手动: not digital;
    # 是否联网 否) join the 30 machines: digital 21 + 1 = 22 of 30 + 2 = 32; networked 11 + 1 = 12 of 32; networked
    # digital 12 of 21 + 1 = 22. Neither is key-process equipment (是否关键工序 否, and the pool never is): NC 13/21
    assert (with_pool.nc_rate.numerator, with_pool.nc_rate.denominator) == (13, 21)
    assert (with_pool.digitization.numerator, with_pool.digitization.denominator) == (22, 32)
    assert (with_pool.networking_declared.numerator, with_pool.networking_declared.denominator) == (12, 32)
    assert (with_pool.digital_networking_declared.numerator,
            with_pool.digital_networking_declared.denominator) == (12, 22)
    # the pool sends nothing: with every machine heard, measured networking is 30/30, or 30/32 with the pool
    heard = [at.path for at in plant.machines()]
    measured = [indicators(entries, heard, auxiliary=a).networking_measured for a in (False, True)]
    assert [(r.numerator, r.denominator) for r in measured] == [(30, 30), (30, 32)]


POOL = ("in the register, outside the production-equipment denominators unless they include the pool, and not "
        "simulated")


def test_equipment_on_no_line_is_kept_in_the_sites_auxiliary_pool_and_the_import_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sfsim import main

    ledger = tmp_path / "台账.csv"
    ledger.write_text("设备编号,车间,产线,设备名称,设备类别,是否关键工序,控制方式,通信协议,节拍\n"
                      "M1,jj,L1,数控车床,金属切削机床,是,FANUC 0i-TF,OPC UA,60s\n"
                      "M2,jj,,数控车床,金属切削机床,是,,,\n"  # a lathe on no line: no cycle time needed
                      "M3,,,叉车,运输设备,否,手动,,\n", encoding="utf-8")
    result = import_ledger(ledger)
    assert [str(w) for w in result.warnings] == [
        f"{ledger}: C3 (产线): empty: M2 (数控车床) kept in the site's auxiliary pool, as equipment on no line; {POOL} "
        "(give it a line to count it as production equipment)",
        f"{ledger}: F3 (是否关键工序): says 是, but M2 is in the site's auxiliary pool, never key-process equipment: "
        "not counted in 关键工序数控化率",
        f"{ledger}:4: M3 (叉车) kept in the site's auxiliary pool: auxiliary equipment (动力、起重、运输) is not "
        f"production equipment; {POOL}"]
    assert f"# In the sites' auxiliary pools (auxiliary equipment, or on no line; {POOL}): M2, M3\n" in result.yaml
    plant = parse_plant(result.yaml)
    assert [at.machine.id for at in plant.machines()] == ["M1"]  # the pool is never simulated
    # the lathe keeps its kind's control (CNC) and, like a machine, is networked as it is digital
    assert [(at.path, a.reason, a.category, a.control, a.digital, a.networked) for at in plant.auxiliary()
            for a in [at.equipment]] == [
        ("enterprise/site/jj/-/M2", AuxiliaryReason.NO_LINE, "金属切削机床", Control.CNC, True, True),
        ("enterprise/site/-/-/M3", AuxiliaryReason.NON_PRODUCTION, "运输设备", Control.MANUAL, False, False)]

    out = tmp_path / "plant.yaml"
    assert main(["ledger", "import", str(ledger), "--out", str(out)]) == 0
    said = capsys.readouterr()
    assert said.out.splitlines()[:2] == [
        f"{out}: 1 machine(s) written from {ledger}",
        f"{ledger}: in the sites' auxiliary pools (auxiliary equipment, or on no line; {POOL}): M2, M3"]
    assert f"warning: {ledger}:4: M3 (叉车) kept in the site's auxiliary pool" in said.err
    assert main(["validate", str(out)]) == 0
    assert capsys.readouterr().out == f"{out}: ok (1 site(s), 1 line(s), 1 machine(s), 2 in the auxiliary pool)\n"


def test_an_id_is_unique_across_the_lines_and_the_pool(tmp_path: Path) -> None:
    ledger = tmp_path / "dup.csv"
    ledger.write_text("设备编号,产线,设备名称,节拍\nM1,L1,数控车床,60s\nM1,,空压机,\n", encoding="utf-8")
    with pytest.raises(PlantError) as caught:
        import_ledger(ledger)
    assert [str(i) for i in caught.value.issues] == [
        f"{ledger}:3: sites[0].auxiliary[0].id: duplicate machine id 'M1' (first used at "
        "sites[0].lines[0].machines[0].id)"]


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_the_template_is_a_ledger_the_import_reads_once_filled(tmp_path: Path, suffix: str) -> None:
    from shopfloor import LEDGER_COLUMNS
    from shopfloor._ledger import write_template
    from shopfloor._sheet import read_sheet

    template = tmp_path / f"台账模板{suffix}"
    write_template(template)
    rows = read_sheet(template).rows
    header = rows[-1][1]
    assert list(header) == [c.zh for c in LEDGER_COLUMNS]
    with pytest.raises(PlantError, match="the ledger has a header but no equipment rows below it"):
        import_ledger(template, LedgerOptions(enterprise_id="e"))
    filled = {"设备编号": "M1", "产线": "一号线", "设备名称": "数控车床", "节拍": "60"}
    if suffix == ".csv":
        text = template.read_text(encoding="utf-8-sig")
        template.write_text(text + ",".join(filled.get(h, "") for h in header) + "\r\n", encoding="utf-8-sig")
    else:
        import openpyxl

        book = openpyxl.load_workbook(template)
        book["设备台账"].append([filled.get(h) for h in header])
        assert [c.value for c in book["说明 Notes"]["B"]][1:4] == [c.key for c in LEDGER_COLUMNS[:3]]
        book.save(template)
    (machine,) = (m.machine for m in parse_plant(import_ledger(template).yaml).machines())
    assert (machine.id, machine.kind) == ("M1", "cnc_lathe")
    with pytest.raises(ValueError, match=r"a template is .xlsx or .csv, not .ods"):
        write_template(tmp_path / "t.ods")


def test_a_mapping_file_renames_an_enterprises_columns_and_translates_its_values(tmp_path: Path) -> None:
    from shopfloor._ledger import load_map

    ledger = tmp_path / "台账.csv"
    ledger.write_text("资产编码,所在产线,设备名称,数控系统,联网情况\n"
                      "A-1,一号线,双柱立车,FANUC系统,已联网\n"
                      "A-2,一号线,数显车床,数显,未联网\n", encoding="utf-8")
    mapping = tmp_path / "map.yaml"
    mapping.write_text("columns:\n  资产编码: id\n  所在产线: 产线\n  数控系统: control\n  联网情况: networked\n"
                       "values:\n  kind:\n    双柱立车: cnc_lathe\n    数显车床: 普通车床\n"
                       "  control:\n    数显: manual\n  networked:\n    已联网: 是\n    未联网: 否\n", encoding="utf-8")
    result = import_ledger(ledger, LedgerOptions(mapping=load_map(mapping), default_cycle_time="1m"))
    first, second = (m.machine for m in parse_plant(result.yaml).machines())
    # a kind for an enterprise's own equipment names, which stay its names
    assert (first.id, first.name.zh, first.kind, first.control, first.networked) == (
        "A-1", "双柱立车", "cnc_lathe", Control.CNC, True)
    assert (second.id, second.kind, second.control, second.networked) == (
        "A-2", "conventional_lathe", Control.MANUAL, False)


def test_a_mapping_file_is_checked_with_every_problem_on_its_line(tmp_path: Path) -> None:
    from shopfloor._ledger import load_map

    mapping = tmp_path / "map.yaml"
    mapping.write_text("columns:\n  资产编码: idd\n  备注: [1]\nvalues:\n  颜色:\n    红: 1\nlines: {}\n",
                       encoding="utf-8")
    with pytest.raises(PlantError) as caught:
        load_map(mapping)
    columns = ", ".join(c.key for c in LEDGER_COLUMNS_)
    assert [str(i) for i in caught.value.issues] == [
        f"{mapping}:2: columns.资产编码: 'idd' is not a ledger column (the columns: {columns})",
        f"{mapping}:3: columns.备注: expected a text",
        f"{mapping}:5: values: '颜色' is not a ledger column (the columns: {columns})",
        f"{mapping}:7: lines: not a part of a mapping file (columns, values)"]
    mapping.write_text("columns: [\n", encoding="utf-8")
    with pytest.raises(PlantError, match=r"map.yaml:2: not YAML: "):
        load_map(mapping)


def test_the_template_command_writes_once_and_says_how_to_go_on(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from sfsim import main

    out = tmp_path / "台账.xlsx"
    assert main(["ledger", "template", "--out", str(out)]) == 0
    assert capsys.readouterr().out == (f"{out}: a blank ledger; fill a row per piece of equipment, then: "
                                       f"sfsim ledger import {out} --out PLANT.yaml\n")
    assert main(["ledger", "template", "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"{out}: already exists; pass --force to overwrite it\n"
    assert main(["ledger", "template", "--out", str(tmp_path / "台账.ods")]) == 2
    assert "a template is .xlsx or .csv, not .ods" in capsys.readouterr().err


def test_a_machine_the_ledger_says_is_not_nc_is_not_given_its_kinds_nc_control(tmp_path: Path) -> None:
    # 是否数控 否 and no 控制方式: a 数控车床's kind is CNC by default, which the ledger has just denied
    ledger = tmp_path / "台账.csv"
    ledger.write_text("设备编号,车间,产线,设备名称,是否关键工序,是否数控,控制方式,节拍\n"
                      "M1,jj,L1,数控车床,是,否,,60s\n"
                      "M2,jj,L1,数控车床,是,是,,60s\n"
                      "M3,jj,L1,普通车床,是,否,,60s\n", encoding="utf-8")
    result = import_ledger(ledger)
    assert [str(w) for w in result.warnings] == [
        f"{ledger}: F2 (是否数控): says 否, and 控制方式 is empty: its kind is under cnc by default, so manual is used"]
    controls = [at.machine.control for at in parse_plant(result.yaml).machines()]
    assert controls == [Control.MANUAL, Control.CNC, Control.MANUAL]
