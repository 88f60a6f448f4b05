"""The telemetry contract as a public interface: topics, payload builders and the JSON Schema agree."""

from __future__ import annotations

import jsonschema
import pytest

from shopfloor import REASONS, MessageKind, MqttSettings, load_plant, machine_topic, parse_topic, telemetry

from .conftest import EXAMPLES

SCHEMA = telemetry.json_schema()


def valid(kind: MessageKind | str, payload: dict[str, object]) -> None:
    jsonschema.Draft202012Validator({**SCHEMA, "$ref": f"#/$defs/{kind}"}).validate(payload)


def test_topics_carry_the_isa95_path_and_parse_back() -> None:
    at = next(m for m in load_plant(EXAMPLES / "wuhan-machining.yaml").machines() if m.machine.id == "WH-R01")
    topic = machine_topic("factory/north", at.path, MessageKind.STATE)
    assert topic == "factory/north/v1/wuhan-auto-parts/wuhan-edz/welding/axle-weld/WH-R01/state"
    parts = parse_topic(topic)
    assert (parts.prefix, parts.path, parts.kind) == ("factory/north", at.path, MessageKind.STATE)
    assert telemetry.subscription("sfsim", MessageKind.BIRTH) == "sfsim/v1/+/+/+/+/+/birth"


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("sfsim/v2/e/s/a/l/m/state", "has no 'v1' level"),
        ("sfsim/v1/e/s/a/l/state", "expected <prefix>/v1/<enterprise>/<site>/<area>/<line>/<machine>/<message>"),
        ("sfsim/v1/e/s/a/l/m/temperature", "unknown message kind 'temperature'"),
        ("sfsim/v1/e/s/a b/l/m/state", "level 'a b' is not an id"),
        ("v1/e/s/a/l/m/state", "expected <prefix>/v1/"),
    ],
)
def test_topics_outside_the_contract_say_why(topic: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("+", r"\+")):
        parse_topic(topic)


def test_every_builder_output_validates_and_every_reason_is_in_the_schema() -> None:
    at = next(iter(load_plant(EXAMPLES / "hangzhou-electronics.yaml").machines()))
    plate = telemetry.nameplate(at, signals=["a_c"], sample_period_ms=1000, origin=telemetry.Origin.SIMULATED)
    valid(MessageKind.BIRTH, telemetry.birth(plate, ts_ms=1, seq=0, session_ms=1))
    valid("health", telemetry.health(ts_ms=1, gateway="edge-1", status="online", started_ms=1,
                                     counts={"received": 3}, endpoints={"opc.tcp://h:4840": "connected"}))
    assert telemetry.gateway_topic("sfsim", "edge-1") == "sfsim/v1/_gateway/edge-1/health"
    with pytest.raises(ValueError):
        parse_topic(telemetry.gateway_topic("sfsim", "edge-1"))  # never mistaken for a machine
    valid(MessageKind.STATUS, telemetry.status(online=False, ts_ms=1, session_ms=1))
    for reason in REASONS:
        valid(MessageKind.STATE, telemetry.state(ts_ms=1, seq=3, reason=int(reason), product="P"))
    valid(MessageKind.COUNTERS, telemetry.counters(ts_ms=1, seq=4, total=3, good=2, scrap=1, rework=0,
                                                   energy_kwh=1.5, ideal_s=90.0))
    valid(MessageKind.SIGNALS, telemetry.signals(ts_ms=1, seq=5, values={"spindle_speed_rpm": 8000.0}))
    with pytest.raises(jsonschema.ValidationError):
        valid(MessageKind.COUNTERS, {"ts": 1, "seq": 1, "total": -1, "good": 0, "scrap": 0, "rework": 0,
                                     "energy_kwh": 0, "ideal_s": 0})
    with pytest.raises(ValueError):
        telemetry.encode({"ts": 1, "value": float("nan")})  # NaN is not JSON


def test_mqtt_urls_and_their_errors() -> None:
    s = MqttSettings.from_url("mqtts://plc:p%40ss@broker.local", prefix="plant")
    assert (s.host, s.port, s.tls, s.username, s.password, s.prefix) == ("broker.local", 8883, True, "plc", "p@ss",
                                                                         "plant")
    assert "p@ss" not in repr(s) and s.url == "mqtts://broker.local:8883"
    for bad, message in (
        ("http://x:1883", "expected mqtt://host"),
        ("mqtt://x:99999", "the port is not a number from 1 to 65535"),
        ("mqtt://", "expected mqtt://host"),
    ):
        with pytest.raises(ValueError, match=message):
            MqttSettings.from_url(bad)
    with pytest.raises(ValueError, match="MQTT topic prefix 'a/#'"):
        MqttSettings.from_url("mqtt://x", prefix="a/#")
    with pytest.raises(ValueError, match="QoS must be 0, 1 or 2"):
        MqttSettings(host="x", qos=3)
