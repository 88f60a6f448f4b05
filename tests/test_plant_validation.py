"""`sfsim validate`: every problem, with file, line, path and what is wrong — never a traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from collector import Rate
from shopfloor import AuxiliaryReason, Control, Industry, PlantError, Protocol, load_plant, parse_plant

GOOD = """\
enterprise: {id: acme, name: {zh: 艾克米, en: Acme}}
sites:
  - id: s1
    lines:
      - id: L1
        machines:
          - {id: M1, kind: cnc_lathe, cycle_time: 60s}
          - {id: M2, kind: manual_assembly, cycle_time: 50s}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(PlantError) as caught:
        parse_plant(textwrap.dedent(text), source="plant.yaml")
    return [str(i) for i in caught.value.issues]


def with_machine(fields: str) -> str:
    """GOOD with a third machine on line L1 described by ``fields`` (flow mapping body)."""
    return GOOD + f"          - {{{fields}}}\n"


def test_a_short_plant_gets_sensible_defaults() -> None:
    plant = parse_plant(GOOD, source="plant.yaml")
    site = plant.sites[0]
    lathe, assembly = site.areas[0].lines[0].machines
    assert site.industry is Industry.DISCRETE and site.calendar.timezone == "Asia/Shanghai"
    assert [s.id for s in site.calendar.shifts] == ["A", "B"]
    assert site.areas[0].id == "main"
    assert lathe.control is Control.CNC and lathe.digital and lathe.networked
    assert lathe.protocol is Protocol.OPCUA
    assert assembly.control is Control.MANUAL and not assembly.digital and not assembly.networked
    assert assembly.protocol is Protocol.NONE
    assert lathe.name.zh == "数控车床 M1" and lathe.name.en == "CNC lathe M1"
    assert lathe.cycle_time_s == {"part": 60.0}
    assert lathe.buffer == 10 and lathe.key_process is False


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            "id: M3, kind: cnc_lathe, cycle_time: 60s, mttr: -5m",
            "plant.yaml:9: sites[0].lines[0].machines[2].mttr: must be a positive duration, got '-5m'",
        ),
        (
            "id: M3, kind: cnc_lathe, cycle_time: 0",
            "plant.yaml:9: sites[0].lines[0].machines[2].cycle_time: must be a positive duration, got 0",
        ),
        (
            "id: M3, kind: cnc_lathe",
            "plant.yaml:9: sites[0].lines[0].machines[2].cycle_time: missing required field",
        ),
        (
            "id: M3, cycle_time: 60s",
            "plant.yaml:9: sites[0].lines[0].machines[2].kind: missing required field",
        ),
        (
            "id: M3, kind: cnc_lath, cycle_time: 60s",
            "plant.yaml:9: sites[0].lines[0].machines[2].kind: unknown kind 'cnc_lath' (did you mean 'cnc_lathe'?); "
            "expected one of: cnc_machining_center, cnc_lathe, conventional_lathe, conventional_mill, robot_welding, "
            "manual_welding, press, injection_molding, screen_printer, smt_placement, reflow_oven, aoi_inspection, "
            "manual_inspection, manual_assembly, packaging, furnace, reactor, rolling_mill, mixer, other",
        ),
        (
            "id: M3, kind: press, control: pcl, cycle_time: 60s",
            "plant.yaml:9: sites[0].lines[0].machines[2].control: unknown control 'pcl' (did you mean 'plc'?); "
            "expected one of: manual, nc, cnc, robot_controller, plc, dcs",
        ),
        (
            "id: M1, kind: press, cycle_time: 60s",
            "plant.yaml:9: sites[0].lines[0].machines[2].id: duplicate machine id 'M1' "
            "(first used at sites[0].lines[0].machines[0].id)",
        ),
        (
            "id: M3, kind: press, cycle_time: 60s, networked: false, protocol: mqtt",
            "plant.yaml:9: sites[0].lines[0].machines[2].protocol: protocol 'mqtt' on a machine that is not "
            "networked (set networked: true or protocol: none)",
        ),
        (
            "id: M3, kind: manual_assembly, cycle_time: 60s, networked: true",
            "plant.yaml:9: sites[0].lines[0].machines[2].networked: a networked machine must be digital "
            "(set digital: true)",
        ),
        (
            "id: M3, kind: press, cycle_time: 60s, scrap_rate: 1.5",
            "plant.yaml:9: sites[0].lines[0].machines[2].scrap_rate: must be at least 0 and below 1, got 1.5",
        ),
        (
            "id: M3, kind: press, cycle_time: 60s, scrap_rate: 0.6, rework_rate: 0.5",
            "plant.yaml:9: sites[0].lines[0].machines[2].rework_rate: scrap_rate + rework_rate must be below 1, "
            "got 1.1",
        ),
        (
            "id: M3, kind: press, cycle_time: 60s, buffer: 0",
            "plant.yaml:9: sites[0].lines[0].machines[2].buffer: must be at least 1, got 0",
        ),
        (
            "id: M3, kind: press, cycle_time: 60s, buffer: 2.5",
            "plant.yaml:9: sites[0].lines[0].machines[2].buffer: expected a whole number, got 2.5",
        ),
        (
            "id: M3, kind: press, cycle_time: 60s, mtfb: 8h",
            "plant.yaml:9: sites[0].lines[0].machines[2].mtfb: unknown field 'mtfb' (did you mean 'mtbf'?)",
        ),
        (
            "id: M3, kind: press, cycle_time: 60s, key_process: perhaps",
            "plant.yaml:9: sites[0].lines[0].machines[2].key_process: expected true or false, got 'perhaps'",
        ),
        (
            "id: M3, kind: press, cycle_time: 60s, power_kw: {executing: -3}",
            "plant.yaml:9: sites[0].lines[0].machines[2].power_kw.executing: must not be negative, got -3",
        ),
        (
            "id: M 3, kind: press, cycle_time: 60s",
            "plant.yaml:9: sites[0].lines[0].machines[2].id: must be 1 to 64 letters, digits, '_' or '-', "
            "starting with a letter or digit, got 'M 3'",
        ),
        (
            "id: M3, kind: press, cycle_time: 60s, failure_distribution: gamma",
            "plant.yaml:9: sites[0].lines[0].machines[2].failure_distribution: unknown failure distribution "
            "'gamma'; expected one of: exponential, weibull",
        ),
        (
            "id: M3, kind: press, cycle_time: {X9: 60s}",
            "plant.yaml:9: sites[0].lines[0].machines[2].cycle_time.X9: unknown product 'X9'; site products: part\n"
            "plant.yaml:9: sites[0].lines[0].machines[2].cycle_time: no cycle time for product 'part', "
            "which line 'L1' makes",
        ),
        (
            "id: M3, kind: press, cycle_time: 60s, mtbf: soon",
            "plant.yaml:9: sites[0].lines[0].machines[2].mtbf: expected a duration such as 45, 45s, 30m, 1h30m, "
            "8h or 7d (a bare number is seconds), got 'soon'",
        ),
    ],
)
def test_each_machine_problem_has_its_exact_message(fields: str, expected: str) -> None:
    assert problems(with_machine(fields)) == expected.split("\n")


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    text = """\
    enterprise: {id: acme}
    sites:
      - id: s1
        timezone: Asia/Wuhan
        industry: chemical
        calendar:
          shifts:
            - {id: A, start: "08:00", end: "16:00", breaks: [{start: "17:00", end: "17:30"}]}
            - {id: B, start: "15:00", end: "23:00"}
            - {id: C, start: "25:00", end: "26:00"}
          non_working_days: [sat, funday]
        lines:
          - id: L1
            area: paint
            machines:
              - {id: M1, kind: cnc_lathe, cycle_time: 60s}
          - id: L1
            machines: []
      - id: s1
        lines:
          - id: L9
            machines:
              - {id: M1, kind: press, cycle_time: 1m}
    """
    assert problems(text) == [
        "plant.yaml:4: sites[0].timezone: unknown time zone 'Asia/Wuhan' (use an IANA name such as Asia/Shanghai)",
        "plant.yaml:5: sites[0].industry: unknown industry 'chemical'; expected one of: discrete, process",
        "plant.yaml:8: sites[0].calendar.shifts[0].breaks[0]: break lies outside its shift",
        "plant.yaml:9: sites[0].calendar.shifts[1]: shift 'B' overlaps shift 'A'",
        "plant.yaml:10: sites[0].calendar.shifts[2].start: expected a clock time HH:MM between 00:00 and 23:59, "
        "got '25:00'",
        "plant.yaml:10: sites[0].calendar.shifts[2].end: expected a clock time HH:MM between 00:00 and 23:59, "
        "got '26:00'",
        "plant.yaml:11: sites[0].calendar.non_working_days[1]: expected a weekday (mon … sun) or a date "
        "YYYY-MM-DD, got 'funday'",
        "plant.yaml:17: sites[0].lines[1].id: duplicate line id 'L1' (first used at sites[0].lines[0].id)",
        "plant.yaml:18: sites[0].lines[1].machines: a line needs at least one machine",
        "plant.yaml:19: sites[1].id: duplicate site id 's1' (first used at sites[0].id)",
        "plant.yaml:23: sites[1].lines[0].machines[0].id: duplicate machine id 'M1' "
        "(first used at sites[0].lines[0].machines[0].id)",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["plant.yaml: the file is empty; a plant needs enterprise and sites"]),
        ("sites: [\n", ["plant.yaml:2: not valid YAML: expected the node content, but found '<stream end>'"]),
        ("- a\n- b\n", ["plant.yaml:1: expected a mapping of fields (version, enterprise, sites), got ['a', 'b']"]),
        (
            "enterprise: {id: a}\n",
            ["plant.yaml:1: sites: missing required list"],
        ),
        (
            "sites: []\n",
            [
                "plant.yaml:1: enterprise: missing required field",
                "plant.yaml:1: sites: a plant needs at least one site",
            ],
        ),
        (
            "version: 2\n" + GOOD,
            ["plant.yaml:1: version: unsupported plant file version 2; this release reads version 1"],
        ),
        (
            GOOD + "enterprise: {id: other}\n",
            ["plant.yaml:9: enterprise: duplicate key 'enterprise' (YAML keeps only the last one)"],
        ),
    ],
)
def test_document_level_problems(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_orders_must_name_site_products_and_every_ordered_product_needs_a_cycle_time() -> None:
    text = """\
    enterprise: {id: acme}
    sites:
      - id: s1
        products: [{id: A}, {id: B}]
        lines:
          - id: L1
            orders: [{product: A, quantity: 10}, {product: C, quantity: 5}, {product: B, quantity: 0}]
            machines:
              - {id: M1, kind: press, cycle_time: {A: 30s}}
    """
    assert problems(text) == [
        "plant.yaml:7: sites[0].lines[0].orders[1].product: unknown product 'C'; expected one of: A, B",
        "plant.yaml:7: sites[0].lines[0].orders[2].quantity: must be at least 1, got 0",
        "plant.yaml:9: sites[0].lines[0].machines[0].cycle_time: no cycle time for product 'B', "
        "which line 'L1' makes",
    ]


def test_lines_must_use_declared_areas() -> None:
    text = """\
    enterprise: {id: acme}
    sites:
      - id: s1
        areas: [{id: machining}]
        lines:
          - id: L1
            area: machinning
            machines: [{id: M1, kind: press, cycle_time: 30s}]
    """
    assert problems(text) == [
        "plant.yaml:7: sites[0].lines[0].area: unknown area 'machinning' (did you mean 'machining'?); "
        "declared areas: machining"
    ]


POOL = """\
enterprise: {id: acme}
sites:
  - id: s1
    areas: [{id: machining}, {id: utilities, name: 动力车间}]
    lines:
      - id: L1
        area: machining
        machines:
          - {id: M1, kind: cnc_lathe, cycle_time: 60s}
    auxiliary:
      - {id: DL-01, name: 空压机, category: 动力设备, area: utilities, control: plc, protocol: Modbus TCP}
      - {id: QZ-01, name: {zh: 行车, en: overhead crane}, category: 起重设备}
      - {id: M9, reason: no_line, control: cnc, networked: false, manufacturer: 大连机床, model: CKA6150}
"""


def test_the_auxiliary_pool_is_in_the_register_but_never_on_a_line() -> None:
    from collector import indicators, register

    plant = parse_plant(POOL, source="plant.yaml")
    compressor, crane, lathe = plant.sites[0].auxiliary
    assert (compressor.reason, compressor.name.zh, compressor.area, compressor.control, compressor.digital,
            compressor.networked, compressor.protocol) == (
        AuxiliaryReason.NON_PRODUCTION, "空压机", "utilities", Control.PLC, True, True, "Modbus TCP")
    # the defaults: not production equipment, manual (so neither digital nor networked), no area, no protocol
    assert (crane.reason, str(crane.name), crane.area, crane.control, crane.digital, crane.networked,
            crane.protocol) == (AuxiliaryReason.NON_PRODUCTION, "行车 / overhead crane", None, Control.MANUAL, False,
                                False, "")
    assert (lathe.reason, lathe.name.zh, lathe.digital, lathe.networked, lathe.manufacturer, lathe.model) == (
        AuxiliaryReason.NO_LINE, "M9", True, False, "大连机床", "CKA6150")
    assert [at.machine.id for at in plant.machines()] == ["M1"]
    assert [at.path for at in plant.auxiliary()] == ["acme/s1/utilities/-/DL-01", "acme/s1/-/-/QZ-01",
                                                     "acme/s1/-/-/M9"]
    assert [a.id for a in plant.sites[0].areas] == ["machining"]  # areas are the lines' (the pool's keep their ids)
    entries = register(plant)
    assert [(e.auxiliary, e.key_process, e.digital) for e in entries] == [
        (False, False, True), (True, False, True), (True, False, False), (True, False, True)]
    # production equipment only (M1), unless the pool is asked for: digital 3 of 4, networked 2 of 4
    without, with_pool = indicators(entries), indicators(entries, auxiliary=True)
    assert (without.digitization, without.networking_declared) == (Rate(1, 1), Rate(1, 1))
    assert (with_pool.digitization, with_pool.networking_declared) == (Rate(3, 4), Rate(2, 4))
    assert without.nc_rate == with_pool.nc_rate == Rate(0, 0)  # no key process, and the pool is never one


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ("id: A1, reason: spare",
         "plant.yaml:14: sites[0].auxiliary[3].reason: unknown reason 'spare'; expected one of: non_production, "
         "no_line"),
        ("id: A1, area: utilites",
         "plant.yaml:14: sites[0].auxiliary[3].area: unknown area 'utilites' (did you mean 'utilities'?); declared "
         "areas: machining, utilities"),
        ("id: A1, protocol: Profinet, networked: false",
         "plant.yaml:14: sites[0].auxiliary[3].protocol: protocol 'Profinet' on a machine that is not networked (set "
         "networked: true or protocol: none)"),
        ("id: A1, networked: true",
         "plant.yaml:14: sites[0].auxiliary[3].networked: a networked machine must be digital (set digital: true)"),
        ("id: M1",
         "plant.yaml:14: sites[0].auxiliary[3].id: duplicate machine id 'M1' (first used at "
         "sites[0].lines[0].machines[0].id)"),
        ("id: A1, cycle_time: 60s",
         "plant.yaml:14: sites[0].auxiliary[3].cycle_time: unknown field 'cycle_time'"),
        ("id: A1, control: pcl",
         "plant.yaml:14: sites[0].auxiliary[3].control: unknown control 'pcl' (did you mean 'plc'?); expected one "
         "of: manual, nc, cnc, robot_controller, plc, dcs"),
    ],
)
def test_each_auxiliary_pool_problem_has_its_exact_message(fields: str, expected: str) -> None:
    assert problems(POOL + f"      - {{{fields}}}\n") == [expected]


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(PlantError, match=r"missing\.yaml: no such file"):
        load_plant(tmp_path / "missing.yaml")
    gbk = tmp_path / "gbk.yaml"
    gbk.write_bytes("enterprise: {id: 工厂}\n".encode("gbk"))
    with pytest.raises(PlantError, match=r"gbk\.yaml: not UTF-8 text"):
        load_plant(gbk)


