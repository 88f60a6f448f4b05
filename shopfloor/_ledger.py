"""Import an equipment ledger (设备台账) from an Excel workbook or CSV into plant-file data.

Headers may be English or Chinese (see ``COLUMNS`` and docs/plant-file.md), below title rows;
values such as 是/否, 数控, 贴片机 are understood. Every machine of the ledger becomes part of
the asset register, including equipment that sends no telemetry, so it counts in the
denominators of the digitization indicators. Auxiliary equipment (空压机, 行车 …) and equipment
on no line go into the site's auxiliary pool: in the register, outside the production-equipment
denominators unless they include it, never simulated. A problem names the cell (``L17``) and
the ledger's own header text.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ._durations import parse_duration
from ._kinds import CONTROL_NAMES, KINDS, Control, Industry, Protocol
from ._ledger_map import LedgerMap, load_ledger_map
from ._ledger_words import AUXILIARY, CONTROL_BY_TEXT, KIND_BY_CATEGORY, KIND_BY_NAME, PROTOCOL_BY_TEXT, first
from ._loader import ID_PATTERN, ID_RULE, Issue, PlantError, build_plant
from ._model import AuxiliaryReason
from ._sheet import Sheet, SheetError, cell_name, column_letters, read_sheet


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    zh: str
    aliases: tuple[str, ...]
    required: bool
    meaning: str


COLUMNS: tuple[Column, ...] = (
    Column("site", "厂区", ("工厂", "基地", "site_id"), False, "site id or name (ISA-95 site); default --site-id"),
    Column("site_name", "厂区名称", ("工厂名称",), False, "site name"),
    Column("region", "所在地区", ("地区", "所在地", "省市"), False, "the site's province and city (湖北省襄阳市)"),
    Column("industry", "行业类型", ("industry_type",), False, "discrete (离散) or process (流程)"),
    Column("area", "车间", ("area_id", "使用部门"), False, "area id or name (ISA-95 area); default main"),
    Column("area_name", "车间名称", (), False, "area name"),
    Column("line", "产线", ("生产线", "line_id"), True,
           "line id or name; rows of a line are in flow order; empty: the site's auxiliary pool"),
    Column("line_name", "产线名称", ("生产线名称",), False, "line name"),
    Column("id", "设备编号", ("machine_id", "asset_id", "资产编号"), True, "machine id"),
    Column("name_zh", "设备名称", ("name", "中文名称"), False, "Chinese name"),
    Column("name_en", "英文名称", (), False, "English name"),
    Column("kind", "设备类型", ("type",), False, "equipment kind (id or Chinese name); else from 设备名称 or 设备类别"),
    Column("category", "设备类别", ("设备分类", "类别", "category"), False,
           "equipment category (金属切削机床, 锻压设备 …), for the kind where 设备名称 does not decide"),
    Column("control", "控制方式", ("控制类型", "数控系统", "控制系统"), False,
           "manual, nc, cnc, robot_controller, plc, dcs, or a controller (FANUC 0i-TF, 华中8型, 西门子 S7-1200 …)"),
    Column("nc", "是否数控", ("数控设备",), False, "numerically controlled: yes/no (checked against 控制方式)"),
    Column("key_process", "关键工序", ("是否关键工序",), False, "key-process equipment: yes/no (是/否)"),
    Column("digital", "数字化", ("是否数字化", "数字化设备"), False, "digital equipment: yes/no"),
    Column("networked", "联网", ("是否联网", "联网设备"), False, "networked: yes/no"),
    Column("protocol", "通信协议", ("协议",), False,
           "opcua, mqtt or none, or another (Modbus TCP, Profinet …: networked, simulated over MQTT)"),
    Column("process", "工序", ("工序名称",), False, "process step (free text)"),
    Column("manufacturer", "制造商", ("生产厂家", "厂家"), False, "manufacturer"),
    Column("model", "型号", ("规格型号",), False, "model"),
    Column("serial", "出厂编号", ("序列号",), False, "serial number"),
    Column("cycle_time", "节拍", ("标准节拍", "ideal_cycle_time"), False, "ideal cycle time (45s, 2m …)"),
    Column("rated_power_kw", "额定功率kW", ("额定功率", "额定功率(kW)", "power_kw"), False, "power when executing"),
)

def _header_key(text: str) -> str:
    """A header as compared: case, spaces and full-width brackets do not matter (额定功率（kW） = 额定功率(kW))."""
    return re.sub(r"\s+", "", text).lower().replace("（", "(").replace("）", ")")


_BY_HEADER: dict[str, Column] = {}
for _c in COLUMNS:
    for _h in (_c.key, _c.zh, *_c.aliases):
        _BY_HEADER[_header_key(_h)] = _c
_BY_KEY = {c.key: c for c in COLUMNS}

#: what a row put in a site's auxiliary pool (``Site.auxiliary``) becomes, as its warning says it
POOL_MEANS = ("in the register, outside the production-equipment denominators unless they include the pool, and not "
              "simulated")

#: how far down a header row is looked for (title rows, a date, a blank row above it)
HEADER_SEARCH_ROWS = 20


class _Ids:
    """Ids made from names that are not ids (制动盘线 → zhi-dong-pan-xian): the name's pinyin, a syllable or a run of
    letters and digits between hyphens, lower case, at most 64 characters. The same name always gets the same id;
    another name with the same pinyin gets ``-2``, ``-3`` …"""

    def __init__(self) -> None:
        #: name → id, in the order first met
        self.made: dict[str, str] = {}
        self._taken: set[str] = set()

    def of(self, name: str) -> str:
        if name in self.made:
            return self.made[name]
        from pypinyin import lazy_pinyin  # only for a ledger with Chinese names

        words = [w for part in lazy_pinyin(name) for w in re.split(r"[^a-z0-9]+", part.lower()) if w]
        base = "-".join(words)[:60].strip("-") or "x"
        made, n = base, 1
        while made in self._taken:
            n += 1
            made = f"{base}-{n}"
        self._taken.add(made)
        self.made[name] = made
        return made

_YES = {"是", "y", "yes", "true", "1", "√", "✓", "有"}
_NO = {"否", "n", "no", "false", "0", "×", "✗", "无", ""}
_CONTROL_WORDS = {
    "人工": Control.MANUAL, "手动": Control.MANUAL, "手工": Control.MANUAL,
    "数控": Control.NC, "计算机数控": Control.CNC, "机器人": Control.ROBOT_CONTROLLER,
    "可编程控制器": Control.PLC, "集散控制": Control.DCS, "集散控制系统": Control.DCS,
    **{c.value: c for c in Control},
    **{zh: c for c, (zh, _) in CONTROL_NAMES.items()},
    **{en.lower(): c for c, (_, en) in CONTROL_NAMES.items()},
}  # fmt: skip
_PROTOCOL_WORDS = {
    "opc ua": Protocol.OPCUA, "opc-ua": Protocol.OPCUA, "opcua": Protocol.OPCUA, "mqtt": Protocol.MQTT,
    "none": Protocol.NONE, "无": Protocol.NONE, "": Protocol.NONE,
}  # fmt: skip
_INDUSTRY_WORDS = {"离散": Industry.DISCRETE, "流程": Industry.PROCESS, **{i.value: i for i in Industry}}
_KIND_WORDS = {
    **{k: k for k in KINDS},
    **{d.zh: k for k, d in KINDS.items()},
    **{d.en.lower(): k for k, d in KINDS.items()},
}


@dataclass(frozen=True, slots=True)
class LedgerData:
    #: plant-file data, as ``build_plant`` takes it
    plant: dict[str, Any]
    #: document path → the sheet's row, for messages
    rows: dict[str, int]
    #: headers that are not ledger columns, left out of the plant
    ignored_columns: tuple[str, ...]
    #: ids made from names, by header (厂区, 车间, 产线): name → id
    made_ids: dict[str, dict[str, str]]
    #: what was read, but may not be what the ledger meant (a contradiction, a row put in the auxiliary pool)
    warnings: tuple[Issue, ...] = ()
    #: protocols the ledger declares that sfsim does not speak, and how many machines each (simulated over MQTT)
    foreign_protocols: dict[str, int] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LedgerImport:
    """What ``import_ledger`` made of a ledger: the plant file's YAML text, its number of machines (of the lines),
    the equipment it put in the auxiliary pools, and the headers it did not use."""

    yaml: str
    machines: int
    ignored_columns: tuple[str, ...]
    #: ids made from names, by header (厂区, 车间, 产线): name → id
    made_ids: dict[str, dict[str, str]]
    #: what was read, but may not be what the ledger meant (a contradiction, a row put in the auxiliary pool)
    warnings: tuple[Issue, ...] = ()
    #: protocols the ledger declares that sfsim does not speak, and how many machines each (simulated over MQTT)
    foreign_protocols: dict[str, int] = dataclasses.field(default_factory=dict)
    #: ids of the equipment put in the sites' auxiliary pools (``Site.auxiliary``), in ledger order
    auxiliary: tuple[str, ...] = ()


class _Cells:
    """The problems found, each naming where: a cell by its name and the ledger's header text, or a row."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.issues: list[Issue] = []
        self.warnings: list[Issue] = []
        #: header text per column index, as the ledger writes it
        self.headers: dict[int, str] = {}
        self.index: dict[str, int] = {}

    def error(self, row: int, column: Column | None, message: str) -> None:
        """A problem in ``column``'s cell of ``row`` (None: of the row)."""
        self.issues.append(self.at(row, column, message))

    def warn(self, row: int, column: Column | None, message: str) -> None:
        self.warnings.append(self.at(row, column, message))

    def cell(self, row: int, column: Column) -> str:
        """The cell's name and the ledger's header: ``F3 (是否联网)``."""
        i = self.index[column.key]
        return f"{cell_name(row, i)} ({self.headers[i]})"

    def at(self, row: int, column: Column | None, message: str) -> Issue:
        if column is None:
            return Issue(self.source, row, "", message)
        if column.key in self.index:
            return Issue(self.source, None, self.cell(row, column), message)
        return Issue(self.source, row, f"{column.zh} ({column.key})", message)  # a column the ledger lacks


