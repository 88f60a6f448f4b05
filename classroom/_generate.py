"""A team's exercises, made from its own instance of the plant: the plant file run for a shift with the team's seed
and one fault injected, and the answers read from that run's truth.

The same class seed and team name make the same instance, hence the same exercises, on any machine: a teacher can
hand out an exercise again. Two teams get different runs (their seeds differ), so one cannot copy the other's
numbers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import random
from typing import Any

from collector import fewest_upgrades, gaps, indicators, register, upgraded
from shopfloor import REASONS, Control, Event, Line, MachineAt, Plant, Site, parse_event
from simulator import Simulation

from ._exercise import Answer, Exercise, Field, Table, Words

#: how long a team's instance runs: one shift from the first shift's start
RUN_S = 8 * 3600.0
#: percentage points either side of an OEE factor (the data are given to the second: rounding costs far less)
OEE_TOLERANCE = 0.5
#: percentage points either side of a rate of the register (counts: the truth is a fraction of small numbers)
RATE_TOLERANCE = 0.1

CONTROL_WORDS = {Control.MANUAL: Words("手动", "manual"), Control.NC: Words("数控（NC）", "numerical control (NC)"),
                 Control.CNC: Words("计算机数控（CNC）", "computer numerical control (CNC)"),
                 Control.ROBOT_CONTROLLER: Words("机器人控制器", "robot controller"),
                 Control.PLC: Words("可编程控制器（PLC）", "programmable logic controller (PLC)"),
                 Control.DCS: Words("集散控制系统（DCS）", "distributed control system (DCS)")}
YES, NO = Words("是", "yes"), Words("否", "no")


def team_seed(seed: int, team: str) -> int:
    """The seed of a team's instance: the class seed and the team's name, the same on every machine."""
    return int.from_bytes(hashlib.sha256(f"{seed}\n{team}".encode()).digest()[:4], "big")


@dataclasses.dataclass(frozen=True, slots=True)
class _Fault:
    """A fault the generator may inject: its kind, on what, its parameters, and how it shows in the data."""

    kind: str
    words: Words
    line_level: bool
    params: dict[str, Any]
    sign: Words


FAULTS = (
    _Fault("breakdown", Words("设备故障", "breakdown"), False, {"duration": "75m"},
           Words("故障停机时间骤增，该时段几乎不出件", "breakdown time jumps and hardly a part is made")),
    _Fault("micro_stop_storm", Words("频繁短暂停机", "a burst of micro-stops"), False,
           {"duration": "2h", "rate": 40, "stop": "45s"},
           Words("短暂停机次数与时间成倍增加", "micro-stops many times more frequent")),
    _Fault("changeover", Words("计划外换型", "an unplanned changeover"), False, {"duration": "60m"},
           Words("换型调整时间出现，期间不出件", "set-up time appears, with no parts made")),
    _Fault("speed_loss", Words("降速运行", "reduced speed"), False, {"factor": 1.6, "duration": "2h"},
           Words("生产时间不变而产量下降：每件用时变长", "the producing time holds but fewer parts come out: "
                 "each cycle takes longer")),
    _Fault("quality_drift", Words("质量漂移（刀具磨损）", "a quality drift (tool wear)"), False,
           {"scrap_rate": 0.4, "duration": "2h"},
           Words("废品数骤增，合格率下降", "scrap jumps and the share of good parts falls")),
    _Fault("material_shortage", Words("缺料（上游无料）", "a material shortage"), True, {"duration": "75m"},
           Words("首工位出现待料时间，期间不出件", "the first station waits for material (starved), with no "
                 "parts made")),
)


#: the longest mean cycle of a station a slower cycle or a scrap drift is injected on (20 parts an hour)
FAST_S = 180.0


@dataclasses.dataclass(frozen=True, slots=True)
class Instance:
    """A team's run: the plant as run, its truth, and the fault injected."""

    sim: Simulation
    truth: dict[str, Any]
    fault: _Fault
    event: Event
    #: the machine whose data show the fault (a line's shortage: its first station)
    shown: MachineAt


