"""What redaction removes from text, and which configuration fields count as secrets."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import NamedTuple

import pytest

from collector import CollectorConfig, StoreConfig
from dashboards import GrafanaTarget
from edge import EdgeConfig, EndpointConfig
from sfsim import main
from sfsim._logs import SecretFilter
from shopfloor import MqttSettings
from shopfloor.redaction import redact, secrets_of
from simulator import OpcUaSettings

from .conftest import EXAMPLES


def test_url_userinfo_goes_whatever_the_scheme_and_the_rest_of_the_url_stays() -> None:
    assert redact("MQTT URL 'mqtt://plc:s3cret@broker:notaport': the port") == \
        "MQTT URL 'mqtt://***@broker:notaport': the port"
    assert redact("https://token@influx.example/api?x=1 and opc.tcp://u:p%40ss@plc:4840/x") == \
        "https://***@influx.example/api?x=1 and opc.tcp://***@plc:4840/x"
    # the userinfo runs to the last '@' before the path, as urllib reads it
    assert redact("mqtt://u:p@ss@host/x@y") == "mqtt://***@host/x@y"
    assert redact("mqtt://broker:1883 and http://influx:8086/write?db=factory") == \
        "mqtt://broker:1883 and http://influx:8086/write?db=factory"


def test_password_and_token_fields_lose_their_values_as_libraries_print_them() -> None:
    asyncua = ("UserIdentityToken=UserNameIdentityToken(PolicyId='username', UserName='edge', "
               "Password=b'op\\'c-pw', EncryptionAlgorithm=None), AuthenticationToken=NodeId(Identifier=5)")
    assert redact(asyncua) == ("UserIdentityToken=UserNameIdentityToken(PolicyId='username', UserName='edge', "
                               "Password=***, EncryptionAlgorithm=None), AuthenticationToken=NodeId(Identifier=5)")
    assert redact("SFSIM_COLLECTOR_STORE_TOKEN=abc MQTT_PASSWORD=\"x y\" user=edge") == \
        "SFSIM_COLLECTOR_STORE_TOKEN=*** MQTT_PASSWORD=*** user=edge"
    assert redact("{'Authorization': 'Token abc123', 'password': 'pw', \"token\": \"t\"}") == \
        "{'Authorization': '***', 'password': ***, \"token\": ***}"
    assert redact("Authorization: Basic dXNlcjpwdw==") == "Authorization: ***"
    # words that only look alike stay
    assert redact("endpoints[0].password: a password needs a username") == \
        "endpoints[0].password: a password needs a username"


def test_known_secrets_go_in_every_spelling() -> None:
    secret = "p@ss/wörd"
    text = f"a {secret} b p%40ss%2Fw%C3%B6rd c {secret.encode()!r}"
    assert redact(text, [secret]) == "a *** b *** c b'***'"


def test_a_short_secret_goes_where_it_stands_alone_and_leaves_every_other_word_whole() -> None:
    # a one-letter token taken out as a substring turned "connected to host" into "conn***c***d ***o hos***"
    assert redact("connected to host t with token t, retrying", ["t"]) == \
        "connected to host *** with token ***, retrying"
    assert redact("user pw1 logged in; pw10 is not pw1", ["pw1"]) == "user *** logged in; pw10 is not ***"
    assert redact("long-secret-value inside xlong-secret-valuex", ["long-secret-value"]) == "*** inside x***x"


def test_secrets_are_the_fields_kept_out_of_reprs_in_every_configuration() -> None:
    mqtt = MqttSettings.from_url("mqtt://edge:mqtt-pw@broker", )
    edge = EdgeConfig(mqtt=mqtt, endpoints=(EndpointConfig(url="opc.tcp://a:4840", username="u", password="opc-pw"),
                                            EndpointConfig(url="opc.tcp://b:4840")))
    assert secrets_of(edge) == {"mqtt-pw", "opc-pw"}
    collector = CollectorConfig(mqtt=mqtt, store=StoreConfig(kind="influxdb-v2", token="tok", password="db-pw"))
    assert secrets_of(collector) == {"mqtt-pw", "tok", "db-pw"}
    assert secrets_of(OpcUaSettings(users={"a": "pw-a", "b": "pw-b"})) == {"pw-a", "pw-b"}
    assert secrets_of(GrafanaTarget(influx_url="http://x", token="gt", username="g", password="gp")) == {"gt", "gp"}


def test_the_log_filter_redacts_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    secrets = SecretFilter()
    secrets.secrets.add("hunter2")
    handler.addFilter(secrets)
    logger = logging.getLogger("test_redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("connecting with %s to %s", "hunter2", "mqtt://u:other@host")
        try:
            raise ValueError("refused: password=hunter2")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "hunter2" not in text and "other" not in text
    assert "connecting with *** to mqtt://***@host" in text
    assert "ValueError: refused: password=***" in text


def run(capsys: pytest.CaptureFixture[str], *args: str, environ: dict[str, str] | None = None) -> Done:
    """``sfsim ARGS`` in this process (the same code path as the command, without a second interpreter's start)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (environ or {}).items():
            patch.setenv(name, value)
        code = main(list(args))
    out, err = capsys.readouterr()
    return Done(code, out, err)


class Done(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def test_configuration_errors_show_urls_without_their_credentials(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Every command that reads a URL says what is wrong with it, and never repeats its password."""
    collector = tmp_path / "collector.yaml"
    collector.write_text("collector: c1\n"
                         "mqtt: {url: 'mqtt://user:pw-in-file@broker:notaport'}\n"
                         "store: {url: 'ftp://db:pw-in-store-url@influx'}\n"
                         "dead_letter: 'mqtt://dl:pw-where-a-mapping-goes@broker'\n", encoding="utf-8")
    edge = tmp_path / "edge.yaml"
    edge.write_text("mqtt: {url: 'mqtts://user:pw-in-file@broker:99999'}\n"
                    "endpoints: [{url: 'opc.tcp://plc:pw-in-opc-url@plc:4840x'}]\n", encoding="utf-8")
    runs = {
        "collect": (run(capsys, "collect", "--config", str(collector), "--check"), [
            f"{collector}:2: mqtt.url: MQTT URL 'mqtt://***@broker:notaport': the port is not a number from 1 "
            "to 65535",
            f"{collector}:3: store.url: expected http://host:port or https://host:port, got 'ftp://***@influx'",
            f"{collector}:4: dead_letter: expected a mapping of fields (file, topic), got "
            "'mqtt://***@broker'"]),
        "collect from the environment": (run(capsys, "collect", "--check", environ={
            "SFSIM_COLLECTOR_ID": "c1",
            "SFSIM_COLLECTOR_MQTT_URL": "ftp://user:pw-in-variable@broker"}), [
            "environment: SFSIM_COLLECTOR_MQTT_URL: MQTT URL 'ftp://***@broker': expected mqtt://host[:port] or "
            "mqtts://host[:port]"]),
        "edge": (run(capsys, "edge", "--config", str(edge), "--check"), [
            f"{edge}:1: mqtt.url: MQTT URL 'mqtts://***@broker:99999': the port is not a number from 1 to 65535",
            f"{edge}:2: endpoints[0].url: expected opc.tcp://host[:port][/path], got 'opc.tcp://***@plc:4840x'"]),
        "simulate": (run(capsys, "simulate", str(EXAMPLES / "wuhan-machining.yaml"), "--mqtt",
                           "mqtt://user:pw-in-argument@broker:x"), [
            "sfsim simulate: MQTT URL 'mqtt://***@broker:x': the port is not a number from 1 to 65535"]),
        "demo": (run(capsys, "demo", "--mqtt", "mqtt://user:pw-in-argument@broker:x",
                     "--out", str(tmp_path / "demo")), [
            "sfsim demo: --mqtt: MQTT URL 'mqtt://***@broker:x': the port is not a number from 1 to 65535"]),
    }
    for name, (done, expected) in runs.items():
        assert done.returncode == 2, (name, done.stderr)
        assert "Traceback" not in done.stderr, name
        assert "pw-" not in done.stdout + done.stderr, (name, done.stderr)
        for line in expected:
            assert line in done.stderr.splitlines(), (name, line, done.stderr)


def test_credentials_in_a_store_url_are_refused_with_where_they_go(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """InfluxDB credentials in the URL were never sent (and showed in every message naming the store)."""
    collector = tmp_path / "collector.yaml"
    collector.write_text("collector: c1\nmqtt: {url: 'mqtt://broker'}\n"
                         "store: {url: 'http://db:pw-in-url@influx:8086'}\n", encoding="utf-8")
    done = run(capsys, "collect", "--config", str(collector), "--check")
    assert done.returncode == 2 and "pw-in-url" not in done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        f"{collector}:3: store.url: credentials do not go in the URL ('http://***@influx:8086'): set "
        "store.username and store.password (InfluxDB 1.x) or store.token (2.x/3.x)"]
