"""Trying the servers a service is configured for, before it runs (``sfsim collect|edge --check --connect``).

Each check logs in with the configured credentials and leaves without changing anything on
the server: the broker gets a connection with a clean session and no will, no subscription and
no message; stores and OPC UA servers are asked only what they answer without a write.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from dataclasses import dataclass

import aiomqtt

from ._mqtt_settings import MqttSettings
from ._publisher import mqtt_client, tls_context

__all__ = ["Check", "check_broker"]

#: MQTT CONNACK reason codes (MQTT 5; paho gives MQTT 3.1.1's in the same terms) → what to do about them
_REFUSALS = {
    133: "the broker refused the client id",
    134: "the broker refused the user name or password",
    135: "the broker refused the user name or password",
    136: "the broker is unavailable",
    138: "the broker has banned this client",
}


@dataclass(frozen=True, slots=True)
class Check:
    """What trying one server found."""

    #: the server, as messages name it (no credentials): "MQTT mqtt://host:1883", "OPC UA opc.tcp://…"
    target: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{self.target}: {'OK' if self.ok else 'FAILED'}: {self.detail}"


async def check_broker(settings: MqttSettings, timeout_s: float = 10.0) -> Check:
    """Connect to the broker as ``settings`` say and disconnect, under a client id of the check's own (the
    service's persistent session is left alone)."""
    target = f"MQTT {settings.url}"
    user = f" as {settings.username}" if settings.username else " without a user name"
    try:
        client = mqtt_client(settings, f"sfsim-check-{uuid.uuid4().hex[:12]}", will=None, tls=tls_context(settings))
        async with asyncio.timeout(timeout_s), client:
            pass
    except ValueError as e:  # an unreadable CA file
        return Check(target, False, str(e))
    except aiomqtt.MqttCodeError as e:
        hint = _REFUSALS.get(getattr(e.rc, "value", -1), "the broker refused the connection")
        return Check(target, False, f"{hint}{user} ({e.rc})")
    except TimeoutError:
        return Check(target, False, f"no answer in {timeout_s:g} s")
    except aiomqtt.MqttError as e:
        cause = e.__cause__ or e.__context__
        if isinstance(cause, ConnectionRefusedError):
            return Check(target, False, "connection refused (is the broker running, is the port right?)")
        if isinstance(cause, ssl.SSLError):
            return Check(target, False, f"TLS: {cause.reason or cause}")
        return Check(target, False, str(e))
    return Check(target, True, f"connected{user}, MQTT {settings.version}; nothing subscribed or published")