def instance(plant: Plant, seed: int) -> Instance:
    """The plant run for a shift with ``seed`` and one fault, chosen by ``seed``, injected an hour or more in, at
    an hour of work (no break in it) of the machine it shows on."""
    rng = random.Random(seed)
    fault = rng.choice(FAULTS)
    machines = list(plant.machines())
    # a fault that shows in what a machine makes needs a machine that is making parts: a line's first station
    # (always fed), and for a slower cycle or a scrap drift a quick one (a batch reactor makes a part an hour)
    fed = [m for m in machines if m.machine is m.line.machines[0]]
    fast = [m for m in fed if m.line.mean_ideal_s(m.machine) <= FAST_S]
    pools = {**{f.kind: machines for f in FAULTS}, "micro_stop_storm": fed, "speed_loss": fast, "quality_drift": fast}
    if not pools[fault.kind]:
        fault = rng.choice([f for f in FAULTS if pools[f.kind]])
    at = rng.choice(pools[fault.kind])
    target = at.line.id if fault.line_level else at.machine.id
    shown = next(m for m in machines if m.line is at.line) if fault.line_level else at
    hours = [1, 2, 3, 4]
    rng.shuffle(hours)
    for n, hour in enumerate([*hours, 5, 6]):
        event = parse_event({"kind": fault.kind, "target": target, "at": f"{hour}h", **fault.params}, plant,
                            source=f"exercise seed {seed}")
        sim = Simulation(plant, seed=seed, events=[event])
        sim.run(RUN_S)
        truth = sim.truth()
        start = sim.start_epoch + hour * 3600
        rows = [w for m in truth["machines"] if m["path"] == shown.path for w in m["windows"]["hour"]
                if w["end_ms"] > start * 1000 and w["start_ms"] < (start + 3600) * 1000]
        if n == 5 or (rows and all(w["planned_down_s"] == 0 and w["no_shift_s"] == 0 for w in rows)):
            return Instance(sim, truth, fault, event, shown)
    raise AssertionError("unreachable")


def exercises(plant: Plant, seed: int) -> tuple[Exercise, ...]:
    """The exercises of the instance ``seed`` (``team_seed``), numbered from 1."""
    run = instance(plant, seed)
    rng = random.Random(seed + 1)  # the choices below are their own stream: a new fault kind moves none of them
    site = _site(plant, rng)  # the register's exercise and the upgrade's are on the same site
    made = [_oee(run, rng), _constraint(run, rng), _nc_rate(plant, site), _fault(run), _upgrade(plant, site)]
    return tuple(dataclasses.replace(e, number=n) for n, e in enumerate((e for e in made if e is not None), 1))


def _clock(site: Site, epoch_ms: int) -> str:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, site.calendar.tz).strftime("%H:%M")


def _machine_truth(run: Instance, at: MachineAt) -> dict[str, Any]:
    return next(m for m in run.truth["machines"] if m["path"] == at.path)


def _name(at: MachineAt) -> Words:
    return Words(f"{at.machine.id} {at.machine.name.zh}", f"{at.machine.id} {at.machine.name.en}")


def _reason(name: str) -> Words:
    info = next(i for i in REASONS.values() if i.name == name)
    return Words(info.zh, info.en)