def _find_header(sheet: Sheet, renamed: Mapping[str, str]) -> tuple[int, tuple[str, ...]] | str:
    """The header row (its number and cells): of the first rows, the one naming most ledger columns (``renamed``:
    a mapping file's headers, as compared → column key); or what to tell the user when none names two."""
    best: tuple[int, int, tuple[str, ...]] | None = None
    for number, cells in sheet.rows[:HEADER_SEARCH_ROWS]:
        named = len({renamed.get(k) or _BY_HEADER[k].key for c in cells
                     if (k := _header_key(c)) in renamed or k in _BY_HEADER})
        if best is None or named > best[0]:
            best = (named, number, cells)
    if best is not None and best[0] >= 2:
        return best[1], best[2]
    hint = ""
    if sheet.rows:
        number, cells = sheet.rows[0]
        text = " | ".join(c for c in cells if c)
        hint = f"; row {number} reads {text[:60]!r}{'…' if len(text) > 60 else ''}"
    return (f"no header row in the first {HEADER_SEARCH_ROWS} rows: a header names the columns, such as 设备编号, "
            f"设备名称, 设备类别, 产线 (docs/plant-file.md, \"Columns\"){hint}")


def _word(value: str, words: Mapping[str, Any], what: str, rows: _Cells, row: int, column: Column) -> Any:
    key = value.strip().lower()
    if key in words:
        return words[key]
    if value.strip() in words:
        return words[value.strip()]
    choices = sorted({str(v) for v in words.values()})
    rows.error(row, column, f"unknown {what} {value.strip()!r}; expected one of: {', '.join(choices)}")
    return None


