"""Bad input never stops the collector: each malformed message is counted, logged and dead-lettered.

A fuzz set of hand-made bad messages goes through real Mosquitto into a running collector;
InfluxDB must then hold exactly the valid messages, awkward strings intact. Random payloads
check the decoder itself: it answers a message or ``Invalid``, never anything else.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from collector import Collector, CollectorConfig, Invalid, KpiConfig, StoreConfig, decode
from collector._points import telemetry
from shopfloor import MqttSettings, load_plant
from shopfloor import telemetry as contract

from .conftest import EXAMPLES
from .recording import Recorder, wait_until
from .servers import InfluxDB, Mosquitto

PATH = "acme/plant-1/area-1/line-1/m-1"
TS = 1_767_571_204_000
TOPIC = f"sfsim/v1/{PATH}"
AWKWARD = 'P "quoted", comma=equals \\ back slash 中文'


@functools.cache
def _birth() -> str:
    plant = load_plant(EXAMPLES / "wuhan-machining.yaml")
    at = next(plant.machines())
    nameplate = contract.nameplate(at, signals=["spindle_speed_rpm"], sample_period_ms=1000)
    nameplate["machine"] = dict(zip(("enterprise", "site", "area", "line", "id"), PATH.split("/"), strict=True))
    return json.dumps(contract.birth(nameplate, ts_ms=1_767_571_200_000, seq=0, session_ms=1_767_571_200_000))


def valid_birth() -> dict[str, Any]:
    birth: dict[str, Any] = json.loads(_birth())
    return birth


def state(**changes: Any) -> dict[str, Any]:
    return contract.state(ts_ms=1_767_571_201_000, seq=1, reason=0, product="P1") | changes


def counters(**changes: Any) -> dict[str, Any]:
    return contract.counters(ts_ms=1_767_571_202_000, seq=2, total=3, good=2, scrap=1, rework=0, energy_kwh=0.5,
                             ideal_s=90.0) | changes


def j(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


#: (topic, payload, what the reason must mention)
BAD: list[tuple[str, bytes, str]] = [
    (f"{TOPIC}/state", b"{not json", "not JSON"),
    (f"{TOPIC}/state", b"\xff\xfe\x00", "not UTF-8"),
    (f"{TOPIC}/state", b"[1, 2, 3]", "JSON list"),
    (f"{TOPIC}/counters", b'{"ts": 1, "seq": 1, "total": NaN}', "NaN"),
    (f"{TOPIC}/counters", j(counters()).replace(b'"energy_kwh": 0.5', b'"energy_kwh": 1e999'), "finite"),
    (f"{TOPIC}/counters", j(counters(total="3")), "whole number"),
    (f"{TOPIC}/counters", j(counters(good=-1, total=0, scrap=1)), "negative"),
    (f"{TOPIC}/counters", j(counters(total=4)), "good + scrap + rework"),
    (f"{TOPIC}/counters", j({k: v for k, v in counters().items() if k != "ideal_s"}), "missing 'ideal_s'"),
    (f"{TOPIC}/state", j(state(reason_code=99)), "not a stop reason"),
    (f"{TOPIC}/state", j(state(product="line one\nline two")), "control character"),
    (f"{TOPIC}/state", j(state(ts=True)), "whole number"),
    (f"{TOPIC}/status", j({"ts": TS, "status": "maybe", "session": 1}), "online or offline"),
    (f"{TOPIC}/signals", j({"ts": TS, "seq": 3, "values": {"seq": 1.0}}), "'seq'"),
    (f"{TOPIC}/signals", j({"ts": TS, "seq": 3, "values": {"speed": "fast"}}), "must be a number"),
    (f"{TOPIC}/signals", j({"ts": TS, "seq": 3, "values": {"speed": 10**400}}), "too large"),
    (f"{TOPIC}/signals", b'{"ts": 1767571200000, "seq": 3, "values": {"speed": ' + b"9" * 5000 + b"}}",
     "not usable JSON"),
    (f"{TOPIC}/counters", j(counters(ts=10**17)), "between 2000 and 2100"),
    (f"{TOPIC}/counters", j(counters(seq=2**64)), "too large for a 64-bit integer"),
    (f"{TOPIC}/birth", j(valid_birth() | {"kind": "lathe\\ with, spaces"}), "equipment kind id"),
    (f"{TOPIC}/birth", j(valid_birth() | {"control": "telepathy"}), "telepathy"),
    (f"{TOPIC}/birth", j(valid_birth() | {"machine": {"id": "other"}}), "does not match the topic"),
    (f"{TOPIC}/alarm", j(state()), "unknown message kind 'alarm'"),
    ("sfsim/v1/acme/plant 1/area-1/line-1/m-1/state", j(state()), "is not an id"),
    ("sfsim/v1/acme/plant,1/area-1/line-1/m=1/state", j(state()), "is not an id"),
    (f"{TOPIC}/signals", j({"ts": TS, "seq": 4, "values": {f"s{i}": float(i) for i in range(5000)}}),
     "over the limit"),
]


@pytest.mark.integration
def test_malformed_messages_are_dead_lettered_and_the_valid_ones_stored_intact(
        mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path) -> None:
    dead_file = tmp_path / "dead.jsonl"
    config = CollectorConfig(collector="fuzz", mqtt=MqttSettings.from_url(mosquitto.url), group="",
                             store=StoreConfig(url=influxdb.url), batch_max_delay_s=0.05, spool_dir=tmp_path / "spool",
                             dead_letter_file=dead_file, kpi=KpiConfig(interval_s=0.2), health_interval_s=0.2)
    good = [(f"{TOPIC}/birth", j(valid_birth())), (f"{TOPIC}/state", j(state(product=AWKWARD))),
            (f"{TOPIC}/counters", j(counters())),
            (f"{TOPIC}/signals", j({"ts": 1_767_571_203_000, "seq": 3, "values": {"spindle_speed_rpm": 1500.5}}))]

    async def main() -> tuple[Collector, Recorder]:
        collector = Collector(config)
        task = asyncio.create_task(collector.run())
        dead_topic = Recorder(mosquitto, topic="sfsim/v1/_collector/fuzz/dead-letter", identifier="dead")
        recording = asyncio.create_task(dead_topic.run())
        await dead_topic.ready.wait()
        await wait_until(collector.storage.connected.is_set)
        await asyncio.sleep(0.3)
        client = paho.Client(CallbackAPIVersion.VERSION2)
        client.connect("127.0.0.1", mosquitto.port)
        client.loop_start()
        for topic, payload in good[:2]:
            client.publish(topic, payload, qos=1).wait_for_publish(5)
        for topic, payload, _ in BAD:
            client.publish(topic, payload, qos=1).wait_for_publish(5)
        for topic, payload in good[2:]:  # still alive, still storing
            client.publish(topic, payload, qos=1).wait_for_publish(5)
        await wait_until(lambda: collector.counts["received"] == len(good) + len(BAD), 10)
        await wait_until(lambda: collector.counts["points_written"] >= len(good), 10)
        await wait_until(lambda: len(dead_topic.messages) == len(BAD), 10)
        assert not task.done()
        client.loop_stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        recording.cancel()
        return collector, dead_topic

    collector, dead_topic = asyncio.run(main())
    assert collector.counts["invalid"] == len(BAD)
    assert collector.counts["valid"] == len(good)
    entries = [json.loads(line) for line in dead_file.read_text(encoding="utf-8").splitlines()]
    assert [e["topic"] for e in entries] == [t for t, _, _ in BAD]
    for entry, (_, payload, why) in zip(entries, BAD, strict=True):
        assert why in entry["reason"], (entry["reason"], why)
        # the payload as it came, up to an excerpt of 4 KiB (a 300 KB message is not copied whole), and its size
        stored = entry["payload"].encode() if "payload" in entry else base64.b64decode(entry["payload_base64"])
        assert stored == payload[:4096] and entry["size"] == len(payload)
        assert entry.get("truncated", False) == (len(payload) > 4096)
    assert [p["reason"] for _, p, _ in dead_topic.messages] == [e["reason"] for e in entries]
    # InfluxDB holds the valid messages only, the awkward product intact
    assert [r["product"] for r in influxdb.rows('SELECT "product" FROM "state"')] == [AWKWARD]
    assert [(r["total"], r["good"], r["scrap"]) for r in influxdb.rows('SELECT * FROM "counters"')] == [(3, 2, 1)]
    assert [r["spindle_speed_rpm"] for r in influxdb.rows('SELECT * FROM "signals"')] == [1500.5]
    birth = influxdb.rows('SELECT * FROM "birth"')
    assert len(birth) == 1 and birth[0]["machine"] == "m-1" and birth[0]["control"] == valid_birth()["control"]


TOPICS = st.sampled_from([f"{TOPIC}/{k.value}" for k in contract.MessageKind] + [f"{TOPIC}/x", "sfsim/v1/a/b"])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=6),
                    max_leaves=20)


def mutated(kind: str, key: str, value: Any) -> bytes:
    base = {"birth": valid_birth(), "state": state(), "counters": counters(),
            "signals": {"ts": TS, "seq": 1, "values": {"a": 1.0}}, "status": {"ts": TS, "status": "online",
                                                                          "session": 1}}[kind]
    return json.dumps(base | {key: value}, allow_nan=True).encode()


def check(topic: str, payload: bytes) -> None:
    try:
        msg = decode(topic, payload, prefix="sfsim")
    except Invalid:
        return
    for point in telemetry(msg, 0):
        assert "\n" not in point and point.count(" ") >= 2


@given(TOPICS, st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_random_bytes_are_a_message_or_invalid(topic: str, payload: bytes) -> None:
    check(topic, payload)


@given(st.sampled_from(["birth", "state", "counters", "signals", "status"]), st.text(max_size=12), JSON)
@settings(max_examples=500, deadline=None)
def test_a_contract_message_with_any_field_changed_is_a_message_or_invalid(kind: str, key: str, value: Any) -> None:
    check(f"{TOPIC}/{kind}", mutated(kind, key, value))