def _oee(run: Instance, rng: random.Random) -> Exercise:
    """A machine's OEE over the shift from its times and counts (ISO 22400-2)."""
    at = rng.choice(list(run.sim.plant.machines()))
    truth = _machine_truth(run, at)
    window = truth["windows"]["shift"][0]
    start, end = _clock(at.site, window["start_ms"]), _clock(at.site, window["end_ms"])
    stops = {k: v for k, v in window["reasons_s"].items()
             if k not in {"producing", "planned_break", "planned_maintenance", "no_shift"}}
    planned = window["planned_down_s"] + window["no_shift_s"]
    times = Table("times.csv", Words("时间（秒）", "times (seconds)"), (Words("项目", "item"), Words("秒", "seconds")),
                  (("班次时长 shift length", round(window["calendar_s"])),
                   ("计划停机（休息、计划维护） planned down (breaks, planned maintenance)", round(planned)),
                   *((f"{_reason(k).zh} {_reason(k).en}", round(v)) for k, v in sorted(stops.items()))))
    counts = Table("counts.csv", Words("产量（件）", "counts (parts)"), (Words("项目", "item"), Words("件", "parts")),
                   (("加工件数 parts made", window["PQ"]), ("合格品 good", window["GQ"]),
                    ("废品 scrap", window["SQ"]), ("返工品 rework", window["RQ"])))
    products = _products(run, at, window)
    mix = Table("products.csv", Words("理想节拍", "ideal cycle times"),
                (Words("产品", "product"), Words("理想节拍（秒/件）", "ideal cycle time (s per part)"),
                 Words("加工件数", "parts made")), tuple(products))
    a, p, q, oee = (window[k] for k in ("availability", "effectiveness", "quality", "oee"))
    pbt, apt = window["PBT_s"], window["APT_s"]
    ideal = sum(c * n for _, c, n in products)
    fields = tuple(Field(key, label, Answer.PERCENT, value, OEE_TOLERANCE) for key, label, value in (
        ("availability", Words("可用率 A", "availability A"), a), ("performance", Words("性能 P", "performance P"), p),
        ("quality", Words("质量 Q", "quality Q"), q), ("oee", Words("OEE", "OEE"), oee)))
    stop_sum = sum(stops.values())
    return Exercise(0, "oee", Words("设备 OEE", "A machine's OEE"), Words(
        f"{_name(at).zh}（{at.line.name.zh}）在 {start}–{end} 班次中的时间与产量如下。"
        "按 ISO 22400-2 计算它的可用率、性能、质量和 OEE（百分数，保留一位小数）。",
        f"{_name(at).en} ({at.line.name.en}) spent the shift {start}–{end} as below. Compute its availability, "
        "performance, quality and OEE after ISO 22400-2 (in percent, one decimal)."),
        (times, counts, mix), fields, (
        Words(f"计划运行时间 PBT = 班次时长 − 计划停机 = {window['calendar_s']:.0f} − {planned:.0f} = {pbt:.0f} 秒",
              f"planned busy time PBT = shift − planned down = {window['calendar_s']:.0f} − {planned:.0f} = "
              f"{pbt:.0f} s"),
        Words(f"实际运行时间 APT = PBT − 各类停机 = {pbt:.0f} − {stop_sum:.0f} = {apt:.0f} 秒",
              f"actual production time APT = PBT − every stop = {pbt:.0f} − {stop_sum:.0f} = {apt:.0f} s"),
        Words(f"可用率 A = APT / PBT = {apt:.0f} / {pbt:.0f} = {100 * a:.1f} %",
              f"availability A = APT / PBT = {apt:.0f} / {pbt:.0f} = {100 * a:.1f} %"),
        Words(f"理想用时 = Σ 理想节拍 × 件数 = {ideal:.0f} 秒；性能 P = 理想用时 / APT = {100 * p:.1f} %",
              f"ideal time = Σ ideal cycle time × parts = {ideal:.0f} s; performance P = ideal time / APT = "
              f"{100 * p:.1f} %"),
        Words(f"质量 Q = 合格品 / 加工件数 = {window['GQ']} / {window['PQ']} = {100 * q:.1f} %（返工品不算合格）",
              f"quality Q = good / made = {window['GQ']} / {window['PQ']} = {100 * q:.1f} % (rework is not good)"),
        Words(f"OEE = A × P × Q = {100 * oee:.1f} %", f"OEE = A × P × Q = {100 * oee:.1f} %")))


def _products(run: Instance, at: MachineAt, window: dict[str, Any]) -> list[tuple[str, float, int]]:
    """The parts the machine made in the window by ideal cycle time, the products that share one in one row."""
    m = next(m for m in run.sim.machines if m.path == at.path)
    start = window["start_ms"] / 1000 - run.sim.start_epoch
    end = window["end_ms"] / 1000 - run.sim.start_epoch
    made: dict[float, int] = {}
    for t, ideal in zip(m.done_t, m.done_ideal, strict=True):
        if start <= t < end:
            made[ideal] = made.get(ideal, 0) + 1
    by_time: dict[float, list[str]] = {}
    for product, seconds in m.ideal_s.items():
        by_time.setdefault(seconds, []).append(product)
    rows = [(" / ".join(by_time.get(c, ["?"])), c, n) for c, n in sorted(made.items())]
    # the exercise's own check: the parts it lists add up to the truth's ideal time
    assert abs(sum(c * n for _, c, n in rows) - window["ideal_s"]) < 1e-3, (at.path, rows, window["ideal_s"])
    return rows


