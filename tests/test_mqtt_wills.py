"""A machine's last will always speaks for the session consumers last heard announced.

MQTT fixes a will when a client connects, so a publisher whose outbox begins a new session
(a gateway's source back after an outage) must connect again to will that session's
``offline``. Until it has, nothing of the new session may go out: were the gateway killed
just after the new session's ``online``, the broker would publish the old session's
``offline`` over it, and a consumer would take the machine for online for good.

The publisher reaches a real Mosquitto through a relay that keeps what each connection sent,
so the test reads from the wire which will each message was sent under.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge._outbox import SpoolOutbox
from shopfloor import MessageKind
from shopfloor import telemetry as contract
from shopfloor._mqtt_settings import MqttSettings
from shopfloor._publisher import Outgoing, Publisher
from shopfloor.spool import Spool

from .servers import Mosquitto

pytestmark = pytest.mark.integration

PATH = "e/s/a/l/m"
FIRST, SECOND = 1_767_571_200_000, 1_767_571_260_000
_CONNECT, _PUBLISH = 1, 3


class Relay:
    """A TCP relay to the broker that records, per connection, the bytes the client sent."""

    def __init__(self, broker: Mosquitto) -> None:
        self.broker = broker
        self.sent: list[bytearray] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._done: list[asyncio.Future[Any]] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        broker_r, broker_w = await asyncio.open_connection("127.0.0.1", self.broker.port)
        self._writers += [client_w, broker_w]
        record = bytearray()
        self.sent.append(record)

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter, keep: bytearray | None) -> None:
            while data := await r.read(65536):
                if keep is not None:
                    keep += data
                w.write(data)
                await w.drain()
            w.close()

        done = asyncio.gather(pipe(client_r, broker_w, record), pipe(broker_r, client_w, None),
                              return_exceptions=True)
        self._done.append(done)
        await done

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in self._writers:
            w.close()
        await asyncio.gather(*self._done, return_exceptions=True)


def _packets(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, variable header and payload) of each MQTT control packet in ``data``."""
    i = 0
    while i < len(data):
        kind = data[i] >> 4
        i += 1
        length, shift = 0, 0
        while True:
            byte = data[i]
            i += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        yield kind, data[i:i + length]
        i += length


def _json_objects(body: bytes) -> Iterator[dict[str, Any]]:
    text = body.decode("utf-8", errors="replace")
    decoder = json.JSONDecoder()
    at = text.find("{")
    while at >= 0:
        try:
            value, end = decoder.raw_decode(text, at)
        except ValueError:
            at = text.find("{", at + 1)
            continue
        if isinstance(value, dict):
            yield value
        at = text.find("{", end)


def _wire(relay: Relay) -> list[tuple[int | None, list[dict[str, Any]]]]:
    """Per connection: the session its will is ``offline`` for, and the birth and status payloads it published."""
    out = []
    for record in relay.sent:
        will, published = None, []
        for kind, body in _packets(bytes(record)):
            if kind == _CONNECT:
                will = next((o["session"] for o in _json_objects(body) if o.get("status") == "offline"), None)
            elif kind == _PUBLISH:
                published += [o for o in _json_objects(body) if "session" in o]
        out.append((will, published))
    return out


def _birth(session_ms: int) -> Outgoing:
    payload = contract.birth({"machine": {"id": "m"}}, ts_ms=session_ms, seq=0, session_ms=session_ms)
    return Outgoing(MessageKind.BIRTH, contract.encode(payload), retain=True)


def _online(session_ms: int) -> Outgoing:
    payload = contract.status(online=True, ts_ms=session_ms, session_ms=session_ms)
    return Outgoing(MessageKind.STATUS, contract.encode(payload), retain=True)


def test_nothing_of_a_new_session_goes_out_under_the_old_sessions_will(mosquitto: Mosquitto, tmp_path: Path) -> None:
    relay = Relay(mosquitto)
    asyncio.run(_runs(relay, tmp_path, [(FIRST, SECOND)]))  # SECOND: the machine's source lost and back
    sent = [(will, [(o.get("status", "birth"), o["session"]) for o in published]) for will, published in _wire(relay)]
    assert any(("online", SECOND) in published for _, published in sent), sent
    for will, published in sent:
        # a status under its own session's will (a birth goes under the will of the one before: the will speaks for
        # the session consumers last received)
        assert all(session == will for kind, session in published if kind != "birth"), sent


def test_a_restarted_gateways_greeting_never_calls_the_ended_session_online(mosquitto: Mosquitto,
                                                                             tmp_path: Path) -> None:
    # the spool remembers the last birth delivered (FIRST); restarted, the gateway has begun SECOND before its MQTT
    # session is up: the greeting re-sends FIRST's birth with the status now — which is FIRST's offline, not online
    relay = Relay(mosquitto)
    first_run, _ = asyncio.run(_runs(relay, tmp_path, [(FIRST,), (SECOND,)]))
    after = [(o.get("status", "birth"), o["session"]) for _, published in _wire(relay)[first_run:] for o in published]
    assert after[:2] == [("birth", FIRST), ("offline", FIRST)], after
    assert ("online", SECOND) in after and ("online", FIRST) not in after, after


async def _runs(relay: Relay, tmp_path: Path, runs: list[tuple[int, ...]]) -> list[int]:
    """A gateway's machine, once per run on the same spool: each run begins its sessions, one after another;
    the relay's connection count after each run."""
    await relay.start()
    ends = []
    try:
        for sessions in runs:
            await _publish(relay, tmp_path / "edge.sqlite", sessions)
            ends.append(len(relay.sent))
    finally:
        await relay.close()
    return ends


async def _publish(relay: Relay, spool_path: Path, sessions: tuple[int, ...]) -> None:
    spool = Spool(spool_path, max_messages=1000)
    outbox = SpoolOutbox(spool, PATH)
    publisher = Publisher(PATH, outbox, MqttSettings(host="127.0.0.1", port=relay.port), identifier="will-test",
                          tls=None, persistent=True)
    task = asyncio.create_task(publisher.run())
    try:
        for session in sessions:
            outbox.session_ms, outbox.online = session, True
            outbox.put(_birth(session))
            outbox.put(_online(session))
            publisher.notify()
            async with asyncio.timeout(10):
                while outbox.peek(1) or outbox.will_session != session:
                    await asyncio.sleep(0.02)
        publisher.close()
        async with asyncio.timeout(10):
            await task
    finally:
        task.cancel()
        spool.close()