def _kind(rec: Mapping[str, str], rows: _Cells, row: int, mapped: Mapping[str, str]) -> str | None:
    """The row's kind: 设备类型 as written, else what 设备名称 says, else what 设备类别 says (``AUXILIARY`` for
    equipment outside the lines); a mapping file's ``kind`` table (``mapped``) first, for any of the three. None
    after an error."""
    for key in ("kind", "name_zh", "category"):
        if rec.get(key) in mapped:
            meant = mapped[rec[key]]
            if meant == AUXILIARY:
                return AUXILIARY
            return str(_word(meant, _KIND_WORDS, "kind", rows, row, _BY_KEY[key])) if meant else None
    if rec.get("kind"):
        text = rec["kind"].strip()
        known = _KIND_WORDS.get(text.lower()) or _KIND_WORDS.get(text) or first(KIND_BY_NAME, text)
        if known is None:
            _word(text, _KIND_WORDS, "kind", rows, row, _BY_KEY["kind"])  # the error, with the kinds
        return known
    found = first(KIND_BY_NAME, rec.get("name_zh", "")) or first(KIND_BY_CATEGORY, rec.get("category", ""))
    if found is None:
        said = [f"{rows.cell(row, _BY_KEY[k])} {rec[k]!r}" for k in ("name_zh", "category") if rec.get(k)]
        rows.error(row, None, "no equipment kind: " + (f"neither {' nor '.join(said)} names one we know; " if said
                                                        else "") +
                   "give 设备类型 (a kind: docs/plant-file.md, \"Equipment kinds\")")
    return found


