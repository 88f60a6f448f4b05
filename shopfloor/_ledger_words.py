"""What ledgers write, and what it means here: equipment names and categories, controllers, protocols.

An equipment department writes 设备类别 as the national classification does (金属切削机床,
锻压设备 …), names a machine as it is sold (数控车床, 立式加工中心, 开式压力机), and its
controller as its nameplate says (FANUC 0i-TF, 华中8型, 西门子 S7-1200). Each table is
matched in order, the first match wins; docs/plant-file.md prints them. ``KIND_BY_NAME``
is tried on 设备名称 before ``KIND_BY_CATEGORY`` on 设备类别, so the name decides where
the category is broad (a 金属切削机床 may be a lathe or a machining centre).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ._kinds import Control, Protocol


@dataclass(frozen=True, slots=True)
class Rule:
    """``pattern`` (a regular expression, case-insensitive, searched in the cell) means ``value``."""

    pattern: str
    value: str

    def matches(self, text: str) -> bool:
        return re.search(self.pattern, text, re.IGNORECASE) is not None


def first(rules: Sequence[Rule], text: str) -> str | None:
    """The value of the first rule matching ``text``; None when none does."""
    return next((r.value for r in rules if r.matches(text)), None)


#: equipment that serves production without being in a flow line (动力、起重、运输): the site's pool
AUXILIARY = "auxiliary"

#: 设备名称 → kind (or ``AUXILIARY``); numerically controlled names before the plain ones
KIND_BY_NAME: tuple[Rule, ...] = (
    Rule(r"空压机|空气压缩机|压缩机|变压器|配电|锅炉|冷却塔|制冷机|水泵|发电机|行车|天车|起重|吊|叉车|电梯|升降机|AGV",
         AUXILIARY),
    Rule(r"焊接机器人|机器人.*焊|弧焊机器人|点焊机器人", "robot_welding"),
    Rule(r"加工中心|数控铣|CNC.*铣|镗铣", "cnc_machining_center"),
    Rule(r"数控车|CNC.*车|车削中心", "cnc_lathe"),
    Rule(r"车床", "conventional_lathe"),
    Rule(r"铣床|钻床|磨床|镗床|刨床|锯床", "conventional_mill"),
    Rule(r"压力机|冲床|压机|冲压|折弯|剪板|锻", "press"),
    Rule(r"注塑|注射成型", "injection_molding"),
    Rule(r"锡膏|印刷机", "screen_printer"),
    Rule(r"贴片", "smt_placement"),
    Rule(r"回流焊|再流焊", "reflow_oven"),
    Rule(r"AOI|光学检测", "aoi_inspection"),
    Rule(r"焊机|电焊|焊接|焊台", "manual_welding"),
    Rule(r"三坐标|检测|检验|测量|探伤|试验", "manual_inspection"),
    Rule(r"装配|组装|拧紧|压装", "manual_assembly"),
    Rule(r"包装|封箱|打包|灌装|贴标", "packaging"),
    Rule(r"轧机|轧制", "rolling_mill"),
    Rule(r"炉|窑", "furnace"),
    Rule(r"反应釜|反应器|聚合釜", "reactor"),
    Rule(r"搅拌|混料|混合机|混炼", "mixer"),
)

#: 设备类别 (the classification) → kind, for a name that did not decide
KIND_BY_CATEGORY: tuple[Rule, ...] = (
    Rule(r"动力设备|起重|运输设备|仓储|公用|辅助", AUXILIARY),
    Rule(r"金属切削", "conventional_lathe"),
    Rule(r"锻压|冲压", "press"),
    Rule(r"焊接", "manual_welding"),
    Rule(r"注塑", "injection_molding"),
    Rule(r"工业机器人|机器人", "robot_welding"),
    Rule(r"电子专用", "smt_placement"),
    Rule(r"炉窑|热处理", "furnace"),
    Rule(r"反应设备|化工", "reactor"),
    Rule(r"检测|检验|计量|试验", "manual_inspection"),
    Rule(r"装配", "manual_assembly"),
    Rule(r"包装", "packaging"),
    Rule(r"清洗|涂装|表面处理", "other"),
)

#: 控制方式 as ledgers write it → control; robot controllers before the CNC families (a FANUC R-30iB is a robot's)
CONTROL_BY_TEXT: tuple[Rule, ...] = (
    Rule(r"^(手动|手工|人工|无|manual|none)$", Control.MANUAL.value),
    Rule(r"机器人|robot|R-30i|KRC|IRC5|YRC|DX[12]00|埃斯顿|新松|KUKA", Control.ROBOT_CONTROLLER.value),
    Rule(r"DCS|集散|中控|SUPCON|ECS-?700|JX-?300|和利时|HOLLiAS|Honeywell|Experion|霍尼韦尔|Emerson|DeltaV|艾默生|800xA",
         Control.DCS.value),
    Rule(r"PLC|可编程|S7|SIMATIC|FX\d|FX系列|Q系列|iQ-?R|MELSEC|欧姆龙|OMRON|CP1|CJ2|汇川|Inovance|H[35]U|台达|DVP|"
         r"罗克韦尔|Allen|AB\s*PLC", Control.PLC.value),
    Rule(r"计算机数控|CNC|FANUC|发那科|SINUMERIK|808D|828D|840D|802[DS]|华中|HNC|广州数控|广数|GSK|三菱\s*M\d|"
         r"MITSUBISHI\s*M\d|M[78]0|KND|凯恩帝|HEIDENHAIN|海德汉|新代|SYNTEC|大森|西门子\s*8", Control.CNC.value),
    Rule(r"^数控$|^NC$", Control.NC.value),
)

#: 通信协议 → the protocol it is served by in a simulation; the text a ledger writes stays in the summary
PROTOCOL_BY_TEXT: tuple[Rule, ...] = (
    Rule(r"^(无|none|不联网|-)?$", Protocol.NONE.value),
    Rule(r"OPC[\s_-]*UA", Protocol.OPCUA.value),
    Rule(r"MQTT", Protocol.MQTT.value),
    # networked with a protocol sfsim does not speak: simulated over MQTT (what a gateway would turn it into)
    Rule(r"Modbus|Profinet|Profibus|EtherNet/?IP|EtherCAT|CC-?Link|S7|FOCAS|MTConnect|RS-?485|RS-?232|串口|"
         r"OPC\s*DA|TCP|以太网|HTTP|DNC", Protocol.MQTT.value),
)
