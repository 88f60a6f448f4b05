"""paho-mqtt where its public API is not enough: every use of its internals, by the collector, is here.

Written against paho-mqtt 2.2 (pyproject.toml holds it below 3). ``SEAM`` lists each internal relied
on below; tests/test_seams.py checks each against the installed paho, so an upgrade that breaks
one fails a test naming this module instead of a collector in the field.

- **Read-ahead** (``ReadAheadClient``). paho reads a packet a few bytes at a time (the command byte,
  each length byte, then the rest: three recv() calls, and a select() per packet), which cost a
  subscriber draining a backlog more than the rest of paho's work. The client overrides
  ``Client._sock_recv(bufsize)`` (where paho reads its socket) to read 64 KiB at once and hand it
  out as asked, ``Client._create_socket()`` (called for each new connection) to forget what was
  read of the old one, and ``Client.loop_read`` to handle every packet the buffer holds, through
  ``Client._sock``, ``Client._packet_read()`` and ``Client._loop_rc_handle(rc)``. It relies on
  ``_packet_read`` answering ``MQTT_ERR_AGAIN`` when ``_sock_recv`` raises ``BlockingIOError`` and
  keeping a partly read packet for its next call.
- **Batched PUBACKs** (``send_pubacks``). ``Client.ack`` wakes paho's thread and makes a 4-byte
  send() for each message; ``Client._packet_queue(command, packet, mid, qos, info)`` queues bytes
  that paho writes as they are, so a batch's PUBACKs go out in one write. A paho without
  ``_packet_queue`` gets one ``ack`` per message.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from shopfloor._seam_check import Requirement, Seam, mentions, method

_PUBACK = 0x40
_PUBACK_PACKET = struct.Struct("!BBH")


class ReadAheadClient(paho.Client):
    """A paho client that reads the socket 64 KiB at a time.

    One recv() per wake-up fills a buffer and every packet it holds is handled before paho selects
    again; a packet the buffer ends in the middle of is finished after the next select (paho keeps a
    partly read packet). tests/test_collector_mqtt.py reads backlogs whole through it."""

    _READ_SIZE = 65536

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ahead = b""
        self._ahead_at = 0
        self._may_recv = False

    def _create_socket(self) -> Any:
        self._ahead, self._ahead_at = b"", 0  # a new connection: nothing of the old one is read
        return super()._create_socket()

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._ahead_at >= len(self._ahead):
            if not self._may_recv:
                raise BlockingIOError  # the rest after paho's next select()
            self._may_recv = False
            data = super()._sock_recv(self._READ_SIZE)
            if not data:
                return data  # the connection closed
            self._ahead, self._ahead_at = data, 0
        at = self._ahead_at
        self._ahead_at = at + bufsize
        return self._ahead[at:at + bufsize]

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        self._may_recv = True
        while self._sock is not None:
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        return MQTTErrorCode.MQTT_ERR_NO_CONN


def send_pubacks(client: paho.Client, mids: list[int]) -> None:
    """Acknowledge the QoS 1 messages ``mids`` (a manual-ack client), in one write when paho allows."""
    queue = getattr(client, "_packet_queue", None)
    if queue is None:  # not paho 2.x's packet queue: one ack at a time
        for mid in mids:
            client.ack(mid, 1)
    elif mids:
        queue(_PUBACK, b"".join([_PUBACK_PACKET.pack(_PUBACK, 2, mid) for mid in mids]), 0, 0)


# ------------------------------------------------------------ what is relied on


def _keeps_a_partly_read_packet() -> bool:
    """``_packet_read``: MQTT_ERR_AGAIN while ``_sock_recv`` would block, the packet finished on a later call."""

    class Scripted(paho.Client):
        def __init__(self) -> None:
            super().__init__(CallbackAPIVersion.VERSION2)
            self.script: list[bytes | None] = [b"\xd0", None, b"\x00"]  # a PINGRESP, cut after its first byte

        def _sock_recv(self, bufsize: int) -> bytes:
            chunk = self.script.pop(0)
            if chunk is None:
                raise BlockingIOError
            return chunk

    client = Scripted()
    return (client._packet_read() == MQTTErrorCode.MQTT_ERR_AGAIN
            and client._packet_read() == MQTTErrorCode.MQTT_ERR_SUCCESS and not client.script)


def _writes_queued_bytes_as_they_are() -> bool:
    """Bytes given to ``_packet_queue`` reach the socket unchanged (two PUBACKs in one packet)."""
    ours, theirs = socket.socketpair()
    try:
        client = paho.Client(CallbackAPIVersion.VERSION2)
        client._sock = ours
        packet = _PUBACK_PACKET.pack(_PUBACK, 2, 1) + _PUBACK_PACKET.pack(_PUBACK, 2, 2)
        client._packet_queue(_PUBACK, packet, 0, 0)  # without a network thread, paho writes at once
        theirs.settimeout(1)
        return theirs.recv(64) == packet
    finally:
        ours.close()
        theirs.close()


def _has_a_socket_attribute() -> bool:
    return getattr(paho.Client(CallbackAPIVersion.VERSION2), "_sock", False) is None  # None until connected


SEAM = Seam("paho-mqtt", "collector/_paho_seam.py", (
    Requirement("Client._sock_recv(bufsize)", method(paho.Client, "_sock_recv", "bufsize")),
    Requirement("Client._create_socket()", method(paho.Client, "_create_socket")),
    Requirement("Client.reconnect calls _create_socket()",
                mentions("paho.mqtt.client:Client.reconnect", "self._create_socket()")),
    Requirement("Client.loop_read(max_packets)", method(paho.Client, "loop_read", "max_packets")),
    Requirement("Client._sock", _has_a_socket_attribute),
    Requirement("Client._packet_read()", method(paho.Client, "_packet_read")),
    Requirement("Client._packet_read() keeps a partly read packet", _keeps_a_partly_read_packet),
    Requirement("Client._loop_rc_handle(rc)", method(paho.Client, "_loop_rc_handle", "rc")),
    Requirement("Client._packet_queue(command, packet, mid, qos, info)",
                method(paho.Client, "_packet_queue", "command", "packet", "mid", "qos", "info")),
    Requirement("Client._packet_queue() writes the bytes as they are", _writes_queued_bytes_as_they_are),
))


def check() -> list[str]:
    """What the installed paho changed of what this module relies on (nothing: an empty list)."""
    return SEAM.check()
