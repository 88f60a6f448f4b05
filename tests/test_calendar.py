"""Shift calendars: the plan that PBT comes from."""

from __future__ import annotations

import datetime as dt

from shopfloor import CalendarState, Plant, load_plant

from .conftest import EXAMPLES, plant_from

TZ = dt.timezone(dt.timedelta(hours=8))


def at(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp()


def spans(plant: Plant, start: str, end: str) -> list[tuple[str, str, str, str | None]]:
    cal = plant.sites[0].calendar
    return [
        (
            dt.datetime.fromtimestamp(p.start, TZ).strftime("%a %H:%M"),
            dt.datetime.fromtimestamp(p.end, TZ).strftime("%a %H:%M"),
            p.state.value,
            p.shift.label if p.shift else None,
        )
        for p in cal.intervals(at(start), at(end))
    ]


def test_wuhan_saturday_has_maintenance_inside_the_day_shift() -> None:
    wuhan = load_plant(EXAMPLES / "wuhan-machining.yaml")
    # 2026-01-10 is a Saturday: working, with planned maintenance 14:00-16:00
    assert spans(wuhan, "2026-01-10T06:00", "2026-01-11T02:00") == [
        ("Sat 06:00", "Sat 08:00", "no_shift", None),
        ("Sat 08:00", "Sat 12:00", "working", "2026-01-10/A"),
        ("Sat 12:00", "Sat 12:30", "break", "2026-01-10/A"),
        ("Sat 12:30", "Sat 14:00", "working", "2026-01-10/A"),
        ("Sat 14:00", "Sat 16:00", "maintenance", "2026-01-10/A"),
        ("Sat 16:00", "Sat 20:00", "working", "2026-01-10/B"),
        ("Sat 20:00", "Sat 20:30", "break", "2026-01-10/B"),
        ("Sat 20:30", "Sun 00:00", "working", "2026-01-10/B"),
        # Sunday is a non-working day
        ("Sun 00:00", "Sun 02:00", "no_shift", None),
    ]


def test_night_shift_crossing_midnight_keeps_its_breaks_and_its_day() -> None:
    hangzhou = load_plant(EXAMPLES / "hangzhou-electronics.yaml")
    assert spans(hangzhou, "2026-01-06T20:00", "2026-01-07T09:00") == [
        ("Tue 20:00", "Tue 20:30", "working", "2026-01-06/day"),
        ("Tue 20:30", "Wed 00:00", "working", "2026-01-06/night"),
        ("Wed 00:00", "Wed 01:00", "break", "2026-01-06/night"),
        ("Wed 01:00", "Wed 05:00", "working", "2026-01-06/night"),
        ("Wed 05:00", "Wed 05:30", "break", "2026-01-06/night"),
        ("Wed 05:30", "Wed 08:30", "working", "2026-01-06/night"),
        ("Wed 08:30", "Wed 09:00", "working", "2026-01-07/day"),
    ]


def test_holidays_and_weekends_have_no_shifts() -> None:
    plant = plant_from(
        """
        enterprise: {id: e}
        sites:
          - id: s
            calendar:
              shifts: [{id: A, start: "08:00", end: "17:00", breaks: [{start: "12:00", end: "13:00"}]}]
              non_working_days: [saturday, sun, "2026-01-07"]
            lines: [{id: L, machines: [{id: M, kind: press, cycle_time: 1m}]}]
        """
    )
    cal = plant.sites[0].calendar
    week = cal.intervals(at("2026-01-05T00:00"), at("2026-01-12T00:00"))
    working_h = sum(p.end - p.start for p in week if p.state is CalendarState.WORKING) / 3600
    # Mon, Tue, Thu, Fri at 8 h each; Wednesday 2026-01-07 is a holiday
    assert working_h == 32
    assert [i.label for i in cal.shift_instances(at("2026-01-05T00:00"), at("2026-01-12T00:00"))] == [
        "2026-01-05/A", "2026-01-06/A", "2026-01-08/A", "2026-01-09/A"]
    assert sum(p.end - p.start for p in week) == 7 * 86400


def test_maintenance_outside_shifts_takes_nothing_from_the_plan() -> None:
    plant = plant_from(
        """
        enterprise: {id: e}
        sites:
          - id: s
            calendar:
              shifts: [{id: A, start: "08:00", end: "16:00"}]
              non_working_days: [sun]
              planned_maintenance: [{days: [sun, mon], start: "06:00", end: "10:00"}]
            lines: [{id: L, machines: [{id: M, kind: press, cycle_time: 1m}]}]
        """
    )
    # Sunday 2026-01-11 (no shift) and Monday 2026-01-12 (06:00-08:00 before the shift)
    assert spans(plant, "2026-01-11T00:00", "2026-01-12T12:00") == [
        ("Sun 00:00", "Mon 08:00", "no_shift", None),
        ("Mon 08:00", "Mon 10:00", "maintenance", "2026-01-12/A"),
        ("Mon 10:00", "Mon 12:00", "working", "2026-01-12/A"),
    ]
