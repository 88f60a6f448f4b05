"""``sfsim collect``: its configuration (file and environment) and the exact errors a user sees."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from collector import load_collector_config
from collector._digitization import Basis
from shopfloor.config import ConfigError

from .conftest import EXAMPLES
from .processes import sfsim
from .servers import Mosquitto


def issues(path: Path | None, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_collector_config(path, environ or {})
    return [str(i) for i in caught.value.issues]


def test_the_example_configuration_loads() -> None:
    c = load_collector_config(EXAMPLES / "collector" / "factory.yaml", {})
    assert c.collector == "collector-1" and str(c.partition) == "1/1" and c.mqtt.url == "mqtt://127.0.0.1:1883"
    assert c.store.kind == "influxdb-v1" and c.store.target == "http://127.0.0.1:8086 (factory)"
    assert c.kpi.plants[0].enterprise.id == "wuhan-auto-parts" and c.kpi.basis is Basis.EQUIPMENT
    assert c.kpi.grading.weights == {"oee": 0.5, "nc_rate": 0.25, "networking": 0.25}


def test_every_problem_in_a_config_file_is_reported_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "collector.yaml"
    bad.write_text(
        "collector: my collector\n"
        "mqtt: {url: 'mqtt://broker', group: 'a'}\n"
        "store:\n"
        "  kind: influxdb-v9\n"
        "  url: broker:8086\n"
        "batch: {max_points: 0}\n"
        "kpi:\n"
        "  plant: missing.yaml\n"
        "  rolling: 90s\n"
        "  basis: machines\n"
        "  grading: {method: rank, thresholds: [0.5, 0.9], weights: {oee: 0}}\n"
        "colour: blue\n",
        encoding="utf-8",
    )
    found = issues(bad)
    assert found == [
        f"{bad}:1: collector: must be 1 to 64 letters, digits, '_' or '-', starting with a letter or digit, "
        "got 'my collector'",
        f"{bad}:2: mqtt.group: shared subscriptions are no longer used (Mosquitto does not keep them across its own "
        "restart, and messages were lost): remove it, and divide the fleet with partition: K/N (docs/collector.md "
        '"Partitions")',
        f"{bad}:4: store.kind: unknown store kind 'influxdb-v9' (did you mean 'influxdb-v2'?); expected one of: "
        "influxdb-v1, influxdb-v2, files",
        f"{bad}:5: store.url: expected http://host:port or https://host:port, got 'broker:8086'",
        f"{bad}:6: batch.max_points: must be at least 1, got 0",
        f"{bad}:8: kpi.plant: plant file {tmp_path / 'missing.yaml'}: no such file",
        f"{bad}:9: kpi.rolling: must be whole minutes (windows start on a minute), got '90s'",
        f"{bad}:10: kpi.basis: unknown counting basis 'machines'; expected one of: equipment, process",
        f"{bad}:11: kpi.grading.weights: give at least one indicator a weight above 0",
        f"{bad}:11: kpi.grading.thresholds: expected four descending lower bounds for green, blue, yellow and "
        "orange, e.g. [0.85, 0.75, 0.65, 0.55], got [0.5, 0.9]",
        f"{bad}:12: colour: unknown field 'colour' (did you mean 'collector'?)",
    ]


def test_the_environment_alone_is_enough_and_errors_name_the_variable() -> None:
    c = load_collector_config(None, {"SFSIM_COLLECTOR_ID": "c1",
                                     "SFSIM_COLLECTOR_MQTT_URL": "mqtt://mosquitto:1883",
                                     "SFSIM_COLLECTOR_STORE_URL": "http://influxdb:8086",
                                     "SFSIM_COLLECTOR_STORE_KIND": "influxdb-v2",
                                     "SFSIM_COLLECTOR_STORE_TOKEN": "s3cret",
                                     "SFSIM_COLLECTOR_KPI_PLANT": str(EXAMPLES / "wuhan-machining.yaml")})
    assert c.mqtt.host == "mosquitto" and c.store.kind == "influxdb-v2" and c.store.token == "s3cret"
    assert "s3cret" not in repr(c)
    assert len(c.kpi.plants) == 1
    quiet = load_collector_config(None, {"SFSIM_COLLECTOR_ID": "c1", "SFSIM_COLLECTOR_MQTT_URL": "mqtt://b",
                                         "SFSIM_COLLECTOR_KPI_ENABLED": "false"})
    assert quiet.kpi.enabled is False
    assert issues(None, {"SFSIM_COLLECTOR_ID": "c1"}) == [
        "environment: mqtt.url: missing required field (or set SFSIM_COLLECTOR_MQTT_URL)"]
    assert issues(None, {"SFSIM_COLLECTOR_ID": "c1", "SFSIM_COLLECTOR_MQTT_URL": "mqtt://b",
                         "SFSIM_COLLECTOR_KPI_ENABLED": "perhaps"}) == [
        "environment: SFSIM_COLLECTOR_KPI_ENABLED: expected true or false, got 'perhaps'"]


THREE = ",".join(str(EXAMPLES / f"{name}.yaml") for name in ("wuhan-machining", "hangzhou-electronics",
                                                              "ezhou-process"))


def test_a_partition_owns_the_sites_the_register_assigns_it() -> None:
    """Sites by machine count, largest first, each to the least loaded partition: Hangzhou (14 machines) to 1,
    Ezhou (12) to 2, Wuhan (11) to 2 of 2 or 3 of 3 — the same for every collector given the same plant files."""
    def sites(partition: str) -> list[str] | None:
        return load_collector_config(None, {"SFSIM_COLLECTOR_ID": "c1", "SFSIM_COLLECTOR_MQTT_URL": "mqtt://b",
                                            "SFSIM_COLLECTOR_PARTITION": partition,
                                            "SFSIM_COLLECTOR_KPI_PLANT": THREE}).sites

    assert sites("1/1") is None  # the whole fleet
    assert sites("1/2") == ["hangzhou-electronics/hz-binjiang"]
    assert sites("2/2") == ["ezhou-materials/ezhou-gedian", "wuhan-auto-parts/wuhan-edz"]
    assert [sites(f"{k}/3") for k in (1, 2, 3)] == [
        ["hangzhou-electronics/hz-binjiang"], ["ezhou-materials/ezhou-gedian"], ["wuhan-auto-parts/wuhan-edz"]]
    assert sites("4/4") == []  # a partition with no site: it takes nothing
    assert issues(None, {"SFSIM_COLLECTOR_ID": "c1", "SFSIM_COLLECTOR_MQTT_URL": "mqtt://b",
                         "SFSIM_COLLECTOR_PARTITION": "3/2", "SFSIM_COLLECTOR_KPI_PLANT": THREE}) == [
        "environment: SFSIM_COLLECTOR_PARTITION: partition 3/2: K/N needs 1 ≤ K ≤ N"]
    assert issues(None, {"SFSIM_COLLECTOR_ID": "c1", "SFSIM_COLLECTOR_MQTT_URL": "mqtt://b",
                         "SFSIM_COLLECTOR_PARTITION": "half"}) == [
        "environment: SFSIM_COLLECTOR_PARTITION: must be K/N, this collector's partition K of N (like 1/3), "
        "got 'half'"]
    assert issues(None, {"SFSIM_COLLECTOR_ID": "c1", "SFSIM_COLLECTOR_MQTT_URL": "mqtt://b",
                         "SFSIM_COLLECTOR_PARTITION": "1/2"}) == [
        "environment: SFSIM_COLLECTOR_PARTITION: 1/2: dividing the fleet needs the plant register (kpi.plant: the "
        "plant files), from which every collector computes the same division of the sites"]


def test_the_id_is_chosen_never_defaulted_and_a_shared_group_is_refused(tmp_path: Path) -> None:
    """A test collector started with the defaults once took over the production collector's session (the same
    id): the id must be given. Shared subscriptions are gone (docs/collector.md "Partitions"): a configuration
    that still names a group says so rather than silently taking every message."""
    bare = tmp_path / "collector.yaml"
    bare.write_text("mqtt: {url: 'mqtt://broker'}\n", encoding="utf-8")
    assert issues(bare) == [
        f"{bare}:1: collector: missing: give this collector an id of its own (its MQTT session, spool file and "
        "health topic; two collectors with one id take each other's session), or set SFSIM_COLLECTOR_ID"]
    assert issues(None, {"SFSIM_COLLECTOR_MQTT_URL": "mqtt://broker", "SFSIM_COLLECTOR_ID": "test-1",
                         "SFSIM_COLLECTOR_MQTT_GROUP": "sfsim-collectors"}) == [
        "environment: SFSIM_COLLECTOR_MQTT_GROUP: shared subscriptions are no longer used (Mosquitto does not keep "
        "them across its own restart, and messages were lost): remove it, and divide the fleet with partition: K/N "
        '(docs/collector.md "Partitions")']
    own = load_collector_config(None, {"SFSIM_COLLECTOR_MQTT_URL": "mqtt://broker", "SFSIM_COLLECTOR_ID": "test-1"})
    assert (own.collector, str(own.partition)) == ("test-1", "1/1")


def test_a_store_without_its_credentials_is_a_configuration_error(tmp_path: Path) -> None:
    v2 = tmp_path / "collector.yaml"
    v2.write_text("collector: c1\nmqtt: {url: 'mqtt://broker'}\n"
                  "store:\n  kind: influxdb-v2\n  url: http://influx:8086\n  org: sfsim\n", encoding="utf-8")
    assert issues(v2) == [f"{v2}:3: store.token: missing: an influxdb-v2 store needs an API token with write "
                          "access to the bucket (or set SFSIM_COLLECTOR_STORE_TOKEN)"]
    checked = sfsim("collect", "--config", str(v2), "--check")
    assert checked.returncode == 2 and "store.token: missing" in checked.stderr
    v1 = tmp_path / "v1.yaml"
    v1.write_text("collector: c1\nmqtt: {url: 'mqtt://broker'}\n"
                  "store: {kind: influxdb-v1, password: pw}\n", encoding="utf-8")
    assert issues(v1) == [f"{v1}:3: store.password: a password needs a username (store.username)"]


@pytest.mark.integration
@pytest.mark.parametrize(("partition", "joined"), [
    ("2/2", "partition 2/2: subscribes to 2 site(s) of the register (ezhou-materials/ezhou-gedian, "
            "wuhan-auto-parts/wuhan-edz)"),
    ("1/1", "subscribes to every machine (sfsim/v1/+/+/+/+/+/+)"),
])
def test_the_collector_says_at_start_what_it_subscribed_to(mosquitto: Mosquitto, tmp_path: Path, partition: str,
                                                           joined: str) -> None:
    environ = {"SFSIM_COLLECTOR_MQTT_URL": mosquitto.url, "SFSIM_COLLECTOR_ID": "c1",
               "SFSIM_COLLECTOR_PARTITION": partition, "SFSIM_COLLECTOR_KPI_PLANT": THREE,
               "SFSIM_COLLECTOR_STORE_KIND": "files",
               "SFSIM_COLLECTOR_STORE_DIRECTORY": str(tmp_path / "data"),
               "SFSIM_COLLECTOR_SPOOL_DIR": str(tmp_path / "spool"), "SFSIM_COLLECTOR_KPI_ENABLED": "false",
               "SFSIM_COLLECTOR_DEAD_LETTER_FILE": str(tmp_path / "dead.jsonl")}
    process = subprocess.Popen([sys.executable, "-m", "sfsim", "collect"], stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **environ})
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        logged = process.stderr.readline()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert first.startswith(f"collector c1: {mosquitto.url} → files {tmp_path / 'data'}; {joined}"), first
    assert logged.rstrip().endswith(f"INFO collector._service: collector c1: {mosquitto.url} → "
                                    f"{tmp_path / 'data'}; {joined}"), logged


@pytest.mark.slow  # two `sfsim` processes: seconds
def test_check_prints_ok_or_the_errors(tmp_path: Path) -> None:
    ok = sfsim("collect", "--config", str(EXAMPLES / "collector" / "factory.yaml"), "--check")
    assert ok.returncode == 0 and "OK (MQTT mqtt://127.0.0.1:1883, store influxdb-v1" in ok.stdout
    bad = tmp_path / "c.yaml"
    bad.write_text("mqtt: {url: 'ftp://x'}\n", encoding="utf-8")
    failed = sfsim("collect", "--config", str(bad), "--check")
    assert failed.returncode == 2 and "mqtt.url: MQTT URL 'ftp://x'" in failed.stderr


def test_store_names_influxdb_cannot_hold_are_refused_where_they_are_written(tmp_path: Path) -> None:
    bad = tmp_path / "collector.yaml"
    bad.write_text("collector: c1\nmqtt: {url: 'mqtt://broker'}\n"
                   "store: {database: '../factory', bucket: 'a/b/c', retention_policy: \"x\\ny\"}\n", encoding="utf-8")
    assert issues(bad) == [
        f"{bad}:3: store.database: database '../factory': InfluxDB cannot hold it (empty, '.', '..', a slash, a "
        "backslash or a control character)",
        f"{bad}:3: store.retention_policy: retention policy 'x\\ny': InfluxDB cannot hold it (empty, '.', '..', a "
        "slash, a backslash or a control character)",
        f"{bad}:3: store.bucket: bucket 'a/b/c': InfluxDB cannot hold it (empty, '.', '..', a slash, a backslash "
        "or a control character)",
    ]
