"""aiomqtt where its public API is not enough: every use of its internals, by the publisher sessions, is here.

The sessions are shopfloor/_publisher.py's (simulated MQTT machines and the edge gateway). Written
against aiomqtt 2.5 on paho-mqtt 2.2 (pyproject.toml holds aiomqtt below 3, which no longer drives
paho). ``SEAM`` lists each internal relied on below; tests/test_seams.py checks each against
the installed aiomqtt, so an upgrade that breaks one fails a test naming this module instead of a
machine or a gateway in the field.

- **A batch straight through paho** (``publish_unawaited``, ``when_acknowledged``). aiomqtt's
  ``publish`` costs an event, a coroutine and a timeout task per message, which halved the replay
  rate of a long backlog. Here a message goes to the paho client aiomqtt drives, ``Client._client``,
  and its waiter joins ``Client._pending_publishes`` (message id → a waiter), which aiomqtt's
  on_publish pops and calls ``set()`` on when the broker acknowledges the message.
- **A lost connection** (``connection_lost``): ``Client._disconnected``, the future aiomqtt
  completes when the connection ends (with the error when it was unexpected). A quiet session
  waits on it to notice a lost connection.
- **A network cut** (``cut_connection``): the socket of ``Client._client`` (paho's public ``socket()``)
  shut down under the session, as a network outage would: no DISCONNECT, so the broker publishes the
  session's will, and the session sees its connection lost.
- **No error left behind** (``TidyClient``): aiomqtt sets an unexpected disconnection's error on
  ``Client._disconnected`` that nobody awaits when the connection's context ends after it, and
  asyncio then logs "Future exception was never retrieved" when the future is collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ._seam_check import Requirement, Seam


class Waiter(Protocol):
    """What aiomqtt calls when the broker acknowledged a message."""

    def set(self) -> None: ...


class TidyClient(aiomqtt.Client):
    """aiomqtt's client, leaving no error behind: the error of an unexpected disconnection was handled (the
    session reconnects), so it is retrieved when the connection's context ends."""

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        try:
            await super().__aexit__(exc_type, exc, tb)
        finally:
            lost = connection_lost(self)
            if lost.done() and not lost.cancelled():
                lost.exception()


def publish_unawaited(client: aiomqtt.Client, topic: str, payload: bytes, qos: int,
                      retain: bool) -> paho.MQTTMessageInfo:
    """Hand a message to paho as it is, with nothing waiting for it (see ``when_acknowledged``)."""
    return client._client.publish(topic, payload, qos, retain)


def when_acknowledged(client: aiomqtt.Client, mid: int, waiter: Waiter) -> None:
    """Have aiomqtt call ``waiter.set()`` when the broker acknowledges message ``mid``."""
    pending: dict[int, Any] = client._pending_publishes
    pending[mid] = waiter


def cut_connection(client: aiomqtt.Client) -> None:
    """End the client's connection as a network outage would: the TCP connection torn down, no DISCONNECT."""
    sock = client._client.socket()
    if isinstance(sock, socket.socket):  # TLS too: ssl.SSLSocket is one
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def connection_lost(client: aiomqtt.Client) -> asyncio.Future[None]:
    """Done when the client's connection ends: with the error when it was unexpected."""
    return client._disconnected


# ------------------------------------------------------------ what is relied on


def _made(probe: Callable[[aiomqtt.Client], bool]) -> Callable[[], bool]:
    """``probe`` of a client that never connects (aiomqtt makes one in an event loop only; call outside one)."""
    async def run() -> bool:
        return probe(aiomqtt.Client("127.0.0.1"))
    return lambda: asyncio.run(run())


def _acknowledgements_set_the_waiter(client: aiomqtt.Client) -> bool:
    """paho's on_publish, as aiomqtt set it, pops the message's waiter and sets it."""
    waiter = asyncio.Event()
    when_acknowledged(client, 7, waiter)
    paho_client = client._client
    on_publish: Any = paho_client.on_publish  # paho calls it so (callback API version 2) on a PUBACK
    on_publish(paho_client, None, 7, ReasonCode(PacketTypes.PUBACK),
               Properties(PacketTypes.PUBACK))  # type: ignore[no-untyped-call]
    return waiter.is_set() and 7 not in client._pending_publishes


SEAM = Seam("aiomqtt", "shopfloor/_aiomqtt_seam.py", (
    Requirement("Client._client", _made(lambda c: isinstance(c._client, paho.Client))),
    Requirement("Client._pending_publishes", _made(lambda c: isinstance(c._pending_publishes, dict))),
    Requirement("Client._pending_publishes: on_publish sets the waiter", _made(_acknowledgements_set_the_waiter)),
    Requirement("Client._disconnected", _made(lambda c: isinstance(c._disconnected, asyncio.Future))),
))


def check() -> list[str]:
    """What the installed aiomqtt changed of what this module relies on (nothing: an empty list)."""
    return SEAM.check()
