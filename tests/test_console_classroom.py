"""The classroom in a running demo's console: two teams answer exercises in a real browser (Debian's headless
Chromium through Playwright) and are scored against the truth, the teacher exports both teams' results, loads a
scenario file, and no request body can make the teacher's API fail."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classroom import Answer, Classroom
from shopfloor import EVENT_KINDS, load_plant
from shopfloor._scenario import at_an_instant_text

from .consoles import WUHAN, call, chromium, running_demo, until
from .pages import png_size_and_colours

pytestmark = pytest.mark.integration

SEED = 11
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One demo for the module, its exercises with the class seed ``SEED``: its URL and its run folder."""
    out = tmp_path_factory.mktemp("classroom")
    with running_demo(out, "--exercise-seed", str(SEED)) as (url, _):
        yield url, out


def _typed(field: object) -> str:
    """What a student who got it right types."""
    expected = field.expected  # type: ignore[attr-defined]
    return f"{100 * float(expected):.1f}" if field.answer is Answer.PERCENT else str(expected)  # type: ignore


def test_two_teams_are_scored_against_the_truth_in_the_browser_and_the_teacher_exports_both(
        demo: tuple[str, Path]) -> None:
    from playwright.sync_api import sync_playwright

    url, out = demo
    truth = Classroom(load_plant(WUHAN), SEED)  # the oracle: the same instance the demo's class makes
    red = {e.kind: e for e in truth.exercises("红队")}
    blue = {e.kind: e for e in truth.exercises("B")}
    outside: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(url) else None)
        page.goto(url + "exercises")
        page.fill("#team", "红队")
        page.click("#join button")
        page.wait_for_selector("[data-exercise='1']")
        # 1: the OEE right, each factor as the truth has it to one decimal
        oee = page.locator(f"[data-exercise='{red['oee'].number}']")
        for f in red["oee"].fields:
            oee.locator(f"[name='{f.key}']").fill(_typed(f))
        oee.locator("button.submit").click()
        oee.locator(".marked[data-correct='4']").wait_for()
        assert oee.locator(".solution li").count() == len(red["oee"].solution)
        assert "OEE = A × P × Q" in oee.locator(".solution").inner_text()
        # 2: the constraint station right
        station = page.locator(f"[data-exercise='{red['constraint'].number}']")
        station.locator("select[name='station']").select_option(str(red["constraint"].fields[0].expected))
        station.locator("button.submit").click()
        station.locator(".marked[data-correct='1']").wait_for()
        # 3: the NC rate with a wrong count of key-process machines: two of three right, the wrong one named
        nc = page.locator(f"[data-exercise='{red['nc_rate'].number}']")
        nc.locator("[name='denominator']").fill("7")
        nc.locator("[name='numerator']").fill("4")
        nc.locator("[name='rate']").fill("50 %")
        nc.locator("button.submit").click()
        nc.locator(".marked[data-correct='2']").wait_for()
        assert nc.locator("li[data-field='denominator']").get_attribute("data-correct") == "false"
        assert "8" in nc.locator("li[data-field='denominator']").inner_text()  # the truth, shown after answering
        assert nc.locator("input").first.is_disabled()
        assert "已答 3 题，得分 7 / 8" in page.locator("#score").inner_text()
        page.screenshot(path=str(ARTIFACTS / "console-exercises.png"), full_page=False)
        # the other team: its own instance, its own marks
        other = browser.new_page()
        other.goto(url + "exercises?team=B")
        other.wait_for_selector("[data-exercise='1']")
        wrong = next(v for v, _ in blue["constraint"].fields[0].choices if v != blue["constraint"].fields[0].expected)
        card = other.locator(f"[data-exercise='{blue['constraint'].number}']")
        card.locator("select[name='station']").select_option(wrong)
        card.locator("button.submit").click()
        card.locator(".marked[data-correct='0']").wait_for()
        # a reload keeps what was answered: the first answer stands
        page.reload()
        page.locator(f"[data-exercise='{red['nc_rate'].number}'] .marked[data-correct='2']").wait_for()
        browser.close()
    assert not errors and not outside, (errors, outside)
    width, height, colours = png_size_and_colours(ARTIFACTS / "console-exercises.png")
    assert (width, height) == (1280, 1400) and colours > 20
    status, answer = call(url + f"api/exercises/%E7%BA%A2%E9%98%9F/{red['oee'].number}", {"answers": {"oee": "1"}})
    assert (status, answer["reason"]) == (400, f"exercise {red['oee'].number}: team 红队 answered it already; the "
                                                "first answer stands")
    status, results = call(url + "api/teacher/results.csv")
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(results.removeprefix("\ufeff"))))
    scored = {(r["team"], r["kind"]): 0 for r in rows}
    for r in rows:
        scored[(r["team"], r["kind"])] += r["correct"] == "yes"
    assert scored == {("红队", "oee"): 4, ("红队", "constraint"): 1, ("红队", "nc_rate"): 2, ("B", "constraint"): 0}
    status, team_b = call(url + "api/teacher/results.csv?team=B")
    assert status == 200 and {r["team"] for r in csv.DictReader(io.StringIO(team_b.removeprefix("\ufeff")))} == {"B"}
    record = [json.loads(line) for line in (next(out.rglob("exercise-results.jsonl"))).read_text("utf-8").splitlines()]
    assert [(r["team"], r["kind"], r["correct"]) for r in record] == [
        ("红队", "oee", 4), ("红队", "constraint", 1), ("红队", "nc_rate", 2), ("B", "constraint", 0)]


