"""Live injection over MQTT: the control topic of a running plant (``sfsim simulate/demo --control``).

A command (``<prefix>/v1/_control/<enterprise>/inject``) carries an id and an event as a
scenario file writes one — or ``clear``, the id of an event under way to end now; it is checked
exactly as a scenario's events are, applied at once, and answered on ``…/result``: accepted
with the event's id, or refused with the reason. Who
may command is the broker's to say (an ACL: docs/scenarios.md "Live injection"); a plant
split over shards answers only for the machines it runs (the first shard also for an event
no shard could apply).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiomqtt

from shopfloor import MqttSettings
from shopfloor import telemetry as contract
from shopfloor._publisher import client_id, mqtt_client, now_ms, tls_context
from shopfloor.lifecycle import Backoff, Service

from . import _commands as commands
from ._commands import MAX_COMMAND_BYTES, Refused
from ._simulation import Simulation

log = logging.getLogger(__name__)

class MqttControl(Service):
    """Takes injection commands for ``sim``'s plant from the broker; ``ready`` once subscribed."""

    def __init__(self, sim: Simulation, settings: MqttSettings) -> None:
        super().__init__(f"MQTT control at {settings.url}")
        self.sim = sim
        self.settings = settings
        enterprise = sim.plant.enterprise.id
        self.command_topic = contract.control_topic(settings.prefix, enterprise, "inject")
        self.result_topic = contract.control_topic(settings.prefix, enterprise, "result")
        self._identifier = client_id("sfsim-control", f"{enterprise}/{sim.shard[0]}", enterprise)
        #: commands answered so far: accepted, refused
        self.accepted = 0
        self.refused = 0

    async def _open(self) -> None:
        self.spawn("control", self._serve())

    async def _serve(self) -> None:
        backoff = Backoff(self.settings.reconnect_min_s, self.settings.reconnect_max_s)
        while True:
            try:
                async with mqtt_client(self.settings, self._identifier, will=None,
                                       tls=tls_context(self.settings)) as client:
                    await client.subscribe(self.command_topic, qos=1)
                    backoff.reset()
                    self._now_ready()
                    log.info("control: taking injection commands on %s", self.command_topic)
                    async for message in client.messages:
                        reply = self.answer(message.payload if isinstance(message.payload, bytes) else b"")
                        if reply is not None:
                            await client.publish(self.result_topic, contract.encode(reply), qos=1)
            except aiomqtt.MqttError as e:
                self.ready.clear()
                log.warning("control: MQTT %s: %s; retrying", self.settings.url, e)
            await asyncio.sleep(backoff.next())

    def answer(self, payload: bytes) -> dict[str, Any] | None:
        """Apply one command; the result to publish (None: an event for machines another shard runs)."""
        command: Any = None
        try:
            if len(payload) > MAX_COMMAND_BYTES:
                raise Refused(f"the command is {len(payload)} bytes; at most {MAX_COMMAND_BYTES}")
            try:
                command = json.loads(payload)
            except ValueError as e:
                raise Refused(str(e)) from None
            if not isinstance(command, dict) or not isinstance(command.get("id"), str) or not command["id"]:
                raise Refused('expected {"id": "<text>", "event": {kind, target, …}} or {"id": "<text>", '
                              '"clear": <event id>}')
            if "clear" in command:
                return self._clear(command)
            accepted = commands.inject(self.sim, command.get("event"), source="control")
            if accepted is None:
                target = command["event"].get("target")
                return None if self.sim.shard[0] else self._refused(command, f"{target} is in no shard")
        except Refused as e:
            return self._refused(command, str(e))
        self.accepted += 1
        log.info("control: %s on %s injected (command %s)", accepted.event.kind.value, accepted.event.path,
                 command["id"])
        return {"id": command["id"], "ts": now_ms(), "accepted": True, "event": accepted.number}

    def _clear(self, command: dict[str, Any]) -> dict[str, Any] | None:
        number = command["clear"]
        if isinstance(number, bool) or not isinstance(number, int):
            return self._refused(command, f"clear: expected an event id (a whole number), got {number!r}")
        try:
            commands.clear(self.sim, number)
        except Refused as e:
            # a shard without it stays silent: the one that has it answers (the first, when none has)
            return None if self.sim.shard[0] else self._refused(command, str(e))
        self.accepted += 1
        log.info("control: event %d cleared (command %s)", number, command["id"])
        return {"id": command["id"], "ts": now_ms(), "accepted": True, "event": number}

    def _refused(self, command: Any, reason: str) -> dict[str, Any]:
        self.refused += 1
        ident = command.get("id") if isinstance(command, dict) and isinstance(command.get("id"), str) else None
        log.info("control: command %s refused: %s", ident, reason)
        return {"id": ident, "ts": now_ms(), "accepted": False, "reason": reason}