def _control(rec: Mapping[str, str], rows: _Cells, row: int, default: Control | None) -> Control | None:
    """控制方式 as written (a word, or a controller's name), checked against 是否数控 — and so is the kind's
    ``default`` when 控制方式 is empty; None: the kind's default."""
    text = rec.get("control", "").strip()
    control: Control | None = None
    if text:
        control = _CONTROL_WORDS.get(text.lower()) or _CONTROL_WORDS.get(text)
        if control is None:
            found = first(CONTROL_BY_TEXT, text)
            if found is None:
                _word(text, _CONTROL_WORDS, "control", rows, row, _BY_KEY["control"])  # the error, with the words
                return None
            control = Control(found)
    if not rec.get("nc", "").strip():
        return control
    nc = _flag(rec["nc"], rows, row, _BY_KEY["nc"])
    if control is None and nc is False and default in (Control.NC, Control.CNC):
        rows.warn(row, _BY_KEY["nc"], f"says 否, and 控制方式 is empty: its kind is under {default.value} by "
                                      "default, so manual is used")
        return Control.MANUAL
    if nc is None or control is None:
        return control if nc is None else (Control.CNC if nc else None)
    if nc != (control in (Control.NC, Control.CNC)):
        rows.warn(row, _BY_KEY["nc"], f"says {'是' if nc else '否'}, but {rows.cell(row, _BY_KEY['control'])} "
                                      f"{text!r} is {control.value}: {control.value} is used")
    return control


def _protocol(text: str, rows: _Cells, row: int) -> Protocol | None:
    """通信协议 as written: ours, or another (served over MQTT in a simulation); None after an error."""
    found = _PROTOCOL_WORDS.get(text.strip().lower()) or first(PROTOCOL_BY_TEXT, text.strip())
    if found is None:
        _word(text, _PROTOCOL_WORDS, "protocol", rows, row, _BY_KEY["protocol"])
        return None
    return Protocol(found)


def _flag(value: str, rows: _Cells, row: int, column: Column) -> bool | None:
    key = value.strip().lower()
    if key in _YES:
        return True
    if key in _NO:
        return False
    rows.error(row, column, f"expected yes or no (是/否), got {value.strip()!r}")
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerOptions:
    """What a ledger does not say itself (``sfsim ledger import``'s options)."""

    enterprise_id: str = "enterprise"
    enterprise_name: str | None = None
    #: the site of rows with no 厂区 cell
    site_id: str = "site"
    site_name: str | None = None
    #: where that site is: its province and city (湖北省襄阳市), which decide its targets
    region: str | None = None
    #: the ideal cycle time of rows with no 节拍 cell
    default_cycle_time: str | None = None
    #: the workbook's sheet (None: the first)
    sheet: str | None = None
    #: the enterprise's own column names and values (``load_map``)
    mapping: LedgerMap | None = None


def load_map(path: str | Path) -> LedgerMap:
    """A mapping file (docs/plant-file.md, "Mapping file"): ``PlantError`` listing every problem with its line."""
    def column_of(header: str) -> str | None:
        column = _BY_HEADER.get(_header_key(header))
        return column.key if column else None

    return load_ledger_map(path, column_of, ", ".join(c.key for c in COLUMNS))


