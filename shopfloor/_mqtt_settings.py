"""How to reach an MQTT broker: one frozen settings object for every service."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

from .redaction import redact
from .telemetry import DEFAULT_PREFIX, check_prefix

MqttVersion = Literal["5", "3.1.1"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MqttSettings:
    """A broker and how to use it: address, TLS, credentials, protocol version, QoS, topic prefix, keepalive, and
    the reconnect back-off (doubling from ``reconnect_min_s`` to ``reconnect_max_s``)."""

    host: str
    port: int = 1883
    tls: bool = False
    #: CA bundle for TLS (None: the system's)
    ca_file: str | None = None
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    version: MqttVersion = "5"
    qos: int = 1
    prefix: str = DEFAULT_PREFIX
    keepalive_s: int = 30
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0

    def __post_init__(self) -> None:
        if self.qos not in (0, 1, 2):
            raise ValueError(f"MQTT QoS must be 0, 1 or 2, got {self.qos}")
        if self.version not in ("5", "3.1.1"):
            raise ValueError(f"MQTT version must be 5 or 3.1.1, got {self.version!r}")
        check_prefix(self.prefix)

    @classmethod
    def from_url(cls, url: str, **overrides: object) -> MqttSettings:
        """``mqtt://[user[:password]@]host[:port]`` or ``mqtts://…`` (TLS, default port 8883)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"MQTT URL {redact(url)!r}: expected mqtt://host[:port] or mqtts://host[:port]")
        tls = parts.scheme == "mqtts"
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError:
            raise ValueError(f"MQTT URL {redact(url)!r}: the port is not a number from 1 to 65535") from None
        values: dict[str, object] = {
            "host": parts.hostname,
            "port": port,
            "tls": tls,
            "username": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        """The broker address without credentials, for messages and logs."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"
