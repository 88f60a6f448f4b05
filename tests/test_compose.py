"""docker-compose.yml, the Dockerfile and the README agree with each other and with the code.

No Docker engine runs here: Debian's ``docker-compose config`` validates the file, and every
sfsim command the stack runs is parsed by sfsim's own argument parser.
"""

from __future__ import annotations

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


def sfsim_command(service: dict[str, Any]) -> list[str]:
    """What the sfsim image runs for a service: its entrypoint ``sfsim`` and command, or an ``sh -c`` line."""
    entrypoint = service.get("entrypoint")
    if entrypoint and entrypoint[:2] == ["sh", "-c"]:
        words = shlex.split(entrypoint[2].replace("$$", "$"))
        return words[words.index("sfsim") + 1:]
    return list(service["command"])


def test_compose_accepts_the_file_with_and_without_an_env_file(tmp_path: Path) -> None:
    plain = compose()
    custom = tmp_path / ".env"
    custom.write_text((ROOT / ".env.example").read_text().replace("change-me-grafana", "s3cret"))
    assert compose(custom)["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "s3cret"
    assert set(plain["services"]) == {"mosquitto", "influxdb", "grafana", "simulator", "edge", "collector-kpi",
                                      "collector"}


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
    for name, needs in (("grafana", {"influxdb"}), ("simulator", {"mosquitto"}), ("edge", {"mosquitto", "simulator"}),
                        ("collector-kpi", {"mosquitto", "influxdb"}), ("collector", {"mosquitto", "influxdb"})):
        depends = services[name]["depends_on"]
        assert set(depends) == needs and all(d["condition"] == "service_healthy" for d in depends.values()), name
    named = set(compose()["volumes"])
    for name in ("mosquitto", "influxdb", "grafana", "edge", "collector-kpi", "collector"):
        assert any(source in named for source, _ in mounts(services[name])), f"{name} keeps no data in a volume"


def test_grafana_is_provisioned_from_dashboards() -> None:
    grafana = compose()["services"]["grafana"]
    bound = {target: source for source, target in mounts(grafana)}
    assert Path(bound["/etc/grafana/provisioning"]) == ROOT / "dashboards/provisioning"
    assert Path(bound["/var/lib/grafana/dashboards/sfsim"]) == ROOT / "dashboards/json"
    provider = yaml.safe_load((ROOT / "dashboards/provisioning/dashboards/sfsim.yaml").read_text())["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/sfsim"
    datasource = (ROOT / "dashboards/provisioning/datasources/sfsim.yaml").read_text()
    assert set(re.findall(r"\$\{(\w+)\}", datasource)) <= set(grafana["environment"])
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "dashboards/json" / Path(home).name).exists()


def test_the_stack_runs_sfsim_commands_that_exist() -> None:
    services = compose()["services"]
    parser = build_parser()
    for name in ("simulator", "edge", "collector-kpi", "collector"):
        words = sfsim_command(services[name])
        args = parser.parse_args(words)  # exits (a test failure) on an unknown command or flag
        assert args.command in ("simulate", "edge", "collect"), name
    assert services["collector"]["environment"]["SFSIM_COLLECTOR_MQTT_GROUP"] == "sfsim-collectors"


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