def ledger_to_plant_data(path: str | Path, options: LedgerOptions) -> LedgerData:
    """Plant-file data from a ledger (an .xlsx workbook's first sheet or ``options.sheet``, or CSV), with the
    sheet's row of each part of it.

    Raises ``PlantError`` listing every bad row and cell.
    """
    o = options
    source = str(path)
    rows = _Cells(source)
    try:
        sheet_ = read_sheet(path, sheet=o.sheet)
    except OSError as e:
        raise PlantError([Issue(source, None, "", f"cannot read: {e.strerror or e}")]) from None
    except SheetError as e:
        raise PlantError([Issue(source, None, "", str(e))]) from None
    if not sheet_.rows:
        raise PlantError([Issue(source, None, "", "the ledger is empty: a header row names the columns, then a row "
                                                  "per piece of equipment")])
    renamed = {_header_key(h): key for h, key in o.mapping.columns.items()} if o.mapping else {}
    found = _find_header(sheet_, renamed)
    if isinstance(found, str):
        raise PlantError([Issue(source, None, "", found)])
    header_row, header = found
    columns: list[Column | None] = []
    ignored: list[str] = []
    for i, cell in enumerate(header):
        key = _header_key(cell)
        col = _BY_KEY[renamed[key]] if key in renamed else _BY_HEADER.get(key)
        if col is None:
            # ledgers carry much more (备注, 购置日期 …): kept out of the plant, and said so
            if cell:
                ignored.append(cell)
        elif col.key in rows.index:
            earlier = rows.index[col.key]
            rows.issues.append(Issue(source, None, f"{cell_name(header_row, i)} ({cell})",
                                     f"the column {col.zh} ({col.key}) a second time: it is "
                                     f"{cell_name(header_row, earlier)} ({rows.headers[earlier]}) already"))
            col = None
        else:
            rows.index[col.key], rows.headers[i] = i, cell
        columns.append(col)
    for col in COLUMNS:
        if col.required and col.key not in rows.index:
            rows.error(header_row, col, f"no such column in header row {header_row}; it is required")
    if "cycle_time" not in rows.index and o.default_cycle_time is None:
        rows.error(header_row, _BY_KEY["cycle_time"], "no such column; add it or pass a default cycle time")
    if rows.issues:
        raise PlantError(rows.issues)

    sites: dict[str, dict[str, Any]] = {}
    lines_of_doc: dict[str, int] = {}
    made = {key: _Ids() for key in ("site", "area", "line")}
    foreign: dict[str, int] = {}
    for row_no, cells in sheet_.rows:
        if row_no <= header_row:
            continue
        rec = {col.key: cells[i] if i < len(cells) else "" for i, col in enumerate(columns) if col}
        for key, meanings in (o.mapping.values.items() if o.mapping else ()):
            if key != "kind" and rec.get(key) in meanings:  # the enterprise's word, as the mapping file says it
                rec[key] = meanings[rec[key]]
        kind = _kind(rec, rows, row_no, o.mapping.values.get("kind", {}) if o.mapping else {})
        # equipment outside the lines (auxiliary, which often has no line, or any on no line): the site's pool
        pool = AuxiliaryReason.NON_PRODUCTION if kind == AUXILIARY else \
            AuxiliaryReason.NO_LINE if not rec.get("line") else None
        for col in COLUMNS:
            if col.required and not rec.get(col.key) and not (pool and col.key == "line"):
                rows.error(row_no, col, "empty cell in a required column")
        for key in ("site", "area") if pool else ("site", "area", "line"):  # the pool has no line
            value = rec.get(key, "")
            if value and not ID_PATTERN.fullmatch(value):  # a name (制动盘线): it keeps it, with an id made from it
                rec[f"{key}_name"] = rec.get(f"{key}_name") or value
                rec[key] = made[key].of(value)
        if rec.get("id") and not ID_PATTERN.fullmatch(rec["id"]):
            rows.error(row_no, _BY_KEY["id"], f"must be {ID_RULE}, got {rec['id']!r}")
        machine: dict[str, Any] = {"id": rec.get("id", "")}
        name = {k: rec[f"name_{k}"] for k in ("zh", "en") if rec.get(f"name_{k}")}
        if name:
            machine["name"] = name
        if pool:
            machine["reason"] = pool.value
            category = rec.get("category") or (KINDS[kind].zh if kind in KINDS else "")
            if category:
                machine["category"] = category
            if rec.get("area"):
                machine["area"] = rec["area"]
        elif kind:
            machine["kind"] = kind
        control = _control(rec, rows, row_no, KINDS[kind].control if kind in KINDS else None)
        if control is None and pool and kind in KINDS:
            control = KINDS[kind].control  # the pool's default is manual, not the kind's
        if control is not None:
            machine["control"] = control.value
        for key in ("key_process", "digital", "networked"):
            if key in rec and rec[key].strip():
                machine[key] = _flag(rec[key], rows, row_no, _BY_KEY[key])
        if rec.get("protocol"):
            proto = _protocol(rec["protocol"], rows, row_no)
            if proto is not None and pool:
                if proto is not Protocol.NONE:  # as declared: the pool is never served
                    machine["protocol"] = rec["protocol"]
                    machine.setdefault("networked", True)
            elif proto is not None:
                machine["protocol"] = proto.value
                if proto is not Protocol.NONE and rec["protocol"].strip().lower() not in _PROTOCOL_WORDS:
                    foreign[rec["protocol"]] = foreign.get(rec["protocol"], 0) + 1
                    if "networked" not in machine:  # a protocol is a connection: 联网 unless the ledger says not
                        machine["networked"] = True
        if pool:
            what = rec.get("name_zh") or rec.get("category") or rec.get("kind")
            if pool is AuxiliaryReason.NON_PRODUCTION:
                rows.warn(row_no, None, f"{rec.get('id', '')} ({what}) kept in the site's auxiliary pool: auxiliary "
                                        f"equipment (动力、起重、运输) is not production equipment; {POOL_MEANS}")
            else:
                rows.warn(row_no, _BY_KEY["line"], f"empty: {rec.get('id', '')} ({what}) kept in the site's "
                                                   f"auxiliary pool, as equipment on no line; {POOL_MEANS} (give it "
                                                   "a line to count it as production equipment)")
            if machine.pop("key_process", None):
                rows.warn(row_no, _BY_KEY["key_process"], f"says 是, but {rec.get('id', '')} is in the site's "
                                                          "auxiliary pool, never key-process equipment: not counted "
                                                          "in 关键工序数控化率")
            for key in ("manufacturer", "model"):
                if rec.get(key):
                    machine[key] = rec[key]
        else:
            for key in ("process", "manufacturer", "model", "serial"):
                if rec.get(key):
                    machine[key] = rec[key]
            cycle = rec.get("cycle_time") or o.default_cycle_time
            if not cycle:
                rows.error(row_no, _BY_KEY["cycle_time"], "empty; give the ideal cycle time or a default")
            else:
                try:
                    parse_duration(cycle)
                    machine["cycle_time"] = cycle
                except ValueError as e:
                    rows.error(row_no, _BY_KEY["cycle_time"], str(e))
            if rec.get("rated_power_kw"):
                try:
                    machine["power_kw"] = {"executing": float(rec["rated_power_kw"])}
                except ValueError:
                    rows.error(row_no, _BY_KEY["rated_power_kw"],
                               f"expected a number, got {rec['rated_power_kw']!r}")

        site_of_row = rec.get("site") or o.site_id
        site = sites.setdefault(site_of_row, {"id": site_of_row, "_lines": {}, "_areas": {}, "_auxiliary": []})
        if rec.get("site_name"):
            site["name"] = rec["site_name"]
        elif o.site_name and site_of_row == o.site_id:
            site.setdefault("name", o.site_name)
        if rec.get("region"):
            site["region"] = rec["region"]
        elif o.region and site_of_row == o.site_id:
            site.setdefault("region", o.region)
        if rec.get("industry"):
            industry = _word(rec["industry"], _INDUSTRY_WORDS, "industry", rows, row_no, _BY_KEY["industry"])
            site["industry"] = industry.value if industry else None
        if rec.get("area_name"):
            site["_areas"][rec.get("area") or "main"] = rec["area_name"]
        site_index = list(sites).index(site_of_row)
        lines_of_doc.setdefault(f"sites[{site_index}]", row_no)
        if pool:
            lines_of_doc[f"sites[{site_index}].auxiliary[{len(site['_auxiliary'])}]"] = row_no
            site["_auxiliary"].append(machine)
            continue
        area_id = rec.get("area") or "main"
        line = site["_lines"].setdefault(
            rec.get("line", ""), {"id": rec.get("line", ""), "area": area_id, "machines": []}
        )
        if line["area"] != area_id:
            rows.error(row_no, _BY_KEY["area"], f"line {line['id']!r} is in area {line['area']!r} on an earlier "
                       f"row, not {area_id!r}")
        if rec.get("line_name"):
            line["name"] = rec["line_name"]
        line_index = list(site["_lines"]).index(line["id"])
        lines_of_doc[f"sites[{site_index}].lines[{line_index}].machines[{len(line['machines'])}]"] = row_no
        lines_of_doc.setdefault(f"sites[{site_index}].lines[{line_index}]", row_no)
        line["machines"].append(machine)
    if rows.issues:
        raise PlantError(rows.issues)

    enterprise: dict[str, Any] = {"id": o.enterprise_id}
    if o.enterprise_name:
        enterprise["name"] = o.enterprise_name
    data_sites = []
    for site in sites.values():
        # name before machines, so the YAML reads top-down
        lines = [
            {k: ln[k] for k in ("id", "name", "area", "machines") if k in ln} for ln in site.pop("_lines").values()
        ]
        areas = site.pop("_areas")
        auxiliary = site.pop("_auxiliary")
        if areas:
            used = dict.fromkeys([*(ln["area"] for ln in lines), *(a["area"] for a in auxiliary if "area" in a)])
            site["areas"] = [{"id": a, **({"name": areas[a]} if a in areas else {})} for a in used]
        site["lines"] = lines
        if auxiliary:
            site["auxiliary"] = auxiliary
        data_sites.append(site)
    if not data_sites:
        raise PlantError([Issue(source, header_row, "", "the ledger has a header but no equipment rows below it")])
    made_ids = {_BY_KEY[key].zh: ids.made for key, ids in made.items() if ids.made}
    return LedgerData({"version": 1, "enterprise": enterprise, "sites": data_sites}, lines_of_doc, tuple(ignored),
                      made_ids, tuple(rows.warnings), foreign)