def test_the_examples_validate_clean(examples: list[Path]) -> None:
    assert [p.name for p in examples] == ["ezhou-process.yaml", "hangzhou-electronics.yaml", "wuhan-machining.yaml"]
    for path in examples:
        load_plant(path)


def test_cli_reports_problems_without_a_traceback(tmp_path: Path, examples: list[Path]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(with_machine("id: M3, kind: cnc_lathe, cycle_time: 60s, mttr: -5m"), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "sfsim", "validate", str(bad), *map(str, examples)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2  # unusable input, as from every command (README, "Exit codes")
    assert "Traceback" not in run.stderr
    assert f"{bad}:9: sites[0].lines[0].machines[2].mttr: must be a positive duration, got '-5m'" in run.stderr
    assert f"{bad}: 1 problem(s)" in run.stderr
    for path in examples:
        assert f"{path}: ok" in run.stdout


def test_cli_validate_succeeds_on_good_files(examples: list[Path]) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "sfsim", "validate", *map(str, examples)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert "wuhan-machining.yaml: ok (1 site(s), 3 line(s), 11 machine(s))" in run.stdout


def test_numbers_yaml_reinterprets_are_caught_as_written() -> None:
    text = """\
    enterprise: {id: acme}
    sites:
      - id: s1
        calendar:
          shifts:
            - {id: 010, start: 12:30:00, end: 13:30}
            - {id: 2, start: "14:00", end: "15:00"}
        lines:
          - id: L1
            machines: [{id: 0x1F, kind: press, cycle_time: 30s}]
    """
    assert problems(text) == [
        "plant.yaml:6: sites[0].calendar.shifts[0].id: YAML reads 010 as the number 8; quote the id: '010'",
        "plant.yaml:10: sites[0].lines[0].machines[0].id: YAML reads 0x1F as the number 31; quote the id: '0x1F'",
    ]
    fixed = parse_plant(textwrap.dedent(text).replace("010", "'010'").replace("0x1F", "'0x1F'"))
    shifts = fixed.sites[0].calendar.shifts
    assert [(s.id, str(s.hours.start), str(s.hours.end)) for s in shifts] == [
        ("010", "12:30:00", "13:30:00"), ("2", "14:00:00", "15:00:00")]


def test_a_calendar_needs_a_shift_and_one_typo_gives_one_message() -> None:
    text = """\
    enterprise: {id: acme}
    sites:
      - id: s1
        calendar: {shifts: []}
        lines:
          - id: L1
            machines: [{id: M1, kind: pres, protocol: mqtt, cycle_time: 30s}]
    """
    assert problems(text) == [
        "plant.yaml:4: sites[0].calendar.shifts: a calendar needs at least one shift (leave shifts out for the "
        "default two)",
        "plant.yaml:7: sites[0].lines[0].machines[0].kind: unknown kind 'pres' (did you mean 'press'?); expected "
        "one of: cnc_machining_center, cnc_lathe, conventional_lathe, conventional_mill, robot_welding, "
        "manual_welding, press, injection_molding, screen_printer, smt_placement, reflow_oven, aoi_inspection, "
        "manual_inspection, manual_assembly, packaging, furnace, reactor, rolling_mill, mixer, other",
    ]


def test_yaml_booleans_as_keys_are_explained() -> None:
    assert problems(with_machine("id: M3, kind: press, cycle_time: 60s, power_kw: {off: 1}")) == [
        "plant.yaml:9: sites[0].lines[0].machines[2].power_kw.False: unknown field 'False' (YAML reads unquoted "
        "yes/no/on/off as true/false; quote the key)"
    ]
