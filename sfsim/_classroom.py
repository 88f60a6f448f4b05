"""The teacher's controls of ``sfsim demo``, as its web console offers them: the simulation paused, resumed or
sped up, events injected into it and cleared, checked as a scenario's events are, and scenario files loaded."""

from __future__ import annotations

from typing import Any

from shopfloor import EVENT_KINDS, ScenarioError, parse_scenario
from simulator import Pace, Refused, Simulation, clear_event, inject_event, live_refusal


def _said(error: ScenarioError) -> str:
    """A scenario's problems on one line, each with its file, line and place."""
    return "; ".join(str(issue) for issue in error.issues)


class DemoTeacher:
    """The console's ``Teacher`` for a running demo: ``ValueError`` says why an action is refused."""

    def __init__(self, sim: Simulation, pace: Pace) -> None:
        self.sim = sim
        self.pace = pace

    def pause(self) -> None:
        """Stop the plant's clock."""
        self.pace.set(paused=True)

    def resume(self) -> None:
        """Start the plant's clock again."""
        self.pace.set(paused=False)

    def set_speed(self, speed: float) -> None:
        """Sim seconds per wall second from now on."""
        self.pace.set(speed=speed)

    def inject(self, event: dict[str, Any]) -> int:
        """Apply the event now; its id in the truth's ``injected``."""
        try:
            accepted = inject_event(self.sim, event, source="console")
        except Refused as e:
            raise ValueError(str(e)) from None
        if accepted is None:
            raise ValueError(f"event.target: {event.get('target')!r} is no machine or line of this run")
        return accepted.number

    def clear(self, number: int) -> None:
        """End injected event ``number`` now."""
        try:
            clear_event(self.sim, number)
        except Refused as e:
            raise ValueError(str(e)) from None

    def load(self, text: str, source: str) -> list[int]:
        """Schedule a scenario file's events, each ``at`` counted from now (an instant: that instant, which must
        be to come); their ids. Every event is checked before any is scheduled: a file with a bad one changes
        nothing."""
        try:
            scenario = parse_scenario(text, self.sim.plant, source=source)
        except ScenarioError as e:
            raise ValueError(_said(e)) from None
        now = self.sim.now
        after = []
        for event in scenario.events:
            where = f"{event.origin[0]}:{event.origin[1]}" if event.origin[1] else event.origin[0]
            if refused := live_refusal(event):  # checked here too: before any event of the file is scheduled
                raise ValueError(f"{where}: {event.origin[2]}.{refused}")
            if event.at_s is not None:
                after.append(event.at_s)
            elif event.at_epoch is not None and event.at_epoch - self.sim.start_epoch >= now:
                after.append(event.at_epoch - self.sim.start_epoch - now)
            else:
                raise ValueError(f"{where}: {event.origin[2]}.at: that instant has passed in this run")
        try:
            self.sim.injector.check(scenario.events)  # a sensor's signal, an operator absence's manual station …
        except ScenarioError as e:
            raise ValueError(_said(e)) from None
        numbers = []
        for event, delay in zip(scenario.events, after, strict=True):
            try:
                numbers.append(self.sim.inject(event, after_s=delay))
            except ScenarioError as e:
                raise ValueError(_said(e)) from None
        return numbers

    def state(self) -> dict[str, Any]:
        """Paused or not, the speed, the injected events and the kinds one may inject."""
        kinds = [{"kind": kind.value, "help": spec.help, "levels": [level.value for level in spec.levels],
                  "params": {name: {"required": p.required, "help": p.help} for name, p in spec.params.items()}}
                 for kind, spec in EVENT_KINDS.items()]
        return {"paused": self.pace.paused, "speed": self.pace.speed, "injected": self.sim.injector.truth(),
                "kinds": kinds}