def test_the_teacher_loads_a_scenario_file_and_a_bad_one_changes_nothing(demo: tuple[str, Path]) -> None:
    url, _ = demo
    _, before = call(url + "api/teacher/state")
    bad = ("id: lesson\nevents:\n  - {at: 1m, kind: breakdown, target: WH-M01, duration: 20m}\n"
           "  - {at: 2m, kind: breakdown, target: WH-M99, duration: 20m}\n")
    status, answer = call(url + "api/teacher/scenario", {"scenario": bad, "name": "lesson.yaml"})
    assert status == 400 and answer["reason"].startswith("lesson.yaml:4: events[1].target: "), answer
    register = "id: lesson\nevents:\n  - {at: 0, kind: change, target: WH-L01, set: {control: cnc}}\n"
    status, answer = call(url + "api/teacher/scenario", {"scenario": register, "name": "lesson.yaml"})
    assert (status, answer["reason"]) == (400, "lesson.yaml:3: events[0].set.control: applies from the start of a "
                                                "run only; live, a change may set " + at_an_instant_text())
    good = "id: lesson\nevents:\n  - {at: 1m, kind: changeover, target: WH-C01, duration: 2h}\n"
    status, answer = call(url + "api/teacher/scenario", {"scenario": good, "name": "lesson.yaml"})
    assert (status, answer["accepted"]) == (200, True), answer
    (number,) = answer["events"]

    def injected() -> list[dict[str, object]]:
        return [e for e in call(url + "api/teacher/state")[1]["injected"] if e["id"] not in
                {b["id"] for b in before["injected"]}]
    until(lambda: any(e["id"] == number for e in injected()), 30)  # a minute of plant time: a second or so
    (event,) = injected()  # the bad file's first event was never scheduled
    assert event["kind"] == "changeover" and str(event["target"]).endswith("/brake-disc/WH-C01")


#: request bodies of every shape, and events near enough to real ones to reach the plant's checks
junk = st.recursive(st.none() | st.booleans() | st.integers(-10, 10**12) | st.floats() | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=6)
_kinds = st.sampled_from([k.value for k in EVENT_KINDS] + ["", "explode"])
_targets = st.sampled_from(["WH-M01", "brake-disc", "wuhan-edz", "WH-M99", "", "opcua:wuhan-edz"])
_events = st.fixed_dictionaries({"kind": _kinds, "target": _targets},
                                optional={"duration": junk | st.sampled_from(["30m", "-5m", "0s", "1e9h"]),
                                          "rate": junk, "factor": junk, "signal": junk, "mode": junk, "set": junk,
                                          "at": junk, "offset": junk})
_bodies = junk | st.fixed_dictionaries({"event": _events | junk}) | st.fixed_dictionaries(
    {"speed": junk}) | st.fixed_dictionaries({"scenario": st.text(max_size=200) | junk, "name": junk})


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(action=st.sampled_from(["inject", "clear", "speed", "scenario"]), body=_bodies,
       raw=st.none() | st.binary(max_size=40))
def test_no_request_body_makes_the_teacher_api_fail(demo: tuple[str, Path], action: str, body: object,
                                                   raw: bytes | None) -> None:
    url, _ = demo
    if action == "speed" and isinstance(body, dict) and isinstance(body.get("speed"), int | float) \
            and not isinstance(body.get("speed"), bool):
        body = {"speed": "fast"}  # a real speed would race the demo to its end; the refusals are what is fuzzed
    status, answer = call(url + f"api/teacher/{action}", body, raw=raw, method="POST")
    assert status in (200, 400), (status, answer)
    assert isinstance(answer, dict) and answer["accepted"] is (status == 200), answer
    if status == 400:
        assert isinstance(answer["reason"], str) and answer["reason"], answer
    if action == "inject" and status == 200:  # a real event was accepted: end it, the plant runs on as it was
        call(url + "api/teacher/clear", {"event": answer["event"]})


def test_the_console_still_answers_after_the_fuzzing(demo: tuple[str, Path]) -> None:
    url, _ = demo
    status, fleet = call(url + "api/fleet")
    assert status == 200 and fleet["sites"][0]["lines"]
