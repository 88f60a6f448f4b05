"""collector/_paho_seam.py: how a change to what it relies on is said, and its client and its PUBACKs on a
socket pair (no broker: tests/test_collector_mqtt.py runs them against Mosquitto; tests/test_seams.py checks
each internal against the installed paho).
"""

from __future__ import annotations

import socket
import struct
from importlib.metadata import version
from typing import Any, cast

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from collector._paho_seam import ReadAheadClient, send_pubacks
from shopfloor._seam_check import Requirement, Seam, method


def test_a_change_is_said_with_the_version_and_the_seam() -> None:
    seam = Seam("paho-mqtt", "collector/_paho_seam.py", (
        Requirement("Client._xyz", method(paho.Client, "_xyz")),
        Requirement("Client._sock_recv(size)", method(paho.Client, "_sock_recv", "size")),
        Requirement("Client.gone", lambda: False),
    ))
    said = f"paho-mqtt {version('paho-mqtt')} changed"
    problems = seam.check()
    assert len(problems) == 3
    assert problems[0].startswith(f"{said} `Client._xyz` that collector/_paho_seam.py relies on (AttributeError")
    assert problems[1] == f"{said} `Client._sock_recv(size)` that collector/_paho_seam.py relies on"
    assert problems[2] == f"{said} `Client.gone` that collector/_paho_seam.py relies on"


def publish(topic: str, payload: bytes) -> bytes:
    """An MQTT 3.1.1 PUBLISH at QoS 0."""
    body = struct.pack("!H", len(topic)) + topic.encode() + payload
    assert len(body) < 128
    return bytes([0x30, len(body)]) + body


class Chunks:
    """A socket that has ``chunks`` to read, one per recv(), and would block after them."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.reads = 0

    def recv(self, bufsize: int) -> bytes:
        if not self.chunks:
            raise BlockingIOError
        self.reads += 1
        assert bufsize == 65536
        return self.chunks.pop(0)

    def close(self) -> None:
        pass


def test_the_read_ahead_client_handles_every_packet_one_read_holds() -> None:
    client = ReadAheadClient(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    got: list[bytes] = []
    client.on_message = lambda c, u, m: got.append(m.payload)
    packets = [publish("t", f"m{i}".encode()) for i in range(4)]
    cut = len(packets[3]) // 2
    sock = Chunks([b"".join(packets[:3]) + packets[3][:cut], packets[3][cut:]])
    cast(Any, client)._sock = sock
    assert client.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert (got, sock.reads) == ([b"m0", b"m1", b"m2"], 1)  # three packets from one recv()
    assert client.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert (got, sock.reads) == ([b"m0", b"m1", b"m2", b"m3"], 2)  # the cut one finished after the next


def test_a_batch_of_pubacks_goes_out_in_one_write() -> None:
    ours, theirs = socket.socketpair()
    try:
        client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5, manual_ack=True)
        cast(Any, client)._sock = ours
        send_pubacks(client, [1, 2, 513])
        theirs.settimeout(1)
        assert theirs.recv(64) == bytes([0x40, 2, 0, 1, 0x40, 2, 0, 2, 0x40, 2, 2, 1])
    finally:
        ours.close()
        theirs.close()


def test_without_a_packet_queue_each_message_is_acknowledged() -> None:
    acked: list[tuple[int, int]] = []

    class Bare:
        def ack(self, mid: int, qos: int) -> None:
            acked.append((mid, qos))

    send_pubacks(cast(paho.Client, Bare()), [4, 5])
    assert acked == [(4, 1), (5, 1)]
