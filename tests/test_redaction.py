"""What redaction removes from text, and which configuration fields count as secrets."""

from __future__ import annotations

import io
import logging

from collector import CollectorConfig, StoreConfig
from dashboards import GrafanaTarget
from edge import EdgeConfig, EndpointConfig
from sfsim._logs import SecretFilter
from shopfloor import MqttSettings
from shopfloor.redaction import redact, secrets_of
from simulator import OpcUaSettings


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