def _constraint(run: Instance, rng: random.Random) -> Exercise:
    """A line's constraint station from its stations' ideal cycle times and its order mix."""
    lines = [line for site in run.sim.plant.sites for area in site.areas for line in area.lines
             if len(line.machines) > 1]
    line: Line = rng.choice(lines)
    products = [o.product for o in line.orders]
    quantity = {o.product: o.quantity for o in line.orders}
    stations = Table("stations.csv", Words("工位（按工艺顺序）", "stations (in flow order)"),
                     (Words("工位", "station"), Words("名称", "name"),
                      *(Words(f"{p} 理想节拍（秒）", f"{p} ideal cycle time (s)") for p in products)),
                     tuple((m.id, f"{m.name.zh} {m.name.en}", *(m.cycle_time_s[p] for p in products))
                           for m in line.machines))
    orders = Table("orders.csv", Words("订单", "orders"), (Words("产品", "product"), Words("数量", "quantity")),
                   tuple((p, quantity[p]) for p in products))
    total = sum(quantity.values())
    means = [(m, line.mean_ideal_s(m)) for m in line.machines]
    constraint = line.constraint
    mix = " + ".join(f"{quantity[p]} × c({p})" for p in products)
    return Exercise(0, "constraint", Words("瓶颈工位", "The constraint station"), Words(
        f"{line.name.zh}的各工位理想节拍与订单如下。哪个工位是瓶颈（约束）工位？",
        f"The stations of the {line.name.en} and its orders are below. Which station is the constraint "
        "(bottleneck)?"),
        (stations, orders),
        (Field("station", Words("瓶颈工位", "constraint station"), Answer.CHOICE, constraint.id,
               choices=tuple((m.id, Words(m.name.zh, m.name.en)) for m in line.machines)),),
        (Words(f"按订单加权的平均理想节拍 = ({mix}) / {total}",
               f"the ideal cycle time averaged over the orders = ({mix}) / {total}"),
         *(Words(f"{m.id}: {s:.1f} 秒/件", f"{m.id}: {s:.1f} s per part") for m, s in means),
         Words(f"平均节拍最长的工位决定整线产出：{constraint.id}（{constraint.name.zh}）",
               f"the station with the longest mean cycle sets the line's output: {constraint.id} "
               f"({constraint.name.en})")))


def _site(plant: Plant, rng: random.Random) -> Site:
    sites = [s for s in plant.sites if any(at.machine.key_process for at in plant.machines() if at.site is s)]
    return rng.choice(sites or list(plant.sites))