def import_ledger(path: str | Path, options: LedgerOptions = LedgerOptions()) -> LedgerImport:
    """The plant-file YAML for a ledger, validated like any plant file.

    Problems found while validating the result carry the sheet's row they came from.
    """
    data = ledger_to_plant_data(path, options)
    plant = build_plant(data.plant, source=str(path), lines=data.rows)
    header = (
        f"# Plant model imported from the equipment ledger {Path(path).name} by `sfsim ledger import`.\n"
        "# Defaults per equipment kind fill everything the ledger does not say; see docs/plant-file.md.\n"
    )
    if data.ignored_columns:
        header += f"# Ledger columns not used: {', '.join(data.ignored_columns)}\n"
    if data.foreign_protocols:
        header += ("# Protocols sfsim does not speak, networked and simulated over MQTT: " +
                   ", ".join(f"{name} ({n})" for name, n in data.foreign_protocols.items()) + "\n")
    for column, ids in data.made_ids.items():
        header += f"# Ids made from the ledger's {column} names (the name stays as name): " + \
            ", ".join(f"{name} → {made}" for name, made in ids.items()) + "\n"
    pool = tuple(at.equipment.id for at in plant.auxiliary())
    if pool:
        header += (f"# In the sites' auxiliary pools (auxiliary equipment, or on no line; {POOL_MEANS}): " +
                   ", ".join(pool) + "\n")
    return LedgerImport(
        yaml=header + yaml.safe_dump(data.plant, allow_unicode=True, sort_keys=False, width=120),
        machines=sum(1 for _ in plant.machines()),
        ignored_columns=data.ignored_columns,
        made_ids=data.made_ids,
        warnings=data.warnings,
        foreign_protocols=data.foreign_protocols,
        auxiliary=pool,
    )


