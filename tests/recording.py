"""A contract consumer for the tests: records everything it receives and validates it by the schema."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import aiomqtt
import jsonschema

from shopfloor import parse_topic, telemetry

from .servers import Mosquitto

SCHEMA = telemetry.json_schema()
VALIDATORS = {
    kind: jsonschema.Draft202012Validator({**SCHEMA, "$ref": f"#/$defs/{kind}"})
    for kind in [*(k.value for k in telemetry.MessageKind), "health"]
}


def validate(kind: str, payload: dict[str, Any]) -> None:
    VALIDATORS[kind].validate(payload)


class Recorder:
    """A subscriber with a persistent session that reconnects, as a collector would."""

    def __init__(self, broker: Mosquitto, topic: str = "+/v1/#", identifier: str = "recorder") -> None:
        self.broker = broker
        self.topic = topic
        self.identifier = identifier
        self.messages: list[tuple[str, dict[str, Any], bool]] = []
        self.ready = asyncio.Event()

    async def run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client("127.0.0.1", self.broker.port, identifier=self.identifier,
                                          clean_session=False, protocol=aiomqtt.ProtocolVersion.V311) as client:
                    await client.subscribe(self.topic, qos=1)
                    self.ready.set()
                    async for message in client.messages:
                        payload = json.loads(bytes(message.payload))
                        self.messages.append((str(message.topic), payload, bool(message.retain)))
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)

    def finished(self, machines: list[Any], prefix: str = "sfsim") -> bool:
        """Every machine's final counters and its goodbye have arrived."""
        counters, statuses = self.of("counters", prefix), self.of("status", prefix)
        return all(
            any(c["total"] == m.total for c in counters.get(m.path, ()))
            and statuses.get(m.path, [{}])[-1].get("status") == "offline"
            for m in machines
        )

    def of(self, kind: str, prefix: str = "sfsim") -> dict[str, list[dict[str, Any]]]:
        """Payloads of one message kind by machine path, in arrival order."""
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for topic, payload, _ in self.messages:
            try:
                parts = parse_topic(topic)
            except ValueError:
                continue  # a gateway's health topic
            if parts.kind.value == kind and parts.prefix == prefix:
                out[parts.path].append(payload)
        return out

    def unique(self, kind: str, path: str, prefix: str = "sfsim") -> list[dict[str, Any]]:
        """One payload per seq, in seq order (a re-sent message is the same message)."""
        by_seq: dict[int, dict[str, Any]] = {}
        for p in self.of(kind, prefix)[path]:
            assert by_seq.setdefault(p["seq"], p) == p, f"seq {p['seq']} of {path} {kind} came with two payloads"
        return [p for _, p in sorted(by_seq.items())]


    def by_session(self, path: str, prefix: str = "sfsim") -> dict[int, dict[int, dict[str, Any]]]:
        """Seq → payload per publisher session, a message belonging to the last birth received before it."""
        sessions: dict[int, dict[int, dict[str, Any]]] = {}
        current: int | None = None
        for topic, payload, _ in self.messages:
            try:
                parts = parse_topic(topic)
            except ValueError:
                continue
            if parts.path != path or parts.prefix != prefix or "seq" not in payload:
                continue
            if parts.kind.value == "birth":
                current = payload["session"]
            assert current is not None, f"{path}: {parts.kind.value} before any birth"
            got = sessions.setdefault(current, {}).setdefault(payload["seq"], payload)
            assert got == payload, f"{path}: session {current} seq {payload['seq']} came with two payloads"
        return sessions


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")
