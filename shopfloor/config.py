"""Reading a service's YAML configuration with the plant file's error style.

Every problem is reported as ``file:line: path: message``; converters take the
raw YAML value and return the typed one or raise ``ValueError`` with the text a
user sees after the path.
"""

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ._loader import ConfigError, Issue, read_text, read_yaml
from ._loader import _bool as boolean
from ._loader import _Checker as Checker
from ._loader import _choice as choice
from ._loader import _join as join
from ._loader import _non_negative as non_negative
from ._loader import _non_negative_duration as non_negative_duration
from ._loader import _number as number
from ._loader import _positive as positive
from ._loader import _positive_duration as positive_duration
from ._loader import _positive_int as positive_int
from ._loader import _show as show
from ._loader import _text as text

__all__ = [
    "Checker",
    "ConfigError",
    "EnvChecker",
    "Issue",
    "apply_environment",
    "boolean",
    "choice",
    "existing_file",
    "http_url",
    "join",
    "mqtt_settings",
    "mqtt_version",
    "non_negative",
    "non_negative_duration",
    "number",
    "positive",
    "positive_duration",
    "positive_int",
    "read_service_file",
    "read_text",
    "read_yaml",
    "service_id",
    "shard",
    "show",
    "text",
]


def shard(value: object) -> tuple[int, int]:
    """``"K/N"`` (0 ≤ K < N): this process's share of a plant or a gateway's machines."""
    k, sep, n = str(value).partition("/")
    if sep and k.isdigit() and n.isdigit() and 0 <= int(k) < int(n):
        return int(k), int(n)
    raise ValueError(f"expected K/N with 0 <= K < N, e.g. 0/2, got {value!r}")


def service_id(value: object) -> str:
    """A service's id (client ids, health topics, file names): a contract id level."""
    from .telemetry import LEVEL

    if not isinstance(value, str) or not LEVEL.fullmatch(value):
        raise ValueError(f"must be 1 to 64 letters, digits, '_' or '-', starting with a letter or digit, "
                         f"got {show(value)}")
    return value


class EnvChecker(Checker):
    """Errors in values that came from the environment name the variable, not the file.

    ``env`` maps each variable used to the path it set (``endpoints[].security`` sets it in every item)."""

    def __init__(self, source: str, lines: Mapping[str, int], env: Mapping[str, str]) -> None:
        super().__init__(source, lines)
        self.env = env

    def error(self, path: str, message: str) -> None:
        """Record a problem with the value at ``path``, under the variable that set it (or set the list it lies
        in) if one did, else under the file's line."""
        generic = re.sub(r"\[\d+\]", "[]", path)
        exact = [var for var, env_path in self.env.items() if env_path in (path, generic)]
        within = [var for var, env_path in self.env.items() if path.startswith(env_path + "[")]
        for var in exact or within:
            self.issues.append(Issue("environment", None, var, message))
            return
        super().error(path, message)


def apply_environment(data: dict[str, Any], environ: Mapping[str, str], prefix: str, table: Mapping[str, str],
                      convert: Mapping[str, Callable[[str], object]] | None = None) -> dict[str, str]:
    """Put ``prefix + NAME`` variables into the file's structure at ``table[NAME]`` (``a.b``, or ``a[].b`` for
    every item of list ``a``; ``convert[path]`` turns the text into the value); returns variable → path."""
    used = {}
    for name, path in table.items():
        var = prefix + name
        if var not in environ:
            continue
        value: object = environ[var]
        if convert and path in convert:
            value = convert[path](environ[var])
        used[var] = path
        section, _, key = path.partition(".")
        if section.endswith("[]"):
            for item in data.get(section[:-2]) or []:
                if isinstance(item, dict):
                    item[key] = value
        elif key:
            if not isinstance(data.get(section), dict):
                data[section] = {}
            data[section][key] = value
        else:
            data[section] = value
    return used


def mqtt_version(value: object) -> str:
    """The MQTT protocol version as text, "5" or "3.1.1" (a YAML 5 is a number)."""
    text = str(value)
    if text not in ("5", "3.1.1"):
        raise ValueError(f"MQTT version must be 5 or 3.1.1, got {show(value)}")
    return text


def http_url(value: object, credentials: str = "store.username and store.password (InfluxDB 1.x) or "
             "store.token (2.x/3.x)") -> str:
    """``http[s]://host[:port][/path]`` without a trailing slash; credentials go in ``credentials``, not in the
    URL (where they would show in every message naming the server)."""
    url = text(value).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected http://host:port or https://host:port, got {show(value)}")
    if "@" in parts.netloc:
        raise ValueError(f"credentials do not go in the URL ({show(url)}): set {credentials}")
    return url


def existing_file(base: Path, value: object) -> Path:
    """A file named relative to the configuration file's directory, which must exist."""
    p = base / text(value)
    if not p.is_file():
        raise ValueError(f"no such file: {p}")
    return p


def read_service_file(path: str | Path | None, what: str, fields: Sequence[str],
                      ) -> tuple[dict[str, Any], Mapping[str, int], str, Path]:
    """A service's YAML file (None: nothing, the environment alone configures it): its data, the line of
    each path, the source name for messages and the directory relative paths start from."""
    if path is None:
        return {}, {}, "environment", Path.cwd()
    data, base = read_yaml(read_text(path), source=str(path), what=what)
    if not isinstance(data, dict):
        raise ConfigError([Issue(str(path), 1, "", f"expected a mapping of fields ({', '.join(fields)}), "
                                                   f"got {show(data)}")])
    return data, base.lines, str(path), Path(path).parent


def mqtt_settings(c: Checker, mq: Mapping[str, Any], base: Path, url_variable: str,
                  **extra: Callable[[object], object]) -> Any:
    """``MqttSettings`` from a service's ``mqtt`` section (url, username, password, prefix, version, ca_file,
    and the ``extra`` fields with their converters); None, with the errors reported, when it is unusable."""
    from ._mqtt_settings import MqttSettings
    from .telemetry import check_prefix

    if "url" not in mq:
        c.error("mqtt.url", f"missing required field (or set {url_variable})")
        return None
    try:
        overrides = {
            "username": c.field(mq, "username", "mqtt", text, None),
            "password": c.field(mq, "password", "mqtt", lambda v: str(v), None),
            "prefix": c.field(mq, "prefix", "mqtt", lambda v: check_prefix(str(v)), None),
            "version": c.field(mq, "version", "mqtt", mqtt_version, None),
            "ca_file": c.field(mq, "ca_file", "mqtt", lambda v: str(existing_file(base, v)), None),
        } | {key: c.field(mq, key, "mqtt", convert, None) for key, convert in extra.items()}
        return MqttSettings.from_url(str(mq["url"]), **overrides)
    except ValueError as e:
        c.error("mqtt.url", str(e))
        return None