def _nc_rate(plant: Plant, site: Site) -> Exercise:
    """A site's 关键工序数控化率 from its register (the equipment basis, production equipment only)."""
    entries = [e for e in register(plant) if e.site == site.id]
    ats = {at.path: at for at in plant.machines()}
    rows = []
    for e in entries:
        at = ats.get(e.path)
        name = f"{at.machine.name.zh} {at.machine.name.en}" if at else e.path.rsplit("/", 1)[-1]
        control = CONTROL_WORDS[e.control]
        rows.append((e.path.rsplit("/", 1)[-1], name, e.process or "—", (YES if e.key_process else NO).zh + " "
                     + (YES if e.key_process else NO).en, f"{control.zh} {control.en}",
                     (YES if e.auxiliary else NO).zh + " " + (YES if e.auxiliary else NO).en))
    table = Table("register.csv", Words("设备台账", "equipment register"),
                  (Words("设备", "machine"), Words("名称", "name"), Words("工序", "process"),
                   Words("关键工序", "key process"), Words("控制方式", "control"), Words("辅助设备", "auxiliary")),
                  tuple(rows))
    rate = indicators(entries).nc_rate
    assert rate.value is not None
    return Exercise(0, "nc_rate", Words("关键工序数控化率", "The key-process NC rate"), Words(
        f"{site.name.zh}的设备台账如下（{'流程' if site.industry.value == 'process' else '离散'}行业）。"
        "关键工序设备有几台？其中数控的几台？关键工序数控化率是多少？",
        f"The register of the {site.name.en} ({site.industry.value} industry) is below. How many key-process "
        "machines are there, how many of them are under numerical control, and what is the key-process NC rate?"),
        (table,),
        (Field("denominator", Words("关键工序设备台数", "key-process machines"), Answer.COUNT, rate.denominator),
         Field("numerator", Words("其中数控台数", "of them under NC"), Answer.COUNT, rate.numerator),
         Field("rate", Words("关键工序数控化率", "key-process NC rate"), Answer.PERCENT, rate.value, RATE_TOLERANCE)),
        (Words("只数关键工序上的生产设备；辅助设备不是生产设备，不计入",
               "count the production equipment of key processes only; auxiliary equipment is not production "
               "equipment"),
         Words("离散行业中数控（NC）、计算机数控（CNC）和机器人控制器算数控；流程行业中 DCS 与 PLC 算过程控制"
               if site.industry.value == "discrete" else
               "流程行业中集散控制系统（DCS）与可编程控制器（PLC）算过程控制（数控）",
               "in discrete industry NC, CNC and robot controllers count as numerical control; in process "
               "industry DCS and PLC count as process control" if site.industry.value == "discrete" else
               "in process industry DCS and PLC count as process control (NC)"),
         Words(f"数控化率 = {rate.numerator} / {rate.denominator} = {100 * rate.value:.1f} %",
               f"NC rate = {rate.numerator} / {rate.denominator} = {100 * rate.value:.1f} %")))


def _fault(run: Instance) -> Exercise:
    """The fault injected into the run, named from the states and counts of the machine it shows on."""
    at = run.shown
    truth = _machine_truth(run, at)
    hours = [w for w in truth["windows"]["hour"] if w["PBT_s"] > 0]
    columns = ("producing", "setup", "breakdown", "micro_stop", "starved", "blocked")
    table = Table("hours.csv", Words(f"{at.machine.id} 每小时状态与产量", f"{at.machine.id} hour by hour"),
                  (Words("时段", "hour"), *(Words(f"{_reason(c).zh}（秒）", f"{_reason(c).en} (s)") for c in columns),
                   Words("短停次数", "micro-stops"), Words("加工件数", "parts made"), Words("废品", "scrap"),
                   Words("返工", "rework")),
                  tuple((f"{_clock(at.site, w['start_ms'])}–{_clock(at.site, w['end_ms'])}",
                         *(round(w["reasons_s"].get(c, 0.0)) for c in columns), w["micro_stops"], w["PQ"], w["SQ"],
                         w["RQ"]) for w in hours))
    injected = run.truth["injected"][0]
    start = _clock(at.site, injected["start_ms"])
    fault = run.fault
    return Exercise(0, "fault", Words("故障判别", "Name the fault"), Words(
        f"{start} 起，{_name(at).zh}（{at.line.name.zh}）受到了一次注入的异常。"
        "根据它每小时的状态与产量，判断是哪一种。",
        f"From {start}, something was injected that shows on {_name(at).en} ({at.line.name.en}). From its states "
        "and counts hour by hour, which kind was it?"),
        (table,),
        (Field("kind", Words("异常类型", "kind"), Answer.CHOICE, fault.kind,
               choices=tuple((f.kind, f.words) for f in FAULTS)),),
        (Words(f"真值的注入记录：{fault.words.zh}（{fault.kind}），对象 {run.event.target}，{start} 开始",
               f"the truth's injected list: {fault.words.en} ({fault.kind}) on {run.event.target} from {start}"),
         Words(f"表中从 {start} 起的时段：{fault.sign.zh}", f"in the table from {start}: {fault.sign.en}")))


