"""A broad fuzz corpus against a running collector: bad input harms no one.

Two honest machines run an hour of production (hand-computed below) through real Mosquitto
into a collector and real InfluxDB; between every two of their messages comes one of well
over a hundred malformed or contradictory messages — every message kind, every topic shape,
on the honest machines' own topics and on machines that exist nowhere else. The collector
must stay up, count and dead-letter every bad message with its reason, store exactly the
honest machines' data, compute exactly their KPIs, and hold no series that came from bad
input.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector import Collector, CollectorConfig, KpiConfig, StoreConfig
from shopfloor import MqttSettings, load_plant
from shopfloor import telemetry as contract

from .acme import PLANT, birth_of, ms
from .recording import Recorder, wait_until
from .servers import InfluxDB, Mosquitto

pytestmark = pytest.mark.integration

SITE = "acme/s1"
AWKWARD = 'P "quoted", comma=equals \\ back slash 中文'  # a product id line protocol must escape
A, B = f"{SITE}/a1/l1/A", f"{SITE}/a1/l1/B"
NOW_MS = 1_796_000_000_000  # the receive time the far-future messages are measured against (2026-12)


def topic(path: str, kind: str) -> str:
    return f"sfsim/v1/{path}/{kind}"


def j(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


# ---------------------------------------------------------------- the honest machines

def honest() -> list[tuple[str, bytes]]:
    """A: 08:00–09:00 producing, 120 parts at 30 s, 2 scrapped. B (the line's constraint, 60 s): producing,
    broken down 08:40–09:00, 40 parts, 2 scrapped. Both report until 09:10, so the 08:00 hour closes."""
    out: list[tuple[str, bytes]] = []
    seqs = {A: 0, B: 0}

    def send(path: str, kind: str, make: Any) -> None:
        seqs[path] += 1
        out.append((topic(path, kind), j(make(seqs[path]))))

    for path in (A, B):
        out.append((topic(path, "birth"), j(birth_of(path, ms(8)))))
        out.append((topic(path, "status"), j({"ts": ms(8), "status": "online", "session": ms(8)})))
        send(path, "state", lambda q, p=path: contract.state(ts_ms=ms(8), seq=q, reason=0,
                                                             product=AWKWARD if p == A else "P"))
    for minute in range(0, 71, 10):
        t = ms(8 + minute / 60)
        a_total = min(minute, 60) * 2 + (minute - 60) * 2 * (minute > 60)
        a_scrap = 2 if minute >= 60 else 0
        send(A, "counters", lambda q, t=t, n=a_total, x=a_scrap: contract.counters(
            ts_ms=t, seq=q, total=n, good=n - x, scrap=x, rework=0, energy_kwh=n * 0.1, ideal_s=n * 30.0))
        send(A, "signals", lambda q, t=t: contract.signals(ts_ms=t, seq=q, values={"spindle_speed_rpm": 3000.0}))
        if minute == 40:
            send(B, "state", lambda q, t=t: contract.state(ts_ms=t, seq=q, reason=10, product="P"))
        if minute == 60:
            send(B, "state", lambda q, t=t: contract.state(ts_ms=t, seq=q, reason=0, product="P"))
        b_total = min(minute, 40) + (minute - 60) * (minute > 60)
        b_scrap = 2 if minute >= 40 else 0
        send(B, "counters", lambda q, t=t, n=b_total, x=b_scrap: contract.counters(
            ts_ms=t, seq=q, total=n, good=n - x, scrap=x, rework=0, energy_kwh=n * 0.2, ideal_s=n * 60.0))
    return out


# ---------------------------------------------------------------- the corpus: (topic, payload, reason)

def _state(**changes: Any) -> dict[str, Any]:
    return contract.state(ts_ms=ms(8.5), seq=900, reason=0, product="P") | changes


def _counters(**changes: Any) -> dict[str, Any]:
    return contract.counters(ts_ms=ms(8.5), seq=900, total=3, good=2, scrap=1, rework=0, energy_kwh=0.5,
                             ideal_s=90.0) | changes


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


def corpus() -> Iterator[tuple[str, bytes, str]]:
    evil = "acme/s1/a1/l1/evil"
    ghost = "acme/ghost/a1/l1/g"  # a site that exists nowhere else: nothing of it may appear anywhere
    state_ok, counters_ok = _state(), _counters()
    # topic shapes the subscription takes (sfsim/v1/+/+/+/+/+/+) that are no machine's
    for t, why in (("sfsim/v1/acme/s 1/a1/l1/x/state", "is not an id"), ("sfsim/v1/acme/s1/a.1/l1/x/state", "an id"),
                   ("sfsim/v1/acme/s1/a1/l,1/x/state", "not an id"), ("sfsim/v1/acme/s1/a1/l1/x=1/state", "not an id"),
                   ("sfsim/v1/acme/s1/a1/l1/_x/state", "not an id"), ("sfsim/v1/acme/s1/a1/l1/机器/state", "not an id"),
                   ("sfsim/v1/acme/s1/a1/l1/-x/state", "not an id"), ("sfsim/v1/acme/s1/a1//x/state", "not an id"),
                   ("sfsim/v1/acme/s1/a1/l1/x\u200b/state", "not an id"),
                   ("sfsim/v1/_collector/fuzz/a/b/c/health", "not an id"),
                   ("sfsim/v1/acme/s1/a1/l1/" + "x" * 65 + "/state", "not an id"),
                   ("sfsim/v1/acme/s1/a1/l1/x/alarm", "unknown message kind"),
                   ("sfsim/v1/acme/s1/a1/l1/x/State", "unknown message kind"),
                   ("sfsim/v1/acme/s1/a1/l1/x/state ", "unknown message kind"),
                   ("sfsim/v1/acme/s1/a1/l1/x/states", "unknown message kind"),
                   ("sfsim/v1/acme/s1/a1/l1/x/", "unknown message kind")):
        yield t, j(state_ok), why
    # payloads that are not a JSON object
    for payload, why in ((b"", "not JSON"), (b"{not json", "not JSON"), (b"\xff\xfe\x00", "not UTF-8"),
                         (b"[1, 2]", "JSON list"), (b"42", "JSON int"), (b'"text"', "JSON str"),
                         (b"null", "JSON NoneType"), (b"[" * 5000 + b"]" * 5000, "not usable JSON"),
                         (b'{"ts": 1767571200000, "seq": 1, "values": {"a": ' + b"9" * 5000 + b"}}",
                          "not usable JSON"),
                         (j(state_ok)[:-1], "not JSON"), (j(state_ok) + b"x", "not JSON")):
        yield topic(evil, "state"), payload, why
    yield topic(evil, "signals"), b'{"ts": 1767571200000, "seq": 1, "values": {"a": NaN}}', "NaN"
    yield topic(evil, "signals"), b'{"ts": 1767571200000, "seq": 1, "values": {"a": Infinity}}', "Infinity"
    yield topic(evil, "signals"), j({"ts": ms(8), "seq": 1, "values": {f"s{i}": 1.0 for i in range(6000)}}), \
        "over the limit"
    # state: every field missing, mistyped, outside its enumeration, or contradicting the reason code
    for key in ("ts", "seq", "state", "state_code", "mode", "mode_code", "reason", "reason_code", "product"):
        yield topic(A, "state"), j(_without(state_ok, key)), f"missing '{key}'"
    for changes, why in (({"state": "Running"}, "'state' is \"Running\""), ({"state_code": 7}, "'state_code' is 7"),
                         ({"mode": "Auto"}, "'mode' is \"Auto\""), ({"mode_code": -1}, "'mode_code' is -1"),
                         ({"reason": "lunch"}, "'reason' is \"lunch\""), ({"reason_code": 99}, "not a stop reason"),
                         ({"reason_code": -3}, "must not be negative"),
                         ({"state": "OutOfService", "state_code": 1}, "reason_code 0 (producing) means state"),
                         ({"mode": "Setup", "mode_code": 2}, "means mode"), ({"reason": "breakdown"}, "means reason"),
                         ({"state_code": "3"}, "'state_code' is \"3\""), ({"state_code": 3.0}, "'state_code' is 3.0"),
                         ({"state_code": True}, "'state_code' is true"),
                         ({"product": 7}, "'product' must be text"), ({"product": "a\nb"}, "control character"),
                         ({"product": "a\x00b"}, "control character"), ({"seq": -1}, "must not be negative"),
                         ({"seq": 1.5}, "whole number"), ({"seq": 2**63}, "64-bit"), ({"ts": "now"}, "whole number"),
                         ({"ts": 12}, "between 2000 and 2100"), ({"ts": 10**13 * 5}, "between 2000 and 2100"),
                         ({"ts": True}, "whole number")):
        yield topic(B, "state"), j(_state(**changes)), why
    # counters
    for key in ("ts", "seq", "total", "good", "scrap", "rework", "energy_kwh", "ideal_s"):
        yield topic(A, "counters"), j(_without(counters_ok, key)), f"missing '{key}'"
    for changes, why in (({"total": 4}, "good + scrap + rework"), ({"good": -1, "total": 0}, "must not be negative"),
                         ({"total": 3.0, "good": 2.0}, "whole number"), ({"scrap": "1"}, "whole number"),
                         ({"energy_kwh": -0.1}, "must not be negative"), ({"ideal_s": -1}, "must not be negative"),
                         ({"energy_kwh": "lots"}, "must be a number"), ({"ideal_s": None}, "must be a number"),
                         ({"total": 2**64, "good": 2**64 - 1}, "64-bit"), ({"rework": True}, "whole number")):
        yield topic(evil, "counters"), j(_counters(**changes)), why
    yield topic(A, "counters"), j(_counters(energy_kwh=10**400)).replace(b"1" + b"0" * 400, b"1e999"), "finite"
    # signals
    for values, why in (([1, 2], "must be an object"), ({"a": "fast"}, "must be a number"), ({"seq": 1.0}, "'seq'"),
                        ({"a b": 1.0}, "not a name"), ({"a": 10**400}, "too large"), ({"": 1.0}, "not a name"),
                        ({"a": None}, "must be a number"), ({"a": [1]}, "must be a number")):
        yield topic(ghost, "signals"), j({"ts": ms(8), "seq": 1, "values": values}), why
    yield topic(ghost, "signals"), j({"ts": ms(8), "values": {}}), "missing 'seq'"
    # births: every required field missing, and values outside the schema
    valid_birth = birth_of(ghost, ms(8))
    for key in valid_birth:
        yield topic(ghost, "birth"), j(_without(valid_birth, key)), f"'{key}'"
    for changes, why in (({"sample_period_ms": 0}, "above 0"), ({"sample_period_ms": -5}, "must not be negative"),
                         ({"power_kw": dict(valid_birth["power_kw"], idle=-2.0)}, "must not be negative"),
                         ({"power_kw": dict(valid_birth["power_kw"], turbo=-1.0)}, "must not be negative"),
                         ({"power_kw": {"executing": 1.0}}, "missing power_kw.'setup'"),
                         ({"control": "telepathy"}, "'control' must be one of"),
                         ({"industry": "mining"}, "'industry' must be one of"),
                         ({"protocol": "carrier pigeon"}, "'protocol' must be one of"),
                         ({"machine": {"enterprise": "acme", "site": "ghost", "area": "a1", "line": "l1", "id": "h"}},
                          "does not match the topic"),
                         ({"machine": dict(valid_birth["machine"], rack="r1")}, "must hold only"),
                         ({"name": {"zh": "x", "en": "x", "fr": "x"}}, "(and nothing else)"),
                         ({"name": {"zh": "x"}}, "with zh and en"), ({"kind_name": "lathe"}, "with zh and en"),
                         ({"kind": "lathe, fast"}, "equipment kind id"), ({"ideal_cycle_s": {}}, "product: seconds"),
                         ({"ideal_cycle_s": {"P": 0}}, "positive number"), ({"ideal_cycle_s": {"P": -1}}, "positive"),
                         ({"signals": ["a", "a b"]}, "signal names"), ({"signals": ["seq"]}, "signal names"),
                         ({"signals": "a,b"}, "signal names"), ({"key_process": "yes"}, "true or false"),
                         ({"serial": 42}, "must be text"), ({"session": -1}, "must not be negative")):
        yield topic(ghost, "birth"), j(valid_birth | changes), why
    # status
    for body, why in (({"ts": ms(8), "status": "maybe", "session": 1}, "online or offline"),
                      ({"ts": ms(8), "status": "online"}, "missing 'session'"),
                      ({"ts": ms(8), "status": "online", "session": -1}, "must not be negative"),
                      ({"status": "online", "session": 1}, "missing 'ts'"),
                      ({"ts": ms(8), "status": True, "session": 1}, "online or offline")):
        yield topic(ghost, "status"), j(body), why
    # the stream: contradictions and the future, on the honest machines' own topics
    yield topic(B, "state"), j(contract.state(ts_ms=ms(8), seq=1, reason=10, product="P")), \
        "received before with other content"
    yield topic(A, "counters"), j(contract.counters(ts_ms=ms(8.9), seq=5000, total=1, good=1, scrap=0, rework=0,
                                                    energy_kwh=0, ideal_s=30)), "counters go backwards"
    yield topic(B, "counters"), j(contract.counters(ts_ms=ms(9.5), seq=5000, total=50, good=49, scrap=1, rework=0,
                                                    energy_kwh=10, ideal_s=3000)), "scrap 1 after 2"
    yield topic(A, "state"), j(contract.state(ts_ms=NOW_MS + 86_400_000, seq=6000, reason=10, product="P")), \
        "ahead of the time the message arrived"
    yield topic(evil, "birth"), j(birth_of(evil, NOW_MS + 86_400_000)), "ahead of the time the message arrived"


BAD = list(corpus())


def test_the_corpus_is_broad() -> None:
    kinds = {t.rsplit("/", 1)[-1] for t, _, _ in BAD}
    assert len(BAD) >= 100 and len({(t, p) for t, p, _ in BAD}) == len(BAD)
    assert {"birth", "status", "state", "counters", "signals"} <= kinds


def test_bad_input_interleaved_with_honest_machines_harms_no_one(
        mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "plant.yaml").write_text(PLANT, encoding="utf-8")
    dead_file = tmp_path / "dead.jsonl"
    config = CollectorConfig(collector="fuzz", mqtt=MqttSettings.from_url(mosquitto.url),
                             store=StoreConfig(url=influxdb.url), batch_max_delay_s=0.05, spool_dir=tmp_path / "spool",
                             dead_letter_file=dead_file, health_interval_s=0.2,
                             kpi=KpiConfig(plants=(load_plant(tmp_path / "plant.yaml"),), interval_s=0.2))
    good = honest()
    # the far-future messages are measured against a fixed "now" (the honest plant time is January 2026)
    monkeypatch.setattr("collector._service.now_ms", lambda: NOW_MS)

    async def main() -> tuple[Collector, Recorder]:
        collector = Collector(config)
        task = asyncio.create_task(collector.run())
        dead_topic = Recorder(mosquitto, topic="sfsim/v1/_collector/fuzz/dead-letter", identifier="dead")
        recording = asyncio.create_task(dead_topic.run())
        await dead_topic.ready.wait()
        await wait_until(collector.storage.connected.is_set)
        await asyncio.sleep(0.3)
        client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        client.connect("127.0.0.1", mosquitto.port)
        client.loop_start()
        bad = iter(BAD)
        for t, payload in good:  # every honest message is followed by bad ones until the corpus is used up
            client.publish(t, payload, qos=1).wait_for_publish(5)
            for t_bad, p_bad, _ in [x for x in (next(bad, None), next(bad, None)) if x is not None]:
                client.publish(t_bad, p_bad, qos=1).wait_for_publish(5)
        for t_bad, p_bad, _ in bad:
            client.publish(t_bad, p_bad, qos=1).wait_for_publish(5)
        await wait_until(lambda: collector.counts["received"] == len(good) + len(BAD), 20)
        await wait_until(lambda: len(dead_topic.messages) == len(BAD), 20)
        await asyncio.sleep(1.0)  # a few KPI ticks
        assert not task.done()
        client.loop_stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        recording.cancel()
        return collector, dead_topic

    collector, dead_topic = asyncio.run(main())
    # every bad message counted and dead-lettered with its reason, in order, on the file and the topic
    assert collector.counts["invalid"] == len(BAD)
    entries = [json.loads(line) for line in dead_file.read_text(encoding="utf-8").splitlines()]
    assert [e["topic"] for e in entries] == [t for t, _, _ in BAD]
    for entry, (_, payload, why) in zip(entries, BAD, strict=True):
        assert why in entry["reason"], (entry["reason"], why)
        assert entry["size"] == len(payload) and len(entry.get("payload", entry.get("payload_base64", ""))) <= 8192
    assert [p["reason"] for _, p, _ in dead_topic.messages] == [e["reason"] for e in entries]
    # no series came from bad input: only the honest machines' (and the results of their line and site)
    paths = {r["key"] for r in influxdb.rows("SHOW SERIES")}
    assert not [p for p in paths if "evil" in p or "ghost" in p], paths
    machines = {s["tags"].get("machine") for s in influxdb.query('SELECT * FROM /^(state|counters|signals|birth|'
                                                                   'status)$/ GROUP BY "machine"')}
    assert machines == {"A", "B"}
    # the honest machines' raw data, exactly
    states = [(r["machine"], r["time"], r["reason_code"], r["product"]) for r in influxdb.rows(
        'SELECT "reason_code", "product" FROM "state" GROUP BY "machine"')]
    assert sorted(states) == sorted([("A", ms(8), 0, AWKWARD), ("B", ms(8), 0, "P"), ("B", ms(8 + 40 / 60), 10, "P"),
                                     ("B", ms(9), 0, "P")])
    b_counts = [(r["time"], r["total"], r["scrap"]) for r in influxdb.rows(
        'SELECT "total", "scrap" FROM "counters" WHERE "machine" = \'B\'')]
    assert b_counts == [(ms(8 + m / 60), min(m, 40) + max(0, m - 60), 2 if m >= 40 else 0) for m in range(0, 71, 10)]
    assert len(influxdb.rows('SELECT * FROM "counters" WHERE "machine" = \'A\'')) == 8
    # and their KPIs, worked out by hand: A at full speed (120 parts at 30 s in the hour, 2 scrapped); B producing
    # 40 min (40 parts at 60 s), then broken down
    hour = {r["machine"]: r for r in influxdb.rows(
        'SELECT * FROM "kpi" WHERE "level" = \'machine\' AND "window" = \'hour\' AND time = ' + f"{ms(8)}ms "
        'GROUP BY "machine"')}
    assert (hour["A"]["pq"], hour["A"]["gq"], hour["A"]["availability"], hour["A"]["effectiveness"]) == (
        120, 118, 1.0, 1.0)
    assert (hour["B"]["pq"], hour["B"]["gq"], hour["B"]["adet_s"]) == (40, 38, 1200.0)
    assert hour["B"]["oee"] == pytest.approx(2 / 3 * 1.0 * 38 / 40)
    assert hour["A"]["coverage"] == hour["B"]["coverage"] == 1.0 and hour["B"]["final"] is True
    line = influxdb.rows('SELECT "oee" FROM "kpi" WHERE "level" = \'line\' AND "window" = \'hour\' AND time = '
                         f"{ms(8)}ms")
    assert line[0]["oee"] == pytest.approx(hour["B"]["oee"])  # the constraint's
    assert collector.counts["seq_missing"] == 0
