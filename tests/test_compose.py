"""docker-compose.yml, the Dockerfile and the README agree with each other and with the code.

No Docker engine runs here: Debian's ``docker-compose config`` validates the file, and every
sfsim command the stack runs is parsed by sfsim's own argument parser.
"""

from __future__ import annotations

import functools
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from sfsim._main import build_parser

ROOT = Path(__file__).resolve().parents[1]


def compose(env_file: Path | None = None) -> dict[str, Any]:
    """The configuration ``docker-compose config`` makes of the file (with ``env_file``, else no .env)."""
    return _default() if env_file is None else _compose(env_file)


@functools.cache
def _default() -> dict[str, Any]:
    return _compose(None)


def _compose(env_file: Path | None) -> dict[str, Any]:
    program = shutil.which("docker-compose")
    if program is None:
        pytest.fail("docker-compose is not installed: apt-get install docker-compose (bash .ci/run does it)")
    extra = ["--env-file", str(env_file)] if env_file else []
    done = subprocess.run([program, "-f", str(ROOT / "docker-compose.yml"), *extra, "config"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each volume, in either of the forms ``docker-compose config`` prints."""
    out = []
    for v in service.get("volumes", []):
        if isinstance(v, dict):
            out.append((str(v["source"]), str(v["target"])))
        else:
            source, target = str(v).split(":")[:2]
            out.append((source, target))
    return out


GUARD = ["sh", "/sfsim/refuse-demo-secrets.sh"]


def guarded(service: dict[str, Any]) -> list[str]:
    """The service's entrypoint after the demo-secret check that must come first."""
    entrypoint = list(service.get("entrypoint") or [])
    assert entrypoint[:2] == GUARD, entrypoint
    return entrypoint[2:]


def sfsim_command(service: dict[str, Any]) -> list[str]:
    """What the sfsim image runs for a service: ``sfsim`` and its command, or the ``sfsim …`` of an ``sh -c`` line."""
    entrypoint = guarded(service)
    if entrypoint[:2] == ["sh", "-c"]:
        words = shlex.split(entrypoint[2].replace("$$", "$"))
        return words[words.index("sfsim") + 1:]
    assert entrypoint == ["sfsim"], entrypoint
    return list(service["command"])


def demo_secrets() -> dict[str, str]:
    """The secrets of .env.example: variable → its demo value."""
    pairs = (line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
             if line and not line.startswith("#"))
    return {k: v for k, v in pairs if k.endswith(("_PASSWORD", "_TOKEN"))}


def refuse(environ: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    """docker/refuse-demo-secrets.sh run here as a container runs it, with only ``environ``."""
    return subprocess.run(["sh", str(ROOT / "docker" / "refuse-demo-secrets.sh"), *command], capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", **environ}, timeout=30, check=False)


def test_compose_accepts_the_file_with_and_without_an_env_file(tmp_path: Path) -> None:
    plain = compose()
    custom = tmp_path / ".env"
    custom.write_text((ROOT / ".env.example").read_text().replace("change-me-grafana", "s3cret"))
    assert compose(custom)["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "s3cret"
    assert set(plain["services"]) == {"mosquitto", "influxdb", "influxdb-tokens", "grafana", "simulator", "edge",
                                      "collector", "collector-2", "collector-3"}


def test_every_variable_has_its_place_in_env_example_and_env_is_not_committed() -> None:
    used = set(re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text()))
    example = {line.split("=")[0] for line in (ROOT / ".env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    assert used == example
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


def test_services_start_in_order_and_keep_their_data() -> None:
    services = compose()["services"]
    for name in ("mosquitto", "influxdb", "grafana", "simulator"):
        assert services[name]["healthcheck"]["test"], name
    tokens = {"influxdb": "service_healthy", "influxdb-tokens": "service_completed_successfully"}
    for name, needs in (("influxdb-tokens", {"influxdb": "service_healthy"}), ("grafana", tokens),
                        ("simulator", {"mosquitto": "service_healthy"}), ("edge", {"mosquitto": "service_healthy"}),
                        ("collector", {"mosquitto": "service_healthy", **tokens}),
                        ("collector-2", {"mosquitto": "service_healthy", **tokens}),
                        ("collector-3", {"mosquitto": "service_healthy", **tokens})):
        depends = services[name]["depends_on"]
        assert {k: v["condition"] for k, v in depends.items()} == needs, name
    named = set(compose()["volumes"])
    for name in ("mosquitto", "influxdb", "grafana", "edge", "collector", "collector-2", "collector-3"):
        assert any(source in named for source, _ in mounts(services[name])), f"{name} keeps no data in a volume"


def test_grafana_is_provisioned_from_dashboards() -> None:
    grafana = compose()["services"]["grafana"]
    bound = {target: source for source, target in mounts(grafana)}
    assert Path(bound["/etc/grafana/provisioning"]) == ROOT / "dashboards/provisioning"
    assert Path(bound["/var/lib/grafana/dashboards/sfsim"]) == ROOT / "dashboards/json"
    provider = yaml.safe_load((ROOT / "dashboards/provisioning/dashboards/sfsim.yaml").read_text())["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/sfsim"
    datasource = (ROOT / "dashboards/provisioning/datasources/sfsim.yaml").read_text()
    # from the environment, or (the token) set by the entrypoint from the file influxdb-tokens wrote
    assert set(re.findall(r"\$\{(\w+)\}", datasource)) <= set(grafana["environment"]) | {"SFSIM_INFLUX_TOKEN"}
    assert "SFSIM_INFLUX_TOKEN=$(cat /run/sfsim/influxdb-token)" in guarded(grafana)[2].replace("$$", "$")
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "dashboards/json" / Path(home).name).exists()


def test_the_stack_runs_sfsim_commands_that_exist() -> None:
    services = compose()["services"]
    parser = build_parser()
    for name in ("simulator", "edge", "collector", "collector-2", "collector-3"):
        words = sfsim_command(services[name])
        args = parser.parse_args(words)  # exits (a test failure) on an unknown command or flag
        assert args.command in ("simulate", "edge", "collect"), name
    # the collectors are partitions 1, 2 and 3 of COLLECTOR_PARTITIONS, each with an id and a volume of its own
    assert [services[f"collector{s}"]["environment"]["SFSIM_COLLECTOR_PARTITION"] for s in ("", "-2", "-3")] == [
        "1/1", "2/1", "3/1"]
    assert len({services[f"collector{s}"]["environment"]["SFSIM_COLLECTOR_ID"] for s in ("", "-2", "-3")}) == 3
    assert services["collector-2"]["profiles"] == ["partition-2"] and services["collector-3"]["profiles"] == [
        "partition-3"]


def test_ports_are_published_on_this_computer_unless_the_lan_switch_is_set(tmp_path: Path) -> None:
    def published(config: dict[str, Any]) -> dict[str, str]:
        out = {}
        for name, service in config["services"].items():
            for port in service.get("ports", []):
                # docker-compose config prints "ADDRESS:HOST:CONTAINER" (or the long form)
                text = port if isinstance(port, str) else \
                    f"{port.get('host_ip', '')}:{port['published']}:{port['target']}"
                address, host_port, _ = text.rsplit(":", 2)
                out[f"{name}:{host_port}"] = address
        return out

    laptop = published(compose())
    assert laptop == {"mosquitto:1883": "127.0.0.1", "influxdb:8086": "127.0.0.1", "grafana:3000": "127.0.0.1"}
    lan = tmp_path / ".env"
    lan.write_text((ROOT / ".env.example").read_text().replace("BIND_ADDRESS=127.0.0.1", "BIND_ADDRESS=0.0.0.0"))
    assert set(published(compose(lan)).values()) == {"0.0.0.0"}


def test_the_simulator_is_a_profile_a_real_deployment_does_not_start() -> None:
    services = compose()["services"]
    assert services["simulator"]["profiles"] == ["simulator"]
    # (and the partitions beyond the first, started only when the register is divided)
    assert sorted(name for name, s in services.items() if s.get("profiles")) == ["collector-2", "collector-3",
                                                                                  "simulator"]
    assert not [name for name, s in services.items() if "simulator" in s.get("depends_on", {})]


def test_every_service_refuses_the_demo_secrets_unless_told_it_is_a_demo(tmp_path: Path) -> None:
    secrets = demo_secrets()
    assert set(secrets) == {"MQTT_PASSWORD", "INFLUXDB_ADMIN_PASSWORD", "INFLUXDB_ADMIN_TOKEN",
                            "GRAFANA_ADMIN_PASSWORD"}
    script = (ROOT / "docker" / "refuse-demo-secrets.sh").read_text()
    listed = re.search(r'^demo_values="([^"]*)"$', script, re.M)
    assert listed and listed.group(1).split() == list(secrets.values())  # the script knows every demo value
    services = compose()["services"]
    for name, service in services.items():
        text = yaml.safe_dump(service)
        if any(value in text for value in secrets.values()):  # with no .env, the defaults are the demo values
            guarded(service)
            assert f"{ROOT / 'docker/refuse-demo-secrets.sh'}:/sfsim/refuse-demo-secrets.sh:ro" in service["volumes"]
            assert service["environment"]["SFSIM_DEMO_SECRETS"] == "false", name
    # the check, run here as each container runs it
    for variable, value in secrets.items():
        refused = refuse({variable: value, "SFSIM_DEMO_SECRETS": "false"}, "echo", "started")
        assert refused.returncode == 78 and "started" not in refused.stdout, variable
        assert refused.stderr.splitlines() == [
            f"sfsim: refusing to start with the demo secrets of .env.example ({variable}): set secrets of your own "
            "in .env, or DEMO_SECRETS=true for a demo on this computer only"], variable
        assert value not in refused.stderr
    in_url = refuse({}, "echo", f"mqtt://sfsim:{secrets['MQTT_PASSWORD']}@mosquitto:1883")
    assert in_url.returncode == 78 and "(the command line)" in in_url.stderr
    demo = refuse({**secrets, "SFSIM_DEMO_SECRETS": "true"}, "echo", "started")
    assert demo.returncode == 0 and demo.stdout == "started\n"
    assert "DEMO_SECRETS=true" in demo.stderr
    own = refuse({k: v + "-but-mine" for k, v in secrets.items()}, "sh", "-c", "echo started; exit 3")
    assert own.returncode == 3 and own.stdout == "started\n" and own.stderr == ""
    # DEMO_SECRETS from .env reaches every guarded service
    laptop = tmp_path / ".env"
    laptop.write_text((ROOT / ".env.example").read_text().replace("DEMO_SECRETS=false", "DEMO_SECRETS=true"))
    for name, service in compose(laptop)["services"].items():
        if service.get("entrypoint", [None])[:2] == GUARD:
            assert service["environment"]["SFSIM_DEMO_SECRETS"] == "true", name


def test_the_collectors_and_grafana_get_influxdb_tokens_of_their_own() -> None:
    services = compose()["services"]
    admin = demo_secrets()["INFLUXDB_ADMIN_TOKEN"]
    for name in ("grafana", "collector", "collector-2", "collector-3"):
        assert admin not in yaml.safe_dump(services[name]), f"{name} holds the admin token"
    token_volume = {name: {src for src, dst in mounts(services[name]) if dst == "/run/sfsim"}
                    for name in ("grafana", "collector", "collector-2", "collector-3")}
    assert token_volume == {"grafana": {"grafana-token"}, "collector": {"collector-token"},
                            "collector-2": {"collector-token"}, "collector-3": {"collector-token"}}
    made = {dst: src for src, dst in mounts(services["influxdb-tokens"])}
    assert made["/tokens/collector"] == "collector-token" and made["/tokens/grafana"] == "grafana-token"
    for name in ("collector", "collector-2", "collector-3"):
        line = guarded(services[name])[2].replace("$$", "$")
        assert "SFSIM_COLLECTOR_STORE_TOKEN=$(cat /run/sfsim/influxdb-token)" in line, name
        assert "SFSIM_COLLECTOR_STORE_TOKEN" not in services[name]["environment"], name
    script = (ROOT / "docker" / "influxdb-tokens.sh").read_text()
    assert re.search(r'token /tokens/collector/influxdb-token "[^"]+" --read-bucket "\$bucket" '
                     r'--write-bucket "\$bucket"\n', script)
    assert re.search(r'token /tokens/grafana/influxdb-token "[^"]+" --read-bucket "\$bucket"\n', script)
    done = subprocess.run(["sh", "-n", str(ROOT / "docker" / "influxdb-tokens.sh")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_plant_and_the_configs_come_from_a_host_folder_and_load(tmp_path: Path) -> None:
    from collector import load_collector_config
    from edge import load_edge_config
    from shopfloor import load_plant

    services = compose()["services"]
    site = ROOT / "docker" / "site"
    for name in ("simulator", "edge", "collector", "collector-2", "collector-3"):
        assert f"{site}:/etc/sfsim:ro" in services[name]["volumes"], name
    assert sfsim_command(services["simulator"])[:2] == ["simulate", "/etc/sfsim/plant.yaml"]
    assert sfsim_command(services["edge"]) == ["edge", "--config", "/etc/sfsim/edge.yaml"]
    for name in ("collector", "collector-2", "collector-3"):
        assert sfsim_command(services[name]) == ["collect", "--config", "/etc/sfsim/collector.yaml"], name
    assert "COPY examples" not in (ROOT / "Dockerfile").read_text()  # nothing of a site is in the image
    # the folder's files load as the services load them: their environment, the token from its file
    # the default folder runs the Wuhan example: a copy that must not drift from it
    assert (site / "plant.yaml").read_bytes() == (ROOT / "examples" / "wuhan-machining.yaml").read_bytes()
    assert load_plant(site / "plant.yaml").enterprise.id == "wuhan-auto-parts"
    edge = load_edge_config(site / "edge.yaml", services["edge"]["environment"])
    assert [e.url for e in edge.endpoints] == ["opc.tcp://simulator:4840/sfsim/wuhan-edz"]
    for name, partitions in (("collector", "1"), ("collector-2", "2"), ("collector-3", "3")):
        # as COLLECTOR_PARTITIONS=3 (or 2) makes it: partition K of N
        environ = {**services[name]["environment"], "SFSIM_COLLECTOR_STORE_TOKEN": "from-the-file"}
        environ["SFSIM_COLLECTOR_PARTITION"] = environ["SFSIM_COLLECTOR_PARTITION"].replace("/1", f"/{partitions}")
        config = load_collector_config(site / "collector.yaml", environ)
        assert config.store.kind == "influxdb-v2" and config.kpi.plants[0].enterprise.id == "wuhan-auto-parts", name
        assert config.partition.index == int(partitions) and config.kpi.enabled, name


def test_the_broker_keeps_as_many_messages_for_an_away_collector_as_docs_say() -> None:
    conf = (ROOT / "docker" / "mosquitto.conf").read_text()
    kept = re.search(r"^max_queued_messages (\d+)$", conf, re.M)
    stated = re.search(r"the compose stack's broker sets ([\d,]+)", (ROOT / "docs" / "collector.md").read_text())
    assert kept and stated and int(kept.group(1)) == int(stated.group(1).replace(",", "")) > 0


def test_the_dockerfile_is_slim_pinned_non_root_and_holds_every_package() -> None:
    text = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", text, re.M)
    assert base and re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+", base.group(1)), "pin the base image's version"
    assert re.search(r"^USER (?!root)\w+", text, re.M)
    assert 'ENTRYPOINT ["sfsim"]' in text
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    for package in packages:
        assert f"COPY {package} ./{package}" in text, package


def test_every_sfsim_command_the_readme_shows_parses() -> None:
    parser = build_parser()
    readme = (ROOT / "README.md").read_text()
    shown = re.findall(r"^\s*(sfsim [^\n`|]+)$", readme, re.M) + re.findall(r"`(sfsim [^`]+)`", readme)
    concrete = [c for c in shown if not re.search(r"[\[\]…|]|PLANT|FILE|URL\b|\bN\b", c)]
    assert len(concrete) >= 2
    for command in concrete:
        parser.parse_args(shlex.split(command)[1:])
    for name in ("collect", "edge", "simulate", "demo", "dashboards"):
        assert f"sfsim {name}" in readme, name
