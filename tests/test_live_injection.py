"""Live injection over MQTT: a teacher's ``sfsim inject`` reaches a running plant, a student's is stopped by the
broker, and a bad event is refused with the reason — every applied event in the truth as if it had been scripted.

Debian's Mosquitto with users and an ACL (the one docs/scenarios.md shows): the simulator may read
commands and write results, the teacher may write commands, the student may only read results.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from shopfloor import MqttSettings, load_plant
from simulator import MqttControl, Simulation

from .servers import Mosquitto

pytestmark = pytest.mark.integration

WUHAN = Path(__file__).parent.parent / "examples" / "wuhan-machining.yaml"
ACL = """user sim
topic read sfsim/v1/_control/+/inject
topic write sfsim/v1/_control/+/result
user teacher
topic write sfsim/v1/_control/+/inject
topic read sfsim/v1/_control/+/result
user student
topic read sfsim/v1/_control/+/result
"""
USERS = {"sim": "sim-pw", "teacher": "teacher-pw", "student": "student-pw"}


async def inject(broker: Mosquitto, user: str, *args: str) -> tuple[int, str, str]:
    url = f"mqtt://{user}:{USERS[user]}@127.0.0.1:{broker.port}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sfsim", "inject", "--mqtt", url, "--enterprise", "wuhan-auto-parts", "--timeout", "3",
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


def test_a_teacher_injects_a_student_cannot_and_a_bad_event_is_refused(tmp_path: Path) -> None:
    acl = tmp_path / "acl"
    acl.write_text(ACL, encoding="utf-8")
    broker = Mosquitto(tmp_path, users=USERS, extra_conf=f"acl_file {acl}\n")
    broker.start()
    sim = Simulation(load_plant(WUHAN), seed=1)

    async def scenario() -> list[tuple[int, str, str]]:
        settings = MqttSettings.from_url(f"mqtt://sim:sim-pw@127.0.0.1:{broker.port}")
        async with MqttControl(sim, settings) as control:
            await control.wait_ready(10)
            running = asyncio.create_task(sim.run_live(8 * 3600, speed=60))
            try:
                return [
                    await inject(broker, "teacher", "WH-C01", "breakdown", "--duration", "10m"),
                    await inject(broker, "student", "WH-C01", "breakdown", "--duration", "10m"),
                    await inject(broker, "teacher", "WH-C09", "breakdown", "--duration", "10m"),
                    await inject(broker, "teacher", "WH-M01", "micro_stop_storm", "--duration", "5m", "rate=abc"),
                ]
            finally:
                running.cancel()

    try:
        teacher, student, unknown, bad = asyncio.run(scenario())
    finally:
        broker.stop()
    assert teacher[0] == 0 and teacher[1].strip() == "accepted: event 1 (breakdown on WH-C01)", teacher
    assert student[0] == 1 and student[2].strip() == (
        "sfsim inject: the broker closed the connection on the command: this user may not publish to "
        "sfsim/v1/_control/wuhan-auto-parts/inject (the broker's ACL)"), student
    assert unknown[0] == 2 and unknown[2].strip() == (
        "sfsim inject: refused: event.target: no machine 'WH-C09' in plant wuhan-auto-parts (did you mean "
        "'WH-C01'?)"), unknown
    assert bad[0] == 2 and bad[2].strip() == "sfsim inject: refused: event.rate: expected a number, got 'abc'", bad
    (applied,) = sim.truth()["injected"]  # the student's never reached the plant
    assert (applied["id"], applied["kind"], applied["target"]) == (
        1, "breakdown", "wuhan-auto-parts/wuhan-edz/machining/brake-disc/WH-C01")
    assert applied["end_ms"] is None or applied["end_ms"] - applied["start_ms"] == 600_000