TEMPLATE_TITLE = "设备台账 / Equipment ledger (sfsim ledger import; docs/plant-file.md)"


def write_template(path: str | Path) -> None:
    """A blank ledger with every column, headed in 中文 as ``sfsim ledger import`` reads it: an .xlsx workbook (a
    title row, the header, a sheet of notes: each column's key, meaning and whether it is required), or a CSV file
    (the header alone, UTF-8 with a byte-order mark, as Excel opens it). ``ValueError`` for another suffix."""
    path = Path(path)
    headers = [c.zh for c in COLUMNS]
    if path.suffix.lower() == ".csv":
        path.write_text(",".join(headers) + "\r\n", encoding="utf-8-sig")
        return
    if path.suffix.lower() != ".xlsx":
        raise ValueError(f"{path}: a template is .xlsx or .csv, not {path.suffix or 'a file without a suffix'}")
    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.styles import Font

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "设备台账"
    sheet.append([TEMPLATE_TITLE])
    sheet.append(headers)
    for i, column in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=2, column=i)
        cell.font = Font(bold=True)
        cell.comment = Comment(f"{column.key}: {column.meaning}{' (required)' if column.required else ''}", "sfsim")
        sheet.column_dimensions[column_letters(i - 1)].width = max(10, 2 * len(column.zh) + 4)
    sheet.freeze_panes = "A3"
    notes = book.create_sheet("说明 Notes")
    notes.append(["中文", "key", "required 必填", "meaning 含义", "also read as 别名"])
    for column in COLUMNS:
        notes.append([column.zh, column.key, "是 yes" if column.required else "", column.meaning,
                      ", ".join(column.aliases)])
    book.save(path)