def _upgrade(plant: Plant, site: Site) -> Exercise | None:
    """The fewest machines to upgrade to NC for a target the site misses, and what the upgrade changes (the
    what-if's answer); none when every key-process machine is under NC already."""
    entries = [e for e in register(plant) if e.site == site.id]
    before = indicators(entries)
    if before.nc_rate.value is None or before.nc_rate.numerator == before.nc_rate.denominator:
        return None
    missed = sorted((t for t, gap in gaps(before.nc_rate.value, "nc_rate", site.region) if gap < 0),
                    key=lambda t: (t.value, t.year, t.id))
    target = missed[0] if missed else None
    goal = target.value if target is not None else 1.0
    label = Words(f"{target.label_zh}（{100 * goal:.0f} %）", f"{target.label_en} ({100 * goal:.0f} %)") \
        if target is not None else Words("100 %", "100 %")
    paths = fewest_upgrades(entries, goal)
    after = indicators(upgraded(entries, paths))
    assert after.nc_rate.value is not None and after.digitization.value is not None
    names = ", ".join(p.rsplit("/", 1)[-1] for p in paths)
    return Exercise(0, "upgrade", Words("改造的效果", "What an upgrade changes"), Words(
        f"{site.name.zh}的关键工序数控化率为 {100 * before.nc_rate.value:.1f} %"
        f"（{before.nc_rate.numerator}/{before.nc_rate.denominator}）。要达到{label.zh}，至少要把几台非数控的关键工序设备改造为"
        "数控（改造后也是数字化设备）？改造后数控化率与生产设备数字化率各是多少？（用上一题的台账）",
        f"The {site.name.en}'s key-process NC rate is {100 * before.nc_rate.value:.1f} % "
        f"({before.nc_rate.numerator}/{before.nc_rate.denominator}). To reach {label.en}, how many key-process "
        "machines not under NC must be upgraded to NC at least (an upgraded machine is digital too)? What do the NC "
        "rate and the production equipment digitization rate become? (The register of the exercise before.)"),
        (), (Field("machines", Words("至少改造台数", "fewest machines"), Answer.COUNT, len(paths)),
             Field("nc_rate", Words("改造后数控化率", "NC rate after"), Answer.PERCENT, after.nc_rate.value,
                   RATE_TOLERANCE),
             Field("digitization", Words("改造后数字化率", "digitization rate after"), Answer.PERCENT,
                   after.digitization.value, RATE_TOLERANCE)),
        (Words(f"需要数控的台数 = ⌈{100 * goal:.0f} % × {before.nc_rate.denominator}⌉ = "
               f"{before.nc_rate.numerator + len(paths)}，现有 {before.nc_rate.numerator} 台，至少改造 {len(paths)} 台"
               f"（sfsim whatif --target 选出：{names}）",
               f"machines under NC needed = ⌈{100 * goal:.0f} % × {before.nc_rate.denominator}⌉ = "
               f"{before.nc_rate.numerator + len(paths)}; {before.nc_rate.numerator} are: upgrade "
               f"{len(paths)} at least (sfsim whatif --target picks {names})"),
         Words(f"数控化率 {after.nc_rate.numerator}/{after.nc_rate.denominator} = {100 * after.nc_rate.value:.1f} %",
               f"NC rate {after.nc_rate.numerator}/{after.nc_rate.denominator} = {100 * after.nc_rate.value:.1f} %"),
         Words(f"数字化率 {before.digitization.numerator}/{before.digitization.denominator} → "
               f"{after.digitization.numerator}/{after.digitization.denominator} = "
               f"{100 * after.digitization.value:.1f} %（已是数字化的设备改造后不再增加）",
               f"digitization {before.digitization.numerator}/{before.digitization.denominator} → "
               f"{after.digitization.numerator}/{after.digitization.denominator} = "
               f"{100 * after.digitization.value:.1f} % (a machine digital already adds nothing)"),
         Words("在仿真中，控制方式的改变不改变任何时间：OEE 与产量不变", "in the simulation a change of control "
               "changes no time: OEE and output stay as they are")))


__all__ = ["FAULTS", "RUN_S", "Instance", "exercises", "instance", "team_seed"]
