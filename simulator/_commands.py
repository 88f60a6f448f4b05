"""Live commands to a running plant, whatever carries them (the MQTT control topic, OPC UA methods): the one place
that turns an event given live into the id of the event applied, or the reason it was refused."""

from __future__ import annotations

from typing import NamedTuple

from shopfloor import Event, ScenarioError, parse_event

from ._simulation import Simulation

#: a command larger than this is refused unread
MAX_COMMAND_BYTES = 16_384


class Accepted(NamedTuple):
    """An event applied live: its id in the truth's ``injected``, and the event as checked."""

    number: int
    event: Event


class Refused(Exception):
    """A command the plant does not apply; ``str()`` is the reason, as the one who sent it reads it."""


def reason(error: ScenarioError) -> str:
    """The issues of a refused event on one line: ``path: message; …``."""
    return "; ".join(f"{i.path}: {i.message}" if i.path else i.message for i in error.issues)


def inject(sim: Simulation, event: object, *, source: str, at: str | None = None) -> Accepted | None:
    """Apply ``event`` (a mapping as a scenario file writes one, without ``at``: it applies now), checked as a
    scenario's events are; None when its target is in no machine this run (shard) has. ``at``: the ISA-95 path
    the target must name (a command given to that node). ``Refused`` with the reason when it cannot be applied."""
    try:
        parsed = parse_event(event, sim.plant, source=source)
        if at is not None and parsed.path != at:  # an id that is also another level's, e.g. a machine's
            raise Refused(f"event.target: '{parsed.target}' names {parsed.path}, not this node ({at})")
        if not sim.owns(parsed):
            return None
        return Accepted(sim.inject(parsed), parsed)
    except ScenarioError as e:
        raise Refused(reason(e)) from None
    except ValueError as e:  # a change: it applies from the start of a run only
        raise Refused(str(e)) from None


def clear(sim: Simulation, number: int) -> None:
    """End event ``number`` now; ``Refused`` if it is not under way (or no event has that id)."""
    try:
        sim.clear(number)
    except ValueError as e:
        raise Refused(str(e)) from None
