"""The teacher's controls of ``sfsim demo``, as its web console offers them: the simulation paused, resumed or
sped up, and events injected into it and cleared, checked as a scenario's events are."""

from __future__ import annotations

from typing import Any

from shopfloor import EVENT_KINDS
from simulator import Pace, Refused, Simulation, clear_event, inject_event


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

    def state(self) -> dict[str, Any]:
        """Paused or not, the speed, the injected events and the kinds one may inject."""
        kinds = [{"kind": kind.value, "help": spec.help, "levels": [level.value for level in spec.levels],
                  "params": {name: {"required": p.required, "help": p.help} for name, p in spec.params.items()}}
                 for kind, spec in EVENT_KINDS.items()]
        return {"paused": self.pace.paused, "speed": self.pace.speed, "injected": self.sim.injector.truth(),
                "kinds": kinds}
